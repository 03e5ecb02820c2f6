/* test_jsonrpc.c - the strict JSON-RPC 2.0 codec: parse errors, classification, builders, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"

#define DEPTH 64

/* Decodes text that must be accepted and checks its kind; the caller disposes. */
static mg_rpc_message_t decode_ok_n(const char *buf, size_t len, mg_rpc_kind_t kind)
{
    mg_rpc_message_t msg;
    mg_rpc_error_t err;
    int rc = mg_rpc_decode(buf, len, DEPTH, &msg, &err);
    if (rc != 0)
        fail_msg("rejected (%d): %s", err.code, err.message);
    assert_int_equal(msg.kind, kind);
    assert_non_null(msg.root);
    return msg;
}

static mg_rpc_message_t decode_ok(const char *text, mg_rpc_kind_t kind)
{
    return decode_ok_n(text, strlen(text), kind);
}

/* Decodes input that must be refused with `code` and a message containing `fragment`; the caller disposes. */
static mg_rpc_error_t decode_fail_n(const char *buf, size_t len, int code, const char *fragment)
{
    mg_rpc_message_t msg;
    mg_rpc_error_t err;
    assert_int_equal(mg_rpc_decode(buf, len, DEPTH, &msg, &err), -1);
    assert_null(msg.root);
    assert_int_equal(err.code, code);
    if (strstr(err.message, fragment) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.message, fragment);
    for (const char *p = err.message; *p != '\0'; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
    if (code == MG_RPC_PARSE_ERROR)
        assert_null(err.id);
    return err;
}

static mg_rpc_error_t decode_fail(const char *text, int code, const char *fragment)
{
    return decode_fail_n(text, strlen(text), code, fragment);
}

static void refused(const char *text, int code, const char *fragment)
{
    mg_rpc_error_t err = decode_fail(text, code, fragment);
    mg_rpc_error_dispose(&err);
}

/* --- classification of valid messages --- */

static void test_request_initialize(void **state)
{
    (void)state;
    mg_rpc_message_t msg = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                                     "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
                                     "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                                     MG_RPC_REQUEST);
    assert_string_equal(msg.method, "initialize");
    assert_int_equal(json_integer_value(msg.id), 1);
    assert_true(json_is_object(msg.params));
    assert_null(msg.result);
    assert_null(msg.error);
    mg_rpc_message_dispose(&msg);
    assert_null(msg.root);
}

static void test_request_without_params(void **state)
{
    (void)state;
    mg_rpc_message_t msg = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/list\"}", MG_RPC_REQUEST);
    assert_string_equal(json_string_value(msg.id), "abc");
    assert_null(msg.params);
    mg_rpc_message_dispose(&msg);
}

static void test_notification(void **state)
{
    (void)state;
    mg_rpc_message_t msg = decode_ok("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                                     "\"params\":{\"progressToken\":\"t1\",\"progress\":0.5,\"total\":1}}",
                                     MG_RPC_NOTIFICATION);
    assert_null(msg.id);
    assert_string_equal(msg.method, "notifications/progress");
    mg_rpc_message_dispose(&msg);
}

static void test_response_result(void **state)
{
    (void)state;
    mg_rpc_message_t msg = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{\"role\":\"assistant\","
                                     "\"content\":{\"type\":\"text\",\"text\":\"hi\"},\"model\":\"m\"}}\n",
                                     MG_RPC_RESPONSE);
    assert_null(msg.method);
    assert_null(msg.error);
    assert_true(json_is_object(msg.result));
    mg_rpc_message_dispose(&msg);
}

static void test_response_error(void **state)
{
    (void)state;
    mg_rpc_message_t msg =
        decode_ok("{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,\"message\":\"nope\",\"data\":[1]}}",
                  MG_RPC_RESPONSE);
    assert_null(msg.result);
    assert_int_equal(json_integer_value(json_object_get(msg.error, "code")), -32601);
    mg_rpc_message_dispose(&msg);
}

static void test_int64_ids(void **state)
{
    (void)state;
    mg_rpc_message_t msg =
        decode_ok("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"m\"}", MG_RPC_REQUEST);
    assert_true(json_integer_value(msg.id) == INT64_MAX);
    mg_rpc_message_dispose(&msg);
    msg = decode_ok("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"m\"}", MG_RPC_REQUEST);
    assert_true(json_integer_value(msg.id) == INT64_MIN);
    mg_rpc_message_dispose(&msg);
    refused("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"m\"}", MG_RPC_PARSE_ERROR, "too big integer");
    refused("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775809,\"method\":\"m\"}", MG_RPC_PARSE_ERROR,
            "too big negative integer");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1e400}", MG_RPC_PARSE_ERROR, "real number overflow");
}

static void test_classify_takes_reference(void **state)
{
    (void)state;
    json_t *root = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
    mg_rpc_message_t msg;
    mg_rpc_error_t err;
    assert_int_equal(mg_rpc_classify(root, &msg, &err), 0);
    assert_int_equal(msg.kind, MG_RPC_NOTIFICATION);
    assert_int_equal(root->refcount, 2);
    mg_rpc_message_dispose(&msg);
    assert_int_equal(root->refcount, 1);

    json_object_set_new(root, "id", json_real(1.5));
    assert_int_equal(mg_rpc_classify(root, &msg, &err), -1);
    assert_int_equal(root->refcount, 1);
    assert_int_equal(err.code, MG_RPC_INVALID_REQUEST);
    mg_rpc_error_dispose(&err);
    json_decref(root);

    assert_int_equal(mg_rpc_classify(NULL, &msg, &err), -1);
    assert_int_equal(err.code, MG_RPC_INVALID_REQUEST);
}

/* --- parse errors (-32700) --- */

static void test_empty_and_blank(void **state)
{
    (void)state;
    mg_rpc_error_t err = decode_fail_n(NULL, 0, MG_RPC_PARSE_ERROR, "empty message");
    mg_rpc_error_dispose(&err);
    refused("", MG_RPC_PARSE_ERROR, "empty message");
    refused(" \t\r\n ", MG_RPC_PARSE_ERROR, "empty message");
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\"} x", MG_RPC_PARSE_ERROR, "end of file expected");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}{}", MG_RPC_PARSE_ERROR, "at byte 31");
    mg_rpc_error_t err = decode_fail_n("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}\0", 31, MG_RPC_PARSE_ERROR, "at byte");
    mg_rpc_error_dispose(&err);
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\"", MG_RPC_PARSE_ERROR, "at byte");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",}", MG_RPC_PARSE_ERROR, "at byte");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"m\"}", MG_RPC_PARSE_ERROR,
            "duplicate object key near '\"id\"' at byte 28");

    /* twenty levels down inside params: the gateway must not see a different value than the upstream */
    char text[512] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":";
    for (int i = 0; i < 20; i++)
        strcat(text, "{\"a\":");
    strcat(text, "{\"k\":1,\"k\":2}");
    for (int i = 0; i < 21; i++)
        strcat(text, "}");
    refused(text, MG_RPC_PARSE_ERROR, "duplicate object key near '\"k\"'");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, three bytes */
        "\xed\xa0\x80",     /* UTF-16 surrogate D800 encoded in UTF-8 */
        "\xed\xbf\xbf",     /* surrogate DFFF */
        "\xff",             /* never valid */
        "\xc3",             /* truncated sequence */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"a%sb\"}}", bad[i]);
        refused(text, MG_RPC_PARSE_ERROR, "unable to decode byte");
        snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"%s\":1}}", bad[i]);
        refused(text, MG_RPC_PARSE_ERROR, "unable to decode byte");
    }
    refused("\xff", MG_RPC_PARSE_ERROR, "unable to decode byte 0xff at byte 0");
    /* a valid non-ASCII token outside a string: the quoted token is reduced to ASCII in the message */
    refused("\xc3\xa9", MG_RPC_PARSE_ERROR, "at byte");
}

static void test_escapes_and_nul(void **state)
{
    (void)state;
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"\\ud800\"}}", MG_RPC_PARSE_ERROR,
            "invalid Unicode");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"\\udc00\\ud800\"}}", MG_RPC_PARSE_ERROR,
            "invalid Unicode");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"a\\u0000b\"}}", MG_RPC_PARSE_ERROR,
            "\\u0000 is not allowed");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"\\x\"}}", MG_RPC_PARSE_ERROR, "invalid escape");
    static const char raw_nul[] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"a\0b\"}}";
    mg_rpc_error_t err = decode_fail_n(raw_nul, sizeof(raw_nul) - 1, MG_RPC_PARSE_ERROR, "control character 0x0");
    mg_rpc_error_dispose(&err);
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"v\":\"a\nb\"}}", MG_RPC_PARSE_ERROR,
            "unexpected newline");
}

/* --- depth --- */

/* {"jsonrpc":"2.0","method":"m","params": + (levels - 1) nested values; `levels` counts the envelope. */
static char *nested_message(int levels)
{
    size_t size = 128 + (size_t)levels * 6;
    char *text = malloc(size);
    assert_non_null(text);
    strcpy(text, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":");
    for (int i = 1; i < levels - 1; i++)
        strcat(text, "{\"a\":");
    strcat(text, "{\"s\":\"[{[{\\\"[\"}");
    for (int i = 1; i < levels; i++)
        strcat(text, "}");
    return text;
}

static void test_depth_limit(void **state)
{
    (void)state;
    char *at_limit = nested_message(DEPTH);
    size_t offset = 0;
    assert_int_equal(mg_rpc_check_depth(at_limit, strlen(at_limit), DEPTH, &offset), 0);
    assert_int_equal(mg_rpc_check_depth(at_limit, strlen(at_limit), DEPTH - 1, &offset), -1);
    mg_rpc_message_t msg = decode_ok(at_limit, MG_RPC_NOTIFICATION);
    mg_rpc_message_dispose(&msg);
    free(at_limit);

    char *over = nested_message(DEPTH + 1);
    refused(over, MG_RPC_PARSE_ERROR, "JSON nested deeper than 64 levels at byte");
    free(over);
}

static void test_depth_one_megabyte_of_brackets(void **state)
{
    (void)state;
    size_t len = 1024 * 1024;
    char *brackets = malloc(len);
    assert_non_null(brackets);
    memset(brackets, '[', len);
    mg_rpc_error_t err =
        decode_fail_n(brackets, len, MG_RPC_PARSE_ERROR, "JSON nested deeper than 64 levels at byte 64");
    mg_rpc_error_dispose(&err);
    free(brackets);
}

static void test_depth_scan_ignores_strings(void **state)
{
    (void)state;
    size_t offset = 99;
    /* brackets inside strings, escaped quotes and escaped backslashes do not count */
    const char *text = "[\"[[[\\\"[[[\", \"\\\\\", \"{{{\"]";
    assert_int_equal(mg_rpc_check_depth(text, strlen(text), 1, &offset), 0);
    /* after "\\\\" the string has closed, so the next '[' is real */
    text = "[\"\\\\\", [1]]";
    assert_int_equal(mg_rpc_check_depth(text, strlen(text), 1, &offset), -1);
    assert_int_equal(offset, 7);
    /* unbalanced closers do not buy extra depth */
    text = "]]]][[";
    assert_int_equal(mg_rpc_check_depth(text, strlen(text), 1, &offset), -1);
    assert_int_equal(offset, 5);
    assert_int_equal(mg_rpc_check_depth("\"\\", 2, 0, NULL), 0);
}

/* --- invalid requests (-32600) --- */

static void test_not_an_object(void **state)
{
    (void)state;
    refused("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}]", MG_RPC_INVALID_REQUEST,
            "batch requests are not supported");
    refused("[]", MG_RPC_INVALID_REQUEST, "batch requests are not supported");
    refused("42", MG_RPC_INVALID_REQUEST, "message must be a JSON object, not an integer");
    refused("\"x\"", MG_RPC_INVALID_REQUEST, "not a string");
    refused("null", MG_RPC_INVALID_REQUEST, "not null");
}

static void test_jsonrpc_member(void **state)
{
    (void)state;
    refused("{\"id\":1,\"method\":\"m\"}", MG_RPC_INVALID_REQUEST, "missing \"jsonrpc\"");
    refused("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"m\"}", MG_RPC_INVALID_REQUEST, "\"jsonrpc\" must be");
    refused("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}", MG_RPC_INVALID_REQUEST, "\"jsonrpc\" must be");
    refused("{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"m\"}", MG_RPC_INVALID_REQUEST, "\"jsonrpc\" must be");
    refused("{\"jsonrpc\":null,\"id\":1,\"method\":\"m\"}", MG_RPC_INVALID_REQUEST, "\"jsonrpc\" must be");
}

static void test_bad_ids(void **state)
{
    (void)state;
    static const char *const ids[] = {"null", "1.5", "1.0", "true", "false", "{}", "[1]", "1e3"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}", ids[i]);
        mg_rpc_error_t err = decode_fail(text, MG_RPC_INVALID_REQUEST, "\"id\" must be a string or an integer");
        assert_null(err.id);
        mg_rpc_error_dispose(&err);
        snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", ids[i]);
        refused(text, MG_RPC_INVALID_REQUEST, "\"id\" must be a string or an integer");
    }
}

static void test_method_and_params(void **state)
{
    (void)state;
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MG_RPC_INVALID_REQUEST, "\"method\" must be a string");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", MG_RPC_INVALID_REQUEST, "\"method\" must be a string");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":[1,2]}", MG_RPC_INVALID_REQUEST,
            "\"params\" must be an object, not an array");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"x\"}", MG_RPC_INVALID_REQUEST,
            "\"params\" must be an object");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":null}", MG_RPC_INVALID_REQUEST,
            "\"params\" must be an object, not null");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"result\":{}}", MG_RPC_INVALID_REQUEST,
            "must not carry \"result\" or \"error\"");
    refused("{\"jsonrpc\":\"2.0\"}", MG_RPC_INVALID_REQUEST, "none of \"method\", \"result\" or \"error\"");
}

static void test_response_shape(void **state)
{
    (void)state;
    refused("{\"jsonrpc\":\"2.0\",\"id\":1}", MG_RPC_INVALID_REQUEST, "neither \"result\" nor \"error\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"x\"}}",
            MG_RPC_INVALID_REQUEST, "both \"result\" and \"error\"");
    refused("{\"jsonrpc\":\"2.0\",\"result\":{}}", MG_RPC_INVALID_REQUEST, "response has no \"id\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}", MG_RPC_INVALID_REQUEST, "\"error\" must be an object");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"x\"}}", MG_RPC_INVALID_REQUEST,
            "\"error\" has no \"code\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000.5,\"message\":\"x\"}}", MG_RPC_INVALID_REQUEST,
            "\"error.code\" must be an integer, not a real number");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"-32000\",\"message\":\"x\"}}", MG_RPC_INVALID_REQUEST,
            "\"error.code\" must be an integer");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}", MG_RPC_INVALID_REQUEST,
            "\"error\" has no \"message\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":[]}}", MG_RPC_INVALID_REQUEST,
            "\"error.message\" must be a string, not an array");
}

static void test_error_id_recovery(void **state)
{
    (void)state;
    mg_rpc_error_t err = decode_fail("{\"jsonrpc\":\"1.0\",\"id\":42,\"method\":\"m\"}", MG_RPC_INVALID_REQUEST, "");
    assert_true(json_is_integer(err.id));
    assert_int_equal(json_integer_value(err.id), 42);
    mg_rpc_error_dispose(&err);
    assert_null(err.id);

    err = decode_fail("{\"jsonrpc\":\"2.0\",\"id\":\"req-7\",\"method\":\"tools/call\",\"params\":[]}",
                      MG_RPC_INVALID_REQUEST, "params");
    assert_string_equal(json_string_value(err.id), "req-7");
    mg_rpc_error_dispose(&err);

    /* the error reply built from it echoes the id */
    err = decode_fail("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":false}", MG_RPC_INVALID_REQUEST, "method");
    json_t *reply = mg_rpc_make_error(err.id, err.code, err.message, NULL);
    mg_rpc_error_dispose(&err); /* the reply holds its own copy */
    char *text = mg_rpc_encode(reply, NULL);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32600,"
                              "\"message\":\"\\\"method\\\" must be a string, not a boolean\"}}");
    free(text);
    json_decref(reply);

    /* a parse error never has an id, even when one is visible in the bytes */
    err = decode_fail("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"m\"", MG_RPC_PARSE_ERROR, "");
    mg_rpc_error_dispose(&err);
    err = decode_fail("[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"m\"}]", MG_RPC_INVALID_REQUEST, "batch");
    assert_null(err.id);
    mg_rpc_error_dispose(&err);
}

/* --- builders and encoding --- */

static void assert_encodes_to(json_t *msg, const char *expected)
{
    assert_non_null(msg);
    size_t len = 0;
    char *text = mg_rpc_encode(msg, &len);
    assert_non_null(text);
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    free(text);
    json_decref(msg);
}

static void test_builders(void **state)
{
    (void)state;
    json_t *id = json_integer(7);
    assert_encodes_to(mg_rpc_make_error(id, MG_RPC_METHOD_NOT_FOUND, "no such method", NULL),
                      "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":\"no such method\"}}");
    assert_encodes_to(mg_rpc_make_error(NULL, MG_RPC_PARSE_ERROR, "bad", json_pack("{s:i}", "byte", 3)),
                      "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"bad\","
                      "\"data\":{\"byte\":3}}}");
    assert_encodes_to(mg_rpc_make_result(id, json_object()), "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
    assert_encodes_to(mg_rpc_make_request(id, "tools/list", NULL),
                      "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}");
    assert_encodes_to(mg_rpc_make_request(id, "tools/call", json_pack("{s:s}", "name", "echo")),
                      "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}");
    assert_encodes_to(mg_rpc_make_notification("notifications/initialized", NULL),
                      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    assert_int_equal(id->refcount, 1); /* ids are copied, not shared */
    json_decref(id);
}

static void test_builders_consume_on_failure(void **state)
{
    (void)state;
    json_t *id = json_string("x");
    /* a NULL result (a failed allocation upstream of the call) fails cleanly */
    assert_null(mg_rpc_make_result(id, NULL));
    /* a message that is not UTF-8 fails, and `data` is still consumed: LeakSanitizer checks it */
    assert_null(mg_rpc_make_error(id, 1, "bad \xff", json_string("data")));
    assert_null(mg_rpc_make_request(id, "bad \xff", json_object()));
    assert_null(mg_rpc_make_notification("bad \xff", json_object()));
    json_decref(id);
}

static void test_encode_is_one_line(void **state)
{
    (void)state;
    const char *tricky = "line1\nline2\r\n\ttab \x01\x1f del\x7f quote\" backslash\\ ls\xe2\x80\xa8 end";
    json_t *msg =
        mg_rpc_make_notification("notifications/message", json_pack("{s:s, s:s}", "level", "info", "data", tricky));
    size_t len = 0;
    char *text = mg_rpc_encode(msg, &len);
    assert_non_null(text);
    assert_null(memchr(text, '\n', len));
    assert_null(memchr(text, '\r', len));
    for (size_t i = 0; i < len; i++)
        assert_true((unsigned char)text[i] >= 0x20);
    assert_non_null(strstr(text, "line1\\nline2\\r\\n\\ttab \\u0001\\u001F"));

    mg_rpc_message_t back = decode_ok_n(text, len, MG_RPC_NOTIFICATION);
    assert_string_equal(json_string_value(json_object_get(back.params, "data")), tricky);
    assert_true(json_equal(back.root, msg));
    mg_rpc_message_dispose(&back);
    free(text);
    json_decref(msg);
}

static void test_unicode_round_trip(void **state)
{
    (void)state;
    /* é, CJK, an astral emoji written as raw UTF-8 and as a surrogate-pair escape */
    const char *input = "{\"jsonrpc\":\"2.0\",\"id\":\"\xc3\xa9\",\"method\":\"tools/call\",\"params\":{\"name\":"
                        "\"\xe4\xb8\x96\xe7\x95\x8c\",\"a\":\"\xf0\x9f\x98\x80\",\"b\":\"\\ud83d\\ude00\"}}";
    mg_rpc_message_t msg = decode_ok(input, MG_RPC_REQUEST);
    assert_string_equal(json_string_value(json_object_get(msg.params, "b")), "\xf0\x9f\x98\x80");

    size_t len = 0;
    char *text = mg_rpc_encode(msg.root, &len);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":\"\xc3\xa9\",\"method\":\"tools/call\",\"params\":{"
                              "\"name\":\"\xe4\xb8\x96\xe7\x95\x8c\",\"a\":\"\xf0\x9f\x98\x80\",\"b\":"
                              "\"\xf0\x9f\x98\x80\"}}");
    mg_rpc_message_t back = decode_ok_n(text, len, MG_RPC_REQUEST);
    assert_true(json_equal(back.root, msg.root));
    assert_string_equal(json_string_value(back.id), "\xc3\xa9");
    mg_rpc_message_dispose(&back);
    mg_rpc_message_dispose(&msg);
    free(text);
}

/* ---- mg_rpc_decode_client: params._meta read without building it -------------------------------- */

#define PV "\"io.modelcontextprotocol/protocolVersion\""
#define CC "\"io.modelcontextprotocol/clientCapabilities\""
#define CI "\"io.modelcontextprotocol/clientInfo\""
#define LL "\"io.modelcontextprotocol/logLevel\""

/* The message's root as mg_rpc_decode would have made it: the recorded _meta put back in its place. */
static json_t *restored_root(const mg_rpc_message_t *msg)
{
    json_t *root = json_deep_copy(msg->root);
    if (msg->meta == NULL)
        return root;
    json_t *params = json_object(), *old = json_object_get(root, "params");
    size_t position = 0;
    const char *key;
    json_t *value;
    json_object_foreach(old, key, value)
    {
        if (position++ == msg->meta->position)
            json_object_set_new(params, "_meta", mg_rpc_meta_value(msg->meta));
        json_object_set(params, key, value);
    }
    if (position <= msg->meta->position)
        json_object_set_new(params, "_meta", mg_rpc_meta_value(msg->meta));
    json_object_set_new(root, "params", params);
    return root;
}

/* Decodes `text` both ways: the same verdict, and the same message once _meta is put back. Returns
 * whether _meta was read without building it. */
static bool same_as_decode(const char *text)
{
    mg_rpc_message_t a, b;
    mg_rpc_error_t ea, eb;
    int ra = mg_rpc_decode(text, strlen(text), DEPTH, &a, &ea);
    int rb = mg_rpc_decode_client(text, strlen(text), DEPTH, &b, &eb);
    assert_int_equal(ra, rb);
    if (ra != 0) {
        assert_int_equal(ea.code, eb.code);
        assert_string_equal(ea.message, eb.message);
        assert_true((ea.id == NULL && eb.id == NULL) || json_equal(ea.id, eb.id));
        mg_rpc_error_dispose(&ea);
        mg_rpc_error_dispose(&eb);
        return false;
    }
    assert_int_equal(a.kind, b.kind);
    assert_null(a.meta);
    json_t *restored = restored_root(&b);
    char *ta = json_dumps(a.root, JSON_COMPACT), *tb = json_dumps(restored, JSON_COMPACT);
    assert_string_equal(ta, tb);
    assert_true(json_equal(a.root, restored));
    bool read = b.meta != NULL;
    if (read) {
        assert_null(json_object_get(b.params, "_meta"));
        assert_int_equal(b.meta->mrtr_members, json_object_get(a.params, "requestState") != NULL ||
                                                   json_object_get(a.params, "inputResponses") != NULL);
    }
    free(ta);
    free(tb);
    json_decref(restored);
    mg_rpc_message_dispose(&a);
    mg_rpc_message_dispose(&b);
    return read;
}

static void test_client_meta_read(void **state)
{
    (void)state;
    assert_true(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                               "\"arguments\":{\"text\":\"hi\"},\"_meta\":{" PV ":\"2026-07-28\"," CC ":{}}}}"));
    /* first, in the middle, last; every member; any order; blanks; escapes in keys and values */
    assert_true(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV
                               ":\"2026-07-28\"},\"a\":1}}"));
    assert_true(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"m\",\"params\":{\"a\":[1],\"_meta\":{" LL
                               ":\"debug\"," CI ":{\"name\":\"c\"}," CC ":{\"roots\":{}}," PV
                               ":\"2026-07-28\"},\"b\":null}}"));
    assert_true(same_as_decode(" { \"params\" : { \"_meta\" : { " PV " : \"x\" , " CC
                               " : [ ] } } , \"method\" : \"m\" , "
                               "\"id\" : 2 , \"jsonrpc\" : \"2.0\" } "));
    assert_true(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"\\u005fmeta\":{"
                               "\"io.modelcontextprotocol\\/protocolVersion\":\"2026\\u002d07-28\"}}}"));
    /* the MRTR members are noted, before or after _meta */
    assert_true(same_as_decode(
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"requestState\":\"s\",\"_meta\":{" PV
        ":\"2026-07-28\"}}}"));
    assert_true(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV
                               ":\"2026-07-28\"},\"inputResponses\":{}}}"));
    /* the members the record keeps as values may be anything jansson reads; modern.c judges them */
    assert_true(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"v\"," CC
                               ":null," CI ":\"me\"," LL ":7}}}"));
}

static void test_client_meta_built(void **state)
{
    (void)state;
    /* a key the record has no place for, a version that is not a string or too long, no version */
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV
                                ":\"2026-07-28\",\"progressToken\":7}}}"));
    assert_false(
        same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{\"progressToken\":7," PV
                       ":\"2026-07-28\"}}}"));
    assert_false(
        same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":20260728}}}"));
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV
                                ":\"0123456789012345678901234567890123456789\"}}}"));
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" CC ":{}}}}"));
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{}}}"));
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":[]}}"));
    /* only the root's params, and only a request's */
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"a\":{\"_meta\":{" PV
                                ":\"v\"}}},\"x\":{\"params\":{\"_meta\":{" PV ":\"v\"}}}}"));
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"_meta\":{" PV
                                ":\"2026-07-28\"}}}"));
    assert_false(same_as_decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"params\":{\"_meta\":{" PV ":\"v\"}}}"));
    assert_false(
        same_as_decode("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"v\"}}}]"));
}

static void test_client_meta_refused(void **state)
{
    (void)state;
    /* whatever jansson refuses is refused with its words, read or not */
    const char *texts[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"," PV ":\"b\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"," CC ":{}," CC ":{}}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"},\"_meta\":{" PV
        ":\"a\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"},\"_meta\":1}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":1,\"_meta\":{" PV ":\"a\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{\"x\":1},\"_meta\":{" PV ":\"a\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"}},\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"\\u0000\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"\xff\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"," CC ":1.5e}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\",}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"}} x",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"",
        "{\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"}}}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_false(same_as_decode(texts[i]));
}

static void test_client_meta_depth(void **state)
{
    (void)state;
    char text[1024];
    /* capabilities nested to the limit, then one past it: _meta's own level counts */
    for (int extra = DEPTH - 4; extra <= DEPTH - 2; extra++) {
        int n = snprintf(text, sizeof(text),
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"_meta\":{" PV ":\"a\"," CC ":");
        for (int i = 0; i < extra; i++)
            text[n++] = '[';
        for (int i = 0; i < extra; i++)
            text[n++] = ']';
        snprintf(text + n, sizeof(text) - (size_t)n, "}}}");
        same_as_decode(text);
    }
}

/* message.name is params' "name" member, whichever way the message was read: the client decoder notes it
 * as it reads params (with or without a recorded _meta), the plain decoder and classify look it up. */
static void test_params_name(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *name; /* the string expected, or NULL */
        bool present;     /* params has a "name" member (maybe not a string) */
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}", "echo", true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"arguments\":{\"name\":\"inner\"},"
         "\"name\":\"e\\u0063ho\",\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
         "echo", true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7,"
         "\"_meta\":{\"progressToken\":1}}}",
         NULL, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"cursor\":\"x\"}}", NULL, false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", NULL, false},
        {"{\"params\":{\"name\":\"late\"},\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\"}", "late", true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"x\":1.5}}", "a", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int client = 0; client < 2; client++) {
            mg_rpc_message_t msg;
            mg_rpc_error_t err;
            size_t len = strlen(cases[i].text);
            int rc = client ? mg_rpc_decode_client(cases[i].text, len, 64, &msg, &err)
                            : mg_rpc_decode(cases[i].text, len, 64, &msg, &err);
            assert_int_equal(rc, 0);
            assert_ptr_equal(msg.name, json_object_get(msg.params, "name"));
            assert_int_equal(msg.name != NULL, cases[i].present);
            if (cases[i].name != NULL)
                assert_string_equal(json_string_value(msg.name), cases[i].name);
            else if (msg.name != NULL)
                assert_false(json_is_string(msg.name));
            mg_rpc_message_dispose(&msg);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_initialize),
        cmocka_unit_test(test_request_without_params),
        cmocka_unit_test(test_notification),
        cmocka_unit_test(test_response_result),
        cmocka_unit_test(test_response_error),
        cmocka_unit_test(test_int64_ids),
        cmocka_unit_test(test_classify_takes_reference),
        cmocka_unit_test(test_empty_and_blank),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_escapes_and_nul),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_one_megabyte_of_brackets),
        cmocka_unit_test(test_depth_scan_ignores_strings),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_jsonrpc_member),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_method_and_params),
        cmocka_unit_test(test_response_shape),
        cmocka_unit_test(test_error_id_recovery),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_builders_consume_on_failure),
        cmocka_unit_test(test_encode_is_one_line),
        cmocka_unit_test(test_unicode_round_trip),
        cmocka_unit_test(test_client_meta_read),
        cmocka_unit_test(test_client_meta_built),
        cmocka_unit_test(test_client_meta_refused),
        cmocka_unit_test(test_client_meta_depth),
        cmocka_unit_test(test_params_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
