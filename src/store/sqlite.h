/*
 * sqlite.h - the gateway's durable state in one SQLite file, <state_dir>/mcpgate.db.
 *
 * What must survive a restart on a single node lives here (DESIGN.md section 4): API keys (only
 * hashes of their secrets), the encrypted secret store, tool pins and
 * calls held for approval. The interface speaks in rows of
 * those tables, not in SQL, so that the modules above it (auth/apikeys.c, auth/secrets.c) never
 * see a statement and a shared backend can implement the same functions later.
 *
 * A store is opened by the command line and by background threads, never on the request path:
 * every call may wait on disk and on other processes' locks (busy timeout: 5 s). One store may be
 * used from several threads; its calls are serialized by a mutex.
 *
 * Functions return 0, or a negative value with `err` filled: MG_STORE_NOT_FOUND and
 * MG_STORE_CONFLICT where said, -1 for anything else (I/O, corruption, out of memory).
 */
#ifndef MG_STORE_SQLITE_H
#define MG_STORE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MG_STORE_FILE "mcpgate.db"
#define MG_STORE_NOT_FOUND (-2)
#define MG_STORE_CONFLICT (-3)
#define MG_STORE_HASH_BYTES 32

typedef struct st_mg_store_t mg_store_t;

typedef enum en_mg_store_mode_t {
    MG_STORE_CREATE = 0,   /* create state_dir (0700) and the database (0600) when missing */
    MG_STORE_EXISTING = 1, /* MG_STORE_NOT_FOUND when the database does not exist; nothing is created */
} mg_store_mode_t;

/* Opens <state_dir>/mcpgate.db in WAL mode and brings its schema up to date (PRAGMA user_version).
 * Refuses a database file that group or others may read, and a schema newer than this build's. */
int mg_store_open(const char *state_dir, mg_store_mode_t mode, mg_store_t **out, mg_error_t *err);
void mg_store_close(mg_store_t *store);
/* The database file's path, for messages. */
const char *mg_store_path(const mg_store_t *store);

/* --- API keys ------------------------------------------------------------------------------ */

/* One row of api_keys. Times are Unix seconds; 0 means "never" (expires, last used, revoked). */
typedef struct st_mg_store_key_t {
    char *id;    /* public id, unique forever */
    char *name;  /* unique among keys not revoked */
    char *roles; /* JSON array of strings, as written by the caller */
    unsigned char hash[MG_STORE_HASH_BYTES];
    int64_t created_at;
    int64_t expires_at;
    int64_t last_used_at;
    int64_t revoked_at;
} mg_store_key_t;

typedef struct st_mg_store_touch_t {
    const char *id;
    int64_t last_used_at;
} mg_store_touch_t;

/* Inserts `key` (last_used_at and revoked_at are stored as given). MG_STORE_CONFLICT when a key
 * that is not revoked already has the name, or the id is taken. */
int mg_store_key_insert(mg_store_t *store, const mg_store_key_t *key, mg_error_t *err);
/* Every key, revoked ones included, ordered by id, read in one transaction together with the
 * generation they belong to (see mg_store_key_generation). Free with mg_store_key_rows_free. */
int mg_store_key_list(mg_store_t *store, mg_store_key_t **rows, size_t *count, uint64_t *generation, mg_error_t *err);
void mg_store_key_rows_free(mg_store_key_t *rows, size_t count);
/* Revokes the key that is not revoked and has this name or, failing that, the key with this id.
 * `revoked_id` (optional) receives the revoked key's id (malloc'd). MG_STORE_NOT_FOUND when no key
 * has this name or id, MG_STORE_CONFLICT when the only match is already revoked. */
int mg_store_key_revoke(mg_store_t *store, const char *name_or_id, int64_t now, char **revoked_id, mg_error_t *err);
/* Raises last_used_at of each listed key to the given time (never lowers it), in one transaction.
 * Ids that no longer exist are skipped. Does not change the generation. */
int mg_store_key_touch(mg_store_t *store, const mg_store_touch_t *touches, size_t count, mg_error_t *err);
/* A counter that every insert, revocation or deletion of a key raises, whichever process made it
 * (triggers keep it); last-used bookkeeping leaves it alone. A snapshot loaded at generation g is
 * stale once the counter is no longer g. */
int mg_store_key_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err);

/* --- secrets ------------------------------------------------------------------------------- */

/* One row of secrets. The store never sees a value in clear: auth/secrets.c seals it. */
typedef struct st_mg_store_secret_t {
    char *name;
    unsigned char *nonce; /* NULL in lists */
    size_t nonce_len;
    unsigned char *ciphertext; /* NULL in lists */
    size_t ciphertext_len;
    int64_t updated_at;
} mg_store_secret_t;

/* Length of a key check: the fingerprint of the master key the stored secrets were sealed with. */
#define MG_STORE_KEY_CHECK_LEN 32

/* Inserts or replaces a secret. `key_check` (MG_STORE_KEY_CHECK_LEN characters) is recorded when
 * the table holds no secret yet; otherwise it must equal the recorded one, or MG_STORE_CONFLICT is
 * returned and nothing is written, so one store never mixes secrets sealed under two keys. */
int mg_store_secret_put(mg_store_t *store, const mg_store_secret_t *secret, const char *key_check, mg_error_t *err);
/* One secret with its nonce and ciphertext (free with mg_store_secret_dispose). MG_STORE_NOT_FOUND. */
int mg_store_secret_get(mg_store_t *store, const char *name, mg_store_secret_t *out, mg_error_t *err);
/* The recorded key check (NUL-terminated, MG_STORE_KEY_CHECK_LEN + 1 bytes). MG_STORE_NOT_FOUND when
 * none is recorded. */
int mg_store_secret_key_check(mg_store_t *store, char key_check[MG_STORE_KEY_CHECK_LEN + 1], mg_error_t *err);
/* Names and update times, ordered by name. Free with mg_store_secret_rows_free. */
int mg_store_secret_list(mg_store_t *store, mg_store_secret_t **rows, size_t *count, mg_error_t *err);
/* MG_STORE_NOT_FOUND when there is no such secret. The row is overwritten on disk (secure_delete). */
int mg_store_secret_delete(mg_store_t *store, const char *name, mg_error_t *err);
void mg_store_secret_dispose(mg_store_secret_t *secret);
void mg_store_secret_rows_free(mg_store_secret_t *rows, size_t count);

/* --- tool pins (guard/pins.h) ---------------------------------------------------------------- */

/* One row of pins: the approved hash of a definition and, when the server now serves another, the pending
 * one and why it is held. Strings are never NULL ("" when unset); times are Unix seconds, 0: never. */
typedef struct st_mg_store_pin_t {
    char *server;
    char *tool;          /* "" : the server's instructions */
    char *approved_hash; /* hex SHA-256; "" when nothing was approved yet (a definition poisoned on first sight) */
    char *approved_by;   /* "first-sight" | "operator" | "" */
    char *pending_hash;  /* the definition the server serves that differs from the approved one, or "" */
    char *reason;        /* why pending_hash is held: "changed" | "poisoned" | "" */
    char *detail;        /* a poisoning detector's words, or "" */
    int64_t first_seen;
    int64_t changed_at;
    int64_t approved_at;
} mg_store_pin_t;

/* Every pin, ordered by server and tool, read in one transaction with the generation they belong to.
 * Free with mg_store_pin_rows_free. */
int mg_store_pin_list(mg_store_t *store, mg_store_pin_t **rows, size_t *count, uint64_t *generation, mg_error_t *err);
/* Inserts or replaces the row of (pin->server, pin->tool), in one transaction that first checks that the
 * pins' generation is still `expected`: MG_STORE_CONFLICT (nothing written) when another process changed a
 * pin since the caller read them. `*generation` receives the generation after the write. */
int mg_store_pin_put(mg_store_t *store, const mg_store_pin_t *pin, uint64_t expected, uint64_t *generation,
                     mg_error_t *err);
/* Accepts the pending definition of (server, tool): it becomes the approved one (approved_by "operator").
 * `approved` (optional) receives the hash approved (65 bytes). MG_STORE_NOT_FOUND when there is no such pin,
 * MG_STORE_CONFLICT when nothing is pending. */
int mg_store_pin_approve(mg_store_t *store, const char *server, const char *tool, int64_t now, char approved[65],
                         mg_error_t *err);
/* A counter that every change of a pin raises, whichever process made it. */
int mg_store_pin_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err);
void mg_store_pin_rows_free(mg_store_pin_t *rows, size_t count);

/* --- approvals (guard/approvals.h) ----------------------------------------------------------- */

/* One row of approvals: a tools/call held for a person's decision. Strings are never NULL in rows read;
 * times are Unix seconds, 0: never. `state` moves from "pending" exactly once, to "approved" or "denied" (a
 * person: mg_store_approval_decide) or "expired" or "abandoned" (the gateway: mg_store_approval_close); the
 * arguments are wiped then (kept only while someone may need them to decide). */
typedef struct st_mg_store_approval_t {
    char *id;               /* "apr_" + 32 hex digits (128 random bits) */
    char *state;            /* "pending" | "approved" | "denied" | "expired" | "abandoned" */
    char *principal;        /* the caller's principal name (auth/principal.h) */
    char *server;           /* configured server name */
    char *tool;             /* the server's own tool name */
    char *arguments_sha256; /* hex SHA-256 of the canonical arguments (sorted keys, compact) */
    char *arguments;        /* their canonical text, shown to the approver, truncated; "" once decided */
    char *rule;             /* "approvals[0]" */
    char *approver;         /* "admin" | "user" (the caller's own user, asked by the gateway) */
    int64_t created_at;
    int64_t expires_at; /* past it, a pending row can no longer be approved */
    int64_t decided_at;
    char *decided_by; /* "operator:<login>", "user" (approver: user), or "" */
} mg_store_approval_t;

/* Inserts a pending row. MG_STORE_CONFLICT when the id exists. */
int mg_store_approval_insert(mg_store_t *store, const mg_store_approval_t *row, mg_error_t *err);
/* Inserts a row decided already (`row->state`, decided_at, decided_by): a decision made where the call was
 * (approver: user). MG_STORE_CONFLICT when the id exists: an id is decided once. */
int mg_store_approval_record(mg_store_t *store, const mg_store_approval_t *row, mg_error_t *err);
/* One row (free with mg_store_approval_dispose). MG_STORE_NOT_FOUND. */
int mg_store_approval_get(mg_store_t *store, const char *id, mg_store_approval_t *out, mg_error_t *err);
/* A person's decision: `state` "approved" or "denied", by `decided_by`. Only a pending row whose expires_at
 * is after `now` is decided, in one transaction; MG_STORE_NOT_FOUND when there is no such row,
 * MG_STORE_CONFLICT when it is no longer pending or its time ran out (`prior` (optional, 16 bytes) receives
 * its state then: "expired" for a pending row past its deadline). */
int mg_store_approval_decide(mg_store_t *store, const char *id, const char *state, const char *decided_by, int64_t now,
                             char prior[16], mg_error_t *err);
/* The gateway's end of a pending row: `state` "expired" or "abandoned". Returns 0 when it closed the row;
 * MG_STORE_CONFLICT when a person decided first (`decided` (optional) then receives the row);
 * MG_STORE_NOT_FOUND. */
int mg_store_approval_close(mg_store_t *store, const char *id, const char *state, int64_t now,
                            mg_store_approval_t *decided, mg_error_t *err);
/* Rows created at or after `since` (0: all), newest first. Free with mg_store_approval_rows_free. */
int mg_store_approval_list(mg_store_t *store, int64_t since, mg_store_approval_t **rows, size_t *count,
                           mg_error_t *err);
/* Deletes rows no longer pending created before `before`; returns how many in *deleted (optional). */
int mg_store_approval_prune(mg_store_t *store, int64_t before, size_t *deleted, mg_error_t *err);
/* A counter that every change of a row's state raises, whichever process made it. */
int mg_store_approval_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err);
void mg_store_approval_dispose(mg_store_approval_t *row);
void mg_store_approval_rows_free(mg_store_approval_t *rows, size_t count);

#endif
