/*
 * apikeys.h - API keys: made by `mcpgate keys create`, verified on the request path.
 *
 * A key reads
 *
 *     mgk_<id>_<secret>        e.g. mgk_3f9a0c1d2e4b5a69_q0Zt...   (64 characters)
 *
 * where "mgk_" makes a key recognisable (to people, to secret scanners, and to the identify stage
 * telling it from a JWT), <id> is 16 lowercase hex digits (64 random bits) that are not secret and
 * find the key's row without a scan, and <secret> is 32 bytes from randombytes in base64url
 * without padding (43 characters). Only a hash of the secret is stored; the key is shown once.
 *
 * The command line half (create, revoke, the parsers of its arguments) writes to the store. The
 * request-path half is a snapshot: mg_apikeys_load reads every key into an immutable table that
 * worker threads share by reference count and verify against without locks, I/O or allocation
 * beyond the principal they return. A background thread keeps it fresh: it asks
 * mg_apikeys_is_stale, loads a new table and swaps it in, and calls mg_apikeys_flush_last_used now
 * and then, which is the only way "last used" reaches the disk.
 */
#ifndef MG_AUTH_APIKEYS_H
#define MG_AUTH_APIKEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/principal.h"
#include "core/error.h"
#include "store/sqlite.h"

#define MG_APIKEY_PREFIX "mgk_"
#define MG_APIKEY_PREFIX_LEN 4
#define MG_APIKEY_ID_LEN 16          /* lowercase hex digits */
#define MG_APIKEY_SECRET_BYTES 32    /* 256 bits */
#define MG_APIKEY_SECRET_TEXT_LEN 43 /* base64url, no padding */
#define MG_APIKEY_LEN (MG_APIKEY_PREFIX_LEN + MG_APIKEY_ID_LEN + 1 + MG_APIKEY_SECRET_TEXT_LEN)
#define MG_APIKEY_NAME_MAX 64
#define MG_APIKEY_ROLE_MAX 64

typedef enum en_mg_apikeys_failure_t {
    MG_APIKEYS_OK = 0,
    MG_APIKEYS_MALFORMED, /* not of the mgk_<id>_<secret> shape */
    MG_APIKEYS_UNKNOWN,   /* no key has this id, or its secret does not match */
    MG_APIKEYS_REVOKED,   /* the right secret of a revoked key */
    MG_APIKEYS_EXPIRED,   /* the right secret of a key past its expiry */
    MG_APIKEYS_NO_MEMORY, /* the principal could not be allocated */
} mg_apikeys_failure_t;

/* "ok", "malformed", "unknown", "revoked", "expired", "no_memory": for logs and audit records. */
const char *mg_apikeys_failure_name(mg_apikeys_failure_t failure);

/* --- the command line -------------------------------------------------------------------- */

/* A key name: 1 to MG_APIKEY_NAME_MAX characters from [A-Za-z0-9._-]. */
bool mg_apikeys_name_valid(const char *name);
/* "developer,viewer" -> ["developer", "viewer"]: at least one role, each 1 to MG_APIKEY_ROLE_MAX
 * characters from [A-Za-z0-9._:-], no duplicates. *roles is a new array the caller releases. */
int mg_apikeys_parse_roles(const char *text, json_t **roles, mg_error_t *err);
/* `--expires`: a duration from now ("90m", "12h", "30d", "2w"; at most 100 years) or a UTC date
 * or time ("2027-01-01" is its midnight UTC, "2027-01-01T12:00:00Z"), which must be after `now`. */
int mg_apikeys_parse_expiry(const char *text, int64_t now, int64_t *expires_at, mg_error_t *err);

/* Makes a key and stores its hash. `key` receives the full key text (shown to the user once, then
 * wiped by the caller), `id` its public id. expires_at 0: never. MG_STORE_CONFLICT when a key that
 * is not revoked has this name. */
int mg_apikeys_create(mg_store_t *store, const char *name, const json_t *roles, int64_t expires_at, int64_t now,
                      char key[MG_APIKEY_LEN + 1], char id[MG_APIKEY_ID_LEN + 1], mg_error_t *err);

/* --- the request path -------------------------------------------------------------------- */

typedef struct st_mg_apikeys_table_t mg_apikeys_table_t;

/* Splits a presented key into its id and secret bytes; -1 when it is not exactly of the key's
 * shape (length, prefix, lowercase hex id, separator, canonical base64url secret). Reads exactly
 * `len` bytes of `presented`, which need not be NUL-terminated. */
int mg_apikeys_parse(const char *presented, size_t len, char id[MG_APIKEY_ID_LEN + 1],
                     unsigned char secret[MG_APIKEY_SECRET_BYTES]);

/* Every key of the store (revoked and expired ones too, so verify can say so) as a new table with
 * refcount 1. NULL with err filled on failure. Blocks on disk: call it from a background thread. */
mg_apikeys_table_t *mg_apikeys_load(mg_store_t *store, mg_error_t *err);
/* The same from rows already read (tests, fuzzers); `generation` is recorded as the table's. */
mg_apikeys_table_t *mg_apikeys_table_build(const mg_store_key_t *rows, size_t count, uint64_t generation,
                                           mg_error_t *err);
mg_apikeys_table_t *mg_apikeys_retain(mg_apikeys_table_t *table);
void mg_apikeys_release(mg_apikeys_table_t *table);
size_t mg_apikeys_count(const mg_apikeys_table_t *table);
uint64_t mg_apikeys_generation(const mg_apikeys_table_t *table);

/* Verifies a presented key at time `now` (Unix seconds). On success returns 0 and *out is a
 * principal retained for the caller: method MG_AUTH_API_KEY, subject the key's name, key_id its
 * id, roles the key's roles, expires_at its expiry (0: none). With a `memo` (mg_apikeys_memo_create,
 * one thread's), the same key yields the same principal each time, so that caches keyed by
 * principal (the policy's resolved roles) hit; without one (NULL) every call makes a new one. Otherwise returns -1,
 * *out is NULL and *failure says why. Revoked and expired are only reported to a caller who presented the right secret;
 * a wrong secret is "unknown", like an unknown id. The secret is compared in constant time. Safe from any number of
 * threads at once; records `now` as the key's last use in the table (memory only). */
int mg_apikeys_verify(const mg_apikeys_table_t *table, mg_principal_t **memo, const char *presented, size_t len,
                      int64_t now, mg_principal_t **out, mg_apikeys_failure_t *failure);

/* A memo of the principals verify makes from `table`'s keys: one slot per key, owned by one thread
 * (the principals hold jansson values, which are never shared between threads). NULL when out of
 * memory, which verify accepts. Destroy it with the table it was made for. */
mg_principal_t **mg_apikeys_memo_create(const mg_apikeys_table_t *table);
void mg_apikeys_memo_destroy(const mg_apikeys_table_t *table, mg_principal_t **memo);

/* *stale = true when keys were created, revoked or deleted (by any process) since `table` was
 * loaded. One small read; call it from a background thread. */
int mg_apikeys_is_stale(mg_store_t *store, const mg_apikeys_table_t *table, bool *stale, mg_error_t *err);

/* Writes the last-use times verify recorded since the previous flush of this table, in one
 * transaction; *written (optional) gets how many keys. When swapping in a reloaded table, flush
 * the old one after the swap so that uses recorded in it are not lost. */
int mg_apikeys_flush_last_used(mg_store_t *store, const mg_apikeys_table_t *table, size_t *written, mg_error_t *err);

#endif
