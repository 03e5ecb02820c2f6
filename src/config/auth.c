/*
 * auth.c - the `auth` section: who may call the gateway, and how they prove it.
 *
 * The section is checked as a whole here so that a snapshot never holds an authentication setup
 * the gateway cannot honour: a required auth with no way to authenticate, client certificates
 * without a TLS listener, an issuer whose tokens could never carry an accepted audience, an
 * algorithm the verifier does not implement (or one that must never be accepted: none, HS*).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

static const char *const auth_keys[] = {"resource",        "required",  "jwt",  "introspection", "api_keys",
                                        "mtls",            "scopes_required", "authorization_servers", NULL};
static const char *const jwt_keys[] = {"issuer", "audiences", "jwks_uri", "algorithms", "claims", "clock_skew_s", NULL};
static const char *const claims_keys[] = {"subject", "groups", "scopes", NULL};
static const char *const introspection_keys[] = {"url", "client_id", "client_secret", "cache_s", NULL};
static const char *const api_keys_keys[] = {"enabled", NULL};
static const char *const mtls_keys[] = {"client_ca", "identity", NULL};
/* What the verifier implements (src/auth/jwt.h); HS* and none are refused by name below. */
static const char *const supported_algorithms[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                                   "ES256", "ES384", "ES512", "EdDSA", NULL};

void mg_config_auth_dispose(mg_config_auth_t *auth)
{
    free(auth->resource);
    for (size_t i = 0; auth->jwt != NULL && i < auth->jwt_len; i++) {
        mg_config_jwt_t *jwt = &auth->jwt[i];
        free(jwt->issuer);
        mg_config_free_string_list(jwt->audiences, jwt->audiences_len);
        free(jwt->jwks_uri);
        mg_config_free_string_list(jwt->algorithms, jwt->algorithms_len);
        free(jwt->subject_claim);
        free(jwt->groups_claim);
        free(jwt->scopes_claim);
    }
    free(auth->jwt);
    free(auth->introspection.url);
    free(auth->introspection.client_id);
    free(auth->introspection.client_secret);
    free(auth->mtls.client_ca);
    mg_config_free_string_list(auth->scopes_required, auth->scopes_required_len);
    mg_config_free_string_list(auth->authorization_servers, auth->authorization_servers_len);
    memset(auth, 0, sizeof(*auth));
}

static yaml_node_t *field(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *key,
                          char child[MG_CONFIG_PATH_MAX])
{
    mg_config_yaml_path_key(child, MG_CONFIG_PATH_MAX, path, key);
    return mg_config_yaml_get(&loader->yaml, node, key, NULL);
}

static int check_mapping(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                         const char *const *keys)
{
    return mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
                   mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0
               ? -1
               : 0;
}

/* An absolute http(s) URL without spaces: the gateway fetches or advertises it. https is not
 * required, so that loopback identity providers work in tests; docs/security.md says to use it. */
int mg_config_load_url(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out)
{
    if (mg_config_load_nonempty(loader, node, path, out) != 0)
        return -1;
    const char *rest = strncasecmp(*out, "https://", 8) == 0 ? *out + 8
                       : strncasecmp(*out, "http://", 7) == 0 ? *out + 7
                                                               : NULL;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/')
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be an absolute http:// or https:// URL",
                                   mg_config_yaml_raw(node));
    for (const char *c = *out; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '"')
            return mg_config_yaml_fail(&loader->yaml, node, path, "must not contain spaces, quotes or control characters");
    }
    if (strchr(rest, '#') != NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must not contain a fragment (#)");
    return 0;
}

static int copy_default(mg_config_loader_t *loader, char **out, const char *value)
{
    if (*out == NULL && (*out = strdup(value)) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    return 0;
}

static int load_algorithms(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_jwt_t *jwt)
{
    if (node == NULL) {
        static const char *const defaults[] = {"RS256", "ES256"};
        if ((jwt->algorithms = calloc(3, sizeof(char *))) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        jwt->algorithms_len = 2;
        for (size_t i = 0; i < 2; i++) {
            if ((jwt->algorithms[i] = strdup(defaults[i])) == NULL)
                return mg_error_set(loader->yaml.err, "out of memory");
        }
        return 0;
    }
    if (mg_config_load_string_list(loader, node, path, &jwt->algorithms, &jwt->algorithms_len) != 0)
        return -1;
    if (jwt->algorithms_len == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must list at least one algorithm");
    char item[MG_CONFIG_PATH_MAX];
    for (size_t i = 0; i < jwt->algorithms_len; i++) {
        const char *alg = jwt->algorithms[i];
        mg_config_yaml_path_index(item, sizeof(item), path, i);
        yaml_node_t *item_node = mg_config_yaml_item(&loader->yaml, node, i);
        if (strcasecmp(alg, "none") == 0 || strncasecmp(alg, "HS", 2) == 0)
            return mg_config_yaml_fail(&loader->yaml, item_node, item,
                                       "\"%s\" is never accepted: tokens must be signed with the issuer's private key "
                                       "(RS*, PS*, ES*, EdDSA)",
                                       alg);
        size_t known = 0;
        while (supported_algorithms[known] != NULL && strcmp(supported_algorithms[known], alg) != 0)
            known++;
        if (supported_algorithms[known] == NULL)
            return mg_config_yaml_fail(&loader->yaml, item_node, item,
                                       "\"%s\" is not supported (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)",
                                       alg);
    }
    return 0;
}

static int load_claims(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_jwt_t *jwt)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (node != NULL) {
        if (check_mapping(loader, node, path, claims_keys) != 0)
            return -1;
        if ((value = field(loader, node, path, "subject", child)) != NULL &&
            mg_config_load_nonempty(loader, value, child, &jwt->subject_claim) != 0)
            return -1;
        if ((value = field(loader, node, path, "groups", child)) != NULL &&
            mg_config_load_nonempty(loader, value, child, &jwt->groups_claim) != 0)
            return -1;
        if ((value = field(loader, node, path, "scopes", child)) != NULL &&
            mg_config_load_nonempty(loader, value, child, &jwt->scopes_claim) != 0)
            return -1;
    }
    return copy_default(loader, &jwt->subject_claim, "sub") != 0 ||
                   copy_default(loader, &jwt->groups_claim, "groups") != 0 ||
                   copy_default(loader, &jwt->scopes_claim, "scope") != 0
               ? -1
               : 0;
}

static int load_jwt(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_auth_t *auth,
                    mg_config_jwt_t *jwt)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (check_mapping(loader, node, path, jwt_keys) != 0)
        return -1;
    if ((value = field(loader, node, path, "issuer", child)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"issuer\"");
    if (mg_config_load_url(loader, value, child, &jwt->issuer) != 0)
        return -1;
    value = field(loader, node, path, "audiences", child);
    if (mg_config_load_string_list(loader, value, child, &jwt->audiences, &jwt->audiences_len) != 0)
        return -1;
    if (jwt->audiences_len == 0) { /* the gateway itself */
        mg_config_free_string_list(jwt->audiences, 0);
        if ((jwt->audiences = calloc(2, sizeof(char *))) == NULL || (jwt->audiences[0] = strdup(auth->resource)) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        jwt->audiences_len = 1;
    }
    if ((value = field(loader, node, path, "jwks_uri", child)) != NULL &&
        mg_config_load_url(loader, value, child, &jwt->jwks_uri) != 0)
        return -1;
    if (load_algorithms(loader, field(loader, node, path, "algorithms", child), child, jwt) != 0 ||
        load_claims(loader, field(loader, node, path, "claims", child), child, jwt) != 0)
        return -1;
    long long skew = 60;
    if ((value = field(loader, node, path, "clock_skew_s", child)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 0, 300, &skew) != 0)
        return -1;
    jwt->clock_skew_s = (int)skew;
    return 0;
}

static int load_jwt_list(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_auth_t *auth)
{
    char path[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, "auth.jwt") != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return 0;
    if ((auth->jwt = calloc(count, sizeof(*auth->jwt))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    auth->jwt_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(path, sizeof(path), "auth.jwt", i);
        if (load_jwt(loader, item, path, auth, &auth->jwt[i]) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(auth->jwt[j].issuer, auth->jwt[i].issuer) == 0)
                return mg_config_yaml_fail(&loader->yaml, item, path, "issuer \"%s\" is already listed in auth.jwt[%zu]",
                                           auth->jwt[i].issuer, j);
        }
    }
    return 0;
}

static int load_introspection(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_auth_t *auth)
{
    const char *path = "auth.introspection";
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (check_mapping(loader, node, path, introspection_keys) != 0)
        return -1;
    static const char *const required[] = {"url", "client_id", "client_secret"};
    char **targets[] = {&auth->introspection.url, &auth->introspection.client_id, &auth->introspection.client_secret};
    for (size_t i = 0; i < 3; i++) {
        if ((value = field(loader, node, path, required[i], child)) == NULL)
            return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"%s\"", required[i]);
        if ((i == 0 ? mg_config_load_url(loader, value, child, targets[i])
                    : mg_config_load_nonempty(loader, value, child, targets[i])) != 0)
            return -1;
    }
    long long cache_s = 60;
    if ((value = field(loader, node, path, "cache_s", child)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 0, 600, &cache_s) != 0)
        return -1;
    auth->introspection.cache_s = (int)cache_s;
    return 0;
}

static int load_mtls(mg_config_loader_t *loader, const yaml_node_t *node, const mg_config_t *config,
                     mg_config_auth_t *auth)
{
    const char *path = "auth.mtls";
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (check_mapping(loader, node, path, mtls_keys) != 0)
        return -1;
    if ((value = field(loader, node, path, "client_ca", child)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"client_ca\"");
    if (mg_config_load_path(loader, value, child, &auth->mtls.client_ca) != 0)
        return -1;
    auth->mtls.identity = MG_MTLS_SAN_URI;
    if ((value = field(loader, node, path, "identity", child)) != NULL) {
        char *identity = NULL;
        if (mg_config_yaml_string(&loader->yaml, value, child, &identity) != 0) {
            free(identity);
            return -1;
        }
        mg_mtls_identity_t chosen = strcmp(identity, "san_uri") == 0      ? MG_MTLS_SAN_URI
                                    : strcmp(identity, "san_dns") == 0    ? MG_MTLS_SAN_DNS
                                    : strcmp(identity, "subject_cn") == 0 ? MG_MTLS_SUBJECT_CN
                                                                          : 0;
        free(identity);
        if (chosen == 0)
            return mg_config_yaml_fail(&loader->yaml, value, child, "\"%s\" must be one of san_uri, san_dns, subject_cn",
                                       mg_config_yaml_raw(value));
        auth->mtls.identity = chosen;
    }
    bool tls = false;
    for (size_t i = 0; i < config->listen_len; i++)
        tls = tls || config->listen[i].tls_cert != NULL;
    if (!tls)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "client certificates need a TLS listener (listen[].tls), and none is configured");
    return 0;
}

/* The issuers a client is told to get tokens from (RFC 9728 authorization_servers). */
static int default_authorization_servers(mg_config_loader_t *loader, mg_config_auth_t *auth)
{
    if (auth->authorization_servers_len != 0)
        return 0;
    mg_config_free_string_list(auth->authorization_servers, 0);
    if ((auth->authorization_servers = calloc(auth->jwt_len + 1, sizeof(char *))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    for (size_t i = 0; i < auth->jwt_len; i++) {
        if ((auth->authorization_servers[i] = strdup(auth->jwt[i].issuer)) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        auth->authorization_servers_len = i + 1;
    }
    return 0;
}

int mg_config_load_auth(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    const char *path = "auth";
    mg_config_auth_t *auth = &config->auth;
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (check_mapping(loader, node, path, auth_keys) != 0)
        return -1;
    auth->enabled = true;
    auth->required = true;
    if ((value = field(loader, node, path, "resource", child)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "missing required key \"resource\" (the gateway's canonical URI, e.g. "
                                   "https://gw.example.com/mcp: the audience of its tokens)");
    if (mg_config_load_url(loader, value, child, &auth->resource) != 0)
        return -1;
    if ((value = field(loader, node, path, "required", child)) != NULL &&
        mg_config_yaml_bool(&loader->yaml, value, child, &auth->required) != 0)
        return -1;
    if ((value = field(loader, node, path, "jwt", child)) != NULL && load_jwt_list(loader, value, auth) != 0)
        return -1;
    if ((value = field(loader, node, path, "introspection", child)) != NULL &&
        load_introspection(loader, value, auth) != 0)
        return -1;
    if ((value = field(loader, node, path, "api_keys", child)) != NULL) {
        char enabled_path[MG_CONFIG_PATH_MAX];
        yaml_node_t *enabled;
        if (check_mapping(loader, value, child, api_keys_keys) != 0)
            return -1;
        auth->api_keys = true;
        if ((enabled = field(loader, value, child, "enabled", enabled_path)) != NULL &&
            mg_config_yaml_bool(&loader->yaml, enabled, enabled_path, &auth->api_keys) != 0)
            return -1;
    }
    if ((value = field(loader, node, path, "mtls", child)) != NULL && load_mtls(loader, value, config, auth) != 0)
        return -1;
    if (mg_config_load_string_list(loader, field(loader, node, path, "scopes_required", child), child,
                                   &auth->scopes_required, &auth->scopes_required_len) != 0)
        return -1;
    value = field(loader, node, path, "authorization_servers", child);
    if (mg_config_load_string_list(loader, value, child, &auth->authorization_servers,
                                   &auth->authorization_servers_len) != 0 ||
        default_authorization_servers(loader, auth) != 0)
        return -1;
    if (auth->required && auth->jwt_len == 0 && auth->introspection.url == NULL && !auth->api_keys &&
        auth->mtls.client_ca == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "requires authentication but configures no way to authenticate (jwt, "
                                   "introspection, api_keys or mtls)");
    return 0;
}
