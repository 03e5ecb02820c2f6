/*
 * auth.c - the gateway-wide identify state, the workers' views of it, and the HTTP answers of the
 * identify stage (refusals and resource metadata). See auth.h.
 */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_internal.h"
#include "auth/fetch.h"
#include "auth/metadata.h"
#include "core/json_write.h"
#include "core/bytes.h"
#include "mcp/jsonrpc.h"
#include "http/front.h"
#include "obs/log.h"

int64_t mg_auth_now(void)
{
    return (int64_t)time(NULL);
}

/* The rules of issuer `jwt` on MCP path `scope`: a server path also accepts its own resource. */
static int make_rules(const mg_config_t *config, const mg_config_jwt_t *jwt, long scope, mg_jwt_rules_t *rules,
                      char ***audiences_out)
{
    size_t count = jwt->audiences_len + (scope >= 0 ? 1 : 0);
    char **audiences = calloc(count + 1, sizeof(char *));
    if (audiences == NULL)
        return -1;
    *audiences_out = audiences;
    for (size_t i = 0; i < jwt->audiences_len; i++) {
        if ((audiences[i] = strdup(jwt->audiences[i])) == NULL)
            return -1;
    }
    if (scope >= 0 && (audiences[jwt->audiences_len] = mg_auth_resource_for(config, scope)) == NULL)
        return -1;
    mg_jwt_rules_init(rules);
    rules->issuer = jwt->issuer;
    rules->audiences = (const char *const *)audiences;
    rules->audiences_len = count;
    rules->algorithms = 0;
    for (size_t i = 0; i < jwt->algorithms_len; i++)
        rules->algorithms |= mg_jose_alg_parse(jwt->algorithms[i], strlen(jwt->algorithms[i]));
    rules->subject_claim = jwt->subject_claim;
    rules->groups_claim = jwt->groups_claim;
    rules->scopes_claim = jwt->scopes_claim;
    rules->clock_skew_s = jwt->clock_skew_s;
    return 0;
}

static void free_issuer(mg_auth_issuer_t *issuer, size_t paths)
{
    for (size_t p = 0; issuer->rule_audiences != NULL && p < paths; p++) {
        for (size_t i = 0; issuer->rule_audiences[p] != NULL && issuer->rule_audiences[p][i] != NULL; i++)
            free(issuer->rule_audiences[p][i]);
        free(issuer->rule_audiences[p]);
    }
    free(issuer->rule_audiences);
    free(issuer->rules);
    free(issuer->jwks_uri);
}

int mg_auth_create(mg_gateway_t *gateway, mg_auth_t **out, mg_error_t *err)
{
    const mg_config_t *config = gateway->config;
    *out = NULL;
    if (!config->auth.enabled)
        return 0;
    mg_auth_t *auth = calloc(1, sizeof(*auth));
    if (auth == NULL)
        return mg_error_set(err, "out of memory");
    auth->gateway = gateway;
    auth->config = config;
    mg_fetch_global_init();
    pthread_mutex_init(&auth->lock, NULL);
    pthread_cond_init(&auth->wake, NULL);
    size_t paths = config->servers_len + 1;
    auth->issuers = calloc(config->auth.jwt_len + 1, sizeof(*auth->issuers));
    if (auth->issuers == NULL)
        goto oom;
    auth->issuers_len = config->auth.jwt_len;
    for (size_t i = 0; i < auth->issuers_len; i++) {
        mg_auth_issuer_t *issuer = &auth->issuers[i];
        issuer->config = &config->auth.jwt[i];
        issuer->rules = calloc(paths, sizeof(*issuer->rules));
        issuer->rule_audiences = calloc(paths, sizeof(*issuer->rule_audiences));
        if (issuer->rules == NULL || issuer->rule_audiences == NULL)
            goto oom;
        for (size_t p = 0; p < paths; p++) {
            if (make_rules(config, issuer->config, (long)p - 1, &issuer->rules[p], &issuer->rule_audiences[p]) != 0)
                goto oom;
            if (mg_jwt_rules_validate(&issuer->rules[p], err) != 0) {
                char reason[sizeof(err->message)];
                snprintf(reason, sizeof(reason), "%s", err->message);
                mg_auth_destroy(auth);
                return mg_error_set(err, "auth.jwt[%zu]: %s", i, reason);
            }
        }
        if (issuer->config->jwks_uri != NULL && (issuer->jwks_uri = strdup(issuer->config->jwks_uri)) == NULL)
            goto oom;
    }
    if ((auth->path_resources = calloc(paths, sizeof(char *))) == NULL ||
        (auth->path_resources[0] = strdup(config->auth.resource)) == NULL)
        goto oom;
    for (size_t p = 1; p < paths; p++) {
        if ((auth->path_resources[p] = mg_auth_resource_for(config, (long)p - 1)) == NULL)
            goto oom;
    }
    if (mg_auth_introspector_start(auth, err) != 0) {
        mg_auth_destroy(auth);
        return -1;
    }
    if (config->auth.api_keys && mg_store_open(config->state_dir, MG_STORE_CREATE, &auth->store, err) != 0) {
        char reason[sizeof(err->message)];
        snprintf(reason, sizeof(reason), "%s", err->message);
        mg_auth_destroy(auth);
        return mg_error_set(err, "auth.api_keys: %s", reason);
    }
    if (!config->auth.required)
        mg_log(MG_LOG_WARN, "auth.optional",
               "auth.required is false: callers without credentials are served as \"anonymous\"; use this only for "
               "local development");
    *out = auth;
    return 0;
oom:
    mg_auth_destroy(auth);
    return mg_error_set(err, "out of memory");
}

void mg_auth_start(mg_auth_t *auth)
{
    if (auth == NULL)
        return;
    auth->agent_started = true; /* before the thread runs: from now on key sets reach workers by posts */
    if (pthread_create(&auth->agent, NULL, mg_auth_agent_main, auth) != 0) {
        auth->agent_started = false;
        mg_log(MG_LOG_ERROR, "auth.agent_failed", "cannot start the auth agent thread: key sets will not refresh");
        return;
    }
    pthread_setname_np(auth->agent, "mg-auth");
}

void mg_auth_prime(mg_auth_t *auth)
{
    if (auth != NULL)
        mg_auth_agent_prime(auth);
}

/* ---- API keys ------------------------------------------------------------------------------- */

static void take_apikeys(mg_worker_t *worker, void *arg)
{
    mg_auth_view_t *view = worker->auth_view;
    if (view->apikeys != NULL)
        mg_apikeys_memo_destroy(view->apikeys, view->apikey_principals);
    mg_apikeys_release(view->apikeys);
    view->apikeys = arg;
    view->apikey_principals = mg_apikeys_memo_create(view->apikeys);
}

int mg_auth_load_apikeys(mg_auth_t *auth, mg_error_t *err)
{
    mg_apikeys_table_t *table = mg_apikeys_load(auth->store, err);
    if (table == NULL)
        return -1;
    mg_gateway_t *gateway = auth->gateway;
    for (size_t w = 0; w < gateway->workers_len; w++) {
        mg_worker_t *worker = gateway->workers[w];
        if (auth->agent_started)
            mg_worker_post(worker, take_apikeys, mg_apikeys_retain(table));
        else
            take_apikeys(worker, mg_apikeys_retain(table));
    }
    mg_apikeys_table_t *old = auth->apikeys;
    auth->apikeys = table;
    if (old != NULL) { /* what workers recorded in the old table until now is not lost */
        mg_error_t flush_err;
        if (mg_apikeys_flush_last_used(auth->store, old, NULL, &flush_err) != 0)
            mg_log(MG_LOG_WARN, "auth.keys_flush_failed", "cannot record API key last-use times: %s",
                   flush_err.message);
        mg_apikeys_release(old);
    }
    return 0;
}

void mg_auth_stop(mg_auth_t *auth)
{
    if (auth == NULL)
        return;
    mg_auth_introspector_stop(auth);
    if (!auth->agent_started)
        return;
    pthread_mutex_lock(&auth->lock);
    auth->stopping = true;
    pthread_cond_signal(&auth->wake);
    pthread_mutex_unlock(&auth->lock);
    pthread_join(auth->agent, NULL);
    auth->agent_started = false;
}

void mg_auth_destroy(mg_auth_t *auth)
{
    if (auth == NULL)
        return;
    mg_auth_stop(auth);
    if (auth->apikeys != NULL) {
        mg_error_t err;
        if (mg_apikeys_flush_last_used(auth->store, auth->apikeys, NULL, &err) != 0)
            mg_log(MG_LOG_WARN, "auth.keys_flush_failed", "cannot record API key last-use times: %s", err.message);
        mg_apikeys_release(auth->apikeys);
    }
    mg_store_close(auth->store);
    for (size_t i = 0; auth->issuers != NULL && i < auth->issuers_len; i++)
        free_issuer(&auth->issuers[i], auth->config->servers_len + 1);
    free(auth->issuers);
    mg_auth_introspector_free(auth);
    for (size_t p = 0; auth->path_resources != NULL && p < auth->config->servers_len + 1; p++)
        free(auth->path_resources[p]);
    free(auth->path_resources);
    pthread_cond_destroy(&auth->wake);
    pthread_mutex_destroy(&auth->lock);
    free(auth);
}

int mg_auth_view_init(mg_auth_t *auth, mg_worker_t *worker, mg_error_t *err)
{
    if (auth == NULL)
        return 0;
    mg_auth_view_t *view = calloc(1, sizeof(*view));
    if (view == NULL || (view->cache = mg_token_cache_create()) == NULL ||
        (view->keys = calloc(auth->issuers_len + 1, sizeof(*view->keys))) == NULL ||
        (view->refresh_asked_at = calloc(auth->issuers_len + 1, sizeof(*view->refresh_asked_at))) == NULL ||
        (view->keys_pending = calloc(auth->issuers_len + 1, sizeof(*view->keys_pending))) == NULL) {
        worker->auth_view = view;
        mg_auth_view_dispose(worker);
        return mg_error_set(err, "out of memory");
    }
    worker->auth_view = view;
    mg_auth_waiters_init(worker);
    return 0;
}

void mg_auth_view_dispose(mg_worker_t *worker)
{
    mg_auth_view_t *view = worker->auth_view;
    if (view == NULL)
        return;
    mg_auth_t *auth = worker->gateway->auth;
    for (size_t i = 0; view->keys != NULL && auth != NULL && i < auth->issuers_len; i++)
        mg_jwks_release(view->keys[i]);
    free(view->keys);
    free(view->refresh_asked_at);
    free(view->keys_pending);
    if (view->apikeys != NULL)
        mg_apikeys_memo_destroy(view->apikeys, view->apikey_principals);
    mg_apikeys_release(view->apikeys);
    mg_token_cache_destroy(view->cache);
    free(view);
    worker->auth_view = NULL;
}

/* ---- answers ---------------------------------------------------------------------------- */

const char *mg_auth_refusal_reason(const mg_auth_refusal_t *refusal)
{
    return refusal->status == 400   ? "Bad Request"
           : refusal->status == 403 ? "Forbidden"
           : refusal->status == 503 ? "Service Unavailable"
                                    : "Unauthorized";
}

void mg_auth_add_challenge(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_auth_refusal_t *refusal)
{
    const mg_config_t *config = worker->gateway->config;
    if (refusal->status == 503) {
        /* the identity provider's trouble, not the credential's: no challenge, try again soon */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("5"));
    } else {
        char *challenge = mg_auth_challenge(config, scope, refusal->error, refusal->description, refusal->needed_scope);
        if (challenge != NULL) {
            h2o_iovec_t value = h2o_strdup(&req->pool, challenge, SIZE_MAX);
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, value.base, value.len);
            free(challenge);
        }
    }
    /* a request without credentials is the first step of every OAuth flow: not worth an info line */
    mg_log_level_t level = refusal->status == 401 && refusal->error == NULL ? MG_LOG_DEBUG : MG_LOG_INFO;
    if (mg_log_enabled(level)) {
        char path[300];
        h2o_iovec_t asked = req->path_normalized;
        snprintf(path, sizeof(path), "%.*s", asked.len > 256 ? 256 : (int)asked.len, asked.base);
        mg_log_fields(level, "auth.refused",
                      json_pack("{s:i,s:s?,s:s}", "status", refusal->status, "error", refusal->error, "path", path),
                      "refused a request on %s: %s", path, refusal->description);
    }
}

void mg_auth_send_refusal(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_auth_refusal_t *refusal)
{
    const char *reason = mg_auth_refusal_reason(refusal);
    mg_auth_add_challenge(worker, req, scope, refusal);
    char message[320];
    snprintf(message, sizeof(message), "%s: %s", refusal->status == 400 ? "Unauthorized" : reason,
             refusal->description);
    json_t *body = mg_rpc_make_error(NULL, MG_RPC_UNAUTHORIZED, message, NULL);
    mg_front_send_json(req, refusal->status, reason, body);
    json_decref(body);
}

int mg_auth_serve_metadata(mg_worker_t *worker, h2o_req_t *req)
{
    const mg_config_t *config = worker->gateway->config;
    h2o_iovec_t path = req->path_normalized;
    size_t prefix = sizeof(MG_AUTH_METADATA_PREFIX) - 1;
    long scope;
    if (!config->auth.enabled || mg_auth_metadata_scope(config, path.base + prefix, path.len - prefix, &scope) != 0) {
        mg_front_send_plain_error(req, 404, "Not Found", "not found");
        return 0;
    }
    if (!mg_front_get_only(req))
        return 0;
    /* public metadata, fetched by browser-based clients too (RFC 9728 section 3 has no secrets) */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, H2O_STRLIT("*"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("max-age=300"));
    json_t *document = mg_auth_metadata_document(config, scope);
    mg_front_send_json(req, 200, "OK", document);
    json_decref(document);
    return 0;
}
