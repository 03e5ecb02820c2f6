/*
 * exchange.h - one client JSON-RPC message in flight through the gateway.
 *
 * The HTTP front end (src/http/front.c) turns a POST into an exchange: it has
 * checked the transport rules, decoded the message and opened the session. The
 * dispatcher (src/mcp/dispatch.c) decides what the message means (answer locally,
 * route to one upstream, fan out to several) and answers through the exchange's
 * output functions, which pick JSON or an SSE stream as the answer needs: a response
 * that comes alone goes out as JSON; anything sent before it (progress, a sampling
 * request) switches the answer to an event stream.
 *
 * Lifetime: the exchange lives until both its HTTP request is gone and no upstream
 * call is outstanding. When the client disconnects first, every outstanding call is
 * abandoned (the upstream is told), so no callback ever reaches a freed exchange.
 */
#ifndef MG_MCP_EXCHANGE_H
#define MG_MCP_EXCHANGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/worker.h"
#include "mcp/jsonrpc.h"
#include "mcp/mirror.h"
#include "mcp/modern.h"
#include "mcp/mrtr.h"
#include "mcp/outcome.h"
#include "limit/limit.h"
#include "mcp/session.h"
#include "upstream/upstream.h"

/* An exchange calls each server in scope at most once (fan-outs, initialize), a routed call at most
 * twice (the tool catalog, then the call); later pages and retries reuse their part. So it has room
 * for one part per configured server and two more, up to MG_EXCHANGE_MAX_PARTS. */
#define MG_EXCHANGE_MAX_PARTS 64

typedef struct st_mg_exchange_t mg_exchange_t;
typedef struct st_mg_exchange_part_t mg_exchange_part_t;

/* A routed request passes, in order, the stages between its checks and its upstream call (DESIGN.md:
 * inspect request, approve): `forward.next` is the one it has reached. Each stage returns: */
typedef enum en_mg_stage_t {
    MG_STAGE_GO,       /* passed: the next stage runs now */
    MG_STAGE_ANSWERED, /* finished the exchange (refused it) */
    MG_STAGE_WAITING,  /* holds the exchange (exchange->wait) and calls mg_dispatch_forward_resume later */
} mg_stage_t;

typedef enum en_mg_forward_stage_t {
    MG_FORWARD_INSPECT = 0, /* secrets and personal data in the request (mcp/inspect.h) */
    MG_FORWARD_WEBHOOK,     /* an outside service's verdict (mcp/webhook_stage.h) */
    MG_FORWARD_APPROVE,     /* a person's approval of a tools/call (guard/approvals.h) */
    MG_FORWARD_SEND,        /* the upstream call */
} mg_forward_stage_t;

/* A stage waiting on something outside the exchange (a person, a remote service): a forward stage, or the
 * webhook's answer stage after the upstream call (mcp/webhook_stage.h). While `cancel` is set
 * the stage holds the exchange; when the client leaves first, the front end calls `cancel` (on the
 * worker thread) in place of abandoning upstream calls, and the stage must let go of the exchange at
 * once: it is freed right after. A stage that resumes clears `cancel` first. */
typedef struct st_mg_exchange_wait_t {
    void (*cancel)(mg_exchange_t *exchange, void *arg);
    void *arg;
} mg_exchange_wait_t;

/* Called on the worker thread when one upstream call of a fan-out ends. */
typedef void (*mg_part_done_fn)(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                                const char *error_message);

struct st_mg_exchange_part_t {
    mg_exchange_t *exchange;
    size_t server_index;
    uint64_t call; /* 0 when not running */
    mg_part_done_fn on_done;
    json_t *collected; /* dispatcher's per-part accumulation (owned) */
    char *cursor;      /* dispatcher's per-part paging state (owned) */
    int pages;
    long long ttl_ms;   /* modern lists: the server's ttlMs, -1 when it gave none */
    bool private_scope; /* modern lists: the server called its answer private */
    json_t *deferred;   /* front end: the call waiting for a late upstream session (owned) */
    json_t *request;    /* dispatcher: the routed request as sent (owned), for MRTR retries */
};

struct st_mg_exchange_t {
    mg_worker_t *worker;
    mg_config_t *config;                  /* retained for the exchange's life */
    long scope;                           /* -1: aggregated /mcp; else index of the /servers/<name>/mcp server */
    struct st_mg_principal_t *principal;  /* who is calling (auth/principal.h; retained) */
    struct st_mg_policy_access_t *access; /* what the caller may use (policy/policy.h; owned); NULL: no policy */
    mg_rpc_message_t message;             /* the decoded client message (owned) */
    bool modern;                          /* a 2026-07-28 request: stateless, answered with resultType */
    mg_modern_meta_t meta;                /* valid when modern (borrowed from message and meta_object) */
    json_t *meta_object;                  /* modern: the request's params._meta, taken out of params once read (owned):
                                             it is the gateway's to read, and never reaches a legacy server as it is */
    size_t meta_position;                 /* how many members of params preceded it */
    mg_mirror_headers_t mirror;           /* modern: the request's mirrored headers (their text in the front's block) */
    bool has_session;           /* legacy: the client's sealed session; modern: the principal's gateway-held one */
    mg_session_claims_t claims; /* valid when has_session */
    mg_upstream_session_t upstream_session; /* view of claims for upstream calls (per server: see dispatch) */
    char *new_session_token;                /* set by initialize: sent as Mcp-Session-Id */
    size_t parts_len;
    size_t parts_running;
    size_t parts_cap;          /* room in parts[] */
    json_t *aggregate;         /* dispatcher's fan-out accumulation (owned) */
    bool resumed;              /* modern retry of a modern server's InputRequiredResult */
    json_t *upstream_state;    /* that server's own requestState (owned, may be NULL) */
    struct st_mg_park_t *park; /* parked for a modern client's answers, or a retry awaiting them (http/park.h) */
    /* a modern retry answering an `approver: user` question (guard/approvals.h): what its sealed requestState
     * says was asked (owned; NULL otherwise) */
    mg_mrtr_state_t *approval_state;
    struct st_mg_schema_t *output_schema; /* tools/call: the tool's outputSchema, retained, to check the result
                                           * against (mcp/validate.h); NULL: nothing to check */
    mg_limit_hold_t limit_hold;           /* concurrency slots the call holds, given back when the exchange is freed
                                           * (mcp/limit_stage.h) */
    mg_outcome_t outcome;                 /* the decision taken and how the exchange ended (mcp/outcome.h) */
    struct st_mg_trace_t *trace;          /* its spans (obs/trace.h, http/front_trace.h); NULL: not traced */
    struct {                              /* a routed request on its way through the forward stages */
        size_t server_index;
        json_t *params; /* what the server will get (owned; its arguments are the message's own) */
        mg_forward_stage_t next;
    } forward;
    mg_exchange_wait_t wait; /* a forward stage, or the answer's webhook stage, holding the exchange */
    /* output side, owned by the front end */
    void *front;
    mg_exchange_part_t parts[]; /* parts_cap of them: allocated with the exchange */
};

/* Output: each may be called only while the exchange is not finished. `msg` is borrowed. */
void mg_exchange_send_message(mg_exchange_t *exchange, json_t *msg); /* mid-call notification/request */
void mg_exchange_finish(mg_exchange_t *exchange, json_t *response);  /* final response */
/* Final response: an upstream's `response` answered under the client's own id (the id is replaced in
 * the text only; `response` is not changed). */
void mg_exchange_finish_reply(mg_exchange_t *exchange, json_t *response);
void mg_exchange_finish_error(mg_exchange_t *exchange, int code, const char *message, json_t *data /* stolen */);
void mg_exchange_finish_accepted(mg_exchange_t *exchange); /* 202, for notifications and responses */
/* Final answer for a call whose OAuth token lacks scopes: HTTP 403 with an RFC 6750 `insufficient_scope`
 * challenge asking for `scopes` (space-separated), as the identify stage refuses (auth/auth.h). */
void mg_exchange_finish_insufficient_scope(mg_exchange_t *exchange, const char *scopes, const char *description);
/* Final answer for a call a rate limit refuses: the JSON-RPC error (`data` stolen) with HTTP 429 and
 * `Retry-After: retry_after_s`; inside an event stream or a parked call, the JSON-RPC error alone. */
void mg_exchange_finish_limited(mg_exchange_t *exchange, int code, const char *message, json_t *data,
                                long long retry_after_s);
/* The client's address as text ("" when the request is gone); `size` at least 64. */
void mg_exchange_client_address(const mg_exchange_t *exchange, char *out, size_t size);
bool mg_exchange_finished(const mg_exchange_t *exchange);
/* "public" or "private": whether a modern answer may be cached across callers. */
const char *mg_exchange_cache_scope(const mg_exchange_t *exchange);

/* Starts an upstream call as a new part; returns the part or NULL (then nothing was started and
 * the error is in *error_message). `request` is borrowed. */
mg_exchange_part_t *mg_exchange_call(mg_exchange_t *exchange, size_t server_index, json_t *request,
                                     mg_part_done_fn on_done, const char **error_message);
/* Re-issues a call on an existing finished part (paging). Returns 0 or -1. */
int mg_exchange_call_again(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request);
/* Opens this client's session on an upstream as a new part (initialize). */
mg_exchange_part_t *mg_exchange_open_session(mg_exchange_t *exchange, size_t server_index, json_t *initialize_request,
                                             mg_part_done_fn on_done);

/* The upstream session view for a server (fills the HTTP upstream's session id from the claims). */
void mg_exchange_upstream_session(mg_exchange_t *exchange, size_t server_index, mg_upstream_session_t *out);

/* Answers a server's request to the client on the client's behalf: `response` (stolen) goes to server
 * `server_index` under `id`, the id the request came with. */
void mg_exchange_answer_server(mg_exchange_t *exchange, size_t server_index, json_t *id, json_t *response);

/* A retry whose requestState names a parked call (http/park.h): the front end relays it there. */
void mg_exchange_resume(mg_exchange_t *retry, const mg_mrtr_state_t *state);

/* A modern server answered a legacy client's call with InputRequiredResult `result` (borrowed): its
 * questions go to the client as server-to-client requests asked by MG_ASKED_BRIDGE (mcp/asked.h),
 * and once all are answered the part's request is sent again with the answers (http/park.h). */
void mg_exchange_ask(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *result);
/* A legacy client's answer to one of those questions: `tail` is the tail of its id, `response` (borrowed)
 * the client's response or, when the gateway refused it, the error that stands for it. */
void mg_exchange_answer(mg_exchange_t *exchange, const char *tail, const json_t *response);
/* Final answer to a client's response or notification the gateway does not accept: HTTP 400 with a
 * JSON-RPC error without id, as the transport has it. */
void mg_exchange_finish_refused(mg_exchange_t *exchange, int code, const char *message, json_t *data /* stolen */);

/* Dispatcher entry point (dispatch.c): handle exchange->message. */
void mg_dispatch(mg_exchange_t *exchange);
/* A forward stage that answered MG_STAGE_WAITING lets the request go on (exchange->wait cleared before). */
void mg_dispatch_forward_resume(mg_exchange_t *exchange);

#endif
