/*
 * sqlite_pins.c - the pins table (see sqlite.h).
 *
 * Two writers meet here: the running gateway (first sight, a detected change) and `mcpgate tools
 * approve` in another process. The gateway decides from its in-memory copy of the table, so its write
 * carries the generation that copy was read at and is refused when the counter moved (an approval landed
 * in between); it then reloads and decides again. An approval needs no such check: it only ever turns the
 * pending hash the operator saw into the approved one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

#define PIN_COLUMNS                                                                                                    \
    "server, tool, approved_hash, approved_by, pending_hash, reason, detail, first_seen, changed_at, approved_at"

void mg_store_pin_rows_free(mg_store_pin_t *rows, size_t count)
{
    for (size_t i = 0; rows != NULL && i < count; i++) {
        free(rows[i].server);
        free(rows[i].tool);
        free(rows[i].approved_hash);
        free(rows[i].approved_by);
        free(rows[i].pending_hash);
        free(rows[i].reason);
        free(rows[i].detail);
    }
    free(rows);
}

static int read_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store, "SELECT value FROM meta WHERE key = 'pins_generation'", &stmt, err) != 0)
        return -1;
    int step = sqlite3_step(stmt);
    *generation = step == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    return step == SQLITE_ROW ? 0 : mg_store_fail(store, err, "cannot read the pins generation");
}

static int read_row(sqlite3_stmt *stmt, mg_store_pin_t *row)
{
    char **texts[] = {&row->server,       &row->tool,   &row->approved_hash, &row->approved_by,
                      &row->pending_hash, &row->reason, &row->detail};
    int rc = 0;
    for (int i = 0; i < 7; i++) {
        if ((*texts[i] = mg_store_column_text(stmt, i)) == NULL)
            rc = -1;
    }
    row->first_seen = sqlite3_column_int64(stmt, 7);
    row->changed_at = sqlite3_column_int64(stmt, 8);
    row->approved_at = sqlite3_column_int64(stmt, 9);
    return rc;
}

static int read_rows(mg_store_t *store, mg_store_pin_t **rows, size_t *count, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    size_t capacity = 0;
    if (mg_store_prepare(store, "SELECT " PIN_COLUMNS " FROM pins ORDER BY server, tool", &stmt, err) != 0)
        return -1;
    int step, rc = 0;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*count == capacity) {
            size_t grown = capacity == 0 ? 16 : capacity * 2;
            mg_store_pin_t *more = realloc(*rows, grown * sizeof(**rows));
            if (more == NULL) {
                rc = mg_error_set(err, "out of memory");
                break;
            }
            *rows = more;
            capacity = grown;
        }
        memset(&(*rows)[*count], 0, sizeof(**rows));
        if (read_row(stmt, &(*rows)[(*count)++]) != 0) {
            rc = mg_error_set(err, "out of memory");
            break;
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = mg_store_fail(store, err, "cannot read the pins");
    sqlite3_finalize(stmt);
    return rc;
}

int mg_store_pin_list(mg_store_t *store, mg_store_pin_t **rows, size_t *count, uint64_t *generation, mg_error_t *err)
{
    *rows = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN", err);
    if (rc == 0)
        rc = read_generation(store, generation, err) != 0 || read_rows(store, rows, count, err) != 0 ? -1 : 0;
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    if (rc != 0) {
        mg_store_pin_rows_free(*rows, *count);
        *rows = NULL;
        *count = 0;
    }
    return rc;
}

static int upsert(mg_store_t *store, const mg_store_pin_t *pin, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store, "INSERT OR REPLACE INTO pins (" PIN_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         &stmt, err) != 0)
        return -1;
    const char *texts[] = {pin->server,       pin->tool,   pin->approved_hash, pin->approved_by,
                           pin->pending_hash, pin->reason, pin->detail};
    for (int i = 0; i < 7; i++)
        sqlite3_bind_text(stmt, i + 1, texts[i] != NULL ? texts[i] : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 8, pin->first_seen);
    sqlite3_bind_int64(stmt, 9, pin->changed_at);
    sqlite3_bind_int64(stmt, 10, pin->approved_at);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? 0 : mg_store_fail(store, err, "cannot write the pin");
}

int mg_store_pin_put(mg_store_t *store, const mg_store_pin_t *pin, uint64_t expected, uint64_t *generation,
                     mg_error_t *err)
{
    uint64_t now;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN IMMEDIATE", err);
    if (rc == 0 && (rc = read_generation(store, &now, err)) == 0 && now != expected) {
        mg_error_set(err, "the pins changed meanwhile (generation %llu, expected %llu)", (unsigned long long)now,
                     (unsigned long long)expected);
        rc = MG_STORE_CONFLICT;
    }
    if (rc == 0)
        rc = upsert(store, pin, err);
    if (rc == 0)
        rc = read_generation(store, generation, err);
    if (rc == 0)
        rc = mg_store_exec(store, "COMMIT", err);
    if (rc != 0)
        mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_pin_approve(mg_store_t *store, const char *server, const char *tool, int64_t now, char approved[65],
                         mg_error_t *err)
{
    sqlite3_stmt *stmt;
    int rc = -1;
    pthread_mutex_lock(&store->lock);
    if (mg_store_exec(store, "BEGIN IMMEDIATE", err) != 0)
        goto done;
    if (mg_store_prepare(store, "SELECT pending_hash FROM pins WHERE server = ? AND tool = ?", &stmt, err) != 0)
        goto done;
    sqlite3_bind_text(stmt, 1, server, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, tool, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    const unsigned char *pending = step == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
    char hash[65] = "";
    if (pending != NULL)
        snprintf(hash, sizeof(hash), "%s", (const char *)pending);
    sqlite3_finalize(stmt);
    if (step == SQLITE_DONE) {
        rc = MG_STORE_NOT_FOUND;
        mg_error_set(err, "no pin for %s/%s", server, tool);
        goto done;
    }
    if (step != SQLITE_ROW) {
        mg_store_fail(store, err, "cannot read the pin");
        goto done;
    }
    if (hash[0] == '\0') {
        rc = MG_STORE_CONFLICT;
        mg_error_set(err, "%s/%s has no pending definition to approve", server, tool);
        goto done;
    }
    if (mg_store_prepare(store,
                         "UPDATE pins SET approved_hash = pending_hash, approved_by = 'operator', approved_at = ?, "
                         "pending_hash = '', reason = '', detail = '' WHERE server = ? AND tool = ?",
                         &stmt, err) != 0)
        goto done;
    sqlite3_bind_int64(stmt, 1, now);
    sqlite3_bind_text(stmt, 2, server, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, tool, -1, SQLITE_STATIC);
    step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step != SQLITE_DONE) {
        mg_store_fail(store, err, "cannot approve the pin");
        goto done;
    }
    if (mg_store_exec(store, "COMMIT", err) != 0)
        goto done;
    if (approved != NULL)
        memcpy(approved, hash, sizeof(hash));
    rc = 0;
done:
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_pin_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err)
{
    pthread_mutex_lock(&store->lock);
    int rc = read_generation(store, generation, err);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
