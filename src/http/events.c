/* events.c - see events.h. */
#include "http/events.h"

#include <stdlib.h>
#include <string.h>

#include "http/stream.h"
#include "mcp/aggregate.h"
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
};

static void deliver(event_stream_t *events, size_t server_index, const json_t *msg)
{
    if (events->scope >= 0 && (size_t)events->scope != server_index)
        return;
    json_t *copy = json_deep_copy(msg);
    if (events->scope < 0)
        mg_aggregate_rewrite_notification(events->worker->gateway->config, server_index, copy);
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
    free(events->listens);
    free(events);
}

static void on_keepalive(h2o_timeout_entry_t *entry)
{
    event_stream_t *events = H2O_STRUCT_FROM_MEMBER(event_stream_t, keepalive, entry);
    mg_stream_send_raw(&events->stream, ": keepalive\n\n", 13);
    h2o_timeout_link(events->worker->loop, &events->worker->keepalive_timeout, &events->keepalive);
}

void mg_events_open(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims)
{
    mg_config_t *config = worker->gateway->config;
    event_stream_t *events = calloc(1, sizeof(*events));
    if (events == NULL)
        abort();
    events->worker = worker;
    events->scope = scope;
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
        const char *upstream_session =
            json_string_value(json_object_get(events->claims.upstream_sessions, config->servers[i].name));
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
        mg_stream_close(&events->stream);
    }
}
