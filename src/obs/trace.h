/*
 * trace.h - OpenTelemetry traces: W3C trace context in and out, a span per pipeline stage, export
 * over OTLP/HTTP (JSON) from a background thread.
 *
 * Three layers:
 *   - trace context (trace_context.c): `traceparent` parsed and formatted exactly as W3C Trace Context
 *     level 1 says, `tracestate` accepted when well formed, random ids. Pure functions; fuzzed by
 *     fuzz_traceparent.
 *   - the request's trace (trace.c): an mg_trace_t per exchange, made by mg_trace_begin from the
 *     client's context (params._meta first, then the HTTP header) and the sampling decision
 *     (parent-based: the client's sampled flag; without a parent, sample_ratio). Its root span is the
 *     gateway's SERVER span for the request; stage spans (identify, validate, authorize, rate limit) and
 *     the upstream calls' CLIENT spans are its children. A finished span is copied into the tracer's
 *     queue under one short lock; a full queue drops the span and counts it, never waits.
 *   - the exporter (trace_export.c): a thread that takes the queue's spans in batches, encodes them as
 *     an OTLP ExportTraceServiceRequest in the protobuf JSON mapping and POSTs them with libcurl.
 *
 * Cost. Without a `tracing` section the tracer is NULL and every mg_trace_* call is one branch on a
 * NULL trace. A request that is sampled out and came without a trace context gets no mg_trace_t at
 * all (the decision is a comparison on the new trace id). A sampled-out request with a client context
 * gets a small one, only to pass the context on to the upstream.
 *
 * Threads. An mg_trace_t belongs to its exchange's worker thread. The tracer is shared: creating and
 * destroying it is the main thread's, mg_trace_* may be called from any worker.
 */
#ifndef MG_OBS_TRACE_H
#define MG_OBS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/config.h"
#include "core/bytes.h"
#include "core/error.h"

/* ---- W3C trace context ------------------------------------------------------------------------ */

#define MG_TRACE_ID_BYTES 16
#define MG_SPAN_ID_BYTES 8
#define MG_TRACEPARENT_LEN 55      /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define MG_TRACESTATE_MAX 512      /* W3C: a tracestate longer than this may be dropped */
#define MG_TRACE_FLAG_SAMPLED 0x01 /* trace-flags bit 0 */

typedef struct st_mg_trace_context_t {
    uint8_t trace_id[MG_TRACE_ID_BYTES];
    uint8_t span_id[MG_SPAN_ID_BYTES]; /* the sender's span: the parent of ours */
    uint8_t flags;                     /* trace-flags as received */
} mg_trace_context_t;

/* Parses a traceparent value (W3C Trace Context, section 3.2): version 00 is exactly 55 characters;
 * a later version (not ff) is read for its first four fields when it is at least 55 characters and
 * the 56th, if any, is '-'. Hex must be lowercase; an all-zero trace-id or parent-id is invalid.
 * Returns 0 and fills *out, or -1 (then the caller starts a new trace; a bad header never fails a
 * request). `text` need not be NUL-terminated. */
int mg_traceparent_parse(const char *text, size_t len, mg_trace_context_t *out);

/* Writes "00-<trace_id>-<span_id>-<flags>" and a NUL into out (MG_TRACEPARENT_LEN + 1 bytes). */
void mg_traceparent_format(const uint8_t trace_id[MG_TRACE_ID_BYTES], const uint8_t span_id[MG_SPAN_ID_BYTES],
                           uint8_t flags, char out[MG_TRACEPARENT_LEN + 1]);

/* A tracestate value worth passing on (section 3.3): at most MG_TRACESTATE_MAX characters, at most 32
 * comma-separated list members of the form key=value with the W3C key and value alphabets (empty
 * members allowed). A value that fails is dropped, not repaired. */
bool mg_tracestate_valid(const char *text, size_t len);

/* Lowercase hex of `len` bytes, NUL-terminated (out: 2 * len + 1 bytes). */
void mg_trace_hex(const uint8_t *bytes, size_t len, char *out);

/* Random ids from a per-thread generator seeded from the kernel; never all zero. */
void mg_trace_random_trace_id(uint8_t out[MG_TRACE_ID_BYTES]);
void mg_trace_random_span_id(uint8_t out[MG_SPAN_ID_BYTES]);

/* ---- sampling ------------------------------------------------------------------------------------ */

/* The decision for a request: with a parent, its sampled flag (parent-based); without one, whether
 * the trace id's last 8 bytes, read as a big-endian number, fall below ratio * 2^64 (the same rule
 * as OpenTelemetry's TraceIdRatioBased: 1 samples everything, 0 nothing). */
bool mg_trace_should_sample(const mg_trace_context_t *parent, const uint8_t trace_id[MG_TRACE_ID_BYTES], double ratio);

/* ---- span records -------------------------------------------------------------------------------- */

typedef enum en_mg_span_kind_t { /* OTLP Span.SpanKind numbers */
                                 MG_SPAN_INTERNAL = 1,
                                 MG_SPAN_SERVER = 2,
                                 MG_SPAN_CLIENT = 3,
} mg_span_kind_t;

typedef enum en_mg_span_status_t { /* OTLP Status.StatusCode numbers */
                                   MG_SPAN_STATUS_UNSET = 0,
                                   MG_SPAN_STATUS_OK = 1,
                                   MG_SPAN_STATUS_ERROR = 2,
} mg_span_status_t;

#define MG_SPAN_MAX_ATTRIBUTES 12
#define MG_SPAN_TEXT_MAX 640 /* name, status message and string attribute values share it */

typedef struct st_mg_span_attribute_t {
    const char *key; /* a string literal */
    bool is_string;
    int64_t number;       /* !is_string */
    uint16_t offset, len; /* is_string: the value in span->text */
} mg_span_attribute_t;

/* One finished (or finishing) span, self-contained: it is copied by value into the queue, so it holds
 * no pointer except attribute keys, which are literals. Text that does not fit is cut short. */
typedef struct st_mg_span_t {
    uint8_t trace_id[MG_TRACE_ID_BYTES];
    uint8_t span_id[MG_SPAN_ID_BYTES];
    uint8_t parent_span_id[MG_SPAN_ID_BYTES];
    bool has_parent;
    uint8_t flags;
    uint8_t kind;              /* mg_span_kind_t */
    uint8_t status;            /* mg_span_status_t */
    uint64_t start_ns, end_ns; /* Unix epoch nanoseconds */
    uint16_t name_offset, name_len;
    uint16_t status_message_offset, status_message_len;
    uint8_t attributes_len;
    mg_span_attribute_t attributes[MG_SPAN_MAX_ATTRIBUTES];
    uint16_t text_len;
    char text[MG_SPAN_TEXT_MAX];
} mg_span_t;

/* Wall-clock time in Unix epoch nanoseconds (CLOCK_REALTIME: spans from several hosts line up). */
uint64_t mg_trace_now_ns(void);

/* Clears `span` and sets its ids, kind and name. `parent` may be NULL (a root). */
void mg_span_init(mg_span_t *span, const uint8_t trace_id[MG_TRACE_ID_BYTES], const uint8_t span_id[MG_SPAN_ID_BYTES],
                  const uint8_t *parent_span_id, mg_span_kind_t kind, const char *name, size_t name_len);
/* Adds an attribute; `key` must be a string literal. Dropped when the span is full. */
void mg_span_add_string(mg_span_t *span, const char *key, const char *value, size_t len);
void mg_span_add_int(mg_span_t *span, const char *key, int64_t value);
/* Sets the status; `message` (may be NULL) only for ERROR, as OTLP wants. */
void mg_span_set_status(mg_span_t *span, mg_span_status_t status, const char *message);

/* Appends spans[0..len) as one OTLP/HTTP JSON ExportTraceServiceRequest (one resource with
 * service.name, one scope "mcpgate") to `out`. */
void mg_trace_encode_otlp(const mg_span_t *spans, size_t len, const char *service_name, mg_bytes_t *out);

/* ---- the tracer ---------------------------------------------------------------------------------- */

typedef struct st_mg_tracer_t mg_tracer_t;

typedef struct st_mg_tracer_stats_t {
    uint64_t spans_queued;   /* accepted into the queue */
    uint64_t spans_dropped;  /* refused: queue full */
    uint64_t spans_exported; /* acknowledged by the collector (2xx) */
    uint64_t spans_failed;   /* in batches the collector refused or never answered (not retried) */
    uint64_t exports;        /* POSTs made */
    uint64_t export_errors;  /* POSTs that failed */
    size_t queue_depth, queue_capacity;
} mg_tracer_stats_t;

/* Makes a tracer for a `tracing` section (copied: the tracer does not keep `config`). No thread yet. */
int mg_tracer_create(const mg_config_tracing_t *config, mg_tracer_t **out, mg_error_t *err);
/* Starts the exporter thread. */
int mg_tracer_start(mg_tracer_t *tracer, mg_error_t *err);
/* Exports what is queued, waiting at most the export timeout, stops the thread and frees the tracer.
 * Every worker must have stopped. NULL is allowed. */
void mg_tracer_destroy(mg_tracer_t *tracer);
/* Copies a finished span into the queue, or drops it (counted) when the queue is full. Thread-safe. */
void mg_tracer_submit(mg_tracer_t *tracer, const mg_span_t *span);
/* Wakes the exporter and waits until everything submitted before the call has been exported or
 * failed (tests; shutdown). */
void mg_tracer_flush(mg_tracer_t *tracer);
void mg_tracer_stats(mg_tracer_t *tracer, mg_tracer_stats_t *out);

/* ---- the request's trace ------------------------------------------------------------------------- */

typedef struct st_mg_trace_t mg_trace_t;

typedef enum en_mg_trace_stage_t {
    MG_TRACE_IDENTIFY = 0,       /* "mcpgate.identify" */
    MG_TRACE_VALIDATE,           /* "mcpgate.validate", mcpgate.validate.check "message" */
    MG_TRACE_VALIDATE_ARGUMENTS, /* "mcpgate.validate", "arguments" (a tools/call's, against its inputSchema) */
    MG_TRACE_VALIDATE_RESULT,    /* "mcpgate.validate", "result" (against the tool's outputSchema) */
    MG_TRACE_AUTHORIZE,          /* "mcpgate.authorize" */
    MG_TRACE_RATE_LIMIT,         /* "mcpgate.rate_limit" */
} mg_trace_stage_t;

/* What the front end knows when a request becomes an exchange. Strings are borrowed; NULL: absent. */
typedef struct st_mg_trace_request_t {
    const char *header_traceparent; /* the HTTP headers, not NUL-terminated */
    size_t header_traceparent_len;
    const char *header_tracestate;
    size_t header_tracestate_len;
    const char *meta_traceparent; /* params._meta's (NUL-terminated): preferred over the headers */
    const char *meta_tracestate;
    const char *method;           /* JSON-RPC method */
    const char *target;           /* tools/call: the tool's public name; prompts/get: the prompt; resources: the uri */
    const char *protocol_version; /* MCP version of the request */
    const char *request_id;       /* the JSON-RPC id as text */
    uint64_t arrived_ns;          /* when the request came in (the root span's start) */
    uint64_t identify_start_ns;   /* 0: no identify span */
    uint64_t identified_ns;
} mg_trace_request_t;

/* Begins a request's trace. Returns NULL when tracer is NULL, or when the request is sampled out and
 * has no context to pass on; then every call below costs one branch. */
mg_trace_t *mg_trace_begin(mg_tracer_t *tracer, const mg_trace_request_t *request);
/* True when the trace records spans (then mg_trace_now is worth calling). */
bool mg_trace_sampled(const mg_trace_t *trace);
/* A stage's start time: the clock when sampled, else 0 (nothing will be recorded). */
uint64_t mg_trace_stage_start(const mg_trace_t *trace);
/* Records a stage span from start_ns to now, child of the root. `refused`: NULL when the stage let the
 * request on, else a short static word for what it did instead ("denied", "hidden", "invalid",
 * "rate_limited"): the span's status is then ERROR with that message and mcpgate.decision set. */
void mg_trace_stage_end(mg_trace_t *trace, mg_trace_stage_t stage, uint64_t start_ns, const char *refused);
/* The JSON-RPC error code the request is answered with (0: a result). The first call counts; the root
 * span gets rpc.jsonrpc.error_code and an ERROR status from it when it ends. */
void mg_trace_answered(mg_trace_t *trace, int error_code);
/* An upstream call begins (`key` identifies it until mg_trace_upstream_end, e.g. the exchange part):
 * a CLIENT span child of the root, named "<method> <target>" after `request` (borrowed; the server's own
 * names). Returns the traceparent to send upstream (owned by the trace, valid until the next call on it),
 * or NULL when there is nothing to propagate. A call already open under `key` is ended first. */
const char *mg_trace_upstream_begin(mg_trace_t *trace, const void *key, const char *server, const json_t *request);
/* The tracestate to send upstream with it, or NULL. */
const char *mg_trace_tracestate(const mg_trace_t *trace);
/* The call identified by `key` ended (error_code 0: a response; else the JSON-RPC error code). Unknown
 * keys are ignored, so it may be called for calls that were never traced. */
void mg_trace_upstream_end(mg_trace_t *trace, const void *key, int error_code);
/* Adds an attribute to the root span (e.g. mcp.server once routing knows it). Literal key. */
void mg_trace_root_string(mg_trace_t *trace, const char *key, const char *value);
/* The trace id as 32 hex digits and a NUL, or false when there is no trace (audit records carry it). */
bool mg_trace_id_hex(const mg_trace_t *trace, char out[2 * MG_TRACE_ID_BYTES + 1]);
/* Ends the root span (with the code given to mg_trace_answered; upstream spans still open are ended
 * too, as abandoned), submits it and frees the trace. NULL is allowed. */
void mg_trace_end(mg_trace_t *trace);

/* The request to send upstream: `request` (borrowed, never changed) with params._meta.traceparent and,
 * when given, params._meta.tracestate set (replacing the client's). The request, its params and its
 * _meta are shallow copies: what they share with the client's message stays as it was. Returns a new
 * reference, or NULL when out of memory or when params is there but not an object. */
json_t *mg_trace_inject_meta(const json_t *request, const char *traceparent, const char *tracestate);

#endif
