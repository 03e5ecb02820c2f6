/*
 * seal.h - authenticated encryption of small gateway-issued tokens.
 *
 * Session ids, MRTR requestStates and task handles are values the gateway hands to
 * clients and must get back unaltered. Each is sealed with XChaCha20-Poly1305 (libsodium)
 * under the gateway's key: "<prefix>" base64url-no-padding(nonce[24] || ciphertext || tag).
 * The prefix is also the additional data, so a token of one kind never opens as another.
 *
 * Opening is fed raw client input: the length is bounded first, the alphabet is checked
 * before decoding (libsodium 1.0.18 reads bytes >= 0x80 as '_'), and nothing is parsed
 * before it is authenticated.
 */
#ifndef MG_MCP_SEAL_H
#define MG_MCP_SEAL_H

#include <jansson.h>
#include <stddef.h>

#include "mcp/session.h"

/* Seals `len` bytes; returns a malloc'ed NUL-terminated token, or NULL when it would exceed max_token. */
char *mg_seal(const mg_session_key_t *key, const char *prefix, const unsigned char *plaintext, size_t len,
              size_t max_token);
/* Opens a token into out (at most out_size bytes); returns the plaintext length, or -1 when the token
 * is malformed, of another prefix or key, altered, or too large. */
long mg_unseal(const mg_session_key_t *key, const char *prefix, const char *token, size_t len, unsigned char *out,
               size_t out_size);

/* The same for a JSON object (compact text inside). mg_unseal_json returns a new reference or NULL. */
char *mg_seal_json(const mg_session_key_t *key, const char *prefix, const json_t *value, size_t max_token);
json_t *mg_unseal_json(const mg_session_key_t *key, const char *prefix, const char *token, size_t len,
                       size_t max_token);

#endif
