/*
 * test_store.c - the SQLite store: files and modes, migrations, and each table's rows.
 *
 * Every test gets a fresh state_dir under /tmp (a subdirectory that does not exist yet, so that
 * creating it is covered too), removed afterwards.
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "temp_tree.h"
#include <sqlite3.h>

#include "store/sqlite.h"

typedef struct st_fixture_t {
    char root[64];
    char state_dir[128];
    mg_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    if (temp_tree_make(f->root, sizeof(f->root), "store") != 0)
        return -1;
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/state/nested", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    mg_store_close(f->store);
    temp_tree_remove(f->root);
    free(f);
    return 0;
}

static mg_store_t *open_ok(fixture_t *f)
{
    mg_error_t err = {{0}};
    if (mg_store_open(f->state_dir, MG_STORE_CREATE, &f->store, &err) != 0)
        fail_msg("%s", err.message);
    return f->store;
}

/* Runs one statement on the database file through a second connection, as another process would. */
static void sql(fixture_t *f, const char *statement)
{
    char path[256];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/mcpgate.db", f->state_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, statement, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", statement, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_open_creates_private_files(void **state)
{
    fixture_t *f = *state;
    char path[256];
    open_ok(f);
    assert_int_equal(mode_of(f->state_dir), 0700);
    snprintf(path, sizeof(path), "%s/mcpgate.db", f->state_dir);
    assert_int_equal(mode_of(path), 0600);
    assert_string_equal(mg_store_path(f->store), path);
    snprintf(path, sizeof(path), "%s/mcpgate.db-wal", f->state_dir);
    assert_int_equal(mode_of(path), 0600); /* SQLite copies the database's mode */
    /* Opening again (migrations already applied) works and keeps the data. */
    mg_store_close(f->store);
    open_ok(f);
    uint64_t generation = 99;
    assert_int_equal(mg_store_key_generation(f->store, &generation, NULL), 0);
    assert_int_equal(generation, 0);
}

static void test_open_existing_creates_nothing(void **state)
{
    fixture_t *f = *state;
    mg_error_t err = {{0}};
    mg_store_t *store = (mg_store_t *)(uintptr_t)1;
    assert_int_equal(mg_store_open(f->state_dir, MG_STORE_EXISTING, &store, &err), MG_STORE_NOT_FOUND);
    assert_null(store);
    assert_int_equal(access(f->state_dir, F_OK), -1);
    open_ok(f);
    mg_store_close(f->store);
    assert_int_equal(mg_store_open(f->state_dir, MG_STORE_EXISTING, &f->store, &err), 0);
}

static void test_open_refusals(void **state)
{
    fixture_t *f = *state;
    mg_error_t err = {{0}};
    mg_store_t *store;
    char path[256], expected[1024];
    open_ok(f);
    mg_store_close(f->store);
    f->store = NULL;
    snprintf(path, sizeof(path), "%s/mcpgate.db", f->state_dir);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(mg_store_open(f->state_dir, MG_STORE_CREATE, &store, &err), -1);
    snprintf(expected, sizeof(expected),
             "%s: mode 0644 lets group or others read the key hashes and sealed secrets; run chmod 600 %s", path, path);
    assert_string_equal(err.message, expected);
    assert_int_equal(chmod(path, 0600), 0);

    sql(f, "PRAGMA user_version = 7");
    assert_int_equal(mg_store_open(f->state_dir, MG_STORE_CREATE, &store, &err), -1);
    snprintf(expected, sizeof(expected), "%s: schema version 7 was written by a newer mcpgate (this one knows up to 3)",
             path);
    assert_string_equal(err.message, expected);

    snprintf(path, sizeof(path), "%s/file", f->root);
    fclose(fopen(path, "w"));
    assert_int_equal(mg_store_open(path, MG_STORE_CREATE, &store, &err), -1);
    snprintf(expected, sizeof(expected), "state_dir \"%s\" is not a directory", path);
    assert_string_equal(err.message, expected);
}

static mg_store_key_t key_row(const char *id, const char *name)
{
    mg_store_key_t row = {.id = (char *)id, .name = (char *)name, .roles = "[\"developer\"]", .created_at = 1000};
    memset(row.hash, id[0], sizeof(row.hash));
    return row;
}

static void test_keys_insert_list_generation(void **state)
{
    fixture_t *f = *state;
    mg_error_t err = {{0}};
    mg_store_key_t *rows;
    size_t count;
    uint64_t generation;
    open_ok(f);
    mg_store_key_t b = key_row("bbbbbbbbbbbbbbbb", "ci-bot"), a = key_row("aaaaaaaaaaaaaaaa", "deploy");
    b.expires_at = 5000;
    assert_int_equal(mg_store_key_insert(f->store, &b, &err), 0);
    assert_int_equal(mg_store_key_insert(f->store, &a, &err), 0);
    assert_int_equal(mg_store_key_list(f->store, &rows, &count, &generation, &err), 0);
    assert_int_equal(count, 2);
    assert_int_equal(generation, 2);
    assert_string_equal(rows[0].id, "aaaaaaaaaaaaaaaa"); /* ordered by id */
    assert_string_equal(rows[1].name, "ci-bot");
    assert_string_equal(rows[1].roles, "[\"developer\"]");
    assert_int_equal(rows[1].hash[31], 'b');
    assert_int_equal(rows[1].created_at, 1000);
    assert_int_equal(rows[1].expires_at, 5000);
    assert_int_equal(rows[1].last_used_at, 0);
    assert_int_equal(rows[1].revoked_at, 0);
    mg_store_key_rows_free(rows, count);

    /* A second active key of the same name, or a taken id, is refused by the database. */
    mg_store_key_t twin = key_row("cccccccccccccccc", "ci-bot");
    assert_int_equal(mg_store_key_insert(f->store, &twin, &err), MG_STORE_CONFLICT);
    assert_string_equal(err.message, "a key named \"ci-bot\" exists and is not revoked");
    mg_store_key_t same_id = key_row("aaaaaaaaaaaaaaaa", "other");
    assert_int_equal(mg_store_key_insert(f->store, &same_id, &err), MG_STORE_CONFLICT);
    assert_string_equal(err.message, "a key with id aaaaaaaaaaaaaaaa exists");
    assert_int_equal(mg_store_key_generation(f->store, &generation, &err), 0);
    assert_int_equal(generation, 2);

    /* A change made by another connection (another process) shows in the generation. */
    sql(f, "DELETE FROM api_keys WHERE id = 'aaaaaaaaaaaaaaaa'");
    assert_int_equal(mg_store_key_generation(f->store, &generation, &err), 0);
    assert_int_equal(generation, 3);
}

static void test_keys_revoke(void **state)
{
    fixture_t *f = *state;
    mg_error_t err = {{0}};
    char *id = NULL;
    uint64_t before, after;
    open_ok(f);
    mg_store_key_t a = key_row("aaaaaaaaaaaaaaaa", "ci-bot"), b = key_row("bbbbbbbbbbbbbbbb", "other");
    assert_int_equal(mg_store_key_insert(f->store, &a, &err), 0);
    assert_int_equal(mg_store_key_insert(f->store, &b, &err), 0);
    assert_int_equal(mg_store_key_generation(f->store, &before, &err), 0);

    assert_int_equal(mg_store_key_revoke(f->store, "ci-bot", 2000, &id, &err), 0);
    assert_string_equal(id, "aaaaaaaaaaaaaaaa");
    free(id);
    assert_int_equal(mg_store_key_generation(f->store, &after, &err), 0);
    assert_int_equal(after, before + 1);
    assert_int_equal(mg_store_key_revoke(f->store, "ci-bot", 2001, NULL, &err), MG_STORE_CONFLICT);
    assert_string_equal(err.message, "key \"ci-bot\" (id aaaaaaaaaaaaaaaa) is already revoked");
    assert_int_equal(mg_store_key_revoke(f->store, "aaaaaaaaaaaaaaaa", 2001, NULL, &err), MG_STORE_CONFLICT);
    assert_int_equal(mg_store_key_revoke(f->store, "nobody", 2001, NULL, &err), MG_STORE_NOT_FOUND);
    assert_string_equal(err.message, "no key is named \"nobody\" or has that id");

    /* The name is free again; revoking by id works too. */
    mg_store_key_t again = key_row("cccccccccccccccc", "ci-bot");
    assert_int_equal(mg_store_key_insert(f->store, &again, &err), 0);
    assert_int_equal(mg_store_key_revoke(f->store, "bbbbbbbbbbbbbbbb", 2002, &id, &err), 0);
    assert_string_equal(id, "bbbbbbbbbbbbbbbb");
    free(id);

    /* With an active and a revoked key of one name, the name means the active one. */
    assert_int_equal(mg_store_key_revoke(f->store, "ci-bot", 2003, &id, &err), 0);
    assert_string_equal(id, "cccccccccccccccc");
    free(id);

    mg_store_key_t *rows;
    size_t count;
    uint64_t generation;
    assert_int_equal(mg_store_key_list(f->store, &rows, &count, &generation, &err), 0);
    assert_int_equal(count, 3);
    assert_int_equal(rows[0].revoked_at, 2000);
    assert_int_equal(rows[1].revoked_at, 2002);
    assert_int_equal(rows[2].revoked_at, 2003);
    mg_store_key_rows_free(rows, count);
}

static void test_keys_touch(void **state)
{
    fixture_t *f = *state;
    mg_error_t err = {{0}};
    uint64_t before, after;
    open_ok(f);
    mg_store_key_t a = key_row("aaaaaaaaaaaaaaaa", "a"), b = key_row("bbbbbbbbbbbbbbbb", "b");
    assert_int_equal(mg_store_key_insert(f->store, &a, &err), 0);
    assert_int_equal(mg_store_key_insert(f->store, &b, &err), 0);
    assert_int_equal(mg_store_key_generation(f->store, &before, &err), 0);
    mg_store_touch_t touches[] = {{"aaaaaaaaaaaaaaaa", 300}, {"bbbbbbbbbbbbbbbb", 200}, {"gone000000000000", 100}};
    assert_int_equal(mg_store_key_touch(f->store, touches, 3, &err), 0);
    mg_store_touch_t older[] = {{"aaaaaaaaaaaaaaaa", 250}}; /* never lowered */
    assert_int_equal(mg_store_key_touch(f->store, older, 1, &err), 0);
    assert_int_equal(mg_store_key_touch(f->store, NULL, 0, &err), 0);
    assert_int_equal(mg_store_key_generation(f->store, &after, &err), 0);
    assert_int_equal(after, before); /* bookkeeping does not make snapshots stale */

    mg_store_key_t *rows;
    size_t count;
    uint64_t generation;
    assert_int_equal(mg_store_key_list(f->store, &rows, &count, &generation, &err), 0);
    assert_int_equal(rows[0].last_used_at, 300);
    assert_int_equal(rows[1].last_used_at, 200);
    mg_store_key_rows_free(rows, count);
}

static mg_store_secret_t secret_row(const char *name, const char *payload, int64_t updated_at)
{
    static unsigned char nonce[24] = {1, 2, 3};
    return (mg_store_secret_t){.name = (char *)name,
                               .nonce = nonce,
                               .nonce_len = sizeof(nonce),
                               .ciphertext = (unsigned char *)payload,
                               .ciphertext_len = strlen(payload),
                               .updated_at = updated_at};
}

static void test_secrets_rows(void **state)
{
    fixture_t *f = *state;
    mg_error_t err = {{0}};
    char check[MG_STORE_KEY_CHECK_LEN + 1];
    const char *key_one = "11111111111111111111111111111111", *key_two = "22222222222222222222222222222222";
    open_ok(f);
    assert_int_equal(mg_store_secret_key_check(f->store, check, &err), MG_STORE_NOT_FOUND);

    mg_store_secret_t b = secret_row("b", "sealed-b", 10), a = secret_row("a", "sealed-a", 20);
    assert_int_equal(mg_store_secret_put(f->store, &b, key_one, &err), 0);
    assert_int_equal(mg_store_secret_put(f->store, &a, key_one, &err), 0);
    assert_int_equal(mg_store_secret_key_check(f->store, check, &err), 0);
    assert_string_equal(check, key_one);

    /* Another key cannot add to a store sealed under the first. */
    mg_store_secret_t c = secret_row("c", "sealed-c", 30);
    assert_int_equal(mg_store_secret_put(f->store, &c, key_two, &err), MG_STORE_CONFLICT);

    mg_store_secret_t got;
    assert_int_equal(mg_store_secret_get(f->store, "a", &got, &err), 0);
    assert_string_equal(got.name, "a");
    assert_int_equal(got.nonce_len, 24);
    assert_int_equal(got.nonce[2], 3);
    assert_int_equal(got.ciphertext_len, 8);
    assert_memory_equal(got.ciphertext, "sealed-a", 8);
    assert_int_equal(got.updated_at, 20);
    mg_store_secret_dispose(&got);
    assert_int_equal(mg_store_secret_get(f->store, "c", &got, &err), MG_STORE_NOT_FOUND);

    /* Replacing keeps one row. */
    mg_store_secret_t a2 = secret_row("a", "sealed-a2", 40);
    assert_int_equal(mg_store_secret_put(f->store, &a2, key_one, &err), 0);
    mg_store_secret_t *rows;
    size_t count;
    assert_int_equal(mg_store_secret_list(f->store, &rows, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].name, "a");
    assert_int_equal(rows[0].updated_at, 40);
    assert_null(rows[0].ciphertext); /* lists never carry values */
    assert_string_equal(rows[1].name, "b");
    mg_store_secret_rows_free(rows, count);

    assert_int_equal(mg_store_secret_delete(f->store, "a", &err), 0);
    assert_int_equal(mg_store_secret_delete(f->store, "a", &err), MG_STORE_NOT_FOUND);
    assert_string_equal(err.message, "no secret named \"a\"");
    assert_int_equal(mg_store_secret_delete(f->store, "b", &err), 0);
    /* Empty again: a new key may start the store afresh. */
    assert_int_equal(mg_store_secret_put(f->store, &c, key_two, &err), 0);
    assert_int_equal(mg_store_secret_key_check(f->store, check, &err), 0);
    assert_string_equal(check, key_two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_private_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_existing_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_insert_list_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_touch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
