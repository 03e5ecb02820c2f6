/*
 * test_json_write.c - the JSON writer (core/json_write.h) against jansson's own json_dumps: escapes,
 * numbers, key order, the flags the gateway uses, every failure (invalid UTF-8 in a value, a cycle, a
 * scalar root), jansson's quirk with a key that is not UTF-8, and edits written over a shared value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"

/* The writer's text for `value` under `flags` equals json_dumps' (both NULL, or the same bytes). */
static void assert_same(const json_t *value, size_t flags)
{
    char *expected = json_dumps(value, flags);
    size_t len = 0;
    char *got = mg_json_write_text(value, flags, &len);
    if (expected == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, expected);
    assert_int_equal(len, strlen(expected));
    free(expected);
    free(got);
}

static void assert_same_all_flags(const json_t *value)
{
    static const size_t flag_sets[] = {
        JSON_COMPACT,
        JSON_COMPACT | JSON_ENCODE_ANY,
        JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY,
        JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
        JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_ENCODE_ANY,
        JSON_COMPACT | JSON_REAL_PRECISION(4) | JSON_ENCODE_ANY,
        JSON_INDENT(2) | JSON_SORT_KEYS, /* not a layout of its own: jansson writes it */
    };
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++)
        assert_same(value, flag_sets[i]);
}

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (value == NULL)
        fail_msg("test JSON does not parse: %s", error.text);
    return value;
}

static void test_same_as_jansson(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}",
        "{\"s\":\"quote \\\" backslash \\\\ slash / controls \\b\\f\\n\\r\\t \\u0001 \\u001f del \\u007f\"}",
        "[\"caf\\u00e9\",\"\\u4e2d\\u6587\",\"\\ud83d\\ude00\",\"\\u2028\\u2029\",\"nul \\u0000 inside\"]",
        "{\"caf\\u00e9\":1,\"\\ud83d\\ude00\":2,\"\":3}",
        "[0,-1,9223372036854775807,-9223372036854775808,42]",
        "[0.0,-0.0,1.5,0.1,100.0,1e20,1e21,1.7976931348623157e308,5e-324,2.5e-8,123456.789,1e-05,-3e+100]",
        "{\"z\":1,\"a\":{\"y\":[],\"b\":{}},\"aa\":null,\"A\":false,\"ab\":true}",
        "[[[[[[[[[[[[[[[[{\"deep\":[[[]]]}]]]]]]]]]]]]]]]]",
        "{}",
        "[]",
        "\"a bare string: a root only JSON_ENCODE_ANY writes\"",
        "12",
        "null",
        "{\"long\":\"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\\n\"}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *value = parse(texts[i]);
        assert_same_all_flags(value);
        json_decref(value);
    }
}

static void test_insertion_order_after_changes(void **state)
{
    (void)state;
    json_t *object = parse("{\"a\":1,\"b\":2,\"c\":3}");
    json_object_set_new(object, "b", json_string("replaced in place"));
    json_object_del(object, "a");
    json_object_set_new(object, "a", json_string("appended"));
    assert_same_all_flags(object);
    json_decref(object);
}

/* A string value that is not UTF-8 fails the text; a key that is not UTF-8 only cuts its own output,
 * as jansson does (it ignores the key's failure). */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {"\xff", "ab\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "x\"y\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *value = json_pack("[o]", json_stringn_nocheck(bad[i], strlen(bad[i])));
        assert_same_all_flags(value);
        assert_null(mg_json_write_text(value, JSON_COMPACT, NULL));
        json_decref(value);

        json_t *object = json_object();
        json_object_setn_new_nocheck(object, bad[i], strlen(bad[i]), json_integer(1));
        json_object_set_new(object, "after", json_true());
        assert_same_all_flags(object);
        char *text = mg_json_write_text(object, JSON_COMPACT, NULL);
        assert_non_null(text); /* written, with the key cut */
        free(text);
        json_decref(object);
    }
}

static void test_roots_and_failures_leave_the_buffer(void **state)
{
    (void)state;
    mg_bytes_t out = {0};
    mg_bytes_append(&out, "kept", 4);
    json_t *scalar = json_integer(7);
    assert_int_equal(mg_json_write(&out, scalar, JSON_COMPACT), -1); /* not an object or array */
    assert_int_equal(out.len, 4);
    assert_int_equal(mg_json_write(&out, scalar, JSON_COMPACT | JSON_ENCODE_ANY), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.base, "kept7", 5);
    json_t *bad = json_pack("{s:[i,o]}", "a", 1, json_stringn_nocheck("\xff", 1));
    assert_int_equal(mg_json_write(&out, bad, JSON_COMPACT), -1);
    assert_int_equal(out.len, 5);
    assert_int_equal(mg_json_write(&out, NULL, JSON_COMPACT | JSON_ENCODE_ANY), -1);
    assert_int_equal(out.len, 5);
    json_decref(bad);
    json_decref(scalar);
    mg_bytes_dispose(&out);
}

/* jansson refuses a value that contains itself; so must the writer, at any depth of the loop. */
static void test_cycles(void **state)
{
    (void)state;
    for (int length = 1; length <= 9; length++) {
        json_t *head = json_array(), *tail = head;
        for (int i = 1; i < length; i++) {
            json_t *next = i % 2 ? json_object() : json_array();
            if (json_is_array(tail))
                json_array_append_new(tail, next);
            else
                json_object_set_new(tail, "next", next);
            tail = next;
        }
        json_t *root = json_pack("{s:[i,O]}", "prefix", 1, head);
        if (length > 1) { /* close the loop: the last container holds the first (jansson refuses x in x) */
            if (json_is_array(tail))
                json_array_append(tail, head);
            else
                json_object_set(tail, "back", head);
            assert_null(json_dumps(root, JSON_COMPACT));
            assert_null(mg_json_write_text(root, JSON_COMPACT, NULL));
            assert_null(mg_json_write_text(root, JSON_COMPACT | JSON_SORT_KEYS, NULL));
            /* break it again so that the values can be freed */
            if (json_is_array(tail))
                json_array_remove(tail, json_array_size(tail) - 1);
            else
                json_object_del(tail, "back");
        }
        assert_same_all_flags(root); /* a value seen twice, but not inside itself, is fine */
        json_t *twice = json_pack("[O,O]", head, head);
        assert_same_all_flags(twice);
        json_decref(twice);
        json_decref(root);
        json_decref(head);
    }
}

/* ---- edits ---- */

static void assert_edited(const char *text, const mg_json_edit_t *edits, size_t edits_len, const char *expected)
{
    json_t *object = parse(text);
    char *before = json_dumps(object, JSON_COMPACT);
    mg_bytes_t out = {0};
    assert_int_equal(mg_json_write_edited(&out, object, edits, edits_len, JSON_COMPACT), 0);
    assert_int_equal(out.len, strlen(expected));
    assert_memory_equal(out.base, expected, out.len);
    char *after = json_dumps(object, JSON_COMPACT);
    assert_string_equal(before, after); /* the value itself is untouched */
    free(before);
    free(after);
    mg_bytes_dispose(&out);
    json_decref(object);
}

static void test_edits(void **state)
{
    (void)state;
    json_t *id = json_string("client-7"), *complete = json_string("complete"), *zero = json_integer(0);
    mg_json_edit_t id_edit = {"id", id, NULL, 0, false, NULL};
    assert_edited("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", &id_edit, 1,
                  "{\"jsonrpc\":\"2.0\",\"id\":\"client-7\",\"result\":{}}");
    /* a new member is appended; NULL leaves one out; an absent one left out changes nothing */
    mg_json_edit_t edits[] = {
        {"new", zero, NULL, 0, false, NULL}, {"b", NULL, NULL, 0, false, NULL}, {"absent", NULL, NULL, 0, false, NULL}};
    assert_edited("{\"a\":1,\"b\":2,\"c\":3}", edits, 3, "{\"a\":1,\"c\":3,\"new\":0}");
    mg_json_edit_t all_out[] = {{"a", NULL, NULL, 0, false, NULL}};
    assert_edited("{\"a\":1}", all_out, 1, "{}");
    /* keep_existing: set when absent (appended), else the object's own member stays as it is */
    mg_json_edit_t if_absent[] = {{"a", zero, NULL, 0, true, NULL}, {"z", zero, NULL, 0, true, NULL}};
    assert_edited("{\"a\":\"mine\",\"b\":2}", if_absent, 2, "{\"a\":\"mine\",\"b\":2,\"z\":0}");
    /* a member's text is written as is, in the place its key and value would take */
    mg_json_edit_t as_text[] = {{"a", zero, NULL, 0, false, "\"a\":0"}, {"z", zero, NULL, 0, true, "\"z\":0"}};
    assert_edited("{\"a\":\"mine\",\"b\":2}", as_text, 2, "{\"a\":0,\"b\":2,\"z\":0}");
    assert_edited("{\"z\":1}", as_text, 2, "{\"z\":1,\"a\":0}");
    /* edits inside a member: a modern result completed under the client's id */
    json_t *response = parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":[],\"ttlMs\":-1}}");
    mg_json_edit_t inner[] = {{"resultType", complete, NULL, 0, false, NULL}, {"ttlMs", zero, NULL, 0, false, NULL}};
    mg_json_edit_t outer[] = {{"id", id, NULL, 0, false, NULL},
                              {"result", json_object_get(response, "result"), inner, 2, false, NULL}};
    mg_bytes_t out = {0};
    assert_int_equal(mg_json_write_edited(&out, response, outer, 2, JSON_COMPACT), 0);
    static const char expected[] =
        "{\"jsonrpc\":\"2.0\",\"id\":\"client-7\",\"result\":{\"content\":[],\"ttlMs\":0,\"resultType\":\"complete\"}}";
    assert_int_equal(out.len, sizeof(expected) - 1);
    assert_memory_equal(out.base, expected, out.len);
    /* the same text jansson writes after the same changes made for real */
    json_t *copy = json_deep_copy(response);
    json_object_set(copy, "id", id);
    json_object_set(json_object_get(copy, "result"), "resultType", complete);
    json_object_set(json_object_get(copy, "result"), "ttlMs", zero);
    char *real = json_dumps(copy, JSON_COMPACT);
    assert_string_equal(real, expected);
    free(real);
    json_decref(copy);
    /* a failure leaves the buffer as it was; SORT_KEYS and scalars are not edited */
    size_t before = out.len;
    json_t *bad = json_stringn_nocheck("\xff", 1);
    mg_json_edit_t bad_edit = {"id", bad, NULL, 0, false, NULL};
    assert_int_equal(mg_json_write_edited(&out, response, &bad_edit, 1, JSON_COMPACT), -1);
    assert_int_equal(mg_json_write_edited(&out, response, &id_edit, 1, JSON_COMPACT | JSON_SORT_KEYS), -1);
    assert_int_equal(mg_json_write_edited(&out, id, &id_edit, 1, JSON_COMPACT), -1);
    assert_int_equal(out.len, before);
    json_decref(bad);
    mg_bytes_dispose(&out);
    json_decref(response);
    json_decref(id);
    json_decref(complete);
    json_decref(zero);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_jansson), cmocka_unit_test(test_insertion_order_after_changes),
        cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_roots_and_failures_leave_the_buffer),
        cmocka_unit_test(test_cycles),          cmocka_unit_test(test_edits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
