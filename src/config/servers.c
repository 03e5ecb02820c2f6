/*
 * servers.c - the `servers` list: upstream MCP servers behind the gateway.
 *
 * A server is either stdio (`command`, with optional env/cwd) or Streamable HTTP
 * (`url`, with optional headers/tls_verify/ca_file). All keys of both kinds are
 * accepted by the unknown-key check so that `headers` on a stdio server gets the
 * precise "only valid for HTTP servers" message instead of "unknown key".
 *
 * Header values are checked for CR/LF after ${VAR} expansion: an environment
 * variable must not be able to inject extra headers into upstream requests.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

static const char *const server_keys[] = {"name",
                                          "command",
                                          "env",
                                          "cwd",
                                          "timeout_ms",
                                          "url",
                                          "headers",
                                          "tls_verify",
                                          "ca_file",
                                          "required",
                                          "credentials",
                                          "strict",
                                          "validate_formats",
                                          "output_validation",
                                          "cost",
                                          "costs",
                                          NULL};
static const char *const stdio_only_keys[] = {"env", "cwd", NULL};
static const char *const http_only_keys[] = {"headers", "tls_verify", "ca_file", "credentials", NULL};

/* Headers the gateway itself manages on upstream requests. */
static const char *const reserved_headers[] = {"content-length", "transfer-encoding",    "connection", "host",
                                               "mcp-session-id", "mcp-protocol-version", NULL};

void mg_config_server_dispose(mg_config_server_t *server)
{
    free(server->name);
    for (size_t i = 0; server->command != NULL && i < server->command_len; i++)
        free(server->command[i]);
    free(server->command);
    for (size_t i = 0; server->env != NULL && i < server->env_len; i++) {
        free(server->env[i].key);
        free(server->env[i].value);
    }
    free(server->env);
    free(server->cwd);
    free(server->url);
    for (size_t i = 0; server->headers != NULL && i < server->headers_len; i++) {
        free(server->headers[i].key);
        free(server->headers[i].value);
    }
    free(server->headers);
    free(server->ca_file);
    mg_config_credentials_dispose(&server->credentials);
    for (size_t i = 0; server->costs != NULL && i < server->costs_len; i++)
        free(server->costs[i].tool);
    free(server->costs);
}

void mg_config_credentials_dispose(mg_config_credentials_t *credentials)
{
    free(credentials->bearer);
    for (size_t i = 0; credentials->headers != NULL && i < credentials->headers_len; i++) {
        free(credentials->headers[i].key);
        free(credentials->headers[i].value);
    }
    free(credentials->headers);
    free(credentials->oauth.token_url);
    free(credentials->oauth.client_id);
    free(credentials->oauth.client_secret);
    free(credentials->oauth.scope);
    free(credentials->oauth.resource);
    memset(credentials, 0, sizeof(*credentials));
}

static int load_name(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_server_t *server)
{
    if (mg_config_load_nonempty(loader, node, path, &server->name) != 0)
        return -1;
    size_t len = strlen(server->name);
    if (strspn(server->name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must match [a-z0-9-]+", mg_config_yaml_raw(node));
    if (len > 64)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" is longer than 64 characters",
                                   mg_config_yaml_raw(node));
    return 0;
}

static int load_command(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                        mg_config_server_t *server)
{
    char child[MG_CONFIG_PATH_MAX];
    if (node->type != YAML_SEQUENCE_NODE)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "expected a list of strings, e.g. [npx, -y, \"@scope/server\"]");
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must name at least the program to run");
    if ((server->command = calloc(count + 1, sizeof(char *))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    server->command_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(child, sizeof(child), path, i);
        if (i == 0 ? mg_config_load_nonempty(loader, item, child, &server->command[0])
                   : mg_config_yaml_string(&loader->yaml, item, child, &server->command[i]))
            return -1;
    }
    /* A bare program name is looked up in PATH at spawn time; anything with a '/' is a path. */
    if (server->command[0][0] != '/' && strchr(server->command[0], '/') != NULL) {
        char *resolved = mg_config_resolve_path(loader->base_dir, server->command[0]);
        if (resolved == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        free(server->command[0]);
        server->command[0] = resolved;
    }
    return 0;
}

static bool is_env_name(const char *name)
{
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    size_t len = strlen(name);
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

static bool is_header_name(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && strspn(name, "!#$%&'*+-.^_`|~0123456789"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == len;
}

/* `env` and `headers`: a mapping of string to string; names checked per kind. */
static int load_pairs(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, bool headers,
                      mg_config_kv_t **out, size_t *out_len)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, NULL) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if ((*out = calloc(count + 1, sizeof(**out))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    *out_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = mg_config_yaml_pair_key(&loader->yaml, node, i);
        yaml_node_t *value = mg_config_yaml_pair_value(&loader->yaml, node, i);
        const char *name = mg_config_yaml_raw(key);
        mg_config_yaml_path_key(child, sizeof(child), path, name);
        if (headers && !is_header_name(name))
            return mg_config_yaml_fail(&loader->yaml, key, child, "not a valid HTTP header name");
        if (!headers && !is_env_name(name))
            return mg_config_yaml_fail(&loader->yaml, key, child, "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
        for (size_t r = 0; headers && reserved_headers[r] != NULL; r++) {
            if (strcasecmp(name, reserved_headers[r]) == 0)
                return mg_config_yaml_fail(&loader->yaml, key, child, "is set by the gateway and cannot be configured");
        }
        if (((*out)[i].key = strdup(name)) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        if (mg_config_yaml_string(&loader->yaml, value, child, &(*out)[i].value) != 0)
            return -1;
        if (headers && strpbrk((*out)[i].value, "\r\n") != NULL)
            return mg_config_yaml_fail(&loader->yaml, value, child, "must not contain line breaks");
    }
    return 0;
}

static yaml_node_t *field(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *key,
                          char child[MG_CONFIG_PATH_MAX]);

/* RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces. */
static bool is_scope_list(const char *scope)
{
    for (const char *c = scope; *c != '\0'; c++) {
        unsigned char byte = (unsigned char)*c;
        if (byte == ' ' ? (c == scope || c[1] == '\0' || c[1] == ' ')
                        : (byte < 0x21 || byte > 0x7e || byte == '"' || byte == '\\'))
            return false;
    }
    return true;
}

/* credentials.oauth: the OAuth 2.0 client credentials grant (RFC 6749 section 4.4). The secret is
 * usually a ${secret:NAME} reference, resolved by the loader like any other value. */
static int load_oauth_credentials(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                                  mg_config_credentials_t *credentials)
{
    static const char *const keys[] = {"token_url", "client_id", "client_secret", "scope", "resource", NULL};
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0)
        return -1;
    char **required[] = {&credentials->oauth.token_url, &credentials->oauth.client_id,
                         &credentials->oauth.client_secret};
    for (size_t i = 0; i < 3; i++) {
        if ((value = field(loader, node, path, keys[i], child)) == NULL)
            return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"%s\"", keys[i]);
        if ((i == 0 ? mg_config_load_url(loader, value, child, required[i])
                    : mg_config_load_nonempty(loader, value, child, required[i])) != 0)
            return -1;
    }
    if ((value = field(loader, node, path, "scope", child)) != NULL) {
        if (mg_config_load_nonempty(loader, value, child, &credentials->oauth.scope) != 0)
            return -1;
        if (!is_scope_list(credentials->oauth.scope))
            return mg_config_yaml_fail(&loader->yaml, value, child,
                                       "must be scope tokens separated by single spaces (RFC 6749 section 3.3)");
    }
    if ((value = field(loader, node, path, "resource", child)) != NULL &&
        mg_config_load_url(loader, value, child, &credentials->oauth.resource) != 0)
        return -1;
    return 0;
}

int mg_config_load_credentials(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                               mg_config_credentials_t *credentials)
{
    static const char *const keys[] = {"bearer", "headers", "oauth", NULL};
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0)
        return -1;
    if (mg_config_yaml_length(node) != 1)
        return mg_config_yaml_fail(&loader->yaml, node, path, "needs exactly one of bearer, headers or oauth");
    yaml_node_t *value;
    if ((value = field(loader, node, path, "bearer", child)) != NULL) {
        credentials->kind = MG_CREDENTIALS_BEARER;
        if (mg_config_load_nonempty(loader, value, child, &credentials->bearer) != 0)
            return -1;
        if (strpbrk(credentials->bearer, "\r\n") != NULL)
            return mg_config_yaml_fail(&loader->yaml, value, child, "must not contain line breaks");
        return 0;
    }
    if ((value = field(loader, node, path, "headers", child)) != NULL) {
        credentials->kind = MG_CREDENTIALS_HEADERS;
        return load_pairs(loader, value, child, true, &credentials->headers, &credentials->headers_len);
    }
    if ((value = field(loader, node, path, "oauth", child)) != NULL) {
        credentials->kind = MG_CREDENTIALS_CLIENT_CREDENTIALS;
        return load_oauth_credentials(loader, value, child, credentials);
    }
    return mg_config_yaml_fail(&loader->yaml, node, path, "needs exactly one of bearer, headers or oauth");
}

static int load_url(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_server_t *server)
{
    if (mg_config_load_nonempty(loader, node, path, &server->url) != 0)
        return -1;
    const char *url = server->url, *rest = NULL;
    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    if (rest == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must start with http:// or https://",
                                   mg_config_yaml_raw(node));
    if (rest[0] == '\0' || rest[0] == '/' || rest[0] == '?' || rest[0] == '#')
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" has no host", mg_config_yaml_raw(node));
    for (const char *c = url; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return mg_config_yaml_fail(&loader->yaml, node, path, "must not contain spaces or control characters");
    }
    return 0;
}

/* Rejects keys that belong to the other kind of server, naming the kind they need. */
static int check_kind_keys(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           const char *const *keys, const char *needed)
{
    char child[MG_CONFIG_PATH_MAX];
    for (size_t i = 0; keys[i] != NULL; i++) {
        yaml_node_t *key = NULL;
        mg_config_yaml_get(&loader->yaml, node, keys[i], &key);
        if (key == NULL)
            continue;
        mg_config_yaml_path_key(child, sizeof(child), path, keys[i]);
        return mg_config_yaml_fail(&loader->yaml, key, child, "only valid for %s", needed);
    }
    return 0;
}

/* The value of `key` (NULL when absent) with its dotted path written to `child`. */
static yaml_node_t *field(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *key,
                          char child[MG_CONFIG_PATH_MAX])
{
    mg_config_yaml_path_key(child, MG_CONFIG_PATH_MAX, path, key);
    return mg_config_yaml_get(&loader->yaml, node, key, NULL);
}

static int load_stdio(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_server_t *server)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (check_kind_keys(loader, node, path, http_only_keys, "HTTP servers (with url)") != 0)
        return -1;
    if (load_command(loader, field(loader, node, path, "command", child), child, server) != 0)
        return -1;
    if ((value = field(loader, node, path, "env", child)) != NULL &&
        load_pairs(loader, value, child, false, &server->env, &server->env_len) != 0)
        return -1;
    if ((value = field(loader, node, path, "cwd", child)) != NULL &&
        mg_config_load_path(loader, value, child, &server->cwd) != 0)
        return -1;
    return 0;
}

static int load_http(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_server_t *server)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (check_kind_keys(loader, node, path, stdio_only_keys, "stdio servers (with command)") != 0)
        return -1;
    if (load_url(loader, field(loader, node, path, "url", child), child, server) != 0)
        return -1;
    if ((value = field(loader, node, path, "headers", child)) != NULL &&
        load_pairs(loader, value, child, true, &server->headers, &server->headers_len) != 0)
        return -1;
    if ((value = field(loader, node, path, "tls_verify", child)) != NULL &&
        mg_config_yaml_bool(&loader->yaml, value, child, &server->tls_verify) != 0)
        return -1;
    if ((value = field(loader, node, path, "ca_file", child)) != NULL &&
        mg_config_load_path(loader, value, child, &server->ca_file) != 0)
        return -1;
    if ((value = field(loader, node, path, "credentials", child)) != NULL &&
        mg_config_load_credentials(loader, value, child, &server->credentials) != 0)
        return -1;
    for (size_t i = 0; server->credentials.kind != MG_CREDENTIALS_NONE && i < server->headers_len; i++) {
        if (strcasecmp(server->headers[i].key, "authorization") == 0)
            return mg_config_yaml_fail(&loader->yaml, value, child,
                                       "conflicts with headers.%s; give the upstream's credential in one place",
                                       server->headers[i].key);
    }
    return 0;
}

/* strict, validate_formats, output_validation (docs/validation.md). */
static int load_validation(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           mg_config_server_t *server)
{
    mg_config_yaml_t *yaml = &loader->yaml;
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if ((value = field(loader, node, path, "strict", child)) != NULL &&
        mg_config_yaml_bool(yaml, value, child, &server->strict) != 0)
        return -1;
    if ((value = field(loader, node, path, "validate_formats", child)) != NULL &&
        mg_config_yaml_bool(yaml, value, child, &server->validate_formats) != 0)
        return -1;
    server->output_validation = MG_OUTPUT_ENFORCE;
    if ((value = field(loader, node, path, "output_validation", child)) != NULL) {
        char *mode;
        if (mg_config_yaml_string(yaml, value, child, &mode) != 0)
            return -1;
        int chosen = strcmp(mode, "enforce") == 0  ? MG_OUTPUT_ENFORCE
                     : strcmp(mode, "report") == 0 ? MG_OUTPUT_REPORT
                     : strcmp(mode, "off") == 0    ? MG_OUTPUT_OFF
                                                   : -1;
        free(mode);
        if (chosen < 0)
            return mg_config_yaml_fail(yaml, value, child, "\"%s\" must be one of enforce, report, off",
                                       mg_config_yaml_raw(value));
        server->output_validation = (mg_output_validation_t)chosen;
    }
    return 0;
}

static int load_server(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                       mg_config_server_t *server, int default_timeout)
{
    mg_config_yaml_t *yaml = &loader->yaml;
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(yaml, node, path, server_keys) != 0)
        return -1;
    yaml_node_t *value = field(loader, node, path, "name", child);
    if (value == NULL)
        return mg_config_yaml_fail(yaml, node, path, "missing required key \"name\"");
    if (load_name(loader, value, child, server) != 0)
        return -1;
    yaml_node_t *command_key = NULL, *url_key = NULL;
    yaml_node_t *command = mg_config_yaml_get(yaml, node, "command", &command_key);
    yaml_node_t *url = mg_config_yaml_get(yaml, node, "url", &url_key);
    if (command != NULL && url != NULL)
        return mg_config_yaml_fail(yaml, url_key, path,
                                   "has both command (line %zu) and url; a server is either stdio (command) or "
                                   "HTTP (url), not both",
                                   command_key->start_mark.line + 1);
    if (command == NULL && url == NULL)
        return mg_config_yaml_fail(yaml, node, path, "needs either command (stdio upstream) or url (HTTP upstream)");
    server->kind = command != NULL ? MG_UPSTREAM_STDIO : MG_UPSTREAM_HTTP;
    server->tls_verify = true;
    server->required = true;
    if ((server->kind == MG_UPSTREAM_STDIO ? load_stdio(loader, node, path, server)
                                           : load_http(loader, node, path, server)) != 0)
        return -1;
    if ((value = field(loader, node, path, "required", child)) != NULL &&
        mg_config_yaml_bool(yaml, value, child, &server->required) != 0)
        return -1;
    long long timeout = default_timeout;
    if ((value = field(loader, node, path, "timeout_ms", child)) != NULL &&
        mg_config_yaml_int(yaml, value, child, 1, 3600000, &timeout) != 0)
        return -1;
    server->timeout_ms = (int)timeout;
    if (mg_config_load_costs(loader, node, path, server) != 0)
        return -1;
    return load_validation(loader, node, path, server);
}

int mg_config_load_servers(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    char path[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, "servers") != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return 0;
    if ((config->servers = calloc(count, sizeof(*config->servers))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    config->servers_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(path, sizeof(path), "servers", i);
        if (load_server(loader, item, path, &config->servers[i], config->limits.upstream_timeout_ms) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(config->servers[j].name, config->servers[i].name) != 0)
                continue;
            char name_path[MG_CONFIG_PATH_MAX];
            yaml_node_t *name = field(loader, item, path, "name", name_path);
            return mg_config_yaml_fail(&loader->yaml, name, name_path, "\"%s\" is already used by servers[%zu]",
                                       config->servers[i].name, j);
        }
    }
    return 0;
}
