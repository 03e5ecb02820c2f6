/*
 * webhook_stage.h - the webhook stages (docs/guards.md, "Webhook"): a routed request, after the inspect
 * stage, is described to `guards.webhook` and waits for its verdict before it leaves the gateway; with
 * `directions: [responses]` its answer, after the answer's inspection, waits for one before the client
 * gets it (the description then has "direction":"response" and the server's "result" or "error").
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

/* Sends an answer the service let through (dispatch.c's routed_answer). */
typedef void (*mg_webhook_answer_fn)(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *answer);

/* The answer stage (`directions` holds `responses`), after the answer's own inspection: `answer` (borrowed;
 * kept while the service thinks) is what `part`'s server answered, as the client would get it. MG_STAGE_GO at
 * once when there is no such webhook (the caller sends it); MG_STAGE_WAITING: `send` is called later if the
 * service allows it, or the exchange is answered with MG_INSPECT_ERROR_BLOCKED (data.direction "response");
 * MG_STAGE_ANSWERED when the check could not start and on_error refused the answer. */
mg_stage_t mg_webhook_answer_stage(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *answer,
                                   mg_webhook_answer_fn send);

#endif
