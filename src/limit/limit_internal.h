/*
 * limit_internal.h - what the files of src/limit share: table.c keeps counters in sharded hash
 * tables, rules.c compiles and matches rules, limit.c decides.
 */
#ifndef MG_LIMIT_INTERNAL_H
#define MG_LIMIT_INTERNAL_H

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "limit/limit.h"

#define MG_LIMIT_SHARDS 64
#define MG_LIMIT_KEY_MAX 512   /* longer keys are replaced by a digest */
#define MG_LIMIT_MAX_SLOTS 256 /* distinct (rule name, kind) pairs over the process's life */

/* What a counter counts; the `kind` byte of its key, so that a rule renamed into another kind never
 * reads the other's state. */
enum {
    LIMIT_ENTRY_RATE = MG_LIMIT_RATE,
    LIMIT_ENTRY_QUOTA = MG_LIMIT_QUOTA,
    LIMIT_ENTRY_CONCURRENCY = MG_LIMIT_CONCURRENCY,
    LIMIT_ENTRY_COST,
};

struct st_mg_limit_entry_t {
    mg_limit_entry_t *next; /* hash chain */
    uint64_t hash;
    /* rate: the theoretical arrival time (ns); quota: the end of the counted window (ns); cost: calls */
    int64_t state;
    /* quota: calls in the window; concurrency: calls in flight; cost: summed cost */
    int64_t count;
    uint32_t shard;
    uint8_t kind;
    uint16_t key_len;
    char key[]; /* key_len bytes, then a NUL (cost keys are principal names, read as strings) */
};

typedef struct st_limit_shard_t {
    pthread_mutex_t lock;
    mg_limit_entry_t **buckets;
    size_t mask; /* buckets - 1 */
    size_t len;
} __attribute__((aligned(64))) limit_shard_t;

typedef struct st_limit_table_t {
    limit_shard_t shards[MG_LIMIT_SHARDS];
    size_t shard_cap; /* counters per shard at most */
} limit_table_t;

/* A rule's identity across reloads and its counts. */
typedef struct st_limit_slot_t {
    char name[65];
    mg_config_limit_kind_t kind;
    atomic_uint_fast64_t allowed, limited, observed, untracked;
} limit_slot_t;

struct st_mg_limit_t {
    limit_table_t counters;
    limit_table_t costs;
    atomic_uint_fast64_t other_calls, other_cost; /* principals the cost table had no room for */
    atomic_uint_fast64_t untracked_total;         /* for the rate of table-full warnings */
    mg_limit_clock_fn clock;
    void *clock_ctx;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t slots_lock; /* registration only */
    limit_slot_t slots[MG_LIMIT_MAX_SLOTS];
    atomic_size_t slots_len;
};

/* ---- table.c ---- */
int mg_limit_table_init(limit_table_t *table, size_t max_keys);
void mg_limit_table_dispose(limit_table_t *table);
uint64_t mg_limit_hash(const mg_limit_t *limit, const char *key, size_t len);
limit_shard_t *mg_limit_shard(limit_table_t *table, uint64_t hash);
/* The counter for `key` in its locked shard, made (zeroed, state `initial`) when absent and there is
 * room after dropping idle counters; NULL when there is none. */
mg_limit_entry_t *mg_limit_table_find(limit_table_t *table, limit_shard_t *shard, uint64_t hash, uint8_t kind,
                                      const char *key, size_t len, int64_t now, int64_t initial, bool create);
size_t mg_limit_table_len(limit_table_t *table);

/* ---- rules.c ---- */
typedef struct st_limit_rule_t {
    const mg_config_limit_rule_t *config;
    limit_slot_t *slot;
    uint16_t slot_index;
    int64_t emission_ns;  /* rate: T */
    int64_t tolerance_ns; /* rate: tau */
    int64_t period_ns;    /* quota: the window */
    bool *servers;        /* by server index: the `servers` filter admits it */
} limit_rule_t;

struct st_mg_limit_rules_t {
    _Atomic int refcount;
    mg_config_t *config; /* retained: rules point into it */
    limit_rule_t *rules;
    size_t len;
    unsigned methods; /* union of the rules' methods */
    bool need_client_ip;
};

bool mg_limit_rule_applies(const mg_limit_rules_t *rules, const limit_rule_t *rule, const mg_limit_call_t *call);

#endif
