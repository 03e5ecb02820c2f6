/*
 * introspect.c - opaque bearer tokens, judged by the authorization server (RFC 7662).
 *
 * The introspector is one thread with a bounded queue of tokens (MG_AUTH_INTROSPECTION_QUEUE_MAX,
 * gateway-wide). A worker that meets a token it has not cached queues it (identify.c; requests of
 * that worker with the same token share the question) and lets the request wait (wait.c). The
 * introspector POSTs the token to auth.introspection.url, authenticated as the configured client
 * (client_secret_basic), and posts the answer back to the worker, which judges it for each waiting
 * request's path and caches the principal for at most cache_s seconds and never past the token's
 * `exp`: an access token revoked at the authorization server stops working within cache_s.
 *
 * A token the server calls inactive is refused (401 invalid_token); a server that cannot be
 * reached or answers with an error makes the request fail with 503, not 401: the client's token may
 * be fine, and a challenge would send it to fetch a new one for nothing. Tokens are copied into the
 * queue and wiped once asked; none is ever logged.
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_internal.h"
#include "auth/fetch.h"
#include "obs/log.h"

typedef struct st_job_t {
    struct st_job_t *next;
    size_t worker_index;
    uint64_t id;
    char *token;
    size_t token_len;
    /* the outcome, posted back */
    json_t *answer; /* NULL: failed */
    char error[sizeof(((mg_error_t *)0)->message)];
} job_t;

typedef struct st_mg_auth_introspector_t {
    mg_auth_t *auth;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_t *head, **tail;
    size_t queued;
    bool stopping;
} mg_auth_introspector_t;

static void job_free(job_t *job)
{
    if (job->token != NULL) {
        sodium_memzero(job->token, job->token_len);
        free(job->token);
    }
    json_decref(job->answer);
    free(job);
}

/* ---- judging an answer (any thread; pure) ---------------------------------------------------- */

static bool string_is(const json_t *value, const char *text)
{
    return json_is_string(value) && json_string_length(value) == strlen(text) &&
           memcmp(json_string_value(value), text, json_string_length(value)) == 0;
}

/* Does `aud` (a string or an array of strings) name one of the path's resources? */
static bool names_resource(const mg_auth_t *auth, const json_t *aud, long scope)
{
    const char *resources[2] = {auth->path_resources[0], scope >= 0 ? auth->path_resources[scope + 1] : NULL};
    for (size_t r = 0; r < 2 && resources[r] != NULL; r++) {
        if (string_is(aud, resources[r]))
            return true;
        size_t i;
        const json_t *value;
        json_array_foreach(aud, i, value)
        {
            if (string_is(value, resources[r]))
                return true;
        }
    }
    return false;
}

/* Reads the NumericDate `name` when present: -1 (refusal filled) when it is not a number. */
static int get_date(const json_t *answer, const char *name, double *date, bool *present, mg_auth_refusal_t *refusal)
{
    const json_t *value = json_object_get(answer, name);
    *present = value != NULL;
    if (value == NULL)
        return 0;
    if (!json_is_number(value) || !isfinite(json_number_value(value)))
        return mg_auth_refuse(refusal, 401, "invalid_token", "the introspection answer's '%s' is not a number", name);
    *date = json_number_value(value);
    return 0;
}

static int add_strings(json_t *list, const json_t *claim, bool split)
{
    if (json_is_string(claim) && split) {
        const char *text = json_string_value(claim), *end = text + json_string_length(claim);
        while (text < end) {
            const char *space = memchr(text, ' ', (size_t)(end - text));
            size_t word = space != NULL ? (size_t)(space - text) : (size_t)(end - text);
            if (word > 0 && json_array_append_new(list, json_stringn(text, word)) != 0)
                return -1;
            text += word + 1;
        }
        return 0;
    }
    if (json_is_string(claim))
        return json_array_append(list, (json_t *)claim);
    size_t i;
    json_t *value;
    json_array_foreach(claim, i, value)
    {
        if (json_is_string(value) && json_array_append(list, value) != 0)
            return -1;
    }
    return 0;
}

int mg_auth_introspection_judge(const mg_auth_t *auth, const json_t *answer, long scope, int64_t now,
                                mg_principal_t **out, int64_t *valid_until, mg_auth_refusal_t *refusal)
{
    const mg_config_auth_t *config = &auth->config->auth;
    if (!json_is_object(answer))
        return mg_auth_refuse(refusal, 503, NULL, "the introspection answer is not a JSON object");
    const json_t *active = json_object_get(answer, "active");
    if (!json_is_boolean(active))
        return mg_auth_refuse(refusal, 503, NULL, "the introspection answer has no boolean 'active'");
    if (!json_is_true(active))
        return mg_auth_refuse(refusal, 401, "invalid_token", "the authorization server says the token is not active");
    const json_t *aud = json_object_get(answer, "aud");
    if (aud == NULL)
        return mg_auth_refuse(refusal, 401, "invalid_token",
                              "the token names no audience: it was not issued for this gateway");
    if (!names_resource(auth, aud, scope))
        return mg_auth_refuse(refusal, 401, "invalid_token", "the token's audience is not this gateway's resource");
    int skew = MG_JWT_DEFAULT_CLOCK_SKEW_S;
    double exp = 0, nbf = 0;
    bool has_exp, has_nbf;
    if (get_date(answer, "exp", &exp, &has_exp, refusal) != 0 || get_date(answer, "nbf", &nbf, &has_nbf, refusal) != 0)
        return -1;
    if (has_exp && (double)now > exp + skew)
        return mg_auth_refuse(refusal, 401, "invalid_token", "the token expired %.0f s ago", (double)now - exp);
    if (has_nbf && (double)now + skew < nbf)
        return mg_auth_refuse(refusal, 401, "invalid_token", "the token is not valid for another %.0f s",
                              nbf - (double)now);
    const json_t *subject = json_object_get(answer, "sub");
    if (!json_is_string(subject) || json_string_length(subject) == 0)
        subject = json_object_get(answer, "client_id");
    if (!json_is_string(subject) || json_string_length(subject) == 0)
        return mg_auth_refuse(refusal, 401, "invalid_token", "the introspection answer names no subject or client");
    const json_t *issuer = json_object_get(answer, "iss");
    const char *issuer_name = json_is_string(issuer) && json_string_length(issuer) != 0 ? json_string_value(issuer)
                                                                                        : config->introspection.url;
    mg_principal_t *principal =
        mg_principal_create(MG_AUTH_INTROSPECTION, json_string_value(subject), issuer_name, NULL);
    if (principal == NULL)
        return mg_auth_refuse(refusal, 503, NULL, "out of memory");
    principal->claims = json_deep_copy(answer); /* its own copy: read by every worker (policy `claim:`) */
    if (principal->claims == NULL || add_strings(principal->groups, json_object_get(answer, "groups"), false) != 0 ||
        add_strings(principal->scopes, json_object_get(answer, "scope"), true) != 0) {
        mg_principal_release(principal);
        return mg_auth_refuse(refusal, 503, NULL, "out of memory");
    }
    int64_t until = now + config->introspection.cache_s;
    if (has_exp) {
        principal->expires_at = exp >= 9.2e18 ? INT64_MAX : (int64_t)floor(exp);
        if (principal->expires_at < until)
            until = principal->expires_at;
    }
    *valid_until = until > now ? until : -1; /* cache_s 0: not cached (mg_auth_accept) */
    *out = principal;
    return 0;
}

/* ---- the worker's side ---------------------------------------------------------------------- */

static int settle(mg_auth_waiter_t *waiter, void *arg, mg_principal_t **out, mg_auth_refusal_t *refusal)
{
    const job_t *job = arg;
    mg_worker_t *worker = waiter->worker;
    if (job->answer == NULL)
        return mg_auth_refuse(refusal, 503, NULL, "the token cannot be checked now: %s", job->error);
    mg_principal_t *principal;
    int64_t now = mg_auth_now(), valid_until;
    if (mg_auth_introspection_judge(worker->gateway->auth, job->answer, waiter->scope, now, &principal, &valid_until,
                                    refusal) != 0)
        return -1;
    return mg_auth_accept(worker, waiter->credential, waiter->scope, principal, valid_until, out, refusal);
}

static void take_answer(mg_worker_t *worker, void *arg)
{
    job_t *job = arg;
    mg_auth_wake(worker, MG_AUTH_WAIT_INTROSPECTION, job->id, settle, job);
    job_free(job);
}

int mg_auth_introspect(mg_worker_t *worker, h2o_iovec_t token, uint64_t *id, mg_auth_refusal_t *refusal)
{
    mg_auth_introspector_t *self = worker->gateway->auth->introspector;
    mg_auth_view_t *view = worker->auth_view;
    job_t *job = calloc(1, sizeof(*job));
    if (job == NULL || (job->token = malloc(token.len + 1)) == NULL) {
        free(job);
        return mg_auth_refuse(refusal, 503, NULL, "out of memory");
    }
    memcpy(job->token, token.base, token.len);
    job->token[token.len] = '\0';
    job->token_len = token.len;
    job->worker_index = worker->index;
    job->id = *id = ++view->next_job;
    pthread_mutex_lock(&self->lock);
    if (self->queued >= MG_AUTH_INTROSPECTION_QUEUE_MAX || self->stopping) {
        pthread_mutex_unlock(&self->lock);
        job_free(job);
        return mg_auth_refuse(refusal, 503, NULL, "too many tokens are waiting for introspection");
    }
    *self->tail = job;
    self->tail = &job->next;
    self->queued++;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

/* ---- the introspector's thread -------------------------------------------------------------- */

static void ask(mg_auth_introspector_t *self, job_t *job)
{
    const mg_config_auth_t *config = &self->auth->config->auth;
    char *form = NULL;
    mg_error_t err = {{0}};
    if (mg_fetch_form_add(&form, "token", job->token) != 0 ||
        mg_fetch_form_add(&form, "token_type_hint", "access_token") != 0) {
        snprintf(job->error, sizeof(job->error), "out of memory");
    } else {
        mg_fetch_request_t request = {.url = config->introspection.url,
                                      .form = form,
                                      .client_id = config->introspection.client_id,
                                      .client_secret = config->introspection.client_secret};
        if (mg_fetch_json(&request, &job->answer, &err) != 0) {
            job->answer = NULL;
            snprintf(job->error, sizeof(job->error), "%s", err.message);
            mg_log(MG_LOG_WARN, "auth.introspection_failed", "token introspection failed: %s", err.message);
        }
    }
    if (form != NULL) {
        sodium_memzero(form, strlen(form));
        free(form);
    }
    sodium_memzero(job->token, job->token_len);
    free(job->token);
    job->token = NULL;
}

static void *introspector_main(void *arg)
{
    mg_auth_introspector_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (self->head == NULL && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->stopping)
            break;
        job_t *job = self->head;
        if ((self->head = job->next) == NULL)
            self->tail = &self->head;
        self->queued--;
        pthread_mutex_unlock(&self->lock);
        job->next = NULL;
        ask(self, job);
        mg_worker_post(self->auth->gateway->workers[job->worker_index], take_answer, job);
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int mg_auth_introspector_start(mg_auth_t *auth, mg_error_t *err)
{
    if (auth->config->auth.introspection.url == NULL)
        return 0;
    mg_auth_introspector_t *self = calloc(1, sizeof(*self));
    if (self == NULL)
        return mg_error_set(err, "out of memory");
    self->auth = auth;
    self->tail = &self->head;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (pthread_create(&self->thread, NULL, introspector_main, self) != 0) {
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        free(self);
        return mg_error_set(err, "cannot start the introspection thread");
    }
    pthread_setname_np(self->thread, "mg-introspect");
    auth->introspector = self;
    return 0;
}

/* Joins the thread; the queue stays (and refuses new tokens) until mg_auth_introspector_free, since
 * workers may still look at it. */
void mg_auth_introspector_stop(mg_auth_t *auth)
{
    mg_auth_introspector_t *self = auth->introspector;
    if (self == NULL)
        return;
    pthread_mutex_lock(&self->lock);
    bool running = !self->stopping;
    self->stopping = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    if (running)
        pthread_join(self->thread, NULL);
}

void mg_auth_introspector_free(mg_auth_t *auth)
{
    mg_auth_introspector_t *self = auth->introspector;
    if (self == NULL)
        return;
    mg_auth_introspector_stop(auth);
    while (self->head != NULL) {
        job_t *job = self->head;
        self->head = job->next;
        job_free(job);
    }
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    auth->introspector = NULL;
}
