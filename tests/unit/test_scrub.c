/* test_scrub.c - upstream text scrubbing (src/guard/scrub.h): each category, sequences cut off by the end
 * of their string, OSC 8 link text kept, object keys refilled in order, clean strings left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "guard/scrub.h"

/* Scrubs `in` (explicit length: some cases hold NUL) and checks the result against `want`; returns the
 * counts. Also scrubs in place and checks that it gives the same, and that the result is clean. */
static mg_scrub_counts_t check_len(const char *in, size_t in_len, const char *want)
{
    mg_scrub_counts_t counts = {0};
    char *out = malloc(in_len + 1);
    size_t out_len = 0;
    bool changed = mg_scrub_text(in, in_len, out, &out_len, &counts);
    size_t want_len = strlen(want);
    if (!changed) {
        assert_true(in_len == want_len && memcmp(in, want, in_len) == 0);
        assert_true(mg_scrub_is_clean(in, in_len));
        assert_int_equal(counts.strings, 0);
    } else {
        out[out_len] = '\0';
        assert_int_equal(out_len, want_len);
        assert_memory_equal(out, want, want_len);
        assert_false(mg_scrub_is_clean(in, in_len));
        assert_true(mg_scrub_is_clean(out, out_len));
        assert_int_equal(counts.strings, 1);
        assert_true(mg_scrub_counts_total(&counts) > 0);
        /* in place */
        char *copy = malloc(in_len);
        memcpy(copy, in, in_len);
        size_t copy_len = 0;
        assert_true(mg_scrub_text(copy, in_len, copy, &copy_len, NULL));
        assert_int_equal(copy_len, want_len);
        assert_memory_equal(copy, want, want_len);
        free(copy);
    }
    free(out);
    return counts;
}

static mg_scrub_counts_t check(const char *in, const char *want)
{
    return check_len(in, strlen(in), want);
}

static void test_clean_text_is_left_alone(void **state)
{
    (void)state;
    check("", "");
    static const char printable[] = "plain ASCII, every printable byte: !\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~";
    check(printable, printable);
    check("tab\tnew line\ncarriage return\r\n", "tab\tnew line\ncarriage return\r\n");
    /* characters that begin with a suspect lead byte and stay: ’ “ ” — … € • (0xE2), non-breaking space and
     * © (0xC2), Arabic (0xD8), ￼ U+FFFC (0xEF), variation selector 17 U+E0100 (0xF3), emoji */
    check("it\xe2\x80\x99s \xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x80\x94 \xe2\x80\xa6 \xe2\x82\xac \xe2\x80\xa2",
          "it\xe2\x80\x99s \xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x80\x94 \xe2\x80\xa6 \xe2\x82\xac \xe2\x80\xa2");
    check("a\xc2\xa0\xc2\xa9 \xd8\xa7\xd9\x84 \xef\xbf\xbc \xf3\xa0\x84\x80 \xf0\x9f\x98\x80 \xe4\xb8\xad",
          "a\xc2\xa0\xc2\xa9 \xd8\xa7\xd9\x84 \xef\xbf\xbc \xf3\xa0\x84\x80 \xf0\x9f\x98\x80 \xe4\xb8\xad");
}

static void test_controls(void **state)
{
    (void)state;
    mg_scrub_counts_t c = check("a\x01"
                                "b\x07"
                                "c\x08"
                                "d\x7f"
                                "e",
                                "abcde");
    assert_int_equal(c.controls, 4);
    c = check_len("nul\0byte", 8, "nulbyte");
    assert_int_equal(c.controls, 1);
    /* C1 as UTF-8: NEL U+0085, ST U+009C alone, U+0080 */
    c = check("x\xc2\x85y\xc2\x9cz\xc2\x80", "xyz");
    assert_int_equal(c.controls, 3);
    assert_int_equal(c.escapes, 0);
}

static void test_csi(void **state)
{
    (void)state;
    mg_scrub_counts_t c = check("\x1b[31mred\x1b[0m and \x1b[1;4;38;2;255;0;0mbold\x1b[m", "red and bold");
    assert_int_equal(c.escapes, 4);
    check("clear\x1b[2J\x1b[H screen", "clear screen");
    check("private \x1b[?25l\x1b[?1049h modes", "private  modes");
    check("intermediate \x1b[1 q cursor", "intermediate  cursor");
    /* 8-bit CSI, U+009B */
    c = check("\xc2\x9b"
              "31mred\xc2\x9b"
              "0m",
              "red");
    assert_int_equal(c.escapes, 2);
    assert_int_equal(c.controls, 0);
    /* a CSI broken by a byte that cannot be in it ends there; what follows shows */
    check("\x1b[31\xe4\xb8\xad", "\xe4\xb8\xad");
}

static void test_osc_and_strings(void **state)
{
    (void)state;
    /* OSC 52 clipboard write, ended by BEL and by ST */
    mg_scrub_counts_t c = check("copy\x1b]52;c;cm0gLXJmIC8=\x07 done", "copy done");
    assert_int_equal(c.escapes, 1);
    check("title\x1b]0;pwned\x1b\\ here", "title here");
    check("8-bit\xc2\x9d"
          "0;title\xc2\x9c ok",
          "8-bit ok");
    /* DCS, SOS, PM, APC: up to ST only (BEL does not end them) */
    c = check("a\x1bPq#0;2;0;0;0\x07still dcs\x1b\\b\x1bXsos\x1b\\c\x1b^pm\x1b\\d\x1b_apc\x1b\\e", "abcde");
    assert_int_equal(c.escapes, 4);
    check("\xc2\x90"
          "dcs\xc2\x9c"
          "1\xc2\x98"
          "sos\xc2\x9c"
          "2\xc2\x9e"
          "pm\xc2\x9c"
          "3\xc2\x9f"
          "apc\xc2\x9c"
          "4",
          "1234");
    /* two-byte and nF sequences */
    c = check("\x1b"
              "c\x1b"
              "7\x1b"
              "8\x1b(B\x1b#8\x1b"
              "Dtext",
              "text");
    assert_int_equal(c.escapes, 6);
    /* ESC before something that cannot follow it: the ESC alone */
    check("\x1b\xe4\xb8\xad", "\xe4\xb8\xad");
    check("\x1b\x1b[1mx", "x");
}

static void test_osc8_keeps_link_text(void **state)
{
    (void)state;
    mg_scrub_counts_t c =
        check("see \x1b]8;;https://evil.example/steal?d=1\x1b\\the docs\x1b]8;;\x1b\\ please", "see the docs please");
    assert_int_equal(c.links, 2);
    assert_int_equal(c.escapes, 0);
    c = check("\x1b]8;id=x;http://a.example\x07link\x1b]8;;\x07", "link");
    assert_int_equal(c.links, 2);
}

static void test_cut_off_at_the_end(void **state)
{
    (void)state;
    check("text\x1b", "text");
    check("text\x1b[", "text");
    check("text\x1b[38;5", "text");
    check("text\x1b[1 ", "text");
    check("text\x1b(", "text");
    check("text\x1b]8;;http://x.example/ and the rest is gone", "text");
    check("text\x1b]52;c;abc\x1b", "text");
    check("text\x1bPdcs\x07not ended", "text");
    check("text\xc2\x9b", "text");
    check("text\xc2\x9d"
          "0;t",
          "text");
    check("text\xc2", "text");         /* a lead byte cut off */
    check("text\xe2\x80", "text");     /* a zero-width space cut off */
    check("text\xf3\xa0\x81", "text"); /* a tag cut off */
}

static void test_tags(void **state)
{
    (void)state;
    /* "ignore" in tag characters U+E0069 U+E0067 ..., with the cancel tag U+E007F */
    mg_scrub_counts_t c = check("Adds two numbers.\xf3\xa0\x81\xa9\xf3\xa0\x81\xa7\xf3\xa0\x81\xae\xf3\xa0\x81\xaf"
                                "\xf3\xa0\x81\xb2\xf3\xa0\x81\xa5\xf3\xa0\x81\xbf",
                                "Adds two numbers.");
    assert_int_equal(c.tags, 7);
    check("\xf3\xa0\x80\x81\xf3\xa0\x80\xa0x", "x"); /* U+E0001 LANGUAGE TAG, U+E0020 */
}

static void test_invisible_and_bidi(void **state)
{
    (void)state;
    /* U+200B U+200C U+200D U+2060 U+2062 U+2065 U+206F U+FEFF U+180E U+FFF9 U+FFFB */
    mg_scrub_counts_t c = check("p\xe2\x80\x8b"
                                "a\xe2\x80\x8c"
                                "s\xe2\x80\x8d"
                                "s\xe2\x81\xa0"
                                "w\xe2\x81\xa2"
                                "o\xe2\x81\xa5"
                                "r\xe2\x81\xaf"
                                "d\xef\xbb\xbf"
                                "!\xe1\xa0\x8e"
                                "?\xef\xbf\xb9"
                                "\xef\xbf\xbb",
                                "password!?");
    assert_int_equal(c.invisible, 11);
    /* ZWJ inside an emoji sequence goes too (documented): the family shows as its members */
    check("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", "\xf0\x9f\x91\xa8\xf0\x9f\x91\xa9");
    /* Trojan Source: RLO U+202E ... PDF U+202C, isolates U+2066-U+2069, marks U+200E U+200F U+061C */
    c = check("admin\xe2\x80\xae \xe2\x81\xa6// check\xe2\x81\xa9 \xe2\x81\xa7\xe2\x81\xa8\xe2\x80\xac"
              "\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xad\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c.",
              "admin // check .");
    assert_int_equal(c.bidi, 12);
}

static void test_invalid_utf8_is_survived(void **state)
{
    (void)state;
    /* after the first removal, bytes that do not begin a valid character go */
    mg_scrub_counts_t c = check("\x1b[0m\xff\xc0\x80\xed\xa0\x80\x80ok\xf4\x90\x80\x80", "ok");
    assert_int_equal(c.invalid, 11);
    /* a suspect lead byte that is not a character is itself a removal */
    check("a\xe2(b", "a(b");
}

static void test_json_values_and_keys(void **state)
{
    (void)state;
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"first\":{\"type\":\"string\"},"
                                "\"pa\\u200bth\":{\"type\":\"string\",\"enum\":[\"a\\u001b[31mb\",\"ok\"]},"
                                "\"last\\u202e\":{\"description\":\"x\\udb40\\udc41y\"},\"z\":1}}",
                                JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(schema);
    json_t *properties = json_object_get(schema, "properties");
    json_t *first = json_object_get(properties, "first");
    const char *type_text = json_string_value(json_object_get(schema, "type"));
    mg_scrub_counts_t counts = {0};
    assert_int_equal(mg_scrub_json(schema, &counts), 0);
    /* the same object, refilled in the same order under clean keys */
    assert_ptr_equal(json_object_get(schema, "properties"), properties);
    assert_ptr_equal(json_object_get(properties, "first"), first);
    char *text = json_dumps(schema, JSON_COMPACT);
    assert_string_equal(text, "{\"type\":\"object\",\"properties\":{\"first\":{\"type\":\"string\"},\"path\":{\"type\":"
                              "\"string\",\"enum\":[\"ab\",\"ok\"]},\"last\":{\"description\":\"xy\"},\"z\":1}}");
    free(text);
    /* a clean string is not copied */
    assert_ptr_equal(json_string_value(json_object_get(schema, "type")), type_text);
    assert_int_equal(counts.invisible, 1);
    assert_int_equal(counts.escapes, 1);
    assert_int_equal(counts.bidi, 1);
    assert_int_equal(counts.tags, 1);
    assert_int_equal(counts.strings, 4);
    assert_int_equal(counts.dropped_keys, 0);
    json_decref(schema);
}

static void test_clean_json_is_not_touched(void **state)
{
    (void)state;
    json_t *message = json_loads("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":"
                                 "\"caf\\u00e9 \\u2014 \\u201cok\\u201d\"}],\"k\\u00e9y\":[true,null,1.5]}}",
                                 JSON_REJECT_DUPLICATES, NULL);
    json_t *content = json_object_get(json_object_get(message, "result"), "content");
    const char *text = json_string_value(json_object_get(json_array_get(content, 0), "text"));
    const char *key = json_object_iter_key(json_object_iter(json_object_get(message, "result")));
    mg_scrub_counts_t counts = {0};
    assert_int_equal(mg_scrub_message(message, &counts), 0);
    assert_ptr_equal(json_string_value(json_object_get(json_array_get(content, 0), "text")), text);
    assert_ptr_equal(json_object_iter_key(json_object_iter(json_object_get(message, "result"))), key);
    mg_scrub_counts_t zero = {0};
    assert_memory_equal(&counts, &zero, sizeof(zero));
    json_decref(message);
}

static void test_colliding_keys_keep_the_first(void **state)
{
    (void)state;
    json_t *object = json_loads("{\"a\\u200b\":1,\"b\":2,\"a\":3,\"\\u2060a\":4}", JSON_REJECT_DUPLICATES, NULL);
    mg_scrub_counts_t counts = {0};
    assert_int_equal(mg_scrub_json(object, &counts), 0);
    char *text = json_dumps(object, JSON_COMPACT);
    assert_string_equal(text, "{\"a\":1,\"b\":2}");
    free(text);
    assert_int_equal(counts.dropped_keys, 2);
    assert_int_equal(counts.invisible, 2);
    json_decref(object);
}

static void test_message_id_is_kept(void **state)
{
    (void)state;
    json_t *message = json_loads("{\"jsonrpc\":\"2.0\",\"id\":\"r\\u200b1\",\"method\":\"x\\u001b[1m\",\"params\":{"
                                 "\"id\":\"p\\u200b\"}}",
                                 JSON_REJECT_DUPLICATES, NULL);
    assert_int_equal(mg_scrub_message(message, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(message, "id")), "r\xe2\x80\x8b"
                                                                           "1");
    assert_string_equal(json_string_value(json_object_get(message, "method")), "x");
    assert_string_equal(json_string_value(json_object_get(json_object_get(message, "params"), "id")), "p");
    json_decref(message);
    /* mg_scrub_json has no exception */
    json_t *string = json_string("\x1b[1mx");
    assert_int_equal(mg_scrub_message(string, NULL), 0);
    assert_string_equal(json_string_value(string), "x");
    json_decref(string);
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    json_t *root = json_array(), *inner = root;
    for (int i = 0; i < MG_SCRUB_MAX_DEPTH + 1; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    assert_int_equal(mg_scrub_json(root, NULL), MG_SCRUB_TOO_DEEP);
    json_decref(root);
    /* as deep as jansson parses is fine */
    root = json_array();
    inner = root;
    for (int i = 0; i < MG_SCRUB_MAX_DEPTH - 1; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    json_array_append_new(inner, json_string("\x1b[1mdeep"));
    assert_int_equal(mg_scrub_json(root, NULL), 0);
    assert_string_equal(json_string_value(json_array_get(inner, 0)), "deep");
    json_decref(root);
}

/* The check on JSON text before it is parsed: clean exactly when the parsed strings would be. */
static void test_json_text_check(void **state)
{
    (void)state;
    static const char *clean[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}",
        "[\"line\\nbreak\\ttab\\r\\\"quote\\\\ \\/\"]",
        "[\"caf\\u00e9 \\u2014 \\u201cok\\u201d \\ud83d\\ude00 \\u200a\"]", /* U+200A hair space stays */
        "[\"it\xe2\x80\x99s \xe2\x80\x94 raw\"]",
        "[\"\\\\u200b is text, not an escape\"]",
        "{\"k\\u00e9y\":true}",
    };
    static const char *dirty[] = {
        "[\"\\u001b[31m\"]",      "[\"\\b\"]",     "[\"\\f\"]",
        "[\"\\u200b\"]",          "[\"\\u200B\"]", "[\"\\u009b\"]",
        "[\"\\udb40\\udc41\"]",   "[\"\\u202e\"]", "{\"a\\ufeff\":1}",
        "[\"\xe2\x80\x8b raw\"]", "[\"\x7f\"]",    "[\"\xf3\xa0\x81\xa9\"]",
        "[\"\\\\\\u2066\"]", /* an escaped backslash, then an escape */
    };
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        assert_true(mg_scrub_json_text_is_clean(clean[i], strlen(clean[i])));
        json_t *value = json_loads(clean[i], JSON_DECODE_ANY, NULL);
        assert_non_null(value);
        mg_scrub_counts_t counts = {0};
        assert_int_equal(mg_scrub_json(value, &counts), 0);
        assert_int_equal(counts.strings, 0);
        json_decref(value);
    }
    for (size_t i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++) {
        assert_false(mg_scrub_json_text_is_clean(dirty[i], strlen(dirty[i])));
        json_t *value = json_loads(dirty[i], JSON_DECODE_ANY, NULL);
        assert_non_null(value);
        mg_scrub_counts_t counts = {0};
        assert_int_equal(mg_scrub_json(value, &counts), 0);
        assert_int_equal(counts.strings, 1);
        json_decref(value);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_text_is_left_alone),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_csi),
        cmocka_unit_test(test_osc_and_strings),
        cmocka_unit_test(test_osc8_keeps_link_text),
        cmocka_unit_test(test_cut_off_at_the_end),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_invisible_and_bidi),
        cmocka_unit_test(test_invalid_utf8_is_survived),
        cmocka_unit_test(test_json_values_and_keys),
        cmocka_unit_test(test_clean_json_is_not_touched),
        cmocka_unit_test(test_colliding_keys_keep_the_first),
        cmocka_unit_test(test_message_id_is_kept),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_json_text_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
