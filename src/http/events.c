/* events.c - see events.h. */
#include "http/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/front.h"
#include "http/late_sessions.h"
#include "http/stream.h"
#include "mcp/aggregate.h"
#include "mcp/inspect.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "mcp/naming.h"
#include "mcp/tasks.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "upstream/upstream.h"

typedef struct st_event_stream_t event_stream_t;

typedef struct st_listen_t {
    event_stream_t *owner;
    size_t server_index;
    uint64_t call;
    json_t *task_handles; /* a modern server's listen: its taskId -> the handle the client listed; owned */
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
    if (strcmp(method, "notifications/tasks") == 0) {
        const char *handle = json_string_value(json_object_get(json_object_get(msg, "params"), "taskId"));
        json_t *item;
        size_t index;
        json_array_foreach(json_object_get(events->filter, "taskIds"), index, item)
        {
            if (handle != NULL && json_is_string(item) && strcmp(json_string_value(item), handle) == 0)
                return true;
        }
        return false;
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
    const mg_config_t *config = events->worker->gateway->config;
    if (!mg_inspect_event(events->worker, config, server_index, copy)) { /* a guard stopped it (logged) */
        json_decref(copy);
        return;
    }
    if (events->scope < 0)
        mg_aggregate_rewrite_notification(config, server_index, copy);
    if (events->filter != NULL) {
        if (!wanted(events, copy)) {
            json_decref(copy);
            return;
        }
        tag(events, copy);
    } else { /* a legacy client: a modern server's subscription id means nothing to it */
        json_object_del(json_object_get(json_object_get(copy, "params"), "_meta"), MG_META_SUBSCRIPTION_ID);
    }
    mg_stream_send_json(&events->stream, copy);
    json_decref(copy);
}

/* A task's status from a modern server's listen stream, as the client knows the task: under the handle
 * it listed (and, on /mcp, with a completed result renamed like a tools/call's). */
static void deliver_task(listen_t *listen, const json_t *msg)
{
    json_t *params = json_object_get(msg, "params");
    const char *task_id = json_string_value(json_object_get(params, "taskId"));
    json_t *handle = task_id != NULL ? json_object_get(listen->task_handles, task_id) : NULL;
    if (handle == NULL)
        return; /* not a task this client listed */
    json_t *copy = json_deep_copy(msg);
    json_t *copy_params = json_object_get(copy, "params");
    json_object_set(copy_params, "taskId", handle);
    json_t *result = json_object_get(copy_params, "result");
    if (listen->owner->scope < 0 && json_is_object(result)) {
        json_t *wrapper = json_pack("{s:O}", "result", result);
        mg_aggregate_rewrite_result(listen->owner->worker->gateway->config, listen->server_index, "tools/call",
                                    wrapper);
        json_decref(wrapper);
    }
    deliver(listen->owner, listen->server_index, copy);
    json_decref(copy);
}

static void on_listen_message(void *ctx, json_t *msg)
{
    listen_t *listen = ctx;
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method != NULL && strcmp(method, "notifications/subscriptions/acknowledged") == 0)
        return; /* a modern server's acknowledgement: the client got the gateway's own */
    if (method != NULL && strcmp(method, "notifications/tasks") == 0) {
        deliver_task(listen, msg);
        return;
    }
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
    if (h2o_linklist_is_linked(&events->link)) {
        h2o_linklist_unlink(&events->link);
        mg_metrics_gauge_add(events->worker->gateway->metrics, MG_METRICS_EVENT_STREAMS, -1);
    }
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
    for (size_t i = 0; i < events->listens_len; i++)
        json_decref(events->listens[i].task_handles);
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

/* A handle a client listed in taskIds: the server (index) and its own taskId (new reference) when it is
 * this principal's, in scope, and its server a modern one. */
static json_t *open_task_handle(mg_worker_t *worker, long scope, const mg_session_claims_t *claims,
                                const json_t *handle, size_t *server_index)
{
    char server[128], why[160];
    json_t *task_id = NULL;
    if (!json_is_string(handle) ||
        mg_tasks_open(&worker->gateway->session_key, claims->principal, json_string_value(handle),
                      json_string_length(handle), server, sizeof(server), &task_id, why, sizeof(why)) != 0)
        return NULL;
    const mg_config_server_t *found = mg_config_find_server(worker->gateway->config, server);
    long index = found != NULL ? (long)(found - worker->gateway->config->servers) : -1;
    if (index < 0 || (scope >= 0 && index != scope) || worker->upstreams[index]->era != MG_UPSTREAM_ERA_MODERN) {
        json_decref(task_id);
        return NULL;
    }
    *server_index = (size_t)index;
    return task_id;
}

/* Can the gateway watch a resource of this server for a subscription? A modern server takes the URIs in
 * a listen of the client's own, a legacy one that declares resources.subscribe gets resources/subscribe. */
static bool can_watch_resources(mg_worker_t *worker, size_t server_index)
{
    const mg_upstream_t *upstream = worker->upstreams[server_index];
    if (upstream->era == MG_UPSTREAM_ERA_MODERN)
        return true;
    json_t *resources = json_object_get(json_object_get(upstream->initialize_result, "capabilities"), "resources");
    return json_is_true(json_object_get(resources, "subscribe"));
}

/* The resource URIs a subscription names on one server, as that server knows them (on /mcp the public
 * URIs are prefixed with the server's name); a new array. */
static json_t *local_uris(const mg_config_t *config, long scope, const json_t *filter, size_t server_index)
{
    json_t *uris = json_array();
    json_t *item;
    size_t index;
    json_array_foreach(json_object_get(filter, "resourceSubscriptions"), index, item)
    {
        size_t owner;
        const char *local = json_string_value(item);
        if (local != NULL &&
            (scope >= 0 ? (size_t)scope == server_index
                        : mg_naming_split_uri(config, local, &owner, &local) == 0 && owner == server_index))
            json_array_append_new(uris, json_string(local));
    }
    return uris;
}

/* The resource URIs of a filter the gateway can watch (see can_watch_resources); a new array. */
static json_t *watchable_uris(mg_worker_t *worker, long scope, const json_t *uris)
{
    json_t *out = json_array();
    json_t *item;
    size_t index;
    json_array_foreach(uris, index, item)
    {
        size_t owner;
        const char *local;
        if (!json_is_string(item))
            continue;
        if (scope >= 0 ? can_watch_resources(worker, (size_t)scope)
                       : mg_naming_split_uri(worker->gateway->config, json_string_value(item), &owner, &local) == 0 &&
                             can_watch_resources(worker, owner))
            json_array_append(out, item);
    }
    return out;
}

/* What the gateway can honour of a filter: the list flags as the client gave them, the resource URIs
 * (public URIs on /mcp) of servers it can watch them at, and the task handles that are the principal's
 * tasks at a modern server. */
static json_t *honoured(mg_worker_t *worker, long scope, const mg_session_claims_t *claims, const json_t *filter)
{
    json_t *out = json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)filter, key, value)
    {
        if (strcmp(key, "taskIds") == 0) {
            json_t *handles = json_array();
            json_t *handle;
            size_t index, server_index;
            json_array_foreach(value, index, handle)
            {
                json_t *task_id = open_task_handle(worker, scope, claims, handle, &server_index);
                if (task_id != NULL)
                    json_array_append(handles, handle);
                json_decref(task_id);
            }
            if (json_array_size(handles) > 0)
                json_object_set(out, key, handles);
            json_decref(handles);
        } else if (strcmp(key, "resourceSubscriptions") == 0) {
            json_t *uris = watchable_uris(worker, scope, value);
            if (json_array_size(uris) > 0)
                json_object_set(out, key, uris);
            json_decref(uris);
        } else if (json_is_true(value)) {
            json_object_set(out, key, value);
        }
    }
    return out;
}

/* The filter for a modern server's own listen stream: what the client opted in to that concerns that
 * server, in its own words (local URIs, its own task ids, remembered in *task_handles); a legacy
 * client's GET stream wants every list change. NULL when nothing is left. */
static json_t *modern_filter(event_stream_t *events, size_t server_index, json_t **task_handles)
{
    static const char *const flags[] = {"toolsListChanged", "promptsListChanged", "resourcesListChanged"};
    /* a stdio server's list changes come through the hub (the gateway's own listen there) */
    bool lists = events->worker->upstreams[server_index]->server->kind == MG_UPSTREAM_HTTP;
    json_t *filter = json_object();
    for (size_t i = 0; lists && i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (events->filter == NULL || json_is_true(json_object_get(events->filter, flags[i])))
            json_object_set_new(filter, flags[i], json_true());
    }
    json_t *uris = local_uris(events->worker->gateway->config, events->scope, events->filter, server_index);
    json_t *item;
    size_t index;
    if (json_array_size(uris) > 0)
        json_object_set(filter, "resourceSubscriptions", uris);
    json_decref(uris);
    json_t *task_ids = json_array();
    json_array_foreach(json_object_get(events->filter, "taskIds"), index, item)
    {
        size_t owner;
        json_t *task_id = open_task_handle(events->worker, events->scope, &events->claims, item, &owner);
        if (task_id != NULL && owner == server_index) {
            if (*task_handles == NULL)
                *task_handles = json_object();
            json_object_set(*task_handles, json_string_value(task_id), item);
            json_array_append(task_ids, task_id);
        }
        json_decref(task_id);
    }
    if (json_array_size(task_ids) > 0)
        json_object_set(filter, "taskIds", task_ids);
    json_decref(task_ids);
    if (json_object_size(filter) == 0) {
        json_decref(filter);
        return NULL;
    }
    return filter;
}

void mg_events_listen(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims, const json_t *id,
                      const json_t *filter)
{
    if (json_object_get(filter, "taskIds") != NULL && !mg_tasks_client_supports(claims->client_capabilities)) {
        json_t *response = mg_rpc_make_error((json_t *)id, MG_RPC_MISSING_CLIENT_CAPABILITY,
                                             "Missing required client capability: " MG_TASKS_EXTENSION,
                                             mg_tasks_required_capability());
        mg_front_send_json(req, mg_modern_http_status(MG_RPC_MISSING_CLIENT_CAPABILITY), "Bad Request", response);
        json_decref(response);
        mg_session_claims_dispose(claims);
        return;
    }
    json_t *accepted = honoured(worker, scope, claims, filter);
    event_stream_t *events = events_open(worker, req, scope, claims, json_deep_copy(id), accepted);
    json_t *ack = mg_rpc_make_notification("notifications/subscriptions/acknowledged",
                                           json_pack("{s:O}", "notifications", accepted));
    tag(events, ack);
    mg_stream_send_json(&events->stream, ack);
    json_decref(ack);
}

/* ---- where a stream's messages come from ------------------------------------------------------
 * A modern server: a listen of its own with the client's filter in its words. A legacy HTTP server:
 * the GET stream of the session the client (or modern principal) holds there, opened first when a
 * modern subscription finds none on this worker. A stdio server: the hub (mg_events_broadcast).
 * A legacy server is also sent resources/subscribe for each resource a modern subscription names on
 * it; nothing is unsubscribed when the stream ends, since the session serves the principal's other
 * streams too (the server's updates then reach no stream that wants them and are dropped). */

static mg_upstream_session_t session_of(const event_stream_t *events)
{
    return (mg_upstream_session_t){.sid = events->claims.sid,
                                   .protocol_version = events->claims.protocol_version,
                                   .client_capabilities = events->claims.client_capabilities};
}

typedef struct st_subscribe_t {
    const char *server; /* borrowed from the config the gateway keeps */
    char uri[];
} subscribe_t;

static void on_subscribe_message(void *ctx, json_t *msg)
{
    (void)ctx, (void)msg; /* e.g. a log line about the subscription: no request of the client's asked */
}

static void on_subscribed(void *ctx, json_t *response, int error_code, const char *error_message)
{
    subscribe_t *subscribe = ctx;
    json_t *error = json_object_get(response, "error");
    if (response == NULL || error != NULL)
        mg_log(MG_LOG_WARN, "events.subscribe_failed", "%s refused resources/subscribe for %s: %s (%d)",
               subscribe->server, subscribe->uri,
               error != NULL ? json_string_value(json_object_get(error, "message")) : error_message,
               error != NULL ? (int)json_integer_value(json_object_get(error, "code")) : error_code);
    free(subscribe);
}

static const mg_upstream_events_t subscribe_events = {on_subscribe_message, on_subscribed};

static void subscribe_resources(event_stream_t *events, size_t server_index, const mg_upstream_session_t *session)
{
    if (events->filter == NULL || !can_watch_resources(events->worker, server_index))
        return;
    mg_upstream_t *upstream = events->worker->upstreams[server_index];
    json_t *uris = local_uris(events->worker->gateway->config, events->scope, events->filter, server_index);
    json_t *item;
    size_t index;
    json_array_foreach(uris, index, item)
    {
        size_t len = json_string_length(item);
        subscribe_t *subscribe = malloc(sizeof(*subscribe) + len + 1);
        if (subscribe == NULL)
            abort();
        subscribe->server = upstream->server->name;
        memcpy(subscribe->uri, json_string_value(item), len + 1);
        json_t *id = json_string("mcpgate-subscribe");
        json_t *request = mg_rpc_make_request(id, "resources/subscribe", json_pack("{s:O}", "uri", item));
        if (upstream->ops->call(upstream, session, request, &subscribe_events, subscribe) == 0) {
            mg_log(MG_LOG_WARN, "events.subscribe_failed", "cannot send resources/subscribe for %s to %s",
                   subscribe->uri, subscribe->server);
            free(subscribe);
        }
        json_decref(request);
        json_decref(id);
    }
    json_decref(uris);
}

/* The principal's held session on a legacy HTTP server, opened for a modern subscription: once it is
 * there, the worker remembers it and the stream reads it like any other. */
static void on_session_opened(void *ctx, json_t *response, int error_code, const char *error_message)
{
    listen_t *listen = ctx;
    listen->call = 0;
    event_stream_t *events = listen->owner;
    mg_upstream_t *upstream = events->worker->upstreams[listen->server_index];
    mg_upstream_session_t session = session_of(events);
    session.upstream_session_id = json_string_value(json_object_get(response, "_mcpgate_session_id"));
    if (session.upstream_session_id == NULL) {
        mg_log(MG_LOG_WARN, "events.upstream_unavailable", "a subscription gets nothing from %s: %s (%d)",
               upstream->server->name, error_message != NULL ? error_message : "it refused initialize", error_code);
        return;
    }
    session.upstream_session_id = mg_late_sessions_remember(events->worker, events->claims.sid, upstream->server->name,
                                                            session.upstream_session_id);
    listen->call = upstream->ops->listen(upstream, &session, &listen_events, listen);
    if (listen->call != 0)
        subscribe_resources(events, listen->server_index, &session);
}

static void on_opening_message(void *ctx, json_t *msg)
{
    (void)ctx, (void)msg;
}

static const mg_upstream_events_t opening_events = {on_opening_message, on_session_opened};

static void start_source(event_stream_t *events, size_t i)
{
    mg_worker_t *worker = events->worker;
    mg_upstream_t *upstream = worker->upstreams[i];
    listen_t *listen = &events->listens[events->listens_len];
    listen->owner = events;
    listen->server_index = i;
    mg_upstream_session_t session = session_of(events);
    if (upstream->era == MG_UPSTREAM_ERA_MODERN) {
        json_t *filter = modern_filter(events, i, &listen->task_handles);
        session.listen_filter = filter;
        listen->call = filter != NULL ? upstream->ops->listen(upstream, &session, &listen_events, listen) : 0;
        json_decref(filter);
    } else if (upstream->server->kind == MG_UPSTREAM_STDIO) {
        subscribe_resources(events, i, &session); /* what it sends comes through the hub */
    } else if ((session.upstream_session_id = mg_late_sessions_find(worker, &events->claims, upstream->server->name)) !=
               NULL) {
        listen->call = upstream->ops->listen(upstream, &session, &listen_events, listen);
        if (listen->call != 0)
            subscribe_resources(events, i, &session);
    } else if (events->filter != NULL) {
        json_t *initialize = mg_late_sessions_initialize(&events->claims, true);
        listen->call = upstream->ops->open_session(upstream, &session, initialize, &opening_events, listen);
        json_decref(initialize);
    }
    if (listen->call != 0) {
        events->listens_len++;
    } else {
        json_decref(listen->task_handles);
        listen->task_handles = NULL;
    }
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
    mg_metrics_gauge_add(worker->gateway->metrics, MG_METRICS_EVENT_STREAMS, 1);
    events->keepalive.cb = on_keepalive;
    mg_stream_start(&events->stream, req, on_stream_stopped, events);
    h2o_timeout_link(worker->loop, &worker->keepalive_timeout, &events->keepalive);

    for (size_t i = 0; i < config->servers_len; i++) {
        if (scope < 0 || (size_t)scope == i)
            start_source(events, i);
    }
    return events;
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
