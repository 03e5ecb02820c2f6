/*
 * test_config_policy.c - the `roles`, `bindings` and `scopes` sections of the configuration
 * (src/config/policy.c, policy_args.c): what loads, and the exact "file:line:col: path: message" of
 * every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

#define SERVERS                                                                                                        \
    "servers:\n"                                                                                                       \
    "  - {name: github, url: 'https://gh.internal/mcp'}\n"                                                             \
    "  - {name: docs, url: 'https://docs.internal/mcp'}\n"

static void expect_error(const char *policy, const char *expected)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), SERVERS "%s", policy);
    mg_config_t *config = (mg_config_t *)(uintptr_t)1;
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err), -1);
    assert_null(config);
    assert_string_equal(err.message, expected);
}

static void test_loads(void **state)
{
    (void)state;
    const char yaml[] =
        SERVERS "roles:\n"
                "  - name: dev\n"
                "    allow:\n"
                "      - tools: ['github/*', '*']\n"
                "        when: {args: {/repo: {prefix: acme/, max_length: 100}, '/a~1b/0': {in: [1, x]}}}\n"
                "      - {prompts: ['docs/*'], resources: ['docs/file:///pub/*']}\n"
                "    deny: [{tools: ['github/delete_*']}]\n"
                "bindings:\n"
                "  - {role: dev, match: {claim: groups, contains: eng, method: jwt}}\n"
                "scopes: [{tools: ['*/create_*'], require: ['mcp:write']}]\n";
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    if (mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err) != 0)
        fail_msg("%s", err.message);
    const mg_config_policy_t *policy = &config->policy;
    assert_true(policy->present);
    assert_int_equal(policy->roles_len, 1);
    const mg_config_role_t *role = &policy->roles[0];
    assert_string_equal(role->name, "dev");
    assert_string_equal(role->location, "gw.yaml:5:5");
    assert_int_equal(role->allow_len, 2);
    const mg_config_rule_t *rule = &role->allow[0];
    assert_string_equal(rule->path, "roles[0].allow[0]");
    assert_int_equal(rule->patterns_len[MG_CONFIG_TOOLS], 2);
    assert_string_equal(rule->patterns[MG_CONFIG_TOOLS][0].server, "github");
    assert_string_equal(rule->patterns[MG_CONFIG_TOOLS][0].name, "*");
    assert_string_equal(rule->patterns[MG_CONFIG_TOOLS][1].server, "*"); /* "*" is "*" / "*" */
    assert_string_equal(rule->patterns[MG_CONFIG_TOOLS][1].name, "*");
    assert_int_equal(rule->conditions_len, 2);
    assert_string_equal(rule->conditions[0].prefix, "acme/");
    assert_int_equal(rule->conditions[0].max_length, 100);
    assert_int_equal(rule->conditions[0].exists, -1);
    assert_int_equal(rule->conditions[1].tokens_len, 2);
    assert_string_equal(rule->conditions[1].tokens[0], "a/b");
    assert_string_equal(rule->conditions[1].tokens[1], "0");
    assert_true(json_is_integer(json_array_get(rule->conditions[1].in, 0)));
    assert_true(json_is_string(json_array_get(rule->conditions[1].in, 1)));
    assert_string_equal(role->allow[1].patterns[MG_CONFIG_RESOURCES][0].name, "file:///pub/*");
    assert_int_equal(policy->bindings[0].role_index, 0);
    assert_int_equal(policy->bindings[0].method, 1 /* MG_AUTH_JWT */);
    assert_string_equal(policy->scopes[0].require[0], "mcp:write");
    mg_config_release(config);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_error("roles: [{name: r, allow: [{tools: ['*']}], alow: []}]\n",
                 "gw.yaml:4:44: roles[0]: unknown key \"alow\" (did you mean \"allow\"?)");
    expect_error("roles:\n  - name: r\n    allow:\n      - tools: ['*']\n        whenn: {}\n",
                 "gw.yaml:8:9: roles[0].allow[0]: unknown key \"whenn\" (did you mean \"when\"?)");
    expect_error("roles: [{name: r, allow: [{tools: ['github/*'], when: {args: {/a: {prefx: x}}}}]}]\n",
                 "gw.yaml:4:68: roles[0].allow[0].when.args./a: unknown key \"prefx\" (did you mean \"prefix\"?)");
    expect_error("roles: [{name: r, allow: [{tools: ['*']}]}]\nbindings: [{role: r, match: {subjet: a}}]\n",
                 "gw.yaml:5:30: bindings[0].match: unknown key \"subjet\" (did you mean \"subject\"?)");
    expect_error("scopes: [{tools: ['*'], require: [a], requires: [b]}]\n",
                 "gw.yaml:4:39: scopes[0]: unknown key \"requires\" (did you mean \"require\"?)");
    expect_error("rolez: []\n", "gw.yaml:4:1: unknown key \"rolez\" (did you mean \"roles\"?)");
}

static void test_bad_regex(void **state)
{
    (void)state;
    expect_error("roles:\n  - name: r\n    allow:\n      - tools: ['github/*']\n"
                 "        when: {args: {/repo: {pattern: 'acme/(x'}}}\n",
                 "gw.yaml:8:40: roles[0].allow[0].when.args./repo.pattern: missing closing parenthesis at offset 7");
    expect_error("roles: [{name: r, allow: [{tools: ['github/*'], when: {args: {/a: {pattern: '[z-a]'}}}}]}]\n",
                 "gw.yaml:4:77: roles[0].allow[0].when.args./a.pattern: range out of order in character class at "
                 "offset 3");
}

static void test_bad_pointer(void **state)
{
    (void)state;
    expect_error(
        "roles: [{name: r, allow: [{tools: ['github/*'], when: {args: {repo: {equals: 1}}}}]}]\n",
        "gw.yaml:4:63: roles[0].allow[0].when.args.repo: \"repo\" is not a JSON pointer: it must start with '/'");
    expect_error("roles: [{name: r, allow: [{tools: ['github/*'], when: {args: {/a~2b: {equals: 1}}}}]}]\n",
                 "gw.yaml:4:63: roles[0].allow[0].when.args./a~2b: \"/a~2b\" is not a JSON pointer: '~' must be "
                 "followed by 0 or 1 (RFC 6901)");
    expect_error("roles: [{name: r, allow: [{tools: ['github/*'], when: {args: {/a~: {equals: 1}}}}]}]\n",
                 "gw.yaml:4:63: roles[0].allow[0].when.args./a~: \"/a~\" is not a JSON pointer: '~' must be "
                 "followed by 0 or 1 (RFC 6901)");
}

static void test_unknown_role_and_server(void **state)
{
    (void)state;
    expect_error("roles: [{name: dev, allow: [{tools: ['*']}]}]\nbindings: [{role: devs, match: {subject: a}}]\n",
                 "gw.yaml:5:19: bindings[0].role: no role named \"devs\" in roles");
    expect_error("roles: [{name: dev, allow: [{tools: ['gitub/*']}]}]\n",
                 "gw.yaml:4:38: roles[0].allow[0].tools[0]: \"gitub/*\": no server named \"gitub\" in servers");
    expect_error("scopes: [{resources: ['doc/x'], require: [a]}]\n",
                 "gw.yaml:4:23: scopes[0].resources[0]: \"doc/x\": no server named \"doc\" in servers");
    expect_error("roles: [{name: dev, allow: [{tools: ['*']}]}, {name: dev, deny: [{tools: ['*']}]}]\n",
                 "gw.yaml:4:54: roles[1].name: role \"dev\" is already defined in roles[0]");
}

static void test_patterns(void **state)
{
    (void)state;
    expect_error("roles: [{name: r, allow: [{tools: ['search']}]}]\n",
                 "gw.yaml:4:36: roles[0].allow[0].tools[0]: \"search\" must be <server>/<name> (globs with '*'), or "
                 "\"*\" for everything");
    expect_error("roles: [{name: r, allow: [{tools: ['/x']}]}]\n",
                 "gw.yaml:4:36: roles[0].allow[0].tools[0]: \"/x\": the server part (before the first '/') must "
                 "match [a-z0-9-*]+");
    expect_error("roles: [{name: r, allow: [{tools: ['GitHub/x']}]}]\n",
                 "gw.yaml:4:36: roles[0].allow[0].tools[0]: \"GitHub/x\": the server part (before the first '/') "
                 "must match [a-z0-9-*]+");
    expect_error("roles: [{name: r, allow: [{tools: ['github/']}]}]\n",
                 "gw.yaml:4:36: roles[0].allow[0].tools[0]: \"github/\": nothing after the '/' (use \"github/*\" "
                 "for everything on the server)");
    expect_error("roles: [{name: r, allow: [{tools: []}]}]\n",
                 "gw.yaml:4:35: roles[0].allow[0].tools: must list at least one pattern");
    expect_error("roles: [{name: r, allow: [{}]}]\n",
                 "gw.yaml:4:27: roles[0].allow[0]: names nothing: give tools, prompts or resources");
    expect_error("roles: [{name: r}]\n", "gw.yaml:4:9: roles[0]: role \"r\" has neither allow nor deny rules");
    expect_error("roles: [{name: 'a b', allow: [{tools: ['*']}]}]\n",
                 "gw.yaml:4:16: roles[0].name: \"a b\" must be 1 to 64 characters from A-Z a-z 0-9 . _ : -");
}

static void test_condition_types(void **state)
{
    (void)state;
    char yaml[512];
    static const struct {
        const char *condition;
        const char *expected;
    } cases[] = {
        {"{prefix: 5}", "gw.yaml:4:76: roles[0].allow[0].when.args./a.prefix: expected a string, got 5 (quote it if "
                        "a string is meant)"},
        {"{max_items: -1}", "gw.yaml:4:79: roles[0].allow[0].when.args./a.max_items: -1 is out of range 0..1000000000"},
        {"{min: 5, max: 1}", "gw.yaml:4:67: roles[0].allow[0].when.args./a: min 5 is greater than max 1"},
        {"{min: x}", "gw.yaml:4:73: roles[0].allow[0].when.args./a.min: expected a number, got x"},
        {"{exists: true, absent: true}",
         "gw.yaml:4:67: roles[0].allow[0].when.args./a: exists: true and absent: true contradict each other"},
        {"{absent: true, prefix: x}",
         "gw.yaml:4:67: roles[0].allow[0].when.args./a: an argument required to be absent cannot have other "
         "conditions"},
        {"{in: x}", "gw.yaml:4:72: roles[0].allow[0].when.args./a.in: expected a list, got \"x\""},
        {"{}", "gw.yaml:4:67: roles[0].allow[0].when.args./a: names no condition (equals, in, prefix, suffix, "
               "pattern, max_length, min, max, min_items, max_items, exists, absent)"},
        {"{exists: maybe}", "gw.yaml:4:76: roles[0].allow[0].when.args./a.exists: expected true or false, got "
                            "\"maybe\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(yaml, sizeof(yaml), "roles: [{name: r, allow: [{tools: ['github/*'], when: {args: {/a: %s}}}]}]\n",
                 cases[i].condition);
        expect_error(yaml, cases[i].expected);
    }
    expect_error("roles: [{name: r, allow: [{prompts: ['*'], when: {args: {/a: {exists: true}}}}]}]\n",
                 "gw.yaml:4:44: roles[0].allow[0].when: conditions apply to tool calls only, and this rule names no "
                 "tools");
}

static void test_bindings(void **state)
{
    (void)state;
    const char *roles = "roles: [{name: r, allow: [{tools: ['*']}]}]\n";
    char yaml[512];
    static const struct {
        const char *match;
        const char *expected;
    } cases[] = {
        {"{}", "gw.yaml:5:29: bindings[0].match: matches nothing: give subject, issuer, claim, api_key, certificate, "
               "method or authenticated"},
        {"{claim: groups}",
         "gw.yaml:5:29: bindings[0].match: claim \"groups\" needs exactly one of contains or equals"},
        {"{claim: groups, equals: x}", "gw.yaml:5:29: bindings[0].match: claim \"groups\" is a list: use contains"},
        {"{contains: x}", "gw.yaml:5:29: bindings[0].match: contains and equals need claim: NAME"},
        {"{method: oauth}",
         "gw.yaml:5:38: bindings[0].match.method: \"oauth\" must be one of jwt, introspection, api_key, mtls, "
         "anonymous"},
        {"{authenticated: yes}", "gw.yaml:5:45: bindings[0].match.authenticated: expected true or false, got \"yes\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(yaml, sizeof(yaml), "%sbindings: [{role: r, match: %s}]\n", roles, cases[i].match);
        expect_error(yaml, cases[i].expected);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_bad_regex),
        cmocka_unit_test(test_bad_pointer),
        cmocka_unit_test(test_unknown_role_and_server),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_condition_types),
        cmocka_unit_test(test_bindings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
