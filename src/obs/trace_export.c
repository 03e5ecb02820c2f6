/*
 * trace_export.c - the exporter thread: queued spans → OTLP/HTTP JSON → the collector.
 *
 * Encoding follows the OTLP specification's JSON mapping of ExportTraceServiceRequest
 * (opentelemetry-proto, docs/specification.md "JSON Protobuf Encoding"): lowerCamelCase field names,
 * traceId and spanId as hex strings (not base64, the one deviation from the protobuf JSON mapping),
 * enums as numbers, 64-bit integers (times, intValue) as decimal strings. It is written by hand into
 * one buffer: the shape is fixed and small, and building jansson values per span would cost more than
 * the POST.
 *
 * Delivery is at most once: a batch the collector refuses (non-2xx) or does not answer within
 * export_timeout_ms is counted and dropped, not retried, so a dead collector costs one timeout per
 * batch on this thread and nothing on the workers (their spans pile up in the bounded queue and are
 * dropped there). Failures are logged once when they start, then at most once a minute, and the
 * recovery once.
 *
 * libcurl's easy handle is kept for the thread's life, so batches reuse the connection.
 */
#include <assert.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"
#include "obs/trace_internal.h"

#define FAILURE_LOG_INTERVAL_S 60

/* ---- encoding ---- */

static void append(mg_bytes_t *out, const char *text)
{
    mg_bytes_append(out, text, strlen(text));
}

/* A JSON string: quotes, backslashes and control characters escaped; other bytes (UTF-8) as they are. */
static void append_string(mg_bytes_t *out, const char *text, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    mg_bytes_append(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        mg_bytes_append(out, text + run, i - run);
        run = i + 1;
        char escape[7] = {'\\', (char)c, 0};
        size_t escape_len = 2;
        if (c == '\n')
            escape[1] = 'n';
        else if (c == '\r')
            escape[1] = 'r';
        else if (c == '\t')
            escape[1] = 't';
        else if (c < 0x20 || c == 0x7f) {
            memcpy(escape, "\\u00", 4);
            escape[4] = digits[c >> 4];
            escape[5] = digits[c & 0x0f];
            escape_len = 6;
        }
        mg_bytes_append(out, escape, escape_len);
    }
    mg_bytes_append(out, text + run, len - run);
    mg_bytes_append(out, "\"", 1);
}

static void append_hex(mg_bytes_t *out, const uint8_t *bytes, size_t len)
{
    char text[2 * MG_TRACE_ID_BYTES + 1];
    mg_trace_hex(bytes, len, text);
    mg_bytes_append(out, "\"", 1);
    mg_bytes_append(out, text, 2 * len);
    mg_bytes_append(out, "\"", 1);
}

static void append_number(mg_bytes_t *out, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void append_number(mg_bytes_t *out, const char *format, ...)
{
    char text[96]; /* the longest format here with a 64-bit number is under 50 characters */
    va_list args;
    va_start(args, format);
    int len = vsnprintf(text, sizeof(text), format, args);
    va_end(args);
    assert(len > 0 && (size_t)len < sizeof(text));
    mg_bytes_append(out, text, (size_t)len);
}

static void append_attribute_string(mg_bytes_t *out, const char *key, const char *value, size_t len)
{
    append(out, "{\"key\":");
    append_string(out, key, strlen(key));
    append(out, ",\"value\":{\"stringValue\":");
    append_string(out, value, len);
    append(out, "}}");
}

static void append_span(mg_bytes_t *out, const mg_span_t *span)
{
    append(out, "{\"traceId\":");
    append_hex(out, span->trace_id, MG_TRACE_ID_BYTES);
    append(out, ",\"spanId\":");
    append_hex(out, span->span_id, MG_SPAN_ID_BYTES);
    if (span->has_parent) {
        append(out, ",\"parentSpanId\":");
        append_hex(out, span->parent_span_id, MG_SPAN_ID_BYTES);
    }
    append(out, ",\"name\":");
    append_string(out, span->text + span->name_offset, span->name_len);
    append_number(out, ",\"kind\":%u", (unsigned)span->kind);
    append_number(out, ",\"startTimeUnixNano\":\"%" PRIu64 "\"", span->start_ns);
    append_number(out, ",\"endTimeUnixNano\":\"%" PRIu64 "\"", span->end_ns);
    append(out, ",\"attributes\":[");
    for (size_t i = 0; i < span->attributes_len; i++) {
        const mg_span_attribute_t *attribute = &span->attributes[i];
        if (i > 0)
            append(out, ",");
        if (attribute->is_string) {
            append_attribute_string(out, attribute->key, span->text + attribute->offset, attribute->len);
        } else {
            append(out, "{\"key\":");
            append_string(out, attribute->key, strlen(attribute->key));
            append_number(out, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", attribute->number);
        }
    }
    append(out, "]");
    append_number(out, ",\"status\":{\"code\":%u", (unsigned)span->status);
    if (span->status_message_len > 0) {
        append(out, ",\"message\":");
        append_string(out, span->text + span->status_message_offset, span->status_message_len);
    }
    append(out, "}}");
}

void mg_trace_encode_otlp(const mg_span_t *spans, size_t len, const char *service_name, mg_bytes_t *out)
{
    append(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    append_attribute_string(out, "service.name", service_name, strlen(service_name));
    append(out, ",");
    append_attribute_string(out, "telemetry.sdk.name", "mcpgate", 7);
    append(out, ",");
    append_attribute_string(out, "telemetry.sdk.language", "c", 1);
    append(out, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"mcpgate\"},\"spans\":[");
    for (size_t i = 0; i < len; i++) {
        if (i > 0)
            append(out, ",");
        append_span(out, &spans[i]);
    }
    append(out, "]}]}]}");
}

/* ---- posting ---- */

typedef struct st_exporter_t {
    mg_tracer_t *tracer;
    CURL *curl;
    struct curl_slist *headers;
    char error[CURL_ERROR_SIZE];
    bool failing;
    time_t last_failure_log;
} exporter_t;

static size_t discard_body(char *data, size_t size, size_t count, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * count;
}

static void exporter_init(exporter_t *exporter, mg_tracer_t *tracer)
{
    memset(exporter, 0, sizeof(*exporter));
    exporter->tracer = tracer;
    exporter->headers = curl_slist_append(NULL, "Content-Type: application/json");
    exporter->headers = curl_slist_append(exporter->headers, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < tracer->headers_len; i++) {
        size_t len = strlen(tracer->headers[i].key) + strlen(tracer->headers[i].value) + 3;
        char *line = malloc(len);
        if (line == NULL)
            continue;
        snprintf(line, len, "%s: %s", tracer->headers[i].key, tracer->headers[i].value);
        exporter->headers = curl_slist_append(exporter->headers, line);
        memset(line, 0, len);
        free(line);
    }
    exporter->curl = curl_easy_init();
    if (exporter->curl == NULL)
        return;
    curl_easy_setopt(exporter->curl, CURLOPT_URL, tracer->endpoint);
    curl_easy_setopt(exporter->curl, CURLOPT_HTTPHEADER, exporter->headers);
    curl_easy_setopt(exporter->curl, CURLOPT_TIMEOUT_MS, (long)tracer->export_timeout_ms);
    curl_easy_setopt(exporter->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)tracer->export_timeout_ms);
    curl_easy_setopt(exporter->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(exporter->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(exporter->curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(exporter->curl, CURLOPT_ERRORBUFFER, exporter->error);
}

static void exporter_dispose(exporter_t *exporter)
{
    if (exporter->curl != NULL)
        curl_easy_cleanup(exporter->curl);
    curl_slist_free_all(exporter->headers);
}

static void report(exporter_t *exporter, bool ok, size_t spans, const char *why)
{
    time_t now = time(NULL);
    if (ok && exporter->failing) {
        mg_log(MG_LOG_INFO, "trace.export_recovered", "trace export to %s works again", exporter->tracer->endpoint);
        exporter->failing = false;
    } else if (!ok && (!exporter->failing || now - exporter->last_failure_log >= FAILURE_LOG_INTERVAL_S)) {
        mg_log(MG_LOG_WARN, "trace.export_failed", "trace export to %s failed (%zu spans dropped): %s",
               exporter->tracer->endpoint, spans, why);
        exporter->failing = true;
        exporter->last_failure_log = now;
    }
}

/* POSTs one batch; true when the collector answered 2xx. */
static bool post_batch(exporter_t *exporter, const mg_span_t *spans, size_t len)
{
    if (exporter->curl == NULL) {
        report(exporter, false, len, "cannot initialize libcurl");
        return false;
    }
    mg_bytes_t body = {0};
    mg_trace_encode_otlp(spans, len, exporter->tracer->service_name, &body);
    curl_easy_setopt(exporter->curl, CURLOPT_POSTFIELDS, body.base);
    curl_easy_setopt(exporter->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    exporter->error[0] = '\0';
    CURLcode rc = curl_easy_perform(exporter->curl);
    long status = 0;
    curl_easy_getinfo(exporter->curl, CURLINFO_RESPONSE_CODE, &status);
    mg_bytes_dispose(&body);
    char why[CURL_ERROR_SIZE + 64];
    bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", exporter->error[0] != '\0' ? exporter->error : curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "the collector answered HTTP %ld", status);
    report(exporter, ok, len, why);
    return ok;
}

/* Waits until there is a reason to export: a full batch, a flush, stopping, or the interval. */
static void wait_for_work(mg_tracer_t *tracer)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += tracer->export_interval_ms / 1000;
    deadline.tv_nsec += (long)(tracer->export_interval_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!tracer->stopping && tracer->filling_len < tracer->batch_size &&
           tracer->flush_wanted <= tracer->settled_count) {
        if (pthread_cond_timedwait(&tracer->wake, &tracer->lock, &deadline) == ETIMEDOUT)
            break;
    }
}

void *mg_trace_export_main(void *arg)
{
    mg_tracer_t *tracer = arg;
    exporter_t exporter;
    exporter_init(&exporter, tracer);
    pthread_mutex_lock(&tracer->lock);
    for (;;) {
        wait_for_work(tracer);
        bool last = tracer->stopping;
        mg_span_t *batch = tracer->filling;
        size_t len = tracer->filling_len;
        tracer->filling = tracer->draining;
        tracer->draining = batch;
        tracer->filling_len = 0;
        pthread_mutex_unlock(&tracer->lock);

        uint64_t exported = 0, failed = 0, posts = 0, errors = 0;
        for (size_t done = 0; done < len; done += tracer->batch_size) {
            size_t count = len - done < tracer->batch_size ? len - done : tracer->batch_size;
            bool ok = post_batch(&exporter, batch + done, count);
            posts++;
            errors += ok ? 0 : 1;
            *(ok ? &exported : &failed) += count;
        }

        pthread_mutex_lock(&tracer->lock);
        tracer->stats.exports += posts;
        tracer->stats.export_errors += errors;
        tracer->stats.spans_exported += exported;
        tracer->stats.spans_failed += failed;
        tracer->settled_count += len;
        pthread_cond_broadcast(&tracer->settled);
        if (last && tracer->filling_len == 0)
            break;
    }
    pthread_mutex_unlock(&tracer->lock);
    exporter_dispose(&exporter);
    return NULL;
}
