/*
 * config.c - the configuration snapshot: loading, top-level keys, lifecycle.
 *
 * Loading is parse (yaml_tree.c) -> walk with a fixed key order -> cross-checks.
 * Keys are looked up by name rather than visited in document order, so `limits`
 * is final before `servers` takes its default timeout from it, and `state_dir` and
 * `secrets` are read before any value that may reference a secret.
 *
 * Every allocation is stored into the snapshot the moment it is made, and arrays
 * are zeroed with their length set before they are filled. That makes the one
 * destructor (config_destroy) correct for a half-built snapshot too, so every
 * error path is just "release what we have" and cannot leak. The destructor only
 * needs the pointers to be malloc'd or NULL, so a snapshot assembled by hand in a
 * test is released the same way.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "config/config_internal.h"

#define MAX_CONFIG_BYTES (16 * 1024 * 1024)

static const char *const top_level_keys[] = {
    "listen",    "workers",     "state_dir", "secrets", "tool_separator", "allowed_origins",
    "log_level", "limits",      "servers",   "auth",    "roles",          "bindings",
    "scopes",    "rate_limits", "audit",     "tracing", "metrics",        "pins",
    "guards",    "approvals",   "admin",     NULL};

int mg_config_load_nonempty(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out)
{
    if (mg_config_yaml_string(&loader->yaml, node, path, out) != 0)
        return -1;
    if ((*out)[0] == '\0')
        return mg_config_yaml_fail(&loader->yaml, node, path, "must not be empty");
    return 0;
}

int mg_config_load_path(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out)
{
    char *written;
    if (mg_config_load_nonempty(loader, node, path, &written) != 0) {
        free(written);
        return -1;
    }
    *out = mg_config_resolve_path(loader->base_dir, written);
    free(written);
    if (*out == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    return 0;
}

/* Splits "host:port" / "[v6]:port" into listen->host and listen->port. The host must be
 * a numeric address: what the gateway binds to should not depend on DNS at startup. */
static int parse_address(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                         mg_config_listen_t *listen)
{
    const char *address = listen->address, *host = address, *colon;
    size_t host_len;
    bool bracketed = address[0] == '[';
    if (bracketed) {
        const char *close = strchr(address, ']');
        if (close == NULL || close[1] != ':')
            goto malformed;
        host = address + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(address, ':');
        if (colon == NULL)
            goto malformed;
        host_len = (size_t)(colon - address);
        if (memchr(address, ':', host_len) != NULL)
            return mg_config_yaml_fail(&loader->yaml, node, path,
                                       "\"%s\": an IPv6 address must be in brackets, e.g. [::1]:8080",
                                       mg_config_yaml_raw(node));
    }
    const char *port = colon + 1;
    size_t port_len = strlen(port);
    if (host_len == 0 || port_len == 0 || port_len > 5 || strspn(port, "0123456789") != port_len)
        goto malformed;
    long port_number = strtol(port, NULL, 10);
    if (port_number > 65535)
        return mg_config_yaml_fail(&loader->yaml, node, path, "port %ld is out of range 0..65535", port_number);
    listen->host = strndup(host, host_len);
    if (listen->host == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    listen->port = (uint16_t)port_number;
    unsigned char scratch[sizeof(struct in6_addr)];
    if (bracketed && inet_pton(AF_INET6, listen->host, scratch) != 1)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" is not a valid IPv6 address", listen->host);
    if (!bracketed && inet_pton(AF_INET, listen->host, scratch) != 1)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or [::1])", listen->host);
    return 0;
malformed:
    return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080",
                               mg_config_yaml_raw(node));
}

int mg_config_load_address(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           mg_config_listen_t *listen)
{
    if (mg_config_yaml_string(&loader->yaml, node, path, &listen->address) != 0)
        return -1;
    return parse_address(loader, node, path, listen);
}

static int load_tls(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_listen_t *listen)
{
    static const char *const keys[] = {"cert", "key", NULL};
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0)
        return -1;
    for (size_t i = 0; keys[i] != NULL; i++) {
        yaml_node_t *value = mg_config_yaml_get(&loader->yaml, node, keys[i], NULL);
        if (value == NULL)
            return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"%s\"", keys[i]);
        mg_config_yaml_path_key(child, sizeof(child), path, keys[i]);
        if (mg_config_load_path(loader, value, child, i == 0 ? &listen->tls_cert : &listen->tls_key) != 0)
            return -1;
    }
    return 0;
}

int mg_config_load_listener(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                            mg_config_listen_t *listen)
{
    static const char *const keys[] = {"address", "tls", NULL};
    char child[MG_CONFIG_PATH_MAX];
    const yaml_node_t *address = node;
    mg_config_yaml_path_key(child, sizeof(child), path, "address");
    if (node->type != YAML_SCALAR_NODE) { /* a bare "host:port" item is shorthand for {address: ...} */
        if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
            mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0)
            return -1;
        address = mg_config_yaml_get(&loader->yaml, node, "address", NULL);
        if (address == NULL)
            return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"address\"");
    }
    if (mg_config_yaml_string(&loader->yaml, address, child, &listen->address) != 0 ||
        parse_address(loader, address, child, listen) != 0)
        return -1;
    yaml_node_t *tls = node->type == YAML_MAPPING_NODE ? mg_config_yaml_get(&loader->yaml, node, "tls", NULL) : NULL;
    mg_config_yaml_path_key(child, sizeof(child), path, "tls");
    return tls != NULL ? load_tls(loader, tls, child, listen) : 0;
}

static int load_listen(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    char path[MG_CONFIG_PATH_MAX];
    if (node == NULL) {
        config->listen = calloc(1, sizeof(*config->listen));
        if (config->listen == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        config->listen_len = 1;
        config->listen[0].address = strdup("127.0.0.1:8080");
        config->listen[0].host = strdup("127.0.0.1");
        config->listen[0].port = 8080;
        if (config->listen[0].address == NULL || config->listen[0].host == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        return 0;
    }
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, "listen") != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return mg_config_yaml_fail(&loader->yaml, node, "listen",
                                   "needs at least one address (omit it for 127.0.0.1:8080)");
    config->listen = calloc(count, sizeof(*config->listen));
    if (config->listen == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    config->listen_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(path, sizeof(path), "listen", i);
        if (mg_config_load_listener(loader, item, path, &config->listen[i]) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            const mg_config_listen_t *a = &config->listen[j], *b = &config->listen[i];
            if (b->port != 0 && a->port == b->port && strcmp(a->host, b->host) == 0)
                return mg_config_yaml_fail(&loader->yaml, item, path, "address %s is already used by listen[%zu]",
                                           b->address, j);
        }
    }
    return 0;
}

static int load_int(mg_config_loader_t *loader, const yaml_node_t *mapping, const char *parent, const char *key,
                    long long min, long long max, long long *out)
{
    char path[MG_CONFIG_PATH_MAX];
    yaml_node_t *value = mg_config_yaml_get(&loader->yaml, mapping, key, NULL);
    mg_config_yaml_path_key(path, sizeof(path), parent, key);
    return value == NULL ? 0 : mg_config_yaml_int(&loader->yaml, value, path, min, max, out);
}

static int load_limits(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_limits_t *limits)
{
    static const char *const keys[] = {"max_body_bytes", "max_json_depth", "upstream_timeout_ms", NULL};
    long long body = 4194304, depth = 64, timeout = 60000;
    if (node != NULL) {
        if (mg_config_yaml_expect_mapping(&loader->yaml, node, "limits") != 0 ||
            mg_config_yaml_check_keys(&loader->yaml, node, "limits", keys) != 0 ||
            load_int(loader, node, "limits", "max_body_bytes", 1024, 1073741824, &body) != 0 ||
            load_int(loader, node, "limits", "max_json_depth", 1, 1000, &depth) != 0 ||
            load_int(loader, node, "limits", "upstream_timeout_ms", 1, 3600000, &timeout) != 0)
            return -1;
    }
    limits->max_body_bytes = (size_t)body;
    limits->max_json_depth = (int)depth;
    limits->upstream_timeout_ms = (int)timeout;
    return 0;
}

static int load_log_level(mg_config_loader_t *loader, const yaml_node_t *node, char **out)
{
    static const char *const choices[] = {"debug", "info", "warn", "error", NULL};
    const char *path = "log_level";
    if (node == NULL) {
        *out = strdup("info");
        return *out == NULL ? mg_error_set(loader->yaml.err, "out of memory") : 0;
    }
    if (mg_config_yaml_string(&loader->yaml, node, path, out) != 0)
        return -1;
    for (size_t i = 0; choices[i] != NULL; i++) {
        if (strcmp(*out, choices[i]) == 0)
            return 0;
    }
    return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be one of debug, info, warn, error",
                               mg_config_yaml_raw(node));
}

/* Characters every MCP client accepts in a tool name (MCP spec: [A-Za-z0-9_.-]) that
 * are not letters or digits, so the separator can never be mistaken for a name. */
#define SEPARATOR_CHARS "_-."

static int load_separator(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    if (node == NULL) {
        config->tool_separator = strdup("__");
        return config->tool_separator == NULL ? mg_error_set(loader->yaml.err, "out of memory") : 0;
    }
    if (mg_config_load_nonempty(loader, node, "tool_separator", &config->tool_separator) != 0)
        return -1;
    size_t len = strlen(config->tool_separator);
    if (len > 8 || strspn(config->tool_separator, SEPARATOR_CHARS) != len)
        return mg_config_yaml_fail(&loader->yaml, node, "tool_separator",
                                   "\"%s\" must be 1 to 8 characters from \"" SEPARATOR_CHARS "\"",
                                   mg_config_yaml_raw(node));
    return 0;
}

int mg_config_load_string_list(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char ***out,
                               size_t *out_len)
{
    char item_path[MG_CONFIG_PATH_MAX];
    size_t count = 0;
    if (node != NULL) {
        if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
            return -1;
        count = mg_config_yaml_length(node);
    }
    if ((*out = calloc(count + 1, sizeof(char *))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    *out_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(item_path, sizeof(item_path), path, i);
        if (mg_config_load_nonempty(loader, item, item_path, &(*out)[i]) != 0)
            return -1;
        for (const char *c = (*out)[i]; *c != '\0'; c++) {
            if ((unsigned char)*c <= ' ' || *c == 0x7f)
                return mg_config_yaml_fail(&loader->yaml, item, item_path,
                                           "must not contain spaces or control characters");
        }
    }
    return 0;
}

void mg_config_free_string_list(char **list, size_t len)
{
    for (size_t i = 0; list != NULL && i < len; i++)
        free(list[i]);
    free(list);
}

static int load_origins(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    return mg_config_load_string_list(loader, node, "allowed_origins", &config->allowed_origins,
                                      &config->allowed_origins_len);
}

static int load_workers(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    long long workers = sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1)
        workers = 1;
    if (workers > 256)
        workers = 256;
    if (node != NULL && mg_config_yaml_int(&loader->yaml, node, "workers", 1, 256, &workers) != 0)
        return -1;
    config->workers = (int)workers;
    return 0;
}

/* A server name containing the separator would make "name__tool" ambiguous to split. */
static int check_separator(mg_config_loader_t *loader, const yaml_node_t *servers, const mg_config_t *config)
{
    char path[MG_CONFIG_PATH_MAX];
    for (size_t i = 0; i < config->servers_len; i++) {
        if (strstr(config->servers[i].name, config->tool_separator) == NULL)
            continue;
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, servers, i);
        yaml_node_t *name = mg_config_yaml_get(&loader->yaml, item, "name", NULL);
        snprintf(path, sizeof(path), "servers[%zu].name", i);
        return mg_config_yaml_fail(&loader->yaml, name, path,
                                   "\"%s\" contains the tool separator \"%s\"; rename the server or change "
                                   "tool_separator",
                                   config->servers[i].name, config->tool_separator);
    }
    return 0;
}

static int load_state_dir(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    if (node != NULL)
        return mg_config_load_path(loader, node, "state_dir", &config->state_dir);
    if ((config->state_dir = mg_config_resolve_path(loader->base_dir, "var")) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    return 0;
}

static int load_secrets(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_secrets_t *secrets)
{
    static const char *const keys[] = {"dir", "master_key_file", NULL};
    if (node == NULL)
        return 0;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, "secrets") != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, "secrets", keys) != 0)
        return -1;
    yaml_node_t *dir = mg_config_yaml_get(&loader->yaml, node, "dir", NULL);
    yaml_node_t *key_file = mg_config_yaml_get(&loader->yaml, node, "master_key_file", NULL);
    if (dir != NULL && mg_config_load_path(loader, dir, "secrets.dir", &secrets->dir) != 0)
        return -1;
    if (key_file != NULL &&
        mg_config_load_path(loader, key_file, "secrets.master_key_file", &secrets->master_key_file) != 0)
        return -1;
    return 0;
}

/* An empty document has no root: every key is then absent. */
static yaml_node_t *top_level(mg_config_yaml_t *yaml, const yaml_node_t *root, const char *key)
{
    return root != NULL ? mg_config_yaml_get(yaml, root, key, NULL) : NULL;
}

/* state_dir and secrets come first and without a secret resolver: they say where secrets are,
 * so they cannot themselves use ${secret:...}. Every later value may. */
static int load_document(mg_config_loader_t *loader, mg_config_scope_t scope, mg_config_t *config)
{
    mg_config_yaml_t *yaml = &loader->yaml;
    yaml_node_t *root = mg_config_yaml_root(yaml);
    if (root != NULL && (mg_config_yaml_expect_mapping(yaml, root, "") != 0 ||
                         mg_config_yaml_check_keys(yaml, root, "", top_level_keys) != 0))
        return -1;
    if (load_state_dir(loader, top_level(yaml, root, "state_dir"), config) != 0 ||
        load_secrets(loader, top_level(yaml, root, "secrets"), &config->secrets) != 0 ||
        mg_config_load_pins(loader, top_level(yaml, root, "pins"), &config->pins) != 0)
        return -1;
    if (scope == MG_CONFIG_STATE_ONLY)
        return 0;
    yaml->secrets = mg_secrets_resolver_create(config->state_dir, config->secrets.dir, config->secrets.master_key_file);
    if (yaml->secrets == NULL)
        return mg_error_set(yaml->err, "out of memory");
    if (load_limits(loader, top_level(yaml, root, "limits"), &config->limits) != 0 ||
        load_listen(loader, top_level(yaml, root, "listen"), config) != 0 ||
        load_workers(loader, top_level(yaml, root, "workers"), config) != 0 ||
        load_separator(loader, top_level(yaml, root, "tool_separator"), config) != 0 ||
        load_origins(loader, top_level(yaml, root, "allowed_origins"), config) != 0 ||
        load_log_level(loader, top_level(yaml, root, "log_level"), &config->log_level) != 0)
        return -1;
    yaml_node_t *servers = top_level(yaml, root, "servers");
    if (servers != NULL &&
        (mg_config_load_servers(loader, servers, config) != 0 || check_separator(loader, servers, config) != 0))
        return -1;
    yaml_node_t *auth = top_level(yaml, root, "auth");
    if (auth != NULL && mg_config_load_auth(loader, auth, config) != 0)
        return -1;
    yaml_node_t *audit = top_level(yaml, root, "audit");
    if (audit != NULL && mg_config_load_audit(loader, audit, &config->audit) != 0)
        return -1;
    yaml_node_t *tracing = top_level(yaml, root, "tracing");
    if (tracing != NULL && mg_config_load_tracing(loader, tracing, &config->tracing) != 0)
        return -1;
    if (mg_config_load_policy(loader, root, config) != 0)
        return -1;
    yaml_node_t *metrics_key = NULL; /* `metrics:` without a value turns the endpoint on with every default */
    yaml_node_t *metrics = root != NULL ? mg_config_yaml_get(yaml, root, "metrics", &metrics_key) : NULL;
    if (metrics_key != NULL && mg_config_load_metrics(loader, metrics, config) != 0)
        return -1;
    yaml_node_t *guards_key = NULL; /* `guards:` without a value turns detection on with every default */
    yaml_node_t *guards = root != NULL ? mg_config_yaml_get(yaml, root, "guards", &guards_key) : NULL;
    if (guards_key != NULL && mg_config_load_guards(loader, guards, &config->guards) != 0)
        return -1;
    yaml_node_t *approvals = top_level(yaml, root, "approvals");
    if (approvals != NULL && mg_config_load_approvals(loader, approvals, config) != 0)
        return -1;
    yaml_node_t *rate_limits = top_level(yaml, root, "rate_limits");
    if (rate_limits != NULL && mg_config_load_rate_limits(loader, rate_limits, config) != 0)
        return -1;
    yaml_node_t *admin_key = NULL; /* `admin:` without a value is refused: listen and roles are required */
    yaml_node_t *admin = root != NULL ? mg_config_yaml_get(yaml, root, "admin", &admin_key) : NULL;
    return admin_key != NULL ? mg_config_load_admin(loader, admin_key, admin, config) : 0;
}

static void config_destroy(mg_config_t *config)
{
    for (size_t i = 0; config->listen != NULL && i < config->listen_len; i++) {
        free(config->listen[i].address);
        free(config->listen[i].host);
        free(config->listen[i].tls_cert);
        free(config->listen[i].tls_key);
    }
    free(config->listen);
    mg_config_free_string_list(config->allowed_origins, config->allowed_origins_len);
    mg_config_auth_dispose(&config->auth);
    mg_config_audit_dispose(&config->audit);
    mg_config_tracing_dispose(&config->tracing);
    mg_config_metrics_dispose(&config->metrics);
    mg_config_admin_dispose(&config->admin);
    mg_config_policy_dispose(&config->policy);
    mg_config_rate_limits_dispose(&config->rate_limits);
    mg_config_guards_dispose(&config->guards);
    mg_config_approvals_dispose(&config->approvals);
    for (size_t i = 0; config->servers != NULL && i < config->servers_len; i++)
        mg_config_server_dispose(&config->servers[i]);
    free(config->servers);
    free(config->source);
    free(config->state_dir);
    free(config->secrets.dir);
    free(config->secrets.master_key_file);
    free(config->tool_separator);
    free(config->log_level);
    free(config);
}

/* `base_dir` must be absolute. */
static int load(const char *text, size_t len, const char *name, const char *base_dir, mg_config_scope_t scope,
                mg_config_t **out, mg_error_t *err)
{
    mg_config_loader_t loader = {.base_dir = base_dir};
    mg_config_t *config = calloc(1, sizeof(*config));
    *out = NULL;
    if (config == NULL)
        return mg_error_set(err, "out of memory");
    atomic_init(&config->refcount, 1);
    int rc = -1;
    if ((config->source = strdup(name)) == NULL) {
        mg_error_set(err, "out of memory");
        goto done;
    }
    if (mg_config_yaml_load(&loader.yaml, text, len, name, err) != 0 || load_document(&loader, scope, config) != 0)
        goto done;
    rc = 0;
done:
    mg_secrets_resolver_destroy(loader.yaml.secrets);
    mg_config_yaml_dispose(&loader.yaml);
    if (rc != 0)
        config_destroy(config);
    else
        *out = config;
    return rc;
}

int mg_config_load_string(const char *yaml, size_t len, const char *name, const char *base_dir, mg_config_t **out,
                          mg_error_t *err)
{
    return mg_config_load_string_scoped(yaml, len, name, base_dir, MG_CONFIG_FULL, out, err);
}

int mg_config_load_string_scoped(const char *yaml, size_t len, const char *name, const char *base_dir,
                                 mg_config_scope_t scope, mg_config_t **out, mg_error_t *err)
{
    char cwd[PATH_MAX];
    if (name == NULL)
        name = "<embedded>";
    if (base_dir == NULL || base_dir[0] != '/') {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return mg_error_set(err, "%s: cannot determine the working directory: %s", name, strerror(errno));
        if (base_dir == NULL)
            return load(yaml, len, name, cwd, scope, out, err);
        char *absolute = mg_config_resolve_path(cwd, base_dir);
        if (absolute == NULL)
            return mg_error_set(err, "out of memory");
        int rc = load(yaml, len, name, absolute, scope, out, err);
        free(absolute);
        return rc;
    }
    return load(yaml, len, name, base_dir, scope, out, err);
}

/* Reads all of `file` into a malloc'd buffer, growing it as needed (works for pipes too). */
static int read_all(FILE *file, const char *path, char **out, size_t *out_len, mg_error_t *err)
{
    size_t len = 0, capacity = 0;
    char *text = NULL;
    for (;;) {
        if (len == capacity) {
            if (capacity >= MAX_CONFIG_BYTES) {
                free(text);
                return mg_error_set(err, "%s: larger than %d bytes", path, MAX_CONFIG_BYTES);
            }
            capacity = capacity == 0 ? 65536 : capacity * 2;
            char *grown = realloc(text, capacity);
            if (grown == NULL) {
                free(text);
                return mg_error_set(err, "%s: out of memory", path);
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, capacity - len, file);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(file)) {
        free(text);
        return mg_error_set(err, "%s: cannot read: %s", path, strerror(errno));
    }
    *out = text;
    *out_len = len;
    return 0;
}

int mg_config_load_file(const char *path, mg_config_t **out, mg_error_t *err)
{
    return mg_config_load_file_scoped(path, MG_CONFIG_FULL, out, err);
}

int mg_config_load_file_scoped(const char *path, mg_config_scope_t scope, mg_config_t **out, mg_error_t *err)
{
    *out = NULL;
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return mg_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL, *directory = NULL;
    size_t len = 0;
    int rc = read_all(file, path, &text, &len, err);
    fclose(file);
    if (rc == 0 && (directory = realpath(path, NULL)) == NULL)
        rc = mg_error_set(err, "%s: cannot resolve its directory: %s", path, strerror(errno));
    if (rc == 0) {
        *strrchr(directory, '/') = '\0'; /* realpath is absolute: there is a '/' */
        rc = load(text, len, path, directory[0] != '\0' ? directory : "/", scope, out, err);
    }
    free(directory);
    free(text);
    return rc;
}

mg_config_t *mg_config_retain(mg_config_t *config)
{
    if (config != NULL)
        atomic_fetch_add_explicit(&config->refcount, 1, memory_order_relaxed);
    return config;
}

void mg_config_release(mg_config_t *config)
{
    if (config == NULL)
        return;
    /* acq_rel: the last releaser must see every other thread's reads finished before freeing. */
    if (atomic_fetch_sub_explicit(&config->refcount, 1, memory_order_acq_rel) == 1)
        config_destroy(config);
}

const mg_config_server_t *mg_config_find_server(const mg_config_t *config, const char *name)
{
    for (size_t i = 0; i < config->servers_len; i++) {
        if (strcmp(config->servers[i].name, name) == 0)
            return &config->servers[i];
    }
    return NULL;
}

/* Glob match with '*' only. Greedy with a single backtrack point, which is exact
 * for '*'-only patterns and linear in practice (no exponential blow-up). */
static bool glob_match(const char *pattern, const char *text, size_t text_len)
{
    const char *star = NULL;
    size_t p = 0, t = 0, star_text = 0;
    while (t < text_len) {
        if (pattern[p] == '*') {
            star = pattern + p++;
            star_text = t;
        } else if (pattern[p] != '\0' && pattern[p] == text[t]) {
            p++;
            t++;
        } else if (star != NULL) {
            p = (size_t)(star - pattern) + 1;
            t = ++star_text;
        } else {
            return false;
        }
    }
    while (pattern[p] == '*')
        p++;
    return pattern[p] == '\0';
}

bool mg_config_origin_allowed(const mg_config_t *config, const char *origin, size_t origin_len)
{
    if (origin == NULL)
        return false;
    for (size_t i = 0; i < config->allowed_origins_len; i++) {
        if (glob_match(config->allowed_origins[i], origin, origin_len))
            return true;
    }
    return false;
}
