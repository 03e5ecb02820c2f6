/*
 * index.c - the audit trail's SQLite index: the records again, in a table that can be queried.
 *
 * The JSON-lines file is the evidence; this table is a convenience derived from it, in its own
 * database file (audit.sqlite) so that its size and write rate never weigh on the gateway's state
 * database. It is filled from the file's lines (indexer.c reads them back), never from anything
 * else, so it can only lag the file, never disagree with it: a crash, a stopped gateway or a busy
 * machine leave it short of records the file holds, which the next catch-up adds. seq is the
 * primary key, so a line indexed twice replaces its row.
 *
 * Next to the rows, `audit_position` (one row) says where the indexer stopped: the trail's path,
 * the file (device and inode, which survive rotation's rename) and the byte offset after the last
 * line read. Rows and position change in one transaction.
 *
 * Opened like src/store/sqlite.c opens the state database (created 0600 before SQLite sees it, WAL
 * so that `audit query` reads while the gateway writes, a busy timeout for the other connection),
 * but with synchronous=NORMAL: the durability that matters is the file's, governed by audit.fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "mcp/jsonrpc.h"

#define BUSY_TIMEOUT_MS 5000

struct st_mg_audit_index_t {
    sqlite3 *db;
    sqlite3_stmt *insert, *position_get, *position_set;
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
                             "CREATE INDEX IF NOT EXISTS audit_item ON audit (item, time_us);"
                             "CREATE TABLE IF NOT EXISTS audit_position ("
                             "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                             "  trail TEXT NOT NULL,"
                             "  device INTEGER NOT NULL,"
                             "  inode INTEGER NOT NULL,"
                             "  offset INTEGER NOT NULL"
                             ");";

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
                           -1, &index->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(index->db,
                           "SELECT (SELECT max(seq) FROM audit), trail, device, inode, offset FROM "
                           "(SELECT 1) LEFT JOIN audit_position ON id = 1",
                           -1, &index->position_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(index->db,
                           "INSERT OR REPLACE INTO audit_position (id, trail, device, inode, offset) "
                           "VALUES (1, ?, ?, ?, ?)",
                           -1, &index->position_set, NULL) != SQLITE_OK) {
        fail(index, err, "cannot prepare its statements");
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
    sqlite3_finalize(index->position_get);
    sqlite3_finalize(index->position_set);
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
    if (text == NULL || text[0] == '\0')
        sqlite3_bind_null(stmt, at);
    else
        sqlite3_bind_text(stmt, at, text, -1, SQLITE_STATIC);
}

int mg_audit_index_add(mg_audit_index_t *index, const mg_audit_row_t *row, mg_error_t *err)
{
    sqlite3_stmt *stmt = index->insert;
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)row->seq);
    sqlite3_bind_int64(stmt, 2, row->time_us);
    bind_text(stmt, 3, row->columns[MG_AUDIT_COLUMN_SUBJECT]);
    bind_text(stmt, 4, row->columns[MG_AUDIT_COLUMN_SERVER]);
    bind_text(stmt, 5, row->columns[MG_AUDIT_COLUMN_ITEM_KIND]);
    bind_text(stmt, 6, row->columns[MG_AUDIT_COLUMN_ITEM]);
    bind_text(stmt, 7, row->columns[MG_AUDIT_COLUMN_METHOD]);
    sqlite3_bind_text(stmt, 8, row->decision, -1, SQLITE_STATIC);
    bind_text(stmt, 9, row->columns[MG_AUDIT_COLUMN_RULE]);
    bind_text(stmt, 10, row->columns[MG_AUDIT_COLUMN_STATUS]);
    if (row->total_us >= 0)
        sqlite3_bind_int64(stmt, 11, row->total_us);
    else
        sqlite3_bind_null(stmt, 11);
    sqlite3_bind_text(stmt, 12, row->line, (int)row->line_len, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? 0 : fail(index, err, "cannot insert a record");
}

int mg_audit_index_position(mg_audit_index_t *index, mg_audit_position_t *out, mg_error_t *err)
{
    sqlite3_stmt *stmt = index->position_get;
    memset(out, 0, sizeof(*out));
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        out->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        const unsigned char *trail = sqlite3_column_text(stmt, 1);
        if (trail != NULL) {
            snprintf(out->trail, sizeof(out->trail), "%s", (const char *)trail);
            out->device = (uint64_t)sqlite3_column_int64(stmt, 2);
            out->inode = (uint64_t)sqlite3_column_int64(stmt, 3);
            out->offset = (uint64_t)sqlite3_column_int64(stmt, 4);
        }
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW ? 0 : fail(index, err, "cannot read where indexing stopped");
}

int mg_audit_index_set_position(mg_audit_index_t *index, const mg_audit_position_t *position, mg_error_t *err)
{
    sqlite3_stmt *stmt = index->position_set;
    sqlite3_bind_text(stmt, 1, position->trail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)position->device);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)position->inode);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)position->offset);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? 0 : fail(index, err, "cannot record where indexing stopped");
}

int64_t mg_audit_parse_time(const char *text)
{
    struct tm tm = {0};
    const char *rest = strptime(text, "%Y-%m-%d", &tm);
    if (rest == NULL)
        return -1;
    int64_t fraction_us = 0;
    if (*rest == 'T' || *rest == ' ') {
        rest = strptime(rest + 1, "%H:%M:%S", &tm);
        if (rest == NULL)
            return -1;
        if (*rest == '.') {
            int64_t scale = 100000;
            for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
                fraction_us += (*rest - '0') * scale;
        }
        if (*rest != 'Z')
            return -1;
        rest++;
    }
    if (*rest != '\0')
        return -1;
    return (int64_t)timegm(&tm) * 1000000 + fraction_us;
}

/* A member that must be a string when present. */
static int optional_string(const json_t *object, const char *key, const char **out, mg_error_t *err)
{
    const json_t *value = json_object_get(object, key);
    *out = json_string_value(value);
    return value == NULL || *out != NULL ? 0 : mg_error_set(err, "\"%s\" must be a string", key);
}

int mg_audit_row_parse(const char *line, size_t len, mg_audit_row_t *row, json_t **holder, mg_error_t *err)
{
    static const char *const keys[MG_AUDIT_COLUMNS] = {
        [MG_AUDIT_COLUMN_SUBJECT] = NULL, /* principal.subject */
        [MG_AUDIT_COLUMN_SERVER] = "server", [MG_AUDIT_COLUMN_ITEM_KIND] = "item_kind",
        [MG_AUDIT_COLUMN_ITEM] = "item",     [MG_AUDIT_COLUMN_METHOD] = "method",
        [MG_AUDIT_COLUMN_RULE] = "rule",     [MG_AUDIT_COLUMN_STATUS] = "status",
    };
    json_error_t error;
    *holder = NULL;
    memset(row, 0, sizeof(*row));
    json_t *object = mg_json_loadb(line, len, MG_JSON_DECODE_FLAGS, &error); /* jansson's answers, faster */
    if (!json_is_object(object)) {
        json_decref(object);
        return mg_error_set(err, "not a JSON object%s%s", object == NULL ? ": " : "", object == NULL ? error.text : "");
    }
    *holder = object;
    const json_t *type = json_object_get(object, "type"), *seq = json_object_get(object, "seq");
    if (type != NULL)
        return json_is_string(type) && strcmp(json_string_value(type), "checkpoint") == 0
                   ? 1
                   : mg_error_set(err, "\"type\" must be \"checkpoint\" when present");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        return mg_error_set(err, "\"seq\" must be a positive integer");
    row->seq = (uint64_t)json_integer_value(seq);
    row->line = line;
    row->line_len = len;
    const char *time_text = json_string_value(json_object_get(object, "time"));
    if (time_text == NULL || (row->time_us = mg_audit_parse_time(time_text)) < 0)
        return mg_error_set(err, "\"time\" must be a UTC time such as 2026-05-01T10:00:00.000000Z");
    row->decision = json_string_value(json_object_get(object, "decision"));
    if (row->decision == NULL || mg_audit_decision_parse(row->decision) < 0)
        return mg_error_set(err, "\"decision\" must name a decision");
    const json_t *principal = json_object_get(object, "principal");
    if (principal != NULL && !json_is_object(principal))
        return mg_error_set(err, "\"principal\" must be an object");
    if (optional_string(principal, "subject", &row->columns[MG_AUDIT_COLUMN_SUBJECT], err) != 0)
        return -1;
    for (int i = 0; i < MG_AUDIT_COLUMNS; i++) {
        if (keys[i] != NULL && optional_string(object, keys[i], &row->columns[i], err) != 0)
            return -1;
    }
    const json_t *total = json_object_get(object, "total_us");
    if (total != NULL && !json_is_integer(total))
        return mg_error_set(err, "\"total_us\" must be an integer");
    row->total_us = total != NULL ? json_integer_value(total) : -1;
    return 0;
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
