/*
 * webhook_stage.h - the webhook stage (docs/guards.md, "Webhook"): a routed request, after the inspect
 * stage, is described to `guards.webhook` and waits for its verdict before it leaves the gateway.
 *
 * The description is {"direction":"request","server","method","tool","principal":{"subject","method"},
 * "params"}: the server's configured name, the tool's name on its server (null for other methods), and
 * the params the server would get (after the inspect stage's redactions). It never holds a credential:
 * neither the client's nor the gateway's own for the server.
 *
 * Verdicts: allow lets the request go on; block refuses it with MG_INSPECT_ERROR_BLOCKED and data
 * {"guard":"webhook","direction":"request","reason"}, audited as deny by rule "guards.webhook" and logged
 * `guards.webhook_blocked`. An error (no answer within timeout_ms, no connection, anything but a verdict)
 * is logged `guards.webhook_error` and refused the same way with `on_error: block`, or lets the request
 * go with `on_error: allow`.
 *
 * While the service thinks, the exchange waits without blocking its worker (exchange->wait); a client that
 * leaves cancels the HTTP request at once. Without a webhook the stage is one branch.
 */
#ifndef MG_MCP_WEBHOOK_STAGE_H
#define MG_MCP_WEBHOOK_STAGE_H

#include <jansson.h>
#include <stddef.h>

#include "mcp/exchange.h"

/* The stage: `params` (borrowed, may be NULL) is what server `server_index` will get. MG_STAGE_GO at once
 * without a webhook; otherwise MG_STAGE_WAITING (resumed later through mg_dispatch_forward_resume, or
 * refused), or at once GO or ANSWERED when the request to the service could not even start. */
mg_stage_t mg_webhook_stage(mg_exchange_t *exchange, size_t server_index, json_t *params);

#endif
