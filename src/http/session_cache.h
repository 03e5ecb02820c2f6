/*
 * session_cache.h - a worker's memory of session ids it has already opened.
 *
 * Opening a sealed session id costs a base64 decode, an AEAD decryption and a JSON
 * parse on every request of a session. A worker keeps the claims of the ids it
 * opened in a small direct-mapped table keyed by the exact token text, so the next
 * request of the same session costs a hash and a compare. Only ids that opened
 * successfully enter the table, so it cannot be filled with forgeries; it is per
 * worker, so it needs no lock (and jansson's non-atomic reference counts are safe).
 */
#ifndef MG_HTTP_SESSION_CACHE_H
#define MG_HTTP_SESSION_CACHE_H

#include <stddef.h>

#include "mcp/session.h"

typedef struct st_mg_session_cache_t mg_session_cache_t;

mg_session_cache_t *mg_session_cache_create(void);
void mg_session_cache_destroy(mg_session_cache_t *cache);

/* Opens `token` through the cache: on success fills *claims with references the caller
 * releases with mg_session_claims_dispose. Same failures as mg_session_open. */
int mg_session_cache_open(mg_session_cache_t *cache, const mg_session_key_t *key, const char *token, size_t len,
                          mg_session_claims_t *claims, mg_error_t *err);

#endif
