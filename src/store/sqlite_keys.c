/*
 * sqlite_keys.c - the api_keys table (see sqlite.h).
 *
 * "Names unique among active keys" is a partial unique index (WHERE revoked_at = 0), so the
 * database itself refuses a second active key of the same name, also when two processes create
 * one at the same moment; a revoked key keeps its name for the record.
 */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

#define KEY_COLUMNS "id, name, roles, secret_hash, created_at, expires_at, last_used_at, revoked_at"

int mg_store_key_insert(mg_store_t *store, const mg_store_key_t *key, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    int rc = -1;
    pthread_mutex_lock(&store->lock);
    if (mg_store_prepare(store, "INSERT INTO api_keys (" KEY_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &stmt, err) !=
        0)
        goto done;
    sqlite3_bind_text(stmt, 1, key->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, key->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, key->roles, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 4, key->hash, sizeof(key->hash), SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, key->created_at);
    sqlite3_bind_int64(stmt, 6, key->expires_at);
    sqlite3_bind_int64(stmt, 7, key->last_used_at);
    sqlite3_bind_int64(stmt, 8, key->revoked_at);
    int step = sqlite3_step(stmt), code = sqlite3_extended_errcode(store->db);
    if (step == SQLITE_DONE) {
        rc = 0;
    } else if (code == SQLITE_CONSTRAINT_UNIQUE) {
        rc = MG_STORE_CONFLICT;
        mg_error_set(err, "a key named \"%s\" exists and is not revoked", key->name);
    } else if (code == SQLITE_CONSTRAINT_PRIMARYKEY) {
        rc = MG_STORE_CONFLICT;
        mg_error_set(err, "a key with id %s exists", key->id);
    } else {
        mg_store_fail(store, err, "cannot insert the key");
    }
    sqlite3_finalize(stmt);
done:
    pthread_mutex_unlock(&store->lock);
    return rc;
}

void mg_store_key_rows_free(mg_store_key_t *rows, size_t count)
{
    for (size_t i = 0; rows != NULL && i < count; i++) {
        free(rows[i].id);
        free(rows[i].name);
        free(rows[i].roles);
    }
    free(rows);
}

static int read_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store, "SELECT value FROM meta WHERE key = 'keys_generation'", &stmt, err) != 0)
        return -1;
    int step = sqlite3_step(stmt);
    *generation = step == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    return step == SQLITE_ROW ? 0 : mg_store_fail(store, err, "cannot read the key generation");
}

static int read_row(sqlite3_stmt *stmt, mg_store_key_t *row)
{
    row->id = mg_store_column_text(stmt, 0);
    row->name = mg_store_column_text(stmt, 1);
    row->roles = mg_store_column_text(stmt, 2);
    const void *hash = sqlite3_column_blob(stmt, 3);
    if (hash != NULL && sqlite3_column_bytes(stmt, 3) == MG_STORE_HASH_BYTES)
        memcpy(row->hash, hash, MG_STORE_HASH_BYTES);
    row->created_at = sqlite3_column_int64(stmt, 4);
    row->expires_at = sqlite3_column_int64(stmt, 5);
    row->last_used_at = sqlite3_column_int64(stmt, 6);
    row->revoked_at = sqlite3_column_int64(stmt, 7);
    return row->id != NULL && row->name != NULL && row->roles != NULL ? 0 : -1;
}

static int read_rows(mg_store_t *store, mg_store_key_t **rows, size_t *count, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    size_t capacity = 0;
    if (mg_store_prepare(store, "SELECT " KEY_COLUMNS " FROM api_keys ORDER BY id", &stmt, err) != 0)
        return -1;
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*count == capacity) {
            capacity = capacity == 0 ? 16 : capacity * 2;
            mg_store_key_t *grown = realloc(*rows, capacity * sizeof(**rows));
            if (grown == NULL)
                break;
            *rows = grown;
        }
        memset(&(*rows)[*count], 0, sizeof(**rows));
        if (read_row(stmt, &(*rows)[(*count)++]) != 0)
            break;
    }
    sqlite3_finalize(stmt);
    if (step == SQLITE_ROW)
        return mg_error_set(err, "out of memory");
    return step == SQLITE_DONE ? 0 : mg_store_fail(store, err, "cannot read the keys");
}

int mg_store_key_list(mg_store_t *store, mg_store_key_t **rows, size_t *count, uint64_t *generation, mg_error_t *err)
{
    *rows = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    /* One read transaction: the rows are exactly those of the generation returned with them. */
    int rc = mg_store_exec(store, "BEGIN", err);
    if (rc == 0)
        rc = read_generation(store, generation, err) != 0 || read_rows(store, rows, count, err) != 0 ? -1 : 0;
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    if (rc != 0) {
        mg_store_key_rows_free(*rows, *count);
        *rows = NULL;
        *count = 0;
    }
    return rc;
}

/* The id of the key a revoke names, and whether that key is already revoked; 1 when none. An
 * active key of that name comes first, then the key with that id, then the latest revoked key of
 * that name (so that revoking twice says "already revoked" rather than "no such key"). */
static int find_for_revoke(mg_store_t *store, const char *name_or_id, char **id, int64_t *revoked_at, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store,
                         "SELECT id, revoked_at FROM api_keys WHERE name = ?1 OR id = ?1 ORDER BY "
                         "CASE WHEN name = ?1 AND revoked_at = 0 THEN 0 WHEN id = ?1 THEN 1 ELSE 2 END, "
                         "revoked_at DESC LIMIT 1",
                         &stmt, err) != 0)
        return -1;
    sqlite3_bind_text(stmt, 1, name_or_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt), rc = 1;
    if (step == SQLITE_ROW) {
        *id = mg_store_column_text(stmt, 0);
        *revoked_at = sqlite3_column_int64(stmt, 1);
        rc = *id != NULL ? 0 : mg_error_set(err, "out of memory");
    } else if (step != SQLITE_DONE) {
        rc = mg_store_fail(store, err, "cannot look up the key");
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int revoke_locked(mg_store_t *store, const char *name_or_id, int64_t now, char **revoked_id, mg_error_t *err)
{
    char *id = NULL;
    int64_t revoked_at = 0;
    sqlite3_stmt *stmt = NULL;
    int rc = find_for_revoke(store, name_or_id, &id, &revoked_at, err);
    if (rc == 1) {
        rc = MG_STORE_NOT_FOUND;
        mg_error_set(err, "no key is named \"%s\" or has that id", name_or_id);
        goto done;
    }
    if (rc != 0)
        goto done;
    if (revoked_at != 0) {
        rc = MG_STORE_CONFLICT;
        mg_error_set(err, "key \"%s\" (id %s) is already revoked", name_or_id, id);
        goto done;
    }
    if ((rc = mg_store_prepare(store, "UPDATE api_keys SET revoked_at = ? WHERE id = ?", &stmt, err)) != 0)
        goto done;
    sqlite3_bind_int64(stmt, 1, now > 0 ? now : 1); /* 0 would mean "not revoked" */
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = mg_store_fail(store, err, "cannot revoke the key");
done:
    sqlite3_finalize(stmt);
    if (rc == 0 && revoked_id != NULL)
        *revoked_id = id;
    else
        free(id);
    return rc;
}

int mg_store_key_revoke(mg_store_t *store, const char *name_or_id, int64_t now, char **revoked_id, mg_error_t *err)
{
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = revoke_locked(store, name_or_id, now, revoked_id, err);
    if (rc == 0 && (rc = mg_store_exec(store, "COMMIT", err)) != 0 && revoked_id != NULL) {
        free(*revoked_id);
        *revoked_id = NULL;
    }
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_key_touch(mg_store_t *store, const mg_store_touch_t *touches, size_t count, mg_error_t *err)
{
    sqlite3_stmt *stmt = NULL;
    if (count == 0)
        return 0;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc =
            mg_store_prepare(store, "UPDATE api_keys SET last_used_at = max(last_used_at, ?) WHERE id = ?", &stmt, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        sqlite3_bind_int64(stmt, 1, touches[i].last_used_at);
        sqlite3_bind_text(stmt, 2, touches[i].id, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            rc = mg_store_fail(store, err, "cannot record when keys were last used");
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc == 0)
        rc = mg_store_exec(store, "COMMIT", err);
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_key_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err)
{
    pthread_mutex_lock(&store->lock);
    int rc = read_generation(store, generation, err);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
