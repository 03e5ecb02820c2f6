/*
 * upstream.h - what the front end needs from an MCP server behind the gateway.
 *
 * Every worker thread holds one mg_upstream_t per configured server. All calls on
 * an mg_upstream_t happen on its worker's event-loop thread, and all its callbacks
 * fire there too; implementations that keep their real connection on another thread
 * (stdio: one child process, owned by one worker) hop threads internally with
 * mg_worker_post, so callers never see it.
 *
 * Messages crossing this interface are JSON-RPC objects in the upstream's own names
 * (no aggregation prefixes) but with ids owned by the gateway: the implementation
 * assigns upstream ids, maps them back, rewrites progress tokens so that progress
 * notifications come back to the right call, and rewrites the ids of server-to-client
 * requests to "mcpgate:<server>:<method>:<n>" strings (mcp/asked.h) so that the client's
 * response, wherever it lands, finds its way back (mg_upstream_reply).
 *
 * Callers speak legacy-shaped requests whatever the server's era. For a modern server
 * (era MG_UPSTREAM_ERA_MODERN) the transport makes each request self-contained: it sets
 * params._meta's io.modelcontextprotocol/ protocolVersion, clientCapabilities (the
 * session's), clientInfo (mcpgate) and logLevel (the session's, when it has one), keeps
 * the other _meta members, and over HTTP
 * adds the mirrored headers (Mcp-Method, Mcp-Name, Mcp-Param-*) and no session id.
 * Results come back unchanged (resultType, ttlMs, input_required are the caller's).
 */
#ifndef MG_UPSTREAM_UPSTREAM_H
#define MG_UPSTREAM_UPSTREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "mcp/mirror.h"

struct st_mg_worker_t;

/* How long a call may wait once its server has asked the client something (elicitation, sampling,
 * roots): a person may be filling in a form. Replaces the call's own deadline (server timeout_ms)
 * from the question on; the same bound as a parked call's requestState (MG_MRTR_TTL_S). */
#define MG_UPSTREAM_ANSWER_TIMEOUT_MS 600000

/* Who is calling: from the client's sealed session (or a gateway-internal identity). */
typedef struct st_mg_upstream_session_t {
    const char *sid;                   /* client session id (claims.sid); "" for gateway-internal calls */
    const char *protocol_version;      /* version negotiated with the client */
    const json_t *client_capabilities; /* may be NULL */
    const char *upstream_session_id;   /* HTTP upstreams: this client's Mcp-Session-Id at the upstream; may be NULL */
    const json_t *listen_filter;       /* listen() on a modern server: subscriptions/listen's params.notifications */
    const char *log_level;             /* a modern server's io.modelcontextprotocol/logLevel for this request
                                          (the modern client's, or a legacy session's logging/setLevel); NULL: none */
    const char *traceparent;           /* W3C traceparent of the gateway's span for this call (obs/trace.h): HTTP
                                          upstreams send it as a header (params._meta has it already); NULL: none */
    const char *tracestate;            /* with it, when the client sent a valid one; NULL: none */
} mg_upstream_session_t;

typedef struct st_mg_upstream_events_t {
    /* A notification (progress, message) or a server-to-client request (sampling,
     * elicitation, roots, ping) that belongs to this call. `msg` is borrowed. */
    void (*message)(void *ctx, json_t *msg);
    /* The call ended: `response` is the upstream's JSON-RPC response (borrowed, with the
     * gateway's id restored), or NULL on failure with a JSON-RPC error code and message
     * (MG_RPC_UPSTREAM_ERROR, MG_RPC_UPSTREAM_TIMEOUT). Called exactly once unless abandoned. */
    void (*done)(void *ctx, json_t *response, int error_code, const char *error_message);
} mg_upstream_events_t;

typedef struct st_mg_upstream_t mg_upstream_t;

/* Which protocol era the server speaks, as detected by the transport (versioning.mdx, "Backward
 * Compatibility with Initialization-Based Versions"): stdio per child process, HTTP per worker handle. */
typedef enum en_mg_upstream_era_t {
    MG_UPSTREAM_ERA_UNKNOWN = 0, /* not detected yet (or being re-detected) */
    MG_UPSTREAM_ERA_LEGACY,      /* initialize handshake and sessions (2025-11-25 and earlier) */
    MG_UPSTREAM_ERA_MODERN,      /* stateless, per-request _meta (2026-07-28) */
} mg_upstream_era_t;

typedef struct st_mg_upstream_ops_t {
    /* Sends a request. Returns a call handle > 0, or 0 when it failed synchronously (then
     * `done` has NOT been called; the caller answers the error itself). */
    uint64_t (*call)(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *request,
                     const mg_upstream_events_t *events, void *ctx);
    /* The caller lost interest (client gone, or cancelled): no further events; the
     * upstream is told with notifications/cancelled when the call was still running. */
    void (*abandon)(mg_upstream_t *self, uint64_t call);
    /* Client-to-server notification (cancelled, roots/list_changed, ...). */
    void (*notify)(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *notification);
    /* Client's response to a server-to-client request whose id this upstream issued. */
    void (*reply)(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *response);
    /* Opens this client's session at the upstream (HTTP: initialize + initialized, then
     * calls done with the upstream's initialize response and sets *session_id through
     * the response's "_mcpgate_session_id" member; stdio: answers from its one shared
     * session without contacting the child again). A modern HTTP upstream has no sessions:
     * done comes on a later loop turn, without traffic, with initialize_result as the result
     * and no "_mcpgate_session_id". */
    uint64_t (*open_session)(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *initialize_request,
                             const mg_upstream_events_t *events, void *ctx);
    /* Opens the server's stream of unsolicited messages for one client session (HTTP: a
     * GET SSE stream with that session id); events->message gets each message, done
     * when it ends. A modern server gets a subscriptions/listen with session->listen_filter as
     * its params.notifications (0 when there is none); its acknowledgement arrives as a
     * message like the notifications do. A legacy stdio server returns 0: its unsolicited
     * messages go to the hub, as a modern stdio server's list changes do. */
    uint64_t (*listen)(mg_upstream_t *self, const mg_upstream_session_t *session, const mg_upstream_events_t *events,
                       void *ctx);
    /* True when the upstream is currently usable (process running and initialized, or HTTP reachable).
     * Safe to call from any thread: /readyz asks every worker's handle. */
    bool (*ready)(mg_upstream_t *self);
    /* Begins the upstream's I/O (stdio: the owner spawns the child; HTTP: the first health probe).
     * Called once, on the worker's own thread, before its loop runs: creating a handle does no I/O,
     * because an h2o socket belongs to the thread that creates it (see core/worker.h). */
    void (*start)(mg_upstream_t *self);
    void (*destroy)(mg_upstream_t *self);
} mg_upstream_ops_t;

struct st_mg_upstream_t {
    const mg_upstream_ops_t *ops;
    const mg_config_server_t *server; /* borrowed from the snapshot the worker holds */
    size_t server_index;              /* position in config->servers */
    struct st_mg_worker_t *worker;
    mg_upstream_era_t era;
    json_t *initialize_result; /* the upstream's last initialize result (capabilities, serverInfo), or NULL;
                                  for a modern server, made from its DiscoverResult in the same shape:
                                  {protocolVersion "2026-07-28", capabilities, serverInfo, instructions} */
    json_t *discover_result;   /* a modern server's DiscoverResult as it came, or NULL */
    json_t *tools;             /* this worker's catalog: object of tool name -> definition (with inputSchema),
                                  or NULL when not known; filled from complete tools/list answers, dropped
                                  on tools/list_changed */
    json_t *held_tools;        /* tool pinning's verdicts on the catalog (guard/pins.h): local name -> why it is
                                  quarantined; NULL when none is; set and cleared with `tools` */
    bool instructions_held;    /* the server's instructions changed since approved: left out of initialize results */
    mg_mirror_schemas_t tool_schemas; /* verdicts on the catalog's inputSchemas: cleared with every change of tools */
    struct st_mg_tool_schemas_t *tool_validators; /* the catalog's compiled schemas (mcp/tool_schemas.h, validate.h);
                                                   * NULL when the catalog is not known */
};

#endif
