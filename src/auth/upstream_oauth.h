/*
 * upstream_oauth.h - the upstream credential agent: OAuth 2.0 access tokens the gateway obtains for
 * itself (servers[].credentials.oauth) with the client credentials grant (RFC 6749 section 4.4).
 *
 * One background thread, independent of the identify stage (auth.h): a gateway may have upstream
 * credentials and no `auth:` section. For each server configured with credentials.oauth it POSTs
 * grant_type=client_credentials (with `scope` and the RFC 8707 `resource` when configured) to the
 * token endpoint, authenticating with client_secret_basic, and posts a copy of the access token to
 * every worker (worker->upstream_tokens, read by the HTTP upstream through mg_worker_upstream_token).
 * A worker never waits for the token endpoint: until a token arrives its requests go without one
 * and the upstream answers 401.
 *
 * When: once at start-up, synchronously, so that the first upstream connection has a token; then
 * before the token expires (mg_upstream_oauth_refresh_delay_ms); after a failure with a growing
 * back-off (MG_UPSTREAM_OAUTH_RETRY_MIN_S doubling up to MG_UPSTREAM_OAUTH_RETRY_MAX_S); and early
 * when the upstream refused the gateway's token with 401 (mg_upstream_oauth_ask_refresh), never
 * more often than every MG_UPSTREAM_OAUTH_ASK_MIN_INTERVAL_S per server. A failed refresh keeps the
 * previous token: it may still be good.
 *
 * Secrets: neither the client secret nor any access token is ever logged or put in an error
 * message; a failure names the server, the token endpoint and the OAuth error code it answered.
 */
#ifndef MG_AUTH_UPSTREAM_OAUTH_H
#define MG_AUTH_UPSTREAM_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/worker.h"

#define MG_UPSTREAM_OAUTH_MAX_RESPONSE_BYTES (64 * 1024) /* a token response is a few hundred bytes */
#define MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES (16 * 1024)    /* it goes into every upstream request's head */
#define MG_UPSTREAM_OAUTH_MAX_LIFETIME_S (24 * 3600)     /* a longer expires_in is taken as one day */
#define MG_UPSTREAM_OAUTH_DEFAULT_REFRESH_S 300          /* a token without expires_in */
#define MG_UPSTREAM_OAUTH_RETRY_MIN_S 2
#define MG_UPSTREAM_OAUTH_RETRY_MAX_S 60
#define MG_UPSTREAM_OAUTH_ASK_MIN_INTERVAL_S 10

typedef struct st_mg_upstream_oauth_t mg_upstream_oauth_t;

/* Builds the agent for `gateway` (its config and, later, its workers). *out is NULL when no server
 * uses credentials.oauth; every function below accepts NULL and then does nothing. */
int mg_upstream_oauth_create(mg_gateway_t *gateway, mg_upstream_oauth_t **out, mg_error_t *err);
/* Fetches every server's first token on the calling thread and writes it into each worker's
 * upstream_tokens: call after the workers are initialized and before they run. A failure is logged
 * (warning) and retried by the agent once started. */
void mg_upstream_oauth_prime(mg_upstream_oauth_t *agent);
/* Starts the thread; call once every worker's queue exists (it posts to them). */
void mg_upstream_oauth_start(mg_upstream_oauth_t *agent);
/* Stops the thread (joins it, waiting at most for one fetch's timeout); call before the workers
 * stop, so nothing is posted to an ended loop. */
void mg_upstream_oauth_stop(mg_upstream_oauth_t *agent);
/* Frees the agent (after mg_upstream_oauth_stop). The workers' tokens are theirs to free. */
void mg_upstream_oauth_destroy(mg_upstream_oauth_t *agent);

/* Asks for a new token for server `server_index` soon (its upstream answered 401 to the gateway's
 * token); rate limited. Safe from any thread; cheap when a request is already pending. */
void mg_upstream_oauth_ask_refresh(mg_upstream_oauth_t *agent, size_t server_index);

/* ---- exposed for the unit tests ---------------------------------------------------------------- */

typedef struct st_mg_upstream_token_t {
    char *access_token; /* malloc'd; RFC 6750 b64token syntax, so it is safe in a header */
    int64_t expires_in; /* seconds, at most MG_UPSTREAM_OAUTH_MAX_LIFETIME_S; -1: the answer had none */
} mg_upstream_token_t;

/* Reads a successful token response (RFC 6749 section 5.1): access_token (required), token_type
 * (required, "Bearer" in any case), expires_in (optional positive integer, or a string of digits,
 * which some servers send). 0 with *out filled (free out->access_token), or -1 with a message that
 * never quotes the token. */
int mg_upstream_oauth_parse(const char *body, size_t len, mg_upstream_token_t *out, mg_error_t *err);

/* How long after it was obtained a token with lifetime `expires_in` (-1: unknown) is replaced: at
 * 80 % of its lifetime or 60 s before it expires, whichever is earlier, but not before half of it
 * (a short-lived token would otherwise be fetched again at once), and never sooner than 1 s. */
int64_t mg_upstream_oauth_refresh_delay_ms(int64_t expires_in);

#endif
