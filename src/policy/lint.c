/*
 * lint.c - what is legal in a policy but probably not what its author meant.
 *
 * Errors stop a configuration from loading (src/config/policy.c); these only warn, because each has
 * a legitimate use: a server glob for servers that will be added later, a role granted only by API
 * keys' own roles. Detection stays simple on purpose: an allow pattern counts as unreachable only
 * when an unconditional deny of the same role covers it with an identical or "*" server part and an
 * identical or "*" name part; proving coverage between arbitrary globs is not worth its false alarms.
 */
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

typedef struct st_lint_t {
    void (*fn)(void *ctx, const char *warning);
    void *ctx;
} lint_t;

static void warn(lint_t *lint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(lint_t *lint, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    lint->fn(lint->ctx, text);
}

static bool matches_a_server(const mg_config_t *config, const char *glob)
{
    for (size_t i = 0; i < config->servers_len; i++) {
        if (mg_policy_glob_match(glob, strlen(glob), config->servers[i].name, strlen(config->servers[i].name)))
            return true;
    }
    return false;
}

static void check_servers(lint_t *lint, const mg_config_t *config, mg_config_pattern_t *const *patterns,
                          const size_t *lens)
{
    for (size_t kind = 0; kind < MG_POLICY_LISTS; kind++) {
        for (size_t i = 0; i < lens[kind]; i++) {
            const mg_config_pattern_t *pattern = &patterns[kind][i];
            if (!matches_a_server(config, pattern->server))
                warn(lint, "%s: %s: \"%s\": the server part \"%s\" matches no configured server", pattern->location,
                     pattern->path, pattern->text, pattern->server);
        }
    }
}

static bool covers(const char *deny, const char *allow)
{
    return strcmp(deny, "*") == 0 || strcmp(deny, allow) == 0;
}

static void check_unreachable(lint_t *lint, const mg_config_role_t *role)
{
    for (size_t a = 0; a < role->allow_len; a++) {
        const mg_config_rule_t *allow = &role->allow[a];
        for (size_t kind = 0; kind < MG_POLICY_LISTS; kind++) {
            for (size_t i = 0; i < allow->patterns_len[kind]; i++) {
                const mg_config_pattern_t *pattern = &allow->patterns[kind][i];
                for (size_t d = 0; d < role->deny_len; d++) {
                    const mg_config_rule_t *deny = &role->deny[d];
                    bool covered = false;
                    for (size_t j = 0; deny->conditions_len == 0 && j < deny->patterns_len[kind] && !covered; j++)
                        covered = covers(deny->patterns[kind][j].server, pattern->server) &&
                                  covers(deny->patterns[kind][j].name, pattern->name);
                    if (covered) {
                        warn(lint, "%s: %s: \"%s\" can never match: %s (%s) denies it unconditionally",
                             pattern->location, pattern->path, pattern->text, deny->path, deny->location);
                        break;
                    }
                }
            }
        }
    }
}

void mg_policy_lint(const mg_policy_t *policy, const mg_config_t *config, void (*fn)(void *ctx, const char *warning),
                    void *ctx)
{
    if (policy == NULL)
        return;
    lint_t lint = {.fn = fn, .ctx = ctx};
    const mg_config_policy_t *source = &config->policy;
    if (source->roles_len == 0)
        warn(&lint, "%s: roles: %s, and no role is defined: every caller is denied everything", config->source,
             config->auth.enabled ? "authentication is enabled" : "a policy is configured");
    for (size_t r = 0; r < source->roles_len; r++) {
        const mg_config_role_t *role = &source->roles[r];
        for (size_t i = 0; i < role->allow_len; i++)
            check_servers(&lint, config, role->allow[i].patterns, role->allow[i].patterns_len);
        for (size_t i = 0; i < role->deny_len; i++)
            check_servers(&lint, config, role->deny[i].patterns, role->deny[i].patterns_len);
        check_unreachable(&lint, role);
        bool bound = false;
        for (size_t b = 0; b < source->bindings_len && !bound; b++)
            bound = source->bindings[b].role_index == r;
        if (!bound)
            warn(&lint, "%s: %s: no binding names role \"%s\" (only API keys created with --roles %s can have it)",
                 role->location, role->path, role->name, role->name);
        if (role->allow_len == 0)
            warn(&lint, "%s: %s: role \"%s\" only denies: on its own it allows nothing", role->location, role->path,
                 role->name);
    }
    for (size_t s = 0; s < source->scopes_len; s++)
        check_servers(&lint, config, source->scopes[s].patterns, source->scopes[s].patterns_len);
}
