/*
 * secrets.h - the values behind ${secret:NAME} in the configuration, and the store that seals them.
 *
 * Resolution (mg_secrets_resolve) looks in three places, first match wins:
 *   1. the environment variable MCPGATE_SECRET_<NAME>, NAME upper-cased with '-' and '.' as '_';
 *   2. the file <secrets.dir>/<NAME>, one trailing newline removed (when secrets.dir is set);
 *   3. the encrypted store, the `secrets` table of <state_dir>/mcpgate.db.
 *
 * The encrypted store seals each value with XChaCha20-Poly1305 (libsodium's IETF AEAD) under a
 * 32-byte master key and a random 192-bit nonce, with the secret's name in the associated data: a
 * row copied onto another name fails to open instead of handing one secret out as another. The
 * master key never touches the database; it comes from MCPGATE_MASTER_KEY (the key itself), else
 * the file named by MCPGATE_MASTER_KEY_FILE, else the file named by secrets.master_key_file.
 *
 * No value ever appears in an error message or a log: messages name the secret, the places
 * looked at and the files involved, never their contents. Values handed out are malloc'd and
 * should be released with mg_secrets_value_free, which wipes them.
 */
#ifndef MG_AUTH_SECRETS_H
#define MG_AUTH_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "store/sqlite.h"

#define MG_SECRETS_NAME_MAX 128
#define MG_SECRETS_VALUE_MAX 65536
#define MG_SECRETS_KEY_BYTES 32
#define MG_SECRETS_ENV_PREFIX "MCPGATE_SECRET_"
/* Returned when no master key is configured anywhere. */
#define MG_SECRETS_NO_MASTER_KEY (-4)

typedef struct st_mg_secrets_key_t {
    unsigned char bytes[MG_SECRETS_KEY_BYTES];
    char source[300]; /* where it came from, for messages: "MCPGATE_MASTER_KEY", a file name */
} mg_secrets_key_t;

/* 1 to MG_SECRETS_NAME_MAX characters from [A-Za-z0-9_.-], and not "." or "..". */
bool mg_secrets_name_valid(const char *name, size_t len);
/* "db-password" -> "MCPGATE_SECRET_DB_PASSWORD"; `out` holds at least
 * sizeof(MG_SECRETS_ENV_PREFIX) + MG_SECRETS_NAME_MAX bytes. */
void mg_secrets_env_name(const char *name, char *out, size_t size);
/* Wipes and frees a value (NULL is fine). */
void mg_secrets_value_free(char *value, size_t len);

/* --- the master key -------------------------------------------------------------------------- */

/* Loads the master key from MCPGATE_MASTER_KEY, MCPGATE_MASTER_KEY_FILE or `config_file` (NULL:
 * not configured), in that order; setting both environment variables is an error. The key is
 * written as 64 hex digits or as base64 (standard or URL-safe, padding optional); a file may also
 * hold the 32 raw bytes. A file that group or others may read is refused. MG_SECRETS_NO_MASTER_KEY
 * (err says where to put one) when none of the three is set. */
int mg_secrets_key_load(const char *config_file, mg_secrets_key_t *key, mg_error_t *err);
void mg_secrets_key_dispose(mg_secrets_key_t *key);
/* Writes a new random key, base64 and a newline, to a file created 0600 that must not exist yet. */
int mg_secrets_key_create(const char *path, mg_secrets_key_t *key, mg_error_t *err);
/* A short public name of a key (16 hex digits of a keyed hash of a constant), safe to print. */
void mg_secrets_key_fingerprint(const mg_secrets_key_t *key, char out[17]);

/* --- the encrypted store --------------------------------------------------------------------- */

/* Seals `value` under `key` and stores it as `name` (replacing an older value). Refuses an empty
 * value, one with a NUL byte or longer than MG_SECRETS_VALUE_MAX, and a key other than the one the
 * store's secrets are sealed with (MG_STORE_CONFLICT, the message gives both fingerprints). */
int mg_secrets_put(mg_store_t *store, const mg_secrets_key_t *key, const char *name, const char *value, size_t len,
                   int64_t now, mg_error_t *err);
/* Opens the secret `name`: *value is malloc'd and NUL-terminated. MG_STORE_NOT_FOUND when there is
 * no such secret; -1 with a message telling a wrong master key from a tampered row. */
int mg_secrets_get(mg_store_t *store, const mg_secrets_key_t *key, const char *name, char **value, size_t *len,
                   mg_error_t *err);

/* --- resolution of ${secret:NAME} ------------------------------------------------------------ */

typedef struct st_mg_secrets_resolver_t mg_secrets_resolver_t;

/* A resolver for one configuration load. The strings are copied; `dir` and `master_key_file` may
 * be NULL. The store and the master key are opened on the first reference that needs them, once.
 * NULL when out of memory. */
mg_secrets_resolver_t *mg_secrets_resolver_create(const char *state_dir, const char *dir, const char *master_key_file);
void mg_secrets_resolver_destroy(mg_secrets_resolver_t *resolver);
/* The value of secret `name` (NUL-terminated `name`, valid per mg_secrets_name_valid). A secret
 * found nowhere is an error naming it and every place looked at. */
int mg_secrets_resolve(mg_secrets_resolver_t *resolver, const char *name, char **value, size_t *len, mg_error_t *err);

#endif
