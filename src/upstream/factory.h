/*
 * factory.h - a worker's set of upstream handles, one per configured server.
 */
#ifndef MG_UPSTREAM_FACTORY_H
#define MG_UPSTREAM_FACTORY_H

#include <stdbool.h>

#include "core/error.h"
#include "core/worker.h"

/* Creates worker->upstreams, without I/O. Called for every worker, in index order, before the threads start. */
int mg_upstreams_create(mg_worker_t *worker, mg_error_t *err);
/* Begins the I/O of the worker's upstreams (spawns the children it owns, probes HTTP servers).
 * Called on the worker's own thread, once every worker's queue exists, before its loop runs. */
void mg_upstreams_start(mg_worker_t *worker);
/* Begins graceful shutdown of what this worker owns (stdio children: close stdin, SIGTERM, SIGKILL). */
void mg_upstreams_stop(mg_worker_t *worker);
/* True when everything this worker owns has stopped. */
bool mg_upstreams_stopped(mg_worker_t *worker);
void mg_upstreams_destroy(mg_worker_t *worker);

#endif
