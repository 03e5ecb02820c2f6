/*
 * fuzz_introspection.c - libFuzzer target for judging RFC 7662 introspection answers
 * (mg_auth_introspection_judge, auth/auth_internal.h): the answer comes from the authorization
 * server, over the network, and decides who the caller is.
 *
 * Every input that parses as JSON (duplicate keys refused, as mg_fetch_json does) is judged for /mcp
 * and for a server path. An accepted answer must make a complete principal (a name, a subject, arrays
 * of groups and scopes) trusted for at most cache_s seconds; a refused one must say why, with a
 * status the gateway answers with (401 or 503).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "config/config.h"

static mg_config_t *config;
static mg_gateway_t gateway;
static mg_auth_t *auth;

static void setup(void)
{
    static const char yaml[] = "servers:\n  - {name: search, url: 'https://search.internal/mcp'}\n"
                               "auth: {resource: 'https://gw/mcp', introspection: {url: 'https://idp/i', client_id: gw,"
                               " client_secret: s, cache_s: 30}}\n";
    mg_error_t err = {{0}};
    if (mg_config_load_string(yaml, sizeof(yaml) - 1, "fuzz.yaml", "/", &config, &err) != 0)
        abort();
    gateway.config = config;
    if (mg_auth_create(&gateway, &auth, &err) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (auth == NULL)
        setup();
    json_t *answer = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (answer == NULL)
        return 0;
    const int64_t now = 1000;
    for (long scope = -1; scope <= 0; scope++) {
        mg_principal_t *principal = NULL;
        int64_t until = 0;
        mg_auth_refusal_t refusal;
        memset(&refusal, 0, sizeof(refusal));
        if (mg_auth_introspection_judge(auth, answer, scope, now, &principal, &until, &refusal) == 0) {
            if (principal == NULL || principal->name == NULL || principal->subject[0] == '\0' ||
                !json_is_array(principal->groups) || !json_is_array(principal->scopes) || until > now + 30 ||
                (until != -1 && until <= now))
                abort();
            mg_principal_release(principal);
        } else if (principal != NULL || refusal.description[0] == '\0' ||
                   (refusal.status != 401 && refusal.status != 503)) {
            abort();
        }
    }
    json_decref(answer);
    return 0;
}
