/*
 * rules.c - the `rate_limits` rules compiled against one configuration snapshot, and whether a rule
 * applies to a call.
 *
 * Compiling turns the written numbers into the integers decisions use (the GCRA's T and tau, a quota's
 * window in nanoseconds), resolves the `servers` filter into one flag per configured server, and gives
 * each rule its slot in the counter table: a slot is a (name, kind) pair, so a reload that keeps a
 * rule's name and kind keeps its counters and its statistics, and one that changes the kind starts
 * afresh rather than reading a TAT as a window.
 *
 * Matching: a rule applies when the call's method is among its methods, its server passes the
 * `servers` globs, and, when the rule lists tools, prompts or resources, one pattern of the call's
 * item kind matches (server glob against the configured name, name glob against the server's own
 * name or URI; the policy's glob matcher, so both read patterns the same way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit/limit_internal.h"
#include "policy/policy.h"

static int register_slot(mg_limit_t *limit, const mg_config_limit_rule_t *config, limit_rule_t *rule, mg_error_t *err)
{
    pthread_mutex_lock(&limit->slots_lock);
    size_t len = atomic_load_explicit(&limit->slots_len, memory_order_relaxed);
    size_t index = 0;
    while (index < len &&
           !(strcmp(limit->slots[index].name, config->name) == 0 && limit->slots[index].kind == config->kind))
        index++;
    if (index == len) {
        if (len == MG_LIMIT_MAX_SLOTS) {
            pthread_mutex_unlock(&limit->slots_lock);
            return mg_error_set(err, "%s: more than %d distinct rate limit rules since start; restart to reset",
                                config->path, MG_LIMIT_MAX_SLOTS);
        }
        snprintf(limit->slots[index].name, sizeof(limit->slots[index].name), "%s", config->name);
        limit->slots[index].kind = config->kind;
        atomic_store_explicit(&limit->slots_len, len + 1, memory_order_release); /* stats readers see a named slot */
    }
    pthread_mutex_unlock(&limit->slots_lock);
    rule->slot = &limit->slots[index];
    rule->slot_index = (uint16_t)index;
    return 0;
}

static int compile_rule(mg_limit_t *limit, const mg_config_t *config, const mg_config_limit_rule_t *written,
                        limit_rule_t *rule, mg_error_t *err)
{
    rule->config = written;
    if (register_slot(limit, written, rule, err) != 0)
        return -1;
    int64_t period_ns = (int64_t)written->period_s * 1000000000LL;
    if (written->kind == MG_LIMIT_RATE) {
        /* rounded up: the rate admitted never exceeds the rate written */
        rule->emission_ns = (period_ns + written->count - 1) / written->count;
        rule->tolerance_ns = (int64_t)(written->burst - 1) * rule->emission_ns;
    }
    rule->period_ns = period_ns;
    if ((rule->servers = calloc(config->servers_len + 1, sizeof(bool))) == NULL)
        return mg_error_set(err, "out of memory");
    for (size_t s = 0; s < config->servers_len; s++) {
        const char *name = config->servers[s].name;
        bool admitted = written->servers_len == 0;
        for (size_t g = 0; !admitted && g < written->servers_len; g++)
            admitted = mg_policy_glob_match(written->servers[g], strlen(written->servers[g]), name, strlen(name));
        rule->servers[s] = admitted;
    }
    return 0;
}

int mg_limit_rules_create(mg_limit_t *limit, mg_config_t *config, mg_limit_rules_t **out, mg_error_t *err)
{
    mg_limit_rules_t *rules = calloc(1, sizeof(*rules));
    *out = NULL;
    if (rules == NULL)
        return mg_error_set(err, "out of memory");
    atomic_init(&rules->refcount, 1);
    rules->config = mg_config_retain(config);
    const mg_config_rate_limits_t *written = &config->rate_limits;
    if (written->rules_len != 0 && (rules->rules = calloc(written->rules_len, sizeof(*rules->rules))) == NULL) {
        mg_limit_rules_release(rules);
        return mg_error_set(err, "out of memory");
    }
    rules->len = written->rules_len;
    for (size_t i = 0; i < written->rules_len; i++) {
        if (compile_rule(limit, config, &written->rules[i], &rules->rules[i], err) != 0) {
            mg_limit_rules_release(rules);
            return -1;
        }
        rules->methods |= written->rules[i].methods;
        rules->need_client_ip = rules->need_client_ip || written->rules[i].key == MG_LIMIT_KEY_CLIENT_IP;
    }
    *out = rules;
    return 0;
}

mg_limit_rules_t *mg_limit_rules_retain(mg_limit_rules_t *rules)
{
    atomic_fetch_add_explicit(&rules->refcount, 1, memory_order_relaxed);
    return rules;
}

void mg_limit_rules_release(mg_limit_rules_t *rules)
{
    if (rules == NULL || atomic_fetch_sub_explicit(&rules->refcount, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; rules->rules != NULL && i < rules->len; i++)
        free(rules->rules[i].servers);
    free(rules->rules);
    mg_config_release(rules->config);
    free(rules);
}

bool mg_limit_rules_need_client_ip(const mg_limit_rules_t *rules)
{
    return rules->need_client_ip;
}

bool mg_limit_rules_cover(const mg_limit_rules_t *rules, unsigned method)
{
    return (rules->methods & method) != 0;
}

long long mg_limit_rules_cost(const mg_limit_rules_t *rules, size_t server_index, unsigned method, const char *item)
{
    const mg_config_server_t *server = &rules->config->servers[server_index];
    for (size_t i = 0; method == MG_LIMIT_METHOD_TOOLS_CALL && i < server->costs_len; i++) {
        if (strcmp(server->costs[i].tool, item) == 0)
            return server->costs[i].cost;
    }
    return server->cost;
}

bool mg_limit_rule_applies(const mg_limit_rules_t *rules, const limit_rule_t *rule, const mg_limit_call_t *call)
{
    const mg_config_limit_rule_t *written = rule->config;
    if ((written->methods & call->method) == 0 || !rule->servers[call->server_index])
        return false;
    bool filtered = false;
    for (size_t k = 0; k < MG_CONFIG_PATTERN_KINDS; k++)
        filtered = filtered || written->patterns_len[k] != 0;
    if (!filtered)
        return true;
    const char *server = rules->config->servers[call->server_index].name;
    size_t server_len = strlen(server), item_len = strlen(call->item);
    const mg_config_pattern_t *patterns = written->patterns[call->item_kind];
    for (size_t i = 0; i < written->patterns_len[call->item_kind]; i++) {
        if (mg_policy_glob_match(patterns[i].server, strlen(patterns[i].server), server, server_len) &&
            mg_policy_glob_match(patterns[i].name, strlen(patterns[i].name), call->item, item_len))
            return true;
    }
    return false;
}
