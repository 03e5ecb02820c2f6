/*
 * admin.c - the `admin` section: where the admin API (http/admin.h) is served and who may use it.
 *
 * The admin API decides what tools callers may use and lets held calls through, so it is never
 * served beside /mcp: `listen` (required) is a listener of its own, which a firewall or a loopback
 * address can keep apart from MCP clients. Reaching that address is not enough, though: the caller must
 * be identified by the gateway's own `auth` section, as on /mcp, and hold one of `roles` (required,
 * non-empty) under the policy. Hence an `admin` section without an `auth` section is refused: there would
 * be nobody to name in the audit record of a decision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

static const char *const admin_keys[] = {"listen", "roles", NULL};

void mg_config_admin_dispose(mg_config_admin_t *admin)
{
    free(admin->listen.address);
    free(admin->listen.host);
    free(admin->listen.tls_cert);
    free(admin->listen.tls_key);
    mg_config_free_string_list(admin->roles, admin->roles_len);
    memset(admin, 0, sizeof(*admin));
}

int mg_config_load_role_names(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                              const mg_config_t *config, const char *empty_hint, char ***roles, size_t *roles_len)
{
    char item_path[MG_CONFIG_PATH_MAX];
    if (mg_config_load_string_list(loader, node, path, roles, roles_len) != 0)
        return -1;
    if (*roles_len == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must name at least one role%s", empty_hint);
    if (!config->auth.enabled)
        return mg_config_yaml_fail(&loader->yaml, node, path, "needs an auth section");
    for (size_t i = 0; i < *roles_len; i++) {
        bool found = false;
        for (size_t r = 0; r < config->policy.roles_len && !found; r++)
            found = strcmp(config->policy.roles[r].name, (*roles)[i]) == 0;
        if (!found) {
            mg_config_yaml_path_index(item_path, sizeof(item_path), path, i);
            return mg_config_yaml_fail(&loader->yaml, mg_config_yaml_item(&loader->yaml, node, i), item_path,
                                       "\"%s\" is not a role in `roles`", (*roles)[i]);
        }
    }
    return 0;
}

/* The same host and port as another listener of the gateway (port 0 picks a fresh one each time). */
static const char *taken_by(const mg_config_t *config, const mg_config_listen_t *listen, char *name, size_t size)
{
    if (listen->port == 0)
        return NULL;
    for (size_t i = 0; i < config->listen_len; i++) {
        const mg_config_listen_t *main = &config->listen[i];
        if (main->port == listen->port && strcmp(main->host, listen->host) == 0) {
            snprintf(name, size, "listen[%zu]", i);
            return name;
        }
    }
    const mg_config_listen_t *metrics = &config->metrics.listen;
    if (metrics->address != NULL && metrics->port == listen->port && strcmp(metrics->host, listen->host) == 0)
        return "metrics.listen";
    return NULL;
}

static int load_listen(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    char name[32];
    mg_config_listen_t *listen = &config->admin.listen;
    if (mg_config_load_listener(loader, node, "admin.listen", listen) != 0)
        return -1;
    const char *other = taken_by(config, listen, name, sizeof(name));
    if (other != NULL)
        return mg_config_yaml_fail(&loader->yaml, node, "admin.listen",
                                   "address %s is already used by %s (the admin API needs a listener of its own)",
                                   listen->address, other);
    return 0;
}

int mg_config_load_admin(mg_config_loader_t *loader, const yaml_node_t *key, const yaml_node_t *node,
                         mg_config_t *config)
{
    const char *path = "admin";
    if (node == NULL)
        return mg_config_yaml_fail(&loader->yaml, key, path, "needs listen and roles");
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, admin_keys) != 0)
        return -1;
    if (!config->auth.enabled)
        return mg_config_yaml_fail(&loader->yaml, key, path,
                                   "needs an auth section: admin callers are identified as on /mcp (API key, JWT or "
                                   "client certificate) and must hold one of admin.roles");
    yaml_node_t *listen = mg_config_yaml_get(&loader->yaml, node, "listen", NULL);
    if (listen == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "missing required key \"listen\" (the admin API is served only on a listener of "
                                   "its own)");
    if (load_listen(loader, listen, config) != 0)
        return -1;
    yaml_node_t *roles = mg_config_yaml_get(&loader->yaml, node, "roles", NULL);
    if (roles == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "missing required key \"roles\" (who may use the admin API)");
    mg_config_admin_t *admin = &config->admin;
    if (mg_config_load_role_names(loader, roles, "admin.roles", config, "", &admin->roles, &admin->roles_len) != 0)
        return -1;
    admin->enabled = true;
    return 0;
}
