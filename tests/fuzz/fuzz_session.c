/*
 * fuzz_session.c - libFuzzer target for sealed session ids.
 *
 * Every input is used twice, under the fixed all-zero key the seed corpus in
 * corpus/session/ was sealed with:
 *   1. as a token, the way an attacker's Mcp-Session-Id header reaches mg_session_open;
 *   2. as plaintext, sealed here into an authentic token, to reach the claims validation
 *      that sits behind the AEAD and that random tokens never get past.
 * Whatever opens must seal again and reopen to equal claims.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/session.h"

static const mg_session_key_t zero_key; /* all zero */

static int json_same(const json_t *a, const json_t *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && json_equal(a, b));
}

static int claims_equal(const mg_session_claims_t *a, const mg_session_claims_t *b)
{
    return strcmp(a->sid, b->sid) == 0 && strcmp(a->principal, b->principal) == 0 &&
           strcmp(a->protocol_version, b->protocol_version) == 0 && a->issued_at == b->issued_at &&
           json_same(a->client_info, b->client_info) && json_same(a->client_capabilities, b->client_capabilities) &&
           json_same(a->upstream_sessions, b->upstream_sessions);
}

static void open_and_reseal(const char *token, size_t len)
{
    mg_session_claims_t claims, reopened;
    mg_error_t err;
    char *resealed;

    if (mg_session_open(&zero_key, token, len, &claims, &err) != 0) {
        if (strcmp(err.message, "malformed session id") != 0 && strcmp(err.message, "session id not authentic") != 0)
            abort();
        return;
    }
    if (mg_session_seal(&zero_key, &claims, &resealed, &err) != 0) {
        /* Compact re-serialization may be longer than the input (1e2 becomes 100.0): only size may fail. */
        if (strstr(err.message, "too large") == NULL)
            abort();
    } else {
        if (mg_session_open(&zero_key, resealed, strlen(resealed), &reopened, &err) != 0 ||
            !claims_equal(&claims, &reopened))
            abort();
        mg_session_claims_dispose(&reopened);
        free(resealed);
    }
    mg_session_claims_dispose(&claims);
}

/* Seals plaintext exactly as session.c does (nonce fixed at zero, which is fine for a test key). */
static void seal_plaintext_and_open(const uint8_t *plaintext, size_t len)
{
    enum { NONCE = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, TAG = crypto_aead_xchacha20poly1305_ietf_ABYTES };
    static unsigned char sealed[MG_SESSION_MAX_TOKEN];
    static char token[MG_SESSION_MAX_TOKEN + 1];

    if (NONCE + len + TAG > (MG_SESSION_MAX_TOKEN - 3) * 3 / 4)
        return;
    memset(sealed, 0, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + NONCE, NULL, plaintext, len, (const unsigned char *)"v1", 2,
                                               NULL, sealed, zero_key.bytes);
    memcpy(token, "v1.", 3);
    sodium_bin2base64(token + 3, sizeof(token) - 3, sealed, NONCE + len + TAG,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    open_and_reseal(token, strlen(token));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sodium_init() < 0)
        abort();
    open_and_reseal((const char *)data, size);
    seal_plaintext_and_open(data, size);
    return 0;
}
