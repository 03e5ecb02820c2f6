/* modern.c - see modern.h. */
#include "mcp/modern.h"

#include <stdio.h>
#include <string.h>

#include "mcp/versions.h"

static json_t *meta_of(const mg_rpc_message_t *message)
{
    return json_object_get(message->params, "_meta");
}

bool mg_modern_declared(const mg_rpc_message_t *message)
{
    return message->kind == MG_RPC_REQUEST && json_object_get(meta_of(message), MG_META_PROTOCOL_VERSION) != NULL;
}

static int fail(mg_modern_error_t *err, int code, const char *message)
{
    err->code = code;
    snprintf(err->message, sizeof(err->message), "%s", message);
    err->data = NULL;
    return -1;
}

int mg_modern_log_level_rank(const char *level)
{
    static const char *const levels[] = {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};
    for (int i = 0; level != NULL && i < (int)(sizeof(levels) / sizeof(levels[0])); i++) {
        if (strcmp(levels[i], level) == 0)
            return i;
    }
    return -1;
}

static bool is_log_level(const char *level)
{
    return mg_modern_log_level_rank(level) >= 0;
}

bool mg_modern_log_wanted(const char *requested, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method == NULL || strcmp(method, "notifications/message") != 0)
        return true;
    int floor = mg_modern_log_level_rank(requested);
    return floor >= 0 &&
           mg_modern_log_level_rank(json_string_value(json_object_get(json_object_get(msg, "params"), "level"))) >=
               floor;
}

int mg_modern_read_meta(const mg_rpc_message_t *message, mg_modern_meta_t *meta, mg_modern_error_t *err)
{
    memset(meta, 0, sizeof(*meta));
    json_t *m = meta_of(message);
    if (!json_is_object(m))
        return fail(err, MG_RPC_INVALID_PARAMS, "params._meta is required and must be an object");
    json_t *version = json_object_get(m, MG_META_PROTOCOL_VERSION);
    if (!json_is_string(version))
        return fail(err, MG_RPC_INVALID_PARAMS, "params._meta[\"" MG_META_PROTOCOL_VERSION "\"] must be a string");
    meta->protocol_version = json_string_value(version);
    if (!mg_versions_is_modern(meta->protocol_version, json_string_length(version))) {
        char text[160];
        snprintf(text, sizeof(text), "Unsupported protocol version: %.60s", meta->protocol_version);
        fail(err, MG_RPC_UNSUPPORTED_VERSION, text);
        err->data = json_pack("{s:o,s:O}", "supported", mg_versions_supported(), "requested", version);
        return -1;
    }
    meta->client_capabilities = json_object_get(m, MG_META_CLIENT_CAPABILITIES);
    if (!json_is_object(meta->client_capabilities))
        return fail(err, MG_RPC_INVALID_PARAMS,
                    "params._meta[\"" MG_META_CLIENT_CAPABILITIES "\"] is required and must be an object");
    meta->client_info = json_object_get(m, MG_META_CLIENT_INFO);
    if (meta->client_info != NULL && !json_is_object(meta->client_info))
        return fail(err, MG_RPC_INVALID_PARAMS, "params._meta[\"" MG_META_CLIENT_INFO "\"] must be an object");
    json_t *level = json_object_get(m, MG_META_LOG_LEVEL);
    if (level != NULL) {
        if (!json_is_string(level) || !is_log_level(json_string_value(level)))
            return fail(err, MG_RPC_INVALID_PARAMS, "params._meta[\"" MG_META_LOG_LEVEL "\"] is not a logging level");
        meta->log_level = json_string_value(level);
    }
    return 0;
}

bool mg_modern_client_can(const mg_modern_meta_t *meta, const char *capability)
{
    return json_is_object(json_object_get(meta->client_capabilities, capability));
}

bool mg_modern_is_cacheable(const char *method)
{
    static const char *const methods[] = {"tools/list",     "prompts/list",         "resources/list",
                                          "resources/read", "resources/templates/list", "server/discover"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(methods[i], method) == 0)
            return true;
    }
    return false;
}

void mg_modern_complete_result(json_t *result, const char *method, long long ttl_ms, const char *scope)
{
    if (!json_is_object(result))
        return;
    if (json_object_get(result, "resultType") == NULL)
        json_object_set_new_nocheck(result, "resultType", json_stringn_nocheck("complete", 8));
    if (!mg_modern_is_cacheable(method) ||
        strcmp(json_string_value(json_object_get(result, "resultType")), "complete") != 0)
        return;
    json_t *ttl = json_object_get(result, "ttlMs");
    if (!json_is_integer(ttl) || json_integer_value(ttl) < 0)
        json_object_set_new(result, "ttlMs", json_integer(ttl_ms));
    /* the stricter scope wins: a server that calls its answer private keeps it private */
    const char *said = json_string_value(json_object_get(result, "cacheScope"));
    bool public_ = strcmp(scope, "public") == 0 && (said == NULL || strcmp(said, "public") == 0);
    json_object_set_new(result, "cacheScope", json_string(public_ ? "public" : "private"));
}

/* Does a _meta object carry anything besides io.modelcontextprotocol/... keys? */
static bool has_foreign_meta(json_t *meta)
{
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value)
    {
        if (strncmp(key, MG_META_PREFIX, strlen(MG_META_PREFIX)) != 0)
            return true;
    }
    return false;
}

json_t *mg_modern_legacy_params(const json_t *params)
{
    if (!json_is_object(params))
        return params != NULL ? json_copy((json_t *)params) : NULL;
    /* built member by member in the original order (a copy and deletions cost twice the hashing):
     * shallow, since only _meta and the MRTR members change */
    json_t *out = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)params, key, value)
    {
        if (strcmp(key, "requestState") == 0 || strcmp(key, "inputResponses") == 0)
            continue;
        if (strcmp(key, "_meta") == 0 && json_is_object(value)) {
            if (!has_foreign_meta(value))
                continue;
            json_t *kept = json_object();
            const char *meta_key;
            json_t *meta_value;
            json_object_foreach(value, meta_key, meta_value)
            {
                if (strncmp(meta_key, MG_META_PREFIX, strlen(MG_META_PREFIX)) != 0)
                    json_object_set_nocheck(kept, meta_key, meta_value);
            }
            json_object_set_new_nocheck(out, key, kept);
            continue;
        }
        json_object_set_nocheck(out, key, value);
    }
    return out;
}

int mg_modern_http_status(int code)
{
    switch (code) {
    case MG_RPC_METHOD_NOT_FOUND:
        return 404;
    case MG_RPC_HEADER_MISMATCH:
    case MG_RPC_MISSING_CLIENT_CAPABILITY:
    case MG_RPC_UNSUPPORTED_VERSION:
    case MG_RPC_PARSE_ERROR:
    case MG_RPC_INVALID_REQUEST:
        return 400;
    default:
        return 200;
    }
}
