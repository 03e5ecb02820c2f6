/*
 * factory.h - a worker's set of upstream handles, one per configured server.
 */
#ifndef MG_UPSTREAM_FACTORY_H
#define MG_UPSTREAM_FACTORY_H

#include <stdbool.h>

#include "core/error.h"
#include "core/worker.h"

/* Creates worker->upstreams. Called for every worker, in index order, before the threads start. */
int mg_upstreams_create(mg_worker_t *worker, mg_error_t *err);
/* Begins graceful shutdown of what this worker owns (stdio children: close stdin, SIGTERM, SIGKILL). */
void mg_upstreams_stop(mg_worker_t *worker);
/* True when everything this worker owns has stopped. */
bool mg_upstreams_stopped(mg_worker_t *worker);
void mg_upstreams_destroy(mg_worker_t *worker);

#endif
