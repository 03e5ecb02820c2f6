/*
 * test_limit.c - rate limits, quotas and concurrency limits (src/config/limits.c, src/limit/): what
 * the `rate_limits` section loads and refuses, and the decisions against docs/rate-limits.md's formulas
 * with a clock the test moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "config/config.h"
#include "limit/limit.h"

#define SERVERS                                                                                                        \
    "servers:\n"                                                                                                       \
    "  - {name: github, url: 'https://gh.internal/mcp', cost: 2, costs: {search: 5, free: 0}}\n"                       \
    "  - {name: docs, url: 'https://docs.internal/mcp'}\n"

#define MS 1000000LL
#define SECOND 1000000000LL
/* 2026-03-01T23:59:59Z */
#define BEFORE_MIDNIGHT (1772409599LL * SECOND)

static _Atomic int64_t now_ns = BEFORE_MIDNIGHT - 10 * SECOND;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return now_ns;
}

static mg_config_t *load(const char *rate_limits)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), SERVERS "%s", rate_limits);
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    if (mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err) != 0)
        fail_msg("%s", err.message);
    return config;
}

static void expect_error(const char *rate_limits, const char *expected)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), SERVERS "%s", rate_limits);
    mg_config_t *config = (mg_config_t *)(uintptr_t)1;
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err), -1);
    assert_null(config);
    assert_string_equal(err.message, expected);
}

/* A limiter and rules for one test. */
typedef struct st_fixture_t {
    mg_config_t *config;
    mg_limit_t *limit;
    mg_limit_rules_t *rules;
} fixture_t;

static void setup(fixture_t *f, const char *rate_limits, size_t max_keys)
{
    mg_error_t err = {{0}};
    f->config = load(rate_limits);
    if (mg_limit_create(max_keys, test_clock, NULL, &f->limit, &err) != 0 ||
        mg_limit_rules_create(f->limit, f->config, &f->rules, &err) != 0)
        fail_msg("%s", err.message);
}

static void teardown(fixture_t *f)
{
    mg_limit_rules_release(f->rules);
    mg_limit_destroy(f->limit);
    mg_config_release(f->config);
}

static mg_limit_call_t tool_call(const char *principal, size_t server, const char *tool)
{
    return (mg_limit_call_t){.method = MG_LIMIT_METHOD_TOOLS_CALL,
                             .principal = principal,
                             .client_ip = "192.0.2.7",
                             .server_index = server,
                             .item_kind = MG_CONFIG_TOOLS,
                             .item = tool};
}

/* Checks `call` and returns whether it was admitted; its slots go to `hold` (NULL: released at once). */
static bool admit(fixture_t *f, mg_limit_call_t call, mg_limit_verdict_t *verdict, mg_limit_hold_t *hold)
{
    mg_limit_hold_t local = {0};
    mg_limit_verdict_t ignored;
    mg_limit_check(f->limit, f->rules, &call, hold != NULL ? hold : &local, verdict != NULL ? verdict : &ignored);
    mg_limit_release(f->limit, &local);
    return !(verdict != NULL ? verdict : &ignored)->limited;
}

/* ---- configuration ---- */

static void test_config_loads(void **state)
{
    (void)state;
    mg_config_t *config = load("rate_limits:\n"
                               "  mode: observe\n"
                               "  max_keys: 5000\n"
                               "  rules:\n"
                               "    - {name: per-user, key: principal, rate: 600/minute, burst: 100, mode: enforce}\n"
                               "    - name: writes\n"
                               "      key: principal+tool\n"
                               "      tools: ['*/create_*', 'github/delete_*']\n"
                               "      rate: 20/hour\n"
                               "    - {name: daily, key: principal, quota: 10000/day, servers: [docs]}\n"
                               "    - {name: parallel, key: principal+server, concurrency: 8}\n"
                               "    - {name: ips, key: client_ip, rate: 5/second, methods: [completion/complete]}\n");
    const mg_config_rate_limits_t *limits = &config->rate_limits;
    assert_true(limits->present);
    assert_true(limits->observe);
    assert_int_equal(limits->max_keys, 5000);
    assert_int_equal(limits->rules_len, 5);
    const mg_config_limit_rule_t *rule = &limits->rules[0];
    assert_string_equal(rule->name, "per-user");
    assert_int_equal(rule->kind, MG_LIMIT_RATE);
    assert_int_equal(rule->key, MG_LIMIT_KEY_PRINCIPAL);
    assert_int_equal(rule->count, 600);
    assert_int_equal(rule->period_s, 60);
    assert_int_equal(rule->burst, 100);
    assert_false(rule->observe); /* its own mode wins */
    assert_int_equal(rule->methods, MG_LIMIT_METHODS_DEFAULT);
    assert_string_equal(rule->location, "gw.yaml:8:7");
    rule = &limits->rules[1];
    assert_true(rule->observe);
    assert_int_equal(rule->burst, 20); /* default: one period's worth */
    assert_int_equal(rule->period_s, 3600);
    assert_int_equal(rule->methods, MG_LIMIT_METHOD_TOOLS_CALL); /* tools only narrow the methods */
    assert_int_equal(rule->patterns_len[MG_CONFIG_TOOLS], 2);
    assert_string_equal(rule->patterns[MG_CONFIG_TOOLS][0].server, "*");
    assert_string_equal(rule->patterns[MG_CONFIG_TOOLS][0].name, "create_*");
    rule = &limits->rules[2];
    assert_int_equal(rule->kind, MG_LIMIT_QUOTA);
    assert_int_equal(rule->period_s, 86400);
    assert_string_equal(rule->servers[0], "docs");
    assert_int_equal(limits->rules[3].kind, MG_LIMIT_CONCURRENCY);
    assert_int_equal(limits->rules[3].count, 8);
    assert_int_equal(limits->rules[3].key, MG_LIMIT_KEY_PRINCIPAL_SERVER);
    assert_int_equal(limits->rules[4].methods, MG_LIMIT_METHOD_COMPLETION_COMPLETE);
    assert_int_equal(limits->rules[4].key, MG_LIMIT_KEY_CLIENT_IP);
    assert_int_equal(config->servers[0].cost, 2);
    assert_int_equal(config->servers[0].costs_len, 2);
    assert_string_equal(config->servers[0].costs[0].tool, "search");
    assert_int_equal(config->servers[0].costs[0].cost, 5);
    assert_int_equal(config->servers[1].cost, 1);
    mg_config_release(config);
    config = load("");
    assert_false(config->rate_limits.present);
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("rate_limits: {mode: block}\n",
                 "gw.yaml:4:21: rate_limits.mode: \"block\" must be enforce or observe");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute}], colour: red}\n",
                 "gw.yaml:4:67: rate_limits: unknown key \"colour\"");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, brust: 3}]}\n",
                 "gw.yaml:4:65: rate_limits.rules[0]: unknown key \"brust\" (did you mean \"burst\"?)");
    expect_error("rate_limits: {rules: [{key: principal, rate: 5/minute}]}\n",
                 "gw.yaml:4:23: rate_limits.rules[0]: missing required key \"name\"");
    expect_error(
        "rate_limits: {rules: [{name: 'a b', key: principal, rate: 5/minute}]}\n",
        "gw.yaml:4:30: rate_limits.rules[0].name: \"a b\" must be 1 to 64 characters from A-Z a-z 0-9 . _ : -");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute}, {name: a, key: principal, "
                 "quota: 5/day}]}\n",
                 "gw.yaml:4:73: rate_limits.rules[1].name: rule \"a\" is already defined in rate_limits.rules[0]");
    expect_error("rate_limits: {rules: [{name: a, key: user, rate: 5/minute}]}\n",
                 "gw.yaml:4:38: rate_limits.rules[0].key: \"user\" must be one of principal, principal+server, "
                 "principal+tool, server, tool, client_ip");
    expect_error("rate_limits: {rules: [{name: a, key: principal}]}\n",
                 "gw.yaml:4:23: rate_limits.rules[0]: needs one of rate, quota or concurrency");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, quota: 9/day}]}\n",
                 "gw.yaml:4:65: rate_limits.rules[0]: has more than one of rate, quota and concurrency; write one "
                 "rule for each");
    expect_error("rate_limits: {rules: [{name: a, key: principal, quota: 5/day, burst: 2}]}\n",
                 "gw.yaml:4:63: rate_limits.rules[0].burst: burst applies to rate only");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/fortnight}]}\n",
                 "gw.yaml:4:55: rate_limits.rules[0].rate: \"5/fortnight\" must be N/second, N/minute, N/hour or "
                 "N/day (e.g. 600/minute)");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 0/minute}]}\n",
                 "gw.yaml:4:55: rate_limits.rules[0].rate: \"0/minute\": N must be 1..1000000000");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 600}]}\n",
                 "gw.yaml:4:55: rate_limits.rules[0].rate: expected a string, got 600 (quote it if a string is "
                 "meant)");
    expect_error("rate_limits: {rules: [{name: a, key: principal, concurrency: 0}]}\n",
                 "gw.yaml:4:62: rate_limits.rules[0].concurrency: 0 is out of range 1..1000000000");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 1/day, burst: 1000000000}]}\n",
                 "gw.yaml:4:69: rate_limits.rules[0]: burst 1000000000 at 1 per 86400 s reaches more than "
                 "1000000000 s ahead; lower the burst");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, tools: [wiki/x]}]}\n",
                 "gw.yaml:4:73: rate_limits.rules[0].tools[0]: \"wiki/x\": no server named \"wiki\" in servers");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, tools: [search]}]}\n",
                 "gw.yaml:4:73: rate_limits.rules[0].tools[0]: \"search\" must be <server>/<name> (globs with '*'), "
                 "or \"*\" for everything");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, servers: [wiki]}]}\n",
                 "gw.yaml:4:75: rate_limits.rules[0].servers[0]: no server named \"wiki\" in servers");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, methods: [tools/list]}]}\n",
                 "gw.yaml:4:75: rate_limits.rules[0].methods[0]: \"tools/list\" is not a method the limit stage "
                 "sees: tools/call, prompts/get, resources/read, resources/subscribe, resources/unsubscribe, "
                 "completion/complete");
    expect_error("rate_limits: {rules: [{name: a, key: principal, rate: 5/minute, methods: [prompts/get], "
                 "tools: ['*']}]}\n",
                 "gw.yaml:4:23: rate_limits.rules[0]: counts nothing: none of its methods names the tools, prompts "
                 "or resources it lists");
    const char *servers_with_bad_cost = "servers:\n  - {name: x, url: 'https://x/mcp', costs: {a: 1, a: 2}}\n";
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    assert_int_equal(
        mg_config_load_string(servers_with_bad_cost, strlen(servers_with_bad_cost), "gw.yaml", "/etc", &config, &err),
        -1);
    assert_string_equal(err.message, "gw.yaml:2:51: servers[0].costs.a: tool \"a\" is listed twice");
    const char *negative = "servers:\n  - {name: x, url: 'https://x/mcp', cost: -1}\n";
    assert_int_equal(mg_config_load_string(negative, strlen(negative), "gw.yaml", "/etc", &config, &err), -1);
    assert_string_equal(err.message, "gw.yaml:2:43: servers[0].cost: -1 is out of range 0..1000000");
}

/* ---- rate (GCRA) ---- */

/* rate 10/second, burst 5: T = 100 ms, tau = 400 ms. From rest five calls pass; the sixth may retry
 * after exactly T; after T one more passes, and the next waits T again. */
static void test_rate_burst_and_refill(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT;
    setup(&f, "rate_limits: {rules: [{name: r, key: principal, rate: 10/second, burst: 5}]}\n", 1000);
    mg_limit_verdict_t verdict;
    for (int i = 0; i < 5; i++)
        assert_true(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_string_equal(verdict.rule, "r");
    assert_int_equal(verdict.kind, MG_LIMIT_RATE);
    assert_int_equal(verdict.retry_after_ns, 100 * MS);
    now_ns += 40 * MS;
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 60 * MS); /* a refused call does not push the schedule */
    now_ns += 60 * MS;
    assert_true(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 100 * MS);
    /* a full second of rest gives the whole burst back, never more */
    now_ns += 10 * SECOND;
    for (int i = 0; i < 5; i++)
        assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    /* steady state: one call every T */
    for (int i = 0; i < 20; i++) {
        now_ns += 100 * MS;
        assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
        assert_false(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    }
    mg_limit_rule_stats_t stats[4];
    assert_int_equal(mg_limit_rule_stats(f.limit, stats, 4), 1);
    assert_string_equal(stats[0].rule, "r");
    assert_int_equal(stats[0].allowed, 5 + 1 + 5 + 20);
    assert_int_equal(stats[0].limited, 2 + 1 + 1 + 20);
    teardown(&f);
}

/* Without burst, a full period's worth passes at once; T rounds up so the rate never exceeds N. */
static void test_rate_default_burst(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT;
    setup(&f, "rate_limits: {rules: [{name: r, key: principal, rate: 3/second}]}\n", 1000);
    mg_limit_verdict_t verdict;
    for (int i = 0; i < 3; i++)
        assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 333333334); /* ceil(1 s / 3) */
    now_ns += 333333333;
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 1);
    now_ns += 1;
    assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    teardown(&f);
}

/* ---- quota ---- */

static void test_quota_rolls_over_at_utc_midnight(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT - 3600 * SECOND; /* 22:59:59 */
    setup(&f, "rate_limits: {rules: [{name: daily, key: principal, quota: 3/day}]}\n", 1000);
    mg_limit_verdict_t verdict;
    for (int i = 0; i < 3; i++)
        assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.kind, MG_LIMIT_QUOTA);
    assert_int_equal(verdict.retry_after_ns, 3601 * SECOND); /* to 00:00:00 UTC */
    now_ns = BEFORE_MIDNIGHT + SECOND - 1;                   /* 23:59:59.999999999 */
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 1);
    now_ns = BEFORE_MIDNIGHT + SECOND; /* 00:00:00, a new day */
    for (int i = 0; i < 3; i++)
        assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 86400 * SECOND);
    assert_true(admit(&f, tool_call("bob", 0, "search"), NULL, NULL)); /* another principal's own quota */
    teardown(&f);
}

static void test_quota_hour_windows(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT - 1800 * SECOND; /* 23:29:59 */
    setup(&f, "rate_limits: {rules: [{name: hourly, key: principal, quota: 1/hour}]}\n", 1000);
    mg_limit_verdict_t verdict;
    assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, NULL));
    assert_int_equal(verdict.retry_after_ns, 1801 * SECOND); /* to 00:00:00, the next hour */
    teardown(&f);
}

/* ---- concurrency ---- */

static void test_concurrency_acquire_release(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f, "rate_limits: {rules: [{name: parallel, key: principal+server, concurrency: 2}]}\n", 1000);
    mg_limit_hold_t first = {0}, second = {0}, third = {0};
    mg_limit_verdict_t verdict;
    assert_true(admit(&f, tool_call("alice", 0, "a"), &verdict, &first));
    assert_int_equal(first.len, 1);
    assert_true(admit(&f, tool_call("alice", 0, "b"), &verdict, &second));
    assert_false(admit(&f, tool_call("alice", 0, "c"), &verdict, &third));
    assert_int_equal(third.len, 0);
    assert_int_equal(verdict.kind, MG_LIMIT_CONCURRENCY);
    assert_int_equal(verdict.retry_after_ns, SECOND);
    assert_true(admit(&f, tool_call("alice", 1, "c"), &verdict, &third)); /* another server: another key */
    assert_true(admit(&f, tool_call("bob", 0, "c"), NULL, NULL));         /* another principal */
    mg_limit_release(f.limit, &first);
    assert_int_equal(first.len, 0);
    mg_limit_release(f.limit, &first); /* harmless twice */
    mg_limit_hold_t fourth = {0};
    assert_true(admit(&f, tool_call("alice", 0, "d"), NULL, &fourth));
    assert_false(admit(&f, tool_call("alice", 0, "e"), NULL, NULL));
    mg_limit_release(f.limit, &second);
    mg_limit_release(f.limit, &third);
    mg_limit_release(f.limit, &fourth);
    teardown(&f);
}

/* ---- keys, filters, several rules ---- */

static void test_key_kinds(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT;
    setup(&f,
          "rate_limits: {rules: [\n"
          "  {name: per-tool, key: principal+tool, quota: 1/day, servers: [github]},\n"
          "  {name: per-server, key: server, quota: 3/day, servers: [docs]},\n"
          "  {name: per-ip, key: client_ip, quota: 1/day, methods: [completion/complete]},\n"
          "  {name: shared-tool, key: tool, quota: 1/day, tools: ['docs/only']}]}\n",
          1000);
    mg_limit_verdict_t verdict;
    /* principal+tool: one per (principal, server, tool) */
    assert_true(admit(&f, tool_call("alice", 0, "a"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 0, "a"), &verdict, NULL));
    assert_string_equal(verdict.rule, "per-tool");
    assert_true(admit(&f, tool_call("alice", 0, "b"), NULL, NULL));
    assert_true(admit(&f, tool_call("bob", 0, "a"), NULL, NULL));
    /* server: every principal shares it */
    assert_true(admit(&f, tool_call("alice", 1, "x"), NULL, NULL));
    assert_true(admit(&f, tool_call("bob", 1, "y"), NULL, NULL));
    assert_true(admit(&f, tool_call("carol", 1, "z"), NULL, NULL));
    assert_false(admit(&f, tool_call("dave", 1, "z"), &verdict, NULL));
    assert_string_equal(verdict.rule, "per-server");
    /* tool key with a tools filter: docs/only is shared... and refused by the server quota already spent */
    assert_false(admit(&f, tool_call("erin", 1, "only"), &verdict, NULL));
    /* client_ip counts completion/complete only */
    mg_limit_call_t completion = {.method = MG_LIMIT_METHOD_COMPLETION_COMPLETE,
                                  .principal = "alice",
                                  .client_ip = "192.0.2.7",
                                  .server_index = 0,
                                  .item_kind = MG_CONFIG_PROMPTS,
                                  .item = "p"};
    assert_true(admit(&f, completion, NULL, NULL));
    completion.principal = "bob";
    assert_false(admit(&f, completion, &verdict, NULL));
    assert_string_equal(verdict.rule, "per-ip");
    completion.client_ip = "2001:db8::1";
    assert_true(admit(&f, completion, NULL, NULL));
    /* principal names cannot be made to collide with another key by embedding separators */
    assert_true(admit(&f, tool_call("a", 0, "lice"), NULL, NULL));
    teardown(&f);
}

static void test_filters_and_methods(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT;
    setup(&f,
          "rate_limits: {rules: [\n"
          "  {name: writes, key: principal, quota: 1/day, tools: ['*/create_*', 'github/delete_*']},\n"
          "  {name: reads, key: principal, quota: 1/day, resources: ['docs/file:///pub/*']}]}\n",
          1000);
    assert_true(admit(&f, tool_call("alice", 0, "create_issue"), NULL, NULL));
    assert_false(admit(&f, tool_call("alice", 1, "create_page"), NULL, NULL)); /* the same principal key */
    assert_true(admit(&f, tool_call("alice", 1, "delete_page"), NULL, NULL));  /* github/ only */
    assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    mg_limit_call_t read = {.method = MG_LIMIT_METHOD_RESOURCES_READ,
                            .principal = "alice",
                            .client_ip = "",
                            .server_index = 1,
                            .item_kind = MG_CONFIG_RESOURCES,
                            .item = "file:///pub/a"};
    assert_true(admit(&f, read, NULL, NULL));
    assert_false(admit(&f, read, NULL, NULL));
    read.item = "file:///private/a";
    assert_true(admit(&f, read, NULL, NULL));
    read.method = MG_LIMIT_METHOD_RESOURCES_SUBSCRIBE; /* not counted by default */
    read.item = "file:///pub/a";
    assert_true(admit(&f, read, NULL, NULL));
    assert_false(mg_limit_rules_cover(f.rules, MG_LIMIT_METHOD_PROMPTS_GET));
    teardown(&f);
}

/* A call refused by a later rule is charged to none: the earlier rate and quota are given back. */
static void test_refused_call_costs_nothing(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT - 100 * SECOND; /* the test must not cross midnight */
    setup(&f,
          "rate_limits: {rules: [\n"
          "  {name: slots, key: principal, concurrency: 5},\n"
          "  {name: rate, key: principal, rate: 2/second},\n"
          "  {name: quota, key: principal, quota: 3/day},\n"
          "  {name: searches, key: principal, quota: 1/day, tools: ['github/search']}]}\n",
          1000);
    mg_limit_hold_t hold = {0};
    mg_limit_verdict_t verdict;
    assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, &hold));
    assert_int_equal(hold.len, 1);
    for (int i = 0; i < 5; i++) {
        assert_false(admit(&f, tool_call("alice", 0, "search"), &verdict, &hold));
        assert_string_equal(verdict.rule, "searches");
    }
    assert_int_equal(hold.len, 1); /* the refused calls' slots were given back */
    /* neither the rate (burst 2) nor the quota (3) was spent by the refusals */
    assert_true(admit(&f, tool_call("alice", 0, "other"), NULL, &hold));
    assert_false(admit(&f, tool_call("alice", 0, "other"), &verdict, NULL));
    assert_string_equal(verdict.rule, "rate");
    now_ns += SECOND;
    assert_true(admit(&f, tool_call("alice", 0, "other"), NULL, &hold));
    now_ns += SECOND;
    assert_false(admit(&f, tool_call("alice", 0, "other"), &verdict, NULL));
    assert_string_equal(verdict.rule, "quota");
    mg_limit_release(f.limit, &hold);
    teardown(&f);
}

static void test_observe_mode(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT;
    setup(&f,
          "rate_limits: {mode: observe, rules: [{name: r, key: principal, rate: 1/minute},\n"
          "  {name: c, key: principal, concurrency: 1}]}\n",
          1000);
    mg_limit_verdict_t verdict;
    mg_limit_hold_t hold = {0};
    assert_true(admit(&f, tool_call("alice", 0, "search"), &verdict, &hold));
    assert_false(verdict.observed);
    assert_int_equal(hold.len, 1);
    for (int i = 0; i < 3; i++) {
        mg_limit_hold_t more = {0};
        assert_true(admit(&f, tool_call("alice", 0, "search"), &verdict, &more));
        assert_true(verdict.observed);
        assert_string_equal(verdict.rule, "r");
        assert_int_equal(verdict.retry_after_ns, 60 * SECOND); /* the schedule did not move */
        assert_int_equal(more.len, 0);                         /* no slot: there was none */
    }
    mg_limit_rule_stats_t stats[2];
    assert_int_equal(mg_limit_rule_stats(f.limit, stats, 2), 2);
    assert_int_equal(stats[0].observed, 3);
    assert_int_equal(stats[0].limited, 0);
    assert_int_equal(stats[1].observed, 3);
    mg_limit_release(f.limit, &hold);
    teardown(&f);
}

/* ---- memory bound ---- */

static void test_eviction(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT;
    /* 64 keys: one counter per shard */
    setup(&f, "rate_limits: {rules: [{name: r, key: principal, rate: 1/second}]}\n", 64);
    char name[32];
    size_t admitted = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        admitted += admit(&f, tool_call(name, 0, "t"), NULL, NULL);
    }
    assert_int_equal(admitted, 2000); /* a full table admits untracked calls rather than refusing */
    assert_true(mg_limit_keys(f.limit) <= 64);
    mg_limit_rule_stats_t stats;
    mg_limit_rule_stats(f.limit, &stats, 1);
    assert_true(stats.untracked > 0);
    assert_int_equal(stats.allowed + stats.untracked, 2000);
    /* once their schedules have caught up, counters carry no state and make room */
    now_ns += 2 * SECOND;
    uint64_t untracked = stats.untracked;
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof(name), "q%d", i);
        admit(&f, tool_call(name, 0, "t"), NULL, NULL);
    }
    mg_limit_rule_stats(f.limit, &stats, 1);
    assert_true(stats.untracked - untracked < 64); /* most found room */
    assert_true(mg_limit_keys(f.limit) <= 64);
    teardown(&f);
}

/* ---- threads ---- */

typedef struct st_hammer_t {
    fixture_t *fixture;
    int calls;
    int admitted;
} hammer_t;

static void *hammer(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < h->calls; i++)
        h->admitted += admit(h->fixture, tool_call("alice", 0, "search"), NULL, NULL);
    return NULL;
}

static int run_hammers(fixture_t *f, int calls)
{
    pthread_t threads[8];
    hammer_t hammers[8];
    for (int i = 0; i < 8; i++) {
        hammers[i] = (hammer_t){f, calls, 0};
        pthread_create(&threads[i], NULL, hammer, &hammers[i]);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        total += hammers[i].admitted;
    }
    return total;
}

/* Eight threads on one key with the clock standing still: exactly `burst` calls pass a rate, however
 * the calls interleave; with a quota after it, exactly N, and the rate keeps only those. */
static void test_threads_on_one_key(void **state)
{
    (void)state;
    fixture_t f;
    now_ns = BEFORE_MIDNIGHT - 3600 * SECOND;
    setup(&f, "rate_limits: {rules: [{name: r, key: principal, rate: 1000/hour, burst: 700}]}\n", 1000);
    assert_int_equal(run_hammers(&f, 2000), 700);
    teardown(&f);

    setup(&f,
          "rate_limits: {rules: [{name: r, key: principal, rate: 1000/hour, burst: 700},\n"
          "  {name: q, key: principal, quota: 500/day}]}\n",
          1000);
    assert_int_equal(run_hammers(&f, 2000), 500);
    mg_limit_rule_stats_t stats[2];
    mg_limit_rule_stats(f.limit, stats, 2);
    assert_int_equal(stats[0].allowed, 500);
    /* every call the quota refused gave the rate its place back, so the rate (700) never refused one */
    assert_int_equal(stats[0].limited, 0);
    assert_int_equal(stats[1].allowed, 500);
    assert_int_equal(stats[1].limited, 8 * 2000 - 500);
    now_ns += 86400 * SECOND; /* the next day: a new window, and the rate long at rest */
    assert_int_equal(run_hammers(&f, 200), 500);
    teardown(&f);
}

/* ---- costs ---- */

typedef struct st_cost_seen_t {
    uint64_t alice_calls, alice_cost, bob_cost;
} cost_seen_t;

static void on_cost(void *ctx, const char *principal, uint64_t calls, uint64_t cost)
{
    cost_seen_t *seen = ctx;
    if (strcmp(principal, "alice") == 0) {
        seen->alice_calls = calls;
        seen->alice_cost = cost;
    } else if (strcmp(principal, "bob") == 0) {
        seen->bob_cost = cost;
    }
}

static void test_costs(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f, "", 1000);
    assert_int_equal(mg_limit_rules_cost(f.rules, 0, MG_LIMIT_METHOD_TOOLS_CALL, "search"), 5);
    assert_int_equal(mg_limit_rules_cost(f.rules, 0, MG_LIMIT_METHOD_TOOLS_CALL, "free"), 0);
    assert_int_equal(mg_limit_rules_cost(f.rules, 0, MG_LIMIT_METHOD_TOOLS_CALL, "other"), 2);
    assert_int_equal(mg_limit_rules_cost(f.rules, 0, MG_LIMIT_METHOD_PROMPTS_GET, "search"), 2);
    assert_int_equal(mg_limit_rules_cost(f.rules, 1, MG_LIMIT_METHOD_TOOLS_CALL, "search"), 1);
    mg_limit_charge(f.limit, "alice", 5);
    mg_limit_charge(f.limit, "alice", 2);
    mg_limit_charge(f.limit, "bob", 1);
    cost_seen_t seen = {0};
    mg_limit_costs(f.limit, on_cost, &seen);
    assert_int_equal(seen.alice_calls, 2);
    assert_int_equal(seen.alice_cost, 7);
    assert_int_equal(seen.bob_cost, 1);
    /* no rules: nothing is ever limited */
    assert_true(admit(&f, tool_call("alice", 0, "search"), NULL, NULL));
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_loads),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_rate_burst_and_refill),
        cmocka_unit_test(test_rate_default_burst),
        cmocka_unit_test(test_quota_rolls_over_at_utc_midnight),
        cmocka_unit_test(test_quota_hour_windows),
        cmocka_unit_test(test_concurrency_acquire_release),
        cmocka_unit_test(test_key_kinds),
        cmocka_unit_test(test_filters_and_methods),
        cmocka_unit_test(test_refused_call_costs_nothing),
        cmocka_unit_test(test_observe_mode),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_threads_on_one_key),
        cmocka_unit_test(test_costs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
