/*
 * worker.h - the gateway's threads and the one way they talk to each other.
 *
 * A worker is one thread with its own h2o event loop, its own SO_REUSEPORT
 * listeners, its own upstream handles and its own HTTP client context. The request
 * path never takes a global lock: when work belongs to another thread (a stdio child
 * owned by another worker, a broadcast to every worker's GET streams), it is posted
 * as a closure with mg_worker_post and runs on that worker's loop.
 *
 * Hazard: an h2o socket belongs to the thread that creates it, not only to its loop.
 * libh2o 2.2.5 points a new socket's input at the creating thread's buffer prototype
 * (h2o_socket_buffer_prototype is __thread), and every later read allocates and frees
 * that socket's 8 KB read buffers through the prototype's unlocked recycle list. A
 * socket made on one thread and read on another therefore shares that list with the
 * first thread's own sockets: two threads reading into the same block. (h2o's own
 * hand-off, h2o_socket_export and _import, rebinds the buffers; nothing here hands a
 * socket over.) So everything
 * that makes a socket (h2o context and queues, listeners, upstream pipes and
 * connections) is made on the worker's own thread, and the main thread only prepares
 * what does no I/O (mg_worker_on_own_thread guards the places that connect or spawn).
 */
#ifndef MG_CORE_WORKER_H
#define MG_CORE_WORKER_H

#include <h2o.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config/config.h"
#include "mcp/session.h"

struct st_mg_upstream_t;
struct st_mg_gateway_t;

#define MG_WORKER_LATE_KEY_MAX 192 /* a late session's key: "<sid>/<server>" (http/late_sessions.h) */

typedef struct st_mg_worker_t {
    size_t index;
    struct st_mg_gateway_t *gateway;
    h2o_context_t http_context; /* server side: owns the loop */
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;         /* closures posted to this worker */
    h2o_multithread_receiver_t getaddr_receiver; /* h2o's asynchronous DNS for the HTTP client */
    h2o_timeout_t client_io_timeout;
    h2o_timeout_t keepalive_timeout;             /* 15 s: comments on idle event streams */
    h2o_http1client_ctx_t client_context;        /* HTTP client (upstreams); ssl_ctx set per upstream */
    struct st_mg_upstream_t **upstreams;         /* one per config->servers entry */
    struct st_mg_session_cache_t *session_cache; /* session ids this worker opened (http/session_cache.h) */
    json_t *late_sessions;                       /* "<sid>/<server>" -> upstream session id opened after initialize
                                                    (http/late_sessions.h) */
    json_t *log_levels; /* legacy session id -> its logging/setLevel level, for modern servers (dispatch.c) */
    struct {            /* the last late_sessions lookup, forgotten whenever the table changes */
        char key[MG_WORKER_LATE_KEY_MAX];
        size_t len; /* 0: nothing remembered */
        const char *id;
    } late_memo;
    h2o_linklist_t event_streams; /* open client GET streams on this worker (mg_event_stream_t) */
    h2o_linklist_t parked;        /* exchanges waiting for a modern client's answers (http/park.c) */
    h2o_linklist_t waiting;       /* retries waiting for a parked exchange on some worker */
    uint64_t next_waiting_id;
    h2o_timeout_t park_timeout; /* how long a parked exchange waits */
    char **upstream_tokens;     /* per server: the gateway's OAuth token for it, or NULL (auth/upstream_oauth.h) */
    struct st_mg_auth_view_t *auth_view;         /* what it identifies callers with; NULL without auth (auth/auth.h) */
    struct st_mg_policy_t *policy;               /* the authorization policy in force; NULL: none (http/reload.h) */
    struct st_mg_policy_cache_t *policy_cache;   /* callers' accesses under it (policy/policy.h) */
    struct st_mg_limit_rules_t *limit_rules;     /* the rate limits in force (limit/limit.h, http/reload.h) */
    struct st_mg_guard_scratch_t *guard_scratch; /* the detectors' scratch, made on first use (guard/detect.h) */
    struct st_mg_webhook_t *webhook;             /* guards.webhook's client, made on first use (guard/webhook.h) */
    pthread_t thread;
    bool stopping;

    struct st_mg_approvals_worker_t *approvals; /* calls held for approval; NULL without rules (guard/approvals.h) */
} mg_worker_t;

typedef struct st_mg_gateway_t {
    mg_config_t *config;
    mg_session_key_t session_key;
    mg_worker_t **workers;
    size_t workers_len;
    struct st_mg_auth_t *auth;                     /* NULL without an auth section (auth/auth.h) */
    struct st_mg_upstream_oauth_t *upstream_oauth; /* NULL: no credentials.oauth */
    struct st_mg_policy_t *policy;                 /* main thread's reference to the latest policy (http/reload.h) */
    struct st_mg_limit_t *limiter;                 /* rate limit counters, shared by all workers (limit/limit.h) */
    struct st_mg_limit_rules_t *limit_rules;       /* main thread's reference to the latest rules (http/reload.h) */
    struct st_mg_spec_schemas_t *spec_schemas;     /* the MCP schemas, compiled at start (mcp/spec_schemas.h) */
    struct st_mg_schema_cache_t *schema_cache;     /* tool schemas compiled once for all workers (schema/cache.h) */
    struct st_mg_tool_schema_report_t *tool_schema_report; /* invalid tool schemas (mcp/tool_schemas.h) */
    struct st_mg_audit_t *audit;     /* NULL without an audit section (audit/audit.h); mg_audit_emit is thread-safe */
    struct st_mg_tracer_t *tracer;   /* NULL without a tracing section (obs/trace.h); thread-safe */
    struct st_mg_metrics_t *metrics; /* NULL without a metrics section (obs/metrics.h); updates are lock-free */
    struct st_mg_pins_t *pins;       /* tool pins; NULL with pins.mode off (guard/pins.h); thread-safe */
    atomic_bool stopping;

    struct st_mg_approvals_t *approvals; /* human approval's service; NULL without rules (guard/approvals.h) */
    struct st_mg_admin_t *admin;         /* the admin API's agent; NULL without an admin section (http/admin.h) */
} mg_gateway_t;

typedef void (*mg_worker_fn)(mg_worker_t *worker, void *arg);

/* Runs fn(target, arg) on target's loop thread, soon. Safe from any thread, including
 * target's own (then it still runs later, never re-entrantly). `arg` ownership passes to fn. */
void mg_worker_post(mg_worker_t *target, mg_worker_fn fn, void *arg);

/* What mg_worker_post_json_to_all hands each worker: fn owns it (free msg with json_decref, the note with free). */
typedef struct st_mg_json_note_t {
    size_t server_index;
    json_t *msg;
} mg_json_note_t;

/* Posts fn to every worker, each with its own deep copy of `msg` (borrowed): jansson reference
 * counts are not atomic, so a value is never shared between threads. */
void mg_worker_post_json_to_all(mg_gateway_t *gateway, mg_worker_fn fn, size_t server_index, const json_t *msg);

/* Marks the calling thread as `worker`'s loop thread: its first call, before it makes any socket. */
void mg_worker_enter_thread(mg_worker_t *worker);

/* True on `worker`'s own loop thread (for assertions: sockets are made and used only there). */
bool mg_worker_on_own_thread(const mg_worker_t *worker);

/* The gateway's current OAuth access token for server `server_index` (credentials.oauth), or NULL
 * while it has none. Valid until the worker's loop next runs a posted closure. */
const char *mg_worker_upstream_token(const mg_worker_t *worker, size_t server_index);

/* Milliseconds on the loop's clock (cheap; updated once per loop iteration). */
uint64_t mg_worker_now(mg_worker_t *worker);

/* The receiver callback a worker registers for its queue (used by the server setup). */
void mg_worker_on_posted(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
