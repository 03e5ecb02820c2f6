/*
 * compile.c - the configuration's roles and scopes, compiled into the lists requests are decided with.
 *
 * Everything that depends only on the configuration is done here, once: each pattern's server glob
 * is matched against every configured server, so that a role keeps, per (kind, server), only the
 * entries that can apply there, each with its name glob and its rule; regular expressions are
 * compiled; every rule gets the label decisions and explanations quote ("role developer allow[0]
 * (gw.yaml:12:9)"). What depends on the caller (which roles) is access.c's, and what depends on the
 * item (which names) is memoized there.
 *
 * The policy retains the configuration and borrows its strings, values and locations: both are
 * immutable, and a reload makes a new pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

const char *mg_policy_kind_name(mg_policy_kind_t kind)
{
    switch (kind) {
    case MG_POLICY_TOOL:
        return "tool";
    case MG_POLICY_PROMPT:
        return "prompt";
    case MG_POLICY_RESOURCE:
        return "resource";
    case MG_POLICY_RESOURCE_TEMPLATE:
        return "resource template";
    }
    return "item";
}

const char *mg_policy_verdict_name(mg_policy_verdict_t verdict)
{
    switch (verdict) {
    case MG_POLICY_ALLOW:
        return "allow";
    case MG_POLICY_DENY:
        return "deny";
    case MG_POLICY_HIDDEN:
        return "hidden";
    case MG_POLICY_NEED_SCOPE:
        return "insufficient_scope";
    }
    return "unknown";
}

static void rules_dispose(mg_policy_rule_t *rules, size_t len)
{
    for (size_t i = 0; rules != NULL && i < len; i++) {
        for (size_t j = 0; rules[i].conditions != NULL && j < rules[i].conditions_len; j++)
            mg_policy_condition_dispose(&rules[i].conditions[j]);
        free(rules[i].conditions);
        free(rules[i].label);
    }
    free(rules);
}

static void lists_dispose(mg_policy_list_t *lists, size_t len)
{
    for (size_t i = 0; lists != NULL && i < len; i++)
        free(lists[i].entries);
    free(lists);
}

static void policy_destroy(mg_policy_t *policy)
{
    size_t lists_len = MG_POLICY_LISTS * policy->servers_len * 2;
    for (size_t i = 0; policy->roles != NULL && i < policy->roles_len; i++) {
        mg_policy_role_t *role = &policy->roles[i];
        rules_dispose(role->allow, role->config != NULL ? role->config->allow_len : 0);
        rules_dispose(role->deny, role->config != NULL ? role->config->deny_len : 0);
        lists_dispose(role->lists, lists_len);
    }
    free(policy->roles);
    for (size_t i = 0; policy->scopes != NULL && i < policy->scopes_len; i++)
        free(policy->scopes[i].label);
    free(policy->scopes);
    lists_dispose(policy->scope_lists, MG_POLICY_LISTS * policy->servers_len);
    mg_config_release(policy->config);
    free(policy);
}

mg_policy_t *mg_policy_retain(mg_policy_t *policy)
{
    if (policy != NULL)
        atomic_fetch_add_explicit(&policy->refcount, 1, memory_order_relaxed);
    return policy;
}

void mg_policy_release(mg_policy_t *policy)
{
    if (policy != NULL && atomic_fetch_sub_explicit(&policy->refcount, 1, memory_order_acq_rel) == 1)
        policy_destroy(policy);
}

/* Appends an entry for each server the pattern's server glob matches. */
static int add_pattern(mg_policy_t *policy, mg_policy_list_t *lists, size_t kind, bool deny, bool scope_lists,
                       const mg_config_pattern_t *pattern, const mg_policy_rule_t *rule, const mg_policy_scope_t *scope)
{
    const mg_config_t *config = policy->config;
    for (size_t server = 0; server < config->servers_len; server++) {
        const char *name = config->servers[server].name;
        if (!mg_policy_glob_match(pattern->server, strlen(pattern->server), name, strlen(name)))
            continue;
        mg_policy_list_t *list = &lists[scope_lists ? kind * policy->servers_len + server
                                                    : mg_policy_list_index(policy, kind, server, deny)];
        mg_policy_entry_t *grown = realloc(list->entries, (list->len + 1) * sizeof(*grown));
        if (grown == NULL)
            return -1;
        list->entries = grown;
        list->entries[list->len++] = (mg_policy_entry_t){.glob = pattern->name,
                                                         .glob_len = strlen(pattern->name),
                                                         .any = strcmp(pattern->name, "*") == 0,
                                                         .pattern = pattern,
                                                         .rule = rule,
                                                         .scope = scope};
    }
    return 0;
}

static int compile_rule(mg_policy_t *policy, size_t role_index, const mg_config_rule_t *config, bool deny,
                        mg_policy_rule_t *rule, mg_error_t *err)
{
    const mg_config_role_t *role = &policy->config->policy.roles[role_index];
    rule->config = config;
    rule->role = role_index;
    rule->deny = deny;
    const char *index = strrchr(config->path, '[');
    if (asprintf(&rule->label, "role %s %s%s (%s)", role->name, deny ? "deny" : "allow", index != NULL ? index : "",
                 config->location) < 0) {
        rule->label = NULL;
        return mg_error_set(err, "out of memory");
    }
    if (config->conditions_len != 0 &&
        (rule->conditions = calloc(config->conditions_len, sizeof(*rule->conditions))) == NULL)
        return mg_error_set(err, "out of memory");
    for (size_t i = 0; i < config->conditions_len; i++) {
        rule->conditions_len = i + 1;
        if (mg_policy_condition_compile(&config->conditions[i], &rule->conditions[i], err) != 0)
            return -1;
    }
    for (size_t kind = 0; kind < MG_POLICY_LISTS; kind++) {
        for (size_t i = 0; i < config->patterns_len[kind]; i++) {
            if (add_pattern(policy, policy->roles[role_index].lists, kind, deny, false, &config->patterns[kind][i],
                            rule, NULL) != 0)
                return mg_error_set(err, "out of memory");
        }
    }
    return 0;
}

static int compile_role(mg_policy_t *policy, size_t index, mg_error_t *err)
{
    const mg_config_role_t *config = &policy->config->policy.roles[index];
    mg_policy_role_t *role = &policy->roles[index];
    role->config = config;
    if ((role->lists = calloc(MG_POLICY_LISTS * policy->servers_len * 2 + 1, sizeof(*role->lists))) == NULL ||
        (role->allow = calloc(config->allow_len + 1, sizeof(*role->allow))) == NULL ||
        (role->deny = calloc(config->deny_len + 1, sizeof(*role->deny))) == NULL)
        return mg_error_set(err, "out of memory");
    for (size_t i = 0; i < config->allow_len; i++) {
        if (compile_rule(policy, index, &config->allow[i], false, &role->allow[i], err) != 0)
            return -1;
    }
    for (size_t i = 0; i < config->deny_len; i++) {
        if (compile_rule(policy, index, &config->deny[i], true, &role->deny[i], err) != 0)
            return -1;
    }
    return 0;
}

static int compile_scopes(mg_policy_t *policy, mg_error_t *err)
{
    const mg_config_policy_t *config = &policy->config->policy;
    if ((policy->scope_lists = calloc(MG_POLICY_LISTS * policy->servers_len + 1, sizeof(*policy->scope_lists))) ==
            NULL ||
        (policy->scopes = calloc(config->scopes_len + 1, sizeof(*policy->scopes))) == NULL)
        return mg_error_set(err, "out of memory");
    policy->scopes_len = config->scopes_len;
    for (size_t i = 0; i < config->scopes_len; i++) {
        mg_policy_scope_t *scope = &policy->scopes[i];
        scope->config = &config->scopes[i];
        if (asprintf(&scope->label, "%s (%s)", scope->config->path, scope->config->location) < 0) {
            scope->label = NULL;
            return mg_error_set(err, "out of memory");
        }
        for (size_t kind = 0; kind < MG_POLICY_LISTS; kind++) {
            for (size_t j = 0; j < scope->config->patterns_len[kind]; j++) {
                if (add_pattern(policy, policy->scope_lists, kind, false, true, &scope->config->patterns[kind][j], NULL,
                                scope) != 0)
                    return mg_error_set(err, "out of memory");
            }
        }
    }
    return 0;
}

/* Every rule with conditions, in a flat list, for interning. */
static size_t conditional_rules(const mg_policy_t *policy, mg_policy_rule_t **out)
{
    size_t len = 0;
    for (size_t i = 0; i < policy->roles_len; i++) {
        const mg_policy_role_t *role = &policy->roles[i];
        for (size_t j = 0; j < role->config->allow_len + role->config->deny_len; j++) {
            mg_policy_rule_t *rule =
                j < role->config->allow_len ? &role->allow[j] : &role->deny[j - role->config->allow_len];
            if (rule->conditions_len == 0)
                continue;
            if (out != NULL)
                out[len] = rule;
            len++;
        }
    }
    return len;
}

/* Gives rules with the same conditions one conditions_id, and conditions on the same JSON pointer
 * one pointer_id: a call then evaluates a shared condition set once (many roles often carry the same
 * guard, e.g. "never a path under /etc") and looks each argument up once. Quadratic in the number of
 * conditional rules, at load time only; a policy has hundreds, not millions. */
static int intern_conditions(mg_policy_t *policy, mg_error_t *err)
{
    size_t len = conditional_rules(policy, NULL);
    mg_policy_rule_t **rules = calloc(len + 1, sizeof(*rules));
    char **keys = calloc(len + 1, sizeof(*keys));
    int rc = 0;
    if (rules == NULL || keys == NULL) {
        rc = mg_error_set(err, "out of memory");
        goto done;
    }
    conditional_rules(policy, rules);
    size_t pointers_len = 0;
    for (size_t i = 0; i < len; i++) {
        if ((keys[i] = mg_policy_conditions_key(rules[i])) == NULL) {
            rc = mg_error_set(err, "out of memory");
            goto done;
        }
        size_t same = 0;
        while (same < i && strcmp(keys[same], keys[i]) != 0)
            same++;
        rules[i]->conditions_id = same < i ? rules[same]->conditions_id : i;
        pointers_len += rules[i]->conditions_len;
    }
    /* the first condition on each pointer names it; pointer ids are indexes into `firsts` */
    const mg_policy_condition_t **firsts = calloc(pointers_len + 1, sizeof(*firsts));
    if (firsts == NULL) {
        rc = mg_error_set(err, "out of memory");
        goto done;
    }
    size_t distinct = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t c = 0; c < rules[i]->conditions_len; c++) {
            mg_policy_condition_t *condition = &rules[i]->conditions[c];
            size_t id = 0;
            while (id < distinct && strcmp(firsts[id]->config->pointer, condition->config->pointer) != 0)
                id++;
            if (id == distinct)
                firsts[distinct++] = condition;
            condition->pointer_id = id;
        }
    }
    free(firsts);
done:
    for (size_t i = 0; keys != NULL && i < len; i++)
        free(keys[i]);
    free(keys);
    free(rules);
    return rc;
}

int mg_policy_create(const mg_config_t *config, mg_policy_t **out, mg_error_t *err)
{
    *out = NULL;
    if (!config->auth.enabled && !config->policy.present)
        return 0;
    mg_policy_t *policy = calloc(1, sizeof(*policy));
    if (policy == NULL)
        return mg_error_set(err, "out of memory");
    atomic_init(&policy->refcount, 1);
    /* the policy only reads the configuration; retaining it only touches its atomic reference count */
    policy->config = mg_config_retain((mg_config_t *)config);
    policy->servers_len = config->servers_len;
    if ((policy->roles = calloc(config->policy.roles_len + 1, sizeof(*policy->roles))) == NULL) {
        policy_destroy(policy);
        return mg_error_set(err, "out of memory");
    }
    policy->roles_len = config->policy.roles_len;
    for (size_t i = 0; i < policy->roles_len; i++) {
        if (compile_role(policy, i, err) != 0) {
            policy_destroy(policy);
            return -1;
        }
    }
    if (compile_scopes(policy, err) != 0 || intern_conditions(policy, err) != 0) {
        policy_destroy(policy);
        return -1;
    }
    *out = policy;
    return 0;
}
