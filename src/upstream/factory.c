/* factory.c - see factory.h. */
#include "upstream/factory.h"

#include <stdlib.h>

#include "mcp/tool_schemas.h"
#include "upstream/http.h"
#include "upstream/stdio.h"

int mg_upstreams_create(mg_worker_t *worker, mg_error_t *err)
{
    const mg_config_t *config = worker->gateway->config;
    worker->upstreams = calloc(config->servers_len + 1, sizeof(*worker->upstreams));
    for (size_t i = 0; i < config->servers_len; i++) {
        const mg_config_server_t *server = &config->servers[i];
        worker->upstreams[i] = server->kind == MG_UPSTREAM_STDIO ? mg_upstream_stdio_create(worker, server, i, err)
                                                                 : mg_upstream_http_create(worker, server, i, err);
        if (worker->upstreams[i] == NULL)
            return -1;
    }
    return 0;
}

void mg_upstreams_start(mg_worker_t *worker)
{
    const mg_config_t *config = worker->gateway->config;
    for (size_t i = 0; i < config->servers_len; i++)
        worker->upstreams[i]->ops->start(worker->upstreams[i]);
}

void mg_upstreams_stop(mg_worker_t *worker)
{
    mg_stdio_stop_owned(worker);
}

bool mg_upstreams_stopped(mg_worker_t *worker)
{
    return mg_stdio_owned_stopped(worker);
}

void mg_upstreams_destroy(mg_worker_t *worker)
{
    const mg_config_t *config = worker->gateway->config;
    for (size_t i = 0; i < config->servers_len; i++) {
        if (worker->upstreams[i] == NULL)
            continue;
        mg_tool_schemas_destroy(worker->upstreams[i]->tool_validators);
        worker->upstreams[i]->ops->destroy(worker->upstreams[i]);
    }
    free(worker->upstreams);
    worker->upstreams = NULL;
}
