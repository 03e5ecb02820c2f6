/*
 * mrtr.h - the gateway's sealed requestState for multi round-trip requests (2026-07-28).
 *
 * Every requestState a modern client sees from the gateway is the gateway's own token,
 * sealed (seal.h) and bound to the principal, the request (method and the name or URI it
 * targets) and an expiry. Two kinds:
 *   - park: a legacy server asked the client something (elicitation, sampling, roots) in
 *     the middle of a call; the call waits, parked on worker `worker` under `parked_id`,
 *     and the client's retry resumes it.
 *   - wrap: a modern server answered InputRequiredResult; its own requestState (if any)
 *     travels inside ours and goes back to that server, `server`, on the retry. When the
 *     caller's user had approved the call (approve, below), the approval travels with it, so
 *     that the retry continues the approved call instead of asking again.
 *   - approve: an `approver: user` rule asked the caller's user to approve a tools/call
 *     (guard/approvals.h); the state names the approval id and the call it was asked about
 *     (server, the server's own tool name, the arguments' digest, the rule) and expires with
 *     the rule's timeout_s instead of MG_MRTR_TTL_S.
 * A state that fails any check is refused before anything reaches an upstream; one exception: an
 * approve state that is the gateway's, for this principal and request, and only expired, opens with
 * `expired` set, so that the caller hears that nobody approved in time (-32043) as a legacy client does,
 * not that its state is invalid.
 */
#ifndef MG_MCP_MRTR_H
#define MG_MCP_MRTR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mcp/session.h"

#define MG_MRTR_TTL_S 600
#define MG_MRTR_MAX_TOKEN 65536

typedef enum en_mg_mrtr_kind_t {
    MG_MRTR_PARK = 1,
    MG_MRTR_WRAP = 2,
    MG_MRTR_APPROVE = 3,
} mg_mrtr_kind_t;

/* approve: what the caller's user was asked about (sizes: guard/approvals.h's id and digest). */
typedef struct st_mg_mrtr_approval_t {
    char id[40];     /* "apr_" and 32 hex digits */
    char tool[256];  /* the server's own tool name (the server is mg_mrtr_state_t.server) */
    char digest[72]; /* hex SHA-256 of the canonical arguments (mg_approvals_digest) */
    size_t rule;     /* index of the rule that asked */
} mg_mrtr_approval_t;

/* What a request is: checked against the state on the retry. */
typedef struct st_mg_mrtr_request_t {
    const char *principal;
    const char *method;
    const char *target; /* params.name or params.uri; "" when none */
} mg_mrtr_request_t;

typedef struct st_mg_mrtr_state_t {
    mg_mrtr_kind_t kind;
    size_t worker;               /* park */
    char parked_id[33];          /* park */
    char server[128];            /* wrap: the server the state belongs to; approve: the server called */
    json_t *upstream_state;      /* wrap: the server's own requestState (string), or NULL; owned */
    mg_mrtr_approval_t approval; /* approve; wrap: the approval the call went on with (id "" when none) */
    bool expired;                /* approve: its time ran out; opened so that the approve stage says -32043 */
} mg_mrtr_state_t;

char *mg_mrtr_seal_park(const mg_session_key_t *key, const mg_mrtr_request_t *request, size_t worker,
                        const char *parked_id, int64_t now);
char *mg_mrtr_seal_wrap(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                        const json_t *upstream_state /* may be NULL */, int64_t now);
/* wrap, for a call the caller's user approved (`approved`; NULL: as mg_mrtr_seal_wrap). */
char *mg_mrtr_seal_wrap_approved(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                                 const json_t *upstream_state, const mg_mrtr_approval_t *approved, int64_t now);
/* approve: valid until `expires_at` (Unix seconds); `server` and `approval` describe the call asked about. */
char *mg_mrtr_seal_approval(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                            const mg_mrtr_approval_t *approval, int64_t expires_at);

/* Opens and checks a requestState; 0, or -1 with a client-safe reason in why. */
int mg_mrtr_open(const mg_session_key_t *key, const char *token, size_t len, const mg_mrtr_request_t *request,
                 int64_t now, mg_mrtr_state_t *state, char *why, size_t why_len);
void mg_mrtr_state_dispose(mg_mrtr_state_t *state);

/* The request's target for the binding: params.name or params.uri, "" when neither. */
const char *mg_mrtr_target(const json_t *params);

#endif
