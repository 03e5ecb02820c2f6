/*
 * reload.h - the running gateway's authorization policy, and its reload on SIGHUP.
 *
 * The policy (roles, bindings, scopes: policy/policy.h) is the one part of the configuration that
 * changes without a restart. The main thread compiles it at start and again on every SIGHUP, from
 * the configuration file the gateway was started with, and posts each new version to every worker,
 * which swaps its own reference and empties its access cache on its own thread: the request path
 * never takes a lock for it, and a request that already holds an access keeps deciding with it.
 *
 * The rate limit rules and the servers' costs (limit/limit.h) follow the same path: compiled at start
 * and on every SIGHUP against the gateway-wide counters (created here, kept across reloads), and posted
 * to every worker. max_keys is read once, at start.
 *
 * A reload that fails (the file no longer loads, or its policy does not compile) changes nothing
 * and says why in the log. So does one whose `servers` differ from the running ones, by name or
 * order, because the policy names servers and the running upstreams cannot change without a
 * restart; every other section of the reloaded file is read (it must be valid) but not applied.
 */
#ifndef MG_HTTP_RELOAD_H
#define MG_HTTP_RELOAD_H

#include "core/error.h"
#include "core/worker.h"

/* Compiles the policy of gateway->config into gateway->policy (NULL: none in force), logs its lint
 * warnings, and gives each worker its reference and access cache. Main thread, before the workers
 * run. Returns 0 or -1 with `err` set. */
int mg_reload_init(mg_gateway_t *gateway, mg_error_t *err);
/* SIGHUP: reads the configuration file again and posts its policy to every worker (see above).
 * Main thread, while the workers run. */
void mg_reload_policy(mg_gateway_t *gateway);
/* Drops a worker's policy reference and cache; after its loop has ended. */
void mg_reload_worker_dispose(mg_worker_t *worker);
/* Drops gateway->policy; after every worker is disposed. */
void mg_reload_dispose(mg_gateway_t *gateway);

#endif
