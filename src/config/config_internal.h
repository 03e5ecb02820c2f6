/*
 * config_internal.h - what the files of src/config share and nobody else needs.
 *
 * config.c owns the snapshot and the top-level keys, servers.c the `servers` list,
 * expand.c the transformations from written text to effective values (${VAR} and
 * ${secret:NAME} expansion, relative path resolution), yaml_tree.c the located YAML
 * accessors. Secrets themselves are found by auth/secrets_resolve.c.
 */
#ifndef MG_CONFIG_INTERNAL_H
#define MG_CONFIG_INTERNAL_H

#include "auth/secrets.h"
#include "config/config.h"
#include "config/yaml_tree.h"

typedef struct st_mg_config_loader_t {
    mg_config_yaml_t yaml;
    const char *base_dir; /* absolute directory relative paths resolve against */
} mg_config_loader_t;

/* Expands ${VAR} from the environment, ${secret:NAME} through `secrets` (NULL: refused) and $$
 * to $, in one pass: expanded text is never rescanned. On failure `err` gets a message without
 * location (the caller adds it) and without any expanded value. */
int mg_config_expand(const char *text, size_t len, mg_secrets_resolver_t *secrets, char **out, mg_error_t *err);

/* Returns a malloc'd absolute path: `path` itself when absolute, else base_dir/path
 * (leading "./" segments dropped). NULL only when out of memory. */
char *mg_config_resolve_path(const char *base_dir, const char *path);

/* A non-empty string (mg_config_yaml_string plus an emptiness check). */
int mg_config_load_nonempty(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out);
/* A non-empty string naming a file or directory, resolved against loader->base_dir. */
int mg_config_load_path(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out);

/* A sequence of non-empty strings without spaces or control characters (absent: an empty list). *out is a
 * NULL-terminated array, set (possibly half-filled) even on failure; free it with mg_config_free_string_list. */
int mg_config_load_string_list(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char ***out,
                               size_t *out_len);
void mg_config_free_string_list(char **list, size_t len);

/* An absolute http:// or https:// URL without spaces, quotes or fragment (auth.c). */
int mg_config_load_url(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out);

/* Parses the `auth` section (auth.c); servers must be loaded (it names them), listen too (mtls needs TLS). */
int mg_config_load_auth(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config);
void mg_config_auth_dispose(mg_config_auth_t *auth);
/* Parses the `audit` section (audit.c). */
int mg_config_load_audit(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_audit_t *audit);
void mg_config_audit_dispose(mg_config_audit_t *audit);
/* Parses the `tracing` section (tracing.c). */
int mg_config_load_tracing(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_tracing_t *tracing);
void mg_config_tracing_dispose(mg_config_tracing_t *tracing);
/* Parses the `metrics` section (metrics.c; node NULL: written without a value); listen, auth and the policy
 * must be loaded. */
int mg_config_load_metrics(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config);
void mg_config_metrics_dispose(mg_config_metrics_t *metrics);
/* Parses the `admin` section (admin.c; `key` is the section's key, `node` its value or NULL when written
 * without one); listen, auth, the policy and metrics must be loaded. */
int mg_config_load_admin(mg_config_loader_t *loader, const yaml_node_t *key, const yaml_node_t *node,
                         mg_config_t *config);
void mg_config_admin_dispose(mg_config_admin_t *admin);
/* A non-empty list of roles defined in `roles` (admin.c; metrics.roles, admin.roles); needs an auth section.
 * `empty_hint` ends the message about an empty list. *roles is set (possibly half-filled) even on failure. */
int mg_config_load_role_names(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                              const mg_config_t *config, const char *empty_hint, char ***roles, size_t *roles_len);
/* Parses the `pins` section (pins.c; node NULL: absent, the defaults). */
int mg_config_load_pins(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_pins_t *pins);
/* A "host:port" / "[v6]:port" string into listen->address, host and port (config.c). */
int mg_config_load_address(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           mg_config_listen_t *listen);
/* One listener: "host:port" or {address, tls: {cert, key}} (config.c; `listen` items, admin.listen). */
int mg_config_load_listener(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                            mg_config_listen_t *listen);
/* servers[].credentials (servers.c). */
int mg_config_load_credentials(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                               mg_config_credentials_t *credentials);
void mg_config_credentials_dispose(mg_config_credentials_t *credentials);

/* Parses the `servers` sequence into config->servers; config->limits must be final.
 * On failure, whatever was allocated is reachable from `config` for mg_config_release. */
int mg_config_load_servers(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config);
void mg_config_server_dispose(mg_config_server_t *server);

/* Parses the `roles`, `bindings` and `scopes` sections of `root` (policy.c); servers and auth must be
 * loaded (patterns name servers). */
int mg_config_load_policy(mg_config_loader_t *loader, const yaml_node_t *root, mg_config_t *config);
void mg_config_policy_dispose(mg_config_policy_t *policy);
/* A rule's `when` (policy_args.c): its `args` conditions into rule->conditions. */
int mg_config_load_when(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_rule_t *rule);
void mg_config_condition_dispose(mg_config_condition_t *condition);
/* One "<server glob>/<name glob>" pattern (policy.c), checked against config->servers; the limits share it. */
int mg_config_load_pattern(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           const mg_config_t *config, mg_config_pattern_t *pattern);
void mg_config_patterns_dispose(mg_config_pattern_t *patterns, size_t len);

/* Parses the `rate_limits` section (limits.c); servers must be loaded. */
int mg_config_load_rate_limits(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config);
void mg_config_rate_limits_dispose(mg_config_rate_limits_t *rate_limits);
/* servers[].cost and servers[].costs (limits.c). */
int mg_config_load_costs(mg_config_loader_t *loader, const yaml_node_t *server_node, const char *path,
                         mg_config_server_t *server);

/* Parses the `approvals` section (approvals.c); servers must be loaded (patterns name them). */
int mg_config_load_approvals(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config);
void mg_config_approvals_dispose(mg_config_approvals_t *approvals);

/* Parses the `guards` section (guards.c) and compiles its detector set. */
int mg_config_load_guards(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_guards_t *guards);
void mg_config_guards_dispose(mg_config_guards_t *guards);
/* Parses `guards.webhook` (webhook.c). */
int mg_config_load_webhook(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_webhook_t *webhook);
void mg_config_webhook_dispose(mg_config_webhook_t *webhook);

/* A strict scalar string: a plain scalar YAML reads as a number, boolean or null is refused (quote it). */
int mg_config_load_strict_string(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out);

/* A role's or a rate-limit rule's name: [A-Za-z0-9._:-]{1,64}. */
bool mg_config_name_valid(const char *name);

#endif
