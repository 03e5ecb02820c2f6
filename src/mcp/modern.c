/* modern.c - see modern.h. */
#include "mcp/modern.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/versions.h"

/* params._meta, found by a walk over params: a request's params have a handful of members, and a walk
 * costs less than hashing the key for a lookup. */
static json_t *meta_of(const mg_rpc_message_t *message)
{
    json_t *params = message->params;
    for (void *iter = json_object_iter(params); iter != NULL; iter = json_object_iter_next(params, iter)) {
        if (json_object_iter_key_len(iter) == 5 && memcmp(json_object_iter_key(iter), "_meta", 5) == 0)
            return json_object_iter_value(iter);
    }
    return NULL;
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
    static const char *const levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
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
    return floor >= 0 && mg_modern_log_level_rank(
                             json_string_value(json_object_get(json_object_get(msg, "params"), "level"))) >= floor;
}

/* The members of _meta the gateway reads, found in one walk over it (one hash each would cost more). */
typedef struct st_meta_members_t {
    json_t *version, *capabilities, *info, *level;
} meta_members_t;

#define IS_KEY(key, len, name) ((len) == sizeof(name) - 1 && memcmp((key), (name), sizeof(name) - 1) == 0)

static void read_members(json_t *m, meta_members_t *members)
{
    memset(members, 0, sizeof(*members));
    for (void *iter = json_object_iter(m); iter != NULL; iter = json_object_iter_next(m, iter)) {
        const char *key = json_object_iter_key(iter);
        size_t len = json_object_iter_key_len(iter);
        json_t **slot = IS_KEY(key, len, MG_META_PROTOCOL_VERSION)      ? &members->version
                        : IS_KEY(key, len, MG_META_CLIENT_CAPABILITIES) ? &members->capabilities
                        : IS_KEY(key, len, MG_META_CLIENT_INFO)         ? &members->info
                        : IS_KEY(key, len, MG_META_LOG_LEVEL)           ? &members->level
                                                                        : NULL;
        if (slot != NULL)
            *slot = json_object_iter_value(iter);
    }
}

bool mg_modern_declared(const mg_rpc_message_t *message)
{
    if (message->kind != MG_RPC_REQUEST)
        return false;
    if (message->meta != NULL)
        return true; /* only a _meta with a protocol version is read so */
    json_t *m = meta_of(message);
    if (!json_is_object(m))
        return false;
    meta_members_t members;
    read_members(m, &members);
    return members.version != NULL;
}

/* The members the decoder read without building _meta (jsonrpc.h), as if read_members had found them. */
static void recorded_members(const mg_rpc_meta_t *recorded, meta_members_t *members)
{
    members->version = NULL; /* a string, which recorded->protocol_version holds */
    members->capabilities = recorded->client_capabilities;
    members->info = recorded->client_info;
    members->level = recorded->log_level;
}

int mg_modern_read_meta(const mg_rpc_message_t *message, mg_modern_meta_t *meta, mg_modern_error_t *err)
{
    memset(meta, 0, sizeof(*meta));
    meta_members_t members;
    if (message->meta != NULL) {
        recorded_members(message->meta, &members);
        meta->protocol_version = message->meta->protocol_version;
        meta->protocol_version_len = message->meta->protocol_version_len;
    } else {
        json_t *m = meta_of(message);
        if (!json_is_object(m))
            return fail(err, MG_RPC_INVALID_PARAMS, "params._meta is required and must be an object");
        meta->object = m;
        read_members(m, &members);
        if (!json_is_string(members.version))
            return fail(err, MG_RPC_INVALID_PARAMS, "params._meta[\"" MG_META_PROTOCOL_VERSION "\"] must be a string");
        meta->protocol_version = json_string_value(members.version);
        meta->protocol_version_len = json_string_length(members.version);
    }
    if (!mg_versions_is_modern(meta->protocol_version, meta->protocol_version_len)) {
        char text[160];
        snprintf(text, sizeof(text), "Unsupported protocol version: %.60s", meta->protocol_version);
        fail(err, MG_RPC_UNSUPPORTED_VERSION, text);
        err->data = json_pack("{s:o,s:o}", "supported", mg_versions_supported(), "requested",
                              json_stringn_nocheck(meta->protocol_version, meta->protocol_version_len));
        return -1;
    }
    meta->protocol_version = MG_VERSION_MODERN; /* outlives the message's copy it was read from */
    meta->client_capabilities = members.capabilities;
    if (!json_is_object(meta->client_capabilities))
        return fail(err, MG_RPC_INVALID_PARAMS,
                    "params._meta[\"" MG_META_CLIENT_CAPABILITIES "\"] is required and must be an object");
    meta->client_info = members.info;
    if (meta->client_info != NULL && !json_is_object(meta->client_info))
        return fail(err, MG_RPC_INVALID_PARAMS, "params._meta[\"" MG_META_CLIENT_INFO "\"] must be an object");
    json_t *level = members.level;
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
    switch (method[0]) { /* one comparison for the methods asked most, none of which is cacheable */
    case 't':
        return strcmp(method, "tools/list") == 0;
    case 'p':
        return strcmp(method, "prompts/list") == 0;
    case 'r':
        return strcmp(method, "resources/list") == 0 || strcmp(method, "resources/read") == 0 ||
               strcmp(method, "resources/templates/list") == 0;
    case 's':
        return strcmp(method, "server/discover") == 0;
    default:
        return false;
    }
}

void mg_modern_complete_result(json_t *result, const char *method, long long ttl_ms, const char *scope)
{
    if (!json_is_object(result))
        return;
    if (json_object_get(result, "resultType") == NULL)
        json_object_set_new_nocheck(result, "resultType", json_stringn_nocheck("complete", 8));
    const char *result_type = json_string_value(json_object_get(result, "resultType"));
    if (!mg_modern_is_cacheable(method) || result_type == NULL || strcmp(result_type, "complete") != 0)
        return;
    json_t *ttl = json_object_get(result, "ttlMs");
    if (!json_is_integer(ttl) || json_integer_value(ttl) < 0)
        json_object_set_new(result, "ttlMs", json_integer(ttl_ms));
    /* the stricter scope wins: a server that calls its answer private keeps it private */
    const char *said = json_string_value(json_object_get(result, "cacheScope"));
    bool public_ = strcmp(scope, "public") == 0 && (said == NULL || strcmp(said, "public") == 0);
    json_object_set_new(result, "cacheScope", json_string(public_ ? "public" : "private"));
}

/* What the writer makes of resultType: complete_text (test_modern holds the two to each other). */
#define COMPLETE_MEMBER "\"resultType\":\"complete\""

/* The values completion writes: made once, shared read-only by every thread, never freed. */
static json_t *complete_text, *zero_ttl, *public_scope, *private_scope;
static pthread_once_t constants_once = PTHREAD_ONCE_INIT;

static void make_constants(void)
{
    complete_text = json_string("complete");
    zero_ttl = json_integer(0);
    public_scope = json_string("public");
    private_scope = json_string("private");
    if (complete_text == NULL || zero_ttl == NULL || public_scope == NULL || private_scope == NULL)
        abort(); /* at the first modern answer: no memory at all */
}

size_t mg_modern_completion_edits(const json_t *result, const char *method, const char *scope, mg_json_edit_t *edits)
{
    if (!json_is_object(result))
        return 0;
    pthread_once(&constants_once, make_constants);
    if (!mg_modern_is_cacheable(method)) {
        /* resultType alone, when the result has none: the writer learns that as it walks the members,
         * which costs less than looking the key up first */
        edits[0] = (mg_json_edit_t){"resultType", complete_text, NULL, 0, true, COMPLETE_MEMBER};
        return 1;
    }
    size_t n = 0;
    json_t *result_type = json_object_get(result, "resultType");
    if (result_type == NULL) {
        edits[n++] = (mg_json_edit_t){"resultType", complete_text, NULL, 0, false, COMPLETE_MEMBER};
        result_type = complete_text;
    }
    if (!json_is_string(result_type) || strcmp(json_string_value(result_type), "complete") != 0)
        return n;
    json_t *ttl = json_object_get(result, "ttlMs");
    if (!json_is_integer(ttl) || json_integer_value(ttl) < 0)
        edits[n++] = (mg_json_edit_t){"ttlMs", zero_ttl, NULL, 0, false, NULL};
    /* the stricter scope wins: a server that calls its answer private keeps it private */
    const char *said = json_string_value(json_object_get(result, "cacheScope"));
    bool public_ = strcmp(scope, "public") == 0 && (said == NULL || strcmp(said, "public") == 0);
    edits[n++] = (mg_json_edit_t){"cacheScope", public_ ? public_scope : private_scope, NULL, 0, false, NULL};
    return n;
}

/* Does a _meta object carry anything besides io.modelcontextprotocol/... keys? */
static bool is_foreign_meta_key(const char *key, size_t len)
{
    return len < sizeof(MG_META_PREFIX) - 1 || memcmp(key, MG_META_PREFIX, sizeof(MG_META_PREFIX) - 1) != 0;
}

static bool has_foreign_meta(const json_t *meta)
{
    for (void *iter = json_object_iter((json_t *)meta); iter != NULL;
         iter = json_object_iter_next((json_t *)meta, iter)) {
        if (is_foreign_meta_key(json_object_iter_key(iter), json_object_iter_key_len(iter)))
            return true;
    }
    return false;
}

/* The _meta a legacy server gets: the keys from outside io.modelcontextprotocol/ (a new object). */
static json_t *foreign_meta(const json_t *meta)
{
    json_t *kept = json_object();
    for (void *iter = json_object_iter((json_t *)meta); iter != NULL;
         iter = json_object_iter_next((json_t *)meta, iter)) {
        const char *key = json_object_iter_key(iter);
        size_t len = json_object_iter_key_len(iter);
        if (is_foreign_meta_key(key, len))
            json_object_setn_nocheck(kept, key, len, json_object_iter_value(iter));
    }
    return kept;
}

/* Does the legacy copy differ from params at all? */
static bool legacy_differs(const json_t *params, const json_t *meta)
{
    if (meta != NULL && has_foreign_meta(meta))
        return true; /* its _meta goes back in */
    for (void *iter = json_object_iter((json_t *)params); iter != NULL;
         iter = json_object_iter_next((json_t *)params, iter)) {
        const char *key = json_object_iter_key(iter);
        size_t len = json_object_iter_key_len(iter);
        if (IS_KEY(key, len, "requestState") || IS_KEY(key, len, "inputResponses") ||
            (meta == NULL && IS_KEY(key, len, "_meta") && json_is_object(json_object_iter_value(iter))))
            return true;
    }
    return false;
}

json_t *mg_modern_legacy_params(const json_t *params, const json_t *meta, size_t meta_position)
{
    if (!json_is_object(params))
        return params != NULL ? json_copy((json_t *)params) : NULL;
    if (!legacy_differs(params, meta))
        return json_incref((json_t *)params);
    /* built member by member in the original order (a copy and deletions cost twice the hashing):
     * shallow, since only _meta and the MRTR members change */
    json_t *out = json_object();
    size_t position = 0;
    for (void *iter = json_object_iter((json_t *)params); iter != NULL;
         iter = json_object_iter_next((json_t *)params, iter), position++) {
        if (meta != NULL && position == meta_position && has_foreign_meta(meta))
            json_object_set_new_nocheck(out, "_meta", foreign_meta(meta));
        const char *key = json_object_iter_key(iter);
        size_t len = json_object_iter_key_len(iter);
        json_t *value = json_object_iter_value(iter);
        if (IS_KEY(key, len, "requestState") || IS_KEY(key, len, "inputResponses"))
            continue;
        if (meta == NULL && IS_KEY(key, len, "_meta") && json_is_object(value)) {
            if (has_foreign_meta(value))
                json_object_setn_new_nocheck(out, key, len, foreign_meta(value));
            continue;
        }
        json_object_setn_nocheck(out, key, len, value);
    }
    if (meta != NULL && position <= meta_position && has_foreign_meta(meta))
        json_object_set_new_nocheck(out, "_meta", foreign_meta(meta)); /* it was the last member */
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
