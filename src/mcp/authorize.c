/* authorize.c - see authorize.h. */
#include "mcp/authorize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/principal.h"
#include "core/bytes.h"
#include "mcp/jsonrpc.h"
#include "mcp/naming.h"
#include "obs/log.h"
#include "obs/trace.h"

static void log_decision(const mg_exchange_t *exchange, const char *event, mg_policy_kind_t kind, size_t server_index,
                         const char *local, const mg_policy_decision_t *decision)
{
    if (!mg_log_enabled(MG_LOG_INFO))
        return;
    json_t *fields =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s}", "principal", exchange->principal->name, "roles",
                  mg_policy_access_roles(exchange->access), "server", exchange->config->servers[server_index].name,
                  "kind", mg_policy_kind_name(kind), "item", local, "method", exchange->message.method, "rule",
                  decision->rule, "reason", decision->reason);
    mg_log_fields(MG_LOG_INFO, event, fields, "%s %s/%s: %s", event, exchange->config->servers[server_index].name,
                  local, decision->reason);
}

/* The scopes a step-up must ask for: those every request needs, and those this item needs. */
static char *needed_scopes(const mg_exchange_t *exchange, const mg_policy_decision_t *decision)
{
    const mg_config_auth_t *auth = &exchange->config->auth;
    mg_bytes_t out = {0};
    for (size_t i = 0; i < auth->scopes_required_len; i++) {
        if (out.len > 0)
            mg_bytes_append(&out, " ", 1);
        mg_bytes_append(&out, auth->scopes_required[i], strlen(auth->scopes_required[i]));
    }
    for (size_t i = 0; i < decision->scopes_len; i++) {
        bool listed = false;
        for (size_t j = 0; j < auth->scopes_required_len && !listed; j++)
            listed = strcmp(auth->scopes_required[j], decision->scopes[i]) == 0;
        if (listed)
            continue;
        if (out.len > 0)
            mg_bytes_append(&out, " ", 1);
        mg_bytes_append(&out, decision->scopes[i], strlen(decision->scopes[i]));
    }
    mg_bytes_append(&out, "", 1);
    size_t len;
    return mg_bytes_take(&out, &len);
}

static mg_authorize_t authorize_item(mg_exchange_t *exchange, mg_policy_kind_t kind, size_t server_index,
                                     const char *local, const json_t *arguments)
{
    mg_outcome_item(exchange,
                    kind == MG_POLICY_TOOL     ? MG_AUDIT_ITEM_TOOL
                    : kind == MG_POLICY_PROMPT ? MG_AUDIT_ITEM_PROMPT
                                               : MG_AUDIT_ITEM_RESOURCE,
                    server_index, local);
    if (exchange->access == NULL)
        return MG_AUTHORIZE_GO;
    mg_policy_decision_t decision;
    mg_policy_decide(exchange->access, kind, server_index, local, strlen(local), arguments, exchange->principal,
                     &decision);
    switch (decision.verdict) {
    case MG_POLICY_ALLOW:
        exchange->outcome.rule = decision.rule; /* the policy's own text: it lives as long as the access */
        return MG_AUTHORIZE_GO;
    case MG_POLICY_HIDDEN:
        log_decision(exchange, "policy.hidden", kind, server_index, local, &decision);
        mg_outcome_decide(exchange, MG_AUDIT_HIDDEN, decision.rule, decision.reason);
        return MG_AUTHORIZE_HIDDEN;
    case MG_POLICY_NEED_SCOPE: {
        log_decision(exchange, "policy.insufficient_scope", kind, server_index, local, &decision);
        mg_outcome_decide(exchange, MG_AUDIT_DENY, decision.rule, decision.reason);
        char *scopes = needed_scopes(exchange, &decision);
        char description[256];
        snprintf(description, sizeof(description), "this %s needs the scope%s %s", mg_policy_kind_name(kind),
                 decision.scopes_len == 1 ? "" : "s", scopes != NULL ? scopes : "");
        mg_exchange_finish_insufficient_scope(exchange, scopes, description);
        free(scopes);
        return MG_AUTHORIZE_ANSWERED;
    }
    case MG_POLICY_DENY:
    default:
        break;
    }
    log_decision(exchange, "policy.denied", kind, server_index, local, &decision);
    /* the policy's reason quotes the argument that failed a condition: the trail keeps no argument values */
    mg_outcome_decide(exchange, MG_AUDIT_DENY, decision.rule, "the arguments do not meet the rule's conditions");
    char message[400];
    snprintf(message, sizeof(message), "Forbidden by policy: %s", decision.reason);
    mg_exchange_finish_error(exchange, MG_RPC_UNAUTHORIZED, message, NULL);
    return MG_AUTHORIZE_ANSWERED;
}

mg_authorize_t mg_authorize_item(mg_exchange_t *exchange, mg_policy_kind_t kind, size_t server_index, const char *local,
                                 const json_t *arguments)
{
    uint64_t began = mg_trace_stage_start(exchange->trace);
    mg_authorize_t verdict = authorize_item(exchange, kind, server_index, local, arguments);
    mg_trace_stage_end(exchange->trace, MG_TRACE_AUTHORIZE, began,
                       verdict == MG_AUTHORIZE_GO       ? NULL
                       : verdict == MG_AUTHORIZE_HIDDEN ? "hidden"
                                                        : "denied");
    return verdict;
}

static const char *item_key(const char *method, mg_policy_kind_t *kind)
{
    if (strcmp(method, "tools/list") == 0) {
        *kind = MG_POLICY_TOOL;
        return "name";
    }
    if (strcmp(method, "prompts/list") == 0) {
        *kind = MG_POLICY_PROMPT;
        return "name";
    }
    if (strcmp(method, "resources/templates/list") == 0) {
        *kind = MG_POLICY_RESOURCE_TEMPLATE;
        return "uriTemplate";
    }
    *kind = MG_POLICY_RESOURCE;
    return "uri";
}

void mg_authorize_filter_list(mg_exchange_t *exchange, const char *method, size_t server_index, json_t *items)
{
    if (exchange->access == NULL || !json_is_array(items))
        return;
    mg_policy_kind_t kind;
    const char *key = item_key(method, &kind);
    size_t kept = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        json_t *name = json_object_get(item, key);
        /* an item without its name cannot be judged, and a client could not use it anyway */
        if (json_is_string(name) && mg_policy_visible(exchange->access, kind, server_index, json_string_value(name),
                                                      json_string_length(name))) {
            if (kept != i)
                json_array_set(items, kept, item);
            kept++;
        }
    }
    while (json_array_size(items) > kept)
        json_array_remove(items, json_array_size(items) - 1);
}

bool mg_authorize_uses(const mg_exchange_t *exchange, size_t server_index, const char *capability)
{
    if (exchange->access == NULL)
        return true;
    if (strcmp(capability, "tools") == 0)
        return mg_policy_uses_kind(exchange->access, MG_POLICY_TOOL, server_index);
    if (strcmp(capability, "prompts") == 0)
        return mg_policy_uses_kind(exchange->access, MG_POLICY_PROMPT, server_index);
    if (strcmp(capability, "resources") == 0)
        return mg_policy_uses_kind(exchange->access, MG_POLICY_RESOURCE, server_index);
    if (strcmp(capability, "completions") == 0) /* completions are about prompts and resource templates */
        return mg_policy_uses_kind(exchange->access, MG_POLICY_PROMPT, server_index) ||
               mg_policy_uses_kind(exchange->access, MG_POLICY_RESOURCE, server_index);
    return true;
}

bool mg_authorize_forward_unknown(const mg_exchange_t *exchange)
{
    return exchange->access == NULL;
}

json_t *mg_authorize_subscription_filter(mg_policy_access_t *access, const mg_config_t *config, long scope,
                                         const mg_principal_t *principal, json_t *filter)
{
    json_t *uris = json_object_get(filter, "resourceSubscriptions");
    if (access == NULL || !json_is_array(uris))
        return json_incref(filter);
    json_t *readable = json_array();
    json_t *item;
    size_t index;
    json_array_foreach(uris, index, item)
    {
        const char *uri = json_string_value(item);
        size_t server_index = scope >= 0 ? (size_t)scope : 0;
        const char *local = uri;
        if (uri == NULL || (scope < 0 && mg_naming_split_uri(config, uri, &server_index, &local) != 0))
            continue;
        mg_policy_decision_t decision;
        mg_policy_decide(access, MG_POLICY_RESOURCE, server_index, local, strlen(local), NULL, principal, &decision);
        if (decision.verdict == MG_POLICY_ALLOW)
            json_array_append(readable, item);
    }
    json_t *out = json_copy(filter); /* shallow: only the URI list changes */
    json_object_set_new(out, "resourceSubscriptions", readable);
    return out;
}
