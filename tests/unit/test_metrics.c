/*
 * test_metrics.c - the metrics registry (src/obs/metrics.c, metrics_render.c) and the `metrics` section
 * (src/config/metrics.c): the exposition text line by line, label escaping, cumulative histogram
 * buckets, bounded label values, the overflow series, and exact sums under updates from many threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_load.h"
#include <pthread.h>

#include "config/config.h"
#include "obs/metrics.h"

static const char *const servers[] = {"github", "docs"};

static mg_metrics_t *make(size_t shards, size_t max_tools, size_t max_series)
{
    mg_metrics_options_t options = {
        .servers = servers, .servers_len = 2, .shards = shards, .max_tools = max_tools, .max_series = max_series};
    mg_metrics_t *metrics = NULL;
    mg_error_t err = {{0}};
    if (mg_metrics_create(&options, &metrics, &err) != 0)
        fail_msg("%s", err.message);
    return metrics;
}

/* The rendered text, NUL-terminated; free() it. */
static char *render(mg_metrics_t *metrics)
{
    mg_bytes_t out = {0};
    mg_metrics_render(metrics, &out);
    mg_bytes_append(&out, "", 1);
    size_t len;
    return mg_bytes_take(&out, &len);
}

static void assert_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *at = text; (at = strstr(at, line)) != NULL; at++) {
        if ((at == text || at[-1] == '\n') && at[len] == '\n')
            return;
    }
    fail_msg("missing line: %s\nin:\n%s", line, text);
}

static void assert_no_line_containing(const char *text, const char *part)
{
    if (strstr(text, part) != NULL)
        fail_msg("unexpected %s in:\n%s", part, text);
}

/* The value of the sample line that starts with `prefix` (name and labels); fails when absent. */
static uint64_t sample(const char *text, const char *prefix)
{
    size_t len = strlen(prefix);
    for (const char *at = text; (at = strstr(at, prefix)) != NULL; at++) {
        if ((at == text || at[-1] == '\n') && at[len] == ' ')
            return strtoull(at + len + 1, NULL, 10);
    }
    fail_msg("missing sample %s", prefix);
    return 0;
}

static mg_audit_event_t call(const char *server, const char *tool, mg_audit_decision_t decision, const char *status,
                             int64_t total_us, int64_t upstream_us)
{
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.server = server;
    event.item_kind = MG_AUDIT_ITEM_TOOL;
    event.item_name = tool;
    event.method = "tools/call";
    event.decision = decision;
    event.status = status;
    event.total_us = total_us;
    event.upstream_us = upstream_us;
    event.bytes_in = 100;
    event.bytes_out = 250;
    return event;
}

static void test_render_format(void **state)
{
    (void)state;
    mg_metrics_t *metrics = make(2, 0, 0);
    mg_audit_event_t ok = call("github", "search", MG_AUDIT_ALLOW, "ok", 700, 400);
    mg_metrics_observe(metrics, &ok, true);
    ok.total_us = 30000;
    ok.upstream_us = 20000;
    mg_metrics_observe(metrics, &ok, true);
    mg_audit_event_t denied = call("github", "search", MG_AUDIT_DENY, "error", 50, -1);
    mg_metrics_observe(metrics, &denied, true);
    mg_audit_event_t list = MG_AUDIT_EVENT_INIT;
    list.method = "tools/list";
    list.status = "ok";
    list.total_us = 2000000;
    mg_metrics_observe(metrics, &list, false);
    char *text = render(metrics);

    assert_line(text, "# HELP mcpgate_requests_total Client requests answered, by server, tool, MCP method, decision "
                      "and status.");
    assert_line(text, "# TYPE mcpgate_requests_total counter");
    assert_line(text,
                "mcpgate_requests_total{server=\"github\",tool=\"search\",method=\"tools/call\",decision=\"allow\","
                "status=\"ok\"} 2");
    assert_line(text,
                "mcpgate_requests_total{server=\"github\",tool=\"search\",method=\"tools/call\",decision=\"deny\","
                "status=\"error\"} 1");
    assert_line(text, "mcpgate_requests_total{server=\"\",tool=\"\",method=\"tools/list\",decision=\"allow\","
                      "status=\"ok\"} 1");
    /* the total latency histogram groups allow and deny: 50 us, 700 us, 30 ms */
    assert_line(text, "# TYPE mcpgate_request_duration_seconds histogram");
    const char *h = "mcpgate_request_duration_seconds_bucket{server=\"github\",tool=\"search\",method=\"tools/call\",";
    char line[512];
    static const struct {
        const char *le;
        int count;
    } expected[] = {{"0.0005", 1}, {"0.001", 2}, {"0.025", 2}, {"0.05", 3}, {"60", 3}, {"+Inf", 3}};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        snprintf(line, sizeof(line), "%sle=\"%s\"} %d", h, expected[i].le, expected[i].count);
        assert_line(text, line);
    }
    assert_line(text, "mcpgate_request_duration_seconds_sum{server=\"github\",tool=\"search\",method=\"tools/call\"} "
                      "0.030750");
    assert_line(text,
                "mcpgate_request_duration_seconds_count{server=\"github\",tool=\"search\",method=\"tools/call\"} 3");
    assert_line(text,
                "mcpgate_request_duration_seconds_bucket{server=\"\",tool=\"\",method=\"tools/list\",le=\"1\"} 0");
    assert_line(text,
                "mcpgate_request_duration_seconds_bucket{server=\"\",tool=\"\",method=\"tools/list\",le=\"2.5\"} 1");
    /* upstream latency only where there was one: the denied call has none */
    assert_line(text,
                "mcpgate_upstream_duration_seconds_count{server=\"github\",tool=\"search\",method=\"tools/call\"} "
                "2");
    assert_line(text, "mcpgate_upstream_duration_seconds_sum{server=\"github\",tool=\"search\",method=\"tools/call\"} "
                      "0.020400");
    assert_no_line_containing(text, "mcpgate_upstream_duration_seconds_count{server=\"\"");
    assert_line(text, "mcpgate_request_bytes_total{server=\"github\",direction=\"in\"} 300");
    assert_line(text, "mcpgate_request_bytes_total{server=\"github\",direction=\"out\"} 750");
    /* every family's samples are together: each TYPE line appears once */
    assert_int_equal(strstr(strstr(text, "# TYPE mcpgate_requests_total") + 1, "# TYPE mcpgate_requests_total"), NULL);
    free(text);
    mg_metrics_destroy(metrics);
}

static void test_escaping(void **state)
{
    (void)state;
    mg_bytes_t out = {0};
    mg_metrics_escape_label(&out, "a\"b\\c\nd");
    mg_bytes_append(&out, "", 1);
    assert_string_equal(out.base, "a\\\"b\\\\c\\nd");
    mg_bytes_dispose(&out);
    mg_metrics_write_family(&out, "x_total", "counter", "line one\nback\\slash \"quoted\"");
    mg_bytes_append(&out, "", 1);
    assert_string_equal(out.base, "# HELP x_total line one\\nback\\\\slash \"quoted\"\n# TYPE x_total counter\n");
    mg_bytes_dispose(&out);

    mg_metrics_t *metrics = make(1, 0, 0);
    mg_audit_event_t event = call("docs", "we\"ird\\name\n", MG_AUDIT_ALLOW, "ok", 1, 1);
    mg_metrics_observe(metrics, &event, true);
    char *text = render(metrics);
    assert_line(text, "mcpgate_requests_total{server=\"docs\",tool=\"we\\\"ird\\\\name\\n\",method=\"tools/call\","
                      "decision=\"allow\",status=\"ok\"} 1");
    free(text);
    mg_metrics_destroy(metrics);
}

static void test_bounded_labels(void **state)
{
    (void)state;
    mg_metrics_t *metrics = make(1, 2, 0);
    const char *names[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++) {
        mg_audit_event_t event = call("github", names[i], MG_AUDIT_ALLOW, "ok", 10, 5);
        mg_metrics_observe(metrics, &event, true);
    }
    mg_audit_event_t made_up = call("github", "client-made-this-up", MG_AUDIT_ERROR, "error", 10, -1);
    mg_metrics_observe(metrics, &made_up, false);
    mg_audit_event_t strange = call("nowhere", "a", MG_AUDIT_ALLOW, "weird", 10, -1);
    strange.method = "x-vendor/method";
    mg_metrics_observe(metrics, &strange, true);
    mg_audit_event_t prompt = call("docs", "greeting", MG_AUDIT_ALLOW, "ok", 10, -1);
    prompt.item_kind = MG_AUDIT_ITEM_PROMPT;
    prompt.method = "prompts/get";
    mg_metrics_observe(metrics, &prompt, true);
    char *text = render(metrics);
    /* two tools learnt, the others "(other)"; the made-up name is never a label value */
    assert_line(text, "mcpgate_requests_total{server=\"github\",tool=\"a\",method=\"tools/call\",decision=\"allow\","
                      "status=\"ok\"} 1");
    assert_line(text, "mcpgate_requests_total{server=\"github\",tool=\"b\",method=\"tools/call\",decision=\"allow\","
                      "status=\"ok\"} 1");
    assert_line(text, "mcpgate_requests_total{server=\"github\",tool=\"(other)\",method=\"tools/call\","
                      "decision=\"allow\",status=\"ok\"} 2");
    assert_line(text, "mcpgate_requests_total{server=\"github\",tool=\"(unknown)\",method=\"tools/call\","
                      "decision=\"error\",status=\"error\"} 1");
    assert_no_line_containing(text, "client-made-this-up");
    assert_line(text, "mcpgate_requests_total{server=\"(other)\",tool=\"(other)\",method=\"other\",decision=\"allow\","
                      "status=\"other\"} 1");
    assert_no_line_containing(text, "x-vendor");
    assert_no_line_containing(text, "nowhere");
    assert_line(text, "mcpgate_requests_total{server=\"docs\",tool=\"\",method=\"prompts/get\",decision=\"allow\","
                      "status=\"ok\"} 1");
    assert_line(text, "mcpgate_metrics_tools 2");
    free(text);
    mg_metrics_destroy(metrics);
}

static void test_series_overflow(void **state)
{
    (void)state;
    mg_metrics_t *metrics = make(1, 1000, 16);
    char name[16];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "tool-%d", i);
        mg_audit_event_t event = call("docs", name, MG_AUDIT_ALLOW, "ok", 10, 5);
        mg_metrics_observe(metrics, &event, true);
    }
    char *text = render(metrics);
    uint64_t overflow = sample(text, "mcpgate_metrics_series_overflow_total");
    assert_true(overflow >= 200 - 2 * 16 && overflow < 200);
    assert_int_equal(sample(text, "mcpgate_requests_total{server=\"(other)\",tool=\"(other)\",method=\"other\","
                                  "decision=\"other\",status=\"other\"}"),
                     overflow);
    /* the bytes still add up over every series */
    assert_int_equal(sample(text, "mcpgate_request_bytes_total{server=\"docs\",direction=\"in\"}") +
                         sample(text, "mcpgate_request_bytes_total{server=\"(other)\",direction=\"in\"}"),
                     200 * 100);
    free(text);
    mg_metrics_destroy(metrics);
}

/* ---- many threads ---------------------------------------------------------------------------------- */

#define THREADS 8
#define ROUNDS 20000

typedef struct st_worker_arg_t {
    mg_metrics_t *metrics;
    size_t index;
} worker_arg_t;

static void *hammer(void *arg)
{
    worker_arg_t *worker = arg;
    /* shards 0..2 for six threads, and two share the extra shard: sharing must count exactly too */
    if (worker->index < 6)
        mg_metrics_bind_thread(worker->index % 3);
    static const char *const tools[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < ROUNDS; i++) {
        mg_audit_event_t event = call(servers[i % 2], tools[i % 3], i % 5 == 0 ? MG_AUDIT_DENY : MG_AUDIT_ALLOW,
                                      i % 5 == 0 ? "error" : "ok", 1000, 400);
        mg_metrics_observe(worker->metrics, &event, true);
        mg_metrics_count(worker->metrics, MG_METRICS_TOKEN_CACHE_HIT);
        mg_metrics_gauge_add(worker->metrics, MG_METRICS_EVENT_STREAMS, i % 2 == 0 ? 1 : -1);
        mg_metrics_upstream_event(worker->metrics, 1, MG_METRICS_UPSTREAM_RESTART);
    }
    return NULL;
}

static void test_threads_sum_exactly(void **state)
{
    (void)state;
    mg_metrics_t *metrics = make(3, 0, 0);
    pthread_t threads[THREADS];
    worker_arg_t args[THREADS];
    for (size_t i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){metrics, i};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &args[i]), 0);
    }
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    char *text = render(metrics);
    uint64_t total = 0, denied = 0;
    static const char *const tools[] = {"alpha", "beta", "gamma"};
    char prefix[256];
    for (size_t s = 0; s < 2; s++) {
        for (size_t t = 0; t < 3; t++) {
            for (int d = 0; d < 2; d++) {
                snprintf(prefix, sizeof(prefix),
                         "mcpgate_requests_total{server=\"%s\",tool=\"%s\",method=\"tools/call\",decision=\"%s\","
                         "status=\"%s\"}",
                         servers[s], tools[t], d ? "deny" : "allow", d ? "error" : "ok");
                uint64_t value = sample(text, prefix);
                total += value;
                denied += d ? value : 0;
            }
            snprintf(prefix, sizeof(prefix),
                     "mcpgate_request_duration_seconds_count{server=\"%s\",tool=\"%s\",method=\"tools/call\"}",
                     servers[s], tools[t]);
            assert_true(sample(text, prefix) > 0);
        }
    }
    assert_int_equal(total, (uint64_t)THREADS * ROUNDS);
    assert_int_equal(denied, (uint64_t)THREADS * (ROUNDS / 5));
    assert_int_equal(sample(text, "mcpgate_auth_token_cache_lookups_total{result=\"hit\"}"),
                     (uint64_t)THREADS * ROUNDS);
    assert_int_equal(sample(text, "mcpgate_event_streams"), 0);
    assert_int_equal(sample(text, "mcpgate_upstream_restarts_total{server=\"docs\"}"), (uint64_t)THREADS * ROUNDS);
    assert_int_equal(sample(text, "mcpgate_upstream_restarts_total{server=\"github\"}"), 0);
    assert_int_equal(sample(text, "mcpgate_request_bytes_total{server=\"github\",direction=\"out\"}") +
                         sample(text, "mcpgate_request_bytes_total{server=\"docs\",direction=\"out\"}"),
                     (uint64_t)THREADS * ROUNDS * 250);
    /* six tool names learnt once each, however many threads raced to add them */
    assert_int_equal(sample(text, "mcpgate_metrics_tools"), 6);
    assert_int_equal(sample(text, "mcpgate_metrics_series_overflow_total"), 0);
    free(text);
    mg_metrics_destroy(metrics);
}

static void test_null_registry(void **state)
{
    (void)state;
    mg_audit_event_t event = call("github", "a", MG_AUDIT_ALLOW, "ok", 1, 1);
    mg_metrics_observe(NULL, &event, true);
    mg_metrics_count(NULL, MG_METRICS_JWKS_HIT);
    mg_metrics_gauge_add(NULL, MG_METRICS_EVENT_STREAMS, 1);
    mg_metrics_upstream_event(NULL, 0, MG_METRICS_UPSTREAM_EXIT);
    mg_metrics_destroy(NULL);
}

/* ---- configuration ----------------------------------------------------------------------------------- */

#define AUTH                                                                                                           \
    "auth:\n  resource: http://127.0.0.1:8080/mcp\n  api_keys: {enabled: true}\n"                                      \
    "roles:\n  - name: ops\n    allow: [{tools: ['*']}]\n"

static void test_config(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("log_level: info\n");
    assert_false(config->metrics.enabled);
    mg_config_release(config);
    config = load_ok("metrics:\n");
    assert_true(config->metrics.enabled);
    assert_string_equal(config->metrics.path, "/metrics");
    assert_null(config->metrics.listen.address);
    assert_int_equal(config->metrics.require, MG_METRICS_REQUIRE_NONE);
    assert_int_equal(config->metrics.max_tools, 2048);
    mg_config_release(config);
    /* on the main listener with auth: protected by default; on its own listener: not */
    config = load_ok(AUTH "metrics: {path: /internal/metrics}\n");
    assert_int_equal(config->metrics.require, MG_METRICS_REQUIRE_AUTHENTICATED);
    assert_string_equal(config->metrics.path, "/internal/metrics");
    mg_config_release(config);
    config = load_ok(AUTH "metrics: {listen: '127.0.0.1:9464', max_tools: 10, max_series: 100}\n");
    assert_int_equal(config->metrics.require, MG_METRICS_REQUIRE_NONE);
    assert_string_equal(config->metrics.listen.host, "127.0.0.1");
    assert_int_equal(config->metrics.listen.port, 9464);
    assert_int_equal(config->metrics.max_tools, 10);
    assert_int_equal(config->metrics.max_series, 100);
    mg_config_release(config);
    config = load_ok(AUTH "metrics: {listen: '[::1]:9464', roles: [ops]}\n");
    assert_int_equal(config->metrics.require, MG_METRICS_REQUIRE_AUTHENTICATED);
    assert_int_equal(config->metrics.roles_len, 1);
    assert_string_equal(config->metrics.roles[0], "ops");
    mg_config_release(config);
    config = load_ok(AUTH "metrics: {require: none}\n");
    assert_int_equal(config->metrics.require, MG_METRICS_REQUIRE_NONE);
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("metrics:\n  pth: /m\n", "gw.yaml:2:3: metrics: unknown key \"pth\" (did you mean \"path\"?)");
    expect_error("metrics:\n  path: metrics\n",
                 "gw.yaml:2:9: metrics.path: \"metrics\" must be an absolute path of at most 256 characters, without "
                 "spaces, '?' or '#', e.g. /metrics");
    expect_error("metrics:\n  path: /mcp\n",
                 "gw.yaml:2:9: metrics.path: \"/mcp\" is a path the gateway already serves");
    expect_error("metrics:\n  listen: localhost:9464\n",
                 "gw.yaml:2:11: metrics.listen: \"localhost\" is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or "
                 "[::1])");
    expect_error("listen: ['127.0.0.1:8080']\nmetrics:\n  listen: 127.0.0.1:8080\n",
                 "gw.yaml:3:11: metrics.listen: address 127.0.0.1:8080 is already used by listen[0] (leave "
                 "metrics.listen out to serve metrics there)");
    expect_error("metrics:\n  require: authenticated\n",
                 "gw.yaml:2:12: metrics.require: authenticated needs an auth section");
    expect_error(AUTH "metrics:\n  require: sometimes\n",
                 "gw.yaml:8:12: metrics.require: \"sometimes\" must be authenticated or none");
    expect_error(AUTH "metrics:\n  roles: [admin]\n",
                 "gw.yaml:8:11: metrics.roles[0]: \"admin\" is not a role in `roles`");
    expect_error(AUTH "metrics:\n  require: none\n  roles: [ops]\n",
                 "gw.yaml:8:12: metrics.require: none contradicts metrics.roles (leave require out)");
    expect_error(AUTH "metrics:\n  max_series: 1\n", "gw.yaml:8:15: metrics.max_series: 1 is out of range 16..1000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_format),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_bounded_labels),
        cmocka_unit_test(test_series_overflow),
        cmocka_unit_test(test_threads_sum_exactly),
        cmocka_unit_test(test_null_registry),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
