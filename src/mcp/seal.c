/* seal.c - see seal.h. */
#include "mcp/seal.h"

#include "core/json_write.h"
#include "mcp/jsonrpc.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == MG_SESSION_KEY_BYTES, "key size");

static bool is_base64url(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

char *mg_seal(const mg_session_key_t *key, const char *prefix, const unsigned char *plaintext, size_t len,
              size_t max_token)
{
    size_t prefix_len = strlen(prefix);
    size_t sealed_len = NONCE_BYTES + len + TAG_BYTES;
    size_t token_size = prefix_len + sodium_base64_ENCODED_LEN(sealed_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (sodium_init() < 0 || token_size - 1 > max_token)
        return NULL;
    unsigned char *sealed = malloc(sealed_len);
    char *token = malloc(token_size);
    if (sealed == NULL || token == NULL)
        abort();
    randombytes_buf(sealed, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + NONCE_BYTES, NULL, plaintext, len,
                                               (const unsigned char *)prefix, prefix_len, NULL, sealed, key->bytes);
    memcpy(token, prefix, prefix_len);
    sodium_bin2base64(token + prefix_len, token_size - prefix_len, sealed, sealed_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(sealed);
    return token;
}

long mg_unseal(const mg_session_key_t *key, const char *prefix, const char *token, size_t len, unsigned char *out,
               size_t out_size)
{
    size_t prefix_len = strlen(prefix);
    if (token == NULL || len <= prefix_len || memcmp(token, prefix, prefix_len) != 0 ||
        !is_base64url(token + prefix_len, len - prefix_len) || (len - prefix_len) * 3 / 4 > out_size + NONCE_BYTES + TAG_BYTES ||
        sodium_init() < 0)
        return -1;
    size_t max_sealed = (len - prefix_len) * 3 / 4 + 1;
    unsigned char *sealed = malloc(max_sealed);
    if (sealed == NULL)
        abort();
    size_t sealed_len;
    unsigned long long plaintext_len = 0;
    /* Without a b64_end pointer libsodium rejects trailing junk and non-canonical final bits. */
    int rc = sodium_base642bin(sealed, max_sealed, token + prefix_len, len - prefix_len, NULL, &sealed_len, NULL,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (rc == 0 && (sealed_len < NONCE_BYTES + TAG_BYTES || sealed_len - NONCE_BYTES - TAG_BYTES > out_size))
        rc = -1;
    if (rc == 0)
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plaintext_len, NULL, sealed + NONCE_BYTES,
                                                        sealed_len - NONCE_BYTES, (const unsigned char *)prefix,
                                                        prefix_len, sealed, key->bytes);
    free(sealed);
    return rc == 0 ? (long)plaintext_len : -1;
}

char *mg_seal_json(const mg_session_key_t *key, const char *prefix, const json_t *value, size_t max_token)
{
    size_t len;
    char *text = mg_json_write_text(value, JSON_COMPACT, &len);
    if (text == NULL)
        return NULL;
    char *token = mg_seal(key, prefix, (const unsigned char *)text, len, max_token);
    sodium_memzero(text, len);
    free(text);
    return token;
}

json_t *mg_unseal_json(const mg_session_key_t *key, const char *prefix, const char *token, size_t len,
                       size_t max_token)
{
    if (len > max_token)
        return NULL;
    size_t out_size = len * 3 / 4 + 1;
    unsigned char *plaintext = malloc(out_size);
    if (plaintext == NULL)
        abort();
    long n = mg_unseal(key, prefix, token, len, plaintext, out_size);
    json_t *value = n < 0 ? NULL : mg_json_loadb((const char *)plaintext, (size_t)n, MG_JSON_DECODE_FLAGS, NULL);
    if (n > 0)
        sodium_memzero(plaintext, (size_t)n);
    free(plaintext);
    if (value != NULL && !json_is_object(value)) {
        json_decref(value);
        value = NULL;
    }
    return value;
}
