/*
 * webhook.c - `guards.webhook`: the outside service asked for a verdict on each routed request
 * (docs/guards.md, "Webhook"; the client is src/guard/webhook.c, the stage src/mcp/webhook_stage.c).
 *
 * Everything the stage needs is settled here: the URL (http:// or https://, checked like every URL of
 * the configuration), how long a request may wait for the verdict, what a failed verdict means, and
 * extra headers (a guardrail service's API key, usually from ${secret:...}). Header values may be
 * secrets: messages quote their names, never their values, and dispose wipes them.
 */
#include <h2o.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

static const char *const webhook_keys[] = {"url", "timeout_ms", "on_error", "headers", "directions", NULL};
/* set by the client itself, or meaningless on the POST it makes */
static const char *const reserved_headers[] = {
    "content-type", "content-length", "transfer-encoding", "host", "connection", "expect", NULL};

#define DEFAULT_TIMEOUT_MS 200
#define MAX_TIMEOUT_MS 60000

void mg_config_webhook_dispose(mg_config_webhook_t *webhook)
{
    free(webhook->url);
    for (size_t i = 0; webhook->headers != NULL && i < webhook->headers_len; i++) {
        free(webhook->headers[i].key);
        if (webhook->headers[i].value != NULL)
            memset(webhook->headers[i].value, 0, strlen(webhook->headers[i].value));
        free(webhook->headers[i].value);
    }
    free(webhook->headers);
    memset(webhook, 0, sizeof(*webhook));
}

static bool is_header_name(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && strspn(name, "!#$%&'*+-.^_`|~0123456789"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == len;
}

static int load_headers(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                        mg_config_webhook_t *webhook)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, NULL) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if ((webhook->headers = calloc(count + 1, sizeof(*webhook->headers))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    webhook->headers_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = mg_config_yaml_pair_key(&loader->yaml, node, i);
        yaml_node_t *value = mg_config_yaml_pair_value(&loader->yaml, node, i);
        const char *name = mg_config_yaml_raw(key);
        mg_config_yaml_path_key(child, sizeof(child), path, name);
        if (!is_header_name(name))
            return mg_config_yaml_fail(&loader->yaml, key, child, "not a valid HTTP header name");
        for (size_t r = 0; reserved_headers[r] != NULL; r++) {
            if (strcasecmp(name, reserved_headers[r]) == 0)
                return mg_config_yaml_fail(&loader->yaml, key, child, "is set by the gateway and cannot be configured");
        }
        if ((webhook->headers[i].key = strdup(name)) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        if (mg_config_yaml_string(&loader->yaml, value, child, &webhook->headers[i].value) != 0)
            return -1;
        for (const char *c = webhook->headers[i].value; *c != '\0'; c++) {
            if ((unsigned char)*c < ' ' || *c == 0x7f)
                return mg_config_yaml_fail(&loader->yaml, value, child, "must not contain control characters");
        }
    }
    return 0;
}

static int load_on_error(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, bool *allow)
{
    char *text = NULL;
    if (mg_config_load_strict_string(loader, node, path, &text) != 0) {
        free(text);
        return -1;
    }
    bool block = strcmp(text, "block") == 0, pass = strcmp(text, "allow") == 0;
    free(text);
    if (!block && !pass)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be block or allow",
                                   mg_config_yaml_raw(node));
    *allow = pass;
    return 0;
}

/* directions: a non-empty list of `requests` and `responses`, each at most once. */
static int load_directions(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           mg_config_webhook_t *webhook)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
        return -1;
    if (mg_config_yaml_length(node) == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must name requests, responses or both");
    webhook->requests = false;
    for (size_t i = 0; i < mg_config_yaml_length(node); i++) {
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(child, sizeof(child), path, i);
        char *text = NULL;
        if (mg_config_load_strict_string(loader, item, child, &text) != 0) {
            free(text);
            return -1;
        }
        bool *direction = strcmp(text, "requests") == 0    ? &webhook->requests
                          : strcmp(text, "responses") == 0 ? &webhook->responses
                                                           : NULL;
        free(text);
        if (direction == NULL)
            return mg_config_yaml_fail(&loader->yaml, item, child, "\"%s\" must be requests or responses",
                                       mg_config_yaml_raw(item));
        if (*direction)
            return mg_config_yaml_fail(&loader->yaml, item, child, "\"%s\" is listed twice", mg_config_yaml_raw(item));
        *direction = true;
    }
    return 0;
}

int mg_config_load_webhook(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_webhook_t *webhook)
{
    const char *path = "guards.webhook";
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, webhook_keys) != 0)
        return -1;
    if ((value = mg_config_yaml_get(&loader->yaml, node, "url", NULL)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"url\"");
    mg_config_yaml_path_key(child, sizeof(child), path, "url");
    if (mg_config_load_url(loader, value, child, &webhook->url) != 0)
        return -1;
    h2o_url_t parsed; /* what the client will parse (guard/webhook.c): refused now rather than on every call */
    if (h2o_url_parse(webhook->url, SIZE_MAX, &parsed) != 0)
        return mg_config_yaml_fail(&loader->yaml, value, child, "\"%s\" is not a URL the gateway can use",
                                   mg_config_yaml_raw(value));
    long long timeout = DEFAULT_TIMEOUT_MS;
    mg_config_yaml_path_key(child, sizeof(child), path, "timeout_ms");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "timeout_ms", NULL)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 1, MAX_TIMEOUT_MS, &timeout) != 0)
        return -1;
    webhook->timeout_ms = (int)timeout;
    mg_config_yaml_path_key(child, sizeof(child), path, "on_error");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "on_error", NULL)) != NULL &&
        load_on_error(loader, value, child, &webhook->on_error_allow) != 0)
        return -1;
    webhook->requests = true;
    mg_config_yaml_path_key(child, sizeof(child), path, "directions");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "directions", NULL)) != NULL &&
        load_directions(loader, value, child, webhook) != 0)
        return -1;
    mg_config_yaml_path_key(child, sizeof(child), path, "headers");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "headers", NULL)) != NULL &&
        load_headers(loader, value, child, webhook) != 0)
        return -1;
    return 0;
}
