/*
 * auth.h - the identify stage (DESIGN.md section 1): who is calling, established before anything
 * else reads the request, and the gateway-wide state it needs.
 *
 * Three parts with one owner each:
 * - mg_auth_t, gateway-wide and immutable once workers run: the configuration, per issuer the
 *   verification rules of each MCP path (a server path also accepts tokens for its own resource);
 * - a view per worker (mg_auth_view_t), used only on its thread: the key sets and API keys it
 *   verifies with and its cache of verified credentials (token_cache.h);
 * - the agent (agent.c), a background thread that fetches discovery documents and key sets,
 *   refreshes them on a timer and when a worker meets an unknown key id (rate limited), reloads API
 *   keys when the store changes, and posts each new version to every worker's view. A worker never
 *   waits for the network or the disk to identify a caller.
 *
 * A request that carries no credential gets 401 with the challenge of metadata.h when
 * authentication is required, and is anonymous otherwise. A credential that is present is always
 * checked: a bad one is refused even where authentication is optional. With auth.mtls, a request
 * without a token or key is identified by its connection's client certificate, if it presented
 * one (mtls.h); a token or key, when present, takes precedence and the certificate is not read.
 */
#ifndef MG_AUTH_AUTH_H
#define MG_AUTH_AUTH_H

#include <h2o.h>
#include <stdbool.h>

#include "auth/principal.h"
#include "core/error.h"
#include "core/worker.h"

typedef struct st_mg_auth_t mg_auth_t;

/* Builds the gateway-wide state (NULL without an auth section). Returns -1 with a message only for
 * what the operator must fix. */
int mg_auth_create(mg_gateway_t *gateway, mg_auth_t **out, mg_error_t *err);
/* Fetches each issuer's key set once, on the calling thread, into every worker's view: call after the
 * views exist and before the workers run. NULL: nothing to do. */
void mg_auth_prime(mg_auth_t *auth);
/* Starts the agent; call once every worker's queue exists (it posts to them). */
void mg_auth_start(mg_auth_t *auth);
/* Stops the agent (joins it); call before the workers stop, so nothing is posted to an ended loop. */
void mg_auth_stop(mg_auth_t *auth);
/* Frees everything; call after the workers' views are disposed. */
void mg_auth_destroy(mg_auth_t *auth);

/* A worker's view, made on the main thread before the worker runs and freed after it ended (and
 * before mg_auth_destroy). */
int mg_auth_view_init(mg_auth_t *auth, mg_worker_t *worker, mg_error_t *err);
void mg_auth_view_dispose(mg_worker_t *worker);

typedef struct st_mg_auth_refusal_t {
    int status;               /* 400, 401, 403, or 503 (the identity provider cannot answer now) */
    const char *error;        /* RFC 6750 code: NULL (no credential), invalid_request, invalid_token, insufficient_scope */
    const char *needed_scope; /* insufficient_scope: what is missing */
    char description[256];    /* for the challenge's error_description and the JSON-RPC message */
} mg_auth_refusal_t;

/* How a request that had to wait for the identity provider goes on: called on the request's worker
 * with a principal (the callee retains it to keep it) or, principal NULL, a refusal. Never called for
 * a request whose client went away meanwhile. */
typedef void (*mg_auth_resume_fn)(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal,
                                  const mg_auth_refusal_t *refusal);

#define MG_AUTH_PENDING 1

/* Identifies the caller of `req` on MCP path `scope` (-1: /mcp, else a server index). 0 with *out a
 * principal the caller releases; -1 with *refusal filled (the caller answers; see
 * mg_auth_send_refusal); or MG_AUTH_PENDING: the answer needs the identity provider (an opaque token
 * to introspect, a key set to fetch for an unknown key id), and `resume` will be called with it.
 * Without an auth section every caller is anonymous. */
int mg_auth_identify(mg_worker_t *worker, h2o_req_t *req, long scope, mg_auth_resume_fn resume,
                     mg_principal_t **out, mg_auth_refusal_t *refusal);

/* Adds a refusal's WWW-Authenticate (or, for 503, Retry-After) to `req`'s response and logs it
 * (auth.refused), for endpoints that answer with bodies of their own (http/admin.c). */
void mg_auth_add_challenge(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_auth_refusal_t *refusal);
/* "Unauthorized", "Forbidden", ...: the reason phrase of the refusal's status. */
const char *mg_auth_refusal_reason(const mg_auth_refusal_t *refusal);
/* Answers a refused request: the status, WWW-Authenticate and a JSON-RPC error body. */
void mg_auth_send_refusal(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_auth_refusal_t *refusal);

/* Serves /.well-known/oauth-protected-resource[...] (RFC 9728); 404 without an auth section. */
int mg_auth_serve_metadata(mg_worker_t *worker, h2o_req_t *req);

#endif
