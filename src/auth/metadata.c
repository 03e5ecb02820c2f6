/* metadata.c - see metadata.h. */
#include "auth/metadata.h"

#include "core/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the scheme and authority of `url` ("https://gw.example.com:8443"). */
static size_t origin_length(const char *url)
{
    const char *authority = strstr(url, "://");
    authority = authority != NULL ? authority + 3 : url;
    size_t len = strcspn(authority, "/?");
    return (size_t)(authority - url) + len;
}

/* The resource's path with its trailing "/mcp" taken off: what server paths are built on. */
static void base_path(const char *resource, const char **base, size_t *len)
{
    *base = resource + origin_length(resource);
    *len = strcspn(*base, "?");
    if (*len >= 4 && memcmp(*base + *len - 4, "/mcp", 4) == 0)
        *len -= 4;
}

char *mg_auth_resource_for(const mg_config_t *config, long scope)
{
    const char *resource = config->auth.resource;
    if (scope < 0)
        return strdup(resource);
    const char *base;
    size_t base_len;
    base_path(resource, &base, &base_len);
    char *out = NULL;
    int len = asprintf(&out, "%.*s%.*s/servers/%s/mcp", (int)origin_length(resource), resource, (int)base_len, base,
                       config->servers[scope].name);
    return len < 0 ? NULL : out;
}

char *mg_auth_metadata_url_for(const mg_config_t *config, long scope)
{
    char *resource = mg_auth_resource_for(config, scope);
    if (resource == NULL)
        return NULL;
    size_t origin = origin_length(resource);
    char *out = NULL;
    int len = asprintf(&out, "%.*s" MG_AUTH_METADATA_PREFIX "%s", (int)origin, resource, resource + origin);
    free(resource);
    return len < 0 ? NULL : out;
}

static bool path_is(const char *path, size_t len, const char *expected, size_t expected_len)
{
    return len == expected_len && memcmp(path, expected, len) == 0;
}

int mg_auth_metadata_scope(const mg_config_t *config, const char *path, size_t len, long *scope)
{
    const char *resource = config->auth.resource;
    const char *resource_path = resource + origin_length(resource);
    if (len == 0 || path_is(path, len, "/mcp", 4) || path_is(path, len, resource_path, strlen(resource_path))) {
        *scope = -1;
        return 0;
    }
    const char *base;
    size_t base_len;
    base_path(resource, &base, &base_len);
    /* "/servers/<name>/mcp", after the resource's own base path or without it */
    for (int with_base = 0; with_base < 2; with_base++) {
        const char *rest = path;
        size_t rest_len = len;
        if (with_base) {
            if (base_len == 0 || rest_len < base_len || memcmp(rest, base, base_len) != 0)
                continue;
            rest += base_len;
            rest_len -= base_len;
        }
        if (rest_len <= 9 + 4 || memcmp(rest, "/servers/", 9) != 0 || memcmp(rest + rest_len - 4, "/mcp", 4) != 0)
            continue;
        const char *name = rest + 9;
        size_t name_len = rest_len - 9 - 4;
        for (size_t i = 0; i < config->servers_len; i++) {
            if (path_is(name, name_len, config->servers[i].name, strlen(config->servers[i].name))) {
                *scope = (long)i;
                return 0;
            }
        }
    }
    return -1;
}

static json_t *string_array(char *const *items, size_t len)
{
    json_t *array = json_array();
    for (size_t i = 0; i < len; i++)
        json_array_append_new(array, json_string(items[i]));
    return array;
}

json_t *mg_auth_metadata_document(const mg_config_t *config, long scope)
{
    const mg_config_auth_t *auth = &config->auth;
    char *resource = mg_auth_resource_for(config, scope);
    json_t *document = json_object();
    json_object_set_new(document, "resource", json_string(resource));
    free(resource);
    /* optional members (RFC 9728 section 2) are left out rather than empty: API keys alone name no
     * authorization server */
    if (auth->authorization_servers_len != 0)
        json_object_set_new(document, "authorization_servers",
                            string_array(auth->authorization_servers, auth->authorization_servers_len));
    if (auth->scopes_required_len != 0)
        json_object_set_new(document, "scopes_supported", string_array(auth->scopes_required, auth->scopes_required_len));
    json_object_set_new(document, "bearer_methods_supported", json_pack("[s]", "header"));
    json_object_set_new(document, "resource_name",
                        scope < 0 ? json_string("mcpgate")
                                  : json_sprintf("mcpgate: %s", config->servers[scope].name));
    if (auth->mtls.client_ca != NULL)
        json_object_set_new(document, "tls_client_certificate_bound_access_tokens", json_false());
    return document;
}

/* Appends `text` to a quoted-string parameter: RFC 6750 section 3 forbids '"' and '\\' in values,
 * and a description is often built from what the caller sent. */
static void append_quoted(mg_bytes_t *out, const char *text)
{
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
            continue;
        mg_bytes_append(out, c, 1);
    }
}

static void append(mg_bytes_t *out, const char *text)
{
    mg_bytes_append(out, text, strlen(text));
}

static void append_parameter(mg_bytes_t *out, const char *name, const char *value)
{
    append(out, out->len == 0 ? "Bearer " : ", ");
    append(out, name);
    append(out, "=\"");
    append_quoted(out, value);
    append(out, "\"");
}

char *mg_auth_challenge(const mg_config_t *config, long scope, const char *error, const char *description,
                        const char *needed_scope)
{
    char *metadata_url = mg_auth_metadata_url_for(config, scope);
    if (metadata_url == NULL)
        return NULL;
    mg_bytes_t out = {0};
    append_parameter(&out, "resource_metadata", metadata_url);
    free(metadata_url);
    const mg_config_auth_t *auth = &config->auth;
    if (needed_scope != NULL) {
        append_parameter(&out, "scope", needed_scope);
    } else if (auth->scopes_required_len != 0) {
        mg_bytes_t scopes = {0};
        for (size_t i = 0; i < auth->scopes_required_len; i++) {
            if (i > 0)
                append(&scopes, " ");
            append(&scopes, auth->scopes_required[i]);
        }
        mg_bytes_append(&scopes, "", 1);
        append_parameter(&out, "scope", scopes.base);
        mg_bytes_dispose(&scopes);
    }
    if (error != NULL) {
        append_parameter(&out, "error", error);
        if (description != NULL)
            append_parameter(&out, "error_description", description);
    }
    mg_bytes_append(&out, "", 1);
    size_t len;
    return mg_bytes_take(&out, &len);
}
