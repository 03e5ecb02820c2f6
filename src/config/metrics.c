/*
 * metrics.c - the `metrics` section: where the Prometheus endpoint is served and who may scrape it.
 *
 * On the main listeners the endpoint answers beside /mcp, so with an auth section it is protected like
 * the MCP routes unless the operator says otherwise (`require: none`): metrics name servers, tools and
 * traffic volumes, which an anonymous caller of a gateway that requires credentials should not learn.
 * On its own listener (`listen`, plain HTTP, loopback typical) reaching the address is the protection,
 * as for any Prometheus exporter, and `require: authenticated` is there for those who want both.
 * `roles` narrows it to callers holding one of the named roles (bindings or API key roles).
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

static const char *const metrics_keys[] = {"path", "listen", "require", "roles", "max_tools", "max_series", NULL};

/* Paths the gateway answers on its main listeners: the endpoint must not hide one of them. */
static bool path_taken(const char *path)
{
    static const char *const exact[] = {"/mcp", "/healthz", "/readyz", NULL};
    static const char *const prefixes[] = {"/servers/", "/.well-known/", NULL};
    for (size_t i = 0; exact[i] != NULL; i++) {
        if (strcmp(path, exact[i]) == 0)
            return true;
    }
    for (size_t i = 0; prefixes[i] != NULL; i++) {
        if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    }
    return false;
}

void mg_config_metrics_dispose(mg_config_metrics_t *metrics)
{
    free(metrics->path);
    free(metrics->listen.address);
    free(metrics->listen.host);
    mg_config_free_string_list(metrics->roles, metrics->roles_len);
    memset(metrics, 0, sizeof(*metrics));
}

static yaml_node_t *field(mg_config_loader_t *loader, const yaml_node_t *node, const char *key,
                          char child[MG_CONFIG_PATH_MAX])
{
    mg_config_yaml_path_key(child, MG_CONFIG_PATH_MAX, "metrics", key);
    return mg_config_yaml_get(&loader->yaml, node, key, NULL);
}

static int load_path(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                     mg_config_metrics_t *metrics)
{
    if (node == NULL) {
        metrics->path = strdup("/metrics");
        return metrics->path == NULL ? mg_error_set(loader->yaml.err, "out of memory") : 0;
    }
    if (mg_config_load_nonempty(loader, node, path, &metrics->path) != 0)
        return -1;
    size_t len = strlen(metrics->path);
    bool printable = true;
    for (const char *c = metrics->path; *c != '\0'; c++)
        printable = printable && (unsigned char)*c > ' ' && *c != 0x7f && *c != '?' && *c != '#';
    if (metrics->path[0] != '/' || len > 256 || !printable)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" must be an absolute path of at most 256 characters, without spaces, '?' "
                                   "or '#', e.g. /metrics",
                                   mg_config_yaml_raw(node));
    return 0;
}

static int load_listen(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config)
{
    mg_config_listen_t *listen = &config->metrics.listen;
    if (mg_config_load_address(loader, node, path, listen) != 0)
        return -1;
    for (size_t i = 0; i < config->listen_len; i++) {
        const mg_config_listen_t *main = &config->listen[i];
        if (listen->port != 0 && main->port == listen->port && strcmp(main->host, listen->host) == 0)
            return mg_config_yaml_fail(&loader->yaml, node, path,
                                       "address %s is already used by listen[%zu] (leave metrics.listen out to serve "
                                       "metrics there)",
                                       listen->address, i);
    }
    return 0;
}

static int load_require(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config)
{
    mg_config_metrics_t *metrics = &config->metrics;
    metrics->require = config->auth.enabled && metrics->listen.address == NULL ? MG_METRICS_REQUIRE_AUTHENTICATED
                                                                               : MG_METRICS_REQUIRE_NONE;
    if (node == NULL)
        return 0;
    char *text;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    int rc = 0;
    if (strcmp(text, "none") == 0)
        metrics->require = MG_METRICS_REQUIRE_NONE;
    else if (strcmp(text, "authenticated") == 0)
        metrics->require = MG_METRICS_REQUIRE_AUTHENTICATED;
    else
        rc = mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be authenticated or none",
                                 mg_config_yaml_raw(node));
    free(text);
    if (rc == 0 && metrics->require == MG_METRICS_REQUIRE_AUTHENTICATED && !config->auth.enabled)
        rc = mg_config_yaml_fail(&loader->yaml, node, path, "authenticated needs an auth section");
    return rc;
}

static int load_roles(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config)
{
    mg_config_metrics_t *metrics = &config->metrics;
    if (mg_config_load_role_names(loader, node, path, config, " (or be left out)", &metrics->roles,
                                  &metrics->roles_len) != 0)
        return -1;
    metrics->require = MG_METRICS_REQUIRE_AUTHENTICATED;
    return 0;
}

int mg_config_load_metrics(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    const char *path = "metrics";
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    mg_config_metrics_t *metrics = &config->metrics;
    bool empty = node == NULL; /* `metrics:` alone: every default */
    if (!empty && (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
                   mg_config_yaml_check_keys(&loader->yaml, node, path, metrics_keys) != 0))
        return -1;
    if (load_path(loader, empty ? NULL : field(loader, node, "path", child), child, metrics) != 0)
        return -1;
    if (!empty && (value = field(loader, node, "listen", child)) != NULL &&
        load_listen(loader, value, child, config) != 0)
        return -1;
    if (metrics->listen.address == NULL && path_taken(metrics->path))
        return mg_config_yaml_fail(&loader->yaml, field(loader, node, "path", child), "metrics.path",
                                   "\"%s\" is a path the gateway already serves", metrics->path);
    yaml_node_t *require = empty ? NULL : field(loader, node, "require", child);
    if (load_require(loader, require, child, config) != 0)
        return -1;
    if (!empty && (value = field(loader, node, "roles", child)) != NULL) {
        if (require != NULL && metrics->require == MG_METRICS_REQUIRE_NONE)
            return mg_config_yaml_fail(&loader->yaml, require, "metrics.require",
                                       "none contradicts metrics.roles (leave require out)");
        if (load_roles(loader, value, child, config) != 0)
            return -1;
    }
    long long number = 2048;
    if (!empty && (value = field(loader, node, "max_tools", child)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 1, 100000, &number) != 0)
        return -1;
    metrics->max_tools = number;
    number = 2048;
    if (!empty && (value = field(loader, node, "max_series", child)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 16, 1000000, &number) != 0)
        return -1;
    metrics->max_series = number;
    metrics->enabled = true;
    return 0;
}
