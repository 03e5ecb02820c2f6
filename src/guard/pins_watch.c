/*
 * pins_watch.c - how an approval made by another process reaches the running gateway.
 *
 * `mcpgate tools approve` writes the pins table and raises its generation (a trigger). A thread of the
 * gateway reads that counter every MG_PINS_WATCH_INTERVAL_MS (one small SELECT on its own schedule, never
 * on the request path); when it moved, the store reloads and, for each server whose pins differ, the
 * thread broadcasts a notifications/tools/list_changed as if the server had sent it: every worker drops its
 * catalog of the server (mcp/aggregate.c), so its next list or call judges the tools against the new pins,
 * and clients listening on a GET stream re-list. The server's instructions are judged again on every worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/worker.h"
#include "guard/pins_internal.h"
#include "http/events.h"
#include "obs/log.h"

static void rejudge_instructions(mg_worker_t *worker, void *arg)
{
    mg_json_note_t *note = arg;
    if (worker->upstreams != NULL)
        mg_pins_judge_instructions(worker, note->server_index);
    json_decref(note->msg);
    free(note);
}

static void publish(mg_gateway_t *gateway, const json_t *servers)
{
    json_t *changed = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/tools/list_changed");
    size_t index;
    json_t *name;
    json_array_foreach(servers, index, name)
    {
        const mg_config_server_t *server = mg_config_find_server(gateway->config, json_string_value(name));
        if (server == NULL)
            continue; /* pins of a server no longer configured */
        size_t server_index = (size_t)(server - gateway->config->servers);
        mg_log(MG_LOG_INFO, "pins.reloaded", "the pins of %s changed; every worker lists its tools again",
               server->name);
        mg_events_broadcast(gateway, server_index, changed);
        mg_worker_post_json_to_all(gateway, rejudge_instructions, server_index, changed);
    }
    json_decref(changed);
}

static void *watch_main(void *arg)
{
    mg_gateway_t *gateway = arg;
    mg_pins_t *pins = gateway->pins;
    pthread_mutex_lock(&pins->watch.lock);
    while (!pins->watch.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(MG_PINS_WATCH_INTERVAL_MS % 1000) * 1000000L;
        until.tv_sec += MG_PINS_WATCH_INTERVAL_MS / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!pins->watch.stopping &&
               pthread_cond_timedwait(&pins->watch.wake, &pins->watch.lock, &until) != ETIMEDOUT) {
        }
        if (pins->watch.stopping)
            break;
        pthread_mutex_unlock(&pins->watch.lock);
        json_t *servers = NULL;
        mg_error_t err;
        int rc = mg_pins_refresh(pins, &servers, &err);
        if (rc < 0)
            mg_log(MG_LOG_ERROR, "pins.refresh_failed", "%s", err.message);
        else if (rc > 0)
            publish(gateway, servers);
        json_decref(servers);
        pthread_mutex_lock(&pins->watch.lock);
    }
    pthread_mutex_unlock(&pins->watch.lock);
    return NULL;
}

int mg_pins_watch_start(mg_gateway_t *gateway, mg_error_t *err)
{
    mg_pins_t *pins = gateway->pins;
    if (pins == NULL)
        return 0;
    if (pthread_create(&pins->watch.thread, NULL, watch_main, gateway) != 0)
        return mg_error_set(err, "cannot start the pins watcher thread");
    pthread_setname_np(pins->watch.thread, "mg-pins-watch");
    pins->watch.running = true;
    return 0;
}

void mg_pins_watch_stop(mg_gateway_t *gateway)
{
    mg_pins_t *pins = gateway->pins;
    if (pins == NULL || !pins->watch.running)
        return;
    pthread_mutex_lock(&pins->watch.lock);
    pins->watch.stopping = true;
    pthread_cond_signal(&pins->watch.wake);
    pthread_mutex_unlock(&pins->watch.lock);
    pthread_join(pins->watch.thread, NULL);
    pins->watch.running = false;
}
