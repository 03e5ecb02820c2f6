/*
 * park.h - a legacy server's question to a modern client, across requests (MRTR bridge).
 *
 * A 2025-era server asks its client things in the middle of a call (elicitation/create,
 * sampling/createMessage, roots/list) and waits for the answer. A 2026-07-28 client
 * cannot be asked: it gets an InputRequiredResult and retries the request with
 * inputResponses. The gateway bridges the two by parking the exchange: the client's
 * request is answered with the questions and a sealed requestState (mrtr.h) while the
 * upstream call stays open on this worker; the retry, on whichever worker it lands,
 * is relayed here, the answers go to the server, and what the server says next (the
 * result, or another question) is relayed back to the retry's own HTTP request.
 *
 * A parked exchange that nobody resumes within MG_MRTR_TTL_S is dropped (its upstream
 * call abandoned). A retry whose client goes away cancels the parked call, as closing a
 * response stream cancels any modern request.
 */
#ifndef MG_HTTP_PARK_H
#define MG_HTTP_PARK_H

#include <jansson.h>
#include <stdbool.h>

#include "mcp/exchange.h"
#include "mcp/mrtr.h"

/* A server-to-client request came for a modern exchange's call. Returns true when the park
 * bridge took it (asked the client, answered it, or refused it to the server). */
bool mg_park_server_request(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *msg);
/* Output of a parked exchange (a notification, or the final response when `final`): returns true
 * when the park consumed it (held, relayed or dropped). */
bool mg_park_output(mg_exchange_t *exchange, json_t *msg, bool final);
/* mg_exchange_resume (exchange.h) is implemented here: it relays a retry to its parked exchange. */
/* The exchange's HTTP request is gone: true when the park keeps the exchange alive (it is parked). */
bool mg_park_keeps(const mg_exchange_t *exchange);
/* The exchange is going away: forget it as a parked one or as a waiting retry. */
void mg_park_forget(mg_exchange_t *exchange);

void mg_park_worker_init(mg_worker_t *worker);
/* Drops every parked exchange (worker stopping). */
void mg_park_worker_stop(mg_worker_t *worker);

#endif
