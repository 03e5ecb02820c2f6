/*
 * stdio.c - the stdio transport: per-worker handles and the owner's routing tables
 * (see stdio.h for the model).
 *
 * Thread rules: a `stdio_link_t` (one per worker) touches only its own worker's
 * state; the shared `stdio_shared_t` (process, pending calls, server requests) is
 * touched only on the owner's thread. They exchange closures via mg_worker_post, with
 * deep-copied JSON, because jansson values are not thread-safe.
 *
 * Era (stdio.mdx, "Backward Compatibility"): every new child is first sent
 * server/discover. A DiscoverResult makes it a modern server, ready at once, without
 * initialize; any other error, or silence for 3 s, makes it a legacy one, which is then
 * initialized as before (a late answer to the probe finds nobody waiting and is
 * dropped). The owner keeps the era and shapes each request for it, so the handles'
 * copies (published with the initialize result) are only for the dispatcher to read.
 */
#include "upstream/stdio.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/pins.h"
#include "guard/scrub.h"
#include "http/events.h"
#include "mcp/asked.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "mcp/versions.h"
#include "mcpgate_version.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "upstream/modern.h"
#include "upstream/stdio_process.h"

#define INIT_REQUEST_ID "mcpgate-initialize"
#define LISTEN_REQUEST_ID "mcpgate-listen"
#define DISCOVER_REQUEST_ID "mcpgate-discover"
#define DISCOVER_TIMEOUT_MS 3000 /* a legacy server may never answer an unknown pre-initialize request */

/* A call in flight at the owner. */
typedef struct st_pending_t {
    struct st_pending_t *next;
    int64_t upstream_id;
    size_t origin_worker;
    uint64_t call;
    json_t *client_id;      /* the id the gateway gave the request */
    json_t *progress_token; /* the original progress token, or NULL */
    char sid[33];
    json_t *client_capabilities;
    bool listen; /* a client's subscriptions/listen: what it gets carries upstream_id as its subscriptionId */
} pending_t;

/* A server-to-client request forwarded to a client, waiting for its answer. */
typedef struct st_server_request_t {
    struct st_server_request_t *next;
    uint64_t number;
    json_t *child_id;
    char sid[33];
} server_request_t;

typedef struct st_stdio_shared_t {
    stdio_process_t process;
    mg_gateway_t *gateway;
    pending_t *pending;
    server_request_t *server_requests;
    int64_t next_upstream_id;
    uint64_t next_server_request;
    mg_upstream_era_t era; /* of the running child; UNKNOWN until its probe is decided */
    h2o_timeout_t discover_timeout;
    h2o_timeout_entry_t discover_timer; /* armed while the probe waits */
} stdio_shared_t;

/* A call as its origin worker sees it. */
typedef struct st_local_call_t {
    struct st_local_call_t *next;
    uint64_t id;
    const mg_upstream_events_t *events;
    void *ctx;
    h2o_timeout_entry_t timeout; /* in call_timeout, or answer_timeout once the server asked the client */
    bool asked;
    struct st_stdio_link_t *link;
} local_call_t;

typedef struct st_stdio_link_t {
    mg_upstream_t super;
    stdio_shared_t *shared;
    bool owner;
    local_call_t *calls;
    uint64_t next_call;
    h2o_timeout_t call_timeout;
    h2o_timeout_t answer_timeout; /* a call whose server asked the client something */
} stdio_link_t;

/* Shared states are created by the first worker (the owner is chosen by index) and found by later ones. */
static stdio_shared_t **shared_by_server;
static size_t shared_by_server_len;

/* The owner may be a later worker than this handle's, so handles find the shared state on first use
 * (always after every worker was created: no call happens before the threads start). */
static stdio_shared_t *shared_of(stdio_link_t *link)
{
    if (link->shared == NULL)
        link->shared = shared_by_server[link->super.server_index];
    return link->shared;
}

static stdio_link_t *link_of(mg_worker_t *worker, size_t server_index)
{
    return (stdio_link_t *)worker->upstreams[server_index];
}

/* ---- origin side: deliveries from the owner --------------------------------------------------- */

typedef struct st_delivery_t {
    size_t server_index;
    uint64_t call;
    json_t *msg; /* owned */
    bool final;
    int error_code;
    char error_message[200];
} delivery_t;

static local_call_t *find_call(stdio_link_t *link, uint64_t id, bool unlink)
{
    for (local_call_t **at = &link->calls; *at != NULL; at = &(*at)->next) {
        if ((*at)->id == id) {
            local_call_t *call = *at;
            if (unlink)
                *at = call->next;
            return call;
        }
    }
    return NULL;
}

static void free_call(local_call_t *call)
{
    if (h2o_timeout_is_linked(&call->timeout))
        h2o_timeout_unlink(&call->timeout);
    free(call);
}

static void on_delivery(mg_worker_t *worker, void *arg)
{
    delivery_t *delivery = arg;
    stdio_link_t *link = worker->upstreams != NULL ? link_of(worker, delivery->server_index) : NULL;
    local_call_t *call = link != NULL ? find_call(link, delivery->call, delivery->final) : NULL;
    if (call != NULL) {
        if (!delivery->final) {
            if (json_object_get(delivery->msg, "method") != NULL && json_object_get(delivery->msg, "id") != NULL) {
                /* the server waits for the client now, and a person may take a while over a form */
                h2o_timeout_unlink(&call->timeout);
                h2o_timeout_link(worker->loop, &link->answer_timeout, &call->timeout);
                call->asked = true;
            }
            call->events->message(call->ctx, delivery->msg);
        } else {
            const mg_upstream_events_t *events = call->events;
            void *ctx = call->ctx;
            free_call(call);
            events->done(ctx, delivery->msg, delivery->error_code, delivery->error_message);
        }
    }
    json_decref(delivery->msg);
    free(delivery);
}

static void deliver(stdio_shared_t *shared, size_t worker_index, uint64_t call, json_t *msg /* stolen */, bool final,
                    int error_code, const char *error_message)
{
    delivery_t *delivery = calloc(1, sizeof(*delivery));
    if (delivery == NULL)
        abort();
    delivery->server_index = shared->process.server_index;
    delivery->call = call;
    delivery->msg = msg;
    delivery->final = final;
    delivery->error_code = error_code;
    if (error_message != NULL)
        snprintf(delivery->error_message, sizeof(delivery->error_message), "%s", error_message);
    mg_worker_post(shared->gateway->workers[worker_index], on_delivery, delivery);
}

/* ---- owner side: routing tables ------------------------------------------------------------------ */

static void free_pending(pending_t *pending)
{
    json_decref(pending->client_id);
    json_decref(pending->progress_token);
    json_decref(pending->client_capabilities);
    free(pending);
}

static pending_t *take_pending(stdio_shared_t *shared, bool (*match)(const pending_t *, const void *), const void *key)
{
    for (pending_t **at = &shared->pending; *at != NULL; at = &(*at)->next) {
        if (match(*at, key)) {
            pending_t *found = *at;
            *at = found->next;
            return found;
        }
    }
    return NULL;
}

static bool match_upstream_id(const pending_t *pending, const void *key)
{
    return pending->upstream_id == *(const int64_t *)key;
}

typedef struct st_call_key_t {
    size_t worker;
    uint64_t call;
} call_key_t;

static bool match_call(const pending_t *pending, const void *key)
{
    const call_key_t *call = key;
    return pending->origin_worker == call->worker && pending->call == call->call;
}

static void write_message(stdio_shared_t *shared, const json_t *msg)
{
    size_t len;
    char *text = mg_rpc_encode(msg, &len);
    if (text != NULL)
        stdio_process_write_line(&shared->process, text, len);
    free(text);
}

static void send_cancelled(stdio_shared_t *shared, int64_t upstream_id, const char *reason)
{
    json_t *msg = mg_rpc_make_notification(
        "notifications/cancelled", json_pack("{s:I,s:s}", "requestId", (json_int_t)upstream_id, "reason", reason));
    write_message(shared, msg);
    json_decref(msg);
}

/* A request to send, posted by an origin worker. */
typedef struct st_outgoing_t {
    stdio_shared_t *shared;
    size_t origin_worker;
    uint64_t call;
    json_t *request; /* owned */
    char sid[33];
    json_t *client_capabilities; /* owned, may be NULL */
    char log_level[16];          /* a modern child's logLevel for this request; "" for none */
    bool listen;                 /* a subscriptions/listen that stays open until cancelled */
} outgoing_t;

static void on_outgoing(mg_worker_t *owner, void *arg)
{
    (void)owner;
    outgoing_t *out = arg;
    stdio_shared_t *shared = out->shared;
    if (shared->process.state != STDIO_READY) {
        char message[160];
        snprintf(message, sizeof(message), "upstream %s is not running", shared->process.server->name);
        deliver(shared, out->origin_worker, out->call, NULL, true, MG_RPC_UPSTREAM_ERROR, message);
    } else {
        pending_t *pending = calloc(1, sizeof(*pending));
        pending->upstream_id = ++shared->next_upstream_id;
        pending->origin_worker = out->origin_worker;
        pending->call = out->call;
        pending->client_id = json_incref(json_object_get(out->request, "id"));
        pending->client_capabilities = out->client_capabilities;
        out->client_capabilities = NULL;
        pending->listen = out->listen;
        snprintf(pending->sid, sizeof(pending->sid), "%s", out->sid);
        json_object_set_new(out->request, "id", json_integer(pending->upstream_id));
        if (shared->era == MG_UPSTREAM_ERA_MODERN)
            mg_upstream_modern_set_meta(out->request, pending->client_capabilities,
                                        out->log_level[0] != '\0' ? out->log_level : NULL);
        json_t *meta = json_object_get(json_object_get(out->request, "params"), "_meta");
        json_t *token = json_object_get(meta, "progressToken");
        if (token != NULL) {
            /* tokens are unique per client, not across clients: give the child one of ours */
            pending->progress_token = json_incref(token);
            char ours[40];
            snprintf(ours, sizeof(ours), "mcpgate-%" PRId64, pending->upstream_id);
            json_object_set_new(meta, "progressToken", json_string(ours));
        }
        pending->next = shared->pending;
        shared->pending = pending;
        write_message(shared, out->request);
    }
    json_decref(out->request);
    json_decref(out->client_capabilities);
    free(out);
}

typedef struct st_cancel_t {
    stdio_shared_t *shared;
    call_key_t key;
} cancel_t;

static void on_cancel(mg_worker_t *owner, void *arg)
{
    (void)owner;
    cancel_t *cancel = arg;
    pending_t *pending = take_pending(cancel->shared, match_call, &cancel->key);
    if (pending != NULL) {
        send_cancelled(cancel->shared, pending->upstream_id, "the client is no longer waiting");
        free_pending(pending);
    }
    free(cancel);
}

/* A client's message for the child (its answer to a server request, or a notification). */
typedef struct st_forward_t {
    stdio_shared_t *shared;
    json_t *msg; /* owned */
    char sid[33];
} forward_t;

static void on_client_reply(mg_worker_t *owner, void *arg)
{
    (void)owner;
    forward_t *forward = arg;
    stdio_shared_t *shared = forward->shared;
    if (shared->era == MG_UPSTREAM_ERA_MODERN) {
        /* a modern server asks through InputRequiredResult, never with a request of its own */
        mg_log(MG_LOG_DEBUG, "upstream.reply_dropped", "%s is a modern server: a client's reply is dropped",
               shared->process.server->name);
        json_decref(forward->msg);
        free(forward);
        return;
    }
    mg_asked_id_t asked;
    uint64_t number = mg_asked_id_parse(json_string_value(json_object_get(forward->msg, "id")), &asked) &&
                              mg_asked_id_from(&asked, shared->process.server->name)
                          ? strtoull(asked.tail, NULL, 10)
                          : 0; /* 0: no request's number */
    for (server_request_t **at = &shared->server_requests; *at != NULL; at = &(*at)->next) {
        server_request_t *request = *at;
        if (request->number != number || strcmp(request->sid, forward->sid) != 0)
            continue; /* only the session the request went to may answer it */
        *at = request->next;
        json_object_set(forward->msg, "id", request->child_id);
        write_message(shared, forward->msg);
        json_decref(request->child_id);
        free(request);
        break;
    }
    json_decref(forward->msg);
    free(forward);
}

static bool match_client_request(const pending_t *pending, const void *key)
{
    const forward_t *forward = key;
    json_t *request_id = json_object_get(json_object_get(forward->msg, "params"), "requestId");
    return strcmp(pending->sid, forward->sid) == 0 && json_equal(pending->client_id, request_id);
}

static void on_client_notification(mg_worker_t *owner, void *arg)
{
    (void)owner;
    forward_t *forward = arg;
    const char *method = json_string_value(json_object_get(forward->msg, "method"));
    if (strcmp(method, "notifications/cancelled") == 0) {
        pending_t *pending = take_pending(forward->shared, match_client_request, forward);
        if (pending != NULL) {
            send_cancelled(forward->shared, pending->upstream_id, "cancelled by the client");
            deliver(forward->shared, pending->origin_worker, pending->call, NULL, true, MG_RPC_UPSTREAM_ERROR,
                    "request cancelled");
            free_pending(pending);
        }
    } else if (forward->shared->era == MG_UPSTREAM_ERA_MODERN) {
        /* 2026-07-28 defines no other client notification (roots/list_changed became MRTR) */
        mg_log(MG_LOG_DEBUG, "upstream.notification_dropped", "%s is a modern server: %.100s is not sent",
               forward->shared->process.server->name, method);
    } else if (forward->shared->process.state == STDIO_READY) {
        write_message(forward->shared, forward->msg);
    }
    json_decref(forward->msg);
    free(forward);
}

/* ---- owner side: what the child says ----------------------------------------------------------- */

static void answer_child(stdio_shared_t *shared, json_t *id, json_t *result, int error_code, const char *error_message)
{
    json_t *msg =
        result != NULL ? mg_rpc_make_result(id, result) : mg_rpc_make_error(id, error_code, error_message, NULL);
    write_message(shared, msg);
    json_decref(msg);
}

static void publish_server(stdio_shared_t *shared, const json_t *initialize_result, const json_t *discover_result);
static void on_discover_answer(stdio_shared_t *shared, mg_rpc_message_t *msg);

static void on_child_response(stdio_shared_t *shared, mg_rpc_message_t *msg)
{
    if (json_is_string(msg->id) && strcmp(json_string_value(msg->id), LISTEN_REQUEST_ID) == 0) {
        mg_log(msg->error != NULL ? MG_LOG_WARN : MG_LOG_INFO, "upstream.listen_ended",
               "%s ended the gateway's subscriptions/listen: %s", shared->process.server->name,
               msg->error != NULL ? "refused" : "complete");
        return;
    }
    if (json_is_string(msg->id) && strcmp(json_string_value(msg->id), DISCOVER_REQUEST_ID) == 0) {
        on_discover_answer(shared, msg);
        return;
    }
    if (json_is_string(msg->id) && strcmp(json_string_value(msg->id), INIT_REQUEST_ID) == 0) {
        if (msg->result == NULL) {
            mg_log(MG_LOG_ERROR, "upstream.initialize_failed", "%s refused initialize", shared->process.server->name);
            return;
        }
        json_t *initialized = mg_rpc_make_notification("notifications/initialized", NULL);
        write_message(shared, initialized);
        json_decref(initialized);
        shared->process.state = STDIO_READY;
        publish_server(shared, msg->result, NULL);
        atomic_store(&shared->process.ready, true);
        mg_log(MG_LOG_INFO, "upstream.ready", "%s is initialized (protocol %s)", shared->process.server->name,
               json_string_value(json_object_get(msg->result, "protocolVersion")));
        return;
    }
    if (!json_is_integer(msg->id))
        return;
    int64_t upstream_id = json_integer_value(msg->id);
    pending_t *pending = take_pending(shared, match_upstream_id, &upstream_id);
    if (pending == NULL)
        return; /* abandoned or cancelled: nobody waits */
    json_t *response = json_deep_copy(msg->root);
    /* a copy: the response goes to another worker while this thread frees the pending entry (a shared
     * reference would have two threads change one reference count) */
    json_object_set_new(response, "id", json_deep_copy(pending->client_id));
    deliver(shared, pending->origin_worker, pending->call, response, true, 0, NULL);
    free_pending(pending);
}

static bool match_progress_token(const pending_t *pending, const void *key)
{
    const char *token = key;
    char ours[40];
    snprintf(ours, sizeof(ours), "mcpgate-%" PRId64, pending->upstream_id);
    return pending->progress_token != NULL && strcmp(ours, token) == 0;
}

static void on_child_notification(stdio_shared_t *shared, mg_rpc_message_t *msg)
{
    if (strcmp(msg->method, "notifications/progress") == 0) {
        const char *token = json_string_value(json_object_get(msg->params, "progressToken"));
        for (pending_t *pending = shared->pending; token != NULL && pending != NULL; pending = pending->next) {
            if (match_progress_token(pending, token)) {
                json_t *copy = json_deep_copy(msg->root);
                json_object_set_new(json_object_get(copy, "params"), "progressToken",
                                    json_deep_copy(pending->progress_token)); /* crosses threads: a copy */
                deliver(shared, pending->origin_worker, pending->call, copy, false, 0, NULL);
                return;
            }
        }
        return;
    }
    if (strcmp(msg->method, "notifications/cancelled") == 0)
        return; /* the child gave up on one of our requests; its error response follows or not */
    json_t *subscription = json_object_get(json_object_get(msg->params, "_meta"), MG_META_SUBSCRIPTION_ID);
    if (json_is_integer(subscription)) { /* a client's listen (the gateway's own has a string id) */
        for (pending_t *pending = shared->pending; pending != NULL; pending = pending->next) {
            if (pending->listen && pending->upstream_id == json_integer_value(subscription)) {
                deliver(shared, pending->origin_worker, pending->call, json_deep_copy(msg->root), false, 0, NULL);
                break;
            }
        }
        return; /* or a listen nobody holds any more */
    }
    if (strcmp(msg->method, "notifications/subscriptions/acknowledged") == 0)
        return; /* of the gateway's own listen (listen_for_changes) */
    mg_events_broadcast(shared->gateway, shared->process.server_index, msg->root);
}

/* Which capability a client needs to answer a server request. */
static const char *needed_capability(const char *method)
{
    if (strncmp(method, "sampling/", 9) == 0)
        return "sampling";
    if (strncmp(method, "elicitation/", 12) == 0)
        return "elicitation";
    if (strncmp(method, "roots/", 6) == 0)
        return "roots";
    return NULL;
}

static void on_child_request(stdio_shared_t *shared, mg_rpc_message_t *msg)
{
    if (strcmp(msg->method, "ping") == 0) {
        answer_child(shared, msg->id, json_object(), 0, NULL);
        return;
    }
    const char *capability = needed_capability(msg->method);
    pending_t *target = NULL;
    /* the list is newest first: the most recent call whose client can answer */
    for (pending_t *pending = shared->pending; capability != NULL && pending != NULL && target == NULL;
         pending = pending->next) {
        if (json_object_get(pending->client_capabilities, capability) != NULL)
            target = pending;
    }
    if (target == NULL) {
        if (strcmp(msg->method, "roots/list") == 0) {
            answer_child(shared, msg->id, json_pack("{s:[]}", "roots"), 0, NULL);
        } else {
            char message[200];
            snprintf(message, sizeof(message), "no client connected to mcpgate can answer %.100s", msg->method);
            answer_child(shared, msg->id, NULL, MG_RPC_METHOD_NOT_FOUND, message);
        }
        return;
    }
    server_request_t *request = calloc(1, sizeof(*request));
    request->number = ++shared->next_server_request;
    request->child_id = json_incref(msg->id);
    snprintf(request->sid, sizeof(request->sid), "%s", target->sid);
    request->next = shared->server_requests;
    shared->server_requests = request;
    char number[24];
    snprintf(number, sizeof(number), "%" PRIu64, request->number);
    char *id = mg_asked_id_make(shared->process.server->name, msg->method, number);
    json_t *copy = json_deep_copy(msg->root);
    if (id == NULL || copy == NULL)
        abort(); /* out of memory */
    json_object_set_new(copy, "id", json_string(id));
    free(id);
    deliver(shared, target->origin_worker, target->call, copy, false, 0, NULL);
}

static void on_line(stdio_process_t *process, const char *line, size_t len)
{
    stdio_shared_t *shared = process->data;
    mg_rpc_message_t msg;
    mg_rpc_error_t error;
    if (mg_rpc_decode(line, len, 256, &msg, &error) != 0) {
        mg_log_fields(MG_LOG_WARN, "upstream.protocol_error", json_pack("{s:s}", "server", process->server->name),
                      "%s wrote something that is not a JSON-RPC message: %s", process->server->name, error.message);
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index,
                                  MG_METRICS_UPSTREAM_PROTOCOL);
        mg_rpc_error_dispose(&error);
        return;
    }
    /* Security invariant 6: every string the child wrote is scrubbed here, before anything reads it (the
     * era probe, the published initialize result, the catalog, routing) or any worker gets a copy; the
     * line's own bytes tell whether there is anything to scrub without walking the values. */
    mg_scrub_counts_t scrubbed = {0};
    if (!mg_scrub_json_text_is_clean(line, len) && mg_scrub_message(msg.root, &scrubbed) != 0) {
        mg_log_fields(MG_LOG_WARN, "upstream.protocol_error", json_pack("{s:s}", "server", process->server->name),
                      "%s wrote a message that could not be scrubbed (nested too deeply, or out of memory)",
                      process->server->name);
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index,
                                  MG_METRICS_UPSTREAM_PROTOCOL);
        mg_rpc_message_dispose(&msg);
        return;
    }
    mg_scrub_log(process->server->name, &scrubbed);
    if (scrubbed.strings != 0) {
        /* a changed string or key may have been one msg borrows (the method, a member dropped as a
         * duplicate of an earlier one's scrubbed key): classify the scrubbed message afresh */
        json_t *root = json_incref(msg.root);
        mg_rpc_message_dispose(&msg);
        int rc = mg_rpc_classify(root, &msg, &error);
        json_decref(root);
        if (rc != 0) {
            mg_log_fields(MG_LOG_WARN, "upstream.protocol_error", json_pack("{s:s}", "server", process->server->name),
                          "%s wrote a message that is not JSON-RPC once scrubbed: %s", process->server->name,
                          error.message);
            mg_rpc_error_dispose(&error);
            return;
        }
    }
    if (msg.kind == MG_RPC_RESPONSE)
        on_child_response(shared, &msg);
    else if (msg.kind == MG_RPC_NOTIFICATION)
        on_child_notification(shared, &msg);
    else
        on_child_request(shared, &msg);
    mg_rpc_message_dispose(&msg);
}

/* ---- owner side: the era probe and the legacy handshake --------------------------------------- */

static void send_initialize(stdio_shared_t *shared)
{
    shared->process.state = STDIO_INITIALIZING;
    json_t *params = json_pack("{s:s,s:{s:{},s:{},s:{s:b}},s:{s:s,s:s}}", "protocolVersion", "2025-11-25",
                               "capabilities", "sampling", "elicitation", "roots", "listChanged", 1, "clientInfo",
                               "name", "mcpgate", "version", MCPGATE_VERSION);
    json_t *id = json_string(INIT_REQUEST_ID);
    json_t *request = mg_rpc_make_request(id, "initialize", params);
    write_message(shared, request);
    json_decref(request);
    json_decref(id);
}

static void become_legacy(stdio_shared_t *shared, const char *how)
{
    shared->era = MG_UPSTREAM_ERA_LEGACY;
    mg_upstream_modern_log_era(shared->process.server->name, shared->era, how);
    send_initialize(shared);
}

/* A modern server tells of list changes only on a subscriptions/listen stream. The child is shared, as a
 * legacy one's notifications are, so the gateway holds one listen for it, for every list the server
 * says can change, and broadcasts what arrives (events.c tags it for each modern subscription). */
static void listen_for_changes(stdio_shared_t *shared, const json_t *capabilities)
{
    static const struct {
        const char *capability, *flag;
    } lists[] = {
        {"tools", "toolsListChanged"}, {"prompts", "promptsListChanged"}, {"resources", "resourcesListChanged"}};
    json_t *filter = json_object();
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (json_is_true(json_object_get(json_object_get(capabilities, lists[i].capability), "listChanged")))
            json_object_set_new(filter, lists[i].flag, json_true());
    }
    if (json_object_size(filter) == 0) {
        json_decref(filter);
        return;
    }
    json_t *id = json_string(LISTEN_REQUEST_ID);
    json_t *request = mg_rpc_make_request(id, "subscriptions/listen", json_pack("{s:o}", "notifications", filter));
    if (request != NULL && mg_upstream_modern_set_meta(request, NULL, NULL) == 0)
        write_message(shared, request);
    json_decref(request);
    json_decref(id);
}

static void on_discover_answer(stdio_shared_t *shared, mg_rpc_message_t *msg)
{
    const char *name = shared->process.server->name;
    if (shared->process.state != STDIO_DISCOVERING) {
        mg_log(MG_LOG_DEBUG, "upstream.late_discover", "%s answered server/discover after the fallback; dropped", name);
        return;
    }
    h2o_timeout_unlink(&shared->discover_timer);
    char why[300] = "";
    switch (mg_upstream_modern_judge(msg->root, why, sizeof(why))) {
    case MG_UPSTREAM_DISCOVER_MODERN: {
        shared->era = MG_UPSTREAM_ERA_MODERN;
        mg_upstream_modern_log_era(name, shared->era, "server/discover answered with a DiscoverResult");
        json_t *initialize_result = mg_upstream_modern_initialize_result(msg->result, name);
        if (initialize_result == NULL) {
            mg_log(MG_LOG_ERROR, "upstream.discover_failed", "%s: out of memory", name);
            return;
        }
        shared->process.state = STDIO_READY;
        publish_server(shared, initialize_result, msg->result);
        json_decref(initialize_result);
        atomic_store(&shared->process.ready, true);
        mg_log(MG_LOG_INFO, "upstream.ready", "%s is ready (protocol %s)", name, MG_VERSION_MODERN);
        listen_for_changes(shared, json_object_get(msg->result, "capabilities"));
        break;
    }
    case MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE:
        shared->era = MG_UPSTREAM_ERA_MODERN;
        mg_upstream_modern_log_era(name, shared->era, "server/discover answered with a modern error");
        shared->process.state = STDIO_REFUSED;
        mg_log(MG_LOG_ERROR, "upstream.incompatible", "%s cannot be used: %s", name, why);
        break;
    case MG_UPSTREAM_DISCOVER_LEGACY: {
        char how[200];
        snprintf(how, sizeof(how), "server/discover answered with error %" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(msg->error, "code")));
        become_legacy(shared, how);
        break;
    }
    }
}

static void on_discover_timeout(h2o_timeout_entry_t *entry)
{
    stdio_shared_t *shared = H2O_STRUCT_FROM_MEMBER(stdio_shared_t, discover_timer, entry);
    if (shared->process.state == STDIO_DISCOVERING)
        become_legacy(shared, "no answer to server/discover within 3 s");
}

static void on_started(stdio_process_t *process)
{
    stdio_shared_t *shared = process->data;
    process->state = STDIO_DISCOVERING;
    shared->era = MG_UPSTREAM_ERA_UNKNOWN;
    json_t *request = mg_upstream_modern_discover_request(DISCOVER_REQUEST_ID);
    write_message(shared, request);
    json_decref(request);
    h2o_timeout_link(process->owner->loop, &shared->discover_timeout, &shared->discover_timer);
}

/* Empties the routing tables; with a message, each pending call is answered with it first. */
static void drop_tables(stdio_shared_t *shared, const char *message)
{
    while (shared->pending != NULL) {
        pending_t *pending = shared->pending;
        shared->pending = pending->next;
        if (message != NULL)
            deliver(shared, pending->origin_worker, pending->call, NULL, true, MG_RPC_UPSTREAM_ERROR, message);
        free_pending(pending);
    }
    while (shared->server_requests != NULL) {
        server_request_t *request = shared->server_requests;
        shared->server_requests = request->next;
        json_decref(request->child_id);
        free(request);
    }
}

static void on_exited(stdio_process_t *process)
{
    stdio_shared_t *shared = process->data;
    if (h2o_timeout_is_linked(&shared->discover_timer))
        h2o_timeout_unlink(&shared->discover_timer);
    char message[160];
    snprintf(message, sizeof(message), "upstream %s exited before answering", process->server->name);
    drop_tables(shared, message);
}

static const stdio_process_callbacks_t process_callbacks = {on_line, on_started, on_exited};

/* ---- the server's picture (era, initialize result) for every worker's handle ----------------- */

static void on_server_update(mg_worker_t *worker, void *arg)
{
    mg_json_note_t *note = arg;
    mg_upstream_t *upstream = worker->upstreams != NULL ? worker->upstreams[note->server_index] : NULL;
    if (upstream != NULL) {
        json_decref(upstream->initialize_result);
        json_decref(upstream->discover_result);
        upstream->initialize_result = json_incref(json_object_get(note->msg, "initialize_result"));
        upstream->discover_result = json_incref(json_object_get(note->msg, "discover_result"));
        upstream->era = (mg_upstream_era_t)json_integer_value(json_object_get(note->msg, "era"));
        mg_pins_judge_instructions(worker, note->server_index);
    }
    json_decref(note->msg);
    free(note);
}

/* `discover_result` is NULL for a legacy server. */
static void publish_server(stdio_shared_t *shared, const json_t *initialize_result, const json_t *discover_result)
{
    json_t *picture = json_pack("{s:I, s:O, s:O*}", "era", (json_int_t)shared->era, "initialize_result",
                                initialize_result, "discover_result", discover_result);
    if (picture == NULL) {
        mg_log(MG_LOG_ERROR, "upstream.publish_failed", "%s: out of memory", shared->process.server->name);
        return;
    }
    mg_worker_post_json_to_all(shared->gateway, on_server_update, shared->process.server_index, picture);
    json_decref(picture);
}

/* ---- the mg_upstream_t interface ----------------------------------------------------------------- */

static void on_call_timeout(h2o_timeout_entry_t *entry)
{
    local_call_t *call = H2O_STRUCT_FROM_MEMBER(local_call_t, timeout, entry);
    stdio_link_t *link = call->link;
    find_call(link, call->id, true);
    cancel_t *cancel = malloc(sizeof(*cancel));
    cancel->shared = shared_of(link);
    cancel->key = (call_key_t){link->super.worker->index, call->id};
    mg_worker_post(shared_of(link)->process.owner, on_cancel, cancel);
    char message[160];
    if (call->asked)
        snprintf(message, sizeof(message), "upstream %s: the client did not answer its question within %d s",
                 link->super.server->name, MG_UPSTREAM_ANSWER_TIMEOUT_MS / 1000);
    else
        snprintf(message, sizeof(message), "upstream %s did not answer within %d ms", link->super.server->name,
                 link->super.server->timeout_ms);
    const mg_upstream_events_t *events = call->events;
    void *ctx = call->ctx;
    free(call);
    events->done(ctx, NULL, MG_RPC_UPSTREAM_TIMEOUT, message);
}

static bool stdio_ready(mg_upstream_t *self)
{
    stdio_shared_t *shared = shared_of((stdio_link_t *)self);
    return shared != NULL && atomic_load(&shared->process.ready);
}

/* A listen has no deadline: it lasts until the client leaves (abandon) or the child ends it. */
static uint64_t start_call(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *request,
                           const mg_upstream_events_t *events, void *ctx, bool listen)
{
    stdio_link_t *link = (stdio_link_t *)self;
    if (!stdio_ready(self))
        return 0;
    local_call_t *call = calloc(1, sizeof(*call));
    call->id = ++link->next_call;
    call->events = events;
    call->ctx = ctx;
    call->link = link;
    call->timeout.cb = on_call_timeout;
    call->next = link->calls;
    link->calls = call;
    if (!listen)
        h2o_timeout_link(self->worker->loop, &link->call_timeout, &call->timeout);

    outgoing_t *out = calloc(1, sizeof(*out));
    out->shared = shared_of(link);
    out->origin_worker = self->worker->index;
    out->call = call->id;
    out->request = json_deep_copy(request);
    out->listen = listen;
    snprintf(out->sid, sizeof(out->sid), "%s", session->sid != NULL ? session->sid : "");
    out->client_capabilities =
        session->client_capabilities != NULL ? json_deep_copy(session->client_capabilities) : NULL;
    snprintf(out->log_level, sizeof(out->log_level), "%s", session->log_level != NULL ? session->log_level : "");
    mg_worker_post(shared_of(link)->process.owner, on_outgoing, out);
    return call->id;
}

static uint64_t stdio_call(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *request,
                           const mg_upstream_events_t *events, void *ctx)
{
    return start_call(self, session, request, events, ctx, false);
}

static void stdio_abandon(mg_upstream_t *self, uint64_t id)
{
    stdio_link_t *link = (stdio_link_t *)self;
    local_call_t *call = find_call(link, id, true);
    if (call == NULL)
        return;
    free_call(call);
    cancel_t *cancel = malloc(sizeof(*cancel));
    cancel->shared = shared_of(link);
    cancel->key = (call_key_t){self->worker->index, id};
    mg_worker_post(shared_of(link)->process.owner, on_cancel, cancel);
}

static void post_forward(stdio_link_t *link, const mg_upstream_session_t *session, json_t *msg, mg_worker_fn fn)
{
    forward_t *forward = calloc(1, sizeof(*forward));
    forward->shared = shared_of(link);
    forward->msg = json_deep_copy(msg);
    snprintf(forward->sid, sizeof(forward->sid), "%s", session->sid != NULL ? session->sid : "");
    mg_worker_post(shared_of(link)->process.owner, fn, forward);
}

static void stdio_notify(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *notification)
{
    post_forward((stdio_link_t *)self, session, notification, on_client_notification);
}

static void stdio_reply(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *response)
{
    post_forward((stdio_link_t *)self, session, response, on_client_reply);
}

/* The child has one session, opened by the gateway; a client's initialize is answered from it. */
static uint64_t stdio_open_session(mg_upstream_t *self, const mg_upstream_session_t *session, json_t *request,
                                   const mg_upstream_events_t *events, void *ctx)
{
    (void)self, (void)session, (void)request, (void)events, (void)ctx;
    return 0;
}

/* A legacy child's unsolicited messages, and a modern one's list changes (listen_for_changes), go to the
 * hub; a modern child also gets a listen of the client's own for what the hub does not carry (the
 * resources it names), and what arrives tagged with that listen's id goes to that client alone. */
static uint64_t stdio_listen(mg_upstream_t *self, const mg_upstream_session_t *session,
                             const mg_upstream_events_t *events, void *ctx)
{
    if (self->era != MG_UPSTREAM_ERA_MODERN || session->listen_filter == NULL)
        return 0;
    json_t *id = json_string("mcpgate-client-listen");
    json_t *request =
        mg_rpc_make_request(id, "subscriptions/listen", json_pack("{s:O}", "notifications", session->listen_filter));
    uint64_t call = start_call(self, session, request, events, ctx, true);
    json_decref(request);
    json_decref(id);
    return call;
}

/* Only the owner's handle has a child to start; the others reach it by posting. */
static void stdio_start(mg_upstream_t *self)
{
    stdio_link_t *link = (stdio_link_t *)self;
    if (link->owner)
        stdio_process_start(&link->shared->process);
}

static void stdio_destroy(mg_upstream_t *self)
{
    stdio_link_t *link = (stdio_link_t *)self;
    while (link->calls != NULL) {
        local_call_t *call = link->calls;
        link->calls = call->next;
        free_call(call);
    }
    if (link->owner) {
        stdio_shared_t *shared = shared_of(link);
        drop_tables(shared, NULL); /* the loops have ended: nobody would run an answer */
        if (h2o_timeout_is_linked(&shared->discover_timer))
            h2o_timeout_unlink(&shared->discover_timer);
        h2o_timeout_dispose(shared->process.owner->loop, &shared->discover_timeout);
        stdio_process_dispose(&shared->process);
        shared_by_server[self->server_index] = NULL;
        free(shared);
    }
    json_decref(self->initialize_result);
    json_decref(self->discover_result);
    json_decref(self->tools);
    json_decref(self->held_tools);
    free(link);
}

static const mg_upstream_ops_t stdio_ops = {
    .call = stdio_call,
    .abandon = stdio_abandon,
    .notify = stdio_notify,
    .reply = stdio_reply,
    .open_session = stdio_open_session,
    .listen = stdio_listen,
    .ready = stdio_ready,
    .start = stdio_start,
    .destroy = stdio_destroy,
};

mg_upstream_t *mg_upstream_stdio_create(mg_worker_t *worker, const mg_config_server_t *server, size_t server_index,
                                        mg_error_t *err)
{
    (void)err;
    mg_gateway_t *gateway = worker->gateway;
    if (shared_by_server == NULL) {
        shared_by_server_len = gateway->config->servers_len;
        shared_by_server = calloc(shared_by_server_len + 1, sizeof(*shared_by_server));
    }
    stdio_link_t *link = calloc(1, sizeof(*link));
    link->super.ops = &stdio_ops;
    link->super.server = server;
    link->super.server_index = server_index;
    link->super.worker = worker;
    h2o_timeout_init(worker->loop, &link->call_timeout, (uint64_t)server->timeout_ms);
    h2o_timeout_init(worker->loop, &link->answer_timeout, MG_UPSTREAM_ANSWER_TIMEOUT_MS);
    size_t owner_index = server_index % gateway->workers_len;
    if (worker->index == owner_index) {
        stdio_shared_t *shared = calloc(1, sizeof(*shared));
        shared->gateway = gateway;
        stdio_process_init(&shared->process, worker, server, server_index, &process_callbacks);
        shared->process.data = shared;
        h2o_timeout_init(worker->loop, &shared->discover_timeout, DISCOVER_TIMEOUT_MS);
        shared->discover_timer.cb = on_discover_timeout;
        shared_by_server[server_index] = shared;
        link->shared = shared;
        link->owner = true;
    }
    return &link->super;
}

void mg_stdio_stop_owned(mg_worker_t *worker)
{
    for (size_t i = 0; i < shared_by_server_len; i++) {
        stdio_shared_t *shared = shared_by_server[i];
        if (shared != NULL && shared->process.owner == worker)
            stdio_process_stop(&shared->process);
    }
}

bool mg_stdio_owned_stopped(mg_worker_t *worker)
{
    for (size_t i = 0; i < shared_by_server_len; i++) {
        stdio_shared_t *shared = shared_by_server[i];
        if (shared != NULL && shared->process.owner == worker && !stdio_process_stopped(&shared->process))
            return false;
    }
    return true;
}
