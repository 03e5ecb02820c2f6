/* events.c - see events.h. */
#include "http/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/stream.h"
#include "mcp/aggregate.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "obs/log.h"
#include "upstream/upstream.h"

typedef struct st_event_stream_t event_stream_t;

typedef struct st_listen_t {
    event_stream_t *owner;
    size_t server_index;
    uint64_t call;
} listen_t;

struct st_event_stream_t {
    h2o_linklist_t link; /* in worker->event_streams while the client is there */
    mg_worker_t *worker;
    mg_stream_t stream;
    long scope;
    mg_session_claims_t claims;
    h2o_timeout_entry_t keepalive;
    listen_t *listens;
    size_t listens_len;
    /* a modern subscriptions/listen stream: what the client opted in to, and its subscription id */
    json_t *filter;          /* owned; NULL for a legacy GET stream */
    json_t *subscription_id; /* owned: the listen request's JSON-RPC id */
};

/* Does a modern subscription want this notification? Only what the client opted in to passes. */
static bool wanted(const event_stream_t *events, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method == NULL)
        return false;
    static const struct {
        const char *method, *flag;
    } lists[] = {{"notifications/tools/list_changed", "toolsListChanged"},
                 {"notifications/prompts/list_changed", "promptsListChanged"},
                 {"notifications/resources/list_changed", "resourcesListChanged"}};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (strcmp(method, lists[i].method) == 0)
            return json_is_true(json_object_get(events->filter, lists[i].flag));
    }
    if (strcmp(method, "notifications/resources/updated") == 0) {
        const char *uri = json_string_value(json_object_get(json_object_get(msg, "params"), "uri"));
        json_t *uris = json_object_get(events->filter, "resourceSubscriptions");
        json_t *item;
        size_t index;
        json_array_foreach(uris, index, item)
        {
            if (uri != NULL && json_is_string(item) && strcmp(json_string_value(item), uri) == 0)
                return true;
        }
    }
    return false; /* request-scoped notifications (progress, log messages) never go on a listen stream */
}

static void tag(const event_stream_t *events, json_t *msg)
{
    json_t *params = json_object_get(msg, "params");
    if (params == NULL)
        json_object_set_new(msg, "params", params = json_object());
    json_t *meta = json_object_get(params, "_meta");
    if (!json_is_object(meta))
        json_object_set_new(params, "_meta", meta = json_object());
    json_object_set(meta, MG_META_SUBSCRIPTION_ID, events->subscription_id);
}

static void deliver(event_stream_t *events, size_t server_index, const json_t *msg)
{
    if (events->scope >= 0 && (size_t)events->scope != server_index)
        return;
    json_t *copy = json_deep_copy(msg);
    if (events->scope < 0)
        mg_aggregate_rewrite_notification(events->worker->gateway->config, server_index, copy);
    if (events->filter != NULL) {
        if (!wanted(events, copy)) {
            json_decref(copy);
            return;
        }
        tag(events, copy);
    }
    mg_stream_send_json(&events->stream, copy);
    json_decref(copy);
}

static void on_listen_message(void *ctx, json_t *msg)
{
    listen_t *listen = ctx;
    mg_aggregate_observe(listen->owner->worker, listen->server_index, msg);
    deliver(listen->owner, listen->server_index, msg);
}

static void on_listen_done(void *ctx, json_t *response, int error_code, const char *error_message)
{
    (void)response;
    listen_t *listen = ctx;
    listen->call = 0;
    mg_log(MG_LOG_DEBUG, "events.upstream_closed", "event stream of %s ended: %s (%d)",
           listen->owner->worker->gateway->config->servers[listen->server_index].name,
           error_message != NULL ? error_message : "closed", error_code);
}

static const mg_upstream_events_t listen_events = {on_listen_message, on_listen_done};

static void stop_listening(event_stream_t *events)
{
    for (size_t i = 0; i < events->listens_len; i++) {
        if (events->listens[i].call != 0) {
            mg_upstream_t *upstream = events->worker->upstreams[events->listens[i].server_index];
            upstream->ops->abandon(upstream, events->listens[i].call);
            events->listens[i].call = 0;
        }
    }
    if (h2o_timeout_is_linked(&events->keepalive))
        h2o_timeout_unlink(&events->keepalive);
    if (h2o_linklist_is_linked(&events->link))
        h2o_linklist_unlink(&events->link);
}

static void on_stream_stopped(mg_stream_t *stream, void *ctx)
{
    (void)stream;
    stop_listening(ctx);
}

static void on_request_disposed(void *slot)
{
    event_stream_t *events = *(event_stream_t **)slot;
    stop_listening(events);
    mg_stream_dispose(&events->stream);
    mg_session_claims_dispose(&events->claims);
    json_decref(events->filter);
    json_decref(events->subscription_id);
    free(events->listens);
    free(events);
}

static void on_keepalive(h2o_timeout_entry_t *entry)
{
    event_stream_t *events = H2O_STRUCT_FROM_MEMBER(event_stream_t, keepalive, entry);
    mg_stream_send_raw(&events->stream, ": keepalive\n\n", 13);
    h2o_timeout_link(events->worker->loop, &events->worker->keepalive_timeout, &events->keepalive);
}

static event_stream_t *events_open(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims,
                                   json_t *subscription_id, json_t *filter);

void mg_events_open(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims)
{
    events_open(worker, req, scope, claims, NULL, NULL);
}

/* What the gateway can honour of a filter: list flags some server in scope announces changes for,
 * and resource URIs that name a server (the client's own words otherwise). */
static json_t *honoured(mg_worker_t *worker, long scope, const json_t *filter)
{
    json_t *out = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)filter, key, value)
    {
        if (strcmp(key, "resourceSubscriptions") == 0 ? json_is_array(value) && json_array_size(value) > 0
                                                      : json_is_true(value))
            json_object_set(out, key, value);
    }
    (void)worker, (void)scope;
    return out;
}

void mg_events_listen(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims,
                      const json_t *id, const json_t *filter)
{
    json_t *accepted = honoured(worker, scope, filter);
    event_stream_t *events = events_open(worker, req, scope, claims, json_deep_copy(id), accepted);
    json_t *ack = mg_rpc_make_notification("notifications/subscriptions/acknowledged",
                                           json_pack("{s:O}", "notifications", accepted));
    tag(events, ack);
    mg_stream_send_json(&events->stream, ack);
    json_decref(ack);
}

static event_stream_t *events_open(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims,
                                   json_t *subscription_id, json_t *filter)
{
    mg_config_t *config = worker->gateway->config;
    event_stream_t *events = calloc(1, sizeof(*events));
    if (events == NULL)
        abort();
    events->worker = worker;
    events->scope = scope;
    events->subscription_id = subscription_id;
    events->filter = filter;
    events->claims = *claims;
    memset(claims, 0, sizeof(*claims));
    events->listens = calloc(config->servers_len + 1, sizeof(*events->listens));
    event_stream_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_request_disposed);
    *slot = events;
    h2o_linklist_insert(&worker->event_streams, &events->link);
    events->keepalive.cb = on_keepalive;
    mg_stream_start(&events->stream, req, on_stream_stopped, events);
    h2o_timeout_link(worker->loop, &worker->keepalive_timeout, &events->keepalive);

    for (size_t i = 0; i < config->servers_len; i++) {
        const char *upstream_session = mg_events_upstream_session(worker, &events->claims, config->servers[i].name);
        if ((scope >= 0 && (size_t)scope != i) || upstream_session == NULL)
            continue;
        mg_upstream_session_t session = {events->claims.sid, events->claims.protocol_version,
                                         events->claims.client_capabilities, upstream_session};
        listen_t *listen = &events->listens[events->listens_len];
        listen->owner = events;
        listen->server_index = i;
        mg_upstream_t *upstream = worker->upstreams[i];
        listen->call = upstream->ops->listen(upstream, &session, &listen_events, listen);
        if (listen->call != 0)
            events->listens_len++;
    }
    return events;
}

const char *mg_events_upstream_session(mg_worker_t *worker, const mg_session_claims_t *claims, const char *server)
{
    const char *id = json_string_value(json_object_get(claims->upstream_sessions, server));
    if (id == NULL && worker->late_sessions != NULL) {
        char key[128];
        snprintf(key, sizeof(key), "%s/%s", claims->sid, server);
        id = json_string_value(json_object_get(worker->late_sessions, key));
    }
    return id;
}

static void on_broadcast(mg_worker_t *worker, void *arg)
{
    mg_json_note_t *note = arg;
    mg_aggregate_observe(worker, note->server_index, note->msg);
    for (h2o_linklist_t *node = worker->event_streams.next; node != &worker->event_streams; node = node->next) {
        event_stream_t *events = H2O_STRUCT_FROM_MEMBER(event_stream_t, link, node);
        deliver(events, note->server_index, note->msg);
    }
    json_decref(note->msg);
    free(note);
}

void mg_events_broadcast(mg_gateway_t *gateway, size_t server_index, const json_t *msg)
{
    mg_worker_post_json_to_all(gateway, on_broadcast, server_index, msg);
}

void mg_events_close_all(mg_worker_t *worker)
{
    while (!h2o_linklist_is_empty(&worker->event_streams)) {
        event_stream_t *events = H2O_STRUCT_FROM_MEMBER(event_stream_t, link, worker->event_streams.next);
        stop_listening(events);
        if (events->subscription_id != NULL) { /* a graceful end of a modern subscription */
            json_t *done = mg_rpc_make_result(events->subscription_id,
                                              json_pack("{s:s,s:{s:O}}", "resultType", "complete", "_meta",
                                                        MG_META_SUBSCRIPTION_ID, events->subscription_id));
            mg_stream_send_json(&events->stream, done);
            json_decref(done);
        }
        mg_stream_close(&events->stream);
    }
}
