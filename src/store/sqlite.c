/*
 * sqlite.c - opening <state_dir>/mcpgate.db: files, pragmas, schema migrations.
 *
 * Files. state_dir is created 0700 and the database file 0600 before SQLite sees it (SQLite would
 * create it 0644 under the usual umask); SQLite gives the -wal and -shm files the mode of the
 * database. An existing database that group or others may read is refused, like session.key: it
 * holds key hashes and sealed secrets, and chmod 600 is a cheaper fix than a warning nobody reads.
 *
 * Pragmas. WAL lets the gateway's background threads read while a CLI command writes, and the
 * other way round; busy_timeout makes a writer wait for another process's write instead of
 * failing. synchronous=FULL because the writes are rare and some are security decisions: a
 * revocation acknowledged by `keys revoke` must not be lost to a power cut. secure_delete
 * overwrites deleted rows, so a deleted secret's ciphertext does not linger in free pages.
 * trusted_schema=OFF keeps a tampered schema from running functions with side effects.
 *
 * Migrations. PRAGMA user_version is the number of migrations applied. Each one runs in its own
 * BEGIN IMMEDIATE transaction that re-reads the version first, so two processes opening a new
 * database at once apply every migration exactly once. A database whose version is above what
 * this build knows was written by a newer mcpgate and is refused rather than misread.
 */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"

#define BUSY_TIMEOUT_MS 5000

/* Migration i brings user_version from i to i + 1. Append only; never edit a released one. */
static const char *const migrations[] = {
    /* 1: API keys, secrets, and the counter that tells key snapshots they are stale. */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) STRICT;"
    "INSERT INTO meta (key, value) VALUES ('keys_generation', 0);"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),"
    "  roles TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  revoked_at INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at = 0;"
    "CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'keys_generation'; END;"
    "CREATE TRIGGER api_keys_changed AFTER UPDATE OF id, name, secret_hash, roles, expires_at, revoked_at"
    "  ON api_keys BEGIN UPDATE meta SET value = value + 1 WHERE key = 'keys_generation'; END;"
    "CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'keys_generation'; END;"
    "CREATE TABLE secrets ("
    "  name TEXT PRIMARY KEY,"
    "  nonce BLOB NOT NULL,"
    "  ciphertext BLOB NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") STRICT;",
    /* 2: tool pins (guard/pins.h); tool '' is the server's instructions. A counter like the keys' tells the
     * running gateway that `tools approve` changed something. */
    "INSERT INTO meta (key, value) VALUES ('pins_generation', 0);"
    "CREATE TABLE pins ("
    "  server TEXT NOT NULL,"
    "  tool TEXT NOT NULL,"
    "  approved_hash TEXT NOT NULL DEFAULT '',"
    "  approved_by TEXT NOT NULL DEFAULT '',"
    "  pending_hash TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  first_seen INTEGER NOT NULL,"
    "  changed_at INTEGER NOT NULL DEFAULT 0,"
    "  approved_at INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (server, tool)"
    ") STRICT;"
    "CREATE TRIGGER pins_inserted AFTER INSERT ON pins BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'pins_generation'; END;"
    "CREATE TRIGGER pins_changed AFTER UPDATE ON pins BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'pins_generation'; END;"
    "CREATE TRIGGER pins_deleted AFTER DELETE ON pins BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'pins_generation'; END;",
    /* 3: calls held for a person's decision (guard/approvals.h). The counter moves when a row leaves
     * 'pending' (a decision, an expiry), not on an insert: the gateway's watcher wakes for decisions only. */
    "INSERT INTO meta (key, value) VALUES ('approvals_generation', 0);"
    "CREATE TABLE approvals ("
    "  id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'abandoned')),"
    "  principal TEXT NOT NULL,"
    "  server TEXT NOT NULL,"
    "  tool TEXT NOT NULL,"
    "  arguments_sha256 TEXT NOT NULL,"
    "  arguments TEXT NOT NULL DEFAULT '',"
    "  rule TEXT NOT NULL,"
    "  approver TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  decided_at INTEGER NOT NULL DEFAULT 0,"
    "  decided_by TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX approvals_created ON approvals (created_at);"
    "CREATE TRIGGER approvals_decided AFTER UPDATE OF state ON approvals BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'approvals_generation'; END;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int mg_store_fail(mg_store_t *store, mg_error_t *err, const char *what)
{
    return mg_error_set(err, "%s: %s: %s", store->path, what, sqlite3_errmsg(store->db));
}

int mg_store_prepare(mg_store_t *store, const char *sql, sqlite3_stmt **stmt, mg_error_t *err)
{
    if (sqlite3_prepare_v2(store->db, sql, -1, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return mg_store_fail(store, err, "cannot prepare a statement");
    }
    return 0;
}

int mg_store_exec(mg_store_t *store, const char *sql, mg_error_t *err)
{
    char *message = NULL;
    if (sqlite3_exec(store->db, sql, NULL, NULL, &message) == SQLITE_OK)
        return 0;
    mg_error_set(err, "%s: %s", store->path, message != NULL ? message : sqlite3_errmsg(store->db));
    sqlite3_free(message);
    return -1;
}

void mg_store_rollback(mg_store_t *store)
{
    if (!sqlite3_get_autocommit(store->db))
        (void)sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}

char *mg_store_column_text(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return strdup(text != NULL ? (const char *)text : "");
}

/* Creates the database file 0600 if needed and checks the mode of an existing one. */
static int prepare_file(const char *path, mg_store_mode_t mode, mg_error_t *err)
{
    /* The database is never open()ed and close()d here once it exists: closing any descriptor of a file
     * drops every POSIX lock the process holds on it, those of another SQLite connection to the same file
     * included (sqlite.org/howtocorrupt.html, 2.2), and the gateway holds several (API keys, tool pins,
     * the secret store). A file this call creates (O_EXCL) is one no connection can have open yet. */
    if (mode == MG_STORE_CREATE) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST)
            return mg_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT && mode == MG_STORE_EXISTING)
            return MG_STORE_NOT_FOUND;
        return mg_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) /* a symbolic link included, as O_NOFOLLOW refused it */
        return mg_error_set(err, "%s: not a regular file", path);
    if ((st.st_mode & 077) != 0)
        return mg_error_set(
            err, "%s: mode %04o lets group or others read the key hashes and sealed secrets; run chmod 600 %s", path,
            (unsigned)(st.st_mode & 07777), path);
    return 0;
}

static int read_user_version(mg_store_t *store, int *version, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (mg_store_prepare(store, "PRAGMA user_version", &stmt, err) != 0)
        return -1;
    int rc = sqlite3_step(stmt);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : mg_store_fail(store, err, "cannot read the schema version");
}

static int migrate(mg_store_t *store, mg_error_t *err)
{
    int version;
    char sql[64];
    if (read_user_version(store, &version, err) != 0)
        return -1;
    while (version < SCHEMA_VERSION) {
        if (mg_store_exec(store, "BEGIN IMMEDIATE", err) != 0)
            return -1;
        if (read_user_version(store, &version, err) != 0)
            goto fail;
        if (version < SCHEMA_VERSION) {
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
            if (mg_store_exec(store, migrations[version], err) != 0 || mg_store_exec(store, sql, err) != 0)
                goto fail;
        }
        if (mg_store_exec(store, "COMMIT", err) != 0)
            goto fail;
        if (read_user_version(store, &version, err) != 0)
            return -1;
    }
    if (version > SCHEMA_VERSION)
        return mg_error_set(err, "%s: schema version %d was written by a newer mcpgate (this one knows up to %d)",
                            store->path, version, SCHEMA_VERSION);
    return 0;
fail:
    mg_store_rollback(store);
    return -1;
}

static int configure(mg_store_t *store, mg_error_t *err)
{
    sqlite3_stmt *stmt;
    if (sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return mg_store_fail(store, err, "cannot set the busy timeout");
    if (mg_store_prepare(store, "PRAGMA journal_mode = WAL", &stmt, err) != 0)
        return -1;
    int rc = sqlite3_step(stmt);
    const unsigned char *journal = rc == SQLITE_ROW ? sqlite3_column_text(stmt, 0) : NULL;
    bool wal = journal != NULL && strcmp((const char *)journal, "wal") == 0;
    sqlite3_finalize(stmt);
    if (!wal)
        return mg_store_fail(store, err, "cannot switch to WAL mode");
    return mg_store_exec(store,
                         "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA trusted_schema = OFF;"
                         "PRAGMA foreign_keys = ON",
                         err);
}

int mg_store_open(const char *state_dir, mg_store_mode_t mode, mg_store_t **out, mg_error_t *err)
{
    char path[PATH_MAX];
    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/%s", state_dir, MG_STORE_FILE) >= (int)sizeof(path))
        return mg_error_set(err, "state_dir \"%s\": path too long", state_dir);
    if (mode == MG_STORE_CREATE && mg_files_make_private_dir(state_dir, err) != 0)
        return -1;
    int prepared = prepare_file(path, mode, err);
    if (prepared != 0)
        return prepared;
    mg_store_t *store = calloc(1, sizeof(*store));
    if (store == NULL || (store->path = strdup(path)) == NULL) {
        free(store);
        return mg_error_set(err, "out of memory");
    }
    pthread_mutex_init(&store->lock, NULL);
    /* FULLMUTEX is belt and braces: store->lock already serializes every use of the handle. */
    if (sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        if (store->db == NULL)
            mg_error_set(err, "%s: cannot open: out of memory", path);
        else
            mg_store_fail(store, err, "cannot open");
        mg_store_close(store);
        return -1;
    }
    if (configure(store, err) != 0 || migrate(store, err) != 0) {
        mg_store_close(store);
        return -1;
    }
    *out = store;
    return 0;
}

void mg_store_close(mg_store_t *store)
{
    if (store == NULL)
        return;
    sqlite3_close_v2(store->db);
    pthread_mutex_destroy(&store->lock);
    free(store->path);
    free(store);
}

const char *mg_store_path(const mg_store_t *store)
{
    return store->path;
}
