/*
 * session.h - sealed legacy session ids (DESIGN.md section 2).
 *
 * A legacy-era Mcp-Session-Id is not a key into a server-side table: it is the
 * session itself, encrypted and authenticated with XChaCha20-Poly1305 (libsodium)
 * under a key only the gateway holds. Any worker, or any replica sharing the key,
 * can open it. It binds the principal, so a token presented with another
 * principal's credentials is refused by the caller comparing claims.principal.
 *
 * Wire form: "v1." + base64url(nonce(24) || ciphertext), visible ASCII only as the
 * Streamable HTTP transport requires. The plaintext is compact JSON of the claims.
 * Tokens larger than MG_SESSION_MAX_TOKEN are refused at seal time.
 */
#ifndef MG_MCP_SESSION_H
#define MG_MCP_SESSION_H

#include <jansson.h>
#include <stdint.h>

#include "core/error.h"

#define MG_SESSION_KEY_BYTES 32
#define MG_SESSION_MAX_TOKEN 8192

typedef struct st_mg_session_key_t {
    unsigned char bytes[MG_SESSION_KEY_BYTES];
} mg_session_key_t;

typedef struct st_mg_session_claims_t {
    char sid[33];                /* 128 random bits, hex: names the session in logs and subscriptions */
    char principal[256];         /* "anonymous" until authentication exists */
    char protocol_version[32];   /* negotiated with the client, e.g. "2025-11-25" */
    int64_t issued_at;           /* unix seconds */
    json_t *client_info;         /* owned, may be NULL: initialize params.clientInfo */
    json_t *client_capabilities; /* owned, may be NULL: initialize params.capabilities */
    json_t *upstream_sessions;   /* owned, may be NULL: object server name -> upstream Mcp-Session-Id */
} mg_session_claims_t;

/* Reads state_dir/session.key (32 raw bytes, mode 0600), creating state_dir and the key on first use. */
int mg_session_key_load_or_create(const char *state_dir, mg_session_key_t *key, mg_error_t *err);

/* Fills claims->sid with fresh randomness and issued_at with now; other fields untouched. */
void mg_session_claims_init(mg_session_claims_t *claims);
void mg_session_claims_dispose(mg_session_claims_t *claims);

/* Seals claims into a malloc'ed NUL-terminated token. */
int mg_session_seal(const mg_session_key_t *key, const mg_session_claims_t *claims, char **token, mg_error_t *err);
/* Opens a token; fails (without detail that helps an attacker beyond "malformed"/"not authentic")
 * on anything altered, truncated, of another key or of an unknown version. */
int mg_session_open(const mg_session_key_t *key, const char *token, size_t len, mg_session_claims_t *claims,
                    mg_error_t *err);

#endif
