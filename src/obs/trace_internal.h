/*
 * trace_internal.h - the tracer, shared by trace.c (spans in) and trace_export.c (batches out).
 *
 * The queue is two arrays of `capacity` spans: workers append to `filling` under `lock`; the exporter
 * swaps `filling` and `draining` under the lock (no copy) and encodes and posts `draining` without it,
 * so a worker waits at most for another worker's memcpy, never for the network.
 */
#ifndef MG_OBS_TRACE_INTERNAL_H
#define MG_OBS_TRACE_INTERNAL_H

#include <pthread.h>

#include "obs/trace.h"

struct st_mg_tracer_t {
    char *endpoint;
    char *service_name;
    mg_config_kv_t *headers; /* copies ("Name: value" made by the exporter) */
    size_t headers_len;
    double sample_ratio;
    size_t batch_size;
    int export_interval_ms;
    int export_timeout_ms;

    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the exporter: a batch is full, a flush is wanted, or stop */
    pthread_cond_t settled; /* flushers: a batch was exported or failed */
    mg_span_t *filling, *draining;
    size_t filling_len, capacity;
    uint64_t accepted;      /* spans ever put in the queue */
    uint64_t settled_count; /* of those, exported or failed */
    uint64_t flush_wanted;  /* a flusher waits for settled_count to reach this */
    bool stopping;
    bool started;
    pthread_t thread;
    mg_tracer_stats_t stats; /* under lock */
};

/* The exporter thread's body (trace_export.c). */
void *mg_trace_export_main(void *arg);
/* Bytes of a span worth copying: everything up to the end of its text. */
size_t mg_span_used_size(const mg_span_t *span);

#endif
