/* late_sessions.c - see late_sessions.h. */
#include "http/late_sessions.h"

#include <string.h>

#include "mcp/jsonrpc.h"
#include "obs/log.h"

size_t mg_late_sessions_key(const char *sid, const char *server, char key[MG_LATE_SESSIONS_KEY_MAX])
{
    /* built by copies, not printf: it is looked up on every such call */
    size_t sid_len = strlen(sid), server_len = strlen(server);
    if (sid_len + 1 + server_len > MG_LATE_SESSIONS_KEY_MAX)
        return 0;
    memcpy(key, sid, sid_len);
    key[sid_len] = '/';
    memcpy(key + sid_len + 1, server, server_len);
    return sid_len + 1 + server_len;
}

const char *mg_late_sessions_find(mg_worker_t *worker, const mg_session_claims_t *claims, const char *server)
{
    const char *id = json_string_value(json_object_get(claims->upstream_sessions, server));
    if (id == NULL && worker->late_sessions != NULL) {
        /* every call of a modern principal to a legacy HTTP server looks up the same key, so the last one
         * found is remembered: a comparison instead of hashing the key and searching the table */
        size_t sid_len = strlen(claims->sid), server_len = strlen(server);
        const char *memo = worker->late_memo.key; /* "sid/server", compared in place without building it */
        if (worker->late_memo.len == sid_len + 1 + server_len && memcmp(memo, claims->sid, sid_len) == 0 &&
            memo[sid_len] == '/' && memcmp(memo + sid_len + 1, server, server_len) == 0)
            return worker->late_memo.id;
        char key[MG_LATE_SESSIONS_KEY_MAX];
        size_t len = mg_late_sessions_key(claims->sid, server, key);
        id = len != 0 ? json_string_value(json_object_getn(worker->late_sessions, key, len)) : NULL;
        if (id != NULL) {
            memcpy(worker->late_memo.key, key, len);
            worker->late_memo.len = len;
            worker->late_memo.id = id;
        }
    }
    return id;
}

json_t *mg_late_sessions_initialize(const mg_session_claims_t *claims, bool modern)
{
    /* A modern principal's session serves all its requests, whatever each declares: it offers what the
     * gateway can bridge, and the bridge refuses a question the asking request's client cannot answer. */
    json_t *params = json_pack("{s:s,s:O*,s:O*}", "protocolVersion", claims->protocol_version, "capabilities",
                               modern ? NULL : claims->client_capabilities, "clientInfo", claims->client_info);
    if (modern)
        json_object_set_new(params, "capabilities", json_pack("{s:{},s:{}}", "elicitation", "sampling"));
    if (json_object_get(params, "capabilities") == NULL)
        json_object_set_new(params, "capabilities", json_object());
    if (json_object_get(params, "clientInfo") == NULL)
        json_object_set_new(params, "clientInfo", json_pack("{s:s,s:s}", "name", "mcpgate", "version", "0"));
    json_t *id = json_string("mcpgate-late-initialize");
    json_t *initialize = mg_rpc_make_request(id, "initialize", params);
    json_decref(id);
    return initialize;
}

const char *mg_late_sessions_remember(mg_worker_t *worker, const char *sid, const char *server, const char *session_id)
{
    if (worker->late_sessions == NULL || json_object_size(worker->late_sessions) >= MG_LATE_SESSIONS_MAX) {
        worker->late_memo.len = 0; /* the remembered lookup points into the table being dropped */
        json_decref(worker->late_sessions);
        worker->late_sessions = json_object();
    }
    char key[MG_LATE_SESSIONS_KEY_MAX];
    size_t key_len = mg_late_sessions_key(sid, server, key);
    if (key_len == 0)
        return session_id;
    const char *first = json_string_value(json_object_getn(worker->late_sessions, key, key_len));
    if (first != NULL)
        return first; /* two requests opened one at once: all use the first, so they share its state */
    json_object_setn_new(worker->late_sessions, key, key_len, json_string(session_id));
    mg_log(MG_LOG_INFO, "session.upstream_opened_late", "opened a session on %s for session %s", server, sid);
    return session_id;
}
