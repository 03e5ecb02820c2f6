/*
 * metrics_endpoint.h - the Prometheus endpoint (`metrics` section): protection and what is collected at
 * scrape time besides the registry (obs/metrics.h): upstream readiness, the audit writer's counters, the
 * rate limiter's per-rule counts and cost totals.
 */
#ifndef MG_HTTP_METRICS_ENDPOINT_H
#define MG_HTTP_METRICS_ENDPOINT_H

#include <h2o.h>
#include <stdbool.h>

#include "core/bytes.h"
#include "core/worker.h"

/* True when `path` is the endpoint on the main listeners (a metrics section without its own listen). */
bool mg_metrics_endpoint_on_main(const mg_gateway_t *gateway, h2o_iovec_t path);
/* Answers a scrape on `worker`: checks the method (GET, HEAD), the path (on the own listener, anything
 * else is 404), the caller as metrics.require and metrics.roles say, then renders. Returns 0 (h2o). */
int mg_metrics_endpoint_handle(mg_worker_t *worker, h2o_req_t *req);
/* The full exposition text of `gateway` (the registry and the scrape-time families), appended to `out`. */
void mg_metrics_endpoint_render(mg_gateway_t *gateway, mg_bytes_t *out);

#endif
