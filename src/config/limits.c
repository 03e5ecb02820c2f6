/*
 * limits.c - the `rate_limits` section and the servers' `cost` / `costs` (docs/rate-limits.md).
 *
 * Like policy.c this file only reads and validates; src/limit/ compiles the rules and keeps the
 * counters. Everything that would make a rule mean something other than what its author thought is an
 * error here, with the file, line and column: an unknown key, a rule with two limits or none, `burst`
 * without `rate`, a unit the window arithmetic does not know, a pattern or server name that names no
 * configured server, a method the limit stage never sees.
 *
 * Rates and quotas are written "N/unit" with unit second, minute, hour or day. A quota's window is a
 * calendar one in UTC: Unix time has no leap seconds, so "day" windows start at 00:00:00 UTC exactly
 * and the arithmetic is a division. Longer windows (week, month) are left out on purpose: a month has
 * no fixed length, and a quota that silently meant 30 days would be wrong in five months of twelve.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

#define MAX_RULES 64
#define MAX_COUNT 1000000000LL
#define MAX_COST 1000000LL
#define MAX_CONCURRENCY_RULES 8 /* a call holds at most this many slots (limit/limit.h MG_LIMIT_MAX_HOLDS) */
/* burst × period / rate: the furthest ahead a GCRA schedule may run; bounded so nanosecond arithmetic
 * on Unix time cannot overflow 64 bits (about 31 years). */
#define MAX_SCHEDULE_S 1000000000LL

static const char *const section_keys[] = {"mode", "max_keys", "rules", NULL};
static const char *const rule_keys[] = {"name",    "key",       "rate",    "burst",   "quota", "concurrency", "tools",
                                        "prompts", "resources", "servers", "methods", "mode",  NULL};
static const char *const kind_keys[MG_CONFIG_PATTERN_KINDS] = {"tools", "prompts", "resources"};

static const struct {
    const char *name;
    mg_config_limit_key_t key;
} key_names[] = {
    {"principal", MG_LIMIT_KEY_PRINCIPAL},
    {"principal+server", MG_LIMIT_KEY_PRINCIPAL_SERVER},
    {"principal+tool", MG_LIMIT_KEY_PRINCIPAL_TOOL},
    {"server", MG_LIMIT_KEY_SERVER},
    {"tool", MG_LIMIT_KEY_TOOL},
    {"client_ip", MG_LIMIT_KEY_CLIENT_IP},
};

static const struct {
    const char *name;
    unsigned bit;
} method_names[] = {
    {"tools/call", MG_LIMIT_METHOD_TOOLS_CALL},
    {"prompts/get", MG_LIMIT_METHOD_PROMPTS_GET},
    {"resources/read", MG_LIMIT_METHOD_RESOURCES_READ},
    {"resources/subscribe", MG_LIMIT_METHOD_RESOURCES_SUBSCRIBE},
    {"resources/unsubscribe", MG_LIMIT_METHOD_RESOURCES_UNSUBSCRIBE},
    {"completion/complete", MG_LIMIT_METHOD_COMPLETION_COMPLETE},
};

unsigned mg_config_limit_method_bit(const char *method)
{
    for (size_t m = 0; m < sizeof(method_names) / sizeof(method_names[0]); m++) {
        if (strcmp(method, method_names[m].name) == 0)
            return method_names[m].bit;
    }
    return 0;
}

/* The kinds of item each method names, for `tools` / `prompts` / `resources` filters. */
static const unsigned methods_of_kind[MG_CONFIG_PATTERN_KINDS] = {
    MG_LIMIT_METHOD_TOOLS_CALL,
    MG_LIMIT_METHOD_PROMPTS_GET | MG_LIMIT_METHOD_COMPLETION_COMPLETE,
    MG_LIMIT_METHOD_RESOURCES_READ | MG_LIMIT_METHOD_RESOURCES_SUBSCRIBE | MG_LIMIT_METHOD_RESOURCES_UNSUBSCRIBE |
        MG_LIMIT_METHOD_COMPLETION_COMPLETE,
};

void mg_config_rate_limits_dispose(mg_config_rate_limits_t *rate_limits)
{
    for (size_t i = 0; rate_limits->rules != NULL && i < rate_limits->rules_len; i++) {
        mg_config_limit_rule_t *rule = &rate_limits->rules[i];
        free(rule->name);
        for (size_t k = 0; k < MG_CONFIG_PATTERN_KINDS; k++)
            mg_config_patterns_dispose(rule->patterns[k], rule->patterns_len[k]);
        mg_config_free_string_list(rule->servers, rule->servers_len);
        free(rule->location);
        free(rule->path);
    }
    free(rate_limits->rules);
    memset(rate_limits, 0, sizeof(*rate_limits));
}

static int check_mapping(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *const *keys)
{
    return mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
                   mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0
               ? -1
               : 0;
}

/* mode: enforce | observe */
static int load_mode(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, bool *observe)
{
    char *text = NULL;
    if (mg_config_load_strict_string(loader, node, path, &text) != 0) {
        free(text);
        return -1;
    }
    bool enforce = strcmp(text, "enforce") == 0, watch = strcmp(text, "observe") == 0;
    free(text);
    if (!enforce && !watch)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be enforce or observe",
                                   mg_config_yaml_raw(node));
    *observe = watch;
    return 0;
}

/* "N/unit": N in 1..MAX_COUNT, unit second | minute | hour | day. */
static int load_per_unit(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, long long *count,
                         long long *period_s)
{
    static const struct {
        const char *name;
        long long seconds;
    } units[] = {{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}};
    char *text = NULL;
    if (mg_config_load_strict_string(loader, node, path, &text) != 0) {
        free(text);
        return -1;
    }
    const char *slash = strchr(text, '/');
    long long value = 0;
    bool digits = slash != NULL && slash != text && slash - text <= 10;
    for (const char *c = text; digits && c < slash; c++) {
        digits = *c >= '0' && *c <= '9';
        value = value * 10 + (*c - '0');
    }
    *period_s = 0;
    for (size_t i = 0; digits && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(slash + 1, units[i].name) == 0)
            *period_s = units[i].seconds;
    }
    free(text);
    if (!digits || *period_s == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" must be N/second, N/minute, N/hour or N/day (e.g. 600/minute)",
                                   mg_config_yaml_raw(node));
    if (value < 1 || value > MAX_COUNT)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\": N must be 1..%lld", mg_config_yaml_raw(node),
                                   MAX_COUNT);
    *count = value;
    return 0;
}

static int load_name(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config,
                     size_t index)
{
    mg_config_limit_rule_t *rule = &config->rate_limits.rules[index];
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *name = mg_config_yaml_get(&loader->yaml, node, "name", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "name");
    if (name == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"name\"");
    if (mg_config_load_strict_string(loader, name, child, &rule->name) != 0)
        return -1;
    if (!mg_config_name_valid(rule->name))
        return mg_config_yaml_fail(&loader->yaml, name, child,
                                   "\"%s\" must be 1 to 64 characters from A-Z a-z 0-9 . _ : -",
                                   mg_config_yaml_raw(name));
    for (size_t j = 0; j < index; j++) {
        if (strcmp(config->rate_limits.rules[j].name, rule->name) == 0)
            return mg_config_yaml_fail(&loader->yaml, name, child,
                                       "rule \"%s\" is already defined in rate_limits.rules[%zu]", rule->name, j);
    }
    return 0;
}

static int load_key(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_limit_rule_t *rule)
{
    char child[MG_CONFIG_PATH_MAX], *text = NULL;
    yaml_node_t *key = mg_config_yaml_get(&loader->yaml, node, "key", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "key");
    if (key == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "missing required key \"key\" (principal, principal+server, principal+tool, "
                                   "server, tool or client_ip)");
    if (mg_config_load_strict_string(loader, key, child, &text) != 0) {
        free(text);
        return -1;
    }
    int found = -1;
    for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
        if (strcmp(text, key_names[i].name) == 0)
            found = (int)key_names[i].key;
    }
    free(text);
    if (found < 0)
        return mg_config_yaml_fail(&loader->yaml, key, child,
                                   "\"%s\" must be one of principal, principal+server, principal+tool, server, "
                                   "tool, client_ip",
                                   mg_config_yaml_raw(key));
    rule->key = (mg_config_limit_key_t)found;
    return 0;
}

/* Exactly one of rate (with optional burst), quota, concurrency. */
static int load_limit(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                      mg_config_limit_rule_t *rule)
{
    mg_config_yaml_t *yaml = &loader->yaml;
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *rate_key = NULL, *quota_key = NULL, *concurrency_key = NULL, *burst_key = NULL;
    yaml_node_t *rate = mg_config_yaml_get(yaml, node, "rate", &rate_key);
    yaml_node_t *quota = mg_config_yaml_get(yaml, node, "quota", &quota_key);
    yaml_node_t *concurrency = mg_config_yaml_get(yaml, node, "concurrency", &concurrency_key);
    yaml_node_t *burst = mg_config_yaml_get(yaml, node, "burst", &burst_key);
    int given = (rate != NULL) + (quota != NULL) + (concurrency != NULL);
    if (given == 0)
        return mg_config_yaml_fail(yaml, node, path, "needs one of rate, quota or concurrency");
    if (given > 1) {
        const yaml_node_t *second = rate != NULL && quota != NULL ? quota_key : concurrency_key;
        return mg_config_yaml_fail(yaml, second, path,
                                   "has more than one of rate, quota and concurrency; write one rule for each");
    }
    if (burst != NULL && rate == NULL) {
        mg_config_yaml_path_key(child, sizeof(child), path, "burst");
        return mg_config_yaml_fail(yaml, burst_key, child, "burst applies to rate only");
    }
    if (concurrency != NULL) {
        rule->kind = MG_LIMIT_CONCURRENCY;
        mg_config_yaml_path_key(child, sizeof(child), path, "concurrency");
        return mg_config_yaml_int(yaml, concurrency, child, 1, MAX_COUNT, &rule->count);
    }
    rule->kind = rate != NULL ? MG_LIMIT_RATE : MG_LIMIT_QUOTA;
    mg_config_yaml_path_key(child, sizeof(child), path, rate != NULL ? "rate" : "quota");
    if (load_per_unit(loader, rate != NULL ? rate : quota, child, &rule->count, &rule->period_s) != 0)
        return -1;
    rule->burst = rule->count;
    if (burst != NULL) {
        mg_config_yaml_path_key(child, sizeof(child), path, "burst");
        if (mg_config_yaml_int(yaml, burst, child, 1, MAX_COUNT, &rule->burst) != 0)
            return -1;
    }
    /* the schedule runs at most burst emission intervals ahead: burst × period / rate seconds */
    if (rule->kind == MG_LIMIT_RATE && (__int128)rule->burst * rule->period_s > (__int128)MAX_SCHEDULE_S * rule->count)
        return mg_config_yaml_fail(yaml, burst != NULL ? burst : rate, path,
                                   "burst %lld at %lld per %lld s reaches more than %lld s ahead; lower the burst",
                                   rule->burst, rule->count, rule->period_s, MAX_SCHEDULE_S);
    return 0;
}

static int load_methods(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                        mg_config_limit_rule_t *rule)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *methods = mg_config_yaml_get(&loader->yaml, node, "methods", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "methods");
    rule->methods = MG_LIMIT_METHODS_DEFAULT;
    if (methods == NULL)
        return 0;
    if (mg_config_yaml_expect_sequence(&loader->yaml, methods, child) != 0)
        return -1;
    if (mg_config_yaml_length(methods) == 0)
        return mg_config_yaml_fail(&loader->yaml, methods, child, "must list at least one method");
    rule->methods = 0;
    for (size_t i = 0; i < mg_config_yaml_length(methods); i++) {
        char item_path[MG_CONFIG_PATH_MAX], *text = NULL;
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, methods, i);
        mg_config_yaml_path_index(item_path, sizeof(item_path), child, i);
        if (mg_config_load_strict_string(loader, item, item_path, &text) != 0) {
            free(text);
            return -1;
        }
        unsigned bit = mg_config_limit_method_bit(text);
        free(text);
        if (bit == 0)
            return mg_config_yaml_fail(&loader->yaml, item, item_path,
                                       "\"%s\" is not a method the limit stage sees: tools/call, prompts/get, "
                                       "resources/read, resources/subscribe, resources/unsubscribe, "
                                       "completion/complete",
                                       mg_config_yaml_raw(item));
        rule->methods |= bit;
    }
    return 0;
}

/* tools / prompts / resources: the items a rule counts. Naming kinds also narrows the methods to those
 * that name such items, so `tools: [...]` alone never counts a prompts/get. */
static int load_items(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const mg_config_t *config,
                      mg_config_limit_rule_t *rule)
{
    char child[MG_CONFIG_PATH_MAX];
    unsigned reachable = 0;
    bool any = false;
    for (size_t k = 0; k < MG_CONFIG_PATTERN_KINDS; k++) {
        yaml_node_t *value = mg_config_yaml_get(&loader->yaml, node, kind_keys[k], NULL);
        if (value == NULL)
            continue;
        any = true;
        reachable |= methods_of_kind[k];
        mg_config_yaml_path_key(child, sizeof(child), path, kind_keys[k]);
        if (mg_config_yaml_expect_sequence(&loader->yaml, value, child) != 0)
            return -1;
        size_t count = mg_config_yaml_length(value);
        if (count == 0)
            return mg_config_yaml_fail(&loader->yaml, value, child, "must list at least one pattern");
        if ((rule->patterns[k] = calloc(count, sizeof(*rule->patterns[k]))) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        rule->patterns_len[k] = count;
        for (size_t i = 0; i < count; i++) {
            char item_path[MG_CONFIG_PATH_MAX];
            mg_config_yaml_path_index(item_path, sizeof(item_path), child, i);
            if (mg_config_load_pattern(loader, mg_config_yaml_item(&loader->yaml, value, i), item_path, config,
                                       &rule->patterns[k][i]) != 0)
                return -1;
        }
    }
    if (any && (rule->methods & reachable) == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "counts nothing: none of its methods names the tools, prompts or resources it "
                                   "lists");
    if (any)
        rule->methods &= reachable;
    return 0;
}

static bool server_glob_matches_some(const mg_config_t *config, const char *glob)
{
    if (strchr(glob, '*') != NULL)
        return true;
    return mg_config_find_server(config, glob) != NULL;
}

static int load_servers(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                        const mg_config_t *config, mg_config_limit_rule_t *rule)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *servers = mg_config_yaml_get(&loader->yaml, node, "servers", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "servers");
    if (servers == NULL)
        return 0;
    if (mg_config_load_string_list(loader, servers, child, &rule->servers, &rule->servers_len) != 0)
        return -1;
    if (rule->servers_len == 0)
        return mg_config_yaml_fail(&loader->yaml, servers, child, "must list at least one server");
    for (size_t i = 0; i < rule->servers_len; i++) {
        const char *glob = rule->servers[i];
        bool valid = true;
        for (const char *c = glob; *c != '\0'; c++)
            valid = valid && ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '*');
        char item_path[MG_CONFIG_PATH_MAX];
        mg_config_yaml_path_index(item_path, sizeof(item_path), child, i);
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, servers, i);
        if (!valid)
            return mg_config_yaml_fail(&loader->yaml, item, item_path,
                                       "\"%s\" must be a server name or a glob over them ([a-z0-9-*]+)", glob);
        if (!server_glob_matches_some(config, glob))
            return mg_config_yaml_fail(&loader->yaml, item, item_path, "no server named \"%s\" in servers", glob);
    }
    return 0;
}

static int load_rule(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config,
                     size_t index)
{
    mg_config_limit_rule_t *rule = &config->rate_limits.rules[index];
    char child[MG_CONFIG_PATH_MAX];
    if ((rule->location = mg_config_yaml_location(&loader->yaml, node)) == NULL)
        return -1;
    if ((rule->path = strdup(path)) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    if (check_mapping(loader, node, path, rule_keys) != 0 || load_name(loader, node, path, config, index) != 0 ||
        load_key(loader, node, path, rule) != 0 || load_limit(loader, node, path, rule) != 0 ||
        load_methods(loader, node, path, rule) != 0 || load_items(loader, node, path, config, rule) != 0 ||
        load_servers(loader, node, path, config, rule) != 0)
        return -1;
    rule->observe = config->rate_limits.observe;
    yaml_node_t *mode = mg_config_yaml_get(&loader->yaml, node, "mode", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "mode");
    return mode != NULL ? load_mode(loader, mode, child, &rule->observe) : 0;
}

int mg_config_load_rate_limits(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    mg_config_rate_limits_t *limits = &config->rate_limits;
    mg_config_yaml_t *yaml = &loader->yaml;
    limits->present = true;
    limits->max_keys = 100000;
    if (check_mapping(loader, node, "rate_limits", section_keys) != 0)
        return -1;
    yaml_node_t *value = mg_config_yaml_get(yaml, node, "mode", NULL);
    if (value != NULL && load_mode(loader, value, "rate_limits.mode", &limits->observe) != 0)
        return -1;
    value = mg_config_yaml_get(yaml, node, "max_keys", NULL);
    if (value != NULL && mg_config_yaml_int(yaml, value, "rate_limits.max_keys", 64, 100000000, &limits->max_keys) != 0)
        return -1;
    yaml_node_t *rules = mg_config_yaml_get(yaml, node, "rules", NULL);
    if (rules == NULL)
        return 0;
    if (mg_config_yaml_expect_sequence(yaml, rules, "rate_limits.rules") != 0)
        return -1;
    size_t count = mg_config_yaml_length(rules);
    if (count > MAX_RULES)
        return mg_config_yaml_fail(yaml, rules, "rate_limits.rules", "%zu rules; at most %d", count, MAX_RULES);
    if (count != 0 && (limits->rules = calloc(count, sizeof(*limits->rules))) == NULL)
        return mg_error_set(yaml->err, "out of memory");
    limits->rules_len = count;
    size_t concurrency_rules = 0;
    for (size_t i = 0; i < count; i++) {
        char path[MG_CONFIG_PATH_MAX];
        mg_config_yaml_path_index(path, sizeof(path), "rate_limits.rules", i);
        yaml_node_t *item = mg_config_yaml_item(yaml, rules, i);
        if (load_rule(loader, item, path, config, i) != 0)
            return -1;
        if (limits->rules[i].kind == MG_LIMIT_CONCURRENCY && ++concurrency_rules > MAX_CONCURRENCY_RULES)
            return mg_config_yaml_fail(yaml, item, path, "more than %d concurrency rules", MAX_CONCURRENCY_RULES);
    }
    return 0;
}

int mg_config_load_costs(mg_config_loader_t *loader, const yaml_node_t *server_node, const char *path,
                         mg_config_server_t *server)
{
    mg_config_yaml_t *yaml = &loader->yaml;
    char child[MG_CONFIG_PATH_MAX];
    server->cost = 1;
    yaml_node_t *cost = mg_config_yaml_get(yaml, server_node, "cost", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "cost");
    if (cost != NULL && mg_config_yaml_int(yaml, cost, child, 0, MAX_COST, &server->cost) != 0)
        return -1;
    yaml_node_t *costs = mg_config_yaml_get(yaml, server_node, "costs", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "costs");
    if (costs == NULL)
        return 0;
    if (mg_config_yaml_expect_mapping(yaml, costs, child) != 0)
        return -1;
    size_t count = mg_config_yaml_length(costs);
    if (count != 0 && (server->costs = calloc(count, sizeof(*server->costs))) == NULL)
        return mg_error_set(yaml->err, "out of memory");
    server->costs_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = mg_config_yaml_pair_key(yaml, costs, i);
        yaml_node_t *value = mg_config_yaml_pair_value(yaml, costs, i);
        char item_path[MG_CONFIG_PATH_MAX];
        if (key->type != YAML_SCALAR_NODE || key->data.scalar.length == 0)
            return mg_config_yaml_fail(yaml, key, child, "keys must be tool names");
        mg_config_yaml_path_key(item_path, sizeof(item_path), child, mg_config_yaml_raw(key));
        if ((server->costs[i].tool = strdup(mg_config_yaml_raw(key))) == NULL)
            return mg_error_set(yaml->err, "out of memory");
        for (size_t j = 0; j < i; j++) {
            if (strcmp(server->costs[j].tool, server->costs[i].tool) == 0)
                return mg_config_yaml_fail(yaml, key, item_path, "tool \"%s\" is listed twice", server->costs[i].tool);
        }
        if (mg_config_yaml_int(yaml, value, item_path, 0, MAX_COST, &server->costs[i].cost) != 0)
            return -1;
    }
    return 0;
}
