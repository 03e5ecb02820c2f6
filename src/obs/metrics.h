/*
 * metrics.h - counters and histograms for Prometheus, updated by worker threads without locks.
 *
 * Every writing thread has a shard (a cache-line aligned block of counters and a table of request
 * series); worker threads bind their own (mg_metrics_bind_thread), other threads share the last one.
 * Updates are relaxed atomic additions, so a shard shared by two threads still counts exactly; a
 * scrape reads every shard and sums. Nothing on the hot path formats text or allocates: an observation
 * turns its labels into small integers (server index, tool index, method index, decision, status),
 * packs them into one 64-bit key and adds to the series found under it in the shard's open-addressing
 * table. A scrape merges the shards' series by key and renders the text.
 *
 * Cardinality is bounded by construction: servers come from the configuration, methods from a fixed
 * table of MCP method names (anything else is "other"), statuses from a fixed table, and tool names
 * only from observations whose caller vouches that the name came from an upstream's list or the
 * configuration (`item_known`); a client's made-up name is labelled "(unknown)" (no valid MCP tool name has
 * parentheses). The tool table holds at most `max_tools` names (more are labelled "(other)"), and each shard at most
 * `max_series` label sets (more are counted under one overflow series whose labels are all "(other)" or "other").
 *
 * Format: the Prometheus text exposition format, version 0.0.4 (HELP and TYPE lines, label values
 * escaped, histograms as cumulative _bucket{le} series with +Inf, _sum and _count). Metric names and
 * their meaning: docs/observability.md, "Metrics".
 */
#ifndef MG_OBS_METRICS_H
#define MG_OBS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/bytes.h"
#include "core/error.h"

typedef struct st_mg_metrics_t mg_metrics_t;

typedef struct st_mg_metrics_options_t {
    const char *const *servers; /* the configured server names, in config order (copied) */
    size_t servers_len;
    size_t shards;     /* writing threads that get their own shard (the workers); one more is added for the rest */
    size_t max_tools;  /* distinct (server, tool) labels; 0: 2048 */
    size_t max_series; /* label sets per shard; 0: 2048 */
} mg_metrics_options_t;

/* Counters that are not about one request, summed over the shards. */
typedef enum en_mg_metrics_counter_t {
    MG_METRICS_TOKEN_CACHE_HIT = 0, /* a bearer credential found in the worker's verified-token cache */
    MG_METRICS_TOKEN_CACHE_MISS,    /* ... and not found (verified or introspected afresh) */
    MG_METRICS_JWKS_HIT,            /* a JWT's key found in the issuer's cached key set */
    MG_METRICS_JWKS_MISS,           /* no key set yet, or an unknown key id */
    MG_METRICS_JWKS_REFRESH,        /* a worker asked the auth agent for a fresh key set */
    MG_METRICS_SESSIONS_OPENED,     /* legacy initialize answered with a session (counted by observe) */
    MG_METRICS_SERIES_OVERFLOW,     /* observations counted under the overflow series */
    MG_METRICS_COUNTERS
} mg_metrics_counter_t;

/* Gauges kept as sums of per-shard deltas. */
typedef enum en_mg_metrics_gauge_t {
    MG_METRICS_EVENT_STREAMS = 0, /* open client GET streams and subscriptions/listen streams */
    MG_METRICS_GAUGES
} mg_metrics_gauge_t;

/* What happened to an upstream (rare; one shared atomic per server and kind). */
typedef enum en_mg_metrics_upstream_event_t {
    MG_METRICS_UPSTREAM_RESTART = 0, /* a stdio server's process started again after it ended */
    MG_METRICS_UPSTREAM_EXIT,        /* a stdio server's process ended without being asked to */
    MG_METRICS_UPSTREAM_SPAWN,       /* a stdio server's process could not be started */
    MG_METRICS_UPSTREAM_PROTOCOL,    /* an upstream sent something that is not a valid MCP message */
    MG_METRICS_UPSTREAM_UNREACHABLE, /* an HTTP upstream became unreachable (its probe failed) */
    MG_METRICS_UPSTREAM_REQUEST,     /* a request to an HTTP upstream failed (transport, timeout, status, invalid) */
    MG_METRICS_UPSTREAM_EVENTS
} mg_metrics_upstream_event_t;

/* Builds the registry. Fails only when out of memory or for options out of range. */
int mg_metrics_create(const mg_metrics_options_t *options, mg_metrics_t **out, mg_error_t *err);
/* NULL is ignored. No thread may update the registry any more. */
void mg_metrics_destroy(mg_metrics_t *metrics);

/* Gives the calling thread shard `index` (< options.shards) of every registry; a worker calls it once
 * on its own thread. Threads that never call it use the extra shard. */
void mg_metrics_bind_thread(size_t index);

/* Counts one finished client request: requests by server, tool, method, decision and status, total and
 * upstream latency (when >= 0), bytes in and out (when >= 0). `item_known`: event->item_name came from an
 * upstream's list or the configuration and may be a label; else a tool is labelled "(unknown)". Only
 * tools are labelled; prompts and resources leave the label empty. Borrows the event for the call
 * only. Any thread; metrics NULL: nothing. */
void mg_metrics_observe(mg_metrics_t *metrics, const mg_audit_event_t *event, bool item_known);
/* Adds one to a counter. Any thread; metrics NULL: nothing. */
void mg_metrics_count(mg_metrics_t *metrics, mg_metrics_counter_t counter);
/* Adds delta to a gauge. Any thread; metrics NULL: nothing. */
void mg_metrics_gauge_add(mg_metrics_t *metrics, mg_metrics_gauge_t gauge, int64_t delta);
/* Counts an upstream event for server `server_index` (out of range: ignored). Any thread. */
void mg_metrics_upstream_event(mg_metrics_t *metrics, size_t server_index, mg_metrics_upstream_event_t event);

/* Appends every family the registry owns to `out`, in the text format. Any thread, while others
 * update: each number is read once, so a scrape is a near-instant, not an atomic, snapshot. */
void mg_metrics_render(mg_metrics_t *metrics, mg_bytes_t *out);

/* ---- the text format, for families collected elsewhere (the endpoint's audit, limit, upstream state) */

/* "# HELP name help\n# TYPE name type\n"; help is escaped (backslash, newline). */
void mg_metrics_write_family(mg_bytes_t *out, const char *name, const char *type, const char *help);
/* One sample: name{k="v",...} value. `labels` holds name/value pairs and ends with NULL (NULL
 * itself: no labels); values are escaped (backslash, double quote, newline). */
void mg_metrics_write_sample(mg_bytes_t *out, const char *name, const char *const *labels, uint64_t value);
void mg_metrics_write_sample_signed(mg_bytes_t *out, const char *name, const char *const *labels, int64_t value);
/* A label value escaped as the format requires (for tests and callers that build label text). */
void mg_metrics_escape_label(mg_bytes_t *out, const char *value);

#endif
