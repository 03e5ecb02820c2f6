/*
 * decide.c - one decision: the memo of name matching, then argument conditions and scopes.
 *
 * Whether a name matches the globs of the caller's roles depends only on (kind, server, name) and
 * the role set, so each access remembers the outcome: hidden (no allow pattern matches, or an
 * unconditional deny does), allowed outright (an unconditional allow matches), or the conditional
 * allow and deny rules left to evaluate against each call's arguments, with the scopes entries that
 * apply. A repeated call costs one hash lookup plus its conditions; a list of a thousand tools costs
 * a thousand lookups after the first time. The memo is bounded (MG_POLICY_MEMO_MAX) and emptied when
 * full, so a client inventing names cannot grow it.
 *
 * Order of judgement: hidden first (a caller learns nothing about what it may not see), then deny
 * rules with conditions (deny wins over allow), then allow rules, then scopes (a missing scope is a
 * step-up for a caller the roles already allow, so it is asked last).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

struct st_mg_policy_memo_entry_t {
    mg_policy_memo_entry_t *next;
    uint64_t hash;
    size_t server;
    mg_policy_kind_t kind;
    bool visible;
    const mg_policy_rule_t *decider; /* hidden: the unconditional deny (NULL: no allow matched);
                                      * visible: the unconditional allow (NULL: conditional ones only) */
    const mg_policy_rule_t **allows; /* conditional allow rules whose patterns match (none when decider) */
    size_t allows_len;
    const mg_policy_rule_t **denies; /* conditional deny rules whose patterns match */
    size_t denies_len;
    const mg_policy_scope_t **scopes; /* scopes entries whose patterns match */
    size_t scopes_len;
    const char *name; /* a copy, in the same allocation */
    size_t name_len;
};

static uint64_t item_hash(mg_policy_kind_t kind, size_t server, const char *name, size_t len)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325) ^ ((uint64_t)kind << 56) ^ (uint64_t)server;
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ (unsigned char)name[i]) * UINT64_C(0x100000001b3);
    return hash ^ (hash >> 29);
}

void mg_policy_memo_clear(mg_policy_access_t *access)
{
    for (size_t i = 0; access->memo != NULL && i < MG_POLICY_MEMO_BUCKETS; i++) {
        for (mg_policy_memo_entry_t *entry = access->memo[i], *next; entry != NULL; entry = next) {
            next = entry->next;
            free(entry);
        }
        access->memo[i] = NULL;
    }
    access->memo_len = 0;
}

static void add_unique(const void **list, size_t *len, const void *item)
{
    for (size_t i = 0; i < *len; i++) {
        if (list[i] == item)
            return;
    }
    list[(*len)++] = item;
}

/* A conditional rule, unless one with the same conditions is listed already: it would answer the same. */
static void add_rule(const void **list, size_t *len, const mg_policy_rule_t *rule)
{
    for (size_t i = 0; i < *len; i++) {
        if (((const mg_policy_rule_t *)list[i])->conditions_id == rule->conditions_id)
            return;
    }
    list[(*len)++] = rule;
}

typedef struct st_matched_t {
    const mg_policy_rule_t *decider;
    bool visible;
    const void **allows, **denies, **scopes;
    size_t allows_len, denies_len, scopes_len;
} matched_t;

static void match_item(const mg_policy_access_t *access, mg_policy_kind_t kind, size_t server, const char *name,
                       size_t len, matched_t *out)
{
    const mg_policy_t *policy = access->policy;
    size_t list = mg_policy_list_of(kind);
    bool suspicious = kind == MG_POLICY_RESOURCE && mg_policy_uri_suspicious(name, len);
    const mg_policy_list_t *denies = &access->lists[mg_policy_list_index(policy, list, server, true)];
    const mg_policy_list_t *allows = &access->lists[mg_policy_list_index(policy, list, server, false)];
    for (size_t i = 0; i < denies->len; i++) {
        const mg_policy_entry_t *entry = &denies->entries[i];
        if (!mg_policy_entry_matches(entry, name, len, suspicious, true))
            continue;
        if (entry->rule->conditions_len == 0) {
            out->decider = entry->rule;
            return; /* hidden */
        }
        add_rule(out->denies, &out->denies_len, entry->rule);
    }
    for (size_t i = 0; i < allows->len; i++) {
        const mg_policy_entry_t *entry = &allows->entries[i];
        if (!mg_policy_entry_matches(entry, name, len, suspicious, false))
            continue;
        out->visible = true;
        if (entry->rule->conditions_len == 0 && out->decider == NULL)
            out->decider = entry->rule;
        else if (entry->rule->conditions_len != 0)
            add_rule(out->allows, &out->allows_len, entry->rule);
    }
    if (out->decider != NULL)
        out->allows_len = 0;
    const mg_policy_list_t *scopes = &policy->scope_lists[list * policy->servers_len + server];
    for (size_t i = 0; out->visible && kind != MG_POLICY_RESOURCE_TEMPLATE && i < scopes->len; i++) {
        if (mg_policy_entry_matches(&scopes->entries[i], name, len, suspicious, true))
            add_unique(out->scopes, &out->scopes_len, scopes->entries[i].scope);
    }
}

static mg_policy_memo_entry_t *memo_add(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server,
                                        const char *name, size_t len, uint64_t hash)
{
    const mg_policy_t *policy = access->policy;
    size_t list = mg_policy_list_of(kind);
    size_t most = access->lists[mg_policy_list_index(policy, list, server, true)].len +
                  access->lists[mg_policy_list_index(policy, list, server, false)].len +
                  policy->scope_lists[list * policy->servers_len + server].len;
    const void **scratch = malloc((most + 1) * sizeof(void *) * 3);
    if (scratch == NULL)
        return NULL;
    matched_t matched = {.allows = scratch, .denies = scratch + most + 1, .scopes = scratch + 2 * (most + 1)};
    match_item(access, kind, server, name, len, &matched);
    size_t pointers = matched.allows_len + matched.denies_len + matched.scopes_len;
    mg_policy_memo_entry_t *entry = malloc(sizeof(*entry) + pointers * sizeof(void *) + len + 1);
    if (entry == NULL ||
        (access->memo == NULL && (access->memo = calloc(MG_POLICY_MEMO_BUCKETS, sizeof(void *))) == NULL)) {
        free(entry);
        free(scratch);
        return NULL;
    }
    const mg_policy_rule_t **rules = (const mg_policy_rule_t **)((char *)entry + sizeof(*entry));
    *entry = (mg_policy_memo_entry_t){.hash = hash,
                                      .server = server,
                                      .kind = kind,
                                      .visible = matched.visible && (matched.decider == NULL || !matched.decider->deny),
                                      .decider = matched.decider,
                                      .allows = rules,
                                      .allows_len = matched.allows_len,
                                      .denies = rules + matched.allows_len,
                                      .denies_len = matched.denies_len,
                                      .scopes =
                                          (const mg_policy_scope_t **)(rules + matched.allows_len + matched.denies_len),
                                      .scopes_len = matched.scopes_len,
                                      .name_len = len};
    memcpy(entry->allows, matched.allows, matched.allows_len * sizeof(void *));
    memcpy(entry->denies, matched.denies, matched.denies_len * sizeof(void *));
    memcpy(entry->scopes, matched.scopes, matched.scopes_len * sizeof(void *));
    free(scratch);
    char *copy = (char *)(rules + pointers);
    memcpy(copy, name, len);
    copy[len] = '\0';
    entry->name = copy;
    if (access->memo_len >= MG_POLICY_MEMO_MAX)
        mg_policy_memo_clear(access);
    mg_policy_memo_entry_t **bucket = &access->memo[hash % MG_POLICY_MEMO_BUCKETS];
    entry->next = *bucket;
    *bucket = entry;
    access->memo_len++;
    return entry;
}

static mg_policy_memo_entry_t *memo_get(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server,
                                        const char *name, size_t len)
{
    uint64_t hash = item_hash(kind, server, name, len);
    if (access->memo != NULL) {
        for (mg_policy_memo_entry_t *entry = access->memo[hash % MG_POLICY_MEMO_BUCKETS]; entry != NULL;
             entry = entry->next) {
            if (entry->hash == hash && entry->kind == kind && entry->server == server && entry->name_len == len &&
                memcmp(entry->name, name, len) == 0)
                return entry;
        }
    }
    return memo_add(access, kind, server, name, len, hash);
}

/* "tool github/create_issue", the name cut at 64 bytes and anything unprintable shown as '?'. */
static void describe_item(const mg_policy_t *policy, mg_policy_kind_t kind, size_t server, const char *name, size_t len,
                          char *out, size_t size)
{
    char shown[72];
    size_t used = 0;
    for (size_t i = 0; i < len && used < 64; i++)
        shown[used++] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == '"' ? '?' : name[i];
    shown[used] = '\0';
    snprintf(out, size, "%s %s/%s%s", mg_policy_kind_name(kind), policy->config->servers[server].name, shown,
             len > used ? "..." : "");
}

static void hide(mg_policy_decision_t *out, const mg_policy_rule_t *rule, const char *reason)
{
    out->verdict = MG_POLICY_HIDDEN;
    out->rule = rule != NULL ? rule->label : NULL;
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/* NEED_SCOPE when the principal is an OAuth one that lacks a scope the item's scopes entries require. */
static void check_scopes(const mg_policy_t *policy, mg_policy_kind_t kind, const mg_policy_memo_entry_t *entry,
                         const mg_principal_t *principal, mg_policy_decision_t *out)
{
    if (principal == NULL || (principal->method != MG_AUTH_JWT && principal->method != MG_AUTH_INTROSPECTION))
        return;
    const char *missing = NULL;
    const mg_policy_scope_t *missing_in = NULL;
    for (size_t i = 0; i < entry->scopes_len; i++) {
        const mg_config_scope_rule_t *config = entry->scopes[i]->config;
        for (size_t j = 0; j < config->require_len; j++) {
            const char *scope = config->require[j];
            bool listed = false;
            for (size_t k = 0; k < out->scopes_len && !listed; k++)
                listed = strcmp(out->scopes[k], scope) == 0;
            if (!listed && out->scopes_len < MG_POLICY_SCOPES_MAX)
                out->scopes[out->scopes_len++] = scope;
            if (missing == NULL && !mg_principal_has_scope(principal, scope)) {
                missing = scope;
                missing_in = entry->scopes[i];
            }
        }
    }
    if (missing == NULL) {
        out->scopes_len = 0;
        return;
    }
    char item[160];
    describe_item(policy, kind, entry->server, entry->name, entry->name_len, item, sizeof(item));
    out->verdict = MG_POLICY_NEED_SCOPE;
    out->rule = missing_in->label;
    snprintf(out->reason, sizeof(out->reason), "%s needs scope \"%s\", which the token does not have", item, missing);
}

void mg_policy_decide(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server_index, const char *name,
                      size_t name_len, const json_t *arguments, const mg_principal_t *principal,
                      mg_policy_decision_t *out)
{
    out->verdict = MG_POLICY_ALLOW;
    out->rule = NULL;
    out->reason[0] = '\0';
    out->scopes_len = 0;
    if (access == NULL)
        return;
    if (access->policy == NULL || server_index >= access->policy->servers_len)
        return hide(out, NULL, access->policy == NULL ? "out of memory: denied" : "no such server");
    mg_policy_memo_entry_t *entry = memo_get(access, kind, server_index, name, name_len);
    if (entry == NULL)
        return hide(out, NULL, "out of memory: denied");
    char detail[320];
    if (!entry->visible) {
        char item[160];
        describe_item(access->policy, kind, server_index, name, name_len, item, sizeof(item));
        if (entry->decider != NULL)
            snprintf(detail, sizeof(detail), "%s is denied by %s", item, entry->decider->label);
        else if (access->roles_text[0] == '\0')
            snprintf(detail, sizeof(detail), "the caller has no role, and nothing is allowed by default (%s)", item);
        else
            snprintf(detail, sizeof(detail), "no rule of the caller's roles (%s) allows %s", access->roles_text, item);
        if (kind == MG_POLICY_RESOURCE && mg_policy_uri_suspicious(name, name_len)) {
            size_t used = strlen(detail);
            snprintf(detail + used, sizeof(detail) - used, " (resource URI has a dot segment or an encoded separator)");
        }
        return hide(out, entry->decider, detail);
    }
    if (kind == MG_POLICY_RESOURCE_TEMPLATE)
        return;
    mg_policy_args_t args = {.arguments = arguments, .match_data = &access->match_data};
    size_t denied_by = mg_policy_first_applying(entry->denies, entry->denies_len, true, &args);
    if (denied_by < entry->denies_len) {
        mg_policy_rule_conditions(entry->denies[denied_by], &args, detail, sizeof(detail));
        out->verdict = MG_POLICY_DENY;
        out->rule = entry->denies[denied_by]->label;
        snprintf(out->reason, sizeof(out->reason), "denied by a condition: %.290s", detail);
        return;
    }
    const mg_policy_rule_t *allowed_by = entry->decider;
    if (allowed_by == NULL) {
        size_t found = mg_policy_first_applying(entry->allows, entry->allows_len, false, &args);
        allowed_by = found < entry->allows_len ? entry->allows[found] : NULL;
    }
    if (allowed_by == NULL) {
        mg_policy_rule_conditions(entry->allows[0], &args, detail, sizeof(detail));
        out->verdict = MG_POLICY_DENY;
        out->rule = entry->allows[0]->label;
        snprintf(out->reason, sizeof(out->reason), "%s", detail);
        return;
    }
    out->rule = allowed_by->label;
    if (entry->scopes_len != 0)
        check_scopes(access->policy, kind, entry, principal, out);
}

bool mg_policy_visible(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server_index, const char *name,
                       size_t name_len)
{
    if (access == NULL)
        return true;
    if (access->policy == NULL || server_index >= access->policy->servers_len)
        return false;
    mg_policy_memo_entry_t *entry = memo_get(access, kind, server_index, name, name_len);
    return entry != NULL && entry->visible;
}
