/*
 * modern.h - the MCP 2026-07-28 ("modern") era's per-request metadata and result shape.
 *
 * A modern request is self-contained: params._meta carries the protocol version, the
 * client's capabilities (both required) and optionally its identity and log level.
 * Results carry resultType; cacheable results carry ttlMs and cacheScope. This module
 * reads and checks the request side and completes the result side; it knows nothing
 * of HTTP (the front maps its error codes to statuses with mg_modern_http_status).
 */
#ifndef MG_MCP_MODERN_H
#define MG_MCP_MODERN_H

#include <jansson.h>
#include <stdbool.h>

#include "core/json_write.h"
#include "mcp/jsonrpc.h"

#define MG_META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define MG_META_CLIENT_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define MG_META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define MG_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
#define MG_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define MG_META_SUBSCRIPTION_ID "io.modelcontextprotocol/subscriptionId"
#define MG_META_PREFIX "io.modelcontextprotocol/"

enum {
    MG_RPC_HEADER_MISMATCH = -32020,
    MG_RPC_MISSING_CLIENT_CAPABILITY = -32021,
    MG_RPC_UNSUPPORTED_VERSION = -32022,
};

/* Borrowed from the request's params._meta, or from the message when the decoder read _meta without
 * building it (mg_rpc_decode_client); valid while the message lives. */
typedef struct st_mg_modern_meta_t {
    json_t *object;               /* params._meta itself; NULL when the decoder read it (message->meta) */
    const char *protocol_version; /* once checked, MG_VERSION_MODERN itself (a static string) */
    size_t protocol_version_len;
    json_t *client_capabilities; /* object */
    json_t *client_info;         /* object or NULL */
    const char *log_level;       /* NULL when absent */
} mg_modern_meta_t;

typedef struct st_mg_modern_error_t {
    int code; /* MG_RPC_INVALID_PARAMS or MG_RPC_UNSUPPORTED_VERSION */
    char message[256];
    json_t *data; /* owned, may be NULL (release with json_decref) */
} mg_modern_error_t;

/* Does the message say it is modern (a request whose params._meta names a protocol version)? */
bool mg_modern_declared(const mg_rpc_message_t *message);

/* Reads and checks the request's _meta. 0, or -1 with *err filled (the data, if any, is the caller's);
 * even then meta->protocol_version is the body's version when _meta is an object holding it as a string
 * (else NULL), for checks that come first. */
int mg_modern_read_meta(const mg_rpc_message_t *message, mg_modern_meta_t *meta, mg_modern_error_t *err);

/* A logging level's rank (RFC 5424 order, "debug" 0 ... "emergency" 7), or -1 when `level` is not one. */
int mg_modern_log_level_rank(const char *level);

/* May `msg`, sent during a request whose _meta asked for log level `requested` (NULL: none), go to a
 * modern client? Everything but notifications/message may; a log message only at or above the level
 * asked for, and none without one (logging.mdx: no logLevel, no notifications/message). */
bool mg_modern_log_wanted(const char *requested, const json_t *msg);

/* Does the client declare the capability ("elicitation", "sampling", "roots")? */
bool mg_modern_client_can(const mg_modern_meta_t *meta, const char *capability);

/* Is the method's result cacheable (tools/list, resources/read, server/discover...), with ttlMs and cacheScope? */
bool mg_modern_is_cacheable(const char *method);

/* Completes a result for a modern client in place: resultType "complete" when absent, and for
 * cacheable methods ttlMs (when absent) and cacheScope (the stricter of the server's and `scope`). */
void mg_modern_complete_result(json_t *result, const char *method, long long ttl_ms, const char *scope);

/* The same completion (ttlMs 0) as edits of the result's text (json_write.h), leaving `result` as it
 * is: fills `edits` (room for MG_MODERN_COMPLETION_EDITS) and returns how many there are (at least one
 * for an object: resultType, maybe a keep_existing edit that changes nothing). Their
 * values are the module's own constants, valid for the life of the process. */
#define MG_MODERN_COMPLETION_EDITS 3
size_t mg_modern_completion_edits(const json_t *result, const char *method, const char *scope, mg_json_edit_t *edits);

/* params without the modern-only members a legacy server would not understand: io.modelcontextprotocol/...
 * _meta keys (a _meta left empty goes), requestState and inputResponses. A new reference: to params itself
 * when nothing differs (so a caller that changes the result copies it first), else to a shallow copy in
 * params' order. NULL in, NULL out. `meta` is NULL when _meta is in params; else the request's _meta,
 * which the front end took out of params (mg_modern_meta_t.object), when `meta_position` members
 * preceded it: what the server gets of it goes back in its place. */
json_t *mg_modern_legacy_params(const json_t *params, const json_t *meta, size_t meta_position);

/* The HTTP status a modern answer with this JSON-RPC error code goes out with. */
int mg_modern_http_status(int code);

#endif
