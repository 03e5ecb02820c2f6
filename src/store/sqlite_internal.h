/*
 * sqlite_internal.h - what the files of src/store share: the store itself and statement helpers.
 *
 * sqlite.c opens, migrates and closes; sqlite_keys.c and sqlite_secrets.c hold the statements of
 * their tables. Every public function takes store->lock for its whole duration, so a transaction
 * begun by one thread can never swallow another thread's statements on the shared connection.
 */
#ifndef MG_STORE_SQLITE_INTERNAL_H
#define MG_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/sqlite.h"

struct st_mg_store_t {
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock;
};

/* Fills err with "<db path>: <what>: <sqlite's message>" and returns -1. */
int mg_store_fail(mg_store_t *store, mg_error_t *err, const char *what);

/* Prepares `sql` or fails with mg_store_fail. */
int mg_store_prepare(mg_store_t *store, const char *sql, sqlite3_stmt **stmt, mg_error_t *err);

/* Runs statements without results ("BEGIN IMMEDIATE", "COMMIT", a migration). */
int mg_store_exec(mg_store_t *store, const char *sql, mg_error_t *err);

/* Rolls back whatever transaction is open; used on error paths, so it reports nothing. */
void mg_store_rollback(mg_store_t *store);

/* A malloc'd copy of a text column (NULL column: empty string); NULL only when out of memory. */
char *mg_store_column_text(sqlite3_stmt *stmt, int column);

#endif
