/*
 * agent.c - the auth agent: the one thread that talks to identity providers (see auth.h).
 *
 * It owns every fetch: OIDC / RFC 8414 discovery of each issuer's jwks_uri, the key sets
 * themselves, and their refreshes (every MG_AUTH_JWKS_REFRESH_S, early when a worker met an unknown
 * key id but never more often than MG_AUTH_JWKS_MIN_INTERVAL_S, and every MG_AUTH_RETRY_S after a
 * failure). A key set that differs from the last one is posted to every worker, whose view takes a
 * reference and drops the verified-token cache: a key an issuer withdrew must stop working. Every
 * fetch that ends without a new set is posted too, so that requests waiting for it (wait.c) are
 * settled at once rather than at their deadline.
 */
#include <errno.h>
#include <stdint.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_internal.h"
#include "auth/fetch.h"
#include "obs/log.h"

/* Discovery (OIDC Discovery 1.0 section 4, then RFC 8414 section 3): the issuer's jwks_uri. The
 * document's issuer must be the configured one exactly (RFC 8414 section 3.3), or a document from
 * elsewhere could make the gateway trust another issuer's keys. */
static int discover(mg_auth_issuer_t *issuer, mg_error_t *err)
{
    const char *iss = issuer->config->issuer;
    size_t len = strlen(iss);
    while (len > 0 && iss[len - 1] == '/')
        len--;
    const char *path = strstr(iss, "://");
    path = path != NULL ? strchr(path + 3, '/') : NULL;
    size_t origin_len = path != NULL ? (size_t)(path - iss) : len;
    char oidc[1024], oauth[1024];
    snprintf(oidc, sizeof(oidc), "%.*s/.well-known/openid-configuration", (int)len, iss);
    snprintf(oauth, sizeof(oauth), "%.*s/.well-known/oauth-authorization-server%.*s", (int)origin_len, iss,
             (int)(len - origin_len), iss + origin_len);
    const char *urls[] = {oidc, oauth};
    mg_error_t first = {{0}};
    for (size_t i = 0; i < 2; i++) {
        json_t *document = NULL;
        mg_fetch_request_t request = {.url = urls[i]};
        if (mg_fetch_json(&request, &document, i == 0 ? &first : err) != 0)
            continue;
        const char *found_issuer = json_string_value(json_object_get(document, "issuer"));
        const char *jwks_uri = json_string_value(json_object_get(document, "jwks_uri"));
        int rc = -1;
        if (found_issuer == NULL || strcmp(found_issuer, iss) != 0)
            mg_error_set(err, "%s names issuer \"%.200s\", not \"%s\"", urls[i], found_issuer ? found_issuer : "",
                         iss);
        else if (jwks_uri == NULL || (strncmp(jwks_uri, "https://", 8) != 0 && strncmp(jwks_uri, "http://", 7) != 0))
            mg_error_set(err, "%s has no http(s) jwks_uri", urls[i]);
        else if ((issuer->jwks_uri = strdup(jwks_uri)) != NULL)
            rc = 0;
        json_decref(document);
        if (rc == 0)
            return 0;
        return -1;
    }
    if (first.message[0] != '\0' && err != NULL)
        mg_error_set(err, "discovery failed: %s; and %s", first.message, err->message);
    return -1;
}

/* Fetches the issuer's key set; publishes it when it changed. */
static int refresh(mg_auth_t *auth, size_t index, mg_error_t *err)
{
    mg_auth_issuer_t *issuer = &auth->issuers[index];
    if (issuer->jwks_uri == NULL && discover(issuer, err) != 0)
        return -1;
    json_t *document = NULL;
    mg_fetch_request_t request = {.url = issuer->jwks_uri};
    if (mg_fetch_json(&request, &document, err) != 0)
        return -1;
    char *text = json_dumps(document, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(document);
    if (text == NULL)
        return mg_error_set(err, "out of memory");
    unsigned char digest[32];
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)text, strlen(text), NULL, 0);
    if (issuer->have_keys && memcmp(digest, issuer->jwks_digest, sizeof(digest)) == 0) {
        free(text);
        mg_auth_publish_keys(auth, index, NULL); /* nothing new: waiting requests are settled */
        return 0;
    }
    mg_jwks_t *keys = NULL;
    int rc = mg_jwks_parse(text, strlen(text), &keys, err);
    free(text);
    if (rc != 0)
        return -1;
    memcpy(issuer->jwks_digest, digest, sizeof(digest));
    issuer->have_keys = true;
    mg_log(MG_LOG_INFO, "auth.jwks_loaded", "loaded the key set of %s from %s", issuer->config->issuer,
           issuer->jwks_uri);
    mg_auth_publish_keys(auth, index, keys);
    mg_jwks_release(keys);
    return 0;
}

static void refresh_and_schedule(mg_auth_t *auth, size_t index)
{
    mg_auth_issuer_t *issuer = &auth->issuers[index];
    mg_error_t err = {{0}};
    int64_t now = mg_auth_now();
    issuer->last_fetch = now;
    if (refresh(auth, index, &err) == 0) {
        issuer->next_fetch = now + MG_AUTH_JWKS_REFRESH_S;
        return;
    }
    issuer->next_fetch = now + MG_AUTH_RETRY_S;
    mg_auth_publish_keys(auth, index, NULL);
    mg_log(MG_LOG_WARN, "auth.jwks_failed", "cannot load the key set of %s (retrying in %d s): %s",
           issuer->config->issuer, MG_AUTH_RETRY_S, err.message);
}

void mg_auth_agent_prime(mg_auth_t *auth)
{
    for (size_t i = 0; i < auth->issuers_len; i++)
        refresh_and_schedule(auth, i);
    mg_error_t err;
    if (auth->store != NULL && mg_auth_load_apikeys(auth, &err) != 0)
        mg_log(MG_LOG_ERROR, "auth.keys_failed", "cannot load API keys (retrying): %s", err.message);
    auth->apikeys_checked_at = auth->apikeys_flushed_at = mg_auth_now();
}

/* Created or revoked keys reach the workers within MG_AUTH_KEYS_POLL_S; a revoked key stops working
 * then. Last-use times go to disk every MG_AUTH_KEYS_FLUSH_S. */
static int64_t run_apikeys(mg_auth_t *auth, int64_t now)
{
    if (auth->store == NULL)
        return INT64_MAX;
    if (now - auth->apikeys_checked_at >= MG_AUTH_KEYS_POLL_S) {
        auth->apikeys_checked_at = now;
        bool stale = auth->apikeys == NULL;
        mg_error_t err;
        if ((stale || mg_apikeys_is_stale(auth->store, auth->apikeys, &stale, &err) == 0) && stale &&
            mg_auth_load_apikeys(auth, &err) == 0)
            mg_log(MG_LOG_INFO, "auth.keys_loaded", "API keys reloaded (%zu)", mg_apikeys_count(auth->apikeys));
        else if (stale)
            mg_log(MG_LOG_WARN, "auth.keys_failed", "cannot reload API keys: %s", err.message);
    }
    if (auth->apikeys != NULL && now - auth->apikeys_flushed_at >= MG_AUTH_KEYS_FLUSH_S) {
        auth->apikeys_flushed_at = now;
        mg_error_t err;
        if (mg_apikeys_flush_last_used(auth->store, auth->apikeys, NULL, &err) != 0)
            mg_log(MG_LOG_WARN, "auth.keys_flush_failed", "cannot record API key last-use times: %s", err.message);
    }
    return auth->apikeys_checked_at + MG_AUTH_KEYS_POLL_S;
}

void mg_auth_agent_ask_refresh(mg_auth_t *auth, size_t index)
{
    atomic_store(&auth->issuers[index].refresh_asked, true);
    pthread_mutex_lock(&auth->lock);
    auth->woken = true;
    pthread_cond_signal(&auth->wake);
    pthread_mutex_unlock(&auth->lock);
}

/* Runs what is due; returns when the next thing is (Unix seconds). */
static int64_t run_due(mg_auth_t *auth)
{
    int64_t now = mg_auth_now(), next = now + MG_AUTH_JWKS_REFRESH_S;
    for (size_t i = 0; i < auth->issuers_len; i++) {
        mg_auth_issuer_t *issuer = &auth->issuers[i];
        if (atomic_load(&issuer->refresh_asked) && issuer->next_fetch > issuer->last_fetch + MG_AUTH_JWKS_MIN_INTERVAL_S)
            issuer->next_fetch = issuer->last_fetch + MG_AUTH_JWKS_MIN_INTERVAL_S;
        if (issuer->next_fetch <= now) {
            atomic_store(&issuer->refresh_asked, false);
            refresh_and_schedule(auth, i);
        }
        if (issuer->next_fetch < next)
            next = issuer->next_fetch;
    }
    int64_t keys_next = run_apikeys(auth, now);
    return keys_next < next ? keys_next : next;
}

void *mg_auth_agent_main(void *arg)
{
    mg_auth_t *auth = arg;
    pthread_mutex_lock(&auth->lock);
    while (!auth->stopping) {
        pthread_mutex_unlock(&auth->lock);
        int64_t next = run_due(auth);
        pthread_mutex_lock(&auth->lock);
        if (auth->stopping || auth->woken) {
            auth->woken = false;
            continue;
        }
        struct timespec until = {.tv_sec = (time_t)next, .tv_nsec = 0};
        int rc = 0;
        while (!auth->stopping && !auth->woken && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&auth->wake, &auth->lock, &until);
        auth->woken = false;
    }
    pthread_mutex_unlock(&auth->lock);
    return NULL;
}

/* ---- publishing to the workers ---------------------------------------------------------- */

typedef struct st_keys_note_t {
    size_t index;
    mg_jwks_t *keys;
} keys_note_t;

static int settle_keys(mg_auth_waiter_t *waiter, void *arg, mg_principal_t **out, mg_auth_refusal_t *refusal)
{
    (void)arg;
    return mg_auth_verify_jwt_now(waiter->worker, waiter->credential, waiter->scope, out, refusal);
}

static void take_keys(mg_worker_t *worker, void *arg)
{
    keys_note_t *note = arg;
    mg_auth_view_t *view = worker->auth_view;
    if (note->keys != NULL) {
        mg_jwks_release(view->keys[note->index]);
        view->keys[note->index] = note->keys;
        mg_token_cache_clear(view->cache);
    }
    view->keys_pending[note->index] = false;
    view->refresh_asked_at[note->index] = mg_auth_now(); /* the rate limit counts from the fetch's end */
    mg_auth_wake(worker, MG_AUTH_WAIT_KEYS, note->index, settle_keys, NULL);
    free(note);
}

void mg_auth_publish_keys(mg_auth_t *auth, size_t index, mg_jwks_t *keys)
{
    mg_gateway_t *gateway = auth->gateway;
    for (size_t w = 0; w < gateway->workers_len; w++) {
        mg_worker_t *worker = gateway->workers[w];
        if (!auth->agent_started) { /* start-up: the workers do not run yet, nobody waits */
            if (keys == NULL)
                continue;
            mg_auth_view_t *view = worker->auth_view;
            mg_jwks_release(view->keys[index]);
            view->keys[index] = mg_jwks_retain(keys);
            continue;
        }
        keys_note_t *note = malloc(sizeof(*note));
        if (note == NULL)
            continue;
        note->index = index;
        note->keys = keys != NULL ? mg_jwks_retain(keys) : NULL;
        mg_worker_post(worker, take_keys, note);
    }
}
