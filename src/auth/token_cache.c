/* token_cache.c - see token_cache.h. */
#include "auth/token_cache.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_slot_t {
    unsigned char digest[16];
    mg_principal_t *principal; /* NULL: empty */
    int64_t valid_until;       /* 0: no bound beyond the principal's */
} slot_t;

struct st_mg_token_cache_t {
    unsigned char key[crypto_generichash_KEYBYTES]; /* per cache: digests mean nothing outside it */
    slot_t slots[MG_TOKEN_CACHE_SLOTS];
};

mg_token_cache_t *mg_token_cache_create(void)
{
    mg_token_cache_t *cache = calloc(1, sizeof(*cache));
    if (cache != NULL)
        randombytes_buf(cache->key, sizeof(cache->key));
    return cache;
}

void mg_token_cache_clear(mg_token_cache_t *cache)
{
    for (size_t i = 0; i < MG_TOKEN_CACHE_SLOTS; i++) {
        mg_principal_release(cache->slots[i].principal);
        cache->slots[i].principal = NULL;
    }
}

void mg_token_cache_destroy(mg_token_cache_t *cache)
{
    if (cache == NULL)
        return;
    mg_token_cache_clear(cache);
    sodium_memzero(cache->key, sizeof(cache->key));
    free(cache);
}

static slot_t *slot_for(mg_token_cache_t *cache, const char *credential, size_t len, long scope,
                        unsigned char digest[16])
{
    crypto_generichash_state state;
    crypto_generichash_init(&state, cache->key, sizeof(cache->key), 16);
    int64_t scope_bytes = scope;
    crypto_generichash_update(&state, (const unsigned char *)&scope_bytes, sizeof(scope_bytes));
    crypto_generichash_update(&state, (const unsigned char *)credential, len);
    crypto_generichash_final(&state, digest, 16);
    uint32_t index;
    memcpy(&index, digest, sizeof(index));
    return &cache->slots[index % MG_TOKEN_CACHE_SLOTS];
}

static bool expired(const slot_t *slot, int64_t now)
{
    int64_t expires_at = slot->principal->expires_at;
    return (expires_at != 0 && now >= expires_at) || (slot->valid_until != 0 && now >= slot->valid_until);
}

mg_principal_t *mg_token_cache_find(mg_token_cache_t *cache, const char *credential, size_t len, long scope,
                                    int64_t now)
{
    unsigned char digest[16];
    slot_t *slot = slot_for(cache, credential, len, scope, digest);
    if (slot->principal == NULL || sodium_memcmp(slot->digest, digest, sizeof(digest)) != 0)
        return NULL;
    if (expired(slot, now)) {
        mg_principal_release(slot->principal);
        slot->principal = NULL;
        return NULL;
    }
    return mg_principal_retain(slot->principal);
}

void mg_token_cache_put(mg_token_cache_t *cache, const char *credential, size_t len, long scope,
                        mg_principal_t *principal, int64_t valid_until)
{
    unsigned char digest[16];
    slot_t *slot = slot_for(cache, credential, len, scope, digest);
    mg_principal_release(slot->principal);
    memcpy(slot->digest, digest, sizeof(digest));
    slot->principal = mg_principal_retain(principal);
    slot->valid_until = valid_until;
}
