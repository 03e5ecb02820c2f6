/*
 * table.c - counters in a sharded hash table with a mutex per shard.
 *
 * Why a mutex and not a compare-and-swap on the TAT: one decision reads and writes two fields for
 * quotas (window and count) and must create counters; a short critical section under an uncontended
 * mutex costs about as much as the atomic it replaces, and 64 shards keep two workers from meeting
 * on one lock unless they count the very same key (then they must be serialized anyway).
 *
 * Each shard has a fixed bucket array sized for its share of max_keys, so the table never rehashes
 * and a counter never moves: a concurrency hold can keep a pointer to its counter, which is not
 * dropped while anything is in flight. Room is made lazily: when a shard is full, one pass over it
 * drops the counters that hold no state at `now`; nothing runs in the background.
 */
#include <stdlib.h>
#include <string.h>

#include "limit/limit_internal.h"

static size_t next_power_of_two(size_t n)
{
    size_t power = 1;
    while (power < n)
        power <<= 1;
    return power;
}

int mg_limit_table_init(limit_table_t *table, size_t max_keys)
{
    table->shard_cap = (max_keys + MG_LIMIT_SHARDS - 1) / MG_LIMIT_SHARDS;
    if (table->shard_cap == 0)
        table->shard_cap = 1;
    size_t buckets = next_power_of_two(table->shard_cap);
    for (size_t i = 0; i < MG_LIMIT_SHARDS; i++) {
        limit_shard_t *shard = &table->shards[i];
        pthread_mutex_init(&shard->lock, NULL);
        shard->mask = buckets - 1;
        if ((shard->buckets = calloc(buckets, sizeof(*shard->buckets))) == NULL)
            return -1;
    }
    return 0;
}

void mg_limit_table_dispose(limit_table_t *table)
{
    for (size_t i = 0; i < MG_LIMIT_SHARDS; i++) {
        limit_shard_t *shard = &table->shards[i];
        for (size_t b = 0; shard->buckets != NULL && b <= shard->mask; b++) {
            for (mg_limit_entry_t *entry = shard->buckets[b], *next; entry != NULL; entry = next) {
                next = entry->next;
                free(entry);
            }
        }
        free(shard->buckets);
        shard->buckets = NULL;
        pthread_mutex_destroy(&shard->lock);
    }
}

uint64_t mg_limit_hash(const mg_limit_t *limit, const char *key, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, len, limit->hash_key);
    uint64_t hash;
    memcpy(&hash, out, sizeof(hash));
    return hash;
}

limit_shard_t *mg_limit_shard(limit_table_t *table, uint64_t hash)
{
    return &table->shards[hash % MG_LIMIT_SHARDS];
}

/* A counter that holds nothing a fresh one would not: dropping it changes no decision. */
static bool idle(const mg_limit_entry_t *entry, int64_t now)
{
    switch (entry->kind) {
    case LIMIT_ENTRY_CONCURRENCY:
        return entry->count == 0;
    case LIMIT_ENTRY_RATE:
    case LIMIT_ENTRY_QUOTA:
        return entry->state <= now; /* the schedule has caught up; the window is over */
    default:
        return false; /* cost totals are kept */
    }
}

static void sweep(limit_shard_t *shard, int64_t now)
{
    for (size_t b = 0; b <= shard->mask; b++) {
        mg_limit_entry_t **link = &shard->buckets[b];
        while (*link != NULL) {
            mg_limit_entry_t *entry = *link;
            if (idle(entry, now)) {
                *link = entry->next;
                free(entry);
                shard->len--;
            } else {
                link = &entry->next;
            }
        }
    }
}

mg_limit_entry_t *mg_limit_table_find(limit_table_t *table, limit_shard_t *shard, uint64_t hash, uint8_t kind,
                                      const char *key, size_t len, int64_t now, int64_t initial, bool create)
{
    size_t bucket = (size_t)(hash >> 8) & shard->mask; /* the low bits chose the shard */
    for (mg_limit_entry_t *entry = shard->buckets[bucket]; entry != NULL; entry = entry->next) {
        if (entry->hash == hash && entry->kind == kind && entry->key_len == len && memcmp(entry->key, key, len) == 0)
            return entry;
    }
    if (!create)
        return NULL;
    if (shard->len >= table->shard_cap)
        sweep(shard, now);
    if (shard->len >= table->shard_cap)
        return NULL;
    mg_limit_entry_t *entry = malloc(sizeof(*entry) + len + 1);
    if (entry == NULL)
        return NULL;
    *entry = (mg_limit_entry_t){.hash = hash,
                                .state = initial,
                                .shard = (uint32_t)(shard - table->shards),
                                .kind = kind,
                                .key_len = (uint16_t)len};
    memcpy(entry->key, key, len);
    entry->key[len] = '\0';
    entry->next = shard->buckets[bucket];
    shard->buckets[bucket] = entry;
    shard->len++;
    return entry;
}

size_t mg_limit_table_len(limit_table_t *table)
{
    size_t total = 0;
    for (size_t i = 0; i < MG_LIMIT_SHARDS; i++) {
        pthread_mutex_lock(&table->shards[i].lock);
        total += table->shards[i].len;
        pthread_mutex_unlock(&table->shards[i].lock);
    }
    return total;
}
