/*
 * metrics_render.c - the registry as Prometheus text (exposition format 0.0.4).
 *
 * A scrape copies every shard's series, sorts the copies by key and merges equal keys, so each label
 * set appears once whatever shards counted it. The key's field order (server, tool, method, then
 * decision and status) makes the series of one (server, tool, method) neighbours, which is what the
 * histograms are grouped by: latency per decision and status would multiply the series by ten for
 * little insight. Every family's samples are written together, as the format requires.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics_internal.h"

typedef struct st_snapshot_t {
    uint64_t key;
    uint64_t requests, bytes_in, bytes_out;
    uint64_t total[MG_METRICS_BUCKETS + 1], total_sum_us;
    uint64_t upstream[MG_METRICS_BUCKETS + 1], upstream_sum_us;
} snapshot_t;

#define OVERFLOW_DECISION 15

/* ---- text format -------------------------------------------------------------------------------- */

static void append(mg_bytes_t *out, const char *text)
{
    mg_bytes_append(out, text, strlen(text));
}

static void append_escaped(mg_bytes_t *out, const char *text, bool quotes)
{
    const char *run = text;
    for (const char *c = text; *c != '\0'; c++) {
        const char *escape = *c == '\\' ? "\\\\" : *c == '\n' ? "\\n" : quotes && *c == '"' ? "\\\"" : NULL;
        if (escape == NULL)
            continue;
        mg_bytes_append(out, run, (size_t)(c - run));
        append(out, escape);
        run = c + 1;
    }
    append(out, run);
}

void mg_metrics_escape_label(mg_bytes_t *out, const char *value)
{
    append_escaped(out, value, true);
}

void mg_metrics_write_family(mg_bytes_t *out, const char *name, const char *type, const char *help)
{
    append(out, "# HELP ");
    append(out, name);
    append(out, " ");
    append_escaped(out, help, false);
    append(out, "\n# TYPE ");
    append(out, name);
    append(out, " ");
    append(out, type);
    append(out, "\n");
}

static void write_name_and_labels(mg_bytes_t *out, const char *name, const char *const *labels)
{
    append(out, name);
    if (labels == NULL || labels[0] == NULL) {
        append(out, " ");
        return;
    }
    append(out, "{");
    for (size_t i = 0; labels[i] != NULL; i += 2) {
        if (i != 0)
            append(out, ",");
        append(out, labels[i]);
        append(out, "=\"");
        mg_metrics_escape_label(out, labels[i + 1] != NULL ? labels[i + 1] : "");
        append(out, "\"");
    }
    append(out, "} ");
}

void mg_metrics_write_sample(mg_bytes_t *out, const char *name, const char *const *labels, uint64_t value)
{
    char number[24];
    write_name_and_labels(out, name, labels);
    snprintf(number, sizeof(number), "%" PRIu64 "\n", value);
    append(out, number);
}

void mg_metrics_write_sample_signed(mg_bytes_t *out, const char *name, const char *const *labels, int64_t value)
{
    char number[24];
    write_name_and_labels(out, name, labels);
    snprintf(number, sizeof(number), "%" PRId64 "\n", value);
    append(out, number);
}

static void write_seconds(mg_bytes_t *out, const char *name, const char *const *labels, uint64_t us)
{
    char number[48];
    write_name_and_labels(out, name, labels);
    snprintf(number, sizeof(number), "%" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
    append(out, number);
}

/* ---- collecting --------------------------------------------------------------------------------- */

static void copy_series(snapshot_t *into, uint64_t key, mg_metrics_series_t *series)
{
    into->key = key;
    into->requests = atomic_load_explicit(&series->requests, memory_order_relaxed);
    into->bytes_in = atomic_load_explicit(&series->bytes_in, memory_order_relaxed);
    into->bytes_out = atomic_load_explicit(&series->bytes_out, memory_order_relaxed);
    into->total_sum_us = atomic_load_explicit(&series->total.sum_us, memory_order_relaxed);
    into->upstream_sum_us = atomic_load_explicit(&series->upstream.sum_us, memory_order_relaxed);
    for (size_t b = 0; b <= MG_METRICS_BUCKETS; b++) {
        into->total[b] = atomic_load_explicit(&series->total.buckets[b], memory_order_relaxed);
        into->upstream[b] = atomic_load_explicit(&series->upstream.buckets[b], memory_order_relaxed);
    }
}

static void add_snapshot(snapshot_t *into, const snapshot_t *from)
{
    into->requests += from->requests;
    into->bytes_in += from->bytes_in;
    into->bytes_out += from->bytes_out;
    into->total_sum_us += from->total_sum_us;
    into->upstream_sum_us += from->upstream_sum_us;
    for (size_t b = 0; b <= MG_METRICS_BUCKETS; b++) {
        into->total[b] += from->total[b];
        into->upstream[b] += from->upstream[b];
    }
}

static int by_key(const void *a, const void *b)
{
    uint64_t x = ((const snapshot_t *)a)->key, y = ((const snapshot_t *)b)->key;
    return x < y ? -1 : x > y;
}

/* Every series of every shard, merged by key and sorted; *len_out of them. NULL when out of memory. */
static snapshot_t *collect(mg_metrics_t *metrics, size_t *len_out)
{
    size_t cap = 64, len = 0;
    snapshot_t *all = malloc(cap * sizeof(*all));
    if (all == NULL)
        return NULL;
    uint64_t overflow_key = mg_metrics_key(metrics->servers_len + 1, MG_METRICS_TOOL_OTHER, MG_METRICS_METHOD_OTHER,
                                           OVERFLOW_DECISION, MG_METRICS_STATUS_OTHER);
    for (size_t s = 0; s < metrics->shards_len; s++) {
        mg_metrics_shard_t *shard = &metrics->shards[s];
        for (size_t i = 0; i <= metrics->series_mask + 1; i++) {
            mg_metrics_series_t *series = i <= metrics->series_mask ? &shard->series[i] : &shard->overflow;
            uint64_t key =
                i <= metrics->series_mask ? atomic_load_explicit(&series->key, memory_order_relaxed) : overflow_key;
            if (key == 0 || atomic_load_explicit(&series->requests, memory_order_relaxed) == 0)
                continue;
            if (len == cap) {
                snapshot_t *grown = realloc(all, cap * 2 * sizeof(*all));
                if (grown == NULL) {
                    free(all);
                    return NULL;
                }
                all = grown, cap *= 2;
            }
            copy_series(&all[len++], key, series);
        }
    }
    qsort(all, len, sizeof(*all), by_key);
    size_t merged = 0;
    for (size_t i = 0; i < len; i++) {
        if (merged != 0 && all[merged - 1].key == all[i].key)
            add_snapshot(&all[merged - 1], &all[i]);
        else
            all[merged++] = all[i];
    }
    *len_out = merged;
    return all;
}

/* ---- labels of a key ---------------------------------------------------------------------------- */

static const char *server_label(mg_metrics_t *metrics, uint64_t key)
{
    uint64_t server = MG_METRICS_KEY_SERVER(key);
    if (server == 0)
        return "";
    return server <= metrics->servers_len ? metrics->server_names[server - 1] : "(other)";
}

static const char *tool_label(mg_metrics_t *metrics, uint64_t key)
{
    uint64_t tool = MG_METRICS_KEY_TOOL(key);
    if (tool == MG_METRICS_TOOL_NONE)
        return "";
    if (tool == MG_METRICS_TOOL_UNKNOWN)
        return "(unknown)";
    if (tool == MG_METRICS_TOOL_OTHER || tool - MG_METRICS_TOOL_FIRST > metrics->tools_mask)
        return "(other)";
    mg_metrics_tool_t *entry =
        atomic_load_explicit(&metrics->tools[tool - MG_METRICS_TOOL_FIRST], memory_order_acquire);
    return entry != NULL ? entry->name : "(other)";
}

static const char *decision_label(uint64_t key)
{
    uint64_t decision = MG_METRICS_KEY_DECISION(key);
    return decision < MG_AUDIT_DECISIONS ? mg_audit_decision_name((mg_audit_decision_t)decision) : "other";
}

/* ---- families ----------------------------------------------------------------------------------- */

static void render_requests(mg_metrics_t *metrics, mg_bytes_t *out, const snapshot_t *all, size_t len)
{
    mg_metrics_write_family(out, "mcpgate_requests_total", "counter",
                            "Client requests answered, by server, tool, MCP method, decision and status.");
    for (size_t i = 0; i < len; i++) {
        const char *labels[] = {"server",   server_label(metrics, all[i].key),
                                "tool",     tool_label(metrics, all[i].key),
                                "method",   mg_metrics_method_names[MG_METRICS_KEY_METHOD(all[i].key)],
                                "decision", decision_label(all[i].key),
                                "status",   mg_metrics_status_names[MG_METRICS_KEY_STATUS(all[i].key)],
                                NULL};
        mg_metrics_write_sample(out, "mcpgate_requests_total", labels, all[i].requests);
    }
}

/* One histogram family grouped by (server, tool, method); `upstream` picks which latency. */
static void render_histogram(mg_metrics_t *metrics, mg_bytes_t *out, const snapshot_t *all, size_t len, bool upstream,
                             const char *name, const char *help)
{
    char bucket_name[96], sum_name[96], count_name[96];
    snprintf(bucket_name, sizeof(bucket_name), "%s_bucket", name);
    snprintf(sum_name, sizeof(sum_name), "%s_sum", name);
    snprintf(count_name, sizeof(count_name), "%s_count", name);
    mg_metrics_write_family(out, name, "histogram", help);
    const uint64_t group_mask = ~0xfffffULL; /* decision and status are the low 20 bits */
    for (size_t i = 0; i < len;) {
        uint64_t buckets[MG_METRICS_BUCKETS + 1] = {0}, sum_us = 0;
        size_t j = i;
        for (; j < len && (all[j].key & group_mask) == (all[i].key & group_mask); j++) {
            for (size_t b = 0; b <= MG_METRICS_BUCKETS; b++)
                buckets[b] += upstream ? all[j].upstream[b] : all[j].total[b];
            sum_us += upstream ? all[j].upstream_sum_us : all[j].total_sum_us;
        }
        uint64_t count = 0;
        for (size_t b = 0; b <= MG_METRICS_BUCKETS; b++)
            count += buckets[b];
        if (count != 0) {
            const char *labels[] = {"server", server_label(metrics, all[i].key),
                                    "tool",   tool_label(metrics, all[i].key),
                                    "method", mg_metrics_method_names[MG_METRICS_KEY_METHOD(all[i].key)],
                                    "le",     NULL,
                                    NULL};
            uint64_t cumulative = 0;
            for (size_t b = 0; b <= MG_METRICS_BUCKETS; b++) {
                cumulative += buckets[b];
                labels[7] = b < MG_METRICS_BUCKETS ? mg_metrics_bucket_le[b] : "+Inf";
                mg_metrics_write_sample(out, bucket_name, labels, cumulative);
            }
            labels[6] = NULL; /* _sum and _count have no `le` */
            write_seconds(out, sum_name, labels, sum_us);
            mg_metrics_write_sample(out, count_name, labels, count);
        }
        i = j;
    }
}

static void render_bytes(mg_metrics_t *metrics, mg_bytes_t *out, const snapshot_t *all, size_t len)
{
    mg_metrics_write_family(out, "mcpgate_request_bytes_total", "counter",
                            "Bytes of client request bodies (direction in) and answers (direction out), by server.");
    for (int direction = 0; direction < 2; direction++) {
        for (size_t i = 0; i < len;) {
            uint64_t sum = 0;
            size_t j = i;
            for (; j < len && MG_METRICS_KEY_SERVER(all[j].key) == MG_METRICS_KEY_SERVER(all[i].key); j++)
                sum += direction == 0 ? all[j].bytes_in : all[j].bytes_out;
            const char *labels[] = {"server", server_label(metrics, all[i].key), "direction",
                                    direction == 0 ? "in" : "out", NULL};
            mg_metrics_write_sample(out, "mcpgate_request_bytes_total", labels, sum);
            i = j;
        }
    }
}

static uint64_t counter_sum(mg_metrics_t *metrics, mg_metrics_counter_t counter)
{
    uint64_t sum = 0;
    for (size_t s = 0; s < metrics->shards_len; s++)
        sum += atomic_load_explicit(&metrics->shards[s].counters[counter], memory_order_relaxed);
    return sum;
}

static void render_counter_pair(mg_metrics_t *metrics, mg_bytes_t *out, const char *name, const char *help,
                                mg_metrics_counter_t hit, mg_metrics_counter_t miss)
{
    mg_metrics_write_family(out, name, "counter", help);
    const char *hit_labels[] = {"result", "hit", NULL}, *miss_labels[] = {"result", "miss", NULL};
    mg_metrics_write_sample(out, name, hit_labels, counter_sum(metrics, hit));
    mg_metrics_write_sample(out, name, miss_labels, counter_sum(metrics, miss));
}

static void render_counters(mg_metrics_t *metrics, mg_bytes_t *out)
{
    render_counter_pair(metrics, out, "mcpgate_auth_token_cache_lookups_total",
                        "Bearer credentials looked up in the workers' verified-token caches, by result.",
                        MG_METRICS_TOKEN_CACHE_HIT, MG_METRICS_TOKEN_CACHE_MISS);
    render_counter_pair(metrics, out, "mcpgate_auth_jwks_lookups_total",
                        "JWT signing keys looked up in the cached key sets, by result (miss: no key set, or an "
                        "unknown key id).",
                        MG_METRICS_JWKS_HIT, MG_METRICS_JWKS_MISS);
    static const struct {
        mg_metrics_counter_t counter;
        const char *name, *help;
    } singles[] = {
        {MG_METRICS_JWKS_REFRESH, "mcpgate_auth_jwks_refreshes_total",
         "Key set fetches workers asked the auth agent for (unknown key id, or none loaded)."},
        {MG_METRICS_SESSIONS_OPENED, "mcpgate_sessions_opened_total",
         "Legacy sessions opened (initialize answered). Sessions are sealed tokens with no table, so there is no "
         "gauge of open ones."},
        {MG_METRICS_SERIES_OVERFLOW, "mcpgate_metrics_series_overflow_total",
         "Requests counted under the overflow series because a shard's series table was full (raise "
         "metrics.max_series)."},
    };
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        mg_metrics_write_family(out, singles[i].name, "counter", singles[i].help);
        mg_metrics_write_sample(out, singles[i].name, NULL, counter_sum(metrics, singles[i].counter));
    }
    int64_t streams = 0;
    for (size_t s = 0; s < metrics->shards_len; s++)
        streams += atomic_load_explicit(&metrics->shards[s].gauges[MG_METRICS_EVENT_STREAMS], memory_order_relaxed);
    mg_metrics_write_family(out, "mcpgate_event_streams", "gauge",
                            "Open client event streams (legacy GET streams and subscriptions/listen).");
    mg_metrics_write_sample_signed(out, "mcpgate_event_streams", NULL, streams);
    mg_metrics_write_family(out, "mcpgate_metrics_tools", "gauge",
                            "Tool names learnt as label values (at most metrics.max_tools; more are \"(other)\").");
    mg_metrics_write_sample(out, "mcpgate_metrics_tools", NULL,
                            atomic_load_explicit(&metrics->tools_len, memory_order_relaxed));
}

static void render_upstream(mg_metrics_t *metrics, mg_bytes_t *out)
{
    static const char *const kinds[MG_METRICS_UPSTREAM_EVENTS] = {"restart",  "exit",        "spawn",
                                                                  "protocol", "unreachable", "request"};
    mg_metrics_write_family(out, "mcpgate_upstream_restarts_total", "counter",
                            "Times a stdio server's process was started again after it ended.");
    for (size_t s = 0; s < metrics->servers_len; s++) {
        const char *labels[] = {"server", metrics->server_names[s], NULL};
        mg_metrics_write_sample(
            out, "mcpgate_upstream_restarts_total", labels,
            atomic_load_explicit(&metrics->upstream[s * MG_METRICS_UPSTREAM_EVENTS + MG_METRICS_UPSTREAM_RESTART],
                                 memory_order_relaxed));
    }
    mg_metrics_write_family(
        out, "mcpgate_upstream_errors_total", "counter",
        "Upstream failures by kind: exit (a stdio process ended unasked), spawn, protocol "
        "(an invalid message), unreachable (an HTTP upstream's probe started failing), request (an HTTP request "
        "failed: transport, timeout, status or invalid answer).");
    for (size_t s = 0; s < metrics->servers_len; s++) {
        for (size_t k = MG_METRICS_UPSTREAM_RESTART + 1; k < MG_METRICS_UPSTREAM_EVENTS; k++) {
            const char *labels[] = {"server", metrics->server_names[s], "kind", kinds[k], NULL};
            mg_metrics_write_sample(
                out, "mcpgate_upstream_errors_total", labels,
                atomic_load_explicit(&metrics->upstream[s * MG_METRICS_UPSTREAM_EVENTS + k], memory_order_relaxed));
        }
    }
}

void mg_metrics_render(mg_metrics_t *metrics, mg_bytes_t *out)
{
    size_t len = 0;
    snapshot_t *all = collect(metrics, &len);
    if (all != NULL) {
        render_requests(metrics, out, all, len);
        render_histogram(metrics, out, all, len, false, "mcpgate_request_duration_seconds",
                         "Time from a request's arrival to its answer, by server, tool and method.");
        render_histogram(metrics, out, all, len, true, "mcpgate_upstream_duration_seconds",
                         "Time spent waiting for the upstream, by server, tool and method.");
        render_bytes(metrics, out, all, len);
        free(all);
    }
    render_counters(metrics, out);
    render_upstream(metrics, out);
}
