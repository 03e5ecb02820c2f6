/* session_cache.c - see session_cache.h. */
#include "http/session_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 1024 /* a power of two */

typedef struct st_slot_t {
    char *token;
    size_t len;
    mg_session_claims_t claims;
} slot_t;

struct st_mg_session_cache_t {
    slot_t slots[CACHE_SLOTS];
};

mg_session_cache_t *mg_session_cache_create(void)
{
    return calloc(1, sizeof(mg_session_cache_t));
}

static void slot_clear(slot_t *slot)
{
    if (slot->token != NULL) {
        mg_session_claims_dispose(&slot->claims);
        free(slot->token);
        slot->token = NULL;
    }
}

void mg_session_cache_destroy(mg_session_cache_t *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        slot_clear(&cache->slots[i]);
    free(cache);
}

/* FNV-1a over the tail of the token: its last bytes are ciphertext and tag, as random as it gets. */
static size_t slot_index(const char *token, size_t len)
{
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = len > 32 ? len - 32 : 0; i < len; i++)
        hash = (hash ^ (unsigned char)token[i]) * 1099511628211ULL;
    return (size_t)(hash & (CACHE_SLOTS - 1));
}

static void claims_share(const mg_session_claims_t *from, mg_session_claims_t *to)
{
    *to = *from;
    json_incref(to->client_info);
    json_incref(to->client_capabilities);
    json_incref(to->upstream_sessions);
}

int mg_session_cache_open(mg_session_cache_t *cache, const mg_session_key_t *key, const char *token, size_t len,
                          mg_session_claims_t *claims, mg_error_t *err)
{
    slot_t *slot = &cache->slots[slot_index(token, len)];
    if (slot->token != NULL && slot->len == len && memcmp(slot->token, token, len) == 0) {
        claims_share(&slot->claims, claims);
        return 0;
    }
    if (mg_session_open(key, token, len, claims, err) != 0)
        return -1;
    char *copy = malloc(len);
    if (copy == NULL)
        return 0; /* the claims are good; only remembering them failed */
    slot_clear(slot);
    memcpy(copy, token, len);
    slot->token = copy;
    slot->len = len;
    claims_share(claims, &slot->claims);
    return 0;
}
