/*
 * limit.h - rate limits, quotas and concurrency limits: the counters and their decisions
 * (docs/rate-limits.md has the formulas users rely on).
 *
 * Two objects. mg_limit_t holds the counters: one per process, shared by every worker thread, and
 * kept across reloads (a rule keeps its counters while its name and kind stay the same). A
 * mg_limit_rules_t is the `rate_limits` section (and the servers' costs) compiled against one
 * configuration snapshot: immutable and reference-counted like the policy, so each worker holds its
 * own reference and a reload swaps it without a lock (http/reload.h).
 *
 * The decisions:
 *   rate (GCRA)   emission interval T = ceil(period / N) ns, tolerance tau = (burst - 1) * T. A call at
 *                 time t is admitted when max(TAT, t) + T - t <= tau + T, and then TAT = max(TAT, t) + T;
 *                 otherwise it is refused and may retry after max(TAT, t) + T - (t + tau + T) ns, the
 *                 first moment it would be admitted. From rest, `burst` calls pass at once and one more
 *                 every T.
 *   quota         N calls per calendar window of the unit (UTC; windows start at multiples of the unit
 *                 since the Unix epoch, so a day starts at 00:00:00 UTC); refused calls may retry at
 *                 the window's end.
 *   concurrency   N calls in flight; a slot is taken at admission and given back by mg_limit_release
 *                 when the exchange ends, however it ends. Retry after 1 s (a hint: nothing says when
 *                 a slot frees).
 * A call to which several rules apply is admitted only when every enforced rule admits it; a refused
 * call is charged to none of them (what earlier rules took is given back). A rule in observe mode is
 * counted and reported but never refuses.
 *
 * Memory is bounded by max_keys counters: a counter that holds no state (a rate whose TAT has passed,
 * a quota whose window is over, a concurrency key with nothing in flight) is dropped when room is
 * needed. When every counter still holds state, a new key is not tracked (the call is admitted and
 * the rule's `untracked` count grows): failing open keeps the gateway serving when an attacker mints
 * keys faster than they expire.
 *
 * Threads: the table is split into shards with a mutex each; a decision locks one shard at a time,
 * for a few hash-chain steps, and never two at once. Keys are hashed with SipHash under a random key,
 * so clients cannot aim many keys at one shard.
 *
 * A shared backend (Redis, for several nodes) can come later behind these same functions: callers
 * only see mg_limit_check / mg_limit_release / mg_limit_charge and the stats readers.
 */
#ifndef MG_LIMIT_LIMIT_H
#define MG_LIMIT_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"

typedef struct st_mg_limit_t mg_limit_t;             /* counters; thread-safe */
typedef struct st_mg_limit_rules_t mg_limit_rules_t; /* compiled rules; immutable, atomic refcount */
typedef struct st_mg_limit_entry_t mg_limit_entry_t; /* one counter (opaque) */

/* Nanoseconds since the Unix epoch, UTC. Tests pass their own clock. */
typedef int64_t (*mg_limit_clock_fn)(void *ctx);
int64_t mg_limit_realtime(void *ctx); /* CLOCK_REALTIME */

/* A new counter table holding at most `max_keys` counters (and as many per-principal cost totals).
 * `clock` NULL: mg_limit_realtime. Returns 0, or -1 with `err` set. */
int mg_limit_create(size_t max_keys, mg_limit_clock_fn clock, void *clock_ctx, mg_limit_t **out, mg_error_t *err);
/* Frees everything; no rules made from it and no hold may be used afterwards. */
void mg_limit_destroy(mg_limit_t *limit);

/* Compiles config->rate_limits and the servers' costs (the config is retained). Always makes a rule
 * set, empty without a rate_limits section, so that costs are known. Registers each rule's counters
 * with `limit` (main thread; not concurrently with another mg_limit_rules_create). Returns 0, or -1
 * with `err` set. */
int mg_limit_rules_create(mg_limit_t *limit, mg_config_t *config, mg_limit_rules_t **out, mg_error_t *err);
mg_limit_rules_t *mg_limit_rules_retain(mg_limit_rules_t *rules);
void mg_limit_rules_release(mg_limit_rules_t *rules);
/* Whether any rule is keyed by client_ip (so the caller needs to find the address). */
bool mg_limit_rules_need_client_ip(const mg_limit_rules_t *rules);
/* Whether any rule could apply to `method` (an MG_LIMIT_METHOD_* bit): lets callers skip the rest. */
bool mg_limit_rules_cover(const mg_limit_rules_t *rules, unsigned method);
/* What a call weighs: servers[].costs[item] for a tools/call, else servers[].cost. */
long long mg_limit_rules_cost(const mg_limit_rules_t *rules, size_t server_index, unsigned method, const char *item);

/* One call, as the limit stage sees it. Strings are borrowed for the duration of mg_limit_check. */
typedef struct st_mg_limit_call_t {
    unsigned method;       /* one MG_LIMIT_METHOD_* bit */
    const char *principal; /* the principal's stable name (auth/principal.h), never a credential */
    const char *client_ip; /* the peer's address as text; "" when unknown */
    size_t server_index;
    mg_config_pattern_kind_t item_kind; /* what `item` is */
    const char *item;                   /* the server's own tool or prompt name, or resource URI */
} mg_limit_call_t;

#define MG_LIMIT_MAX_HOLDS 8 /* concurrency rules per configuration (config/limits.c) */

/* The concurrency slots one admitted call holds, to give back with mg_limit_release. Zeroed: none. */
typedef struct st_mg_limit_hold_t {
    size_t len;
    mg_limit_entry_t *entries[MG_LIMIT_MAX_HOLDS];
} mg_limit_hold_t;

typedef struct st_mg_limit_verdict_t {
    bool limited;     /* refused by an enforced rule: answer with `rule` and `retry_after_ns` */
    bool observed;    /* an observe-mode rule would have refused (the call is admitted) */
    const char *rule; /* the refusing (or first observing) rule's name; valid while the rules live */
    mg_config_limit_kind_t kind;
    int64_t retry_after_ns; /* > 0 when limited or observed */
} mg_limit_verdict_t;

/* Decides `call` under `rules` and charges every rule that applies. When admitted, the concurrency
 * slots taken are added to `hold` (which must have room for them: use one zeroed hold per call).
 * Never fails: a counter that cannot be kept is not enforced (see above). */
void mg_limit_check(mg_limit_t *limit, const mg_limit_rules_t *rules, const mg_limit_call_t *call,
                    mg_limit_hold_t *hold, mg_limit_verdict_t *verdict);
/* Gives back the slots of `hold` and empties it; harmless on an empty hold. Any thread. */
void mg_limit_release(mg_limit_t *limit, mg_limit_hold_t *hold);

/* Adds one call weighing `cost` to `principal`'s totals (principals beyond max_keys are summed under
 * the name "(other)"). */
void mg_limit_charge(mg_limit_t *limit, const char *principal, long long cost);

/* ---- stats, for metrics and audit ---- */

typedef struct st_mg_limit_rule_stats_t {
    const char *rule; /* valid until mg_limit_destroy */
    mg_config_limit_kind_t kind;
    uint64_t allowed;   /* calls the rule applied to and admitted */
    uint64_t limited;   /* calls it refused (enforce) */
    uint64_t observed;  /* calls it would have refused (observe) */
    uint64_t untracked; /* calls admitted because the table was full */
} mg_limit_rule_stats_t;

/* Every rule ever compiled against `limit` (rules dropped by a reload keep their counts), up to `cap`;
 * returns how many there are. Any thread. */
size_t mg_limit_rule_stats(mg_limit_t *limit, mg_limit_rule_stats_t *out, size_t cap);
/* Calls fn for each principal's totals (calls and summed cost). Any thread; fn must not call back. */
void mg_limit_costs(mg_limit_t *limit, void (*fn)(void *ctx, const char *principal, uint64_t calls, uint64_t cost),
                    void *ctx);
/* Counters currently kept (for tests of eviction). */
size_t mg_limit_keys(mg_limit_t *limit);

#endif
