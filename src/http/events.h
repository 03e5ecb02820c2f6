/*
 * events.h - the client's GET stream: messages no request asked for.
 *
 * A legacy client opens GET /mcp (or /servers/<name>/mcp) with its session id and
 * receives list_changed, resources/updated and log notifications there. Two sources
 * feed it: HTTP upstreams, where the gateway opens the same kind of stream on each
 * upstream with this client's upstream session; and stdio upstreams, whose one shared
 * process speaks to everyone, through mg_events_broadcast, which posts a copy to
 * every worker and so reaches every open stream in scope wherever it lives.
 *
 * A modern client's subscriptions/listen is the same stream opened by a POST, filtered
 * to what it opted in to and tagged with its subscription id.
 */
#ifndef MG_HTTP_EVENTS_H
#define MG_HTTP_EVENTS_H

#include <h2o.h>
#include <jansson.h>

#include "core/worker.h"
#include "mcp/session.h"

/* Starts an event stream on `req`; takes ownership of `claims`. */
void mg_events_open(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims);
/* Starts a 2026-07-28 subscriptions/listen stream on the POST `req` (takes `claims`): it is acknowledged
 * at once and carries only the notifications `filter` opts in to, each tagged with the subscription id
 * (the listen request's `id`). */
void mg_events_listen(mg_worker_t *worker, h2o_req_t *req, long scope, mg_session_claims_t *claims,
                      const json_t *id, const json_t *filter);
/* The key of a session opened late on a worker (worker->late_sessions): "<sid>/<server>", not
 * NUL-terminated; returns its length, or 0 when it would not fit (such a session is not kept). */
#define MG_EVENTS_LATE_KEY_MAX MG_WORKER_LATE_KEY_MAX
size_t mg_events_late_key(const char *sid, const char *server, char key[MG_EVENTS_LATE_KEY_MAX]);
/* Remembers a session opened late on this worker for session `sid` on `server` (bounded: a full table
 * starts over). */
void mg_events_remember_late_session(mg_worker_t *worker, const char *sid, const char *server, const char *session_id);
/* The upstream session a client (or a modern principal) holds on a server: from its sealed claims, or
 * opened late on this worker. NULL when none. */
const char *mg_events_upstream_session(mg_worker_t *worker, const mg_session_claims_t *claims, const char *server);
/* Delivers a server's unsolicited message to every stream in scope on every worker. Any thread. `msg` borrowed. */
void mg_events_broadcast(mg_gateway_t *gateway, size_t server_index, const json_t *msg);
/* Ends every stream of this worker (shutdown). */
void mg_events_close_all(mg_worker_t *worker);

#endif
