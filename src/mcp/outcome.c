/* outcome.c - see outcome.h. */
#include "mcp/outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/principal.h"
#include "mcp/exchange.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/trace.h"
#include "upstream/upstream.h"

static int64_t now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mg_outcome_time_us(long seconds, long microseconds)
{
    return (int64_t)seconds * 1000000 + microseconds;
}

bool mg_outcome_wanted(const mg_exchange_t *exchange)
{
    return exchange->worker->gateway->audit != NULL || exchange->worker->gateway->metrics != NULL;
}

void mg_outcome_item(mg_exchange_t *exchange, mg_audit_item_kind_t kind, size_t server_index, const char *name)
{
    exchange->outcome.item_kind = (uint8_t)kind;
    exchange->outcome.server = (int32_t)server_index;
    exchange->outcome.item_name = name;
}

void mg_outcome_decide(mg_exchange_t *exchange, mg_audit_decision_t decision, const char *rule, const char *reason)
{
    mg_outcome_decide_copy(exchange, decision, NULL, reason);
    exchange->outcome.rule = rule;
}

void mg_outcome_decide_copy(mg_exchange_t *exchange, mg_audit_decision_t decision, const char *rule, const char *reason)
{
    mg_outcome_t *outcome = &exchange->outcome;
    outcome->decision = (uint8_t)decision;
    outcome->decided = true;
    outcome->rule = NULL;
    outcome->reason = NULL;
    if ((rule == NULL && reason == NULL) || !mg_outcome_wanted(exchange))
        return;
    size_t rule_len = rule != NULL ? strlen(rule) + 1 : 0, reason_len = reason != NULL ? strlen(reason) + 1 : 0;
    char *text = malloc(rule_len + reason_len);
    if (text == NULL)
        return;
    free(outcome->text);
    outcome->text = text;
    if (rule != NULL) {
        memcpy(text, rule, rule_len);
        outcome->rule = text;
    }
    if (reason != NULL) {
        memcpy(text + rule_len, reason, reason_len);
        outcome->reason = text + rule_len;
    }
}

void mg_outcome_upstream_begin(mg_exchange_t *exchange)
{
    if (exchange->outcome.upstream_begin_us == 0 && mg_outcome_wanted(exchange))
        exchange->outcome.upstream_begin_us = now_us(CLOCK_MONOTONIC);
}

void mg_outcome_upstream_end(mg_exchange_t *exchange)
{
    if (exchange->outcome.upstream_begin_us != 0)
        exchange->outcome.upstream_end_us = now_us(CLOCK_MONOTONIC);
}

void mg_outcome_dispose(mg_outcome_t *outcome)
{
    free(outcome->text);
    outcome->text = NULL;
    json_decref(outcome->findings);
    outcome->findings = NULL;
}

static void fill_principal(mg_audit_event_t *event, const mg_principal_t *principal)
{
    if (principal == NULL)
        return;
    event->principal.subject = principal->subject;
    event->principal.issuer = principal->issuer;
    event->principal.key_id = principal->key_id;
    event->principal.method = mg_principal_method_name(principal->method);
    if (principal->claims != NULL) {
        const char *client = json_string_value(json_object_get(principal->claims, "client_id"));
        event->principal.client_id =
            client != NULL ? client : json_string_value(json_object_get(principal->claims, "azp"));
    }
}

/* Hands the event to the trail; with `fsync: always` waits until it is on disk, so that the answer that
 * follows is never acknowledged ahead of its record. */
static void emit(mg_worker_t *worker, const mg_audit_event_t *event)
{
    mg_audit_t *audit = worker->gateway->audit;
    if (audit == NULL)
        return;
    mg_error_t err;
    err.message[0] = '\0'; /* not the whole 512 bytes: it is read only when something failed and filled it */
    int rc = mg_audit_emit(audit, event, &err);
    if (rc == 0 && worker->gateway->config->audit.fsync == MG_AUDIT_FSYNC_ALWAYS)
        rc = mg_audit_flush(audit, &err);
    if (rc != 0)
        mg_log(MG_LOG_ERROR, "audit.emit_failed", "%s", err.message);
}

static const char *status_of(const json_t *response, int error_code, bool tool_call)
{
    if (response == NULL)
        return error_code != 0 ? "error" : "cancelled";
    json_t *result = json_object_get(response, "result");
    if (result == NULL)
        return "error";
    return tool_call && json_is_true(json_object_get(result, "isError")) ? "tool_error" : "ok";
}

static const json_t *arguments_of(const mg_exchange_t *exchange)
{
    const char *method = exchange->message.method;
    if (method == NULL || (strcmp(method, "tools/call") != 0 && strcmp(method, "prompts/get") != 0))
        return NULL;
    return json_object_get(exchange->message.params, "arguments");
}

void mg_outcome_record(mg_exchange_t *exchange, const json_t *response, int error_code, int64_t bytes_out,
                       const char *client_address)
{
    mg_outcome_t *outcome = &exchange->outcome;
    if (outcome->recorded || !mg_outcome_wanted(exchange))
        return;
    outcome->recorded = true;
    const mg_rpc_message_t *message = &exchange->message;
    if (message->kind != MG_RPC_REQUEST && !outcome->decided && error_code == 0 && response == NULL)
        return; /* an accepted notification or client response: nothing was decided */
    json_t *error = response != NULL ? json_object_get(response, "error") : NULL;
    if (error != NULL)
        error_code = (int)json_integer_value(json_object_get(error, "code"));
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.time_us = outcome->start_us;
    event.request_id = message->id;
    char trace_id[2 * MG_TRACE_ID_BYTES + 1];
    event.trace_id = mg_trace_id_hex(exchange->trace, trace_id) ? trace_id : NULL;
    fill_principal(&event, exchange->principal);
    event.client_address = client_address;
    event.protocol_version = exchange->modern ? exchange->meta.protocol_version
                             : exchange->has_session && exchange->claims.protocol_version[0] != '\0'
                                 ? exchange->claims.protocol_version
                                 : NULL;
    if (outcome->server >= 0)
        event.server = exchange->config->servers[outcome->server].name;
    event.item_kind = (mg_audit_item_kind_t)outcome->item_kind;
    event.item_name = outcome->item_name;
    event.method = message->method;
    event.decision = (mg_audit_decision_t)outcome->decision;
    event.rule = outcome->rule;
    event.reason = outcome->reason;
    if (!outcome->decided && error_code != 0 && !outcome->upstream_answered) {
        /* the gateway answered with an error of its own: the request failed here, not upstream */
        event.decision = MG_AUDIT_ERROR;
        event.reason = error != NULL ? json_string_value(json_object_get(error, "message")) : NULL;
    }
    event.arguments = arguments_of(exchange);
    bool tool_call = message->method != NULL && strcmp(message->method, "tools/call") == 0;
    event.status = status_of(response, error_code, tool_call);
    event.error_code = error_code;
    if (outcome->upstream_begin_us != 0 && outcome->upstream_end_us >= outcome->upstream_begin_us)
        event.upstream_us = outcome->upstream_end_us - outcome->upstream_begin_us;
    if (outcome->start_us != 0)
        event.total_us = now_us(CLOCK_REALTIME) - outcome->start_us;
    event.bytes_in = outcome->bytes_in;
    event.bytes_out = bytes_out;
    if (outcome->findings_omitted > 0)
        json_array_append_new(outcome->findings, json_pack("{s:I}", "omitted", (json_int_t)outcome->findings_omitted));
    event.findings = outcome->findings;
    /* a refused call's tool is a label only when it is in the server's list (the client may have made it up) */
    bool item_known =
        outcome->item_known ||
        (outcome->server >= 0 && outcome->item_kind == MG_AUDIT_ITEM_TOOL && outcome->item_name != NULL &&
         json_object_get(exchange->worker->upstreams[outcome->server]->tools, outcome->item_name) != NULL);
    mg_metrics_observe(exchange->worker->gateway->metrics, &event, item_known);
    emit(exchange->worker, &event);
}

void mg_outcome_record_direct(mg_worker_t *worker, const mg_principal_t *principal, const mg_rpc_message_t *message,
                              int64_t start_us, int64_t bytes_in, mg_audit_decision_t decision, int error_code,
                              const char *reason, const char *client_address)
{
    if (worker->gateway->audit == NULL && worker->gateway->metrics == NULL)
        return;
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.time_us = start_us;
    fill_principal(&event, principal);
    if (message != NULL) {
        event.request_id = message->id;
        event.method = message->method;
        if (message->meta != NULL && message->meta->protocol_version[0] != '\0')
            event.protocol_version = message->meta->protocol_version;
    }
    event.client_address = client_address;
    event.decision = decision;
    event.reason = reason;
    event.status = error_code != 0 ? "error" : "ok";
    event.error_code = error_code;
    if (start_us != 0)
        event.total_us = now_us(CLOCK_REALTIME) - start_us;
    event.bytes_in = bytes_in;
    mg_metrics_observe(worker->gateway->metrics, &event, false);
    emit(worker, &event);
}
