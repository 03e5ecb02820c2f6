/*
 * limit.c - the decision: which rules apply to a call, what each says, and what is charged.
 *
 * Rules are tried in the order they are written. Each one locks its counter's shard, decides and
 * charges in that one critical section, and unlocks before the next, so a call never holds two locks.
 * When an enforced rule refuses, what the rules before it charged is given back (the TAT moved back by
 * T, the quota count decremented if its window is still the same, the concurrency slot released): a
 * refused call costs nothing. Under concurrent calls of the same key this refund is exact for
 * quotas and slots and, for rates, leaves the TAT where it would have been had the refused call never
 * come.
 *
 * Keys: the rule's slot index, then the parts its `key` names (principal name, server name, item,
 * client address), each preceded by its length, so that no two different calls can share a key by
 * a clever choice of names. A key longer than MG_LIMIT_KEY_MAX (a long resource URI) is replaced by
 * its BLAKE2b digest.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limit/limit_internal.h"
#include "obs/log.h"

int64_t mg_limit_realtime(void *ctx)
{
    (void)ctx;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

int mg_limit_create(size_t max_keys, mg_limit_clock_fn clock, void *clock_ctx, mg_limit_t **out, mg_error_t *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return mg_error_set(err, "libsodium cannot be initialized");
    mg_limit_t *limit = calloc(1, sizeof(*limit));
    if (limit == NULL)
        return mg_error_set(err, "out of memory");
    limit->clock = clock != NULL ? clock : mg_limit_realtime;
    limit->clock_ctx = clock_ctx;
    crypto_shorthash_keygen(limit->hash_key);
    pthread_mutex_init(&limit->slots_lock, NULL);
    if (mg_limit_table_init(&limit->counters, max_keys) != 0 || mg_limit_table_init(&limit->costs, max_keys) != 0) {
        mg_limit_destroy(limit);
        return mg_error_set(err, "out of memory");
    }
    *out = limit;
    return 0;
}

void mg_limit_destroy(mg_limit_t *limit)
{
    if (limit == NULL)
        return;
    mg_limit_table_dispose(&limit->counters);
    mg_limit_table_dispose(&limit->costs);
    pthread_mutex_destroy(&limit->slots_lock);
    free(limit);
}

/* ---- keys ---- */

typedef struct st_key_t {
    char bytes[MG_LIMIT_KEY_MAX];
    size_t len;
} limit_key_t;

/* The parts of a rule's key for a call, NULL-terminated. */
static size_t key_parts(const mg_limit_rules_t *rules, const limit_rule_t *rule, const mg_limit_call_t *call,
                        const char *parts[4])
{
    const char *server = rules->config->servers[call->server_index].name;
    size_t n = 0;
    switch (rule->config->key) {
    case MG_LIMIT_KEY_PRINCIPAL:
        parts[n++] = call->principal;
        break;
    case MG_LIMIT_KEY_PRINCIPAL_SERVER:
        parts[n++] = call->principal;
        parts[n++] = server;
        break;
    case MG_LIMIT_KEY_PRINCIPAL_TOOL:
        parts[n++] = call->principal;
        parts[n++] = server;
        parts[n++] = call->item;
        break;
    case MG_LIMIT_KEY_SERVER:
        parts[n++] = server;
        break;
    case MG_LIMIT_KEY_TOOL:
        parts[n++] = server;
        parts[n++] = call->item;
        break;
    case MG_LIMIT_KEY_CLIENT_IP:
        parts[n++] = call->client_ip;
        break;
    }
    return n;
}

static void build_key(const mg_limit_rules_t *rules, const limit_rule_t *rule, const mg_limit_call_t *call,
                      limit_key_t *key)
{
    const char *parts[4];
    size_t count = key_parts(rules, rule, call, parts), lengths[4], total = 2;
    for (size_t i = 0; i < count; i++) {
        lengths[i] = strlen(parts[i]);
        total += 4 + lengths[i];
    }
    key->bytes[0] = (char)(rule->slot_index >> 8);
    key->bytes[1] = (char)(rule->slot_index & 0xff);
    key->len = 2;
    if (total <= sizeof(key->bytes)) {
        for (size_t i = 0; i < count; i++) {
            uint32_t len = (uint32_t)lengths[i];
            memcpy(key->bytes + key->len, &len, 4);
            memcpy(key->bytes + key->len + 4, parts[i], lengths[i]);
            key->len += 4 + lengths[i];
        }
        return;
    }
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, 32);
    for (size_t i = 0; i < count; i++) {
        uint32_t len = (uint32_t)lengths[i];
        crypto_generichash_update(&state, (const unsigned char *)&len, 4);
        crypto_generichash_update(&state, (const unsigned char *)parts[i], lengths[i]);
    }
    /* 35 bytes: a written key of that length has parts too short for its byte 2 to be 0xff */
    key->bytes[key->len++] = (char)0xff;
    crypto_generichash_final(&state, (unsigned char *)key->bytes + key->len, 32);
    key->len += 32;
}

/* ---- one rule on one counter (its shard locked) ---- */

/* Charges the call and returns 0, or returns the nanoseconds until it would be admitted. */
static int64_t decide(const limit_rule_t *rule, mg_limit_entry_t *entry, int64_t now, int64_t window_end)
{
    const mg_config_limit_rule_t *written = rule->config;
    switch (written->kind) {
    case MG_LIMIT_RATE: {
        int64_t tat = entry->state > now ? entry->state : now;
        int64_t next = tat + rule->emission_ns;
        int64_t ahead = next - now, allowed = rule->tolerance_ns + rule->emission_ns;
        if (ahead > allowed)
            return ahead - allowed;
        entry->state = next;
        return 0;
    }
    case MG_LIMIT_QUOTA:
        if (entry->state != window_end) {
            entry->state = window_end;
            entry->count = 0;
        }
        if (entry->count >= written->count)
            return window_end - now;
        entry->count++;
        return 0;
    case MG_LIMIT_CONCURRENCY:
    default:
        if (entry->count >= written->count)
            return 1000000000LL;
        entry->count++;
        return 0;
    }
}

typedef enum en_outcome_t {
    OUTCOME_NONE = 0, /* the rule does not apply */
    OUTCOME_ADMITTED,
    OUTCOME_UNTRACKED, /* admitted: no room for its counter */
    OUTCOME_OBSERVED,  /* would have refused; observe mode */
    OUTCOME_LIMITED,
} outcome_t;

typedef struct st_charge_t {
    outcome_t outcome;
    mg_limit_entry_t *slot; /* concurrency: the counter holding the call's slot */
} charge_t;

static void refund(mg_limit_t *limit, const mg_limit_rules_t *rules, const limit_rule_t *rule,
                   const mg_limit_call_t *call, const charge_t *charge, int64_t window_end)
{
    if (charge->slot != NULL) {
        mg_limit_hold_t one = {.len = 1, .entries = {charge->slot}};
        mg_limit_release(limit, &one);
        return;
    }
    limit_key_t key;
    build_key(rules, rule, call, &key);
    uint64_t hash = mg_limit_hash(limit, key.bytes, key.len);
    limit_shard_t *shard = mg_limit_shard(&limit->counters, hash);
    pthread_mutex_lock(&shard->lock);
    mg_limit_entry_t *entry = mg_limit_table_find(&limit->counters, shard, hash, (uint8_t)rule->config->kind, key.bytes,
                                                  key.len, 0, 0, false);
    if (entry != NULL && rule->config->kind == MG_LIMIT_RATE)
        entry->state -= rule->emission_ns;
    else if (entry != NULL && entry->state == window_end && entry->count > 0)
        entry->count--;
    pthread_mutex_unlock(&shard->lock);
}

static void warn_untracked(mg_limit_t *limit, const limit_rule_t *rule)
{
    uint64_t total = atomic_fetch_add_explicit(&limit->untracked_total, 1, memory_order_relaxed) + 1;
    if (total == 1 || total % 10000 == 0)
        mg_log(MG_LOG_WARN, "rate_limit.table_full",
               "rate limit counters are full (rate_limits.max_keys): rule %s admitted a call it could not count "
               "(%llu such calls so far)",
               rule->config->name, (unsigned long long)total);
}

static outcome_t apply_rule(mg_limit_t *limit, const mg_limit_rules_t *rules, const limit_rule_t *rule,
                            const mg_limit_call_t *call, int64_t now, int64_t window_end, charge_t *charge,
                            int64_t *retry_after)
{
    limit_key_t key;
    build_key(rules, rule, call, &key);
    uint64_t hash = mg_limit_hash(limit, key.bytes, key.len);
    limit_shard_t *shard = mg_limit_shard(&limit->counters, hash);
    pthread_mutex_lock(&shard->lock);
    /* a fresh rate counter is at rest (TAT now); a fresh quota one is in no window yet */
    mg_limit_entry_t *entry = mg_limit_table_find(&limit->counters, shard, hash, (uint8_t)rule->config->kind, key.bytes,
                                                  key.len, now, rule->config->kind == MG_LIMIT_RATE ? now : 0, true);
    int64_t wait = entry != NULL ? decide(rule, entry, now, window_end) : 0;
    pthread_mutex_unlock(&shard->lock);
    if (entry == NULL) {
        warn_untracked(limit, rule);
        return OUTCOME_UNTRACKED;
    }
    if (wait > 0) {
        *retry_after = wait;
        return rule->config->observe ? OUTCOME_OBSERVED : OUTCOME_LIMITED;
    }
    if (rule->config->kind == MG_LIMIT_CONCURRENCY)
        charge->slot = entry;
    return OUTCOME_ADMITTED;
}

static int64_t window_end_of(const limit_rule_t *rule, int64_t now)
{
    if (rule->config->kind != MG_LIMIT_QUOTA)
        return 0;
    int64_t window = now >= 0 ? now / rule->period_ns : -((-now - 1) / rule->period_ns) - 1;
    return (window + 1) * rule->period_ns;
}

static void count_outcome(const limit_rule_t *rule, outcome_t outcome, bool limited)
{
    limit_slot_t *slot = rule->slot;
    switch (outcome) {
    case OUTCOME_ADMITTED:
        if (!limited)
            atomic_fetch_add_explicit(&slot->allowed, 1, memory_order_relaxed);
        break;
    case OUTCOME_UNTRACKED:
        atomic_fetch_add_explicit(&slot->untracked, 1, memory_order_relaxed);
        break;
    case OUTCOME_OBSERVED:
        atomic_fetch_add_explicit(&slot->observed, 1, memory_order_relaxed);
        break;
    case OUTCOME_LIMITED:
        atomic_fetch_add_explicit(&slot->limited, 1, memory_order_relaxed);
        break;
    case OUTCOME_NONE:
        break;
    }
}

void mg_limit_check(mg_limit_t *limit, const mg_limit_rules_t *rules, const mg_limit_call_t *call,
                    mg_limit_hold_t *hold, mg_limit_verdict_t *verdict)
{
    memset(verdict, 0, sizeof(*verdict));
    if ((rules->methods & call->method) == 0)
        return;
    int64_t now = limit->clock(limit->clock_ctx);
    charge_t charges[64]; /* set as the rules are tried: zeroing all 64 cost more than two rules' decisions */
    assert(rules->len <= sizeof(charges) / sizeof(charges[0])); /* config/limits.c: MAX_RULES */
    size_t tried = 0;
    for (; tried < rules->len && !verdict->limited; tried++) {
        const limit_rule_t *rule = &rules->rules[tried];
        charges[tried] = (charge_t){OUTCOME_NONE, NULL};
        if (!mg_limit_rule_applies(rules, rule, call))
            continue;
        int64_t retry_after = 0;
        charge_t *charge = &charges[tried];
        charge->outcome = apply_rule(limit, rules, rule, call, now, window_end_of(rule, now), charge, &retry_after);
        if (charge->outcome == OUTCOME_LIMITED || (charge->outcome == OUTCOME_OBSERVED && !verdict->observed)) {
            verdict->limited = charge->outcome == OUTCOME_LIMITED;
            verdict->observed = verdict->observed || !verdict->limited;
            verdict->rule = rule->config->name;
            verdict->kind = rule->config->kind;
            verdict->retry_after_ns = retry_after;
        }
    }
    for (size_t i = 0; i < tried; i++) {
        const limit_rule_t *rule = &rules->rules[i];
        if (verdict->limited && charges[i].outcome == OUTCOME_ADMITTED)
            refund(limit, rules, rule, call, &charges[i], window_end_of(rule, now));
        else if (charges[i].slot != NULL && hold->len < MG_LIMIT_MAX_HOLDS)
            hold->entries[hold->len++] = charges[i].slot;
        count_outcome(rule, charges[i].outcome, verdict->limited);
    }
}

void mg_limit_release(mg_limit_t *limit, mg_limit_hold_t *hold)
{
    for (size_t i = 0; i < hold->len; i++) {
        mg_limit_entry_t *entry = hold->entries[i];
        limit_shard_t *shard = &limit->counters.shards[entry->shard];
        pthread_mutex_lock(&shard->lock);
        if (entry->count > 0)
            entry->count--;
        pthread_mutex_unlock(&shard->lock);
    }
    hold->len = 0;
}

/* ---- costs and stats ---- */

void mg_limit_charge(mg_limit_t *limit, const char *principal, long long cost)
{
    size_t len = strlen(principal);
    if (len > MG_LIMIT_KEY_MAX)
        len = MG_LIMIT_KEY_MAX; /* principal names are shorter (auth/principal.h) */
    uint64_t hash = mg_limit_hash(limit, principal, len);
    limit_shard_t *shard = mg_limit_shard(&limit->costs, hash);
    pthread_mutex_lock(&shard->lock);
    mg_limit_entry_t *entry =
        mg_limit_table_find(&limit->costs, shard, hash, LIMIT_ENTRY_COST, principal, len, 0, 0, true);
    if (entry != NULL) {
        entry->state++;
        entry->count += cost;
    }
    pthread_mutex_unlock(&shard->lock);
    if (entry == NULL) {
        atomic_fetch_add_explicit(&limit->other_calls, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&limit->other_cost, (uint64_t)cost, memory_order_relaxed);
    }
}

size_t mg_limit_rule_stats(mg_limit_t *limit, mg_limit_rule_stats_t *out, size_t cap)
{
    size_t len = atomic_load_explicit(&limit->slots_len, memory_order_acquire);
    for (size_t i = 0; i < len && i < cap; i++) {
        limit_slot_t *slot = &limit->slots[i];
        out[i] = (mg_limit_rule_stats_t){
            .rule = slot->name,
            .kind = slot->kind,
            .allowed = atomic_load_explicit(&slot->allowed, memory_order_relaxed),
            .limited = atomic_load_explicit(&slot->limited, memory_order_relaxed),
            .observed = atomic_load_explicit(&slot->observed, memory_order_relaxed),
            .untracked = atomic_load_explicit(&slot->untracked, memory_order_relaxed),
        };
    }
    return len;
}

void mg_limit_costs(mg_limit_t *limit, void (*fn)(void *ctx, const char *principal, uint64_t calls, uint64_t cost),
                    void *ctx)
{
    for (size_t i = 0; i < MG_LIMIT_SHARDS; i++) {
        limit_shard_t *shard = &limit->costs.shards[i];
        pthread_mutex_lock(&shard->lock);
        for (size_t b = 0; b <= shard->mask; b++) {
            for (mg_limit_entry_t *entry = shard->buckets[b]; entry != NULL; entry = entry->next)
                fn(ctx, entry->key, (uint64_t)entry->state, (uint64_t)entry->count);
        }
        pthread_mutex_unlock(&shard->lock);
    }
    uint64_t other_calls = atomic_load_explicit(&limit->other_calls, memory_order_relaxed);
    if (other_calls != 0)
        fn(ctx, "(other)", other_calls, atomic_load_explicit(&limit->other_cost, memory_order_relaxed));
}

size_t mg_limit_keys(mg_limit_t *limit)
{
    return mg_limit_table_len(&limit->counters);
}
