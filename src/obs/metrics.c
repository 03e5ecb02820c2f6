/*
 * metrics.c - the registry: label tables, shards, observation. Rendering is in metrics_render.c.
 *
 * Label tables. Servers and methods are fixed when the registry is made and looked up in read-only
 * open-addressing tables (FNV-1a, power-of-two size, at most half full), so that turning a name into an
 * index costs one hash of the name and usually one comparison. Tools are learnt as they are observed
 * (only names a caller vouches for): one table for the whole process, whose slots are published with a
 * compare-and-swap of a pointer to an immutable entry and never change afterwards; a slot's position is
 * the tool's index, so it is stable for the registry's life. Entries are freed by mg_metrics_destroy.
 *
 * Series. A shard's series table is indexed by a hash of the packed key; a slot is claimed by a
 * compare-and-swap of its key from 0, and its counters start at zero (calloc), so two threads that
 * share a shard may both insert and add. A full table sends the observation to the shard's overflow
 * series. Latencies are kept per bucket (not cumulative) as whole microseconds; the renderer sums.
 */
#include "obs/metrics_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* MCP methods a request can name, every era; anything else is "other" (index MG_METRICS_METHOD_OTHER). */
const char *const mg_metrics_method_names[] = {
    "",
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "tasks/update",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "other",
    NULL,
};

const char *const mg_metrics_status_names[] = {"", "ok", "error", "tool_error", "cancelled", "other", NULL};

/* Bucket upper bounds in microseconds, and as the `le` label (seconds). */
const uint64_t mg_metrics_bucket_us[MG_METRICS_BUCKETS] = {500,     1000,     2500,     5000,    10000,   25000,
                                                           50000,   100000,   250000,   500000,  1000000, 2500000,
                                                           5000000, 10000000, 30000000, 60000000};
const char *const mg_metrics_bucket_le[MG_METRICS_BUCKETS] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                                              "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5",
                                                              "5",      "10",    "30",     "60"};

static _Thread_local size_t thread_shard = SIZE_MAX;

static uint64_t fnv1a(const char *text, size_t *len_out)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    const char *c = text;
    for (; *c != '\0'; c++)
        hash = (hash ^ (unsigned char)*c) * 0x100000001b3ULL;
    *len_out = (size_t)(c - text);
    return hash;
}

static uint64_t mix(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

static size_t power_of_two_at_least(size_t n)
{
    size_t size = 16;
    while (size < n)
        size *= 2;
    return size;
}

/* ---- read-only name tables (servers, methods) ---------------------------------------------------- */

static int names_init(mg_metrics_names_t *table, const char *const *names, size_t len)
{
    table->mask = power_of_two_at_least(len * 2) - 1;
    table->slots = calloc(table->mask + 1, sizeof(*table->slots));
    if (table->slots == NULL)
        return -1;
    for (size_t i = 0; i < len; i++) {
        size_t name_len;
        uint64_t hash = fnv1a(names[i], &name_len);
        size_t at = (size_t)hash & table->mask;
        while (table->slots[at] != 0)
            at = (at + 1) & table->mask;
        table->slots[at] = (uint32_t)i + 1;
    }
    table->names = names;
    return 0;
}

/* The index of `name`, or -1. */
static long names_find(const mg_metrics_names_t *table, const char *name)
{
    size_t len;
    uint64_t hash = fnv1a(name, &len);
    for (size_t at = (size_t)hash & table->mask;; at = (at + 1) & table->mask) {
        uint32_t slot = table->slots[at];
        if (slot == 0)
            return -1;
        const char *candidate = table->names[slot - 1];
        if (memcmp(candidate, name, len + 1) == 0)
            return (long)slot - 1;
    }
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

int mg_metrics_create(const mg_metrics_options_t *options, mg_metrics_t **out, mg_error_t *err)
{
    *out = NULL;
    size_t max_tools = options->max_tools != 0 ? options->max_tools : 2048;
    size_t max_series = options->max_series != 0 ? options->max_series : 2048;
    if (options->servers_len > MG_METRICS_SERVER_FIELD - 2)
        return mg_error_set(err, "metrics: at most %d servers", MG_METRICS_SERVER_FIELD - 2);
    if (max_tools > MG_METRICS_MAX_TOOLS || max_series > MG_METRICS_MAX_SERIES || options->shards > 4096)
        return mg_error_set(err, "metrics: max_tools, max_series or shards out of range");
    mg_metrics_t *metrics = calloc(1, sizeof(*metrics));
    if (metrics == NULL)
        return mg_error_set(err, "out of memory");
    metrics->servers_len = options->servers_len;
    metrics->max_tools = max_tools;
    metrics->shards_len = options->shards + 1;
    metrics->server_names = calloc(options->servers_len + 1, sizeof(char *));
    metrics->tools_mask = power_of_two_at_least(max_tools * 2) - 1;
    metrics->tools = calloc(metrics->tools_mask + 1, sizeof(*metrics->tools));
    metrics->upstream = calloc(options->servers_len * MG_METRICS_UPSTREAM_EVENTS + 1, sizeof(*metrics->upstream));
    metrics->shards = aligned_alloc(64, metrics->shards_len * sizeof(mg_metrics_shard_t));
    if (metrics->server_names == NULL || metrics->tools == NULL || metrics->upstream == NULL || metrics->shards == NULL)
        goto oom;
    memset(metrics->shards, 0, metrics->shards_len * sizeof(mg_metrics_shard_t));
    metrics->series_mask = power_of_two_at_least(max_series) - 1;
    for (size_t i = 0; i < metrics->shards_len; i++) {
        if ((metrics->shards[i].series = calloc(metrics->series_mask + 1, sizeof(mg_metrics_series_t))) == NULL)
            goto oom;
    }
    for (size_t i = 0; i < options->servers_len; i++) {
        if ((metrics->server_names[i] = strdup(options->servers[i])) == NULL)
            goto oom;
    }
    size_t methods_len = 0;
    while (mg_metrics_method_names[methods_len] != NULL)
        methods_len++;
    size_t statuses_len = 0;
    while (mg_metrics_status_names[statuses_len] != NULL)
        statuses_len++;
    if (names_init(&metrics->server_table, (const char *const *)metrics->server_names, options->servers_len) != 0 ||
        names_init(&metrics->method_table, mg_metrics_method_names, methods_len) != 0 ||
        names_init(&metrics->status_table, mg_metrics_status_names, statuses_len) != 0)
        goto oom;
    *out = metrics;
    return 0;
oom:
    mg_metrics_destroy(metrics);
    return mg_error_set(err, "out of memory");
}

void mg_metrics_destroy(mg_metrics_t *metrics)
{
    if (metrics == NULL)
        return;
    for (size_t i = 0; metrics->tools != NULL && i <= metrics->tools_mask; i++)
        free(atomic_load_explicit(&metrics->tools[i], memory_order_relaxed));
    free(metrics->tools);
    for (size_t i = 0; metrics->shards != NULL && i < metrics->shards_len; i++)
        free(metrics->shards[i].series);
    free(metrics->shards);
    for (size_t i = 0; metrics->server_names != NULL && i < metrics->servers_len; i++)
        free(metrics->server_names[i]);
    free(metrics->server_names);
    free(metrics->upstream);
    free(metrics->server_table.slots);
    free(metrics->method_table.slots);
    free(metrics->status_table.slots);
    free(metrics);
}

void mg_metrics_bind_thread(size_t index)
{
    thread_shard = index;
}

static mg_metrics_shard_t *my_shard(mg_metrics_t *metrics)
{
    size_t index = thread_shard;
    return &metrics->shards[index < metrics->shards_len - 1 ? index : metrics->shards_len - 1];
}

/* ---- labels ------------------------------------------------------------------------------------- */

static uint64_t server_field(mg_metrics_t *metrics, const char *server)
{
    if (server == NULL)
        return 0;
    long index = names_find(&metrics->server_table, server);
    return index < 0 ? metrics->servers_len + 1 : (uint64_t)index + 1;
}

/* The tool's field: its slot + MG_METRICS_TOOL_FIRST, learning it when there is room. */
static uint64_t tool_field(mg_metrics_t *metrics, uint64_t server, const char *name)
{
    size_t len;
    uint64_t hash = mix(fnv1a(name, &len) ^ server);
    mg_metrics_tool_t *mine = NULL;
    for (size_t at = (size_t)hash & metrics->tools_mask, probes = 0; probes <= metrics->tools_mask;
         at = (at + 1) & metrics->tools_mask, probes++) {
        mg_metrics_tool_t *tool = atomic_load_explicit(&metrics->tools[at], memory_order_acquire);
        if (tool == NULL) {
            if (atomic_load_explicit(&metrics->tools_len, memory_order_relaxed) >= metrics->max_tools) {
                free(mine);
                return MG_METRICS_TOOL_OTHER;
            }
            if (mine == NULL) {
                if ((mine = malloc(sizeof(*mine) + len + 1)) == NULL)
                    return MG_METRICS_TOOL_OTHER;
                mine->server = server;
                mine->len = len;
                memcpy(mine->name, name, len + 1);
            }
            if (atomic_compare_exchange_strong_explicit(&metrics->tools[at], &tool, mine, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                atomic_fetch_add_explicit(&metrics->tools_len, 1, memory_order_relaxed);
                return at + MG_METRICS_TOOL_FIRST;
            }
            /* another thread took the slot: `tool` is now its entry, compared below */
        }
        if (tool->server == server && tool->len == len && memcmp(tool->name, name, len) == 0) {
            free(mine);
            return at + MG_METRICS_TOOL_FIRST;
        }
    }
    free(mine);
    return MG_METRICS_TOOL_OTHER;
}

/* ---- updates ------------------------------------------------------------------------------------ */

static mg_metrics_series_t *find_series(mg_metrics_t *metrics, mg_metrics_shard_t *shard, uint64_t key)
{
    size_t mask = metrics->series_mask;
    size_t at = (size_t)mix(key) & mask;
    for (size_t probes = 0; probes < MG_METRICS_PROBES; probes++, at = (at + 1) & mask) {
        mg_metrics_series_t *series = &shard->series[at];
        uint64_t found = atomic_load_explicit(&series->key, memory_order_relaxed);
        if (found == key)
            return series;
        if (found == 0) {
            if (atomic_compare_exchange_strong_explicit(&series->key, &found, key, memory_order_relaxed,
                                                        memory_order_relaxed) ||
                found == key)
                return series;
        }
    }
    atomic_fetch_add_explicit(&shard->counters[MG_METRICS_SERIES_OVERFLOW], 1, memory_order_relaxed);
    return &shard->overflow;
}

static void observe_latency(mg_metrics_histogram_t *histogram, int64_t us)
{
    if (us < 0)
        return;
    size_t bucket = 0;
    while (bucket < MG_METRICS_BUCKETS && (uint64_t)us > mg_metrics_bucket_us[bucket])
        bucket++;
    atomic_fetch_add_explicit(&histogram->buckets[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histogram->sum_us, (uint64_t)us, memory_order_relaxed);
}

void mg_metrics_observe(mg_metrics_t *metrics, const mg_audit_event_t *event, bool item_known)
{
    if (metrics == NULL)
        return;
    uint64_t server = server_field(metrics, event->server);
    uint64_t tool = MG_METRICS_TOOL_NONE;
    if (event->item_kind == MG_AUDIT_ITEM_TOOL && event->item_name != NULL)
        tool = item_known ? tool_field(metrics, server, event->item_name) : MG_METRICS_TOOL_UNKNOWN;
    long method = 0;
    if (event->method != NULL && (method = names_find(&metrics->method_table, event->method)) < 0)
        method = MG_METRICS_METHOD_OTHER;
    long status = 0;
    if (event->status != NULL && (status = names_find(&metrics->status_table, event->status)) < 0)
        status = MG_METRICS_STATUS_OTHER;
    uint64_t decision = (unsigned)event->decision < MG_AUDIT_DECISIONS ? (uint64_t)event->decision : MG_AUDIT_ERROR;
    uint64_t key = mg_metrics_key(server, tool, (uint64_t)method, decision, (uint64_t)status);

    mg_metrics_shard_t *shard = my_shard(metrics);
    mg_metrics_series_t *series = find_series(metrics, shard, key);
    atomic_fetch_add_explicit(&series->requests, 1, memory_order_relaxed);
    if (event->bytes_in > 0)
        atomic_fetch_add_explicit(&series->bytes_in, (uint64_t)event->bytes_in, memory_order_relaxed);
    if (event->bytes_out > 0)
        atomic_fetch_add_explicit(&series->bytes_out, (uint64_t)event->bytes_out, memory_order_relaxed);
    observe_latency(&series->total, event->total_us);
    observe_latency(&series->upstream, event->upstream_us);
    if (method == MG_METRICS_METHOD_INITIALIZE && status == MG_METRICS_STATUS_OK && decision == MG_AUDIT_ALLOW)
        atomic_fetch_add_explicit(&shard->counters[MG_METRICS_SESSIONS_OPENED], 1, memory_order_relaxed);
}

void mg_metrics_count(mg_metrics_t *metrics, mg_metrics_counter_t counter)
{
    if (metrics != NULL && (unsigned)counter < MG_METRICS_COUNTERS)
        atomic_fetch_add_explicit(&my_shard(metrics)->counters[counter], 1, memory_order_relaxed);
}

void mg_metrics_gauge_add(mg_metrics_t *metrics, mg_metrics_gauge_t gauge, int64_t delta)
{
    if (metrics != NULL && (unsigned)gauge < MG_METRICS_GAUGES)
        atomic_fetch_add_explicit(&my_shard(metrics)->gauges[gauge], delta, memory_order_relaxed);
}

void mg_metrics_upstream_event(mg_metrics_t *metrics, size_t server_index, mg_metrics_upstream_event_t event)
{
    if (metrics == NULL || server_index >= metrics->servers_len || (unsigned)event >= MG_METRICS_UPSTREAM_EVENTS)
        return;
    atomic_fetch_add_explicit(&metrics->upstream[server_index * MG_METRICS_UPSTREAM_EVENTS + event], 1,
                              memory_order_relaxed);
}
