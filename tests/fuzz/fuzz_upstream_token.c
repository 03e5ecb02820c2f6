/*
 * fuzz_upstream_token.c - libFuzzer target for the token endpoint's answer to the gateway's client
 * credentials grant (mg_upstream_oauth_parse, auth/upstream_oauth.h): it comes over the network and
 * its access token goes into every upstream request's Authorization header.
 *
 * An accepted answer must give a token of RFC 6750 b64token characters only (nothing that could
 * split or inject a header) and a lifetime in bounds; a refused one must say why. The refresh delay
 * computed from any lifetime must be positive and no later than the lifetime.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/upstream_oauth.h"

static bool b64token(const char *token)
{
    if (token == NULL || *token == '\0')
        return false;
    size_t len = strlen(token), i = 0;
    for (; i < len && token[i] != '='; i++) {
        char c = token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~+/", c) != NULL))
            return false;
    }
    for (; i < len; i++) {
        if (token[i] != '=')
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_upstream_token_t token;
    memset(&token, 0, sizeof(token));
    mg_error_t err = {{0}};
    if (mg_upstream_oauth_parse((const char *)data, size, &token, &err) == 0) {
        if (!b64token(token.access_token) || token.expires_in == 0 || token.expires_in < -1 ||
            token.expires_in > MG_UPSTREAM_OAUTH_MAX_LIFETIME_S)
            abort();
        int64_t delay = mg_upstream_oauth_refresh_delay_ms(token.expires_in);
        if (delay <= 0 || (token.expires_in > 0 && delay > token.expires_in * 1000))
            abort();
        free(token.access_token);
    } else if (err.message[0] == '\0' || token.access_token != NULL) {
        abort();
    }
    return 0;
}
