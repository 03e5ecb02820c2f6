/*
 * admin.h - the admin API (`admin` section; docs/guards.md): held calls and tool pins decided over HTTP,
 * with the same effect as `mcpgate approvals approve|deny ID` and `mcpgate tools approve SERVER/TOOL`.
 *
 * Where it is served. On admin.listen only, a listener of its own that the first worker accepts on (as
 * metrics.listen), never beside /mcp. Every request is identified first, exactly as on /mcp
 * (mg_auth_identify, scope -1: API key, JWT, introspected token, client certificate over TLS), and must
 * hold one of admin.roles under the worker's policy; only then is the target read (admin_route.h). So a
 * caller without the role learns nothing, not even which paths exist.
 *
 * Threads. Workers never touch the disk: the worker checks the request and hands a job to the admin
 * agent, a background thread that alone holds the admin API's store connection, runs the store call,
 * writes the log line and the audit record of a decision, and posts the answer back to the worker
 * (mg_worker_post). The request waits on the worker as a ticket in its memory pool, so a client that
 * leaves takes its ticket with it and the answer is dropped (the decision, made, stays made).
 *
 * Decisions reach the running gateway through the store, as the command line's do: the approvals service
 * polls the approvals generation while it holds calls (guard/approvals.h), the pins watcher the pins'
 * (guard/pins.h).
 */
#ifndef MG_HTTP_ADMIN_H
#define MG_HTTP_ADMIN_H

#include <h2o.h>

#include "core/error.h"
#include "core/worker.h"

typedef struct st_mg_admin_t mg_admin_t;

/* Opens the store for gateway->admin (NULL without an admin section). On the main thread, before the
 * workers run. */
int mg_admin_create(mg_gateway_t *gateway, mg_error_t *err);
/* Starts the agent (once the workers' queues exist: it posts to them). */
int mg_admin_start(mg_gateway_t *gateway, mg_error_t *err);
/* Stops and joins it (before the workers stop); jobs not run yet are dropped unanswered. Safe when it
 * never started. */
void mg_admin_stop(mg_gateway_t *gateway);
/* After mg_admin_stop and the workers' end. NULL is ignored. */
void mg_admin_destroy(mg_admin_t *admin);

/* Answers a request of the admin listener on `worker`. Returns 0 (h2o). */
int mg_admin_handle(mg_worker_t *worker, h2o_req_t *req);

#endif
