/*
 * front.h - the MCP Streamable HTTP endpoint (/mcp and /servers/<name>/mcp), both eras.
 */
#ifndef MG_HTTP_FRONT_H
#define MG_HTTP_FRONT_H

#include <h2o.h>

#include "core/worker.h"
#include "mcp/exchange.h"

/* Handles one HTTP request on an MCP path; `scope` is -1 for /mcp or a server index. Returns 0. */
int mg_front_handle(mg_worker_t *worker, h2o_req_t *req, long scope);

/* Sends a JSON body with a status (used by every gateway-made answer). `body` is borrowed. */
void mg_front_send_json(h2o_req_t *req, int status, const char *reason, const json_t *body);
/* Sends {"error": error} with a status, for answers outside MCP (404, 405 on the gateway's own paths). */
void mg_front_send_plain_error(h2o_req_t *req, int status, const char *reason, const char *error);
/* True for GET and HEAD; otherwise answers 405 with `Allow: GET, HEAD` and returns false. */
bool mg_front_get_only(h2o_req_t *req);
/* Sends a JSON-RPC error with an HTTP status; `id` borrowed, may be NULL. */
void mg_front_send_rpc_error(h2o_req_t *req, int status, json_t *id, int code, const char *message);

/* For park.c: finishes the HTTP answer but leaves the upstream calls running (the exchange is parked). */
void mg_front_finish_keep_calls(mg_exchange_t *exchange, json_t *response);
/* Is the exchange's own HTTP request still there and unanswered? */
bool mg_front_attached(const mg_exchange_t *exchange);
/* Frees an exchange whose HTTP request is gone, abandoning its upstream calls (a parked exchange dropped). */
void mg_front_release(mg_exchange_t *exchange);

#endif
