/*
 * server.h - the gateway process: listeners, worker threads, signals, shutdown.
 */
#ifndef MG_HTTP_SERVER_H
#define MG_HTTP_SERVER_H

#include "config/config.h"
#include "core/error.h"

/* Runs the gateway on `config` until SIGTERM or SIGINT. Returns 0 after a clean shutdown, or
 * -1 with err filled when it could not start (bad certificate, address in use, state dir). */
int mg_server_run(mg_config_t *config, mg_error_t *err);

#endif
