/*
 * inspect.h - the inspect stages (DESIGN.md): the guards' detectors (guard/detect.h) over a routed request
 * before it leaves the gateway, and over the server's answer before the client sees it
 * (docs/guards.md, "On the request path").
 *
 * Requests: the strings of a tools/call's or prompts/get's `arguments` (any other routed request's
 * `params`) are scanned for secrets and personal data; each finding takes its configured action for
 * `requests`: block refuses the call (MG_INSPECT_ERROR_BLOCKED, nothing reaches the server), redact
 * rewrites the string in the message itself (so the audit record never holds it either), flag only
 * reports.
 * Answers: every string of a routed result or error (guard/message.h says which) is scanned for
 * secrets, personal data and injection with the `responses` actions: block replaces the answer with
 * MG_INSPECT_ERROR_BLOCKED, redact and wrap rewrite a copy, flag reports.
 * Reports: every finding that is not off goes to the exchange's audit record (outcome.findings) and,
 * when the answer is a result, to the client in result._meta["io.mcpgate/findings"]; neither ever holds
 * the matched text. A refusal names the guard and the types it found, never the value.
 *
 * Without a `guards` section each stage is one branch.
 */
#ifndef MG_MCP_INSPECT_H
#define MG_MCP_INSPECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mcp/exchange.h"

#define MG_INSPECT_ERROR_BLOCKED (-32041)
#define MG_INSPECT_FINDINGS_META "io.mcpgate/findings"

/* The request stage: `params` is what the server will get (its arguments are the message's own). */
mg_stage_t mg_inspect_request(mg_exchange_t *exchange, size_t server_index, json_t *params);

/* The answer stage, for `response` (borrowed) from server `server_index`. Returns the response to answer
 * with: `response` itself when nothing changes (*owned false), a new one the caller releases (*owned
 * true), or NULL when the stage answered the exchange (blocked). */
json_t *mg_inspect_response(mg_exchange_t *exchange, size_t server_index, json_t *response, bool *owned);

/* A server's own message in the middle of the exchange's call (a notification such as progress or a log
 * message, or a request to the client such as sampling or elicitation), before the client sees it: scanned as
 * an answer is (guard/message.h mg_guard_server_message_walk), its findings on the exchange's record (and so in
 * the final result's _meta). Returns the message to relay: `msg` itself (*owned false), a rewritten copy
 * (*owned true), or NULL when a guard blocks it (logged): the caller drops a notification and refuses a
 * request to its server. The call itself goes on. */
json_t *mg_inspect_server_message(mg_exchange_t *exchange, size_t server_index, json_t *msg, bool *owned);

/* The same for a message on an event stream, outside any exchange: `msg` is the caller's own copy, rewritten
 * in place. Returns false when it must be dropped (logged); findings are logged, with their types and
 * pointers only. */
bool mg_inspect_event(mg_worker_t *worker, const mg_config_t *config, size_t server_index, json_t *msg);

#endif
