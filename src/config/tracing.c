/*
 * tracing.c - the `tracing` section: where OpenTelemetry spans are exported and how many are kept.
 *
 * The exporter (src/obs/trace_export.c) speaks OTLP/HTTP with the JSON encoding to one endpoint,
 * so everything it needs is settled here: the URL (http:// or https://, checked like every other URL
 * of the configuration), the sampling ratio for requests that arrive without a trace context, the
 * batch and queue bounds, and extra headers (a collector's API key, from ${secret:...}).
 *
 * Header values may be secrets: messages quote their names, never their values.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

static const char *const tracing_keys[] = {
    "otlp_endpoint",     "sample_ratio", "service_name", "batch_size", "export_interval_ms",
    "export_timeout_ms", "queue",        "headers",      NULL};
/* set by the exporter itself, or meaningless on a POST it makes */
static const char *const reserved_headers[] = {
    "content-type", "content-length", "transfer-encoding", "host", "connection", "expect", NULL};

#define DEFAULT_BATCH_SIZE 512
#define DEFAULT_EXPORT_INTERVAL_MS 2000
#define DEFAULT_EXPORT_TIMEOUT_MS 10000
#define DEFAULT_QUEUE 8192
#define MAX_QUEUE (1024 * 1024)

void mg_config_tracing_dispose(mg_config_tracing_t *tracing)
{
    free(tracing->otlp_endpoint);
    free(tracing->service_name);
    for (size_t i = 0; tracing->headers != NULL && i < tracing->headers_len; i++) {
        free(tracing->headers[i].key);
        if (tracing->headers[i].value != NULL)
            memset(tracing->headers[i].value, 0, strlen(tracing->headers[i].value));
        free(tracing->headers[i].value);
    }
    free(tracing->headers);
    memset(tracing, 0, sizeof(*tracing));
}

static yaml_node_t *field(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *key,
                          char child[MG_CONFIG_PATH_MAX])
{
    mg_config_yaml_path_key(child, MG_CONFIG_PATH_MAX, path, key);
    return mg_config_yaml_get(&loader->yaml, node, key, NULL);
}

/* A number from 0 to 1 ("1", "1.0", "0.25"). */
static int load_ratio(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, double *out)
{
    char *text;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    double value = (text[0] >= '0' && text[0] <= '9') || text[0] == '.' ? strtod(text, &end) : NAN;
    bool ok = end != NULL && *end == '\0' && errno == 0 && value >= 0.0 && value <= 1.0;
    free(text);
    if (!ok)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be a number from 0 to 1",
                                   mg_config_yaml_raw(node));
    *out = value;
    return 0;
}

static bool is_header_name(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && strspn(name, "!#$%&'*+-.^_`|~0123456789"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == len;
}

static int load_headers(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                        mg_config_tracing_t *tracing)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, NULL) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if ((tracing->headers = calloc(count + 1, sizeof(*tracing->headers))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    tracing->headers_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = mg_config_yaml_pair_key(&loader->yaml, node, i);
        yaml_node_t *value = mg_config_yaml_pair_value(&loader->yaml, node, i);
        const char *name = mg_config_yaml_raw(key);
        mg_config_yaml_path_key(child, sizeof(child), path, name);
        if (!is_header_name(name))
            return mg_config_yaml_fail(&loader->yaml, key, child, "not a valid HTTP header name");
        for (size_t r = 0; reserved_headers[r] != NULL; r++) {
            if (strcasecmp(name, reserved_headers[r]) == 0)
                return mg_config_yaml_fail(&loader->yaml, key, child,
                                           "is set by the exporter and cannot be configured");
        }
        if ((tracing->headers[i].key = strdup(name)) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        if (mg_config_yaml_string(&loader->yaml, value, child, &tracing->headers[i].value) != 0)
            return -1;
        for (const char *c = tracing->headers[i].value; *c != '\0'; c++) {
            if ((unsigned char)*c < ' ' || *c == 0x7f)
                return mg_config_yaml_fail(&loader->yaml, value, child, "must not contain control characters");
        }
    }
    return 0;
}

static int load_int(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *key,
                    long long min, long long max, long long fallback, long long *out)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value = field(loader, node, path, key, child);
    *out = fallback;
    return value != NULL ? mg_config_yaml_int(&loader->yaml, value, child, min, max, out) : 0;
}

int mg_config_load_tracing(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_tracing_t *tracing)
{
    const char *path = "tracing";
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, tracing_keys) != 0)
        return -1;
    if ((value = field(loader, node, path, "otlp_endpoint", child)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"otlp_endpoint\"");
    if (mg_config_load_url(loader, value, child, &tracing->otlp_endpoint) != 0)
        return -1;
    tracing->sample_ratio = 1.0;
    if ((value = field(loader, node, path, "sample_ratio", child)) != NULL &&
        load_ratio(loader, value, child, &tracing->sample_ratio) != 0)
        return -1;
    if ((value = field(loader, node, path, "service_name", child)) != NULL) {
        if (mg_config_load_nonempty(loader, value, child, &tracing->service_name) != 0)
            return -1;
    } else if ((tracing->service_name = strdup("mcpgate")) == NULL) {
        return mg_error_set(loader->yaml.err, "out of memory");
    }
    long long batch, interval, timeout, queue;
    if (load_int(loader, node, path, "batch_size", 1, 65536, DEFAULT_BATCH_SIZE, &batch) != 0 ||
        load_int(loader, node, path, "export_interval_ms", 10, 3600000, DEFAULT_EXPORT_INTERVAL_MS, &interval) != 0 ||
        load_int(loader, node, path, "export_timeout_ms", 100, 600000, DEFAULT_EXPORT_TIMEOUT_MS, &timeout) != 0 ||
        load_int(loader, node, path, "queue", 1, MAX_QUEUE, DEFAULT_QUEUE, &queue) != 0)
        return -1;
    if (batch > queue) {
        value = field(loader, node, path, "batch_size", child);
        return mg_config_yaml_fail(&loader->yaml, value != NULL ? value : node, value != NULL ? child : path,
                                   "batch_size (%lld) must not exceed queue (%lld)", batch, queue);
    }
    tracing->batch_size = (size_t)batch;
    tracing->export_interval_ms = (int)interval;
    tracing->export_timeout_ms = (int)timeout;
    tracing->queue = (size_t)queue;
    if ((value = field(loader, node, path, "headers", child)) != NULL &&
        load_headers(loader, value, child, tracing) != 0)
        return -1;
    tracing->enabled = true;
    return 0;
}
