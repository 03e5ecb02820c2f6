/*
 * token_cache.h - credentials a worker has verified, so that a valid token costs a hash lookup.
 *
 * One cache per worker, used only on its thread: no lock. A fixed number of slots, addressed by
 * a keyed BLAKE2b digest of the credential and the MCP path it was presented on (a token's audience
 * decides where it is valid, so the same token may be good on one path and not another). The
 * digest, not the credential, is kept: a memory dump shows no token. A slot holds its principal
 * until the credential expires or a newer credential takes the slot; nothing is cached for a
 * refused credential, so a client that fixes its token is never held back by a stale refusal.
 */
#ifndef MG_AUTH_TOKEN_CACHE_H
#define MG_AUTH_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/principal.h"

#define MG_TOKEN_CACHE_SLOTS 4096

typedef struct st_mg_token_cache_t mg_token_cache_t;

mg_token_cache_t *mg_token_cache_create(void);
void mg_token_cache_destroy(mg_token_cache_t *cache);

/* The principal cached for `credential` on `scope` and still valid at `now` (Unix seconds), retained
 * for the caller; NULL when none. `valid_until` (Unix seconds, 0: the principal's own expiry) bounds
 * entries that must be re-checked sooner than their credential expires (introspection answers). */
mg_principal_t *mg_token_cache_find(mg_token_cache_t *cache, const char *credential, size_t len, long scope,
                                    int64_t now);
/* Caches `principal` (retained by the cache) for `credential` on `scope` until `valid_until`
 * (Unix seconds; 0: the principal's expiry, and a principal without one stays until replaced). */
void mg_token_cache_put(mg_token_cache_t *cache, const char *credential, size_t len, long scope,
                        mg_principal_t *principal, int64_t valid_until);
/* Drops every entry (the key sets or API keys changed: a revoked key must stop working). */
void mg_token_cache_clear(mg_token_cache_t *cache);

#endif
