/*
 * identify.c - mg_auth_identify: from a request's credential to a principal (see auth.h).
 *
 * Where a credential may be: `Authorization: Bearer <token>` (RFC 6750 section 2.1, the only
 * method the MCP authorization spec allows; never the query string), or `X-API-Key: <key>` for an
 * API key. Exactly one may be present: two are ambiguous, and an ambiguous credential is refused.
 * A bearer token is an API key when it has the key prefix, a JWT when it has the JWS compact form,
 * and an opaque token otherwise.
 *
 * The order of work keeps a valid credential cheap: the worker's cache of verified credentials
 * first (a hash and a comparison), then the verifier. Refusals are never cached.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_internal.h"
#include "core/ascii.h"
#include "auth/mtls.h"
#include "obs/metrics.h"

#define MAX_CREDENTIAL_BYTES 16384

int mg_auth_refuse(mg_auth_refusal_t *refusal, int status, const char *error, const char *fmt, ...)
{
    refusal->status = status;
    refusal->error = error;
    refusal->needed_scope = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(refusal->description, sizeof(refusal->description), fmt, ap);
    va_end(ap);
    return -1;
}

#define refuse mg_auth_refuse

/* The one credential of the request, or none. -1 (refused) when the request is ambiguous or malformed. */
static int find_credential(h2o_req_t *req, bool api_keys, h2o_iovec_t *out, bool *unsupported,
                           mg_auth_refusal_t *refusal)
{
    *out = h2o_iovec_init(NULL, 0);
    *unsupported = false;
    ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    ssize_t key_at = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), -1);
    if (at >= 0 && h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, at) >= 0)
        return refuse(refusal, 400, "invalid_request", "more than one Authorization header");
    if (key_at >= 0 && (h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-key"), key_at) >= 0 || at >= 0))
        return refuse(refusal, 400, "invalid_request", "more than one credential (Authorization and X-API-Key)");
    if (key_at >= 0) {
        if (!api_keys)
            return refuse(refusal, 400, "invalid_request", "API keys are not enabled on this gateway");
        *out = req->headers.entries[key_at].value;
    } else if (at >= 0) {
        h2o_iovec_t value = req->headers.entries[at].value;
        /* RFC 6750 section 2.1: "Bearer" (case-insensitive), one or more spaces, a token68 */
        if (value.len == 6 && strncasecmp(value.base, "Bearer", 6) == 0)
            return refuse(refusal, 400, "invalid_request", "the bearer token is empty");
        if (value.len < 7 || strncasecmp(value.base, "Bearer ", 7) != 0) {
            /* RFC 6750 section 3.1: an unsupported method is a request without credentials */
            *unsupported = true;
            return 0;
        }
        size_t start = 7;
        while (start < value.len && value.base[start] == ' ')
            start++;
        *out = h2o_iovec_init(value.base + start, value.len - start);
        if (out->len == 0)
            return refuse(refusal, 400, "invalid_request", "the bearer token is empty");
    } else {
        return 0;
    }
    if (out->len > MAX_CREDENTIAL_BYTES)
        return refuse(refusal, 401, "invalid_token", "the credential is larger than %d bytes", MAX_CREDENTIAL_BYTES);
    if (!mg_ascii_all_printable(out->base, out->len, '!'))
        return refuse(refusal, 401, "invalid_token", "the credential contains a space or a non-ASCII byte");
    return 0;
}

static bool is_compact_jws(h2o_iovec_t token)
{
    const char *first = memchr(token.base, '.', token.len);
    if (first == NULL)
        return false;
    const char *second = memchr(first + 1, '.', token.len - (size_t)(first + 1 - token.base));
    return second != NULL && memchr(second + 1, '.', token.len - (size_t)(second + 1 - token.base)) == NULL;
}

/* The issuer's key set lacks what the token needs (none loaded yet, or an unknown key id): the
 * request waits for a fetch, unless it may not wait or a fetch settled less than
 * MG_AUTH_JWKS_MIN_INTERVAL_S ago (a key id still unknown then is not the issuer's). */
static int wait_for_keys(mg_worker_t *worker, h2o_req_t *req, h2o_iovec_t token, long scope, mg_auth_resume_fn resume,
                         size_t index, const char *why, mg_auth_refusal_t *refusal)
{
    mg_auth_view_t *view = worker->auth_view;
    if (resume == NULL)
        return refuse(refusal, 401, "invalid_token", "%s", why);
    if (!view->keys_pending[index]) {
        int64_t now = mg_auth_now();
        if (now - view->refresh_asked_at[index] < MG_AUTH_JWKS_MIN_INTERVAL_S)
            return refuse(refusal, 401, "invalid_token", "%s", why);
        view->refresh_asked_at[index] = now;
        view->keys_pending[index] = true;
        mg_auth_agent_ask_refresh(worker->gateway->auth, index);
        mg_metrics_count(worker->gateway->metrics, MG_METRICS_JWKS_REFRESH);
    }
    return mg_auth_wait(worker, req, scope, resume, MG_AUTH_WAIT_KEYS, index, token, refusal);
}

/* verify_jwt's answer for a token no trusted issuer signed: introspection may still know it */
#define NOT_OURS 2

/* 0 (*out set), -1 (refused), MG_AUTH_PENDING (waits for the key set), or NOT_OURS. `resume` NULL:
 * no waiting. */
static int verify_jwt(mg_worker_t *worker, h2o_req_t *req, h2o_iovec_t token, long scope, mg_auth_resume_fn resume,
                      mg_principal_t **out, mg_auth_refusal_t *refusal)
{
    mg_auth_t *auth = worker->gateway->auth;
    mg_auth_view_t *view = worker->auth_view;
    mg_jwt_peek_t peek;
    mg_jwt_failure_t failure;
    if (mg_jwt_peek(token.base, token.len, 0, &peek, &failure) != 0)
        return auth->introspector != NULL ? NOT_OURS : refuse(refusal, 401, "invalid_token", "%s", failure.message);
    size_t index = 0;
    while (index < auth->issuers_len && strcmp(auth->issuers[index].config->issuer, peek.issuer) != 0)
        index++;
    if (index == auth->issuers_len)
        return auth->introspector != NULL
                   ? NOT_OURS
                   : refuse(refusal, 401, "invalid_token", "the token's issuer is not trusted by this gateway");
    if (view->keys[index] == NULL) {
        mg_metrics_count(worker->gateway->metrics, MG_METRICS_JWKS_MISS);
        return wait_for_keys(worker, req, token, scope, resume, index, "the issuer's signing keys are not available",
                             refusal);
    }
    if (mg_jwt_verify(&auth->issuers[index].rules[scope + 1], view->keys[index], token.base, token.len, mg_auth_now(),
                      out, &failure) == 0) {
        mg_metrics_count(worker->gateway->metrics, MG_METRICS_JWKS_HIT);
        return 0;
    }
    mg_metrics_count(worker->gateway->metrics,
                     failure.code == MG_JWT_UNKNOWN_KID ? MG_METRICS_JWKS_MISS : MG_METRICS_JWKS_HIT);
    if (failure.code == MG_JWT_UNKNOWN_KID)
        return wait_for_keys(worker, req, token, scope, resume, index, failure.message, refusal);
    return refuse(refusal, 401, "invalid_token", "%s", failure.message);
}

static int verify_apikey(mg_worker_t *worker, h2o_iovec_t key, mg_principal_t **out, mg_auth_refusal_t *refusal)
{
    mg_auth_view_t *view = worker->auth_view;
    if (view->apikeys == NULL)
        return refuse(refusal, 401, "invalid_token", "API keys are not available yet");
    mg_apikeys_failure_t failure;
    if (mg_apikeys_verify(view->apikeys, view->apikey_principals, key.base, key.len, mg_auth_now(), out, &failure) == 0)
        return 0;
    switch (failure) {
    case MG_APIKEYS_REVOKED:
        return refuse(refusal, 401, "invalid_token", "the API key was revoked");
    case MG_APIKEYS_EXPIRED:
        return refuse(refusal, 401, "invalid_token", "the API key has expired");
    case MG_APIKEYS_MALFORMED:
        return refuse(refusal, 401, "invalid_token", "the API key is malformed");
    default:
        return refuse(refusal, 401, "invalid_token", "unknown API key");
    }
}

/* Every scope auth.scopes_required names must have been granted to an OAuth principal. API keys and
 * certificates carry no OAuth scopes: what they may do is their roles' business. */
static int check_scopes(const mg_config_auth_t *config, const mg_principal_t *principal, mg_auth_refusal_t *refusal)
{
    if (principal->method != MG_AUTH_JWT && principal->method != MG_AUTH_INTROSPECTION)
        return 0;
    for (size_t i = 0; i < config->scopes_required_len; i++) {
        if (!mg_principal_has_scope(principal, config->scopes_required[i])) {
            refuse(refusal, 403, "insufficient_scope", "the token lacks the scope \"%s\"", config->scopes_required[i]);
            refusal->needed_scope = config->scopes_required[i];
            return -1;
        }
    }
    return 0;
}

int mg_auth_accept(mg_worker_t *worker, h2o_iovec_t credential, long scope, mg_principal_t *principal,
                   int64_t valid_until, mg_principal_t **out, mg_auth_refusal_t *refusal)
{
    mg_auth_view_t *view = worker->auth_view;
    if (valid_until >= 0)
        mg_token_cache_put(view->cache, credential.base, credential.len, scope, principal, valid_until);
    if (check_scopes(&worker->gateway->config->auth, principal, refusal) != 0) {
        mg_principal_release(principal);
        return -1;
    }
    *out = principal;
    return 0;
}

int mg_auth_verify_jwt_now(mg_worker_t *worker, h2o_iovec_t token, long scope, mg_principal_t **out,
                           mg_auth_refusal_t *refusal)
{
    mg_principal_t *principal;
    int rc = verify_jwt(worker, NULL, token, scope, NULL, &principal, refusal);
    if (rc == NOT_OURS)
        return refuse(refusal, 401, "invalid_token", "the token's issuer is not trusted by this gateway");
    if (rc != 0)
        return -1;
    return mg_auth_accept(worker, token, scope, principal, 0, out, refusal);
}

/* An opaque token (or a JWT no configured issuer signed): the authorization server judges it. The
 * worker's requests with the same token share one question. */
static int introspect(mg_worker_t *worker, h2o_req_t *req, h2o_iovec_t token, long scope, mg_auth_resume_fn resume,
                      mg_auth_refusal_t *refusal)
{
    mg_auth_t *auth = worker->gateway->auth;
    if (auth->introspector == NULL)
        return refuse(refusal, 401, "invalid_token", "the token is not one this gateway can verify");
    mg_auth_waiter_t *asked = mg_auth_find_waiter(worker, MG_AUTH_WAIT_INTROSPECTION, token);
    uint64_t job;
    if (asked != NULL)
        job = asked->key;
    else if (mg_auth_introspect(worker, token, &job, refusal) != 0)
        return -1;
    return mg_auth_wait(worker, req, scope, resume, MG_AUTH_WAIT_INTROSPECTION, job, token, refusal);
}

int mg_auth_identify(mg_worker_t *worker, h2o_req_t *req, long scope, mg_auth_resume_fn resume, mg_principal_t **out,
                     mg_auth_refusal_t *refusal)
{
    mg_auth_t *auth = worker->gateway->auth;
    *out = NULL;
    if (auth == NULL) {
        *out = mg_principal_anonymous();
        return 0;
    }
    const mg_config_auth_t *config = &auth->config->auth;
    h2o_iovec_t credential;
    bool unsupported;
    if (find_credential(req, config->api_keys, &credential, &unsupported, refusal) != 0)
        return -1;
    if (credential.base == NULL && config->mtls.client_ca != NULL) {
        /* no token or key: the connection's client certificate, if any, says who is calling */
        char reason[MG_MTLS_REASON_MAX];
        int found = mg_mtls_identify(req, config->mtls.identity, mg_auth_now(), out, reason);
        if (found != 0)
            return found > 0 ? 0 : refuse(refusal, 401, NULL, "%s", reason);
    }
    if (credential.base == NULL) {
        if (config->required)
            return refuse(refusal, 401, NULL,
                          unsupported ? "the Authorization scheme must be Bearer" : "authentication is required");
        *out = mg_principal_anonymous();
        return 0;
    }
    mg_auth_view_t *view = worker->auth_view;
    if (config->api_keys && credential.len >= 4 && memcmp(credential.base, "mgk_", 4) == 0) {
        /* not cached: verifying costs a hash, records the key's last use, and sees a revocation at once */
        return verify_apikey(worker, credential, out, refusal);
    }
    mg_principal_t *principal = mg_token_cache_find(view->cache, credential.base, credential.len, scope, mg_auth_now());
    mg_metrics_count(worker->gateway->metrics,
                     principal != NULL ? MG_METRICS_TOKEN_CACHE_HIT : MG_METRICS_TOKEN_CACHE_MISS);
    if (principal != NULL) {
        if (check_scopes(config, principal, refusal) != 0) {
            mg_principal_release(principal);
            return -1;
        }
        *out = principal;
        return 0;
    }
    int rc = is_compact_jws(credential) && auth->issuers_len != 0
                 ? verify_jwt(worker, req, credential, scope, resume, &principal, refusal)
                 : NOT_OURS;
    if (rc == NOT_OURS)
        return introspect(worker, req, credential, scope, resume, refusal);
    if (rc != 0)
        return rc;
    return mg_auth_accept(worker, credential, scope, principal, 0, out, refusal);
}
