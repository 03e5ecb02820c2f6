/*
 * sqlite_approvals.c - the approvals table (see sqlite.h).
 *
 * Two processes meet on each row: the gateway inserts it and may end it ("expired", "abandoned"), and
 * `mcpgate approvals approve|deny` decides it. Every change of state is one UPDATE guarded by
 * `state = 'pending'` inside a BEGIN IMMEDIATE transaction, so whichever comes first wins and the other
 * learns so: a decision acts at most once, and a call the gateway has let go can never be approved later.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

#define APPROVAL_COLUMNS                                                                                               \
    "id, state, principal, server, tool, arguments_sha256, arguments, rule, approver, created_at, expires_at, "        \
    "decided_at, decided_by"

void mg_store_approval_dispose(mg_store_approval_t *row)
{
    char **texts[] = {
        &row->id,        &row->state, &row->principal, &row->server,    &row->tool, &row->arguments_sha256,
        &row->arguments, &row->rule,  &row->approver,  &row->decided_by};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        free(*texts[i]);
        *texts[i] = NULL;
    }
}

void mg_store_approval_rows_free(mg_store_approval_t *rows, size_t count)
{
    for (size_t i = 0; rows != NULL && i < count; i++)
        mg_store_approval_dispose(&rows[i]);
    free(rows);
}

static int read_row(sqlite3_stmt *stmt, mg_store_approval_t *row)
{
    char **texts[] = {&row->id,        &row->state, &row->principal, &row->server, &row->tool, &row->arguments_sha256,
                      &row->arguments, &row->rule,  &row->approver};
    int rc = 0;
    for (int i = 0; i < 9; i++) {
        if ((*texts[i] = mg_store_column_text(stmt, i)) == NULL)
            rc = -1;
    }
    row->created_at = sqlite3_column_int64(stmt, 9);
    row->expires_at = sqlite3_column_int64(stmt, 10);
    row->decided_at = sqlite3_column_int64(stmt, 11);
    if ((row->decided_by = mg_store_column_text(stmt, 12)) == NULL)
        rc = -1;
    return rc;
}

/* INSERT `row` in `state` ("pending": `row`'s decision fields are ignored). */
static int insert(mg_store_t *store, const mg_store_approval_t *row, const char *state, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    bool pending = strcmp(state, "pending") == 0;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_prepare(
        store, "INSERT INTO approvals (" APPROVAL_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt,
        err);
    if (rc == 0) {
        const char *texts[] = {row->id,        state,     row->principal, row->server, row->tool, row->arguments_sha256,
                               row->arguments, row->rule, row->approver};
        for (int i = 0; i < 9; i++)
            sqlite3_bind_text(stmt, i + 1, texts[i] != NULL ? texts[i] : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 10, row->created_at);
        sqlite3_bind_int64(stmt, 11, row->expires_at);
        sqlite3_bind_int64(stmt, 12, pending ? 0 : row->decided_at);
        sqlite3_bind_text(stmt, 13, pending || row->decided_by == NULL ? "" : row->decided_by, -1, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_CONSTRAINT) {
            mg_error_set(err, "approval %s exists already", row->id);
            rc = MG_STORE_CONFLICT;
        } else if (step != SQLITE_DONE) {
            rc = mg_store_fail(store, err, "cannot record the approval");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_approval_insert(mg_store_t *store, const mg_store_approval_t *row, mg_error_t *err)
{
    return insert(store, row, "pending", err);
}

int mg_store_approval_record(mg_store_t *store, const mg_store_approval_t *row, mg_error_t *err)
{
    if (row->state == NULL || strcmp(row->state, "pending") == 0)
        return mg_error_set(err, "approval %s: a recorded decision cannot be pending", row->id);
    return insert(store, row, row->state, err);
}

/* The row `id` into *out, under the lock. */
static int get_locked(mg_store_t *store, const char *id, mg_store_approval_t *out, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    memset(out, 0, sizeof(*out));
    if (mg_store_prepare(store, "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = ?", &stmt, err) != 0)
        return -1;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt), rc = 0;
    if (step == SQLITE_ROW) {
        if (read_row(stmt, out) != 0)
            rc = mg_error_set(err, "out of memory");
    } else if (step == SQLITE_DONE) {
        rc = MG_STORE_NOT_FOUND;
        mg_error_set(err, "no approval %s", id);
    } else {
        rc = mg_store_fail(store, err, "cannot read the approval");
    }
    sqlite3_finalize(stmt);
    if (rc != 0)
        mg_store_approval_dispose(out);
    return rc;
}

int mg_store_approval_get(mg_store_t *store, const char *id, mg_store_approval_t *out, mg_error_t *err)
{
    pthread_mutex_lock(&store->lock);
    int rc = get_locked(store, id, out, err);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* UPDATE a pending row's state; *changed says whether it was pending (and, for a decision, in time). */
static int set_state(mg_store_t *store, const char *id, const char *state, const char *decided_by, int64_t now,
                     bool need_time, bool *changed, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    const char *sql = need_time ? "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, arguments = '' "
                                  "WHERE id = ? AND state = 'pending' AND expires_at > ?"
                                : "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, arguments = '' "
                                  "WHERE id = ? AND state = 'pending'";
    if (mg_store_prepare(store, sql, &stmt, err) != 0)
        return -1;
    sqlite3_bind_text(stmt, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, decided_by != NULL ? decided_by : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, now);
    sqlite3_bind_text(stmt, 4, id, -1, SQLITE_STATIC);
    if (need_time)
        sqlite3_bind_int64(stmt, 5, now);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step != SQLITE_DONE)
        return mg_store_fail(store, err, "cannot change the approval");
    *changed = sqlite3_changes(store->db) == 1;
    return 0;
}

int mg_store_approval_decide(mg_store_t *store, const char *id, const char *state, const char *decided_by, int64_t now,
                             char prior[16], mg_error_t *err)
{
    mg_store_approval_t row;
    bool changed = false;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = get_locked(store, id, &row, err);
    if (rc == 0) {
        if (prior != NULL)
            snprintf(prior, 16, "%s",
                     strcmp(row.state, "pending") == 0 && row.expires_at <= now ? "expired" : row.state);
        rc = set_state(store, id, state, decided_by, now, true, &changed, err);
        if (rc == 0 && !changed) {
            rc = MG_STORE_CONFLICT;
            if (strcmp(row.state, "pending") == 0)
                mg_error_set(err, "approval %s ran out of time (it expired at its deadline)", id);
            else
                mg_error_set(err, "approval %s is %s already", id, row.state);
        }
        mg_store_approval_dispose(&row);
    }
    if (rc == 0)
        rc = mg_store_exec(store, "COMMIT", err);
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_approval_close(mg_store_t *store, const char *id, const char *state, int64_t now,
                            mg_store_approval_t *decided, mg_error_t *err)
{
    bool changed = false;
    if (decided != NULL)
        memset(decided, 0, sizeof(*decided));
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_exec(store, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = set_state(store, id, state, "gateway", now, false, &changed, err);
    if (rc == 0 && !changed) {
        mg_store_approval_t row;
        rc = get_locked(store, id, &row, err);
        if (rc == 0) {
            mg_error_set(err, "approval %s is %s already", id, row.state);
            rc = MG_STORE_CONFLICT;
            if (decided != NULL)
                *decided = row;
            else
                mg_store_approval_dispose(&row);
        }
    }
    if (rc == 0)
        rc = mg_store_exec(store, "COMMIT", err);
    mg_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_approval_list(mg_store_t *store, int64_t since, mg_store_approval_t **rows, size_t *count, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    size_t capacity = 0;
    *rows = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_prepare(
        store, "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE created_at >= ? ORDER BY created_at DESC, id", &stmt,
        err);
    int step = SQLITE_DONE;
    if (rc == 0) {
        sqlite3_bind_int64(stmt, 1, since);
        while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (*count == capacity) {
                size_t grown = capacity == 0 ? 16 : capacity * 2;
                mg_store_approval_t *more = realloc(*rows, grown * sizeof(**rows));
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
            rc = mg_store_fail(store, err, "cannot read the approvals");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->lock);
    if (rc != 0) {
        mg_store_approval_rows_free(*rows, *count);
        *rows = NULL;
        *count = 0;
    }
    return rc;
}

int mg_store_approval_prune(mg_store_t *store, int64_t before, size_t *deleted, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_prepare(store, "DELETE FROM approvals WHERE state != 'pending' AND created_at < ?", &stmt, err);
    if (rc == 0) {
        sqlite3_bind_int64(stmt, 1, before);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            rc = mg_store_fail(store, err, "cannot prune the approvals");
        else if (deleted != NULL)
            *deleted = (size_t)sqlite3_changes(store->db);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int mg_store_approval_generation(mg_store_t *store, uint64_t *generation, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    pthread_mutex_lock(&store->lock);
    int rc = mg_store_prepare(store, "SELECT value FROM meta WHERE key = 'approvals_generation'", &stmt, err);
    if (rc == 0) {
        int step = sqlite3_step(stmt);
        *generation = step == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
        if (step != SQLITE_ROW)
            rc = mg_store_fail(store, err, "cannot read the approvals generation");
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}
