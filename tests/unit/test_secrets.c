/*
 * test_secrets.c - the master key, the encrypted store, ${secret:NAME} resolution and its use by
 * the configuration loader.
 *
 * Each test has a fresh directory holding a state_dir ("state"), a secrets.dir ("files") and key
 * files, and starts with MCPGATE_MASTER_KEY and MCPGATE_MASTER_KEY_FILE unset. Error tests pin the
 * whole message: saying where a secret was looked for, and never what it is, is the contract.
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
#include <sodium.h>
#include <sqlite3.h>

#include "auth/secrets.h"
#include "config/config.h"

/* 32 bytes 0x00..0x1f written three ways, and another key. */
#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_BASE64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_BASE64URL "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define OTHER_KEY_HEX "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

typedef struct st_fixture_t {
    char root[64];
    char state_dir[128];
    char files[128];
    mg_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    if (temp_tree_make(f->root, sizeof(f->root), "secrets") != 0)
        return -1;
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->root);
    snprintf(f->files, sizeof(f->files), "%s/files", f->root);
    if (mkdir(f->files, 0700) != 0)
        return -1;
    unsetenv("MCPGATE_MASTER_KEY");
    unsetenv("MCPGATE_MASTER_KEY_FILE");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    mg_store_close(f->store);
    temp_tree_remove(f->root);
    unsetenv("MCPGATE_MASTER_KEY");
    unsetenv("MCPGATE_MASTER_KEY_FILE");
    free(f);
    return 0;
}

static mg_store_t *store_of(fixture_t *f)
{
    if (f->store == NULL && mg_store_open(f->state_dir, MG_STORE_CREATE, &f->store, NULL) != 0)
        fail_msg("cannot open the store");
    return f->store;
}

/* Writes `len` bytes to <dir>/<name> with `mode`; returns the path in `path`. */
static void write_file(const char *dir, const char *name, const char *content, size_t len, mode_t mode, char *path,
                       size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void key_from_hex(const char *hex, mg_secrets_key_t *key)
{
    setenv("MCPGATE_MASTER_KEY", hex, 1);
    mg_error_t err = {{0}};
    if (mg_secrets_key_load(NULL, key, &err) != 0)
        fail_msg("%s", err.message);
    unsetenv("MCPGATE_MASTER_KEY");
}

static void put(fixture_t *f, const mg_secrets_key_t *key, const char *name, const char *value)
{
    mg_error_t err = {{0}};
    if (mg_secrets_put(store_of(f), key, name, value, strlen(value), 1000, &err) != 0)
        fail_msg("%s", err.message);
}

/* Runs SQL on the database through its own connection, as an attacker with the file would. */
static void tamper(fixture_t *f, const char *statement)
{
    char path[256];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/mcpgate.db", f->state_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, statement, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", statement, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Flips one bit of the last byte of a secret's ciphertext (the tag, or the value for 0 tag bytes). */
static void flip_last_bit(fixture_t *f, const char *name)
{
    char path[256];
    unsigned char blob[1024];
    sqlite3 *db;
    sqlite3_stmt *stmt;
    snprintf(path, sizeof(path), "%s/mcpgate.db", f->state_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT ciphertext FROM secrets WHERE name = ?", -1, &stmt, NULL), 0);
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int len = sqlite3_column_bytes(stmt, 0);
    assert_true(len > 0 && len <= (int)sizeof(blob));
    memcpy(blob, sqlite3_column_blob(stmt, 0), (size_t)len);
    sqlite3_finalize(stmt);
    blob[len - 1] ^= 1;
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE secrets SET ciphertext = ? WHERE name = ?", -1, &stmt, NULL), 0);
    sqlite3_bind_blob(stmt, 1, blob, len, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void test_names(void **state)
{
    (void)state;
    char variable[200];
    assert_true(mg_secrets_name_valid("db-password", 11));
    assert_true(mg_secrets_name_valid("A.b_C-9", 7));
    assert_true(mg_secrets_name_valid("...", 3));
    assert_false(mg_secrets_name_valid("", 0));
    assert_false(mg_secrets_name_valid(".", 1));
    assert_false(mg_secrets_name_valid("..", 2));
    assert_false(mg_secrets_name_valid("a/b", 3));
    assert_false(mg_secrets_name_valid("a b", 3));
    assert_false(mg_secrets_name_valid("a:b", 3));
    char long_name[130];
    memset(long_name, 'a', sizeof(long_name));
    assert_true(mg_secrets_name_valid(long_name, 128));
    assert_false(mg_secrets_name_valid(long_name, 129));
    mg_secrets_env_name("db-password.prod_x9", variable, sizeof(variable));
    assert_string_equal(variable, "MCPGATE_SECRET_DB_PASSWORD_PROD_X9");
}

static void expect_key(const char *config_file, const char *fingerprint)
{
    mg_secrets_key_t key;
    mg_error_t err = {{0}};
    char printed[17];
    if (mg_secrets_key_load(config_file, &key, &err) != 0)
        fail_msg("%s", err.message);
    mg_secrets_key_fingerprint(&key, printed);
    assert_string_equal(printed, fingerprint);
    mg_secrets_key_dispose(&key);
}

static void expect_key_error(const char *config_file, int rc, const char *message)
{
    mg_secrets_key_t key;
    mg_error_t err = {{0}};
    assert_int_equal(mg_secrets_key_load(config_file, &key, &err), rc);
    assert_string_equal(err.message, message);
}

static void test_master_key_sources(void **state)
{
    fixture_t *f = *state;
    char path[256], raw_path[256], open_path[256], fingerprint[17], message[600];
    mg_secrets_key_t key;

    expect_key_error(NULL, MG_SECRETS_NO_MASTER_KEY,
                     "no master key: set MCPGATE_MASTER_KEY or MCPGATE_MASTER_KEY_FILE, or secrets.master_key_file in "
                     "the configuration (`mcpgate secrets init-key FILE` makes one)");

    /* One key, every spelling: the same fingerprint. */
    key_from_hex(KEY_HEX, &key);
    mg_secrets_key_fingerprint(&key, fingerprint);
    assert_string_equal(key.source, "MCPGATE_MASTER_KEY");
    assert_int_equal(strlen(fingerprint), 16);
    for (const char *const *text = (const char *const[]){KEY_BASE64, KEY_BASE64URL, KEY_HEX "\n", NULL}; *text;
         text++) {
        setenv("MCPGATE_MASTER_KEY", *text, 1);
        expect_key(NULL, fingerprint);
    }
    setenv("MCPGATE_MASTER_KEY", "c2hvcnQ=", 1);
    expect_key_error(NULL, -1,
                     "MCPGATE_MASTER_KEY: expected 32 bytes written as 64 hex digits or base64, got 8 characters");
    setenv("MCPGATE_MASTER_KEY", "", 1); /* empty: as if unset */
    expect_key_error(NULL, MG_SECRETS_NO_MASTER_KEY,
                     "no master key: set MCPGATE_MASTER_KEY or MCPGATE_MASTER_KEY_FILE, "
                     "or secrets.master_key_file in the configuration (`mcpgate "
                     "secrets init-key FILE` makes one)");
    unsetenv("MCPGATE_MASTER_KEY");

    /* Files: base64 text with a newline, the raw bytes; through the variable or the configuration. */
    write_file(f->root, "key.txt", KEY_BASE64 "\n", strlen(KEY_BASE64) + 1, 0600, path, sizeof(path));
    write_file(f->root, "key.raw", (const char *)key.bytes, 32, 0400, raw_path, sizeof(raw_path));
    expect_key(path, fingerprint);
    expect_key(raw_path, fingerprint);
    setenv("MCPGATE_MASTER_KEY_FILE", raw_path, 1);
    expect_key("/nonexistent/ignored", fingerprint); /* the variable wins over the configuration */
    setenv("MCPGATE_MASTER_KEY", KEY_HEX, 1);
    expect_key_error(NULL, -1, "both MCPGATE_MASTER_KEY and MCPGATE_MASTER_KEY_FILE are set; set only one");
    unsetenv("MCPGATE_MASTER_KEY");
    unsetenv("MCPGATE_MASTER_KEY_FILE");

    write_file(f->root, "key.open", KEY_BASE64 "\n", strlen(KEY_BASE64) + 1, 0640, open_path, sizeof(open_path));
    snprintf(message, sizeof(message), "master key file %s: mode 0640 lets group or others read it; run chmod 600 %s",
             open_path, open_path);
    expect_key_error(open_path, -1, message);
    write_file(f->root, "key.bad", "not a key\n", 10, 0600, path, sizeof(path));
    snprintf(message, sizeof(message),
             "master key file %s: expected 32 bytes written as 64 hex digits or base64, or 32 raw bytes", path);
    expect_key_error(path, -1, message);
    snprintf(path, sizeof(path), "%s/missing.key", f->root);
    snprintf(message, sizeof(message),
             "master key file %s (secrets.master_key_file): cannot open: No such file or directory", path);
    expect_key_error(path, -1, message);
    mg_secrets_key_dispose(&key);
}

static void test_init_key(void **state)
{
    fixture_t *f = *state;
    char path[256], fingerprint[17], message[600];
    mg_secrets_key_t created;
    mg_error_t err = {{0}};
    struct stat st;
    snprintf(path, sizeof(path), "%s/master.key", f->root);
    assert_int_equal(mg_secrets_key_create(path, &created, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 45); /* 44 characters of base64 and a newline */
    mg_secrets_key_fingerprint(&created, fingerprint);
    expect_key(path, fingerprint);
    /* Never overwritten: what it sealed would be lost. */
    assert_int_equal(mg_secrets_key_create(path, &created, &err), -1);
    snprintf(message, sizeof(message), "%s exists; not overwriting a master key (what it sealed would be lost)", path);
    assert_string_equal(err.message, message);
    expect_key(path, fingerprint);
}

static void test_store_round_trip(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t key;
    mg_error_t err = {{0}};
    char *value;
    size_t len;
    key_from_hex(KEY_HEX, &key);
    put(f, &key, "db-password", "hunter2 ${NOT_EXPANDED} $$");
    put(f, &key, "pem", "-----BEGIN-----\nabc\n-----END-----");
    assert_int_equal(mg_secrets_get(store_of(f), &key, "db-password", &value, &len, &err), 0);
    assert_string_equal(value, "hunter2 ${NOT_EXPANDED} $$");
    assert_int_equal(len, strlen(value));
    mg_secrets_value_free(value, len);
    assert_int_equal(mg_secrets_get(store_of(f), &key, "pem", &value, &len, &err), 0);
    assert_string_equal(value, "-----BEGIN-----\nabc\n-----END-----");
    mg_secrets_value_free(value, len);
    put(f, &key, "db-password", "rotated");
    assert_int_equal(mg_secrets_get(store_of(f), &key, "db-password", &value, &len, &err), 0);
    assert_string_equal(value, "rotated");
    mg_secrets_value_free(value, len);
    assert_int_equal(mg_secrets_get(store_of(f), &key, "absent", &value, &len, &err), MG_STORE_NOT_FOUND);
    assert_null(value);

    /* The database never holds a value in clear. */
    char path[256];
    snprintf(path, sizeof(path), "%s/mcpgate.db", f->state_dir);
    mg_store_close(f->store);
    f->store = NULL;
    FILE *db = fopen(path, "rb");
    static char content[1 << 20];
    size_t got = fread(content, 1, sizeof(content), db);
    fclose(db);
    assert_null(memmem(content, got, "rotated", 7));
    assert_null(memmem(content, got, "hunter2", 7));
    mg_secrets_key_dispose(&key);
}

static void test_put_refusals(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t key;
    mg_error_t err = {{0}};
    key_from_hex(KEY_HEX, &key);
    assert_int_equal(mg_secrets_put(store_of(f), &key, "x", "", 0, 1, &err), -1);
    assert_string_equal(err.message, "secret x: the value is empty");
    assert_int_equal(mg_secrets_put(store_of(f), &key, "x", "a\0b", 3, 1, &err), -1);
    assert_string_equal(err.message, "secret x: the value contains a NUL byte");
    char *large = calloc(1, MG_SECRETS_VALUE_MAX + 2);
    memset(large, 'v', MG_SECRETS_VALUE_MAX + 1);
    assert_int_equal(mg_secrets_put(store_of(f), &key, "x", large, MG_SECRETS_VALUE_MAX + 1, 1, &err), -1);
    assert_string_equal(err.message, "secret x: the value is longer than 65536 bytes");
    assert_int_equal(mg_secrets_put(store_of(f), &key, "x", large, MG_SECRETS_VALUE_MAX, 1, &err), 0);
    free(large);
    assert_int_equal(mg_secrets_put(store_of(f), &key, "../etc", "v", 1, 1, &err), -1);
    assert_string_equal(err.message,
                        "secret name \"../etc\": 1 to 128 characters from A-Z a-z 0-9 _ . - (not . or ..)");
    mg_secrets_key_dispose(&key);
}

static void test_wrong_master_key(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t right, wrong;
    mg_error_t err = {{0}};
    char *value = NULL, message[700], right_print[17], wrong_print[17];
    size_t len;
    key_from_hex(KEY_HEX, &right);
    key_from_hex(OTHER_KEY_HEX, &wrong);
    mg_secrets_key_fingerprint(&right, right_print);
    mg_secrets_key_fingerprint(&wrong, wrong_print);
    put(f, &right, "token", "t0ken");

    assert_int_equal(mg_secrets_get(store_of(f), &wrong, "token", &value, &len, &err), -1);
    assert_null(value);
    snprintf(message, sizeof(message),
             "secret token: the master key from MCPGATE_MASTER_KEY (fingerprint %s) is not the one the secrets in "
             "%s/mcpgate.db are sealed with (fingerprint %s)",
             wrong_print, f->state_dir, right_print);
    assert_string_equal(err.message, message);

    /* Nor can it add a secret: one store, one key. */
    assert_int_equal(mg_secrets_put(store_of(f), &wrong, "other", "v", 1, 1, &err), MG_STORE_CONFLICT);
    snprintf(message, sizeof(message),
             "the master key from MCPGATE_MASTER_KEY (fingerprint %s) is not the one the secrets in %s/mcpgate.db are "
             "sealed with (fingerprint %s)",
             wrong_print, f->state_dir, right_print);
    assert_string_equal(err.message, message);
    mg_secrets_key_dispose(&right);
    mg_secrets_key_dispose(&wrong);
}

static void expect_tampered(fixture_t *f, const mg_secrets_key_t *key, const char *name)
{
    mg_error_t err = {{0}};
    char *value = NULL, message[600];
    size_t len;
    assert_int_equal(mg_secrets_get(store_of(f), key, name, &value, &len, &err), -1);
    assert_null(value);
    snprintf(message, sizeof(message),
             "secret %s: its sealed value in %s/mcpgate.db fails authentication under the right master key: the row "
             "was altered or copied from another secret; set it again",
             name, f->state_dir);
    assert_string_equal(err.message, message);
}

static void test_tampered_rows(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t key;
    key_from_hex(KEY_HEX, &key);
    put(f, &key, "a", "value-a");
    put(f, &key, "b", "value-b");
    put(f, &key, "c", "value-c");
    put(f, &key, "d", "value-d");
    /* One flipped bit, a changed nonce, a truncated ciphertext. */
    flip_last_bit(f, "a");
    tamper(f, "UPDATE secrets SET nonce = zeroblob(24) WHERE name = 'b'");
    tamper(f, "UPDATE secrets SET ciphertext = substr(ciphertext, 1, 10) WHERE name = 'c'");
    expect_tampered(f, &key, "a");
    expect_tampered(f, &key, "b");
    expect_tampered(f, &key, "c");

    /* Name binding: d's sealed value copied onto another name does not open as that secret. */
    tamper(f, "INSERT INTO secrets (name, nonce, ciphertext, updated_at) "
              "SELECT 'e', nonce, ciphertext, updated_at FROM secrets WHERE name = 'd'");
    tamper(f, "UPDATE secrets SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM secrets WHERE name = 'd') "
              "WHERE name = 'a'");
    expect_tampered(f, &key, "e");
    expect_tampered(f, &key, "a");
    mg_error_t err = {{0}};
    char *value;
    size_t len;
    assert_int_equal(mg_secrets_get(store_of(f), &key, "d", &value, &len, &err), 0);
    assert_string_equal(value, "value-d");
    mg_secrets_value_free(value, len);
    mg_secrets_key_dispose(&key);
}

static int resolve(fixture_t *f, const char *name, char **value, mg_error_t *err)
{
    size_t len;
    mg_secrets_resolver_t *resolver = mg_secrets_resolver_create(f->state_dir, f->files, NULL);
    assert_non_null(resolver);
    int rc = mg_secrets_resolve(resolver, name, value, &len, err);
    if (rc == 0)
        assert_int_equal(len, strlen(*value));
    mg_secrets_resolver_destroy(resolver);
    return rc;
}

static void expect_resolved(fixture_t *f, const char *name, const char *expected)
{
    mg_error_t err = {{0}};
    char *value = NULL;
    if (resolve(f, name, &value, &err) != 0)
        fail_msg("%s: %s", name, err.message);
    assert_string_equal(value, expected);
    mg_secrets_value_free(value, strlen(value));
}

static void expect_unresolved(fixture_t *f, const char *name, const char *message)
{
    mg_error_t err = {{0}};
    char *value = NULL;
    assert_int_equal(resolve(f, name, &value, &err), -1);
    assert_null(value);
    assert_string_equal(err.message, message);
}

static void test_resolution_order(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t key;
    char path[256], message[700];
    key_from_hex(KEY_HEX, &key);
    put(f, &key, "api-token", "from-store");
    setenv("MCPGATE_MASTER_KEY", KEY_HEX, 1);
    expect_resolved(f, "api-token", "from-store");
    write_file(f->files, "api-token", "from-file\n", 10, 0600, path, sizeof(path));
    expect_resolved(f, "api-token", "from-file");
    setenv("MCPGATE_SECRET_API_TOKEN", "from-env", 1);
    expect_resolved(f, "api-token", "from-env");
    setenv("MCPGATE_SECRET_API_TOKEN", "", 1); /* set to empty is set */
    expect_resolved(f, "api-token", "");
    unsetenv("MCPGATE_SECRET_API_TOKEN");

    /* Missing everywhere: every place is named, and a resolver never creates the database. */
    snprintf(message, sizeof(message),
             "secret nowhere not found (looked in: environment variable MCPGATE_SECRET_NOWHERE; file %s/nowhere; "
             "encrypted store %s/mcpgate.db)",
             f->files, f->state_dir);
    expect_unresolved(f, "nowhere", message);
    mg_store_close(f->store);
    f->store = NULL;
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/never-created", f->root);
    snprintf(message, sizeof(message),
             "secret nowhere not found (looked in: environment variable MCPGATE_SECRET_NOWHERE; file %s/nowhere; "
             "encrypted store %s/mcpgate.db, which does not exist)",
             f->files, f->state_dir);
    expect_unresolved(f, "nowhere", message);
    assert_int_equal(access(f->state_dir, F_OK), -1);
    mg_secrets_key_dispose(&key);
}

static void test_secret_files(void **state)
{
    fixture_t *f = *state;
    char path[256], message[600];
    write_file(f->files, "crlf", "v\r\n", 3, 0600, path, sizeof(path));
    expect_resolved(f, "crlf", "v");
    write_file(f->files, "two-newlines", "v\n\n", 3, 0600, path, sizeof(path));
    expect_resolved(f, "two-newlines", "v\n"); /* one newline, the editor's, is removed */
    write_file(f->files, "bare", "v", 1, 0600, path, sizeof(path));
    expect_resolved(f, "bare", "v");
    write_file(f->files, "group", "g\n", 2, 0440, path, sizeof(path));
    expect_resolved(f, "group", "g");
    write_file(f->files, "world", "w\n", 2, 0644, path, sizeof(path));
    snprintf(message, sizeof(message),
             "secret world: %s has mode 0644, which lets others read or write it; run chmod o-rw %s", path, path);
    expect_unresolved(f, "world", message);
    write_file(f->files, "nul", "a\0b", 3, 0600, path, sizeof(path));
    snprintf(message, sizeof(message), "secret nul: %s contains a NUL byte", path);
    expect_unresolved(f, "nul", message);
    snprintf(path, sizeof(path), "%s/dir", f->files);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(message, sizeof(message), "secret dir: %s is not a regular file", path);
    expect_unresolved(f, "dir", message);
    char *large = calloc(1, MG_SECRETS_VALUE_MAX + 2);
    memset(large, 'v', MG_SECRETS_VALUE_MAX);
    large[MG_SECRETS_VALUE_MAX] = '\n';
    write_file(f->files, "largest", large, MG_SECRETS_VALUE_MAX + 1, 0600, path, sizeof(path));
    mg_error_t err = {{0}};
    char *value = NULL;
    assert_int_equal(resolve(f, "largest", &value, &err), 0);
    assert_int_equal(strlen(value), MG_SECRETS_VALUE_MAX);
    free(value);
    large[MG_SECRETS_VALUE_MAX] = 'v';
    write_file(f->files, "too-large", large, MG_SECRETS_VALUE_MAX + 1, 0600, path, sizeof(path));
    snprintf(message, sizeof(message), "secret too-large: %s is longer than 65536 bytes", path);
    expect_unresolved(f, "too-large", message);
    free(large);
}

static void test_store_without_master_key(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t key;
    char message[700];
    key_from_hex(KEY_HEX, &key);
    put(f, &key, "stored", "v");
    snprintf(message, sizeof(message),
             "secret stored is in the encrypted store %s/mcpgate.db, but there is no master key: set "
             "MCPGATE_MASTER_KEY or MCPGATE_MASTER_KEY_FILE, or secrets.master_key_file in the configuration "
             "(`mcpgate secrets init-key FILE` makes one)",
             f->state_dir);
    expect_unresolved(f, "stored", message);
    setenv("MCPGATE_MASTER_KEY", "tooshort", 1);
    snprintf(message, sizeof(message),
             "secret stored is in the encrypted store %s/mcpgate.db, but the master key cannot be loaded: "
             "MCPGATE_MASTER_KEY: expected 32 bytes written as 64 hex digits or base64, got 8 characters",
             f->state_dir);
    expect_unresolved(f, "stored", message);
    mg_secrets_key_dispose(&key);
}

static mg_config_t *load_config(fixture_t *f, const char *yaml, mg_config_scope_t scope, mg_error_t *err)
{
    mg_config_t *config = NULL;
    char text[2048];
    snprintf(text, sizeof(text), "state_dir: state\nsecrets: {dir: files}\n%s", yaml);
    if (mg_config_load_string_scoped(text, strlen(text), "gw.yaml", f->root, scope, &config, err) != 0)
        return NULL;
    return config;
}

static void test_config_references(void **state)
{
    fixture_t *f = *state;
    mg_secrets_key_t key;
    mg_error_t err = {{0}};
    char path[256], expected[700];
    key_from_hex(KEY_HEX, &key);
    put(f, &key, "search-token", "st0re ${MG_TEST_SECRET_OTHER} $$");
    setenv("MCPGATE_MASTER_KEY", KEY_BASE64, 1);
    setenv("MG_TEST_SECRET_OTHER", "leak", 1);
    setenv("MCPGATE_SECRET_WORKERS", "3", 1);
    write_file(f->files, "ua", "agent/1\n", 8, 0600, path, sizeof(path));

    mg_config_t *config = load_config(f,
                                      "workers: ${secret:WORKERS}\n"
                                      "servers:\n"
                                      "  - name: search\n"
                                      "    url: http://127.0.0.1:1/mcp\n"
                                      "    headers: {Authorization: \"Bearer ${secret:search-token}\", "
                                      "User-Agent: \"${secret:ua} (${MG_TEST_SECRET_OTHER})\"}\n",
                                      MG_CONFIG_FULL, &err);
    if (config == NULL)
        fail_msg("%s", err.message);
    snprintf(expected, sizeof(expected), "%s/state", f->root);
    assert_string_equal(config->state_dir, expected);
    snprintf(expected, sizeof(expected), "%s/files", f->root);
    assert_string_equal(config->secrets.dir, expected);
    assert_null(config->secrets.master_key_file);
    assert_int_equal(config->workers, 3);
    /* A secret's value is never expanded again: its ${...} and $$ stay as they are. */
    assert_string_equal(config->servers[0].headers[0].value, "Bearer st0re ${MG_TEST_SECRET_OTHER} $$");
    assert_string_equal(config->servers[0].headers[1].value, "agent/1 (leak)");
    mg_config_release(config);

    /* Missing: the message has the location and where it looked, never a value. */
    assert_null(load_config(f, "servers:\n  - name: a\n    url: http://h/mcp\n    headers: {X: \"${secret:nope}\"}\n",
                            MG_CONFIG_FULL, &err));
    snprintf(expected, sizeof(expected),
             "gw.yaml:6:18: servers[0].headers.X: secret nope not found (looked in: environment variable "
             "MCPGATE_SECRET_NOPE; file %s/files/nope; encrypted store %s/state/mcpgate.db)",
             f->root, f->root);
    assert_string_equal(err.message, expected);

    /* A wrong master key is named as such. */
    setenv("MCPGATE_MASTER_KEY", OTHER_KEY_HEX, 1);
    assert_null(load_config(f, "log_level: \"${secret:search-token}\"\n", MG_CONFIG_FULL, &err));
    assert_non_null(strstr(err.message, "gw.yaml:3:12: log_level: secret search-token: the master key from "
                                        "MCPGATE_MASTER_KEY (fingerprint "));
    assert_null(strstr(err.message, "st0re"));

    /* Scope STATE_ONLY reads where the store is without resolving anything else. */
    config = load_config(f, "servers:\n  - name: a\n    url: \"${secret:nope}\"\n", MG_CONFIG_STATE_ONLY, &err);
    assert_non_null(config);
    snprintf(expected, sizeof(expected), "%s/state", f->root);
    assert_string_equal(config->state_dir, expected);
    assert_int_equal(config->servers_len, 0);
    mg_config_release(config);
    /* ... but still refuses unknown keys. */
    assert_null(load_config(f, "servres: []\n", MG_CONFIG_STATE_ONLY, &err));
    assert_string_equal(err.message, "gw.yaml:3:1: unknown key \"servres\" (did you mean \"servers\"?)");
    mg_secrets_key_dispose(&key);
    unsetenv("MCPGATE_SECRET_WORKERS");
}

static void expect_config_error(const char *yaml, const char *message)
{
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err), -1);
    assert_string_equal(err.message, message);
}

static void test_config_secrets_section(void **state)
{
    (void)state;
    mg_config_t *config = NULL;
    const char *yaml = "secrets:\n  dir: /run/secrets\n  master_key_file: keys/master.key\n";
    assert_int_equal(mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, NULL), 0);
    assert_string_equal(config->secrets.dir, "/run/secrets");
    assert_string_equal(config->secrets.master_key_file, "/etc/mcpgate/keys/master.key");
    mg_config_release(config);
    assert_int_equal(mg_config_load_string("", 0, "gw.yaml", "/etc/mcpgate", &config, NULL), 0);
    assert_null(config->secrets.dir);
    assert_null(config->secrets.master_key_file);
    mg_config_release(config);

    expect_config_error("secrets: {dri: x}\n", "gw.yaml:1:11: secrets: unknown key \"dri\" (did you mean \"dir\"?)");
    expect_config_error("secrets: [x]\n", "gw.yaml:1:10: secrets: expected a mapping, got a list");
    expect_config_error("secrets: {dir: \"\"}\n", "gw.yaml:1:16: secrets.dir: must not be empty");
    expect_config_error("secrets: {dir: \"${secret:x}\"}\n",
                        "gw.yaml:1:16: secrets.dir: secret references are not allowed here: state_dir and secrets are "
                        "read before any secret can be resolved");
    expect_config_error("secrets: {master_key_file: \"${secret:x}\"}\n",
                        "gw.yaml:1:28: secrets.master_key_file: secret references are not allowed here: state_dir and "
                        "secrets are read before any secret can be resolved");
    expect_config_error("log_level: \"${secret:a/b}\"\n",
                        "gw.yaml:1:12: log_level: invalid secret name \"a/b\" (expected 1 to 128 characters from "
                        "[A-Za-z0-9_.-])");
    expect_config_error("log_level: \"${secret:}\"\n",
                        "gw.yaml:1:12: log_level: invalid secret name \"\" (expected 1 to 128 characters from "
                        "[A-Za-z0-9_.-])");
    expect_config_error("log_level: \"${secret:..}\"\n",
                        "gw.yaml:1:12: log_level: invalid secret name \"..\" (expected 1 to 128 characters from "
                        "[A-Za-z0-9_.-])");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_master_key_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolution_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_without_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_references, setup, teardown),
        cmocka_unit_test(test_config_secrets_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
