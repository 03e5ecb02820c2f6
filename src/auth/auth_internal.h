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
    int64_t *refresh_asked_at;     /* per issuer: when this worker last asked (Unix seconds) */
    mg_apikeys_table_t *apikeys;   /* API keys on: the table this worker verifies with */
} mg_auth_view_t;

/* The agent (agent.c). mg_auth_agent_prime runs on the main thread before workers start. */
void mg_auth_agent_prime(mg_auth_t *auth);
void *mg_auth_agent_main(void *arg);
/* Wakes the agent: a worker met an unknown key id of issuer `index`. */
void mg_auth_agent_ask_refresh(mg_auth_t *auth, size_t index);
/* Hands a new key set of issuer `index` to every worker (the agent's, and main's at start-up). */
void mg_auth_publish_keys(mg_auth_t *auth, size_t index, mg_jwks_t *keys);

/* Loads the API keys (agent thread, or main before the workers run) and hands them to every worker. */
int mg_auth_load_apikeys(mg_auth_t *auth, mg_error_t *err);

/* Unix seconds. */
int64_t mg_auth_now(void);

#endif
