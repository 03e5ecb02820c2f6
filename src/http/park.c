/* park.c - see park.h. */
#include "http/park.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/principal.h"
#include "http/front.h"
#include "mcp/asked.h"
#include "obs/log.h"

typedef enum en_role_t {
    ROLE_PARKED,  /* the original exchange: its upstream call waits for the client's answers */
    ROLE_WAITING, /* a retry: its HTTP request waits for what the parked exchange relays */
    ROLE_ASKING   /* a legacy client's call: a modern server's questions wait for its answers */
} role_t;

typedef struct st_mg_park_t {
    role_t role;
    mg_exchange_t *exchange;
    h2o_linklist_t link; /* worker->parked or worker->waiting */
    /* ROLE_PARKED */
    h2o_timeout_entry_t expiry;
    char id[33];
    json_t *pending; /* key -> {server, request}: asked by the server, not yet put to the client */
    json_t *asked;   /* key -> {server, request}: put to the client, answer awaited */
    json_t *held;    /* the final response that came while nobody listened */
    bool relaying;
    size_t relay_worker;
    uint64_t relay_id;
    /* ROLE_ASKING */
    mg_exchange_part_t *part;
    json_t *answers;        /* key -> the client's result */
    json_t *open_keys;      /* key -> true: asked, not answered yet */
    json_t *upstream_state; /* the server's requestState, or NULL */
    int rounds;
    /* ROLE_WAITING, ROLE_ASKING */
    uint64_t waiting_id;
    size_t parked_worker;
    char parked_id[33];
} mg_park_t;

/* Messages between workers. */
typedef struct st_resume_t {
    char parked_id[33];
    json_t *input_responses; /* owned deep copy */
    size_t from_worker;
    uint64_t waiting_id;
} resume_t;

typedef struct st_relay_t {
    uint64_t waiting_id;
    json_t *msg; /* owned deep copy */
    bool final;
    size_t parked_worker;
    char parked_id[33];
} relay_t;

typedef struct st_cancel_t {
    char parked_id[33];
} cancel_t;

static mg_park_t *find_parked(mg_worker_t *worker, const char *id)
{
    for (h2o_linklist_t *at = worker->parked.next; at != &worker->parked; at = at->next) {
        mg_park_t *park = H2O_STRUCT_FROM_MEMBER(mg_park_t, link, at);
        if (strcmp(park->id, id) == 0)
            return park;
    }
    return NULL;
}

static mg_park_t *find_waiting(mg_worker_t *worker, uint64_t id, role_t role)
{
    for (h2o_linklist_t *at = worker->waiting.next; at != &worker->waiting; at = at->next) {
        mg_park_t *park = H2O_STRUCT_FROM_MEMBER(mg_park_t, link, at);
        if (park->waiting_id == id && park->role == role)
            return park;
    }
    return NULL;
}

static void park_dispose(mg_park_t *park)
{
    if (h2o_linklist_is_linked(&park->link))
        h2o_linklist_unlink(&park->link);
    if (h2o_timeout_is_linked(&park->expiry))
        h2o_timeout_unlink(&park->expiry);
    json_decref(park->pending);
    json_decref(park->asked);
    json_decref(park->held);
    json_decref(park->answers);
    json_decref(park->open_keys);
    json_decref(park->upstream_state);
    park->exchange->park = NULL;
    free(park);
}

/* ---- the relay: the parked exchange's output goes to the retry's HTTP request -------------- */

static void on_relayed(mg_worker_t *worker, void *arg);

static void relay(mg_park_t *park, json_t *msg, bool final)
{
    relay_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->waiting_id = park->relay_id;
    r->msg = json_deep_copy(msg);
    r->final = final;
    r->parked_worker = park->exchange->worker->index;
    snprintf(r->parked_id, sizeof(r->parked_id), "%s", park->id);
    mg_worker_post(park->exchange->worker->gateway->workers[park->relay_worker], on_relayed, r);
}

static void relay_error(mg_worker_t *to, uint64_t waiting_id, int code, const char *message)
{
    relay_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->waiting_id = waiting_id;
    r->msg = mg_rpc_make_error(NULL, code, message, NULL);
    r->final = true;
    mg_worker_post(to, on_relayed, r);
}

static void on_cancel(mg_worker_t *worker, void *arg);

static void post_cancel(mg_worker_t *from, size_t parked_worker, const char *parked_id)
{
    cancel_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    snprintf(c->parked_id, sizeof(c->parked_id), "%s", parked_id);
    mg_worker_post(from->gateway->workers[parked_worker], on_cancel, c);
}

/* The retry's progress token replaces the original request's; without one, progress is dropped. */
static bool adapt_to_retry(mg_exchange_t *retry, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method == NULL || strcmp(method, "notifications/progress") != 0)
        return true;
    json_t *meta = retry->meta_object != NULL ? retry->meta_object : json_object_get(retry->message.params, "_meta");
    json_t *token = json_object_get(meta, "progressToken");
    if (token == NULL)
        return false;
    json_object_set(json_object_get(msg, "params"), "progressToken", token);
    return true;
}

static void on_relayed(mg_worker_t *worker, void *arg)
{
    relay_t *r = arg;
    mg_park_t *waiting = find_waiting(worker, r->waiting_id, ROLE_WAITING);
    if (waiting == NULL) {
        /* the retry's client is gone: closing its stream cancels the parked call */
        if (!r->final && r->parked_id[0] != '\0')
            post_cancel(worker, r->parked_worker, r->parked_id);
    } else if (r->final) {
        mg_exchange_t *retry = waiting->exchange;
        park_dispose(waiting);
        json_object_set(r->msg, "id", retry->message.id);
        mg_exchange_finish(retry, r->msg);
    } else if (adapt_to_retry(waiting->exchange, r->msg)) {
        mg_exchange_send_message(waiting->exchange, r->msg);
    }
    json_decref(r->msg);
    free(r);
}

/* ---- parking ------------------------------------------------------------------------------ */

static void drop_parked(mg_park_t *park, const char *why)
{
    mg_exchange_t *exchange = park->exchange;
    mg_log_as(MG_LOG_INFO, "mrtr.dropped", exchange->principal->name, "parked %s call %s dropped: %s",
              exchange->message.method, park->id, why);
    if (park->relaying)
        relay_error(exchange->worker->gateway->workers[park->relay_worker], park->relay_id, MG_RPC_INTERNAL_ERROR, why);
    park_dispose(park);
    mg_front_release(exchange);
}

static void on_expired(h2o_timeout_entry_t *entry)
{
    mg_park_t *park = H2O_STRUCT_FROM_MEMBER(mg_park_t, expiry, entry);
    drop_parked(park, "the client did not answer in time");
}

static mg_park_t *park_exchange(mg_exchange_t *exchange)
{
    if (exchange->park != NULL)
        return exchange->park;
    mg_park_t *park = calloc(1, sizeof(*park));
    if (park == NULL)
        abort();
    park->role = ROLE_PARKED;
    park->exchange = exchange;
    unsigned char random[16];
    randombytes_buf(random, sizeof(random));
    sodium_bin2hex(park->id, sizeof(park->id), random, sizeof(random));
    park->pending = json_object();
    park->asked = json_object();
    park->expiry.cb = on_expired;
    h2o_linklist_insert(&exchange->worker->parked, &park->link);
    h2o_timeout_link(exchange->worker->loop, &exchange->worker->park_timeout, &park->expiry);
    exchange->park = park;
    return park;
}

/* Puts every pending question to the client: an InputRequiredResult as the final answer of the
 * request that listens (the original one, or the retry the park relays to). */
static void ask(mg_park_t *park)
{
    mg_exchange_t *exchange = park->exchange;
    mg_mrtr_request_t request = {exchange->claims.principal, exchange->message.method,
                                 mg_mrtr_target(exchange->message.params)};
    char *state = mg_mrtr_seal_park(&exchange->worker->gateway->session_key, &request, exchange->worker->index,
                                    park->id, (int64_t)time(NULL));
    json_t *input_requests = json_object();
    const char *key;
    json_t *entry;
    json_object_foreach(park->pending, key, entry)
    {
        json_object_set(input_requests, key, json_object_get(entry, "request"));
        json_object_set(park->asked, key, entry);
    }
    json_object_clear(park->pending);
    json_t *result = json_pack("{s:s,s:o,s:s*}", "resultType", "input_required", "inputRequests", input_requests,
                               "requestState", state);
    free(state);
    json_t *response = mg_rpc_make_result(exchange->message.id, result);
    if (park->relaying) {
        park->relaying = false;
        relay(park, response, true);
    } else {
        mg_front_finish_keep_calls(exchange, response);
    }
    json_decref(response);
}

static bool listening(const mg_park_t *park)
{
    return park->relaying || mg_front_attached(park->exchange);
}

static const char *capability_for(const char *method)
{
    if (strcmp(method, "elicitation/create") == 0)
        return "elicitation";
    if (strcmp(method, "sampling/createMessage") == 0)
        return "sampling";
    if (strcmp(method, "roots/list") == 0)
        return "roots";
    return NULL;
}

static bool supports_input_required(const char *method)
{
    return strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
           strcmp(method, "resources/read") == 0;
}

bool mg_park_server_request(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (!exchange->modern || method == NULL || id == NULL)
        return false;
    if (strcmp(method, "ping") == 0) {
        mg_exchange_answer_server(exchange, part->server_index, id, mg_rpc_make_result(id, json_object()));
        return true;
    }
    const char *capability = capability_for(method);
    char why[200];
    if (capability == NULL || !supports_input_required(exchange->message.method) || !json_is_string(id) ||
        !mg_modern_client_can(&exchange->meta, capability)) {
        snprintf(why, sizeof(why), "the client cannot answer %.60s during %.60s", method, exchange->message.method);
        mg_exchange_answer_server(exchange, part->server_index, id,
                                  mg_rpc_make_error(id, MG_RPC_METHOD_NOT_FOUND, why, NULL));
        return true;
    }
    if (exchange->park != NULL && !listening(exchange->park)) {
        /* Nobody listens for this call now. Over a shared stdio process the question may well be another
         * client's (the transport routes by capability, not by call): holding it here would put it to
         * the wrong client on the next retry, so the server is told no. */
        snprintf(why, sizeof(why), "the client of this call is not connected; %.60s refused", method);
        mg_exchange_answer_server(exchange, part->server_index, id,
                                  mg_rpc_make_error(id, MG_RPC_METHOD_NOT_FOUND, why, NULL));
        return true;
    }
    mg_park_t *park = park_exchange(exchange);
    json_t *request = json_pack("{s:s,s:O*}", "method", method, "params", json_object_get(msg, "params"));
    json_object_set_new(park->pending, json_string_value(id),
                        json_pack("{s:I,s:o}", "server", (json_int_t)part->server_index, "request", request));
    if (listening(park))
        ask(park);
    return true;
}

bool mg_park_output(mg_exchange_t *exchange, json_t *msg, bool final)
{
    mg_park_t *park = exchange->park;
    if (park == NULL || park->role != ROLE_PARKED)
        return false;
    if (park->relaying) {
        relay(park, msg, final);
        if (final) {
            park->relaying = false;
            park_dispose(park);
            mg_front_release(exchange);
        }
        return true;
    }
    if (mg_front_attached(exchange))
        return false; /* the original request still listens */
    if (final && park->held == NULL)
        park->held = json_deep_copy(msg);
    return true; /* nobody listens: notifications are lost, as on a broken modern stream */
}

/* ---- resuming ----------------------------------------------------------------------------- */

static void on_resume(mg_worker_t *worker, void *arg)
{
    resume_t *r = arg;
    mg_worker_t *from = worker->gateway->workers[r->from_worker];
    mg_park_t *park = find_parked(worker, r->parked_id);
    if (park == NULL || park->relaying) {
        relay_error(from, r->waiting_id, MG_RPC_INVALID_PARAMS,
                    park == NULL ? "Invalid requestState: the request it continues has ended or expired"
                                 : "Invalid requestState: the request it continues is being resumed by another retry");
        goto out;
    }
    park->relaying = true;
    park->relay_worker = r->from_worker;
    park->relay_id = r->waiting_id;
    h2o_timeout_unlink(&park->expiry);
    h2o_timeout_link(worker->loop, &worker->park_timeout, &park->expiry);
    /* answers go to the server; questions left unanswered are asked again */
    const char *key;
    json_t *entry, *tmp;
    json_object_foreach_safe(park->asked, tmp, key, entry)
    {
        json_t *answer = json_object_get(r->input_responses, key);
        if (answer != NULL) {
            size_t server = (size_t)json_integer_value(json_object_get(entry, "server"));
            json_t *id = json_string(key);
            mg_exchange_answer_server(park->exchange, server, id, mg_rpc_make_result(id, json_incref(answer)));
            json_decref(id);
        } else {
            json_object_set(park->pending, key, entry);
        }
        json_object_del(park->asked, key);
    }
    if (park->held != NULL) {
        json_t *held = park->held;
        park->held = NULL;
        mg_park_output(park->exchange, held, true);
        json_decref(held);
    } else if (json_object_size(park->pending) > 0) {
        ask(park);
    }
out:
    json_decref(r->input_responses);
    free(r);
}

void mg_exchange_resume(mg_exchange_t *retry, const mg_mrtr_state_t *state)
{
    mg_worker_t *worker = retry->worker;
    if (state->worker >= worker->gateway->workers_len) {
        mg_exchange_finish_error(retry, MG_RPC_INVALID_PARAMS, "Invalid requestState: malformed", NULL);
        return;
    }
    mg_park_t *waiting = calloc(1, sizeof(*waiting));
    if (waiting == NULL)
        abort();
    waiting->role = ROLE_WAITING;
    waiting->exchange = retry;
    waiting->waiting_id = ++worker->next_waiting_id;
    waiting->parked_worker = state->worker;
    snprintf(waiting->parked_id, sizeof(waiting->parked_id), "%s", state->parked_id);
    h2o_linklist_insert(&worker->waiting, &waiting->link);
    retry->park = waiting;

    resume_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    snprintf(r->parked_id, sizeof(r->parked_id), "%s", state->parked_id);
    json_t *responses = json_object_get(retry->message.params, "inputResponses");
    r->input_responses = json_is_object(responses) ? json_deep_copy(responses) : json_object();
    r->from_worker = worker->index;
    r->waiting_id = waiting->waiting_id;
    mg_worker_post(worker->gateway->workers[state->worker], on_resume, r);
}

static void on_cancel(mg_worker_t *worker, void *arg)
{
    cancel_t *c = arg;
    mg_park_t *park = find_parked(worker, c->parked_id);
    if (park != NULL) {
        park->relaying = false;
        drop_parked(park, "the client closed the retry's stream");
    }
    free(c);
}

bool mg_park_keeps(const mg_exchange_t *exchange)
{
    return exchange->park != NULL && exchange->park->role == ROLE_PARKED;
}

void mg_park_forget(mg_exchange_t *exchange)
{
    mg_park_t *park = exchange->park;
    if (park == NULL)
        return;
    if (park->role == ROLE_WAITING)
        post_cancel(exchange->worker, park->parked_worker, park->parked_id);
    park_dispose(park);
}

void mg_park_worker_init(mg_worker_t *worker)
{
    h2o_linklist_init_anchor(&worker->parked);
    h2o_linklist_init_anchor(&worker->waiting);
    h2o_timeout_init(worker->loop, &worker->park_timeout, (uint64_t)MG_MRTR_TTL_S * 1000);
}

void mg_park_worker_stop(mg_worker_t *worker)
{
    while (!h2o_linklist_is_empty(&worker->parked)) {
        mg_park_t *park = H2O_STRUCT_FROM_MEMBER(mg_park_t, link, worker->parked.next);
        drop_parked(park, "the gateway is stopping");
    }
}

/* ---- a modern server asks a legacy client ------------------------------------------------- */

#define MAX_ASK_ROUNDS 10

typedef struct st_answer_t {
    uint64_t serial;
    char sid[33];
    char *key;
    json_t *response; /* owned deep copy of the client's JSON-RPC response */
} answer_t;

/* All questions answered: the server gets its request again, with the answers and its state. */
static void ask_again(mg_park_t *park)
{
    mg_exchange_t *exchange = park->exchange;
    json_t *request = json_deep_copy(park->part->request);
    json_t *params = json_object_get(request, "params");
    json_object_set(params, "inputResponses", park->answers);
    if (park->upstream_state != NULL)
        json_object_set(params, "requestState", park->upstream_state);
    else
        json_object_del(params, "requestState");
    char id[48];
    snprintf(id, sizeof(id), "mcpgate-mrtr-%d", park->rounds); /* a retry is a new request: a new id */
    json_object_set_new(request, "id", json_string(id));
    int rc = mg_exchange_call_again(exchange, park->part, request);
    json_decref(request);
    if (rc != 0)
        mg_exchange_finish_error(exchange, MG_RPC_UPSTREAM_ERROR, "upstream is not available", NULL);
}

void mg_exchange_ask(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *result)
{
    mg_park_t *park = exchange->park;
    if (park == NULL) {
        if ((park = calloc(1, sizeof(*park))) == NULL)
            abort();
        park->role = ROLE_ASKING;
        park->exchange = exchange;
        park->waiting_id = ++exchange->worker->next_waiting_id;
        h2o_linklist_insert(&exchange->worker->waiting, &park->link);
        exchange->park = park;
    }
    if (part->request == NULL || ++park->rounds > MAX_ASK_ROUNDS) {
        mg_exchange_finish_error(exchange, MG_RPC_UPSTREAM_ERROR, "the server kept asking for more input", NULL);
        return;
    }
    park->part = part;
    json_decref(park->answers);
    json_decref(park->open_keys);
    json_decref(park->upstream_state);
    park->answers = json_object();
    park->open_keys = json_object();
    park->upstream_state = json_incref(json_object_get(result, "requestState"));
    const char *key;
    json_t *question;
    json_object_foreach(json_object_get(result, "inputRequests"), key, question)
    {
        const char *method = json_string_value(json_object_get(question, "method"));
        if (method == NULL)
            continue;
        char tail[480];
        snprintf(tail, sizeof(tail), "%zu:%llu:%.400s", exchange->worker->index, (unsigned long long)park->waiting_id,
                 key);
        char *id = mg_asked_id_make(MG_ASKED_BRIDGE, method, tail);
        if (id == NULL)
            abort(); /* out of memory */
        json_t *request_id = json_string(id);
        free(id);
        json_t *request = mg_rpc_make_request(request_id, method, json_incref(json_object_get(question, "params")));
        json_decref(request_id);
        json_object_set_new(park->open_keys, key, json_true());
        mg_exchange_send_message(exchange, request);
        json_decref(request);
    }
    if (json_object_size(park->open_keys) == 0)
        ask_again(park);
}

static void on_answer(mg_worker_t *worker, void *arg)
{
    answer_t *a = arg;
    mg_park_t *park = find_waiting(worker, a->serial, ROLE_ASKING);
    /* only the session that was asked may answer, and each question once */
    if (park != NULL && strcmp(park->exchange->claims.sid, a->sid) == 0 &&
        json_object_get(park->open_keys, a->key) != NULL) {
        json_t *error = json_object_get(a->response, "error");
        if (error != NULL) {
            json_t *code = json_object_get(error, "code");
            const char *message = json_string_value(json_object_get(error, "message"));
            char text[300];
            snprintf(text, sizeof(text), "the client refused the server's %s: %.200s", a->key,
                     message != NULL ? message : "error");
            mg_exchange_finish_error(park->exchange,
                                     json_is_integer(code) ? (int)json_integer_value(code) : MG_RPC_INTERNAL_ERROR,
                                     text, NULL);
        } else {
            json_object_set(park->answers, a->key, json_object_get(a->response, "result"));
            json_object_del(park->open_keys, a->key);
            if (json_object_size(park->open_keys) == 0)
                ask_again(park);
        }
    }
    json_decref(a->response);
    free(a->key);
    free(a);
}

void mg_exchange_answer(mg_exchange_t *exchange, const char *tail, const json_t *response)
{
    const char *p = tail;
    char *end;
    unsigned long long worker_index = strtoull(p, &end, 10);
    if (end == p || *end != ':')
        return;
    p = end + 1;
    unsigned long long serial = strtoull(p, &end, 10);
    if (end == p || *end != ':' || worker_index >= exchange->worker->gateway->workers_len || !exchange->has_session)
        return; /* not an id the gateway made: dropped like any unknown answer */
    answer_t *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->key = strdup(end + 1)) == NULL)
        abort();
    a->serial = serial;
    snprintf(a->sid, sizeof(a->sid), "%s", exchange->claims.sid);
    a->response = json_deep_copy(response);
    mg_worker_post(exchange->worker->gateway->workers[worker_index], on_answer, a);
}
