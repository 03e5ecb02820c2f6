/*
 * front_trace.h - the front end's side of tracing (obs/trace.h): what an exchange's trace is made of,
 * and where its spans begin and end. Kept out of front.c so that the transport rules read without it.
 *
 * Every function tolerates an exchange without a trace (no tracing section, or sampled out) at the
 * cost of a branch.
 */
#ifndef MG_HTTP_FRONT_TRACE_H
#define MG_HTTP_FRONT_TRACE_H

#include <h2o.h>
#include <jansson.h>

#include "mcp/exchange.h"

/* Begins the exchange's trace from the request's traceparent / tracestate (params._meta first, then the
 * headers) and what the message is; identify_start_ns / identified_ns bound the identify stage (0 when
 * unknown: its span then starts when h2o began processing the request). Sets exchange->trace. */
void mg_front_trace_begin(mg_exchange_t *exchange, h2o_req_t *req, uint64_t identify_start_ns, uint64_t identified_ns);
/* The answer is about to leave: `response` (may be NULL) or `error_code`. */
void mg_front_trace_answer(mg_exchange_t *exchange, const json_t *response, int error_code);
/* Ends the exchange's trace (the exchange is being freed). */
void mg_front_trace_end(mg_exchange_t *exchange);
/* An upstream call is about to start on `part`: begins its span and returns the request to send (a new
 * reference: `request` itself, or a copy whose params._meta carries the traceparent), with
 * session->traceparent / tracestate set for the HTTP headers. */
json_t *mg_front_trace_upstream_begin(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request,
                                      mg_upstream_session_t *session);
/* The call on `part` ended (response or error_code as the upstream's done callback has them). */
void mg_front_trace_upstream_end(mg_exchange_t *exchange, mg_exchange_part_t *part, const json_t *response,
                                 int error_code);

#endif
