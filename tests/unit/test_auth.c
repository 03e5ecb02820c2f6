/*
 * test_auth.c - the `auth` section and servers[].credentials of the configuration, the protected
 * resource metadata and challenges built from them, the principal and the verified-token cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth_internal.h"
#include "auth/metadata.h"
#include "auth/principal.h"
#include "auth/token_cache.h"
#include "config/config.h"

#define BASE                                                                                                         \
    "servers:\n"                                                                                                     \
    "  - {name: search, url: 'https://search.internal/mcp'}\n"                                                     \
    "  - {name: files, command: [npx, server-filesystem]}\n"

static mg_config_t *load_ok(const char *yaml)
{
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    if (mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err) != 0)
        fail_msg("unexpected error: %s", err.message);
    return config;
}

static void expect_error(const char *yaml, const char *expected)
{
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err), -1);
    assert_null(config);
    if (strstr(err.message, expected) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", expected, err.message);
}

static void test_no_auth_section(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(BASE);
    assert_false(config->auth.enabled);
    mg_config_release(config);
}

static void test_full_auth_section(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(BASE "auth:\n"
                                       "  resource: https://gw.example.com/mcp\n"
                                       "  jwt:\n"
                                       "    - issuer: https://idp.example.com/realms/acme\n"
                                       "      audiences: [https://gw.example.com/mcp, api://gw]\n"
                                       "      jwks_uri: https://idp.example.com/certs\n"
                                       "      algorithms: [RS256, ES256, EdDSA]\n"
                                       "      claims: {subject: email, groups: roles, scopes: scp}\n"
                                       "      clock_skew_s: 30\n"
                                       "  api_keys: {enabled: true}\n"
                                       "  scopes_required: [mcp:tools]\n");
    const mg_config_auth_t *auth = &config->auth;
    assert_true(auth->enabled);
    assert_true(auth->required);
    assert_string_equal(auth->resource, "https://gw.example.com/mcp");
    assert_int_equal(auth->jwt_len, 1);
    assert_int_equal(auth->jwt[0].audiences_len, 2);
    assert_string_equal(auth->jwt[0].audiences[1], "api://gw");
    assert_int_equal(auth->jwt[0].algorithms_len, 3);
    assert_string_equal(auth->jwt[0].subject_claim, "email");
    assert_string_equal(auth->jwt[0].groups_claim, "roles");
    assert_string_equal(auth->jwt[0].scopes_claim, "scp");
    assert_int_equal(auth->jwt[0].clock_skew_s, 30);
    assert_true(auth->api_keys);
    assert_int_equal(auth->scopes_required_len, 1);
    /* the issuers are the advertised authorization servers unless said otherwise */
    assert_int_equal(auth->authorization_servers_len, 1);
    assert_string_equal(auth->authorization_servers[0], "https://idp.example.com/realms/acme");
    mg_config_release(config);
}

static void test_auth_defaults(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(BASE "auth:\n  resource: https://gw.example.com/mcp\n"
                                       "  jwt: [{issuer: 'https://idp.example.com'}]\n");
    const mg_config_jwt_t *jwt = &config->auth.jwt[0];
    assert_int_equal(jwt->audiences_len, 1);
    assert_string_equal(jwt->audiences[0], "https://gw.example.com/mcp"); /* the resource itself */
    assert_int_equal(jwt->algorithms_len, 2);
    assert_string_equal(jwt->algorithms[0], "RS256");
    assert_string_equal(jwt->algorithms[1], "ES256");
    assert_string_equal(jwt->subject_claim, "sub");
    assert_string_equal(jwt->groups_claim, "groups");
    assert_string_equal(jwt->scopes_claim, "scope");
    assert_int_equal(jwt->clock_skew_s, 60);
    assert_null(jwt->jwks_uri);
    mg_config_release(config);
}

static void test_auth_errors(void **state)
{
    (void)state;
    expect_error(BASE "auth: {required: true}\n", "auth: missing required key \"resource\"");
    expect_error(BASE "auth: {resource: 'gw.example.com/mcp', api_keys: {}}\n",
                 "auth.resource: \"gw.example.com/mcp\" must be an absolute http:// or https:// URL");
    expect_error(BASE "auth: {resource: 'https://gw/mcp'}\n", "requires authentication but configures no way");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{issuer: 'https://i', algorithms: [HS256]}]}\n",
                 "auth.jwt[0].algorithms[0]: \"HS256\" is never accepted");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{issuer: 'https://i', algorithms: [none]}]}\n",
                 "\"none\" is never accepted");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{issuer: 'https://i', algorithms: [RS999]}]}\n",
                 "\"RS999\" is not supported");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{issuer: 'https://i', algorithms: []}]}\n",
                 "must list at least one algorithm");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{issuer: 'https://i', clock_skew_s: 3600}]}\n",
                 "auth.jwt[0].clock_skew_s");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{issuer: 'https://i'}, {issuer: 'https://i'}]}\n",
                 "issuer \"https://i\" is already listed in auth.jwt[0]");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', jwt: [{audiences: [x]}]}\n",
                 "auth.jwt[0]: missing required key \"issuer\"");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', introspection: {url: 'https://i/introspect'}}\n",
                 "auth.introspection: missing required key \"client_id\"");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', introspection: {url: 'https://i/i', client_id: a,"
                      " client_secret: b, cache_s: 601}}\n",
                 "auth.introspection.cache_s");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', mtls: {client_ca: ca.pem}}\n",
                 "client certificates need a TLS listener");
    expect_error(BASE "auth: {resource: 'https://gw/mcp', api_keys: {enabled: true}, jwks: []}\n",
                 "auth: unknown key \"jwks\"");
}

static void test_optional_auth(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(BASE "auth: {resource: 'https://gw/mcp', required: false}\n");
    assert_true(config->auth.enabled);
    assert_false(config->auth.required);
    mg_config_release(config);
}

static void test_mtls_identity(void **state)
{
    (void)state;
    const char *listen = "listen: [{address: '127.0.0.1:8443', tls: {cert: gw.pem, key: gw.key}}]\n";
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "%s%sauth: {resource: 'https://gw/mcp', mtls: {client_ca: ca.pem, identity: %s}}\n",
             listen, BASE, "subject_cn");
    mg_config_t *config = load_ok(yaml);
    assert_string_equal(config->auth.mtls.client_ca, "/etc/mcpgate/ca.pem");
    assert_int_equal(config->auth.mtls.identity, MG_MTLS_SUBJECT_CN);
    mg_config_release(config);
    snprintf(yaml, sizeof(yaml), "%s%sauth: {resource: 'https://gw/mcp', mtls: {client_ca: ca.pem}}\n", listen, BASE);
    config = load_ok(yaml); /* an mtls-only auth is a way to authenticate */
    assert_int_equal(config->auth.mtls.identity, MG_MTLS_SAN_URI);
    mg_config_release(config);
    snprintf(yaml, sizeof(yaml), "%s%sauth: {resource: 'https://gw/mcp', mtls: {client_ca: ca.pem, identity: %s}}\n",
             listen, BASE, "email");
    expect_error(yaml, "\"email\" must be one of san_uri, san_dns, subject_cn");
}

static void test_credentials(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("servers:\n"
                                  "  - {name: a, url: 'https://a/mcp', credentials: {bearer: tok}}\n"
                                  "  - {name: b, url: 'https://b/mcp', credentials: {headers: {X-Api-Key: k}}}\n"
                                  );
    assert_int_equal(config->servers[0].credentials.kind, MG_CREDENTIALS_BEARER);
    assert_string_equal(config->servers[0].credentials.bearer, "tok");
    assert_int_equal(config->servers[1].credentials.kind, MG_CREDENTIALS_HEADERS);
    assert_string_equal(config->servers[1].credentials.headers[0].key, "X-Api-Key");
    mg_config_release(config);
    setenv("MCPGATE_SECRET_GW_CLIENT", "s3cr:t", 1);
    config = load_ok("servers:\n"
                     "  - name: c\n"
                     "    url: https://c/mcp\n"
                     "    credentials:\n"
                     "      oauth: {token_url: 'https://idp/token', client_id: gw, client_secret: '${secret:GW_CLIENT}',"
                     " scope: 'mcp:read mcp:write', resource: 'https://c/mcp'}\n");
    const mg_config_credentials_t *oauth = &config->servers[0].credentials;
    assert_int_equal(oauth->kind, MG_CREDENTIALS_CLIENT_CREDENTIALS);
    assert_string_equal(oauth->oauth.token_url, "https://idp/token");
    assert_string_equal(oauth->oauth.client_id, "gw");
    assert_string_equal(oauth->oauth.client_secret, "s3cr:t");
    assert_string_equal(oauth->oauth.scope, "mcp:read mcp:write");
    assert_string_equal(oauth->oauth.resource, "https://c/mcp");
    mg_config_release(config);
    unsetenv("MCPGATE_SECRET_GW_CLIENT");
    config = load_ok("servers: [{name: d, url: 'http://d/mcp', credentials: {oauth: {token_url: 'http://127.0.0.1:9/t',"
                     " client_id: gw, client_secret: s}}}]\n");
    assert_null(config->servers[0].credentials.oauth.scope);
    assert_null(config->servers[0].credentials.oauth.resource);
    mg_config_release(config);
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {bearer: x, headers: {A: b}}}]\n",
                 "servers[0].credentials: needs exactly one of bearer, headers or oauth");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {}}]\n", "needs exactly one of");
    expect_error("servers: [{name: a, command: [x], credentials: {bearer: x}}]\n",
                 "servers[0].credentials: only valid for HTTP servers");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t'}}}]\n",
                 "servers[0].credentials.oauth: missing required key \"client_id\"");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_secret: s}}}]\n",
                 "servers[0].credentials.oauth: missing required key \"client_id\"");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_id: gw}}}]\n",
                 "servers[0].credentials.oauth: missing required key \"client_secret\"");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {client_id: gw, client_secret: s}}}]\n",
                 "servers[0].credentials.oauth: missing required key \"token_url\"");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'ftp://i/t',"
                 " client_id: gw, client_secret: s}}}]\n",
                 "servers[0].credentials.oauth.token_url: \"ftp://i/t\" must be an absolute http:// or https:// URL");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_id: gw, client_secret: ''}}}]\n",
                 "servers[0].credentials.oauth.client_secret: must not be empty");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_id: gw, client_secret: s, scope: 'read  write'}}}]\n",
                 "servers[0].credentials.oauth.scope: must be scope tokens separated by single spaces");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_id: gw, client_secret: s, scope: 'a\\\"b'}}}]\n",
                 "servers[0].credentials.oauth.scope: must be scope tokens");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_id: gw, client_secret: s, resource: 'https://a/mcp#x'}}}]\n",
                 "servers[0].credentials.oauth.resource: must not contain a fragment");
    expect_error("servers: [{name: a, url: 'https://a/mcp', credentials: {oauth: {token_url: 'https://i/t',"
                 " client_id: gw, client_secret: s, audience: x}}}]\n",
                 "unknown key \"audience\"");
    expect_error("servers: [{name: a, url: 'https://a/mcp', headers: {Authorization: x}, credentials: {bearer: y}}]\n",
                 "conflicts with headers.Authorization");
}

static void test_metadata(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(BASE "auth:\n  resource: https://gw.example.com:8443/mcp\n"
                                       "  jwt: [{issuer: 'https://idp.example.com'}]\n"
                                       "  scopes_required: [mcp:tools, mcp:read]\n");
    char *resource = mg_auth_resource_for(config, 0);
    assert_string_equal(resource, "https://gw.example.com:8443/servers/search/mcp");
    free(resource);
    char *url = mg_auth_metadata_url_for(config, -1);
    assert_string_equal(url, "https://gw.example.com:8443/.well-known/oauth-protected-resource/mcp");
    free(url);
    url = mg_auth_metadata_url_for(config, 1);
    assert_string_equal(url, "https://gw.example.com:8443/.well-known/oauth-protected-resource/servers/files/mcp");
    free(url);
    long scope = 99;
    assert_int_equal(mg_auth_metadata_scope(config, "", 0, &scope), 0);
    assert_int_equal(scope, -1);
    assert_int_equal(mg_auth_metadata_scope(config, "/servers/files/mcp", 18, &scope), 0);
    assert_int_equal(scope, 1);
    assert_int_equal(mg_auth_metadata_scope(config, "/servers/nope/mcp", 17, &scope), -1);
    assert_int_equal(mg_auth_metadata_scope(config, "/other", 6, &scope), -1);
    json_t *document = mg_auth_metadata_document(config, 0);
    assert_string_equal(json_string_value(json_object_get(document, "resource")),
                        "https://gw.example.com:8443/servers/search/mcp");
    assert_string_equal(json_string_value(json_array_get(json_object_get(document, "authorization_servers"), 0)),
                        "https://idp.example.com");
    assert_int_equal(json_array_size(json_object_get(document, "scopes_supported")), 2);
    json_decref(document);
    char *challenge = mg_auth_challenge(config, -1, NULL, NULL, NULL);
    assert_string_equal(challenge, "Bearer resource_metadata=\"https://gw.example.com:8443/.well-known/"
                                   "oauth-protected-resource/mcp\", scope=\"mcp:tools mcp:read\"");
    free(challenge);
    challenge = mg_auth_challenge(config, -1, "invalid_token", "bad \"quote\" \\ here", "x");
    assert_string_equal(challenge, "Bearer resource_metadata=\"https://gw.example.com:8443/.well-known/"
                                   "oauth-protected-resource/mcp\", scope=\"x\", error=\"invalid_token\", "
                                   "error_description=\"bad quote  here\"");
    free(challenge);
    mg_config_release(config);
}

static void test_principal_names(void **state)
{
    (void)state;
    mg_principal_t *jwt = mg_principal_create(MG_AUTH_JWT, "alice", "https://idp", NULL);
    assert_string_equal(jwt->name, "jwt:https://idp#alice");
    mg_principal_t *key = mg_principal_create(MG_AUTH_API_KEY, "ci-bot", NULL, "k1");
    assert_string_equal(key->name, "api_key:ci-bot");
    char long_subject[400];
    memset(long_subject, 'x', sizeof(long_subject) - 1);
    long_subject[sizeof(long_subject) - 1] = '\0';
    mg_principal_t *long_one = mg_principal_create(MG_AUTH_JWT, long_subject, "https://idp", NULL);
    assert_true(strlen(long_one->name) < MG_PRINCIPAL_NAME_MAX);
    assert_memory_equal(long_one->name, "jwt:sha:", 8);
    assert_true(mg_principal_anonymous() == mg_principal_anonymous());
    mg_principal_release(mg_principal_anonymous()); /* harmless */
    assert_string_equal(mg_principal_anonymous()->name, "anonymous");
    mg_principal_release(jwt);
    mg_principal_release(key);
    mg_principal_release(long_one);
}

static void test_token_cache(void **state)
{
    (void)state;
    mg_token_cache_t *cache = mg_token_cache_create();
    mg_principal_t *principal = mg_principal_create(MG_AUTH_JWT, "alice", "https://idp", NULL);
    principal->expires_at = 1000;
    assert_null(mg_token_cache_find(cache, "tok", 3, -1, 10));
    mg_token_cache_put(cache, "tok", 3, -1, principal, 0);
    mg_principal_t *found = mg_token_cache_find(cache, "tok", 3, -1, 10);
    assert_ptr_equal(found, principal);
    mg_principal_release(found);
    assert_null(mg_token_cache_find(cache, "tok", 3, 0, 10));   /* another path: its own entry */
    assert_null(mg_token_cache_find(cache, "tok2", 4, -1, 10)); /* another credential */
    assert_null(mg_token_cache_find(cache, "tok", 3, -1, 1000)); /* expired */
    mg_token_cache_put(cache, "tok", 3, -1, principal, 500);
    assert_null(mg_token_cache_find(cache, "tok", 3, -1, 500)); /* bounded sooner than the expiry */
    mg_token_cache_put(cache, "tok", 3, -1, principal, 0);
    mg_token_cache_clear(cache);
    assert_null(mg_token_cache_find(cache, "tok", 3, -1, 10));
    mg_token_cache_destroy(cache);
    mg_principal_release(principal);
}

/* An introspection answer judged for /mcp (scope -1) and for server "search" (scope 0). */
static int judge(mg_auth_t *auth, const char *answer_text, long scope, mg_principal_t **out, int64_t *until,
                 mg_auth_refusal_t *refusal)
{
    json_error_t error;
    json_t *answer = json_loads(answer_text, 0, &error);
    if (answer == NULL)
        fail_msg("bad test JSON: %s", error.text);
    *out = NULL;
    int rc = mg_auth_introspection_judge(auth, answer, scope, 1000, out, until, refusal);
    json_decref(answer);
    return rc;
}

static void expect_judged_refusal(mg_auth_t *auth, const char *answer, int status, const char *why)
{
    mg_principal_t *principal;
    int64_t until;
    mg_auth_refusal_t refusal;
    assert_int_equal(judge(auth, answer, -1, &principal, &until, &refusal), -1);
    assert_null(principal);
    assert_int_equal(refusal.status, status);
    if (strstr(refusal.description, why) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", why, refusal.description);
}

static void test_introspection_judge(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(BASE "auth: {resource: 'https://gw/mcp', introspection: {url: 'https://idp/i',"
                                       " client_id: gw, client_secret: s, cache_s: 30}}\n");
    mg_gateway_t gateway = {.config = config};
    mg_auth_t *auth;
    mg_error_t err = {{0}};
    assert_int_equal(mg_auth_create(&gateway, &auth, &err), 0);

    mg_principal_t *principal;
    int64_t until;
    mg_auth_refusal_t refusal;
    assert_int_equal(judge(auth,
                           "{\"active\": true, \"aud\": [\"x\", \"https://gw/mcp\"], \"sub\": \"alice\","
                           " \"iss\": \"https://idp\", \"scope\": \"a b\", \"groups\": [\"eng\"], \"exp\": 1010}",
                           -1, &principal, &until, &refusal),
                     0);
    assert_int_equal(principal->method, MG_AUTH_INTROSPECTION);
    assert_string_equal(principal->name, "introspection:https://idp#alice");
    assert_true(mg_principal_has_scope(principal, "b"));
    assert_int_equal(json_array_size(principal->groups), 1);
    assert_int_equal(until, 1010); /* the token's expiry comes before now + cache_s */
    mg_principal_release(principal);

    /* no sub: the client; no iss: the endpoint; no exp: cache_s; a server path takes its own resource */
    assert_int_equal(judge(auth, "{\"active\": true, \"aud\": \"https://gw/servers/search/mcp\", \"client_id\": \"ci\"}",
                           0, &principal, &until, &refusal),
                     0);
    assert_string_equal(principal->name, "introspection:https://idp/i#ci");
    assert_int_equal(until, 1030);
    mg_principal_release(principal);
    assert_int_equal(judge(auth, "{\"active\": true, \"aud\": \"https://gw/servers/search/mcp\", \"sub\": \"a\"}",
                           -1, &principal, &until, &refusal),
                     -1);

    expect_judged_refusal(auth, "{\"active\": false}", 401, "not active");
    expect_judged_refusal(auth, "{\"active\": \"true\", \"aud\": \"https://gw/mcp\", \"sub\": \"a\"}", 503,
                          "no boolean 'active'");
    expect_judged_refusal(auth, "[]", 503, "not a JSON object");
    expect_judged_refusal(auth, "{\"active\": true, \"sub\": \"a\"}", 401, "names no audience");
    expect_judged_refusal(auth, "{\"active\": true, \"aud\": \"https://other/mcp\", \"sub\": \"a\"}", 401,
                          "audience");
    expect_judged_refusal(auth, "{\"active\": true, \"aud\": \"https://gw/mcp\", \"sub\": \"a\", \"exp\": 900}",
                          401, "expired");
    expect_judged_refusal(auth, "{\"active\": true, \"aud\": \"https://gw/mcp\", \"sub\": \"a\", \"nbf\": 2000}",
                          401, "not valid for another");
    expect_judged_refusal(auth, "{\"active\": true, \"aud\": \"https://gw/mcp\", \"sub\": \"a\", \"exp\": \"soon\"}",
                          401, "'exp' is not a number");
    expect_judged_refusal(auth, "{\"active\": true, \"aud\": \"https://gw/mcp\", \"sub\": \"\"}", 401,
                          "names no subject");
    mg_auth_destroy(auth);
    mg_config_release(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_auth_section), cmocka_unit_test(test_full_auth_section),
        cmocka_unit_test(test_auth_defaults),   cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_optional_auth),   cmocka_unit_test(test_mtls_identity),
        cmocka_unit_test(test_credentials),     cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_principal_names), cmocka_unit_test(test_token_cache),
        cmocka_unit_test(test_introspection_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
