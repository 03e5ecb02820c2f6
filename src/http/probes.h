/* probes.h - /healthz (the process answers) and /readyz (every required upstream is usable). */
#ifndef MG_HTTP_PROBES_H
#define MG_HTTP_PROBES_H

#include <h2o.h>

#include "core/worker.h"

int mg_probes_health(mg_worker_t *worker, h2o_req_t *req);
int mg_probes_ready(mg_worker_t *worker, h2o_req_t *req);

#endif
