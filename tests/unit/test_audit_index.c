/*
 * test_audit_index.c - the SQLite index filled from the trail's own lines (src/audit/indexer.c):
 * the gateway's indexer thread, a follower catching up across rotated files, resuming where the
 * index stopped without indexing a record twice, skipping lines that are not records, a deleted
 * index rebuilt from the files, and the line parser's refusals.
 *
 * Trails are written by the real module (mg_audit_create/start/emit/destroy) into a temporary
 * directory; the index is read back with SQLite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "audit/audit_internal.h"
#include "temp_tree.h"

typedef struct st_trail_t {
    char root[128];
    char path[256];
    char sqlite[256];
    mg_config_audit_t config;
} trail_t;

static void trail_init(trail_t *trail, const char *name)
{
    assert_int_equal(temp_tree_make(trail->root, sizeof(trail->root), name), 0);
    snprintf(trail->path, sizeof(trail->path), "%s/audit.jsonl", trail->root);
    snprintf(trail->sqlite, sizeof(trail->sqlite), "%s/audit.sqlite", trail->root);
    memset(&trail->config, 0, sizeof(trail->config));
    trail->config.enabled = true;
    trail->config.file = trail->path;
    trail->config.sqlite = trail->sqlite;
    trail->config.fsync = MG_AUDIT_FSYNC_NEVER;
    trail->config.checkpoint_every = 1000;
    trail->config.queue = 1024;
}

static void emit(mg_audit_t *audit, int n)
{
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    mg_error_t err = {{0}};
    char item[32];
    snprintf(item, sizeof(item), "tool-%d", n);
    event.principal.subject = n % 2 == 0 ? "alice" : "bob";
    event.server = "everything";
    event.item_kind = MG_AUDIT_ITEM_TOOL;
    event.item_name = item;
    event.method = "tools/call";
    event.decision = n % 4 == 3 ? MG_AUDIT_DENY : MG_AUDIT_ALLOW;
    event.rule = n % 4 == 3 ? "roles[0].deny[0]" : NULL;
    event.status = "ok";
    event.total_us = 100 + n;
    if (mg_audit_emit(audit, &event, &err) != 0)
        fail_msg("%s", err.message);
}

static mg_audit_t *open_trail(const trail_t *trail)
{
    mg_audit_t *audit = NULL;
    mg_error_t err = {{0}};
    if (mg_audit_create(&trail->config, &audit, &err) != 0 || mg_audit_start(audit, &err) != 0)
        fail_msg("%s", err.message);
    return audit;
}

/* Writes records [from, from + count) and closes the trail. */
static void write_records(const trail_t *trail, int from, int count)
{
    mg_audit_t *audit = open_trail(trail);
    for (int i = from; i < from + count; i++)
        emit(audit, i);
    mg_audit_destroy(audit);
}

static int64_t sql_int(const char *db_path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

/* Catches the index up as `audit query` does; returns the lines skipped. */
static uint64_t catch_up(const trail_t *trail)
{
    mg_audit_index_t *index;
    mg_audit_follow_t *follow = NULL; /* clang cannot see that fail_msg does not return */
    mg_error_t err = {{0}};
    bool caught_up = false;
    uint64_t skipped = 0;
    if (mg_audit_index_open(trail->sqlite, &index, &err) != 0 ||
        mg_audit_follow_create(trail->path, index, &follow, &err) != 0 ||
        mg_audit_follow_run(follow, 0, &caught_up, &skipped, &err) != 0)
        fail_msg("%s", err.message);
    assert_true(caught_up);
    mg_audit_follow_destroy(follow);
    mg_audit_index_close(index);
    return skipped;
}

/* Every seq 1..n exactly once, with the columns of emit(). */
static void expect_indexed(const trail_t *trail, int n)
{
    assert_int_equal(sql_int(trail->sqlite, "SELECT count(*) FROM audit"), n);
    assert_int_equal(sql_int(trail->sqlite, "SELECT count(DISTINCT seq) FROM audit"), n);
    assert_int_equal(sql_int(trail->sqlite, "SELECT min(seq) FROM audit"), 1);
    assert_int_equal(sql_int(trail->sqlite, "SELECT max(seq) FROM audit"), n);
    /* record i has seq i + 1 */
    assert_int_equal(sql_int(trail->sqlite, "SELECT count(*) FROM audit WHERE item = 'tool-' || (seq - 1) AND "
                                            "subject = CASE (seq - 1) % 2 WHEN 0 THEN 'alice' ELSE 'bob' END AND "
                                            "total_us = 100 + seq - 1 AND server = 'everything' AND "
                                            "item_kind = 'tool' AND method = 'tools/call' AND status = 'ok' AND "
                                            "decision = CASE (seq - 1) % 4 WHEN 3 THEN 'deny' ELSE 'allow' END AND "
                                            "line LIKE '{\"seq\":' || seq || ',%'"),
                     n);
    assert_int_equal(sql_int(trail->sqlite, "SELECT count(*) FROM audit WHERE rule IS NOT NULL"), n / 4);
    /* times are the records' own, to the microsecond, and never decrease */
    assert_int_equal(sql_int(trail->sqlite, "SELECT count(*) FROM audit a JOIN audit b ON b.seq = a.seq + 1 "
                                            "WHERE b.time_us < a.time_us"),
                     0);
    int64_t now = mg_audit_now_us();
    assert_true(sql_int(trail->sqlite, "SELECT min(time_us) FROM audit") > now - 600 * 1000000LL);
    assert_true(sql_int(trail->sqlite, "SELECT max(time_us) FROM audit") <= now);
}

/* Waits (the indexer runs at idle priority) until the index holds seq `n`. */
static void wait_indexed(mg_audit_t *audit, uint64_t n, mg_audit_stats_t *stats)
{
    mg_error_t err;
    assert_int_equal(mg_audit_flush(audit, &err), 0);
    for (int waited_ms = 0; waited_ms < 20000; waited_ms += 5) {
        mg_audit_stats(audit, stats);
        if (stats->index_seq >= n)
            break;
        usleep(5000);
    }
    assert_int_equal(stats->index_seq, n);
}

static void test_indexer_thread_follows_the_trail(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-indexer");
    trail.config.rotate_size = 16384; /* the indexer follows the file through rotations as they happen */
    mg_audit_t *audit = open_trail(&trail);
    mg_audit_stats_t stats = {0};
    for (int round = 0; round < 5; round++) {
        for (int i = round * 120; i < (round + 1) * 120; i++)
            emit(audit, i);
        wait_indexed(audit, (uint64_t)(round + 1) * 120, &stats);
    }
    assert_true(stats.rotations >= 5);
    assert_int_equal(stats.indexed, 600);
    assert_int_equal(stats.index_errors, 0);
    mg_audit_destroy(audit);
    expect_indexed(&trail, 600);

    /* a restart goes on from the recorded place: nothing twice, nothing missed */
    audit = open_trail(&trail);
    for (int i = 600; i < 650; i++)
        emit(audit, i);
    wait_indexed(audit, 650, &stats);
    assert_int_equal(stats.indexed, 50);
    mg_audit_destroy(audit);
    expect_indexed(&trail, 650);
    temp_tree_remove(trail.root);
}

static void test_catch_up_across_rotations_and_restarts(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-index-rotate");
    trail.config.rotate_size = 4096;
    trail.config.has_signing_key = true; /* checkpoints between the records: not indexed */
    trail.config.checkpoint_every = 7;
    trail.config.sqlite = NULL; /* written without an indexer: the index is filled by catching up only */
    write_records(&trail, 0, 150);
    assert_int_equal(catch_up(&trail), 0);
    expect_indexed(&trail, 150);

    /* more records, more rotations: the follower resumes at its recorded place */
    write_records(&trail, 150, 100);
    assert_int_equal(catch_up(&trail), 0);
    expect_indexed(&trail, 250);
    assert_int_equal(catch_up(&trail), 0); /* nothing new: nothing changes */
    expect_indexed(&trail, 250);

    /* a deleted index is rebuilt from the files, rotated ones first */
    char path[300];
    unlink(trail.sqlite);
    snprintf(path, sizeof(path), "%s-wal", trail.sqlite);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", trail.sqlite);
    unlink(path);
    assert_int_equal(catch_up(&trail), 0);
    expect_indexed(&trail, 250);
    temp_tree_remove(trail.root);
}

static void test_position_lost_resumes_by_seq(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-index-seq");
    trail.config.sqlite = NULL;
    write_records(&trail, 0, 40);
    assert_int_equal(catch_up(&trail), 0);
    /* an index without a recorded place (one written before positions existed): lines at or below
     * its highest seq are skipped, the rest indexed once */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(trail.sqlite, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM audit_position; DELETE FROM audit WHERE seq > 25", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    write_records(&trail, 40, 10);
    assert_int_equal(catch_up(&trail), 0);
    expect_indexed(&trail, 50);
    temp_tree_remove(trail.root);
}

static void test_lines_that_are_not_records_are_skipped(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-index-skip");
    trail.config.sqlite = NULL;
    write_records(&trail, 0, 10);
    FILE *file = fopen(trail.path, "a");
    assert_non_null(file);
    fputs("not json\n{\"seq\":\"eleven\"}\n{\"partial\":", file); /* the last line is not finished: left */
    fclose(file);
    assert_int_equal(catch_up(&trail), 2);
    expect_indexed(&trail, 10);
    temp_tree_remove(trail.root);
}

static void test_row_parser(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int expected;
    } cases[] = {
        {"{\"seq\":3,\"prev\":\"00\",\"time\":\"2026-05-01T10:00:00.123456Z\",\"decision\":\"deny\",\"total_us\":7}",
         0},
        {"{\"type\":\"checkpoint\",\"seq\":3}", 1},
        {"{\"type\":\"other\",\"seq\":3}", -1},
        {"{\"seq\":0,\"time\":\"2026-05-01T10:00:00Z\",\"decision\":\"allow\"}", -1},
        {"{\"seq\":1,\"time\":\"yesterday\",\"decision\":\"allow\"}", -1},
        {"{\"seq\":1,\"time\":\"2026-05-01T10:00:00Z\",\"decision\":\"maybe\"}", -1},
        {"{\"seq\":1,\"time\":\"2026-05-01T10:00:00Z\",\"decision\":\"allow\",\"server\":5}", -1},
        {"{\"seq\":1,\"time\":\"2026-05-01T10:00:00Z\",\"decision\":\"allow\",\"principal\":[]}", -1},
        {"{\"seq\":1,\"time\":\"2026-05-01T10:00:00Z\",\"decision\":\"allow\",\"total_us\":\"7\"}", -1},
        {"{\"seq\":1,\"seq\":2,\"time\":\"2026-05-01T10:00:00Z\",\"decision\":\"allow\"}", -1},
        {"[1]", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_audit_row_t row;
        json_t *holder;
        mg_error_t err = {{0}};
        int rc = mg_audit_row_parse(cases[i].line, strlen(cases[i].line), &row, &holder, &err);
        if (rc != cases[i].expected)
            fail_msg("%s: %d (%s)", cases[i].line, rc, err.message);
        if (rc == 0) {
            assert_int_equal(row.seq, 3);
            assert_int_equal(row.time_us, 1777629600123456LL);
            assert_string_equal(row.decision, "deny");
            assert_int_equal(row.total_us, 7);
            assert_null(row.columns[MG_AUDIT_COLUMN_SUBJECT]);
        }
        json_decref(holder);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexer_thread_follows_the_trail),
        cmocka_unit_test(test_catch_up_across_rotations_and_restarts),
        cmocka_unit_test(test_position_lost_resumes_by_seq),
        cmocka_unit_test(test_lines_that_are_not_records_are_skipped),
        cmocka_unit_test(test_row_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
