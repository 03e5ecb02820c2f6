/*
 * test_apikeys.c - API keys: the key format, creation, the snapshot's verification and its
 * failures, last-used bookkeeping, stale detection, and the command line's argument parsers.
 *
 * Keys are made with mg_apikeys_create in a store under a fresh temporary state_dir, so every
 * test goes through the real format and the real hash.
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "temp_tree.h"

#include "auth/apikeys.h"

#define NOW 1800000000 /* 2027-01-15 */

typedef struct st_fixture_t {
    char root[64];
    mg_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    if (temp_tree_make(f->root, sizeof(f->root), "apikeys") != 0 ||
        mg_store_open(f->root, MG_STORE_CREATE, &f->store, NULL) != 0)
        return -1;
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

/* Creates a key; `roles` is a comma list. */
static void create(fixture_t *f, const char *name, const char *roles, int64_t expires_at, char key[MG_APIKEY_LEN + 1],
                   char id[MG_APIKEY_ID_LEN + 1])
{
    mg_error_t err = {{0}};
    json_t *list;
    if (mg_apikeys_parse_roles(roles, &list, &err) != 0 ||
        mg_apikeys_create(f->store, name, list, expires_at, NOW, key, id, &err) != 0)
        fail_msg("%s", err.message);
    json_decref(list);
}

static mg_apikeys_table_t *load(fixture_t *f)
{
    mg_error_t err = {{0}};
    mg_apikeys_table_t *table = mg_apikeys_load(f->store, &err);
    if (table == NULL)
        fail_msg("%s", err.message);
    return table;
}

static mg_apikeys_failure_t verify_failure(const mg_apikeys_table_t *table, const char *presented, size_t len,
                                           int64_t now)
{
    mg_principal_t *principal = (mg_principal_t *)(uintptr_t)1;
    mg_apikeys_failure_t failure = MG_APIKEYS_OK;
    assert_int_equal(mg_apikeys_verify(table, NULL, presented, len, now, &principal, &failure), -1);
    assert_null(principal);
    return failure;
}

static void expect_failure(const mg_apikeys_table_t *table, const char *presented, int64_t now,
                           mg_apikeys_failure_t expected)
{
    assert_string_equal(mg_apikeys_failure_name(verify_failure(table, presented, strlen(presented), now)),
                        mg_apikeys_failure_name(expected));
}

static mg_principal_t *verify_ok(const mg_apikeys_table_t *table, const char *presented, int64_t now)
{
    mg_principal_t *principal = NULL;
    mg_apikeys_failure_t failure = MG_APIKEYS_MALFORMED;
    if (mg_apikeys_verify(table, NULL, presented, strlen(presented), now, &principal, &failure) != 0)
        fail_msg("verify: %s", mg_apikeys_failure_name(failure));
    assert_int_equal(failure, MG_APIKEYS_OK);
    assert_non_null(principal);
    return principal;
}

static void test_key_format(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], parsed_id[MG_APIKEY_ID_LEN + 1];
    unsigned char secret[MG_APIKEY_SECRET_BYTES];
    create(f, "ci-bot", "developer", 0, key, id);
    assert_int_equal(strlen(key), 64);
    assert_memory_equal(key, "mgk_", 4);
    assert_memory_equal(key + 4, id, 16);
    assert_int_equal(key[20], '_');
    assert_int_equal(strspn(id, "0123456789abcdef"), 16);
    assert_int_equal(strspn(key + 21, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_int_equal(mg_apikeys_parse(key, strlen(key), parsed_id, secret), 0);
    assert_string_equal(parsed_id, id);

    /* Two keys never share an id or a secret. */
    char other[MG_APIKEY_LEN + 1], other_id[MG_APIKEY_ID_LEN + 1];
    create(f, "ci-bot-2", "developer", 0, other, other_id);
    assert_string_not_equal(id, other_id);
    assert_memory_not_equal(key + 21, other + 21, 43);
}

static void test_parse_malformed(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], bad[128];
    unsigned char secret[MG_APIKEY_SECRET_BYTES];
    create(f, "ci-bot", "developer", 0, key, id);
    mg_apikeys_table_t *table = load(f);

    struct {
        size_t at;
        char c;
    } edits[] = {{0, 'M'},  {3, '-'},  {4, 'A'},  {10, 'g'},  {20, '-'},
                 {30, '+'}, {30, '/'}, {63, '='}, {40, '\0'}, {30, '\xc4'}}; /* libsodium 1.0.18 decodes 0xc4 */
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(bad, key, sizeof(key));
        bad[edits[i].at] = edits[i].c;
        assert_int_equal(mg_apikeys_parse(bad, MG_APIKEY_LEN, id, secret), -1);
        assert_int_equal(verify_failure(table, bad, MG_APIKEY_LEN, NOW), MG_APIKEYS_MALFORMED);
    }
    /* The last character carries 2 bits beyond the 256: a set one is another spelling, refused. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    memcpy(bad, key, sizeof(key));
    size_t index = (size_t)(strchr(alphabet, key[63]) - alphabet);
    assert_int_equal(index & 3, 0);
    bad[63] = alphabet[index | 1];
    assert_int_equal(verify_failure(table, bad, MG_APIKEY_LEN, NOW), MG_APIKEYS_MALFORMED);

    /* Length: one short, one long (trailing newline), empty, a JWT, NULL. */
    assert_int_equal(verify_failure(table, key, MG_APIKEY_LEN - 1, NOW), MG_APIKEYS_MALFORMED);
    snprintf(bad, sizeof(bad), "%s\n", key);
    assert_int_equal(verify_failure(table, bad, MG_APIKEY_LEN + 1, NOW), MG_APIKEYS_MALFORMED);
    assert_int_equal(verify_failure(table, "", 0, NOW), MG_APIKEYS_MALFORMED);
    expect_failure(table, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", NOW, MG_APIKEYS_MALFORMED);
    assert_int_equal(verify_failure(table, NULL, 0, NOW), MG_APIKEYS_MALFORMED);
    /* Only `len` bytes are read: a valid key followed by junk in the buffer still verifies. */
    snprintf(bad, sizeof(bad), "%sjunk", key);
    mg_principal_t *principal;
    mg_apikeys_failure_t failure;
    assert_int_equal(mg_apikeys_verify(table, NULL, bad, MG_APIKEY_LEN, NOW, &principal, &failure), 0);
    mg_principal_release(principal);
    mg_apikeys_release(table);
}

static void test_verify_principal(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1];
    create(f, "ci-bot", "developer,viewer", NOW + 3600, key, id);
    mg_apikeys_table_t *table = load(f);
    assert_int_equal(mg_apikeys_count(table), 1);

    mg_principal_t *principal = verify_ok(table, key, NOW);
    assert_int_equal(principal->method, MG_AUTH_API_KEY);
    assert_string_equal(principal->name, "api_key:ci-bot");
    assert_string_equal(principal->subject, "ci-bot");
    assert_string_equal(principal->key_id, id);
    assert_null(principal->issuer);
    assert_int_equal(principal->expires_at, NOW + 3600);
    assert_int_equal(json_array_size(principal->roles), 2);
    assert_string_equal(json_string_value(json_array_get(principal->roles, 0)), "developer");
    assert_string_equal(json_string_value(json_array_get(principal->roles, 1)), "viewer");
    assert_int_equal(json_array_size(principal->scopes), 0);

    /* Each verification makes its own principal: nothing jansson counts is shared. */
    mg_principal_t *second = verify_ok(table, key, NOW);
    assert_ptr_not_equal(second, principal);
    assert_ptr_not_equal(second->roles, principal->roles);
    mg_principal_release(second);
    mg_principal_release(principal);

    /* The table outlives the store's changes and its own last reference is the one that frees. */
    mg_apikeys_table_t *shared = mg_apikeys_retain(table);
    mg_apikeys_release(table);
    mg_principal_release(verify_ok(shared, key, NOW));
    mg_apikeys_release(shared);
}

/* A thread's memo hands the same principal for the same key (so per-principal caches hit), still
 * checks the secret and the expiry every time, and keeps keys apart. */
static void test_verify_memo(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], other[MG_APIKEY_LEN + 1], other_id[MG_APIKEY_ID_LEN + 1];
    create(f, "ci-bot", "developer", NOW + 60, key, id);
    create(f, "ci-bot-2", "viewer", 0, other, other_id);
    mg_apikeys_table_t *table = load(f);
    mg_principal_t **memo = mg_apikeys_memo_create(table);
    assert_non_null(memo);
    mg_principal_t *first = NULL, *again = NULL, *second = NULL;
    mg_apikeys_failure_t failure;
    assert_int_equal(mg_apikeys_verify(table, memo, key, MG_APIKEY_LEN, NOW, &first, &failure), 0);
    assert_int_equal(mg_apikeys_verify(table, memo, key, MG_APIKEY_LEN, NOW + 1, &again, &failure), 0);
    assert_ptr_equal(first, again);
    assert_int_equal(mg_apikeys_verify(table, memo, other, MG_APIKEY_LEN, NOW, &second, &failure), 0);
    assert_ptr_not_equal(first, second);
    assert_string_equal(second->subject, "ci-bot-2");
    assert_string_equal(json_string_value(json_array_get(first->roles, 0)), "developer");

    char wrong[MG_APIKEY_LEN + 1];
    memcpy(wrong, key, sizeof(wrong));
    wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
    mg_principal_t *none = NULL;
    assert_int_equal(mg_apikeys_verify(table, memo, wrong, MG_APIKEY_LEN, NOW, &none, &failure), -1);
    assert_int_equal(failure, MG_APIKEYS_UNKNOWN);
    assert_int_equal(mg_apikeys_verify(table, memo, key, MG_APIKEY_LEN, NOW + 60, &none, &failure), -1);
    assert_int_equal(failure, MG_APIKEYS_EXPIRED);
    assert_null(none);

    mg_principal_release(first);
    mg_principal_release(again);
    mg_principal_release(second);
    mg_apikeys_memo_destroy(table, memo);
    mg_apikeys_release(table);
}

static void test_unknown(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], other[MG_APIKEY_LEN + 1];
    create(f, "ci-bot", "developer", 0, key, id);
    mg_apikeys_table_t *table = load(f);

    /* An id nobody has, with a well-formed secret. */
    memcpy(other, key, sizeof(key));
    other[4] = other[4] == '0' ? '1' : '0';
    expect_failure(table, other, NOW, MG_APIKEYS_UNKNOWN);
    /* The right id with a wrong secret, wrong in its first or in its last byte: the comparison is
     * crypto_verify_32 over the whole hash, so both take the same path and give the same answer. */
    memcpy(other, key, sizeof(key));
    other[21] = other[21] == 'A' ? 'B' : 'A';
    expect_failure(table, other, NOW, MG_APIKEYS_UNKNOWN);
    memcpy(other, key, sizeof(key));
    other[62] = other[62] == 'A' ? 'B' : 'A';
    expect_failure(table, other, NOW, MG_APIKEYS_UNKNOWN);
    mg_apikeys_release(table);

    /* An empty table knows no key. */
    mg_apikeys_table_t *empty = mg_apikeys_table_build(NULL, 0, 0, NULL);
    assert_non_null(empty);
    expect_failure(empty, key, NOW, MG_APIKEYS_UNKNOWN);
    mg_apikeys_release(empty);
}

static void test_revoked(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], wrong[MG_APIKEY_LEN + 1];
    mg_error_t err = {{0}};
    bool stale = true;
    create(f, "ci-bot", "developer", 0, key, id);
    mg_apikeys_table_t *before = load(f);
    assert_int_equal(mg_store_key_revoke(f->store, "ci-bot", NOW, NULL, &err), 0);

    /* The old snapshot still accepts the key until it is replaced; it knows it is stale. */
    mg_principal_release(verify_ok(before, key, NOW));
    assert_int_equal(mg_apikeys_is_stale(f->store, before, &stale, &err), 0);
    assert_true(stale);
    mg_apikeys_table_t *after = load(f);
    assert_int_equal(mg_apikeys_is_stale(f->store, after, &stale, &err), 0);
    assert_false(stale);
    expect_failure(after, key, NOW, MG_APIKEYS_REVOKED);
    /* Only the holder of the secret learns that the key was revoked. */
    memcpy(wrong, key, sizeof(key));
    wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
    expect_failure(after, wrong, NOW, MG_APIKEYS_UNKNOWN);
    mg_apikeys_release(before);
    mg_apikeys_release(after);
}

static void test_expired(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], wrong[MG_APIKEY_LEN + 1];
    create(f, "short", "developer", NOW + 60, key, id);
    mg_apikeys_table_t *table = load(f);
    mg_principal_release(verify_ok(table, key, NOW + 59));
    expect_failure(table, key, NOW + 60, MG_APIKEYS_EXPIRED);
    expect_failure(table, key, NOW + 86400, MG_APIKEYS_EXPIRED);
    memcpy(wrong, key, sizeof(key));
    wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
    expect_failure(table, wrong, NOW + 60, MG_APIKEYS_UNKNOWN);
    mg_apikeys_release(table);
}

static int64_t stored_last_used(fixture_t *f, const char *id)
{
    mg_store_key_t *rows;
    size_t count;
    uint64_t generation;
    int64_t found = -1;
    assert_int_equal(mg_store_key_list(f->store, &rows, &count, &generation, NULL), 0);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(rows[i].id, id) == 0)
            found = rows[i].last_used_at;
    }
    mg_store_key_rows_free(rows, count);
    return found;
}

static void test_last_used_flush(void **state)
{
    fixture_t *f = *state;
    char a[MG_APIKEY_LEN + 1], a_id[MG_APIKEY_ID_LEN + 1], b[MG_APIKEY_LEN + 1], b_id[MG_APIKEY_ID_LEN + 1];
    mg_error_t err = {{0}};
    size_t written = 99;
    bool stale = true;
    create(f, "a", "developer", 0, a, a_id);
    create(f, "b", "developer", 0, b, b_id);
    mg_apikeys_table_t *table = load(f);

    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, &written, &err), 0);
    assert_int_equal(written, 0);
    mg_principal_release(verify_ok(table, a, NOW + 10));
    mg_principal_release(verify_ok(table, a, NOW + 5)); /* an older time never lowers it */
    /* Verification alone writes nothing. */
    assert_int_equal(stored_last_used(f, a_id), 0);
    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, &written, &err), 0);
    assert_int_equal(written, 1);
    assert_int_equal(stored_last_used(f, a_id), NOW + 10);
    assert_int_equal(stored_last_used(f, b_id), 0);
    /* Nothing new, nothing written. */
    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, &written, &err), 0);
    assert_int_equal(written, 0);
    /* Failed verifications are not uses. */
    char wrong[MG_APIKEY_LEN + 1];
    memcpy(wrong, b, sizeof(wrong));
    wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
    expect_failure(table, wrong, NOW + 20, MG_APIKEYS_UNKNOWN);
    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, &written, &err), 0);
    assert_int_equal(written, 0);
    assert_int_equal(stored_last_used(f, b_id), 0);
    /* A reloaded table starts from what the store has. */
    mg_apikeys_release(table);
    table = load(f);
    mg_principal_release(verify_ok(table, a, NOW + 7));
    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, &written, &err), 0);
    assert_int_equal(written, 0);
    assert_int_equal(mg_apikeys_is_stale(f->store, table, &stale, &err), 0);
    assert_false(stale);
    mg_apikeys_release(table);
}

static void test_stale_detection(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1];
    mg_error_t err = {{0}};
    bool stale = true;
    mg_apikeys_table_t *table = load(f);
    assert_int_equal(mg_apikeys_count(table), 0);
    assert_int_equal(mg_apikeys_is_stale(f->store, table, &stale, &err), 0);
    assert_false(stale);
    create(f, "new", "developer", 0, key, id);
    assert_int_equal(mg_apikeys_is_stale(f->store, table, &stale, &err), 0);
    assert_true(stale);
    mg_apikeys_release(table);

    table = load(f);
    assert_int_equal(mg_apikeys_count(table), 1);
    mg_principal_release(verify_ok(table, key, NOW));
    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, NULL, &err), 0);
    assert_int_equal(mg_apikeys_is_stale(f->store, table, &stale, &err), 0);
    assert_false(stale); /* last-used bookkeeping is not a change of keys */
    mg_apikeys_release(table);
}

typedef struct st_worker_t {
    const mg_apikeys_table_t *table;
    const char *key;
    int64_t now;
    int ok;
} worker_t;

static void *verify_many(void *arg)
{
    worker_t *worker = arg;
    for (int i = 0; i < 2000; i++) {
        mg_principal_t *principal;
        mg_apikeys_failure_t failure;
        if (mg_apikeys_verify(worker->table, NULL, worker->key, MG_APIKEY_LEN, worker->now + i, &principal, &failure) ==
            0) {
            worker->ok++;
            mg_principal_release(principal);
        }
    }
    return NULL;
}

static void test_concurrent_verify(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1];
    create(f, "shared", "developer", 0, key, id);
    mg_apikeys_table_t *table = load(f);
    pthread_t threads[4];
    worker_t workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker_t){table, key, NOW + i * 10000, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, verify_many, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].ok, 2000);
    }
    size_t written;
    assert_int_equal(mg_apikeys_flush_last_used(f->store, table, &written, NULL), 0);
    assert_int_equal(written, 1);
    assert_int_equal(stored_last_used(f, id), NOW + 3 * 10000 + 1999); /* the latest use, whatever the order */
    mg_apikeys_release(table);
}

static void test_create_refusals(void **state)
{
    fixture_t *f = *state;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1];
    mg_error_t err = {{0}};
    json_t *roles = json_pack("[s]", "developer"), *none = json_array();
    create(f, "ci-bot", "developer", 0, key, id);
    assert_int_equal(mg_apikeys_create(f->store, "ci-bot", roles, 0, NOW, key, id, &err), MG_STORE_CONFLICT);
    assert_string_equal(err.message, "a key named \"ci-bot\" exists and is not revoked");
    assert_int_equal(mg_apikeys_create(f->store, "ci bot", roles, 0, NOW, key, id, &err), -1);
    assert_string_equal(err.message, "name \"ci bot\": 1 to 64 characters from A-Z a-z 0-9 . _ -");
    assert_int_equal(mg_apikeys_create(f->store, "x", none, 0, NOW, key, id, &err), -1);
    assert_string_equal(err.message, "a key needs at least one role");
    json_decref(roles);
    json_decref(none);
}

static void test_table_from_bad_rows(void **state)
{
    (void)state;
    mg_error_t err = {{0}};
    mg_store_key_t row = {.id = "aaaaaaaaaaaaaaaa", .name = "x", .roles = "{\"a\":1}"};
    assert_null(mg_apikeys_table_build(&row, 1, 0, &err));
    assert_string_equal(err.message, "key aaaaaaaaaaaaaaaa: its roles in the store are not a JSON array");
    row.roles = "[\"a\", 2]";
    assert_null(mg_apikeys_table_build(&row, 1, 0, &err));
    assert_string_equal(err.message, "key aaaaaaaaaaaaaaaa: its roles in the store are not all strings");
    row.id = "short";
    row.roles = "[]";
    assert_null(mg_apikeys_table_build(&row, 1, 0, &err));
    assert_string_equal(err.message, "key short: malformed id in the store");
}

static void expect_expiry(const char *text, int64_t expected)
{
    mg_error_t err = {{0}};
    int64_t expires_at = -1;
    if (mg_apikeys_parse_expiry(text, NOW, &expires_at, &err) != 0)
        fail_msg("%s: %s", text, err.message);
    assert_int_equal(expires_at, expected);
}

static void expect_expiry_error(const char *text, const char *message)
{
    mg_error_t err = {{0}};
    int64_t expires_at = -1;
    assert_int_equal(mg_apikeys_parse_expiry(text, NOW, &expires_at, &err), -1);
    assert_int_equal(expires_at, -1);
    if (message != NULL)
        assert_string_equal(err.message, message);
}

static void test_parse_expiry(void **state)
{
    (void)state;
    expect_expiry("45s", NOW + 45);
    expect_expiry("90m", NOW + 5400);
    expect_expiry("12h", NOW + 43200);
    expect_expiry("30d", NOW + 30 * 86400);
    expect_expiry("2w", NOW + 14 * 86400);
    expect_expiry("36500d", NOW + 36500LL * 86400);
    expect_expiry("2028-01-01", 1830297600);
    expect_expiry("2028-02-29T23:59:59Z", 1835481599); /* a leap day */
    expect_expiry_error("3x",
                        "--expires \"3x\": expected a duration (45s, 90m, 12h, 30d, 2w) or a UTC date (2027-01-01 "
                        "or 2027-01-01T12:00:00Z)");
    expect_expiry_error("2027-01-01", "--expires 2027-01-01: that is not in the future");
    expect_expiry_error("99999999999w", "--expires 99999999999w: longer than 100 years");
    expect_expiry_error("2200-01-01", "--expires 2200-01-01: more than 100 years from now");
    const char *bad[] = {"",
                         "d",
                         "0d",
                         "-5d",
                         "+5d",
                         "5",
                         " 5d",
                         "5d ",
                         "5D",
                         "1.5h",
                         "2027-02-29",
                         "2028-02-30",
                         "2028-13-01",
                         "2028-00-10",
                         "2028-1-01",
                         "28-01-01",
                         "2028/01/01",
                         "2028-01-01T24:00:00Z",
                         "2028-01-01T12:00:00",
                         "2028-01-01T12:00Z",
                         "2028-01-01 12:00:00Z",
                         "2028-01-01T12:00:60Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_expiry_error(bad[i], NULL);
}

static void test_parse_roles_and_names(void **state)
{
    (void)state;
    mg_error_t err = {{0}};
    json_t *roles;
    assert_int_equal(mg_apikeys_parse_roles("developer,viewer,ns:admin.x-1", &roles, &err), 0);
    assert_int_equal(json_array_size(roles), 3);
    assert_string_equal(json_string_value(json_array_get(roles, 2)), "ns:admin.x-1");
    json_decref(roles);
    const char *bad[] = {"",    ",",           "a,",
                         ",a",  "a,,b",        "a b",
                         "a;b", "r\xc3\xa9le", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mg_apikeys_parse_roles(bad[i], &roles, &err), -1);
        assert_null(roles);
    }
    assert_int_equal(mg_apikeys_parse_roles("a,b,a", &roles, &err), -1);
    assert_string_equal(err.message, "roles \"a,b,a\": \"a\" is listed twice");

    assert_true(mg_apikeys_name_valid("ci-bot.prod_2"));
    assert_true(mg_apikeys_name_valid("x"));
    assert_false(mg_apikeys_name_valid(""));
    assert_false(mg_apikeys_name_valid("ci bot"));
    assert_false(mg_apikeys_name_valid("ci/bot"));
    assert_false(mg_apikeys_name_valid("ci:bot"));
    assert_false(mg_apikeys_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */

    assert_string_equal(mg_apikeys_failure_name(MG_APIKEYS_MALFORMED), "malformed");
    assert_string_equal(mg_apikeys_failure_name(MG_APIKEYS_UNKNOWN), "unknown");
    assert_string_equal(mg_apikeys_failure_name(MG_APIKEYS_REVOKED), "revoked");
    assert_string_equal(mg_apikeys_failure_name(MG_APIKEYS_EXPIRED), "expired");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_principal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_memo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_used_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_detection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
        cmocka_unit_test(test_table_from_bad_rows),
        cmocka_unit_test(test_parse_expiry),
        cmocka_unit_test(test_parse_roles_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
