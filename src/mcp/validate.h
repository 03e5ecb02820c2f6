/*
 * validate.h - the validation stage: each client message against the MCP schema of its version, each
 * tools/call's arguments against the tool's inputSchema before the call leaves the gateway, and each
 * tools/call result's structuredContent against the tool's outputSchema (docs/validation.md).
 *
 * Every function answers the client itself when it refuses, and returns false then; true means "go
 * on". Answers:
 *   - a message its version's schema does not allow: -32602 "Invalid params: ..." with data.violations
 *     ([{instancePath, schemaPath, keyword, message}]); a method its version does not define: -32601.
 *   - arguments the inputSchema does not allow: for protocol 2025-11-25 and later a tool execution error
 *     (result.isError, one line per violation in its text, so that the model can correct the call, and
 *     the list in result._meta["io.mcpgate/violations"]); for older versions -32602 with data.violations.
 *     The call never reaches the upstream.
 *   - a tool whose inputSchema (or, under output_validation: enforce, outputSchema) is not usable JSON
 *     Schema: the same answer as invalid arguments, saying so. Calls to it are refused, never unchecked.
 *   - a client's answer to a server's request (elicitation, sampling, roots, ping, tasks) that is not the
 *     result the request asks for: HTTP 400 with -32602 and data.violations to the client, and an error
 *     response (-32603, naming the violations) to the server that asked, which waits no longer.
 *   - a result whose structuredContent breaks the outputSchema (or is missing): under enforce, a tool
 *     execution error naming the violations instead of the result; under report, the result as it came
 *     and a warning in the log.
 */
#ifndef MG_MCP_VALIDATE_H
#define MG_MCP_VALIDATE_H

#include <stdbool.h>

#include "mcp/exchange.h"

bool mg_validate_message(mg_exchange_t *exchange);
bool mg_validate_arguments(mg_exchange_t *exchange, size_t server_index, const char *local_name);
/* exchange->message, a client's response to a server's request for `method` (method_len bytes, from the
 * request's id, mcp/asked.h): NULL when it may go on (a valid result, an error, or nothing to check it
 * against); otherwise the client has been answered (HTTP 400, -32602 with data.violations) and the
 * return (a new reference) is the error response the server gets instead of the invalid answer. */
json_t *mg_validate_answer(mg_exchange_t *exchange, const char *method, size_t method_len);
/* `response` is server `server_index`'s answer (borrowed); only tools/call results whose tool declared
 * an outputSchema are looked at (mg_validate_arguments kept it in the exchange). */
bool mg_validate_result(mg_exchange_t *exchange, size_t server_index, const json_t *response);

/* Rebuilds a worker's compiled schemas for server `server_index` from its current catalog (or drops them
 * when it has none): call whenever upstream->tools changes. */
void mg_validate_catalog_changed(mg_worker_t *worker, size_t server_index);

#endif
