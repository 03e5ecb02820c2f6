/* probes.c - see probes.h. Both answer JSON so that operators see why a node is not ready. */
#include "http/probes.h"

#include "http/front.h"
#include "mcp/tool_schemas.h"
#include "upstream/upstream.h"

int mg_probes_health(mg_worker_t *worker, h2o_req_t *req)
{
    (void)worker;
    json_t *body = json_pack("{s:s}", "status", "ok");
    mg_front_send_json(req, 200, "OK", body);
    json_decref(body);
    return 0;
}

int mg_probes_ready(mg_worker_t *worker, h2o_req_t *req)
{
    const mg_config_t *config = worker->gateway->config;
    json_t *servers = json_object();
    bool ready = true;
    mg_gateway_t *gateway = worker->gateway;
    for (size_t i = 0; i < config->servers_len; i++) {
        /* ready only when every worker can use it: each worker probes HTTP upstreams on its own */
        bool up = true;
        for (size_t w = 0; w < gateway->workers_len; w++) {
            mg_upstream_t *upstream = gateway->workers[w]->upstreams[i];
            up = up && upstream->ops->ready(upstream);
        }
        json_t *server = json_pack("{s:b,s:b}", "ready", up, "required", config->servers[i].required);
        /* tools whose schemas the gateway cannot use: their calls are refused (mcp/validate.h) */
        json_t *invalid = mg_tool_schema_report_get(gateway->tool_schema_report, i);
        if (json_object_size(invalid) != 0)
            json_object_set(server, "invalid_tool_schemas", invalid);
        json_decref(invalid);
        json_object_set_new(servers, config->servers[i].name, server);
        if (!up && config->servers[i].required)
            ready = false;
    }
    json_t *body = json_pack("{s:s,s:o}", "status", ready ? "ready" : "not ready", "servers", servers);
    mg_front_send_json(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", body);
    json_decref(body);
    return 0;
}
