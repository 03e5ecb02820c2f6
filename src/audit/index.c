/*
 * index.c - the audit trail's SQLite index: the records again, in a table that can be queried.
 *
 * The JSON-lines file is the evidence; this table is a convenience derived from it, in its own
 * database file (audit.sqlite) so that its size and write rate never weigh on the gateway's state
 * database. It is filled by the writer thread only, one transaction per batch written to the file,
 * after the file write: a crash between the two leaves the index short of records the file holds,
 * never the reverse. seq is the primary key, so a batch retried after an error replaces its rows.
 *
 * Opened like src/store/sqlite.c opens the state database (created 0600 before SQLite sees it, WAL
 * so that `audit query` reads while the gateway writes, a busy timeout for that reader), but with
 * synchronous=NORMAL: the durability that matters is the file's, governed by audit.fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_internal.h"

#define BUSY_TIMEOUT_MS 5000

struct st_mg_audit_index_t {
    sqlite3 *db;
    sqlite3_stmt *insert;
    char *path;
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=NORMAL;"
                             "PRAGMA trusted_schema=OFF;"
                             "CREATE TABLE IF NOT EXISTS audit ("
                             "  seq INTEGER PRIMARY KEY,"
                             "  time_us INTEGER NOT NULL,"
                             "  subject TEXT,"
                             "  server TEXT,"
                             "  item_kind TEXT,"
                             "  item TEXT,"
                             "  method TEXT,"
                             "  decision TEXT NOT NULL,"
                             "  rule TEXT,"
                             "  status TEXT,"
                             "  total_us INTEGER,"
                             "  line TEXT NOT NULL"
                             ");"
                             "CREATE INDEX IF NOT EXISTS audit_time ON audit (time_us);"
                             "CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject, time_us);"
                             "CREATE INDEX IF NOT EXISTS audit_item ON audit (item, time_us);";

static int fail(mg_audit_index_t *index, mg_error_t *err, const char *what)
{
    return mg_error_set(err, "%s: %s: %s", index->path, what, sqlite3_errmsg(index->db));
}

int mg_audit_index_open(const char *path, mg_audit_index_t **out, mg_error_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mg_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
    mg_audit_index_t *index = calloc(1, sizeof(*index));
    if (index == NULL || (index->path = strdup(path)) == NULL) {
        free(index);
        return mg_error_set(err, "out of memory");
    }
    char *message = NULL;
    if (sqlite3_open_v2(path, &index->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fail(index, err, "cannot open");
        mg_audit_index_close(index);
        return -1;
    }
    sqlite3_busy_timeout(index->db, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(index->db, schema, NULL, NULL, &message) != SQLITE_OK) {
        mg_error_set(err, "%s: cannot create the audit table: %s", path, message != NULL ? message : "?");
        sqlite3_free(message);
        mg_audit_index_close(index);
        return -1;
    }
    if (sqlite3_prepare_v2(index->db,
                           "INSERT OR REPLACE INTO audit (seq, time_us, subject, server, item_kind, item, method, "
                           "decision, rule, status, total_us, line) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &index->insert, NULL) != SQLITE_OK) {
        fail(index, err, "cannot prepare the insert");
        mg_audit_index_close(index);
        return -1;
    }
    *out = index;
    return 0;
}

void mg_audit_index_close(mg_audit_index_t *index)
{
    if (index == NULL)
        return;
    sqlite3_finalize(index->insert);
    sqlite3_close(index->db);
    free(index->path);
    free(index);
}

int mg_audit_index_begin(mg_audit_index_t *index, mg_error_t *err)
{
    return sqlite3_exec(index->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(index, err, "BEGIN");
}

static void bind_text(sqlite3_stmt *stmt, int at, const char *text)
{
    if (text[0] == '\0')
        sqlite3_bind_null(stmt, at);
    else
        sqlite3_bind_text(stmt, at, text, -1, SQLITE_STATIC);
}

int mg_audit_index_add(mg_audit_index_t *index, uint64_t seq, const mg_audit_entry_t *entry, const char *line,
                       size_t line_len, mg_error_t *err)
{
    sqlite3_stmt *stmt = index->insert;
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(stmt, 2, entry->time_us);
    bind_text(stmt, 3, mg_audit_record_column(entry, MG_AUDIT_COLUMN_SUBJECT));
    bind_text(stmt, 4, mg_audit_record_column(entry, MG_AUDIT_COLUMN_SERVER));
    bind_text(stmt, 5, mg_audit_record_column(entry, MG_AUDIT_COLUMN_ITEM_KIND));
    bind_text(stmt, 6, mg_audit_record_column(entry, MG_AUDIT_COLUMN_ITEM));
    bind_text(stmt, 7, mg_audit_record_column(entry, MG_AUDIT_COLUMN_METHOD));
    sqlite3_bind_text(stmt, 8, mg_audit_decision_name(entry->decision), -1, SQLITE_STATIC);
    bind_text(stmt, 9, mg_audit_record_column(entry, MG_AUDIT_COLUMN_RULE));
    bind_text(stmt, 10, mg_audit_record_column(entry, MG_AUDIT_COLUMN_STATUS));
    if (entry->total_us >= 0)
        sqlite3_bind_int64(stmt, 11, entry->total_us);
    else
        sqlite3_bind_null(stmt, 11);
    sqlite3_bind_text(stmt, 12, line, (int)line_len, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? 0 : fail(index, err, "cannot insert a record");
}

int mg_audit_index_commit(mg_audit_index_t *index, mg_error_t *err)
{
    return sqlite3_exec(index->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(index, err, "COMMIT");
}

void mg_audit_index_rollback(mg_audit_index_t *index)
{
    if (!sqlite3_get_autocommit(index->db))
        (void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
}
