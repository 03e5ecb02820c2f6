/*
 * auth_internal.h - what the files of src/auth share and nobody else needs (see auth.h).
 */
#ifndef MG_AUTH_INTERNAL_H
#define MG_AUTH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth/apikeys.h"
#include "auth/auth.h"
#include "auth/jwt.h"
#include "auth/token_cache.h"
#include "config/config.h"
#include "store/sqlite.h"

/* How often a key set is fetched again without being asked, and at most how often a worker's
 * unknown key id makes the agent fetch it early. */
#define MG_AUTH_JWKS_REFRESH_S 300
#define MG_AUTH_JWKS_MIN_INTERVAL_S 10
#define MG_AUTH_RETRY_S 15
/* How often the agent looks for created or revoked API keys, and writes their last-use times. */
#define MG_AUTH_KEYS_POLL_S 2
#define MG_AUTH_KEYS_FLUSH_S 30
/* The longest a request waits for the identity provider (a key set fetched because of an unknown
 * key id, an introspection answer), and how many requests a worker lets wait at once. */
#define MG_AUTH_WAIT_MS 16000
#define MG_AUTH_WAITERS_MAX 1024
/* Opaque tokens waiting to be introspected, gateway-wide. */
#define MG_AUTH_INTROSPECTION_QUEUE_MAX 1024

typedef struct st_mg_auth_issuer_t {
    const mg_config_jwt_t *config;
    mg_jwt_rules_t *rules;      /* per MCP path: [0] for /mcp, [1 + i] for server i */
    char ***rule_audiences;     /* the audiences each rules entry points at (owned) */
    /* agent thread only */
    char *jwks_uri;             /* configured, or found by discovery */
    unsigned char jwks_digest[32]; /* of the key set last posted: an unchanged one is not posted again */
    bool have_keys;
    int64_t next_fetch;         /* Unix seconds */
    int64_t last_fetch;
    /* any thread */
    atomic_bool refresh_asked;  /* a worker met an unknown key id */
} mg_auth_issuer_t;

struct st_mg_auth_t {
    mg_gateway_t *gateway;
    const mg_config_t *config;
    mg_auth_issuer_t *issuers;
    size_t issuers_len;
    mg_store_t *store;              /* API keys on: the database (agent thread only once workers run) */
    mg_apikeys_table_t *apikeys;    /* the agent's current table */
    int64_t apikeys_checked_at;     /* agent thread: the last staleness check */
    int64_t apikeys_flushed_at;     /* agent thread: the last write of last-use times */
    char **path_resources;          /* per MCP path: [0] auth.resource, [1 + i] server i's own resource */
    struct st_mg_auth_introspector_t *introspector; /* auth.introspection set (introspect.c) */
    pthread_t agent;
    bool agent_started;
    pthread_mutex_t lock; /* guards `stopping` and `woken` for the agent's condition variable */
    pthread_cond_t wake;
    bool stopping;
    bool woken;
};

/* A worker's view (auth.h): only its own thread reads or writes it once the worker runs. */
typedef struct st_mg_auth_view_t {
    mg_token_cache_t *cache;
    mg_jwks_t **keys;              /* per issuer; NULL until the agent's first fetch succeeds */
    int64_t *refresh_asked_at;     /* per issuer: when this worker last asked, or a fetch last settled (Unix s) */
    bool *keys_pending;            /* per issuer: asked for a fetch that has not settled yet */
    mg_apikeys_table_t *apikeys;   /* API keys on: the table this worker verifies with */
    mg_principal_t **apikey_principals; /* its memo (mg_apikeys_memo_create); may be NULL */
    h2o_linklist_t waiters;        /* requests waiting for the identity provider (mg_auth_waiter_t) */
    size_t waiters_len;
    h2o_timeout_t wait_timeout;    /* MG_AUTH_WAIT_MS */
    uint64_t next_job;             /* introspection jobs this worker asked for */
} mg_auth_view_t;

/* ---- requests waiting for the identity provider (wait.c) ----------------------------------- */

typedef enum en_mg_auth_wait_kind_t {
    MG_AUTH_WAIT_KEYS = 1,      /* `key` is an issuer index: its key set is being fetched */
    MG_AUTH_WAIT_INTROSPECTION, /* `key` is this worker's introspection job */
} mg_auth_wait_kind_t;

typedef struct st_mg_auth_waiter_t {
    h2o_linklist_t link;
    h2o_timeout_entry_t expiry;
    mg_worker_t *worker;
    h2o_req_t *req;
    long scope;
    mg_auth_resume_fn resume;
    mg_auth_wait_kind_t kind;
    uint64_t key;
    h2o_iovec_t credential; /* in the request's own headers */
    bool waiting;           /* on the worker's list (and counted in waiters_len) */
} mg_auth_waiter_t;

/* Makes the request wait (MG_AUTH_PENDING), or refuses it (-1, 503) when too many already do. */
int mg_auth_wait(mg_worker_t *worker, h2o_req_t *req, long scope, mg_auth_resume_fn resume, mg_auth_wait_kind_t kind,
                 uint64_t key, h2o_iovec_t credential, mg_auth_refusal_t *refusal);
/* A waiting request with the same credential and kind, or NULL: introspection asks once per token. */
mg_auth_waiter_t *mg_auth_find_waiter(mg_worker_t *worker, mg_auth_wait_kind_t kind, h2o_iovec_t credential);
/* Ends the wait of every request waiting for (kind, key): `settle` decides each one's outcome. */
typedef int (*mg_auth_settle_fn)(mg_auth_waiter_t *waiter, void *arg, mg_principal_t **out, mg_auth_refusal_t *refusal);
void mg_auth_wake(mg_worker_t *worker, mg_auth_wait_kind_t kind, uint64_t key, mg_auth_settle_fn settle, void *arg);
void mg_auth_waiters_init(mg_worker_t *worker);

/* ---- the identify stage's shared steps (identify.c) ---------------------------------------- */

int mg_auth_refuse(mg_auth_refusal_t *refusal, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The last steps for a verified principal: cache it until `valid_until` (0: its expiry; -1: not at
 * all), check the
 * required scopes. Takes the reference in *principal; on refusal releases it. */
int mg_auth_accept(mg_worker_t *worker, h2o_iovec_t credential, long scope, mg_principal_t *principal,
                   int64_t valid_until, mg_principal_t **out, mg_auth_refusal_t *refusal);
/* A JWT again, once its issuer's key set settled (no further waiting). */
int mg_auth_verify_jwt_now(mg_worker_t *worker, h2o_iovec_t token, long scope, mg_principal_t **out,
                           mg_auth_refusal_t *refusal);

/* ---- RFC 7662 introspection (introspect.c) -------------------------------------------------- */

/* The introspector's thread starts with mg_auth_create (nothing to do before a worker asks) and stops
 * with mg_auth_stop; mg_auth_destroy frees it. */
int mg_auth_introspector_start(mg_auth_t *auth, mg_error_t *err);
void mg_auth_introspector_stop(mg_auth_t *auth);
void mg_auth_introspector_free(mg_auth_t *auth);
/* Queues `token` for introspection; the answer reaches this worker as a wake of
 * (MG_AUTH_WAIT_INTROSPECTION, job). 0 and *job set, or -1 (refusal filled) when the queue is full. */
int mg_auth_introspect(mg_worker_t *worker, h2o_iovec_t token, uint64_t *job, mg_auth_refusal_t *refusal);
/* Judges an introspection answer for MCP path `scope` (pure; unit-tested): `active` true, `aud`
 * naming this path's resource, `exp`/`nbf` with the skew, a subject (`sub`, else `client_id`).
 * *valid_until: how long the answer may be trusted (at most cache_s, never past `exp`). */
int mg_auth_introspection_judge(const mg_auth_t *auth, const json_t *answer, long scope, int64_t now,
                                mg_principal_t **out, int64_t *valid_until, mg_auth_refusal_t *refusal);

/* The agent (agent.c). mg_auth_agent_prime runs on the main thread before workers start. */
void mg_auth_agent_prime(mg_auth_t *auth);
void *mg_auth_agent_main(void *arg);
/* Wakes the agent: a worker met an unknown key id of issuer `index`. */
void mg_auth_agent_ask_refresh(mg_auth_t *auth, size_t index);
/* Hands a new key set of issuer `index` to every worker (the agent's, and main's at start-up), or
 * (keys NULL) tells them a fetch ended without a new one: requests waiting for it are settled. */
void mg_auth_publish_keys(mg_auth_t *auth, size_t index, mg_jwks_t *keys);

/* Loads the API keys (agent thread, or main before the workers run) and hands them to every worker. */
int mg_auth_load_apikeys(mg_auth_t *auth, mg_error_t *err);

/* Unix seconds. */
int64_t mg_auth_now(void);

#endif
