/*
 * trace.c - the tracer's queue and a request's spans (trace.h).
 *
 * A request's trace is one heap block, made only when there is something to do: a sampled request
 * holds its root span in the block and records stage spans on the stack of whoever ends them; a
 * sampled-out request that brought a context keeps just enough to pass that context upstream (the
 * client's trace id and a fresh span id with the sampled flag off, as W3C section 3.2.2.5 asks of a
 * participant that does not record). Upstream call spans are the only ones that stay open across
 * loop turns; they live in small heap blocks keyed by the caller's pointer (the exchange part).
 *
 * Spans are submitted by value. The queue is bounded; when it is full the span is dropped and
 * counted (mg_tracer_stats): tracing must never slow down or block the request path, and a lost span
 * costs an observer less than a slower gateway costs everyone.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/trace_internal.h"

#define MAX_UPSTREAM_SPANS 8 /* per request; a fan-out to more servers records the first eight */

/* ---- span records ---- */

size_t mg_span_used_size(const mg_span_t *span)
{
    return offsetof(mg_span_t, text) + span->text_len;
}

/* Copies text into the span, cut at a UTF-8 boundary when it does not fit; returns the length kept. */
static uint16_t span_text(mg_span_t *span, const char *text, size_t len, uint16_t *offset)
{
    size_t room = MG_SPAN_TEXT_MAX - span->text_len;
    if (len > room) {
        len = room;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--; /* text[len] continues a character: keep none of it */
    }
    *offset = span->text_len;
    memcpy(span->text + span->text_len, text, len);
    span->text_len = (uint16_t)(span->text_len + len);
    return (uint16_t)len;
}

void mg_span_init(mg_span_t *span, const uint8_t trace_id[MG_TRACE_ID_BYTES], const uint8_t span_id[MG_SPAN_ID_BYTES],
                  const uint8_t *parent_span_id, mg_span_kind_t kind, const char *name, size_t name_len)
{
    memset(span, 0, offsetof(mg_span_t, text));
    memcpy(span->trace_id, trace_id, MG_TRACE_ID_BYTES);
    memcpy(span->span_id, span_id, MG_SPAN_ID_BYTES);
    if (parent_span_id != NULL) {
        memcpy(span->parent_span_id, parent_span_id, MG_SPAN_ID_BYTES);
        span->has_parent = true;
    }
    span->kind = (uint8_t)kind;
    span->name_len = span_text(span, name, name_len, &span->name_offset);
}

void mg_span_add_string(mg_span_t *span, const char *key, const char *value, size_t len)
{
    if (span->attributes_len == MG_SPAN_MAX_ATTRIBUTES || value == NULL)
        return;
    mg_span_attribute_t *attribute = &span->attributes[span->attributes_len++];
    attribute->key = key;
    attribute->is_string = true;
    attribute->len = span_text(span, value, len, &attribute->offset);
}

void mg_span_add_int(mg_span_t *span, const char *key, int64_t value)
{
    if (span->attributes_len == MG_SPAN_MAX_ATTRIBUTES)
        return;
    mg_span_attribute_t *attribute = &span->attributes[span->attributes_len++];
    attribute->key = key;
    attribute->is_string = false;
    attribute->number = value;
}

void mg_span_set_status(mg_span_t *span, mg_span_status_t status, const char *message)
{
    span->status = (uint8_t)status;
    span->status_message_len = 0;
    if (status == MG_SPAN_STATUS_ERROR && message != NULL)
        span->status_message_len = span_text(span, message, strlen(message), &span->status_message_offset);
}

/* A JSON-RPC error as OpenTelemetry's MCP conventions record it: rpc.jsonrpc.error_code, error.type
 * (the code as text) and an ERROR status. */
static void span_error(mg_span_t *span, int error_code)
{
    char text[24];
    int len = snprintf(text, sizeof(text), "%d", error_code);
    mg_span_add_int(span, "rpc.jsonrpc.error_code", error_code);
    mg_span_add_string(span, "error.type", text, (size_t)len);
    mg_span_set_status(span, MG_SPAN_STATUS_ERROR, NULL);
}

/* ---- the tracer ---- */

static char *copy_text(const char *text)
{
    return text != NULL ? strdup(text) : NULL;
}

int mg_tracer_create(const mg_config_tracing_t *config, mg_tracer_t **out, mg_error_t *err)
{
    mg_tracer_t *tracer = calloc(1, sizeof(*tracer));
    if (tracer == NULL)
        return mg_error_set(err, "out of memory");
    tracer->endpoint = copy_text(config->otlp_endpoint);
    tracer->service_name = copy_text(config->service_name != NULL ? config->service_name : "mcpgate");
    tracer->sample_ratio = config->sample_ratio;
    tracer->batch_size = config->batch_size > 0 ? config->batch_size : 512;
    tracer->export_interval_ms = config->export_interval_ms > 0 ? config->export_interval_ms : 2000;
    tracer->export_timeout_ms = config->export_timeout_ms > 0 ? config->export_timeout_ms : 10000;
    tracer->capacity = config->queue > 0 ? config->queue : 8192;
    if (tracer->batch_size > tracer->capacity)
        tracer->batch_size = tracer->capacity;
    tracer->filling = calloc(tracer->capacity, sizeof(mg_span_t));
    tracer->draining = calloc(tracer->capacity, sizeof(mg_span_t));
    tracer->headers = calloc(config->headers_len + 1, sizeof(*tracer->headers));
    bool ok = tracer->endpoint != NULL && tracer->service_name != NULL && tracer->filling != NULL &&
              tracer->draining != NULL && tracer->headers != NULL;
    for (size_t i = 0; ok && i < config->headers_len; i++) {
        tracer->headers[i].key = copy_text(config->headers[i].key);
        tracer->headers[i].value = copy_text(config->headers[i].value);
        tracer->headers_len = i + 1;
        ok = tracer->headers[i].key != NULL && tracer->headers[i].value != NULL;
    }
    pthread_mutex_init(&tracer->lock, NULL);
    pthread_cond_init(&tracer->wake, NULL);
    pthread_cond_init(&tracer->settled, NULL);
    tracer->stats.queue_capacity = tracer->capacity;
    if (!ok) {
        mg_tracer_destroy(tracer);
        return mg_error_set(err, "out of memory");
    }
    *out = tracer;
    return 0;
}

int mg_tracer_start(mg_tracer_t *tracer, mg_error_t *err)
{
    assert(!tracer->started);
    int rc = pthread_create(&tracer->thread, NULL, mg_trace_export_main, tracer);
    if (rc != 0)
        return mg_error_set(err, "cannot start the trace exporter thread: %s", strerror(rc));
    pthread_setname_np(tracer->thread, "mg-trace");
    tracer->started = true;
    return 0;
}

void mg_tracer_destroy(mg_tracer_t *tracer)
{
    if (tracer == NULL)
        return;
    if (tracer->started) {
        pthread_mutex_lock(&tracer->lock);
        tracer->stopping = true; /* the exporter sends what is queued, then returns */
        pthread_cond_signal(&tracer->wake);
        pthread_mutex_unlock(&tracer->lock);
        pthread_join(tracer->thread, NULL);
    }
    pthread_cond_destroy(&tracer->settled);
    pthread_cond_destroy(&tracer->wake);
    pthread_mutex_destroy(&tracer->lock);
    for (size_t i = 0; i < tracer->headers_len; i++) {
        free(tracer->headers[i].key);
        if (tracer->headers[i].value != NULL)
            memset(tracer->headers[i].value, 0, strlen(tracer->headers[i].value));
        free(tracer->headers[i].value);
    }
    free(tracer->headers);
    free(tracer->filling);
    free(tracer->draining);
    free(tracer->endpoint);
    free(tracer->service_name);
    free(tracer);
}

void mg_tracer_submit(mg_tracer_t *tracer, const mg_span_t *span)
{
    pthread_mutex_lock(&tracer->lock);
    if (tracer->filling_len == tracer->capacity) {
        tracer->stats.spans_dropped++;
        pthread_mutex_unlock(&tracer->lock);
        return;
    }
    memcpy(&tracer->filling[tracer->filling_len++], span, mg_span_used_size(span));
    tracer->accepted++;
    tracer->stats.spans_queued++;
    if (tracer->filling_len == tracer->batch_size)
        pthread_cond_signal(&tracer->wake); /* once per batch, not per span */
    pthread_mutex_unlock(&tracer->lock);
}

void mg_tracer_flush(mg_tracer_t *tracer)
{
    if (tracer == NULL)
        return;
    pthread_mutex_lock(&tracer->lock);
    uint64_t target = tracer->accepted;
    if (tracer->flush_wanted < target)
        tracer->flush_wanted = target;
    pthread_cond_signal(&tracer->wake);
    while (tracer->started && tracer->settled_count < target)
        pthread_cond_wait(&tracer->settled, &tracer->lock);
    pthread_mutex_unlock(&tracer->lock);
}

void mg_tracer_stats(mg_tracer_t *tracer, mg_tracer_stats_t *out)
{
    pthread_mutex_lock(&tracer->lock);
    *out = tracer->stats;
    out->queue_depth = tracer->filling_len;
    pthread_mutex_unlock(&tracer->lock);
}

/* ---- a request's trace ---- */

typedef struct st_upstream_span_t {
    const void *key;
    mg_span_t *span; /* NULL when not sampled */
} upstream_span_t;

struct st_mg_trace_t {
    mg_tracer_t *tracer;
    bool sampled;
    uint8_t trace_id[MG_TRACE_ID_BYTES];
    uint8_t flags; /* sent on: the decision in bit 0, the parent's other bits kept */
    char traceparent[MG_TRACEPARENT_LEN + 1];
    char *tracestate; /* the client's, when valid; NULL otherwise */
    upstream_span_t upstream[MAX_UPSTREAM_SPANS];
    bool answered;
    int error_code;  /* the answer's JSON-RPC error code, 0 for a result */
    mg_span_t *root; /* sampled: in the same block, after the trace */
};

static const struct {
    const char *name;
    const char *check; /* mcpgate.validate.check, or NULL */
} stages[] = {
    [MG_TRACE_IDENTIFY] = {"mcpgate.identify", NULL},
    [MG_TRACE_VALIDATE] = {"mcpgate.validate", "message"},
    [MG_TRACE_VALIDATE_ARGUMENTS] = {"mcpgate.validate", "arguments"},
    [MG_TRACE_VALIDATE_RESULT] = {"mcpgate.validate", "result"},
    [MG_TRACE_AUTHORIZE] = {"mcpgate.authorize", NULL},
    [MG_TRACE_RATE_LIMIT] = {"mcpgate.rate_limit", NULL},
};

/* The client's context: params._meta's traceparent first (it travels with the message, whatever
 * proxies the HTTP request went through), else the header; tracestate from the same place. */
static bool client_context(const mg_trace_request_t *request, mg_trace_context_t *parent, const char **state,
                           size_t *state_len)
{
    if (request->meta_traceparent != NULL &&
        mg_traceparent_parse(request->meta_traceparent, strlen(request->meta_traceparent), parent) == 0) {
        *state = request->meta_tracestate;
        *state_len = *state != NULL ? strlen(*state) : 0;
        return true;
    }
    if (request->header_traceparent != NULL &&
        mg_traceparent_parse(request->header_traceparent, request->header_traceparent_len, parent) == 0) {
        *state = request->header_tracestate;
        *state_len = request->header_tracestate_len;
        return true;
    }
    return false;
}

static void root_attributes(mg_span_t *root, const mg_trace_request_t *request)
{
    const char *method = request->method != NULL ? request->method : "";
    mg_span_add_string(root, "mcp.method.name", method, strlen(method));
    if (request->protocol_version != NULL)
        mg_span_add_string(root, "mcp.protocol.version", request->protocol_version, strlen(request->protocol_version));
    if (request->request_id != NULL)
        mg_span_add_string(root, "jsonrpc.request.id", request->request_id, strlen(request->request_id));
    if (request->target == NULL)
        return;
    size_t target_len = strlen(request->target);
    if (strcmp(method, "tools/call") == 0) {
        mg_span_add_string(root, "gen_ai.tool.name", request->target, target_len);
        mg_span_add_string(root, "gen_ai.operation.name", "execute_tool", 12);
    } else if (strcmp(method, "prompts/get") == 0) {
        mg_span_add_string(root, "gen_ai.prompt.name", request->target, target_len);
    } else if (strncmp(method, "resources/", 10) == 0) {
        mg_span_add_string(root, "mcp.resource.uri", request->target, target_len);
    }
}

/* "<method> <target>", or the method alone (OpenTelemetry's MCP span name). */
static size_t span_name(char *out, size_t size, const char *method, const char *target)
{
    int len = target != NULL ? snprintf(out, size, "%s %s", method, target) : snprintf(out, size, "%s", method);
    return len < 0 ? 0 : (size_t)len < size ? (size_t)len : size - 1;
}

mg_trace_t *mg_trace_begin(mg_tracer_t *tracer, const mg_trace_request_t *request)
{
    if (tracer == NULL)
        return NULL;
    mg_trace_context_t parent;
    const char *state = NULL;
    size_t state_len = 0;
    bool has_parent = client_context(request, &parent, &state, &state_len);
    uint8_t trace_id[MG_TRACE_ID_BYTES];
    if (has_parent)
        memcpy(trace_id, parent.trace_id, sizeof(trace_id));
    else
        mg_trace_random_trace_id(trace_id);
    bool sampled = mg_trace_should_sample(has_parent ? &parent : NULL, trace_id, tracer->sample_ratio);
    if (!sampled && !has_parent)
        return NULL; /* nothing to record and nothing to pass on */
    size_t size = sizeof(mg_trace_t) + (sampled ? sizeof(mg_span_t) : 0);
    mg_trace_t *trace = malloc(size);
    if (trace == NULL)
        return NULL;
    memset(trace, 0, sizeof(*trace));
    trace->tracer = tracer;
    trace->sampled = sampled;
    memcpy(trace->trace_id, trace_id, sizeof(trace_id));
    trace->flags =
        (uint8_t)(((has_parent ? parent.flags : 0) & ~MG_TRACE_FLAG_SAMPLED) | (sampled ? MG_TRACE_FLAG_SAMPLED : 0));
    if (has_parent && state != NULL && state_len > 0 && mg_tracestate_valid(state, state_len))
        trace->tracestate = strndup(state, state_len);
    if (!sampled)
        return trace;
    trace->root = (mg_span_t *)(trace + 1);
    uint8_t root_id[MG_SPAN_ID_BYTES];
    mg_trace_random_span_id(root_id);
    char name[256];
    const char *method = request->method != NULL ? request->method : "";
    size_t name_len = span_name(name, sizeof(name), method, request->target);
    mg_span_init(trace->root, trace_id, root_id, has_parent ? parent.span_id : NULL, MG_SPAN_SERVER, name, name_len);
    trace->root->flags = trace->flags;
    trace->root->start_ns = request->arrived_ns != 0 ? request->arrived_ns : mg_trace_now_ns();
    root_attributes(trace->root, request);
    if (request->identify_start_ns != 0) {
        mg_span_t span;
        uint8_t span_id[MG_SPAN_ID_BYTES];
        mg_trace_random_span_id(span_id);
        const char *stage = stages[MG_TRACE_IDENTIFY].name;
        mg_span_init(&span, trace_id, span_id, root_id, MG_SPAN_INTERNAL, stage, strlen(stage));
        span.start_ns = request->identify_start_ns;
        span.end_ns = request->identified_ns != 0 ? request->identified_ns : mg_trace_now_ns();
        span.flags = trace->flags;
        mg_tracer_submit(tracer, &span);
    }
    return trace;
}

bool mg_trace_sampled(const mg_trace_t *trace)
{
    return trace != NULL && trace->sampled;
}

uint64_t mg_trace_stage_start(const mg_trace_t *trace)
{
    return trace != NULL && trace->sampled ? mg_trace_now_ns() : 0;
}

void mg_trace_stage_end(mg_trace_t *trace, mg_trace_stage_t stage, uint64_t start_ns, const char *refused)
{
    if (trace == NULL || !trace->sampled || start_ns == 0)
        return;
    assert((size_t)stage < sizeof(stages) / sizeof(stages[0]));
    mg_span_t span;
    uint8_t span_id[MG_SPAN_ID_BYTES];
    mg_trace_random_span_id(span_id);
    const char *name = stages[stage].name;
    mg_span_init(&span, trace->trace_id, span_id, trace->root->span_id, MG_SPAN_INTERNAL, name, strlen(name));
    span.flags = trace->flags;
    span.start_ns = start_ns;
    span.end_ns = mg_trace_now_ns();
    if (stages[stage].check != NULL)
        mg_span_add_string(&span, "mcpgate.validate.check", stages[stage].check, strlen(stages[stage].check));
    if (refused != NULL) {
        mg_span_add_string(&span, "mcpgate.decision", refused, strlen(refused));
        mg_span_set_status(&span, MG_SPAN_STATUS_ERROR, refused);
    }
    mg_tracer_submit(trace->tracer, &span);
}

void mg_trace_answered(mg_trace_t *trace, int error_code)
{
    if (trace == NULL || trace->answered)
        return;
    trace->answered = true;
    trace->error_code = error_code;
}

static upstream_span_t *find_upstream(mg_trace_t *trace, const void *key)
{
    for (size_t i = 0; i < MAX_UPSTREAM_SPANS; i++) {
        if (trace->upstream[i].key == key)
            return &trace->upstream[i];
    }
    return NULL;
}

static void finish_upstream(mg_trace_t *trace, upstream_span_t *slot, int error_code, const char *abandoned)
{
    mg_span_t *span = slot->span;
    slot->key = NULL;
    slot->span = NULL;
    if (span == NULL)
        return;
    span->end_ns = mg_trace_now_ns();
    if (error_code != 0)
        span_error(span, error_code);
    else if (abandoned != NULL)
        mg_span_set_status(span, MG_SPAN_STATUS_ERROR, abandoned);
    mg_tracer_submit(trace->tracer, span);
    free(span);
}

const char *mg_trace_upstream_begin(mg_trace_t *trace, const void *key, const char *server, const json_t *request)
{
    if (trace == NULL)
        return NULL;
    assert(key != NULL);
    upstream_span_t *slot = find_upstream(trace, key);
    if (slot != NULL)
        finish_upstream(trace, slot, 0, NULL); /* a page or a retry: the earlier call ended */
    else
        slot = find_upstream(trace, NULL);
    uint8_t span_id[MG_SPAN_ID_BYTES];
    mg_trace_random_span_id(span_id);
    mg_traceparent_format(trace->trace_id, span_id, trace->flags, trace->traceparent);
    if (!trace->sampled || slot == NULL)
        return trace->traceparent; /* passed on, not recorded (or more calls than this request records) */
    mg_span_t *span = malloc(sizeof(*span));
    if (span == NULL)
        return trace->traceparent;
    const char *method = json_string_value(json_object_get(request, "method"));
    const json_t *params = json_object_get(request, "params");
    const char *target = json_string_value(json_object_get(params, "name"));
    if (target == NULL)
        target = json_string_value(json_object_get(params, "uri"));
    char name[256];
    size_t name_len = span_name(name, sizeof(name), method != NULL ? method : "", target);
    mg_span_init(span, trace->trace_id, span_id, trace->root->span_id, MG_SPAN_CLIENT, name, name_len);
    span->flags = trace->flags;
    span->start_ns = mg_trace_now_ns();
    if (method != NULL)
        mg_span_add_string(span, "mcp.method.name", method, strlen(method));
    if (server != NULL)
        mg_span_add_string(span, "mcp.server", server, strlen(server));
    if (target != NULL && method != NULL && strcmp(method, "tools/call") == 0)
        mg_span_add_string(span, "gen_ai.tool.name", target, strlen(target));
    slot->key = key;
    slot->span = span;
    return trace->traceparent;
}

const char *mg_trace_tracestate(const mg_trace_t *trace)
{
    return trace != NULL ? trace->tracestate : NULL;
}

void mg_trace_upstream_end(mg_trace_t *trace, const void *key, int error_code)
{
    if (trace == NULL || key == NULL)
        return;
    upstream_span_t *slot = find_upstream(trace, key);
    if (slot != NULL)
        finish_upstream(trace, slot, error_code, NULL);
}

void mg_trace_root_string(mg_trace_t *trace, const char *key, const char *value)
{
    if (trace == NULL || !trace->sampled || value == NULL)
        return;
    mg_span_add_string(trace->root, key, value, strlen(value));
}

bool mg_trace_id_hex(const mg_trace_t *trace, char out[2 * MG_TRACE_ID_BYTES + 1])
{
    if (trace == NULL)
        return false;
    mg_trace_hex(trace->trace_id, MG_TRACE_ID_BYTES, out);
    return true;
}

void mg_trace_end(mg_trace_t *trace)
{
    if (trace == NULL)
        return;
    for (size_t i = 0; i < MAX_UPSTREAM_SPANS; i++) {
        if (trace->upstream[i].key != NULL)
            finish_upstream(trace, &trace->upstream[i], 0, "abandoned: the request ended first");
    }
    if (trace->sampled) {
        trace->root->end_ns = mg_trace_now_ns();
        if (trace->error_code != 0)
            span_error(trace->root, trace->error_code);
        mg_tracer_submit(trace->tracer, trace->root);
    }
    free(trace->tracestate);
    free(trace);
}

json_t *mg_trace_inject_meta(const json_t *request, const char *traceparent, const char *tracestate)
{
    json_t *params = json_object_get(request, "params");
    if (!json_is_object(request) || (params != NULL && !json_is_object(params)))
        return NULL;
    json_t *meta = json_object_get(params, "_meta");
    json_t *out = json_copy((json_t *)request);
    json_t *new_params = params != NULL ? json_copy(params) : json_object();
    json_t *new_meta = json_is_object(meta) ? json_copy(meta) : json_object();
    if (out == NULL || new_params == NULL || new_meta == NULL ||
        json_object_set_new(new_meta, "traceparent", json_string(traceparent)) != 0 ||
        (tracestate != NULL ? json_object_set_new(new_meta, "tracestate", json_string(tracestate))
                            : (json_object_del(new_meta, "tracestate"), 0)) != 0 ||
        json_object_set(new_params, "_meta", new_meta) != 0 || json_object_set(out, "params", new_params) != 0) {
        json_decref(out);
        json_decref(new_params);
        json_decref(new_meta);
        return NULL;
    }
    json_decref(new_params);
    json_decref(new_meta);
    return out;
}
