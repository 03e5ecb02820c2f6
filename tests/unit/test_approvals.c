/*
 * test_approvals.c - human approval (src/config/approvals.c, src/store/sqlite_approvals.c, src/guard/approvals.c):
 * the `approvals` section and its errors; ids (shape, uniqueness); the argument digest (key order never
 * matters, a value always does); rule matching (first rule wins, the policy's globs); and the store's
 * single-use rows: a decision acts once, a deadline or the gateway's close ends a row for good, and the
 * binding (principal, server, tool, digest) is what the gateway reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_load.h"
#include "guard/approvals.h"
#include "store/sqlite.h"
#include "temp_tree.h"

#define SERVERS                                                                                                        \
    "servers:\n"                                                                                                       \
    "  - {name: fs, url: 'https://fs.internal/mcp'}\n"                                                                 \
    "  - {name: mail, url: 'https://mail.internal/mcp'}\n"

static void test_config_loads(void **state)
{
    (void)state;
    mg_config_t *config = load_ok(SERVERS "approvals:\n"
                                          "  - tools: ['fs/write_*', '*/delete_*']\n"
                                          "    approver: admin\n"
                                          "    timeout_s: 30\n"
                                          "  - tools: ['mail/*']\n"
                                          "    approver: user\n");
    assert_int_equal(config->approvals.rules_len, 2);
    const mg_config_approval_t *first = &config->approvals.rules[0];
    assert_int_equal(first->tools_len, 2);
    assert_string_equal(first->tools[0].server, "fs");
    assert_string_equal(first->tools[0].name, "write_*");
    assert_string_equal(first->tools[1].server, "*");
    assert_int_equal(first->approver, MG_APPROVER_ADMIN);
    assert_int_equal(first->timeout_s, 30);
    assert_string_equal(first->path, "approvals[0]");
    assert_int_equal(config->approvals.rules[1].timeout_s, 300); /* the default */
    assert_int_equal(config->approvals.rules[1].approver, MG_APPROVER_USER);

    assert_int_equal(mg_approvals_match(&config->approvals, "fs", "write_file"), 0);
    assert_int_equal(mg_approvals_match(&config->approvals, "mail", "delete_all"), 0); /* first rule wins */
    assert_int_equal(mg_approvals_match(&config->approvals, "mail", "send"), 1);
    assert_int_equal(mg_approvals_match(&config->approvals, "fs", "read_file"), -1);
    assert_int_equal(mg_approvals_match(&config->approvals, "fsx", "write_file"), -1);
    mg_config_release(config);

    config = load_ok(SERVERS);
    assert_int_equal(config->approvals.rules_len, 0);
    mg_config_release(config);
    config = load_ok(SERVERS "approvals: []\n");
    assert_int_equal(config->approvals.rules_len, 0);
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error(SERVERS "approvals: {tools: ['fs/*']}\n", "gw.yaml:4:12: approvals: expected a list, got a mapping");
    expect_error(SERVERS "approvals:\n  - tools: ['fs/*']\n    aprover: admin\n",
                 "gw.yaml:6:5: approvals[0]: unknown key \"aprover\" (did you mean \"approver\"?)");
    expect_error(SERVERS "approvals:\n  - tools: ['fs/*']\n    approver: root\n",
                 "gw.yaml:6:15: approvals[0].approver: \"root\" must be admin or user");
    expect_error(SERVERS "approvals:\n  - tools: [write]\n",
                 "gw.yaml:5:13: approvals[0].tools[0]: \"write\" must be <server>/<name> (globs with '*'), or \"*\" "
                 "for everything");
    expect_error(SERVERS "approvals:\n  - tools: ['Fs/x']\n",
                 "gw.yaml:5:13: approvals[0].tools[0]: \"Fs/x\": the server part (before the first '/') must match "
                 "[a-z0-9-*]+");
    expect_error(SERVERS "approvals:\n  - tools: ['wiki/x']\n",
                 "gw.yaml:5:13: approvals[0].tools[0]: \"wiki/x\": no server named \"wiki\" in servers");
    expect_error(SERVERS "approvals:\n  - tools: []\n",
                 "gw.yaml:5:12: approvals[0].tools: must list at least one pattern");
    expect_error(SERVERS "approvals:\n  - approver: admin\n",
                 "gw.yaml:5:5: approvals[0]: needs tools: the calls it holds");
    expect_error(SERVERS "approvals:\n  - tools: ['fs/*']\n    timeout_s: 0\n",
                 "gw.yaml:6:16: approvals[0].timeout_s: 0 is out of range 1..86400");
}

static void test_ids(void **state)
{
    (void)state;
    char a[MG_APPROVALS_ID_LEN + 1], b[MG_APPROVALS_ID_LEN + 1];
    mg_approvals_new_id(a);
    mg_approvals_new_id(b);
    assert_int_equal(strlen(a), MG_APPROVALS_ID_LEN);
    assert_true(mg_approvals_id_valid(a));
    assert_string_not_equal(a, b);
    assert_memory_equal(a, "apr_", 4);
    assert_false(mg_approvals_id_valid("apr_"));
    assert_false(mg_approvals_id_valid("apr_0123456789abcdef0123456789ABCDEF"));
    assert_false(mg_approvals_id_valid("xyz_0123456789abcdef0123456789abcdef"));
    assert_false(mg_approvals_id_valid("apr_0123456789abcdef0123456789abcdef0"));
    assert_true(mg_approvals_id_valid("apr_0123456789abcdef0123456789abcdef"));
}

static void digest_of(const char *json, char hash[MG_APPROVALS_HASH_HEX], char **canonical)
{
    json_t *value = json != NULL ? json_loads(json, 0, NULL) : NULL;
    assert_int_equal(mg_approvals_digest(value, hash, canonical), 0);
    json_decref(value);
}

static void test_digest(void **state)
{
    (void)state;
    char a[MG_APPROVALS_HASH_HEX], b[MG_APPROVALS_HASH_HEX];
    char *text;
    digest_of("{\"path\": \"/etc\", \"mode\": {\"b\": 1, \"a\": [2, 3]}}", a, &text);
    assert_string_equal(text, "{\"mode\":{\"a\":[2,3],\"b\":1},\"path\":\"/etc\"}");
    free(text);
    digest_of("{\"mode\":{\"a\":[2,3],\"b\":1},\"path\":\"/etc\"}", b, NULL);
    assert_string_equal(a, b);
    /* sha256 of the canonical text, as anyone can recompute it */
    digest_of("{}", a, NULL);
    assert_string_equal(a, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    digest_of(NULL, b, NULL); /* no arguments: as {} */
    assert_string_equal(a, b);
    digest_of("{\"path\": \"/etc\", \"mode\": {\"b\": 1, \"a\": [3, 2]}}", b, NULL);
    digest_of("{\"path\": \"/etc\", \"mode\": {\"b\": 1, \"a\": [2, 3]}}", a, NULL);
    assert_string_not_equal(a, b);
}

typedef struct {
    char root[128];
    mg_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    mg_error_t err;
    if (f == NULL || temp_tree_make(f->root, sizeof(f->root), "approvals") != 0 ||
        mg_store_open(f->root, MG_STORE_CREATE, &f->store, &err) != 0)
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

static void insert(mg_store_t *store, const char *id, int64_t now, int64_t timeout_s)
{
    mg_store_approval_t row = {.id = (char *)id,
                               .principal = "api_key:alice",
                               .server = "fs",
                               .tool = "write_file",
                               .arguments_sha256 = "ab12",
                               .arguments = "{\"path\":\"/tmp/x\"}",
                               .rule = "approvals[0]",
                               .approver = "admin",
                               .created_at = now,
                               .expires_at = now + timeout_s};
    mg_error_t err;
    if (mg_store_approval_insert(store, &row, &err) != 0)
        fail_msg("insert: %s", err.message);
}

static void test_store_single_use(void **state)
{
    fixture_t *f = *state;
    mg_error_t err;
    char prior[16];
    uint64_t g0, g1;
    const int64_t now = 1770000000;
    insert(f->store, "apr_00000000000000000000000000000001", now, 60);
    insert(f->store, "apr_00000000000000000000000000000002", now, 60);
    assert_int_equal(mg_store_approval_generation(f->store, &g0, &err), 0);

    /* a second process opens the same database: the CLI */
    mg_store_t *cli;
    assert_int_equal(mg_store_open(f->root, MG_STORE_EXISTING, &cli, &err), 0);
    assert_int_equal(mg_store_approval_decide(cli, "apr_00000000000000000000000000000001", "approved", "operator:ops",
                                              now + 5, prior, &err),
                     0);
    assert_string_equal(prior, "pending");
    assert_int_equal(mg_store_approval_generation(f->store, &g1, &err), 0);
    assert_true(g1 > g0); /* the gateway's watcher wakes */

    /* once only, whatever the second decision */
    assert_int_equal(mg_store_approval_decide(cli, "apr_00000000000000000000000000000001", "approved", "operator:ops",
                                              now + 6, prior, &err),
                     MG_STORE_CONFLICT);
    assert_string_equal(err.message, "approval apr_00000000000000000000000000000001 is approved already");
    assert_int_equal(mg_store_approval_decide(cli, "apr_00000000000000000000000000000001", "denied", "operator:ops",
                                              now + 6, prior, &err),
                     MG_STORE_CONFLICT);
    assert_string_equal(prior, "approved");
    /* the gateway's expiry after the decision: the decision stands, and is returned with its binding */
    mg_store_approval_t decided;
    assert_int_equal(
        mg_store_approval_close(f->store, "apr_00000000000000000000000000000001", "expired", now + 60, &decided, &err),
        MG_STORE_CONFLICT);
    assert_string_equal(decided.state, "approved");
    assert_string_equal(decided.decided_by, "operator:ops");
    assert_string_equal(decided.principal, "api_key:alice");
    assert_string_equal(decided.server, "fs");
    assert_string_equal(decided.tool, "write_file");
    assert_string_equal(decided.arguments_sha256, "ab12");
    assert_string_equal(decided.arguments, ""); /* wiped once decided */
    mg_store_approval_dispose(&decided);

    /* the gateway closes the other one (its caller left): nobody can approve it afterwards */
    assert_int_equal(
        mg_store_approval_close(f->store, "apr_00000000000000000000000000000002", "abandoned", now + 7, NULL, &err), 0);
    assert_int_equal(mg_store_approval_decide(cli, "apr_00000000000000000000000000000002", "approved", "operator:ops",
                                              now + 8, prior, &err),
                     MG_STORE_CONFLICT);
    assert_string_equal(prior, "abandoned");

    /* unknown ids */
    assert_int_equal(mg_store_approval_decide(cli, "apr_ffffffffffffffffffffffffffffffff", "approved", "operator:ops",
                                              now, prior, &err),
                     MG_STORE_NOT_FOUND);
    mg_store_close(cli);
}

static void test_store_deadline(void **state)
{
    fixture_t *f = *state;
    mg_error_t err;
    char prior[16];
    const int64_t now = 1770000000;
    insert(f->store, "apr_00000000000000000000000000000003", now, 10);
    /* past its deadline a pending row cannot be approved, even before the gateway closed it */
    assert_int_equal(mg_store_approval_decide(f->store, "apr_00000000000000000000000000000003", "approved",
                                              "operator:ops", now + 10, prior, &err),
                     MG_STORE_CONFLICT);
    assert_string_equal(prior, "expired");
    assert_string_equal(err.message,
                        "approval apr_00000000000000000000000000000003 ran out of time (it expired at its deadline)");
    mg_store_approval_t row;
    assert_int_equal(mg_store_approval_get(f->store, "apr_00000000000000000000000000000003", &row, &err), 0);
    assert_string_equal(row.state, "pending");
    assert_string_equal(row.arguments, "{\"path\":\"/tmp/x\"}");
    mg_store_approval_dispose(&row);
    assert_int_equal(
        mg_store_approval_close(f->store, "apr_00000000000000000000000000000003", "expired", now + 10, NULL, &err), 0);

    /* ids are unique */
    mg_store_approval_t dup = {.id = "apr_00000000000000000000000000000003", .created_at = now, .expires_at = now};
    assert_int_equal(mg_store_approval_insert(f->store, &dup, &err), MG_STORE_CONFLICT);

    /* list: newest first, within the window; prune keeps pending rows */
    insert(f->store, "apr_00000000000000000000000000000004", now + 100, 60);
    mg_store_approval_t *rows;
    size_t count;
    assert_int_equal(mg_store_approval_list(f->store, 0, &rows, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].id, "apr_00000000000000000000000000000004");
    assert_string_equal(rows[1].state, "expired");
    mg_store_approval_rows_free(rows, count);
    assert_int_equal(mg_store_approval_list(f->store, now + 50, &rows, &count, &err), 0);
    assert_int_equal(count, 1);
    mg_store_approval_rows_free(rows, count);
    size_t deleted;
    assert_int_equal(mg_store_approval_prune(f->store, now + 1000, &deleted, &err), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(mg_store_approval_list(f->store, 0, &rows, &count, &err), 0);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].state, "pending");
    mg_store_approval_rows_free(rows, count);
}

/* approver: user: a decision made where the call was is inserted decided; an id is decided once */
static void test_store_record(void **state)
{
    fixture_t *f = *state;
    mg_error_t err;
    char prior[16];
    const int64_t now = 1770000000;
    mg_store_approval_t row = {.id = "apr_00000000000000000000000000000005",
                               .state = "approved",
                               .principal = "api_key:alice",
                               .server = "fs",
                               .tool = "write_file",
                               .arguments_sha256 = "ab12",
                               .arguments = "",
                               .rule = "approvals[1]",
                               .approver = "user",
                               .created_at = now,
                               .expires_at = now,
                               .decided_at = now + 1,
                               .decided_by = "user"};
    assert_int_equal(mg_store_approval_record(f->store, &row, &err), 0);
    mg_store_approval_t read;
    assert_int_equal(mg_store_approval_get(f->store, row.id, &read, &err), 0);
    assert_string_equal(read.state, "approved");
    assert_string_equal(read.approver, "user");
    assert_string_equal(read.decided_by, "user");
    assert_int_equal(read.decided_at, now + 1);
    mg_store_approval_dispose(&read);
    /* a replay: the same id again, whatever it says */
    row.state = "denied";
    assert_int_equal(mg_store_approval_record(f->store, &row, &err), MG_STORE_CONFLICT);
    assert_string_equal(err.message, "approval apr_00000000000000000000000000000005 exists already");
    /* an operator cannot decide it afterwards */
    assert_int_equal(mg_store_approval_decide(f->store, row.id, "denied", "operator:ops", now + 2, prior, &err),
                     MG_STORE_CONFLICT);
    assert_string_equal(prior, "approved");
    /* a recorded decision is never pending */
    row.id = "apr_00000000000000000000000000000006";
    row.state = "pending";
    assert_int_equal(mg_store_approval_record(f->store, &row, &err), -1);
}

/* The user's answer: only an explicit approve: true approves. */
static void test_read_answer(void **state)
{
    (void)state;
    struct {
        const char *json;
        mg_approval_answer_t expected;
    } cases[] = {
        {"{\"action\":\"accept\",\"content\":{\"approve\":true}}", MG_APPROVAL_ANSWER_APPROVED},
        {"{\"action\":\"accept\",\"content\":{\"approve\":false}}", MG_APPROVAL_ANSWER_DECLINED},
        {"{\"action\":\"accept\",\"content\":{\"approve\":\"true\"}}", MG_APPROVAL_ANSWER_DECLINED},
        {"{\"action\":\"accept\",\"content\":{\"approve\":1}}", MG_APPROVAL_ANSWER_DECLINED},
        {"{\"action\":\"accept\"}", MG_APPROVAL_ANSWER_DECLINED},
        {"{\"action\":\"accept\",\"content\":[true]}", MG_APPROVAL_ANSWER_DECLINED},
        {"{\"action\":\"decline\",\"content\":{\"approve\":true}}", MG_APPROVAL_ANSWER_DECLINED},
        {"{\"action\":\"cancel\"}", MG_APPROVAL_ANSWER_CANCELLED},
        {"{\"action\":\"ACCEPT\",\"content\":{\"approve\":true}}", MG_APPROVAL_ANSWER_INVALID},
        {"{\"content\":{\"approve\":true}}", MG_APPROVAL_ANSWER_INVALID},
        {"[]", MG_APPROVAL_ANSWER_INVALID},
        {"\"accept\"", MG_APPROVAL_ANSWER_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *value = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(value);
        if (mg_approvals_read_answer(value) != cases[i].expected)
            fail_msg("%s: expected %d", cases[i].json, cases[i].expected);
        json_decref(value);
    }
    assert_int_equal(mg_approvals_read_answer(NULL), MG_APPROVAL_ANSWER_INVALID);
}

/* The question names the call, cuts long arguments at a character boundary, and asks one boolean. */
static void test_question(void **state)
{
    (void)state;
    json_t *params = mg_approvals_question("apr_0123456789abcdef0123456789abcdef", "fs", "write_file",
                                           "{\"path\":\"/etc/passwd\"}", 300);
    const char *message = json_string_value(json_object_get(params, "message"));
    assert_non_null(message);
    assert_non_null(strstr(message, "tool \"write_file\" on server \"fs\""));
    assert_non_null(strstr(message, "Arguments: {\"path\":\"/etc/passwd\"}"));
    assert_non_null(strstr(message, "approval apr_0123456789abcdef0123456789abcdef"));
    assert_non_null(strstr(message, "300s"));
    json_t *schema = json_object_get(params, "requestedSchema");
    assert_string_equal(json_string_value(json_object_get(schema, "type")), "object");
    json_t *approve = json_object_get(json_object_get(schema, "properties"), "approve");
    assert_string_equal(json_string_value(json_object_get(approve, "type")), "boolean");
    assert_true(json_is_false(json_object_get(approve, "default")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(schema, "required"), 0)), "approve");
    json_decref(params);

    /* 2000 bytes of two-byte characters: cut within MG_APPROVALS_QUESTION_ARGUMENTS_MAX, never mid-character */
    char long_arguments[2001];
    for (size_t i = 0; i < 2000; i += 2)
        memcpy(long_arguments + i, "\xc3\xa9", 2);
    long_arguments[2000] = '\0';
    params = mg_approvals_question("apr_0123456789abcdef0123456789abcdef", "fs", "write_file", long_arguments, 5);
    message = json_string_value(json_object_get(params, "message")); /* jansson refuses invalid UTF-8 */
    assert_non_null(message);
    const char *shown = strstr(message, "Arguments: ") + strlen("Arguments: ");
    const char *end = strstr(shown, "...\n");
    assert_non_null(end);
    assert_true((size_t)(end - shown) + 3 <= MG_APPROVALS_QUESTION_ARGUMENTS_MAX);
    json_decref(params);

    char short_text[] = "abcdef";
    mg_approvals_shorten(short_text, 6);
    assert_string_equal(short_text, "abcdef");
    mg_approvals_shorten(short_text, 5);
    assert_string_equal(short_text, "ab...");
}

/* A question's id tail is taken only as the gateway made it. */
static void test_parse_tail(void **state)
{
    (void)state;
    size_t worker = 99;
    char id[MG_APPROVALS_ID_LEN + 1];
    assert_true(mg_approvals_parse_tail("3:apr_0123456789abcdef0123456789abcdef", 4, &worker, id));
    assert_int_equal(worker, 3);
    assert_string_equal(id, "apr_0123456789abcdef0123456789abcdef");
    const char *refused[] = {
        "4:apr_0123456789abcdef0123456789abcdef",       /* no such worker */
        ":apr_0123456789abcdef0123456789abcdef",        /* no worker */
        "-1:apr_0123456789abcdef0123456789abcdef",      /* not a number */
        "1:apr_0123456789abcdef0123456789abcde",        /* short id */
        "1:apr_0123456789abcdef0123456789abcdef0",      /* long id */
        "1:apr_0123456789ABCDEF0123456789abcdef",       /* not lower-case hex */
        "1 apr_0123456789abcdef0123456789abcdef",       /* no ':' */
        "1234567:apr_0123456789abcdef0123456789abcdef", /* absurd worker */
        "",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (mg_approvals_parse_tail(refused[i], 4, &worker, id))
            fail_msg("accepted \"%s\"", refused[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_loads),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_digest),
        cmocka_unit_test_setup_teardown(test_store_single_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_record, setup, teardown),
        cmocka_unit_test(test_read_answer),
        cmocka_unit_test(test_question),
        cmocka_unit_test(test_parse_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
