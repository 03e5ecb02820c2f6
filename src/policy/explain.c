/*
 * explain.c - `mcpgate policy explain`: one decision, and everything that went into it.
 *
 * The verdict comes from mg_policy_decide itself, through a fresh cache, so that the explanation can
 * never disagree with what the gateway does. Around it, this file walks the same compiled lists again,
 * without the memo, to say which roles the caller has and what granted each, and what every rule of
 * those roles whose patterns match the item concluded. Speed does not matter here; clarity does.
 */
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

typedef struct st_grants_t {
    const mg_policy_t *policy;
    json_t *roles;
    json_t *ignored;
} grants_t;

static void on_granted(void *ctx, size_t role, const mg_config_binding_t *binding)
{
    grants_t *grants = ctx;
    char by[600];
    if (binding != NULL)
        snprintf(by, sizeof(by), "%s (%s)", binding->path, binding->location);
    else
        snprintf(by, sizeof(by), "the credential's own roles");
    json_array_append_new(grants->roles,
                          json_pack("{s:s, s:s}", "role", grants->policy->roles[role].config->name, "granted_by", by));
}

static void on_ignored(void *ctx, const char *role)
{
    grants_t *grants = ctx;
    json_array_append_new(grants->ignored, json_string(role));
}

static json_t *describe_principal(const mg_principal_t *principal)
{
    json_t *out = json_pack("{s:s, s:s, s:s}", "method", mg_principal_method_name(principal->method), "name",
                            principal->name, "subject", principal->subject);
    if (out != NULL && principal->issuer != NULL)
        json_object_set_new(out, "issuer", json_string(principal->issuer));
    if (out != NULL && json_array_size(principal->groups) != 0)
        json_object_set(out, "groups", principal->groups);
    if (out != NULL && json_array_size(principal->scopes) != 0)
        json_object_set(out, "scopes", principal->scopes);
    return out;
}

static const char *outcome(const mg_policy_rule_t *rule, const json_t *arguments, char *detail, size_t size)
{
    if (rule->conditions_len == 0)
        return rule->deny ? "denies unconditionally: the item is hidden" : "allows (no conditions)";
    mg_policy_args_t args = {.arguments = arguments};
    mg_policy_truth_t truth = mg_policy_rule_conditions(rule, &args, detail, size);
    if (rule->deny)
        return truth == MG_POLICY_FAILS ? "does not deny" : "denies";
    return truth == MG_POLICY_HOLDS ? "allows" : "does not allow";
}

/* Every rule of the caller's roles with a pattern that matches the item (deny rules first). */
static json_t *matching_rules(const mg_policy_access_t *access, mg_policy_kind_t kind, size_t server, const char *name,
                              size_t len, const json_t *arguments)
{
    const mg_policy_t *policy = access->policy;
    json_t *rules = json_array();
    size_t list = mg_policy_list_of(kind);
    bool suspicious = kind == MG_POLICY_RESOURCE && mg_policy_uri_suspicious(name, len);
    for (int deny = 1; deny >= 0 && rules != NULL; deny--) {
        const mg_policy_list_t *entries = &access->lists[mg_policy_list_index(policy, list, server, deny)];
        const mg_policy_rule_t *last = NULL;
        for (size_t i = 0; i < entries->len; i++) {
            const mg_policy_entry_t *entry = &entries->entries[i];
            if (entry->rule == last || !mg_policy_entry_matches(entry, name, len, suspicious, deny))
                continue;
            last = entry->rule;
            char detail[320] = "";
            const char *verdict =
                outcome(entry->rule, kind == MG_POLICY_TOOL ? arguments : NULL, detail, sizeof(detail));
            json_t *item = json_pack("{s:s, s:s, s:s, s:s}", "rule", entry->rule->label, "effect",
                                     deny ? "deny" : "allow", "pattern", entry->pattern->text, "outcome", verdict);
            if (item != NULL && detail[0] != '\0')
                json_object_set_new(item, "why", json_string(detail));
            if (item != NULL && suspicious && !entry->any)
                json_object_set_new(item, "note",
                                    json_string("resource URI has a dot segment or an encoded separator: the rule "
                                                "fails closed"));
            json_array_append_new(rules, item);
        }
    }
    return rules;
}

json_t *mg_policy_explain(mg_policy_t *policy, const mg_principal_t *principal, mg_policy_kind_t kind,
                          size_t server_index, const char *name, size_t name_len, const json_t *arguments,
                          mg_policy_decision_t *decision)
{
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_policy_access_t *access = policy != NULL ? mg_policy_access_for(cache, policy, principal) : NULL;
    mg_policy_decide(access, kind, server_index, name, name_len, arguments, principal, decision);
    json_t *out = json_object();
    grants_t grants = {.policy = policy, .roles = json_array(), .ignored = json_array()};
    if (out == NULL || grants.roles == NULL || grants.ignored == NULL)
        goto fail;
    json_object_set_new(out, "principal", describe_principal(principal));
    if (policy != NULL) {
        uint64_t bits[(policy->roles_len + 63) / 64 + 1];
        mg_policy_resolve_roles(policy, principal, bits, on_granted, on_ignored, &grants);
    }
    json_object_set(out, "roles", grants.roles);
    json_object_set(out, "ignored_roles", grants.ignored);
    json_t *item = json_pack("{s:s}", "kind", mg_policy_kind_name(kind));
    if (item != NULL && policy != NULL && server_index < policy->servers_len)
        json_object_set_new(item, "server", json_string(policy->config->servers[server_index].name));
    if (item != NULL) {
        json_t *text = json_stringn(name, name_len);
        json_object_set_new(item, "name", text != NULL ? text : json_string("(not valid UTF-8)"));
    }
    json_object_set_new(out, "item", item);
    json_object_set_new(out, "decision", json_string(mg_policy_verdict_name(decision->verdict)));
    json_object_set_new(out, "rule", decision->rule != NULL ? json_string(decision->rule) : json_null());
    json_object_set_new(out, "reason", json_string(decision->reason));
    if (policy == NULL)
        json_object_set_new(out, "policy",
                            json_string("none: authentication is off and no roles are configured, so "
                                        "everything is allowed"));
    json_t *scopes = json_array();
    for (size_t i = 0; scopes != NULL && i < decision->scopes_len; i++)
        json_array_append_new(scopes, json_string(decision->scopes[i]));
    json_object_set_new(out, "scopes", scopes);
    if (access != NULL && access->policy != NULL && server_index < policy->servers_len)
        json_object_set_new(out, "rules", matching_rules(access, kind, server_index, name, name_len, arguments));
    json_decref(grants.roles);
    json_decref(grants.ignored);
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    return out;
fail:
    json_decref(out);
    json_decref(grants.roles);
    json_decref(grants.ignored);
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    return NULL;
}
