/*
 * sqlite_secrets.c - the secrets table and its key check (see sqlite.h).
 *
 * The key check (meta 'secrets_key_check') is the fingerprint of the master key the stored
 * secrets were sealed with. It is what turns "every secret fails to open" into the message
 * "wrong master key", and it is written in the same transaction as the first secret, so it always
 * describes the rows beside it. Once the last secret is deleted the store is empty and the next
 * put may start it afresh under another key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

#define KEY_CHECK_SQL "SELECT value FROM meta WHERE key = 'secrets_key_check'"

void mg_store_secret_dispose(mg_store_secret_t *secret)
{
    free(secret->name);
    free(secret->nonce);
    free(secret->ciphertext);
    memset(secret, 0, sizeof(*secret));
}

void mg_store_secret_rows_free(mg_store_secret_t *rows, size_t count)
{
    for (size_t i = 0; rows != NULL && i < count; i++)
        mg_store_secret_dispose(&rows[i]);
    free(rows);
}

/* 0 with the check copied, 1 when none is recorded. */
static int read_key_check(mg_store_t *store, char key_check[MG_STORE_KEY_CHECK_LEN + 1], mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store, KEY_CHECK_SQL, &stmt, err) != 0)
        return -1;
    int step = sqlite3_step(stmt), rc = 1;
    if (step == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);
        snprintf(key_check, MG_STORE_KEY_CHECK_LEN + 1, "%s", text != NULL ? (const char *)text : "");
        rc = 0;
    } else if (step != SQLITE_DONE) {
        rc = mg_store_fail(store, err, "cannot read the secret store's key check");
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* 0 when the table holds no secret, 1 when it holds some. */
static int any_secret(mg_store_t *store, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store, "SELECT 1 FROM secrets LIMIT 1", &stmt, err) != 0)
        return -1;
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return mg_store_fail(store, err, "cannot read the secrets");
    return step == SQLITE_ROW ? 1 : 0;
}

static int step_once(mg_store_t *store, sqlite3_stmt *stmt, const char *what, mg_error_t *err)
{
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? 0 : mg_store_fail(store, err, what);
}

static int put_locked(mg_store_t *store, const mg_store_secret_t *secret, const char *key_check, mg_error_t *err)
{
    char recorded[MG_STORE_KEY_CHECK_LEN + 1];
    sqlite3_stmt *stmt;
    int any = any_secret(store, err);
    if (any < 0)
        return -1;
    int found = read_key_check(store, recorded, err);
    if (found < 0)
        return -1;
    if (any == 1 && found == 0 && strcmp(recorded, key_check) != 0)
        return MG_STORE_CONFLICT; /* the caller words the message: it knows both fingerprints */
    if (any == 0 || found == 1) {
        if (mg_store_prepare(store, "INSERT OR REPLACE INTO meta (key, value) VALUES ('secrets_key_check', ?)", &stmt,
                             err) != 0)
            return -1;
        sqlite3_bind_text(stmt, 1, key_check, -1, SQLITE_STATIC);
        if (step_once(store, stmt, "cannot record the key check", err) != 0)
            return -1;
    }
    if (mg_store_prepare(store,
                         "INSERT OR REPLACE INTO secrets (name, nonce, ciphertext, updated_at) VALUES (?, ?, ?, ?)",
                         &stmt, err) != 0)
        return -1;
    sqlite3_bind_text(stmt, 1, secret->name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, secret->nonce, (int)secret->nonce_len, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 3, secret->ciphertext, (int)secret->ciphertext_len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, secret->updated_at);
    return step_once(store, stmt, "cannot store the secret", err);
}

int mg_store_secret_put(mg_store_t *store, const mg_store_secret_t *secret, const char *key_check, mg_error_t *err)
{
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = put_locked(store, secret, key_check, err);
    if (rc == 0)
        rc = mg_store_exec(store, "COMMIT", err);
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

static int copy_blob(sqlite3_stmt *stmt, int column, unsigned char **out, size_t *len)
{
    const void *blob = sqlite3_column_blob(stmt, column);
    *len = (size_t)sqlite3_column_bytes(stmt, column);
    *out = malloc(*len > 0 ? *len : 1);
    if (*out == NULL)
        return -1;
    if (*len > 0)
        memcpy(*out, blob, *len);
    return 0;
}

int mg_store_secret_get(mg_store_t *store, const char *name, mg_store_secret_t *out, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&store->lock);
    if (mg_store_prepare(store, "SELECT name, nonce, ciphertext, updated_at FROM secrets WHERE name = ?", &stmt, err) !=
        0)
        goto done;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        out->updated_at = sqlite3_column_int64(stmt, 3);
        if ((out->name = mg_store_column_text(stmt, 0)) == NULL ||
            copy_blob(stmt, 1, &out->nonce, &out->nonce_len) != 0 ||
            copy_blob(stmt, 2, &out->ciphertext, &out->ciphertext_len) != 0) {
            mg_store_secret_dispose(out);
            mg_error_set(err, "out of memory");
        } else {
            rc = 0;
        }
    } else if (step == SQLITE_DONE) {
        rc = MG_STORE_NOT_FOUND;
        mg_error_set(err, "%s: no secret named \"%s\"", store->path, name);
    } else {
        mg_store_fail(store, err, "cannot read the secret");
    }
    sqlite3_finalize(stmt);
done:
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_secret_key_check(mg_store_t *store, char key_check[MG_STORE_KEY_CHECK_LEN + 1], mg_error_t *err)
{
    pthread_mutex_lock(&store->lock);
    int rc = read_key_check(store, key_check, err);
    pthread_mutex_unlock(&store->lock);
    if (rc == 1) {
        mg_error_set(err, "%s: no key check recorded", store->path);
        return MG_STORE_NOT_FOUND;
    }
    return rc;
}

int mg_store_secret_list(mg_store_t *store, mg_store_secret_t **rows, size_t *count, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    size_t capacity = 0;
    int step = SQLITE_ERROR;
    *rows = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    if (mg_store_prepare(store, "SELECT name, updated_at FROM secrets ORDER BY name", &stmt, err) != 0)
        goto done;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*count == capacity) {
            capacity = capacity == 0 ? 16 : capacity * 2;
            mg_store_secret_t *grown = realloc(*rows, capacity * sizeof(**rows));
            if (grown == NULL)
                break;
            *rows = grown;
        }
        mg_store_secret_t *row = &(*rows)[(*count)++];
        memset(row, 0, sizeof(*row));
        row->updated_at = sqlite3_column_int64(stmt, 1);
        if ((row->name = mg_store_column_text(stmt, 0)) == NULL)
            break;
    }
    sqlite3_finalize(stmt);
    if (step == SQLITE_ROW)
        mg_error_set(err, "out of memory");
    else if (step != SQLITE_DONE)
        mg_store_fail(store, err, "cannot read the secrets");
done:
    pthread_mutex_unlock(&store->lock);
    if (step == SQLITE_DONE)
        return 0;
    mg_store_secret_rows_free(*rows, *count);
    *rows = NULL;
    *count = 0;
    return -1;
}

int mg_store_secret_delete(mg_store_t *store, const char *name, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    int rc = -1;
    pthread_mutex_lock(&store->lock);
    if (mg_store_prepare(store, "DELETE FROM secrets WHERE name = ?", &stmt, err) == 0) {
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
        rc = step_once(store, stmt, "cannot delete the secret", err);
        if (rc == 0 && sqlite3_changes(store->db) == 0) {
            rc = MG_STORE_NOT_FOUND;
            mg_error_set(err, "no secret named \"%s\"", name);
        }
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}
