/*
 * metrics_internal.h - the registry's layout, shared by metrics.c (updates) and metrics_render.c.
 *
 * A request series' key packs its labels: bit 62 set (0 means an empty slot), then the server field
 * (12 bits: 0 none, 1..n the configured servers, n+1 "other"), the tool field (20 bits: 0 none, 1
 * "unknown", 2 "other", 3+ a slot of the tool table), the method (8 bits, an index of
 * mg_metrics_method_names), the decision (4 bits, mg_audit_decision_t) and the status (4 bits, an
 * index of mg_metrics_status_names).
 */
#ifndef MG_OBS_METRICS_INTERNAL_H
#define MG_OBS_METRICS_INTERNAL_H

#include <stdatomic.h>

#include "obs/metrics.h"

#define MG_METRICS_BUCKETS 16
#define MG_METRICS_PROBES 16 /* series slots tried before the overflow series */
#define MG_METRICS_SERVER_FIELD 4096
#define MG_METRICS_MAX_TOOLS 100000
#define MG_METRICS_MAX_SERIES 1000000

#define MG_METRICS_TOOL_NONE 0
#define MG_METRICS_TOOL_UNKNOWN 1
#define MG_METRICS_TOOL_OTHER 2
#define MG_METRICS_TOOL_FIRST 3

#define MG_METRICS_METHOD_INITIALIZE 1
#define MG_METRICS_METHOD_OTHER 28 /* the index of "other" in mg_metrics_method_names */
#define MG_METRICS_STATUS_OK 1
#define MG_METRICS_STATUS_OTHER 5

extern const char *const mg_metrics_method_names[];
extern const char *const mg_metrics_status_names[];
extern const uint64_t mg_metrics_bucket_us[MG_METRICS_BUCKETS];
extern const char *const mg_metrics_bucket_le[MG_METRICS_BUCKETS];

static inline uint64_t mg_metrics_key(uint64_t server, uint64_t tool, uint64_t method, uint64_t decision,
                                      uint64_t status)
{
    return 1ULL << 62 | server << 48 | tool << 28 | method << 20 | decision << 16 | status << 12;
}
#define MG_METRICS_KEY_SERVER(key) (((key) >> 48) & 0xfff)
#define MG_METRICS_KEY_TOOL(key) (((key) >> 28) & 0xfffff)
#define MG_METRICS_KEY_METHOD(key) (((key) >> 20) & 0xff)
#define MG_METRICS_KEY_DECISION(key) (((key) >> 16) & 0xf)
#define MG_METRICS_KEY_STATUS(key) (((key) >> 12) & 0xf)

typedef struct st_mg_metrics_histogram_t {
    _Atomic uint64_t buckets[MG_METRICS_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
    _Atomic uint64_t sum_us;
} mg_metrics_histogram_t;

typedef struct st_mg_metrics_series_t {
    _Atomic uint64_t key; /* 0: empty */
    _Atomic uint64_t requests;
    _Atomic uint64_t bytes_in, bytes_out;
    mg_metrics_histogram_t total, upstream;
} mg_metrics_series_t;

typedef struct st_mg_metrics_shard_t {
    _Atomic uint64_t counters[MG_METRICS_COUNTERS];
    _Atomic int64_t gauges[MG_METRICS_GAUGES];
    mg_metrics_series_t *series; /* series_mask + 1 slots */
    mg_metrics_series_t overflow;
} __attribute__((aligned(64))) mg_metrics_shard_t;

typedef struct st_mg_metrics_tool_t {
    uint64_t server; /* the server field */
    size_t len;
    char name[];
} mg_metrics_tool_t;

typedef struct st_mg_metrics_names_t {
    const char *const *names;
    uint32_t *slots; /* index + 1; 0 empty */
    size_t mask;
} mg_metrics_names_t;

struct st_mg_metrics_t {
    size_t servers_len;
    char **server_names;
    mg_metrics_names_t server_table, method_table, status_table;
    _Atomic(mg_metrics_tool_t *) *tools; /* tools_mask + 1 slots; published once, never changed */
    size_t tools_mask;
    size_t max_tools;
    _Atomic size_t tools_len;
    _Atomic uint64_t *upstream; /* servers_len * MG_METRICS_UPSTREAM_EVENTS */
    mg_metrics_shard_t *shards;
    size_t shards_len; /* options.shards + 1 */
    size_t series_mask;
};

#endif
