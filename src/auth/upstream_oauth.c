/*
 * upstream_oauth.c - the upstream credential agent (see upstream_oauth.h).
 *
 * One thread, one list of token sources (the servers with credentials.oauth), each with the time of
 * its last fetch and of its next. The thread sleeps on a condition variable until the earliest next
 * fetch, or until a worker asks for a refresh or the gateway stops. Times are milliseconds on the
 * monotonic clock: a token's lifetime must not stretch or shrink when the wall clock is set.
 *
 * The token endpoint is reached through auth/fetch.h (bounded size and time, no redirects), so the
 * thread blocks on one fetch at a time; stopping waits for that fetch at most.
 */
#include "auth/upstream_oauth.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/fetch.h"
#include "obs/log.h"

typedef struct st_token_source_t {
    size_t server_index;
    const mg_config_server_t *server;
    int64_t last_fetch_ms;
    int64_t next_fetch_ms;
    int failures; /* in a row: the back-off */
    atomic_bool asked;
} token_source_t;

struct st_mg_upstream_oauth_t {
    mg_gateway_t *gateway;
    token_source_t *sources;
    size_t sources_len;
    pthread_t thread;
    bool started; /* the thread runs: tokens reach the workers by posts */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on the monotonic clock */
    bool stopping, woken;
};

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- the token response --------------------------------------------------------------------------- */

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
 * Anything else could not be sent as a Bearer credential, and a CR or LF would split the header. */
static bool is_b64token(const char *token)
{
    size_t len = strlen(token);
    size_t body = strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
    return body > 0 && strspn(token + body, "=") == len - body;
}

static int parse_expires_in(json_t *value, int64_t *out, mg_error_t *err)
{
    int64_t seconds;
    if (value == NULL || json_is_null(value)) {
        *out = -1;
        return 0;
    }
    if (json_is_integer(value)) {
        seconds = (int64_t)json_integer_value(value);
    } else if (json_is_string(value) && json_string_length(value) > 0 && json_string_length(value) <= 18 &&
               strspn(json_string_value(value), "0123456789") == json_string_length(value)) {
        seconds = strtoll(json_string_value(value), NULL, 10);
    } else {
        return mg_error_set(err, "the token response's expires_in is not a positive integer");
    }
    if (seconds <= 0)
        return mg_error_set(err, "the token response's expires_in is not a positive integer");
    *out = seconds > MG_UPSTREAM_OAUTH_MAX_LIFETIME_S ? MG_UPSTREAM_OAUTH_MAX_LIFETIME_S : seconds;
    return 0;
}

int mg_upstream_oauth_parse(const char *body, size_t len, mg_upstream_token_t *out, mg_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (len > MG_UPSTREAM_OAUTH_MAX_RESPONSE_BYTES)
        return mg_error_set(err, "the token response is larger than %d bytes", MG_UPSTREAM_OAUTH_MAX_RESPONSE_BYTES);
    json_error_t json_error;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &json_error);
    if (root == NULL) /* jansson's text may quote the input, which may be the token: the position only */
        return mg_error_set(err, "the token response is not JSON (line %d, column %d)", json_error.line,
                            json_error.column);
    int rc = -1;
    json_t *access_token = json_object_get(root, "access_token");
    const char *token_type = json_string_value(json_object_get(root, "token_type"));
    int64_t expires_in = -1;
    if (!json_is_object(root))
        mg_error_set(err, "the token response is not a JSON object");
    else if (!json_is_string(access_token) || json_string_length(access_token) == 0)
        mg_error_set(err, "the token response has no access_token");
    else if (json_string_length(access_token) > MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES)
        mg_error_set(err, "the access token is longer than %d bytes", MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES);
    else if (strlen(json_string_value(access_token)) != json_string_length(access_token) ||
             !is_b64token(json_string_value(access_token)))
        mg_error_set(err, "the access token has characters a Bearer token cannot carry (RFC 6750 section 2.1)");
    else if (token_type == NULL)
        mg_error_set(err, "the token response has no token_type");
    else if (strcasecmp(token_type, "Bearer") != 0)
        mg_error_set(err, "the token response's token_type \"%.32s\" is not Bearer", token_type);
    else if (parse_expires_in(json_object_get(root, "expires_in"), &expires_in, err) != 0)
        ;
    else if ((out->access_token = strdup(json_string_value(access_token))) == NULL)
        mg_error_set(err, "out of memory");
    else
        rc = 0;
    out->expires_in = expires_in;
    json_decref(root);
    return rc;
}

int64_t mg_upstream_oauth_refresh_delay_ms(int64_t expires_in)
{
    if (expires_in < 0)
        return (int64_t)MG_UPSTREAM_OAUTH_DEFAULT_REFRESH_S * 1000;
    int64_t life = expires_in * 1000, delay = life * 4 / 5;
    if (life - 60000 < delay)
        delay = life - 60000;
    if (delay < life / 2)
        delay = life / 2;
    return delay < 1000 ? 1000 : delay;
}

/* ---- publishing to the workers ------------------------------------------------------------------ */

typedef struct st_token_note_t {
    size_t server_index;
    char *token;
} token_note_t;

/* On the worker's thread: the old token goes, nothing else holds it (upstream requests copy it). */
static void take_token(mg_worker_t *worker, void *arg)
{
    token_note_t *note = arg;
    free(worker->upstream_tokens[note->server_index]);
    worker->upstream_tokens[note->server_index] = note->token;
    free(note);
}

static void publish(mg_upstream_oauth_t *agent, size_t server_index, const char *token)
{
    mg_gateway_t *gateway = agent->gateway;
    for (size_t w = 0; w < gateway->workers_len; w++) {
        mg_worker_t *worker = gateway->workers[w];
        char *copy = strdup(token);
        if (copy == NULL)
            continue;          /* this worker keeps its old token until the next refresh */
        if (!agent->started) { /* start-up: the workers do not run yet */
            free(worker->upstream_tokens[server_index]);
            worker->upstream_tokens[server_index] = copy;
            continue;
        }
        token_note_t *note = malloc(sizeof(*note));
        if (note == NULL) {
            free(copy);
            continue;
        }
        note->server_index = server_index;
        note->token = copy;
        mg_worker_post(worker, take_token, note);
    }
}

/* ---- fetching ------------------------------------------------------------------------------------ */

/* One client credentials grant (RFC 6749 section 4.4.2, RFC 8707 section 2). */
static int fetch_token(const mg_config_credentials_t *credentials, mg_upstream_token_t *token, mg_error_t *err)
{
    char *form = NULL;
    if (mg_fetch_form_add(&form, "grant_type", "client_credentials") != 0 ||
        (credentials->oauth.scope != NULL && mg_fetch_form_add(&form, "scope", credentials->oauth.scope) != 0) ||
        (credentials->oauth.resource != NULL &&
         mg_fetch_form_add(&form, "resource", credentials->oauth.resource) != 0)) {
        free(form);
        return mg_error_set(err, "out of memory");
    }
    mg_fetch_request_t request = {.url = credentials->oauth.token_url,
                                  .form = form,
                                  .client_id = credentials->oauth.client_id,
                                  .client_secret = credentials->oauth.client_secret};
    char *body = NULL;
    size_t len = 0;
    int rc = mg_fetch(&request, &body, &len, err);
    free(form);
    if (rc == 0) {
        mg_error_t detail = {{0}};
        if ((rc = mg_upstream_oauth_parse(body, len, token, &detail)) != 0)
            mg_error_set(err, "%s: %s", credentials->oauth.token_url, detail.message);
        sodium_memzero(body, len);
    }
    free(body);
    return rc;
}

static void refresh(mg_upstream_oauth_t *agent, token_source_t *source)
{
    const mg_config_server_t *server = source->server;
    mg_upstream_token_t token;
    mg_error_t err = {{0}};
    int64_t now = now_ms();
    source->last_fetch_ms = now;
    atomic_store(&source->asked, false);
    if (fetch_token(&server->credentials, &token, &err) == 0) {
        publish(agent, source->server_index, token.access_token);
        source->failures = 0;
        source->next_fetch_ms = now + mg_upstream_oauth_refresh_delay_ms(token.expires_in);
        json_t *fields = json_pack("{s:s}", "server", server->name);
        if (token.expires_in >= 0)
            json_object_set_new(fields, "expires_in", json_integer(token.expires_in));
        mg_log_fields(MG_LOG_INFO, "upstream.oauth_token", fields, "obtained an access token for server %s from %s",
                      server->name, server->credentials.oauth.token_url);
        sodium_memzero(token.access_token, strlen(token.access_token));
        free(token.access_token);
        return;
    }
    int retry_s = MG_UPSTREAM_OAUTH_RETRY_MIN_S;
    for (int i = 0; i < source->failures && retry_s < MG_UPSTREAM_OAUTH_RETRY_MAX_S; i++)
        retry_s *= 2;
    if (retry_s > MG_UPSTREAM_OAUTH_RETRY_MAX_S)
        retry_s = MG_UPSTREAM_OAUTH_RETRY_MAX_S;
    source->failures++;
    source->next_fetch_ms = now + (int64_t)retry_s * 1000;
    mg_log_fields(agent->started ? MG_LOG_ERROR : MG_LOG_WARN, "upstream.oauth_failed",
                  json_pack("{s:s,s:i}", "server", server->name, "retry_s", retry_s),
                  "cannot obtain an access token for server %s (retrying in %d s): %s", server->name, retry_s,
                  err.message);
}

/* Runs what is due; returns when the next thing is (monotonic ms). */
static int64_t run_due(mg_upstream_oauth_t *agent)
{
    int64_t now = now_ms(), next = INT64_MAX;
    for (size_t i = 0; i < agent->sources_len; i++) {
        token_source_t *source = &agent->sources[i];
        int64_t earliest = source->last_fetch_ms + (int64_t)MG_UPSTREAM_OAUTH_ASK_MIN_INTERVAL_S * 1000;
        if (atomic_load(&source->asked) && source->next_fetch_ms > earliest)
            source->next_fetch_ms = earliest;
        if (source->next_fetch_ms <= now) {
            refresh(agent, source);
            now = now_ms();
        }
        if (source->next_fetch_ms < next)
            next = source->next_fetch_ms;
    }
    return next;
}

static void *agent_main(void *arg)
{
    mg_upstream_oauth_t *agent = arg;
    pthread_mutex_lock(&agent->lock);
    while (!agent->stopping) {
        pthread_mutex_unlock(&agent->lock);
        int64_t next = run_due(agent);
        pthread_mutex_lock(&agent->lock);
        if (agent->stopping || agent->woken) {
            agent->woken = false;
            continue;
        }
        struct timespec until = {.tv_sec = (time_t)(next / 1000), .tv_nsec = (long)(next % 1000) * 1000000};
        int rc = 0;
        while (!agent->stopping && !agent->woken && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&agent->wake, &agent->lock, &until);
        agent->woken = false;
    }
    pthread_mutex_unlock(&agent->lock);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------------ */

int mg_upstream_oauth_create(mg_gateway_t *gateway, mg_upstream_oauth_t **out, mg_error_t *err)
{
    const mg_config_t *config = gateway->config;
    *out = NULL;
    size_t count = 0;
    for (size_t i = 0; i < config->servers_len; i++)
        count += config->servers[i].credentials.kind == MG_CREDENTIALS_CLIENT_CREDENTIALS;
    if (count == 0)
        return 0;
    mg_upstream_oauth_t *agent = calloc(1, sizeof(*agent));
    if (agent == NULL || (agent->sources = calloc(count, sizeof(*agent->sources))) == NULL) {
        free(agent);
        return mg_error_set(err, "out of memory");
    }
    agent->gateway = gateway;
    for (size_t i = 0; i < config->servers_len; i++) {
        if (config->servers[i].credentials.kind != MG_CREDENTIALS_CLIENT_CREDENTIALS)
            continue;
        token_source_t *source = &agent->sources[agent->sources_len++];
        source->server_index = i;
        source->server = &config->servers[i];
        atomic_init(&source->asked, false);
    }
    mg_fetch_global_init(); /* on the main thread, before any other thread runs */
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&agent->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&agent->lock, NULL);
    *out = agent;
    return 0;
}

void mg_upstream_oauth_prime(mg_upstream_oauth_t *agent)
{
    for (size_t i = 0; agent != NULL && i < agent->sources_len; i++)
        refresh(agent, &agent->sources[i]);
}

void mg_upstream_oauth_start(mg_upstream_oauth_t *agent)
{
    if (agent == NULL)
        return;
    agent->started = true; /* before the thread runs: from now on tokens reach workers by posts */
    if (pthread_create(&agent->thread, NULL, agent_main, agent) != 0) {
        agent->started = false;
        mg_log(MG_LOG_ERROR, "upstream.oauth_agent_failed",
               "cannot start the upstream credential agent: upstream access tokens will not be refreshed");
        return;
    }
    pthread_setname_np(agent->thread, "mg-up-oauth");
}

void mg_upstream_oauth_stop(mg_upstream_oauth_t *agent)
{
    if (agent == NULL || !agent->started)
        return;
    pthread_mutex_lock(&agent->lock);
    agent->stopping = true;
    pthread_cond_signal(&agent->wake);
    pthread_mutex_unlock(&agent->lock);
    pthread_join(agent->thread, NULL);
    agent->started = false;
}

void mg_upstream_oauth_destroy(mg_upstream_oauth_t *agent)
{
    if (agent == NULL)
        return;
    assert(!agent->started);
    pthread_cond_destroy(&agent->wake);
    pthread_mutex_destroy(&agent->lock);
    free(agent->sources);
    free(agent);
}

void mg_upstream_oauth_ask_refresh(mg_upstream_oauth_t *agent, size_t server_index)
{
    for (size_t i = 0; agent != NULL && i < agent->sources_len; i++) {
        token_source_t *source = &agent->sources[i];
        if (source->server_index != server_index)
            continue;
        if (atomic_exchange(&source->asked, true))
            return; /* already asked: the agent has been woken */
        pthread_mutex_lock(&agent->lock);
        agent->woken = true;
        pthread_cond_signal(&agent->wake);
        pthread_mutex_unlock(&agent->lock);
        return;
    }
}
