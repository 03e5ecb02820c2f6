/*
 * validate.c - the validation stage (validate.h).
 *
 * The costs sit where they are paid once: the MCP schemas are compiled at start (spec_schemas.c), a
 * tool's schemas when its catalog arrives (tool_schemas.c, through the gateway's cache), so a call pays
 * one validation of its message and one of its arguments, with no allocation unless something is wrong.
 * Violations are rendered only on the way out of a refusal.
 */
#include "mcp/validate.h"

#include <stdio.h>
#include <string.h>

#include "auth/principal.h"
#include "mcp/spec_schemas.h"
#include "mcp/tasks.h"
#include "mcp/tool_schemas.h"
#include "mcp/versions.h"
#include "obs/log.h"
#include "obs/trace.h"

#define VIOLATIONS_META "io.mcpgate/violations"
#define FIRST_TOOL_ERROR_VERSION "2025-11-25" /* since when invalid arguments are a tool execution error */

/* The protocol version the exchange speaks: modern, the session's, or what an initialize asks for. */
static const char *exchange_version(const mg_exchange_t *exchange)
{
    if (exchange->modern)
        return MG_VERSION_MODERN;
    if (exchange->has_session)
        return exchange->claims.protocol_version;
    return json_string_value(json_object_get(exchange->message.params, "protocolVersion"));
}

static json_t *violations_data(const mg_schema_result_t *result)
{
    json_t *list = mg_schema_result_json(result);
    return list != NULL ? json_pack("{s:o,s:b}", "violations", list, "truncated", result->truncated) : NULL;
}

/* "<what>: <first violation>" for a JSON-RPC error message. */
static void first_violation(const mg_schema_result_t *result, const char *what, char *out, size_t size)
{
    if (result->count == 0) {
        snprintf(out, size, "%s", what);
        return;
    }
    const mg_schema_violation_t *first = &result->violations[0];
    snprintf(out, size, "%s: %s: %s: %s%s", what, first->instance_path[0] != '\0' ? first->instance_path : "(root)",
             first->keyword, first->message, result->count > 1 || result->truncated ? " (and more: see data)" : "");
}

static bool validate_message(mg_exchange_t *exchange)
{
    const mg_spec_schemas_t *schemas = exchange->worker->gateway->spec_schemas;
    if (schemas == NULL)
        return true;
    mg_schema_result_t result;
    const char *version = exchange_version(exchange);
    /* the quick answer first: almost every message is valid, and then no violation is recorded */
    mg_spec_verdict_t verdict =
        mg_spec_schemas_check(schemas, version, &exchange->message, exchange->meta_object, NULL);
    if (verdict == MG_SPEC_VALID || verdict == MG_SPEC_UNCHECKED)
        return true;
    char text[600];
    if (verdict == MG_SPEC_UNKNOWN_METHOD) {
        if (exchange->message.kind == MG_RPC_NOTIFICATION)
            return true; /* the dispatcher drops notifications it does not know, as JSON-RPC has it */
        if (exchange->modern && mg_tasks_is_task_method(exchange->message.method))
            return true; /* the tasks extension: not in the 2026-07-28 schema; tasks.c checks its params */
        snprintf(text, sizeof(text), "Method not found: %.100s is not part of protocol version %s",
                 exchange->message.method, version);
        mg_exchange_finish_error(exchange, MG_RPC_METHOD_NOT_FOUND, text, NULL);
        return false;
    }
    mg_spec_schemas_check(schemas, version, &exchange->message, exchange->meta_object, &result);
    first_violation(&result, "Invalid params", text, sizeof(text));
    mg_log_as(MG_LOG_INFO, "validation.message", exchange->principal != NULL ? exchange->principal->name : NULL,
              "%s refused (protocol %s): %s", exchange->message.method, version, text);
    mg_outcome_decide(exchange, MG_AUDIT_DENY, "schema:protocol", "the message does not match the MCP schema");
    if (exchange->message.kind == MG_RPC_NOTIFICATION) {
        mg_exchange_finish_accepted(exchange); /* a notification gets no answer: it is dropped */
        return false;
    }
    mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, text, violations_data(&result));
    return false;
}

bool mg_validate_message(mg_exchange_t *exchange)
{
    uint64_t began = mg_trace_stage_start(exchange->trace);
    bool valid = validate_message(exchange);
    mg_trace_stage_end(exchange->trace, MG_TRACE_VALIDATE, began, valid ? NULL : "invalid");
    return valid;
}

json_t *mg_validate_answer(mg_exchange_t *exchange, const char *method, size_t method_len)
{
    const mg_spec_schemas_t *schemas = exchange->worker->gateway->spec_schemas;
    const char *version = exchange_version(exchange);
    const json_t *response = exchange->message.root;
    if (schemas == NULL ||
        mg_spec_schemas_check_answer(schemas, version, method, method_len, response, NULL) != MG_SPEC_INVALID)
        return NULL;
    mg_schema_result_t result;
    mg_spec_schemas_check_answer(schemas, version, method, method_len, response, &result);
    char what[120], text[1024];
    snprintf(what, sizeof(what), "Invalid result for %.*s", (int)(method_len < 64 ? method_len : 64), method);
    first_violation(&result, what, text, sizeof(text));
    mg_log_as(MG_LOG_INFO, "validation.answer", exchange->principal != NULL ? exchange->principal->name : NULL,
              "a client's answer refused (protocol %s): %s", version, text);
    mg_outcome_decide(exchange, MG_AUDIT_DENY, "schema:protocol", "the client's answer does not match the MCP schema");
    mg_exchange_finish_refused(exchange, MG_RPC_INVALID_PARAMS, text, violations_data(&result));
    char asker_text[sizeof(text) + 64];
    snprintf(asker_text, sizeof(asker_text), "mcpgate refused the client's answer: %s", text);
    return mg_rpc_make_error(exchange->message.id, MG_RPC_INTERNAL_ERROR, asker_text, violations_data(&result));
}

/* Refuses a tools/call: a tool execution error since 2025-11-25, -32602 before. `text` is for the model. */
static void refuse_call(mg_exchange_t *exchange, const char *summary, const char *text,
                        const mg_schema_result_t *result)
{
    const char *version = exchange_version(exchange);
    if (version == NULL || strcmp(version, FIRST_TOOL_ERROR_VERSION) < 0) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, summary,
                                 result != NULL ? violations_data(result) : NULL);
        return;
    }
    json_t *list = result != NULL ? mg_schema_result_json(result) : json_array();
    json_t *response = json_pack("{s:s,s:O,s:{s:[{s:s,s:s}],s:b,s:{s:o}}}", "jsonrpc", "2.0", "id",
                                 exchange->message.id, "result", "content", "type", "text", "text", text, "isError", 1,
                                 "_meta", VIOLATIONS_META, list != NULL ? list : json_array());
    if (response == NULL) {
        mg_exchange_finish_error(exchange, MG_RPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    mg_exchange_finish(exchange, response);
    json_decref(response);
}

/* "Invalid arguments for tool x (the call was not made):\n<one line per violation>" */
static void refuse_arguments(mg_exchange_t *exchange, const char *tool, const mg_schema_result_t *result)
{
    char text[4096], summary[600];
    int used =
        snprintf(text, sizeof(text),
                 "Invalid arguments for tool %.100s (the call was not made); correct these and call again:\n", tool);
    if (used > 0 && (size_t)used < sizeof(text))
        mg_schema_result_text(result, text + used, sizeof(text) - (size_t)used);
    first_violation(result, "Invalid arguments", summary, sizeof(summary));
    mg_log_as(MG_LOG_INFO, "validation.arguments", exchange->principal != NULL ? exchange->principal->name : NULL,
              "tools/call %s refused: %s", tool, summary);
    mg_outcome_decide(exchange, MG_AUDIT_DENY, "schema:input", "the arguments do not match the tool's inputSchema");
    refuse_call(exchange, summary, text, result);
}

static bool validate_arguments(mg_exchange_t *exchange, size_t server_index, const char *local_name)
{
    mg_upstream_t *upstream = exchange->worker->upstreams[server_index];
    const mg_config_server_t *server = &exchange->config->servers[server_index];
    const char *tool_name = json_string_value(exchange->message.name);
    const mg_tool_schema_t *tool = mg_tool_schemas_find(upstream->tool_validators, local_name);
    char text[900];
    if (tool == NULL) { /* only when memory ran out building the set: refuse rather than pass unchecked */
        refuse_call(exchange, "The gateway cannot check this call now (out of memory)",
                    "The gateway cannot check this call now (out of memory); try again later.", NULL);
        return false;
    }
    const char *broken = tool->input_error != NULL ? tool->input_error
                         : tool->output_error != NULL && server->output_validation == MG_OUTPUT_ENFORCE
                             ? tool->output_error
                             : NULL;
    if (broken != NULL) {
        mg_outcome_decide(exchange, MG_AUDIT_ERROR, tool->input_error != NULL ? "schema:input" : "schema:output",
                          "the tool's schema is not valid JSON Schema");
        snprintf(text, sizeof(text),
                 "Tool %.100s cannot be called: its %s is not valid JSON Schema (%.600s), so the gateway cannot check "
                 "the call",
                 tool_name, tool->input_error != NULL ? "inputSchema" : "outputSchema", broken);
        refuse_call(exchange, text, text, NULL);
        return false;
    }
    if (tool->input != NULL) {
        json_t *arguments = json_object_get(exchange->message.params, "arguments");
        json_t *none = arguments == NULL ? json_object() : NULL; /* absent arguments are checked as {} */
        bool valid = mg_schema_validate(tool->input, NULL, arguments != NULL ? arguments : none, NULL);
        if (!valid) {
            mg_schema_result_t result;
            mg_schema_validate(tool->input, NULL, arguments != NULL ? arguments : none, &result);
            refuse_arguments(exchange, tool_name, &result);
        }
        json_decref(none);
        if (!valid)
            return false;
    }
    if (tool->output != NULL && server->output_validation != MG_OUTPUT_OFF) {
        mg_schema_release(exchange->output_schema);
        exchange->output_schema = mg_schema_retain(tool->output);
    }
    return true;
}

bool mg_validate_arguments(mg_exchange_t *exchange, size_t server_index, const char *local_name)
{
    uint64_t began = mg_trace_stage_start(exchange->trace);
    bool valid = validate_arguments(exchange, server_index, local_name);
    mg_trace_stage_end(exchange->trace, MG_TRACE_VALIDATE_ARGUMENTS, began, valid ? NULL : "invalid");
    return valid;
}

static bool validate_result(mg_exchange_t *exchange, size_t server_index, const json_t *response)
{
    if (exchange->output_schema == NULL)
        return true;
    const json_t *result = json_object_get(response, "result");
    if (!json_is_object(result) || json_is_true(json_object_get(result, "isError")))
        return true; /* an error result need not match the outputSchema */
    const char *result_type = json_string_value(json_object_get(result, "resultType"));
    if (result_type != NULL && strcmp(result_type, "complete") != 0)
        return true; /* input_required, task: not the tool's result yet */
    const json_t *structured = json_object_get(result, "structuredContent");
    mg_schema_result_t violations = {0};
    bool valid = structured != NULL && mg_schema_validate(exchange->output_schema, NULL, structured, NULL);
    if (valid)
        return true;
    if (structured != NULL) {
        mg_schema_validate(exchange->output_schema, NULL, structured, &violations);
    } else {
        violations.count = 1;
        mg_schema_violation_t *missing = &violations.violations[0];
        snprintf(missing->instance_path, sizeof(missing->instance_path), "%s", "");
        snprintf(missing->schema_path, sizeof(missing->schema_path), "%s", "");
        missing->keyword = "required";
        snprintf(missing->message, sizeof(missing->message), "%s",
                 "structuredContent is missing, and the tool declares an outputSchema");
    }
    const char *tool = json_string_value(exchange->message.name);
    const mg_config_server_t *server = &exchange->config->servers[server_index];
    char summary[600];
    first_violation(&violations, "Result does not match the tool's outputSchema", summary, sizeof(summary));
    bool enforce = server->output_validation == MG_OUTPUT_ENFORCE;
    mg_log(MG_LOG_WARN, "validation.output", "server %s, tool %s: %s (%s)", server->name, tool != NULL ? tool : "?",
           summary, enforce ? "refused" : "passed on: output_validation is report");
    if (!enforce)
        return true;
    mg_outcome_decide(exchange, MG_AUDIT_DENY, "schema:output", "the result does not match the tool's outputSchema");
    char text[4096];
    int used = snprintf(text, sizeof(text),
                        "The tool %.100s returned a result that does not match its outputSchema, so the gateway "
                        "withheld it:\n",
                        tool != NULL ? tool : "?");
    if (used > 0 && (size_t)used < sizeof(text))
        mg_schema_result_text(&violations, text + used, sizeof(text) - (size_t)used);
    refuse_call(exchange, summary, text, &violations);
    return false;
}

bool mg_validate_result(mg_exchange_t *exchange, size_t server_index, const json_t *response)
{
    if (exchange->output_schema == NULL)
        return true; /* nothing to check: no span either */
    uint64_t began = mg_trace_stage_start(exchange->trace);
    bool valid = validate_result(exchange, server_index, response);
    mg_trace_stage_end(exchange->trace, MG_TRACE_VALIDATE_RESULT, began, valid ? NULL : "invalid");
    return valid;
}

void mg_validate_catalog_changed(mg_worker_t *worker, size_t server_index)
{
    mg_upstream_t *upstream = worker->upstreams[server_index];
    mg_tool_schemas_destroy(upstream->tool_validators);
    upstream->tool_validators = NULL;
    mg_gateway_t *gateway = worker->gateway;
    if (upstream->tools != NULL)
        upstream->tool_validators =
            mg_tool_schemas_build(gateway->schema_cache, gateway->tool_schema_report,
                                  &gateway->config->servers[server_index], server_index, upstream->tools);
}
