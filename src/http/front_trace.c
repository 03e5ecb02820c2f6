/*
 * front_trace.c - an exchange's trace: made when a POST becomes an exchange, ended when it is freed
 * (front_trace.h).
 *
 * The client's context is read from params._meta (the MCP 2026-07-28 reserved keys, basic/index.mdx
 * "OpenTelemetry trace context", which legacy clients send too) before the W3C headers: _meta travels
 * with the message through whatever HTTP proxies sit in between, and names the MCP request itself. A
 * value that does not parse is ignored, and the next source (or a new trace) is used.
 *
 * Upstream propagation: the traceparent of the upstream call's own span goes into the request's
 * params._meta (every transport) and, through mg_upstream_session_t, into the HTTP upstream's headers.
 * The request is copied only when there is a context to send (mg_trace_inject_meta's shallow copies);
 * an exchange without a trace sends the dispatcher's request as it is.
 */
#include <stdio.h>
#include <string.h>

#include "http/front_trace.h"
#include "obs/trace.h"

/* A request's public target: a tool's or prompt's name, a resource's uri. */
static const char *target_of(const mg_rpc_message_t *message)
{
    const char *method = message->method;
    if (method == NULL)
        return NULL;
    if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
        return json_string_value(message->name);
    if (strcmp(method, "resources/read") == 0 || strcmp(method, "resources/subscribe") == 0 ||
        strcmp(method, "resources/unsubscribe") == 0)
        return json_string_value(json_object_get(message->params, "uri"));
    return NULL;
}

static h2o_iovec_t header(h2o_req_t *req, const char *name, size_t len)
{
    ssize_t index = h2o_find_header_by_str(&req->headers, name, len, -1);
    return index >= 0 ? req->headers.entries[index].value : h2o_iovec_init(NULL, 0);
}

static uint64_t timeval_ns(const struct timeval *tv)
{
    return (uint64_t)tv->tv_sec * 1000000000ULL + (uint64_t)tv->tv_usec * 1000ULL;
}

void mg_front_trace_begin(mg_exchange_t *exchange, h2o_req_t *req, uint64_t identify_start_ns, uint64_t identified_ns)
{
    mg_tracer_t *tracer = exchange->worker->gateway->tracer;
    if (tracer == NULL)
        return;
    const mg_rpc_message_t *message = &exchange->message;
    const json_t *meta =
        exchange->meta_object != NULL ? exchange->meta_object : json_object_get(message->params, "_meta");
    h2o_iovec_t traceparent = header(req, H2O_STRLIT("traceparent"));
    h2o_iovec_t tracestate = header(req, H2O_STRLIT("tracestate"));
    char id[72] = "";
    if (json_is_integer(message->id))
        snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, json_integer_value(message->id));
    else if (json_is_string(message->id))
        snprintf(id, sizeof(id), "%s", json_string_value(message->id));
    const char *version = exchange->modern ? exchange->meta.protocol_version
                          : exchange->has_session && exchange->claims.protocol_version[0] != '\0'
                              ? exchange->claims.protocol_version
                              : NULL;
    if (version == NULL && message->method != NULL && strcmp(message->method, "initialize") == 0)
        version = json_string_value(json_object_get(message->params, "protocolVersion"));
    mg_trace_request_t request = {
        .header_traceparent = traceparent.base,
        .header_traceparent_len = traceparent.len,
        .header_tracestate = tracestate.base,
        .header_tracestate_len = tracestate.len,
        .meta_traceparent = json_string_value(json_object_get(meta, "traceparent")),
        .meta_tracestate = json_string_value(json_object_get(meta, "tracestate")),
        .method = message->method,
        .target = target_of(message),
        .protocol_version = version,
        .request_id = id[0] != '\0' ? id : NULL,
        .arrived_ns = timeval_ns(&req->timestamps.request_begin_at),
        .identify_start_ns = identify_start_ns != 0 ? identify_start_ns : timeval_ns(&req->processed_at.at),
        .identified_ns = identified_ns,
    };
    exchange->trace = mg_trace_begin(tracer, &request);
}

/* The JSON-RPC error code of an answer, 0 for a result. */
static int error_code_of(const json_t *response)
{
    const json_t *error = json_object_get(response, "error");
    return error != NULL ? (int)json_integer_value(json_object_get(error, "code")) : 0;
}

void mg_front_trace_answer(mg_exchange_t *exchange, const json_t *response, int error_code)
{
    if (mg_trace_sampled(exchange->trace))
        mg_trace_answered(exchange->trace, error_code != 0 ? error_code : error_code_of(response));
}

void mg_front_trace_end(mg_exchange_t *exchange)
{
    if (exchange->trace == NULL)
        return;
    if (exchange->outcome.server >= 0)
        mg_trace_root_string(exchange->trace, "mcp.server", exchange->config->servers[exchange->outcome.server].name);
    mg_trace_end(exchange->trace);
    exchange->trace = NULL;
}

json_t *mg_front_trace_upstream_begin(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request,
                                      mg_upstream_session_t *session)
{
    if (exchange->trace == NULL)
        return json_incref(request);
    const char *server = exchange->config->servers[part->server_index].name;
    const char *traceparent = mg_trace_upstream_begin(exchange->trace, part, server, request);
    const char *tracestate = mg_trace_tracestate(exchange->trace);
    json_t *sent = traceparent != NULL ? mg_trace_inject_meta(request, traceparent, tracestate) : NULL;
    if (sent == NULL) /* nothing to send, or params the transport will refuse anyway */
        return json_incref(request);
    session->traceparent = traceparent;
    session->tracestate = tracestate;
    return sent;
}

void mg_front_trace_upstream_end(mg_exchange_t *exchange, mg_exchange_part_t *part, const json_t *response,
                                 int error_code)
{
    if (mg_trace_sampled(exchange->trace))
        mg_trace_upstream_end(exchange->trace, part, error_code != 0 ? error_code : error_code_of(response));
}
