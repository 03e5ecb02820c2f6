/*
 * test_audit_record.c - the exact bytes mg_audit_record_make puts in a queue entry: the record's
 * members, the span hashed for the arguments digest and the index columns.
 *
 * The record format is a contract (verifiers and the index read it back), so these tests compare
 * whole texts, not fragments, on the paths the serializer takes separately: a principal whose first
 * member is not the subject, escapes and invalid UTF-8, an integer request id, objects sorted on the
 * stack and objects too large for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit_internal.h"

typedef struct st_made_t {
    mg_audit_entry_t entry;
    char body[2048];
    char digest[1024];
} made_t;

static void make(const mg_audit_event_t *event, mg_audit_arguments_t mode, made_t *made)
{
    mg_error_t err;
    assert_int_equal(mg_audit_record_make(event, mode, &made->entry, &err), 0);
    assert_true(made->entry.body_len < sizeof(made->body));
    memcpy(made->body, made->entry.text, made->entry.body_len);
    made->body[made->entry.body_len] = '\0';
    made->digest[0] = '\0';
    if (made->entry.has_digest) {
        assert_true(made->entry.digest_len < sizeof(made->digest));
        memcpy(made->digest, made->entry.text + made->entry.digest_at, made->entry.digest_len);
        made->digest[made->entry.digest_len] = '\0';
    }
}

static void test_principal_escapes_and_integer_id(void **state)
{
    (void)state;
    json_t *id = json_integer(-42);
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.time_us = 1800000000000001;
    event.request_id = id;
    event.principal.key_id = "k1"; /* the first member present: no comma after the brace */
    event.principal.method = "api_key";
    event.client_address = "127.0.0.1";
    event.protocol_version = "2025-11-25";
    event.server = "fa\\st";
    event.item_kind = MG_AUDIT_ITEM_PROMPT;
    event.item_name = "tab\there\x01\x7f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc0\xaf \xed\xa0\x80";
    event.method = "prompts/get";
    event.decision = MG_AUDIT_DENY;
    event.reason = "\b\f\n\r\v\"";
    event.status = "error";
    event.total_us = 0;
    made_t made;
    make(&event, MG_AUDIT_ARGUMENTS_REDACTED, &made);
    assert_string_equal(made.body,
                        "\"time\":\"2027-01-15T08:00:00.000001Z\",\"request_id\":-42,"
                        "\"principal\":{\"key_id\":\"k1\",\"method\":\"api_key\"},\"client_address\":\"127.0.0.1\","
                        "\"protocol_version\":\"2025-11-25\",\"era\":\"legacy\",\"server\":\"fa\\\\st\","
                        "\"item_kind\":\"prompt\",\"item\":\"tab\\there\\u0001\x7f caf\xc3\xa9 \xe2\x82\xac "
                        "\xf0\x9f\x98\x80 \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
                        "\"method\":\"prompts/get\",\"decision\":\"deny\",\"reason\":\"\\b\\f\\n\\r\\u000B\\\"\","
                        "\"status\":\"error\",\"total_us\":0");
    assert_false(made.entry.has_digest);
    mg_audit_entry_dispose(&made.entry);
    json_decref(id);
}

static void test_no_principal(void **state)
{
    (void)state;
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.time_us = 1800000000000000;
    event.decision = (mg_audit_decision_t)99; /* out of range: written as an error */
    made_t made;
    make(&event, MG_AUDIT_ARGUMENTS_FULL, &made);
    assert_string_equal(made.body, "\"time\":\"2027-01-15T08:00:00.000000Z\",\"decision\":\"error\"");
    mg_audit_entry_dispose(&made.entry);
}

/* 20 members (more than are sorted on the stack) around one of 3 (sorted there). */
static void test_redacted_sorting(void **state)
{
    (void)state;
    json_t *arguments = json_object();
    static const char *const keys[] = {"t", "b", "s", "a", "r", "c", "q", "d", "p", "e",
                                       "o", "f", "n", "g", "m", "h", "l", "i", "k", "j"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        json_object_set_new(arguments, keys[i], json_integer((json_int_t)i));
    json_object_set_new(arguments, "nested", json_pack("{s:s,s:[s,f,b,n],s:i}", "zz", "x", "aa", "y", 0.5, 1, "mm", 3));
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.time_us = 1800000000000000;
    event.arguments = arguments;
    static const char canonical[] =
        "{\"a\":3,\"b\":1,\"c\":5,\"d\":7,\"e\":9,\"f\":11,\"g\":13,\"h\":15,\"i\":17,\"j\":19,\"k\":18,\"l\":16,"
        "\"m\":14,\"n\":12,\"nested\":{\"aa\":[\"y\",0.5,true,null],\"mm\":3,\"zz\":\"x\"},\"o\":10,\"p\":8,\"q\":6,"
        "\"r\":4,\"s\":2,\"t\":0}";
    made_t made;
    make(&event, MG_AUDIT_ARGUMENTS_REDACTED, &made);
    assert_string_equal(
        made.body,
        "\"time\":\"2027-01-15T08:00:00.000000Z\",\"decision\":\"allow\",\"arguments_mode\":\"redacted\","
        "\"arguments\":{\"a\":3,\"b\":1,\"c\":5,\"d\":7,\"e\":9,\"f\":11,\"g\":13,\"h\":15,\"i\":17,\"j\":19,\"k\":18,"
        "\"l\":16,\"m\":14,\"n\":12,\"nested\":{\"aa\":[\"[REDACTED]\",0.5,true,null],\"mm\":3,\"zz\":\"[REDACTED]\"},"
        "\"o\":10,\"p\":8,\"q\":6,\"r\":4,\"s\":2,\"t\":0}");
    assert_string_equal(made.digest, canonical);
    assert_int_equal(made.entry.digest_at, made.entry.body_len);
    mg_audit_entry_dispose(&made.entry);
    make(&event, MG_AUDIT_ARGUMENTS_FULL, &made); /* the digest's span is the member's value */
    assert_string_equal(made.digest, canonical);
    assert_true(made.entry.digest_at + made.entry.digest_len == made.entry.body_len);
    mg_audit_entry_dispose(&made.entry);
    json_decref(arguments);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_principal_escapes_and_integer_id),
        cmocka_unit_test(test_no_principal),
        cmocka_unit_test(test_redacted_sorting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
