/*
 * fuzz_policy.c - libFuzzer target for the authorization policy: the `roles`, `bindings` and `scopes`
 * sections (src/config/policy.c, policy_args.c), their compilation, lint, and decisions on fuzzed
 * arguments and names (src/policy/).
 *
 * The input is a YAML policy and a JSON document, separated by a line "%%". The policy is appended to
 * fixed servers and auth sections and loaded; a refusal must carry a "gw.yaml:" location. An accepted
 * policy is compiled and linted, then decides for a few callers (a JWT with a group and a scope, an API
 * key whose own roles come from the document's "_roles", the anonymous caller) on fixed names, on
 * the document's "_name" and "_uri", with the document as the tool call's arguments. Every decision
 * must be one of the four verdicts, visibility must agree with it (hidden if and only if not visible),
 * and explain must reach the same verdict. A `rate_limits` section (src/config/limits.c) is compiled
 * too (src/limit/), and a few calls decided twice at a fixed time: a refusal names a rule and a wait,
 * and every slot taken is given back. Inputs with "${" are skipped: expansion could read the
 * environment or the secret store, which is not what is fuzzed here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "limit/limit.h"
#include "policy/policy.h"

static const char header[] = "servers:\n"
                             "  - {name: github, url: 'https://gh.internal/mcp'}\n"
                             "  - {name: docs, url: 'https://docs.internal/mcp'}\n"
                             "  - {name: fs, url: 'https://fs.internal/mcp'}\n"
                             "auth: {resource: 'https://gw/mcp', api_keys: {enabled: true}}\n";

static int64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return 1772409599LL * 1000000000LL;
}

static void check_limits(mg_config_t *config, const char *name)
{
    mg_limit_t *limit = NULL;
    mg_limit_rules_t *rules = NULL;
    mg_error_t err = {{0}};
    if (mg_limit_create(64, fixed_clock, NULL, &limit, &err) != 0 ||
        mg_limit_rules_create(limit, config, &rules, &err) != 0)
        abort(); /* a loaded section always compiles */
    static const unsigned methods[] = {MG_LIMIT_METHOD_TOOLS_CALL, MG_LIMIT_METHOD_PROMPTS_GET,
                                       MG_LIMIT_METHOD_RESOURCES_READ, MG_LIMIT_METHOD_COMPLETION_COMPLETE};
    mg_limit_hold_t hold = {0};
    for (size_t round = 0; round < 2; round++) {
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            for (size_t server = 0; server < config->servers_len; server++) {
                mg_limit_call_t call = {.method = methods[m],
                                        .principal = round == 0 ? "api_key:ci-bot" : "anonymous",
                                        .client_ip = "192.0.2.1",
                                        .server_index = server,
                                        .item_kind = m == 0   ? MG_CONFIG_TOOLS
                                                     : m == 1 ? MG_CONFIG_PROMPTS
                                                              : MG_CONFIG_RESOURCES,
                                        .item = name};
                mg_limit_verdict_t verdict;
                mg_limit_check(limit, rules, &call, &hold, &verdict);
                if ((verdict.limited || verdict.observed) && (verdict.rule == NULL || verdict.retry_after_ns <= 0))
                    abort();
                mg_limit_charge(limit, call.principal, mg_limit_rules_cost(rules, server, methods[m], name));
                mg_limit_release(limit, &hold);
            }
        }
    }
    mg_limit_rules_release(rules);
    mg_limit_destroy(limit);
}

static void ignore_warning(void *ctx, const char *warning)
{
    (void)ctx;
    if (warning == NULL || warning[0] == '\0')
        abort();
}

static void check(mg_policy_t *policy, mg_policy_cache_t *cache, const mg_principal_t *principal, mg_policy_kind_t kind,
                  size_t server, const char *name, size_t len, const json_t *arguments)
{
    mg_policy_access_t *access = mg_policy_access_for(cache, policy, principal);
    if (access == NULL)
        abort();
    mg_policy_decision_t decision;
    mg_policy_decide(access, kind, server, name, len, kind == MG_POLICY_TOOL ? arguments : NULL, principal, &decision);
    if (decision.verdict > MG_POLICY_NEED_SCOPE || strlen(decision.reason) >= sizeof(decision.reason) ||
        decision.scopes_len > MG_POLICY_SCOPES_MAX)
        abort();
    bool visible = mg_policy_visible(access, kind, server, name, len);
    if (visible != (decision.verdict != MG_POLICY_HIDDEN))
        abort();
    if (decision.verdict == MG_POLICY_NEED_SCOPE && decision.scopes_len == 0)
        abort();
    (void)mg_policy_uses_kind(access, kind, server);
    (void)mg_policy_access_roles(access);
    mg_policy_access_release(access);
    mg_policy_decision_t again;
    json_t *explained = mg_policy_explain(policy, principal, kind, server, name, len,
                                          kind == MG_POLICY_TOOL ? arguments : NULL, &again);
    if (explained == NULL || again.verdict != decision.verdict)
        abort();
    json_decref(explained);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384 || memmem(data, size, "${", 2) != NULL)
        return 0;
    const char *separator = memmem(data, size, "\n%%\n", 4);
    size_t yaml_len = separator != NULL ? (size_t)(separator - (const char *)data) : size;
    char *yaml = malloc(sizeof(header) + yaml_len + 1);
    memcpy(yaml, header, sizeof(header) - 1);
    memcpy(yaml + sizeof(header) - 1, data, yaml_len);
    yaml[sizeof(header) - 1 + yaml_len] = '\0';
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    int rc = mg_config_load_string(yaml, sizeof(header) - 1 + yaml_len, "gw.yaml", "/nonexistent", &config, &err);
    free(yaml);
    if (rc != 0) {
        if (config != NULL || strncmp(err.message, "gw.yaml", 7) != 0)
            abort();
        return 0;
    }
    mg_policy_t *policy = NULL;
    if (mg_policy_create(config, &policy, &err) != 0 || policy == NULL)
        abort(); /* auth is on: there is always a policy, and the loader checked everything compile needs */
    mg_policy_lint(policy, config, ignore_warning, NULL);

    json_t *arguments = NULL;
    if (separator != NULL)
        arguments = json_loadb(separator + 4, size - yaml_len - 4, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    mg_principal_t *jwt = mg_principal_create(MG_AUTH_JWT, "alice", "https://idp", NULL);
    json_array_append_new(jwt->groups, json_string("eng"));
    json_array_append_new(jwt->scopes, json_string("mcp:read"));
    jwt->claims = json_pack("{s:s, s:[s]}", "sub", "alice", "teams", "red");
    mg_principal_t *key = mg_principal_create(MG_AUTH_API_KEY, "ci-bot", NULL, "k");
    const json_t *roles = json_object_get(arguments, "_roles");
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        if (json_is_string(role))
            json_array_append(key->roles, role);
    }
    const mg_principal_t *principals[] = {jwt, key, mg_principal_anonymous()};
    static const char *const names[] = {"create_issue", "get_x", "delete_repo", "", "a/b", "file:///pub/../x"};
    const char *name = json_string_value(json_object_get(arguments, "_name"));
    const char *uri = json_string_value(json_object_get(arguments, "_uri"));
    mg_policy_cache_t *cache = mg_policy_cache_create();
    for (size_t p = 0; p < 3; p++) {
        for (size_t server = 0; server < 3; server++) {
            for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
                check(policy, cache, principals[p], MG_POLICY_TOOL, server, names[n], strlen(names[n]), arguments);
                check(policy, cache, principals[p], MG_POLICY_RESOURCE, server, names[n], strlen(names[n]), NULL);
            }
            if (name != NULL) {
                check(policy, cache, principals[p], MG_POLICY_TOOL, server, name,
                      json_string_length(json_object_get(arguments, "_name")), arguments);
                check(policy, cache, principals[p], MG_POLICY_PROMPT, server, name, strlen(name), NULL);
            }
            if (uri != NULL) {
                check(policy, cache, principals[p], MG_POLICY_RESOURCE, server, uri, strlen(uri), NULL);
                check(policy, cache, principals[p], MG_POLICY_RESOURCE_TEMPLATE, server, uri, strlen(uri), NULL);
            }
        }
    }
    mg_policy_cache_destroy(cache);
    check_limits(config, name != NULL ? name : "create_issue");
    mg_principal_release(jwt);
    mg_principal_release(key);
    json_decref(arguments);
    mg_policy_release(policy);
    mg_config_release(config);
    return 0;
}
