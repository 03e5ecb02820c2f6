/* test_mirror.c - request-metadata headers checked against the body (src/mcp/mirror.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"
#include "mcp/mirror.h"

#define MAX_PARAMS 16

/* Headers written as HTTP lines ("Name: value\n"); the standard three by name, Mcp-Param-* by prefix,
 * all case-insensitively. The values point into `text`, which must outlive the struct. */
typedef struct st_test_headers_t {
    mg_mirror_headers_t headers;
    mg_mirror_param_t params[MAX_PARAMS];
} test_headers_t;

static void parse_headers(test_headers_t *out, const char *text)
{
    memset(out, 0, sizeof(*out));
    out->headers.params = out->params;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        const char *colon = memchr(line, ':', (size_t)(end - line));
        assert_non_null(colon);
        size_t name_len = (size_t)(colon - line);
        mg_mirror_value_t value = {colon + 1, (size_t)(end - colon - 1)};
        if (value.len > 0 && value.base[0] == ' ')
            value.base++, value.len--;
        if (name_len == 20 && strncasecmp(line, "MCP-Protocol-Version", 20) == 0)
            out->headers.protocol_version = value;
        else if (name_len == 10 && strncasecmp(line, "Mcp-Method", 10) == 0)
            out->headers.method = value;
        else if (name_len == 8 && strncasecmp(line, "Mcp-Name", 8) == 0)
            out->headers.name = value;
        else if (name_len > 10 && strncasecmp(line, "Mcp-Param-", 10) == 0) {
            assert_true(out->headers.params_len < MAX_PARAMS);
            mg_mirror_param_t *param = &out->params[out->headers.params_len++];
            param->name = (mg_mirror_value_t){line + 10, name_len - 10};
            param->value = value;
        }
        line = *end == '\n' ? end + 1 : end;
    }
}

static json_t *parse_json(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, MG_JSON_DECODE_FLAGS, &error);
    if (value == NULL)
        fail_msg("bad test JSON: %s: %s", error.text, text);
    return value;
}

static char why[512];

/* Runs mg_mirror_check; `schema` may be NULL. Returns its result; the message stays in `why`. Every
 * answer is also asked for with a schema memory, filled by the first of two calls and used by the
 * second: remembering a verdict must not change any. */
static int check(const char *headers_text, const char *body, const char *schema)
{
    test_headers_t headers;
    parse_headers(&headers, headers_text);
    json_t *root = parse_json(body);
    json_t *input_schema = schema != NULL ? parse_json(schema) : NULL;
    why[0] = '\0';
    int rc = mg_mirror_check(&headers.headers, root, input_schema, NULL, why, sizeof(why));
    mg_mirror_schemas_t known;
    mg_mirror_schemas_clear(&known);
    for (int round = 0; round < 2; round++) {
        char again[sizeof(why)] = "";
        assert_int_equal(mg_mirror_check(&headers.headers, root, input_schema, &known, again, sizeof(again)), rc);
        assert_string_equal(again, why);
    }
    json_decref(root);
    json_decref(input_schema);
    for (const char *p = why; *p != '\0'; p++)
        assert_true(*p >= 0x20 && *p < 0x7f); /* client-safe, always */
    return rc;
}

static void assert_refused(int rc, const char *expected_why)
{
    if (rc != -1 || strstr(why, expected_why) == NULL)
        fail_msg("expected refusal with \"%s\", got %d: \"%s\"", expected_why, rc, why);
}

static int schema_valid(const char *schema)
{
    json_t *input_schema = parse_json(schema);
    why[0] = '\0';
    int rc = mg_mirror_schema_valid(input_schema, why, sizeof(why));
    json_decref(input_schema);
    return rc;
}

#define STANDARD "MCP-Protocol-Version: 2026-07-28\n"
#define META "\"_meta\": {\"io.modelcontextprotocol/protocolVersion\": \"2026-07-28\"}"
#define CALL(arguments)                                                                                                \
    "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {" META                                 \
    ", \"name\": \"t\", \"arguments\": " arguments "}}"
#define CALL_HEADERS STANDARD "Mcp-Method: tools/call\nMcp-Name: t\n"
#define PROPERTY(name, type, header) "\"" name "\": {\"type\": \"" type "\", \"x-mcp-header\": \"" header "\"}"
#define SCHEMA(properties) "{\"type\": \"object\", \"properties\": {" properties "}}"

static const char sql_schema[] = "{\"type\": \"object\", \"properties\": {"
                                 "\"region\": {\"type\": \"string\", \"x-mcp-header\": \"Region\"},"
                                 "\"query\": {\"type\": \"string\"}}, \"required\": [\"region\", \"query\"]}";

static void test_spec_example_passes(void **state)
{
    (void)state;
    const char *body = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {" META
                       ", \"name\": \"execute_sql\", \"arguments\": {\"region\": \"us-west1\", \"query\": \"SELECT "
                       "* FROM users\"}}}";
    assert_int_equal(
        check(STANDARD "Mcp-Method: tools/call\nMcp-Name: execute_sql\nMcp-Param-Region: us-west1\n", body, sql_schema),
        0);
    /* header names are case-insensitive; optional whitespace around values is not part of them */
    assert_int_equal(check("mcp-protocol-version: 2026-07-28\nMCP-METHOD: tools/call\nmcp-name:  execute_sql \t\n"
                           "mcp-param-REGION: us-west1\n",
                           body, sql_schema),
                     0);
    assert_refused(
        check(STANDARD "Mcp-Method: tools/call\nMcp-Name: execute_sql\nMcp-Param-Region: us-east1\n", body, sql_schema),
        "Header mismatch: Mcp-Param-Region header value 'us-east1' does not match body value 'us-west1'");
}

static void test_protocol_version(void **state)
{
    (void)state;
    const char *list = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\", \"params\": {" META "}}";
    assert_int_equal(check(STANDARD "Mcp-Method: tools/list\n", list, NULL), 0);
    assert_refused(check("Mcp-Method: tools/list\n", list, NULL),
                   "Header mismatch: required header MCP-Protocol-Version is missing");
    assert_refused(check("MCP-Protocol-Version: 2025-11-25\nMcp-Method: tools/list\n", list, NULL),
                   "MCP-Protocol-Version header value '2025-11-25' does not match body value '2026-07-28'");
    assert_refused(check(STANDARD "Mcp-Method: tools/list\n",
                         "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\"}", NULL),
                   "MCP-Protocol-Version header value '2026-07-28' has no string counterpart in the body");
    /* no base64 for the standard headers other than Mcp-Name */
    assert_refused(check("MCP-Protocol-Version: =?base64?MjAyNi0wNy0yOA==?=\nMcp-Method: tools/list\n", list, NULL),
                   "does not match body value '2026-07-28'");
}

static void test_method(void **state)
{
    (void)state;
    const char *list = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\", \"params\": {" META "}}";
    assert_refused(check(STANDARD, list, NULL), "Header mismatch: required header Mcp-Method is missing");
    assert_refused(check(STANDARD "Mcp-Method: Tools/List\n", list, NULL),
                   "Header mismatch: Mcp-Method header value 'Tools/List' does not match body value 'tools/list'");
    assert_refused(check(STANDARD "Mcp-Method: tools/call\n", list, NULL), "does not match body value 'tools/list'");
}

static void test_name(void **state)
{
    (void)state;
    const char *call = CALL("{}");
    assert_int_equal(check(CALL_HEADERS, call, NULL), 0);
    assert_refused(check(STANDARD "Mcp-Method: tools/call\n", call, NULL),
                   "Header mismatch: required header Mcp-Name is missing");
    assert_refused(check(STANDARD "Mcp-Method: tools/call\nMcp-Name: foo\n",
                         "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {" META
                         ", \"name\": \"bar\"}}",
                         NULL),
                   "Header mismatch: Mcp-Name header value 'foo' does not match body value 'bar'");

    const char *prompt =
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"prompts/get\", \"params\": {" META ", \"name\": \"greet\"}}";
    assert_int_equal(check(STANDARD "Mcp-Method: prompts/get\nMcp-Name: greet\n", prompt, NULL), 0);
    assert_refused(check(STANDARD "Mcp-Method: prompts/get\n", prompt, NULL), "required header Mcp-Name is missing");

    const char *read = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"resources/read\", \"params\": {" META
                       ", \"uri\": \"file:///projects/myapp/config.json\"}}";
    assert_int_equal(
        check(STANDARD "Mcp-Method: resources/read\nMcp-Name: file:///projects/myapp/config.json\n", read, NULL), 0);
    assert_refused(check(STANDARD "Mcp-Method: resources/read\nMcp-Name: file:///etc/passwd\n", read, NULL),
                   "does not match body value 'file:///projects/myapp/config.json'");

    /* a name outside the safe set travels in base64 ("résumé") */
    const char *accented = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"prompts/get\", \"params\": {" META
                           ", \"name\": \"r\\u00e9sum\\u00e9\"}}";
    assert_int_equal(check(STANDARD "Mcp-Method: prompts/get\nMcp-Name: =?base64?csOpc3Vtw6k=?=\n", accented, NULL), 0);
    assert_refused(check(STANDARD "Mcp-Method: prompts/get\nMcp-Name: =?base64?cmVzdW1l?=\n", accented, NULL),
                   "Mcp-Name header value '=?base64?cmVzdW1l?=' does not match body value 'r\\xc3\\xa9sum\\xc3\\xa9'");

    /* methods without a name: Mcp-Name is not looked at */
    assert_int_equal(check(STANDARD "Mcp-Method: tools/list\nMcp-Name: anything\n",
                           "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\", \"params\": {" META "}}",
                           NULL),
                     0);
    /* a body without the field is left to params validation, unless the header claims a value */
    const char *nameless = "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {" META "}}";
    assert_int_equal(check(STANDARD "Mcp-Method: tools/call\n", nameless, NULL), 0);
    assert_refused(check(STANDARD "Mcp-Method: tools/call\nMcp-Name: t\n", nameless, NULL),
                   "Mcp-Name header value 't' has no string counterpart in the body");
    /* tasks extension: taskId may be mirrored; when it is, it must agree */
    const char *task =
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tasks/get\", \"params\": {" META ", \"taskId\": \"T1\"}}";
    assert_int_equal(check(STANDARD "Mcp-Method: tasks/get\n", task, NULL), 0);
    assert_int_equal(check(STANDARD "Mcp-Method: tasks/get\nMcp-Name: T1\n", task, NULL), 0);
    assert_refused(check(STANDARD "Mcp-Method: tasks/get\nMcp-Name: T2\n", task, NULL),
                   "does not match body value 'T1'");
}

/* The table in streamable-http.mdx, "Value Encoding", both ways. */
static void test_spec_encoding_table(void **state)
{
    (void)state;
    static const struct {
        const char *original, *json, *encoded;
    } rows[] = {
        {"us-west1", "\"us-west1\"", "us-west1"},
        {"Hello, \xe4\xb8\x96\xe7\x95\x8c", "\"Hello, \\u4e16\\u754c\"", "=?base64?SGVsbG8sIOS4lueVjA==?="},
        {" padded ", "\" padded \"", "=?base64?IHBhZGRlZCA=?="},
        {"line1\nline2", "\"line1\\nline2\"", "=?base64?bGluZTEKbGluZTI=?="},
        {"=?base64?literal?=", "\"=?base64?literal?=\"", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *encoded = mg_mirror_encode(rows[i].original, strlen(rows[i].original));
        assert_string_equal(encoded, rows[i].encoded);
        free(encoded);
        char headers[256], body[256];
        snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-Val: %s\n", rows[i].encoded);
        snprintf(body, sizeof(body), CALL("{\"v\": %s}"), rows[i].json);
        assert_int_equal(check(headers, body, SCHEMA(PROPERTY("v", "string", "Val"))), 0);
    }
    /* the literal that looks like the sentinel is taken as base64, and "literal" is not base64 */
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: =?base64?literal?=\n", CALL("{\"v\": \"=?base64?literal?=\"}"),
                         SCHEMA(PROPERTY("v", "string", "Val"))),
                   "Mcp-Param-Val header value '=?base64?literal?=' is not valid base64");
}

static void test_encode_edges(void **state)
{
    (void)state;
    static const struct {
        const char *original;
        size_t len;
        const char *encoded;
    } rows[] = {
        {"", 0,
         "=?base64?"
         "?="},                                            /* some stacks drop empty headers */
        {"a b", 3, "a b"},                                 /* inner spaces are fine */
        {"a\tb", 3, "=?base64?YQli?="},                    /* a tab is a control character */
        {"trailing ", 9, "=?base64?dHJhaWxpbmcg?="},       /* would be cut as OWS */
        {"=?base64?=", 10, "=?base64?PT9iYXNlNjQ/PQ==?="}, /* both ends, overlapping */
        {"=?base64?", 9, "=?base64?"},                     /* no suffix: plain */
        {"a\0b", 3, "=?base64?YQBi?="},
        {"\x7f", 1, "=?base64?fw==?="},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *encoded = mg_mirror_encode(rows[i].original, rows[i].len);
        assert_string_equal(encoded, rows[i].encoded);
        free(encoded);
    }
    /* every decoder reading of an empty value agrees */
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Val: =?base64?"
                                        "?=\n",
                           CALL("{\"v\": \"\"}"), SCHEMA(PROPERTY("v", "string", "Val"))),
                     0);
    assert_int_equal(
        check(CALL_HEADERS "Mcp-Param-Val:\n", CALL("{\"v\": \"\"}"), SCHEMA(PROPERTY("v", "string", "Val"))), 0);
}

static void test_invalid_characters(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("v", "string", "Val"));
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: a\x01z\n", CALL("{\"v\": \"a\\u0001z\"}"), schema),
                   "Header mismatch: Mcp-Param-Val header value contains invalid characters");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: caf\xc3\xa9\n", CALL("{\"v\": \"caf\\u00e9\"}"), schema),
                   "Mcp-Param-Val header value contains invalid characters");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: a\x7f\n", CALL("{\"v\": \"a\\u007f\"}"), schema),
                   "contains invalid characters");
    assert_refused(check(STANDARD "Mcp-Method: tools/call\nMcp-Name: t\x1b[0m\n", CALL("{}"), NULL),
                   "Header mismatch: Mcp-Name header value contains invalid characters");
    assert_refused(check(STANDARD "Mcp-Method: tools/\xff"
                                  "call\nMcp-Name: t\n",
                         CALL("{}"), NULL),
                   "Mcp-Method header value contains invalid characters");
    /* space and tab inside a value are valid characters (and then compared as they are) */
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Val: a\tb c\n", CALL("{\"v\": \"a\\tb c\"}"), schema), 0);
    /* an Mcp-Param header no annotation names is not ours to judge */
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Other: \x01\xff\n", CALL("{}"), schema), 0);
}

/* Values are checked eight bytes at a time: a bad byte is found at any place within and across the
 * blocks, and every visible ASCII byte passes. */
static void test_invalid_characters_anywhere(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("v", "string", "Val"));
    static const unsigned char bad[] = {0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xff};
    for (size_t b = 0; b < sizeof(bad); b++) {
        for (size_t at = 0; at < 20; at++) {
            char value[21], headers[128];
            memset(value, 'a', 20);
            value[20] = '\0';
            value[at] = (char)bad[b];
            snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-Val: x%sy\n", value);
            assert_refused(check(headers, CALL("{\"v\": \"x\"}"), schema), "contains invalid characters");
        }
    }
    char value[0x7f - 0x21 + 1], headers[256], body[256];
    size_t body_len = 0;
    for (int c = 0x21; c < 0x7f; c++) { /* from '!': a value's leading space would be trimmed */
        value[c - 0x21] = (char)c;
        if (c == '"' || c == '\\')
            body[body_len++] = '\\';
        body[body_len++] = (char)c;
    }
    value[sizeof(value) - 1] = '\0';
    body[body_len] = '\0';
    snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-Val: %s\n", value);
    char call[512];
    snprintf(call, sizeof(call), CALL("{\"v\": \"%s\"}"), body);
    assert_int_equal(check(headers, call, schema), 0);
}

static void test_bad_base64(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("v", "string", "Val"));
    const char *body = CALL("{\"v\": \"Hello\"}"); /* "SGVsbG8=" */
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Val: =?base64?SGVsbG8=?=\n", body, schema), 0);
    static const char *const bad[] = {
        "=?base64?SGVsbG8?=",                  /* no padding */
        "=?base64?SGVsbG8*?=",                 /* outside the alphabet */
        "=?base64?SGVs-G8=?=",                 /* base64url */
        "=?base64?SGVsbG9=?=",                 /* leftover bits set: not canonical */
        "=?base64?SG=sbG8=?=",                 /* padding in the middle */
        "=?base64?SGVsbG8===?=",               /* too much padding */
        "=?base64?SGVs bG8=?=",                /* a space */
        "=?base64?====?=",       "=?base64?=", /* both markers, overlapping */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char headers[128];
        snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-Val: %s\n", bad[i]);
        assert_refused(check(headers, body, schema), "is not valid base64");
    }
    /* the markers are case-sensitive: this is a plain value, and a different one */
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: =?BASE64?SGVsbG8=?=\n", body, schema),
                   "header value '=?BASE64?SGVsbG8=?=' does not match body value 'Hello'");
    /* valid base64 of something else */
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: =?base64?SGVsbA==?=\n", body, schema),
                   "header value '=?base64?SGVsbA==?=' does not match body value 'Hello'");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: =?base64?SGVsbG8h?=\n", body, schema), "does not match");
}

static void test_decoded_bytes_must_be_utf8(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("v", "string", "Val"));
    static const char *const bad[] = {
        "=?base64?/w==?=",     /* 0xff */
        "=?base64?wK8=?=",     /* overlong '/' */
        "=?base64?7aCA?=",     /* a surrogate, U+D800 */
        "=?base64?5Lg=?=",     /* cut short */
        "=?base64?9JCAgA==?=", /* past U+10FFFF */
        "=?base64?gA==?=",     /* a lone continuation byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char headers[128];
        snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-Val: %s\n", bad[i]);
        assert_refused(check(headers, CALL("{\"v\": \"x\"}"), schema), "does not decode to UTF-8");
    }
    assert_refused(check(STANDARD "Mcp-Method: tools/call\nMcp-Name: =?base64?/w==?=\n", CALL("{}"), NULL),
                   "Mcp-Name header value '=?base64?/w==?=' does not decode to UTF-8");
    /* four-byte UTF-8 is fine: U+1F600 */
    assert_int_equal(
        check(CALL_HEADERS "Mcp-Param-Val: =?base64?8J+YgA==?=\n", CALL("{\"v\": \"\\ud83d\\ude00\"}"), schema), 0);
}

static void test_integers_compare_numerically(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("n", "integer", "N"));
    static const struct {
        const char *header, *body;
        int rc;
    } rows[] = {
        {"42", "42", 0},
        {"42.0", "42", 0},
        {"42.000", "42", 0},
        {"042", "42", 0},
        {"-7", "-7", 0},
        {"-0", "0", 0},
        {"0.0", "0", 0},
        {"=?base64?NDI=?=", "42", 0},     /* "42" in base64 */
        {"=?base64?NDIuMA==?=", "42", 0}, /* "42.0" */
        {"42", "42.0", 0},                /* a real without fraction in the body */
        {"9007199254740991", "9007199254740991", 0},
        {"-9007199254740991", "-9007199254740991", 0},
        {"00000000000000000000000042", "42", 0},
        {"42.5", "42", -1},
        {"42.", "42", -1},
        {".5", "0", -1},
        {"4.2e1", "42", -1},
        {"+42", "42", -1},
        {"0x2a", "42", -1},
        {"43", "42", -1},
        {"-42", "42", -1},
        {"", "42", -1},
        {"forty-two", "42", -1},
        {"9007199254740992", "9007199254740992", -1}, /* beyond 2^53-1 */
        {"99999999999999999999", "42", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char headers[128], body[256];
        snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-N: %s\n", rows[i].header);
        snprintf(body, sizeof(body), CALL("{\"n\": %s}"), rows[i].body);
        int rc = check(headers, body, schema);
        if (rc != rows[i].rc)
            fail_msg("header %s, body %s: %d (%s)", rows[i].header, rows[i].body, rc, why);
    }
    assert_refused(check(CALL_HEADERS "Mcp-Param-N: 43\n", CALL("{\"n\": 42}"), schema),
                   "Header mismatch: Mcp-Param-N header value '43' does not match body value '42'");
    assert_refused(check(CALL_HEADERS "Mcp-Param-N: 9007199254740992\n", CALL("{\"n\": 9007199254740992}"), schema),
                   "Header mismatch: body value for Mcp-Param-N is not an integer within +-(2^53-1)");
    assert_refused(check(CALL_HEADERS "Mcp-Param-N: 1.5\n", CALL("{\"n\": 1.5}"), schema),
                   "body value for Mcp-Param-N is not an integer");
    /* a long base64 integer takes the allocating path */
    char headers[256];
    snprintf(headers, sizeof(headers), CALL_HEADERS "Mcp-Param-N: =?base64?%s?=\n", /* "42." and 90 zeroes */
             "NDIuMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw"
             "MDAwMDAwMDAwMDAwMDAwMDAw");
    assert_int_equal(check(headers, CALL("{\"n\": 42}"), schema), 0);
    assert_refused(check(headers, CALL("{\"n\": 41}"), schema), "does not match body value '41'");
}

static void test_booleans(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("b", "boolean", "Flag"));
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Flag: true\n", CALL("{\"b\": true}"), schema), 0);
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Flag: false\n", CALL("{\"b\": false}"), schema), 0);
    assert_refused(check(CALL_HEADERS "Mcp-Param-Flag: True\n", CALL("{\"b\": true}"), schema),
                   "Mcp-Param-Flag header value 'True' does not match body value 'true'");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Flag: 1\n", CALL("{\"b\": true}"), schema), "does not match");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Flag: true\n", CALL("{\"b\": false}"), schema), "does not match");
}

static void test_presence_rules(void **state)
{
    (void)state;
    const char *schema = sql_schema;
    /* argument present: the header is required */
    assert_refused(check(CALL_HEADERS, CALL("{\"region\": \"us-west1\"}"), schema),
                   "Header mismatch: required header Mcp-Param-Region is missing");
    /* absent or null: no header expected, and one that comes anyway is refused */
    assert_int_equal(check(CALL_HEADERS, CALL("{\"query\": \"x\"}"), schema), 0);
    assert_int_equal(check(CALL_HEADERS, CALL("{\"region\": null}"), schema), 0);
    assert_int_equal(check(CALL_HEADERS,
                           "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {" META
                           ", \"name\": \"t\"}}",
                           schema),
                     0);
    assert_refused(check(CALL_HEADERS "Mcp-Param-Region: us-west1\n", CALL("{\"region\": null}"), schema),
                   "Header mismatch: header Mcp-Param-Region is present but the body has no value for it");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Region: us-west1\n", CALL("{}"), schema), "is present but");
    /* unannotated Mcp-Param headers are forwarded and otherwise ignored */
    assert_int_equal(
        check(CALL_HEADERS "Mcp-Param-Region: x\nMcp-Param-Query: whatever\n", CALL("{\"region\": \"x\"}"), schema), 0);
    /* a header name in any case matches; twice, in whatever cases, is ambiguous */
    assert_int_equal(check(CALL_HEADERS "mcp-param-region: x\n", CALL("{\"region\": \"x\"}"), schema), 0);
    assert_refused(
        check(CALL_HEADERS "Mcp-Param-Region: x\nmcp-param-REGION: x\n", CALL("{\"region\": \"x\"}"), schema),
        "Header mismatch: header Mcp-Param-Region appears more than once");
    /* without a schema (not known, or not a tools/call) Mcp-Param headers are not checked */
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Region: y\n", CALL("{\"region\": \"x\"}"), NULL), 0);
    assert_int_equal(check(STANDARD "Mcp-Method: prompts/get\nMcp-Name: t\nMcp-Param-Region: y\n",
                           "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"prompts/get\", \"params\": {" META
                           ", \"name\": \"t\", \"arguments\": {\"region\": \"x\"}}}",
                           schema),
                     0);
}

static void test_unmirrorable_arguments(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("v", "string", "Val"));
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: x\n", CALL("{\"v\": {\"a\": 1}}"), schema),
                   "Header mismatch: body value for Mcp-Param-Val is not a string, integer or boolean");
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: x\n", CALL("{\"v\": [1]}"), schema), "is not a string");
    /* other primitive types compare by what the body holds */
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Val: 5\n", CALL("{\"v\": 5}"), schema), 0);
}

static void test_nested_properties(void **state)
{
    (void)state;
    const char *schema =
        "{\"type\": \"object\", \"properties\": {\"target\": {\"type\": \"object\", \"properties\": {"
        "\"location\": {\"type\": \"object\", \"properties\": {" PROPERTY("region", "string", "Region") "}}}}}}";
    assert_int_equal(schema_valid(schema), 0);
    assert_int_equal(check(CALL_HEADERS "Mcp-Param-Region: eu\n",
                           CALL("{\"target\": {\"location\": {\"region\": \"eu\"}}}"), schema),
                     0);
    assert_refused(check(CALL_HEADERS, CALL("{\"target\": {\"location\": {\"region\": \"eu\"}}}"), schema),
                   "required header Mcp-Param-Region is missing");
    /* only the exact path counts */
    assert_int_equal(check(CALL_HEADERS, CALL("{\"region\": \"eu\", \"target\": {\"region\": \"eu\"}}"), schema), 0);
    assert_int_equal(check(CALL_HEADERS, CALL("{\"target\": {\"location\": \"eu\"}}"), schema), 0);
    assert_int_equal(check(CALL_HEADERS, CALL("{\"target\": null}"), schema), 0);
}

static void test_valid_annotations(void **state)
{
    (void)state;
    assert_int_equal(schema_valid(sql_schema), 0);
    assert_int_equal(schema_valid("{\"type\": \"object\"}"), 0);
    assert_int_equal(schema_valid("{\"type\": \"object\", \"additionalProperties\": false}"), 0);
    assert_int_equal(schema_valid(SCHEMA(PROPERTY("a", "integer", "A") "," PROPERTY("b", "boolean", "B") "," PROPERTY(
                         "c", "string", "!#$%&'*+-.^_`|~09azAZ"))),
                     0);
    assert_int_equal(schema_valid(SCHEMA("\"a\": {\"type\": [\"string\", \"null\"], \"x-mcp-header\": \"A\"}")), 0);
    /* instance data and property names are not annotations */
    assert_int_equal(schema_valid(SCHEMA("\"x-mcp-header\": {\"type\": \"string\"},"
                                         "\"d\": {\"type\": \"object\", \"default\": {\"x-mcp-header\": 1},"
                                         "\"const\": {\"x-mcp-header\": 2}, \"enum\": [{\"x-mcp-header\": 3}],"
                                         "\"examples\": [{\"x-mcp-header\": \"\"}]}")),
                     0);
    /* names are only collected, not kept: a valid schema can be checked again */
    json_t *schema = parse_json(sql_schema);
    assert_int_equal(mg_mirror_schema_valid(schema, NULL, 0), 0);
    assert_int_equal(mg_mirror_schema_valid(schema, NULL, 0), 0);
    json_decref(schema);
    assert_int_equal(mg_mirror_schema_valid(NULL, why, sizeof(why)), 0);
}

static void test_invalid_annotations(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *why;
    } rows[] = {
        {SCHEMA(PROPERTY("a", "string", "")), "x-mcp-header '' at #/properties/a is not an HTTP token"},
        {SCHEMA(PROPERTY("a", "string", "Re gion")), "is not an HTTP token"},
        {SCHEMA(PROPERTY("a", "string", "a:b")), "is not an HTTP token"},
        {SCHEMA(PROPERTY("a", "string", "a\\r\\nX-Evil: 1")),
         "'a\\x0d\\x0aX-Evil: 1' at #/properties/a is not an HTTP token"},
        {SCHEMA(PROPERTY("a", "string", "caf\\u00e9")), "is not an HTTP token"},
        {SCHEMA("\"a\": {\"type\": \"string\", \"x-mcp-header\": 42}"),
         "x-mcp-header at #/properties/a is not a string"},
        {SCHEMA(PROPERTY("a", "number", "A")),
         "x-mcp-header 'A' at #/properties/a is on a property whose type is not integer, string or boolean"},
        {SCHEMA(PROPERTY("a", "object", "A")), "whose type is not"},
        {SCHEMA(PROPERTY("a", "array", "A")), "whose type is not"},
        {SCHEMA(PROPERTY("a", "null", "A")), "whose type is not"},
        {SCHEMA("\"a\": {\"x-mcp-header\": \"A\"}"), "whose type is not"},
        {SCHEMA("\"a\": {\"type\": [\"number\", \"null\"], \"x-mcp-header\": \"A\"}"), "whose type is not"},
        {SCHEMA("\"a\": {\"type\": [\"null\"], \"x-mcp-header\": \"A\"}"), "whose type is not"},
        {SCHEMA("\"a\": {\"type\": [], \"x-mcp-header\": \"A\"}"), "whose type is not"},
        {SCHEMA(PROPERTY("a", "string", "Region") "," PROPERTY("b", "string", "REGION")),
         "x-mcp-header 'REGION' at #/properties/b repeats another one (case-insensitively)"},
        {SCHEMA(PROPERTY("a", "string", "X") ", \"o\": {\"type\": \"object\", \"properties\": {" PROPERTY("b", "string",
                                                                                                          "x") "}}"),
         "'x' at #/properties/o/properties/b repeats another one"},
        {"{\"type\": \"string\", \"x-mcp-header\": \"Root\"}",
         "x-mcp-header 'Root' at # is not on a property reached from the root through properties keys alone"},
        {SCHEMA("\"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"x-mcp-header\": \"Tag\"}}"),
         "x-mcp-header 'Tag' at #/properties/tags/items is not on a property reached"},
        {SCHEMA("\"t\": {\"type\": \"array\", \"prefixItems\": ["
                "{\"type\": \"string\", \"x-mcp-header\": \"T\"}]}"),
         "at #/properties/t/prefixItems/0 is not on a property reached"},
        {SCHEMA("\"a\": {\"anyOf\": [{\"type\": \"string\", \"x-mcp-header\": \"A\"}]}"),
         "at #/properties/a/anyOf/0 is not"},
        {SCHEMA("\"a\": {\"oneOf\": [{\"type\": \"string\"}, {\"type\": \"string\", \"x-mcp-header\": \"A\"}]}"),
         "at #/properties/a/oneOf/1 is not"},
        {SCHEMA("\"a\": {\"allOf\": [{\"type\": \"string\", \"x-mcp-header\": \"A\"}]}"),
         "at #/properties/a/allOf/0 is not"},
        {SCHEMA("\"a\": {\"not\": {\"type\": \"string\", \"x-mcp-header\": \"A\"}}"), "at #/properties/a/not is not"},
        {"{\"if\": {\"properties\": {" PROPERTY("a", "string", "A") "}}}", "at #/if/properties/a is not"},
        {"{\"then\": {\"properties\": {" PROPERTY("a", "string", "A") "}}}", "at #/then/properties/a is not"},
        {"{\"else\": {\"properties\": {" PROPERTY("a", "string", "A") "}}}", "at #/else/properties/a is not"},
        {"{\"properties\": {\"a\": {\"$ref\": \"#/$defs/r\"}}, \"$defs\": {\"r\": {\"type\": \"string\", "
         "\"x-mcp-header\": \"R\"}}}",
         "at #/$defs/r is not"},
        {"{\"definitions\": {\"r\": {\"type\": \"string\", \"x-mcp-header\": \"R\"}}}", "at #/definitions/r is not"},
        {"{\"additionalProperties\": {\"type\": \"string\", \"x-mcp-header\": \"A\"}}",
         "at #/additionalProperties is not"},
        {"{\"patternProperties\": {\"^a/~\": {\"type\": \"string\", \"x-mcp-header\": \"A\"}}}",
         "at #/patternProperties/^a~1~0 is not"},
        {"{\"dependentSchemas\": {\"a\": {\"properties\": {" PROPERTY("b", "string", "B") "}}}}",
         "at #/dependentSchemas/a/properties/b is not"},
        {"{\"x-vendor\": [[{\"type\": \"string\", \"x-mcp-header\": \"V\"}]]}", "at #/x-vendor/0/0 is not"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int rc = schema_valid(rows[i].schema);
        if (rc != -1 || strstr(why, rows[i].why) == NULL)
            fail_msg("schema %s: expected \"%s\", got %d: \"%s\"", rows[i].schema, rows[i].why, rc, why);
    }
}

static void test_annotation_limits(void **state)
{
    (void)state;
    char schema[8192] = "{\"properties\": {";
    for (int i = 0; i <= MG_MIRROR_MAX_ANNOTATIONS; i++) {
        char property[64];
        snprintf(property, sizeof(property), "%s\"p%d\": {\"type\": \"string\", \"x-mcp-header\": \"H%d\"}",
                 i ? "," : "", i, i);
        strcat(schema, property);
    }
    strcat(schema, "}}");
    assert_int_equal(schema_valid(schema), -1);
    assert_string_equal(why, "more than 64 x-mcp-header annotations");

    /* a schema nested past the limit is refused rather than walked */
    char deep[4096] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "{\"not\": ");
    strcat(deep, "{}");
    for (int i = 0; i < 70; i++)
        strcat(deep, "}");
    assert_int_equal(schema_valid(deep), -1);
    assert_non_null(strstr(why, "schema nests too deeply at #/not/not/not"));
}

static void test_check_refuses_invalid_schema(void **state)
{
    (void)state;
    assert_refused(check(CALL_HEADERS, CALL("{}"), SCHEMA(PROPERTY("a", "number", "A"))),
                   "Header mismatch: the tool's inputSchema cannot be mirrored: x-mcp-header 'A' at #/properties/a");
}

static void test_messages_are_safe_and_short(void **state)
{
    (void)state;
    /* a long body value is cut; control characters and quotes never appear raw */
    assert_refused(check(CALL_HEADERS "Mcp-Param-Val: x\n",
                         CALL("{\"v\": \"it's\\u001b[31m red\\nline and then a great deal more text that goes on\"}"),
                         SCHEMA(PROPERTY("v", "string", "Val"))),
                   "does not match body value 'it\\x27s\\x1b[31m red\\x0aline and then a great deal more te...'");
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    char headers[512], body[512];
    snprintf(headers, sizeof(headers), STANDARD "Mcp-Method: tools/call\nMcp-Name: %s\n", long_name);
    snprintf(body, sizeof(body),
             "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {" META ", \"name\": \"x\"}}");
    assert_int_equal(check(headers, body, NULL), -1);
    assert_true(strlen(why) < 200);
    /* a small buffer gets a cut message, and none at all is fine */
    test_headers_t parsed;
    parse_headers(&parsed, "Mcp-Method: tools/list\n");
    json_t *root = parse_json("{\"method\": \"tools/list\"}");
    char tiny[8];
    assert_int_equal(mg_mirror_check(&parsed.headers, root, NULL, NULL, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "Header ");
    assert_int_equal(mg_mirror_check(&parsed.headers, root, NULL, NULL, NULL, 0), -1);
    json_decref(root);
}

typedef struct st_collected_t {
    char names[8][256];
    char values[8][160];
    size_t len;
} collected_t;

static void collect(void *ctx, const char *name, const char *value)
{
    collected_t *collected = ctx;
    assert_true(collected->len < 8);
    snprintf(collected->names[collected->len], sizeof(collected->names[0]), "%s", name);
    snprintf(collected->values[collected->len], sizeof(collected->values[0]), "%s", value);
    collected->len++;
}

static int emit(const char *schema_text, const char *arguments_text, collected_t *collected)
{
    json_t *schema = parse_json(schema_text);
    json_t *arguments = parse_json(arguments_text);
    memset(collected, 0, sizeof(*collected));
    why[0] = '\0';
    int rc = mg_mirror_param_headers(schema, NULL, arguments, collect, collected, why, sizeof(why));
    mg_mirror_schemas_t known;
    mg_mirror_schemas_clear(&known);
    for (int round = 0; round < 2; round++) { /* the same headers, with the verdict worked out or remembered */
        collected_t again;
        memset(&again, 0, sizeof(again));
        char again_why[sizeof(why)] = "";
        assert_int_equal(
            mg_mirror_param_headers(schema, &known, arguments, collect, &again, again_why, sizeof(again_why)), rc);
        assert_string_equal(again_why, why);
        assert_int_equal(again.len, collected->len);
        for (size_t i = 0; i < again.len; i++) {
            assert_string_equal(again.names[i], collected->names[i]);
            assert_string_equal(again.values[i], collected->values[i]);
        }
    }
    json_decref(schema);
    json_decref(arguments);
    return rc;
}

static void test_param_headers(void **state)
{
    (void)state;
    collected_t got;
    assert_int_equal(emit(sql_schema, "{\"region\": \"us-west1\", \"query\": \"SELECT 1\"}", &got), 0);
    assert_int_equal(got.len, 1);
    assert_string_equal(got.names[0], "Mcp-Param-Region");
    assert_string_equal(got.values[0], "us-west1");

    const char *schema = SCHEMA(PROPERTY("g", "string", "Greeting") "," PROPERTY("n", "integer", "N") "," PROPERTY(
        "b", "boolean", "B") "," PROPERTY("m", "string", "Missing") ","
                                                                    "\"o\": {\"properties\": {" PROPERTY(
                                                                        "deep", "string", "Deep") "}}");
    assert_int_equal(emit(schema,
                          "{\"g\": \"Hello, \\u4e16\\u754c\", \"n\": -9007199254740991, \"b\": false, \"m\": null, "
                          "\"o\": {\"deep\": \" padded \"}}",
                          &got),
                     0);
    assert_int_equal(got.len, 4);
    assert_string_equal(got.names[0], "Mcp-Param-Greeting");
    assert_string_equal(got.values[0], "=?base64?SGVsbG8sIOS4lueVjA==?=");
    assert_string_equal(got.names[1], "Mcp-Param-N");
    assert_string_equal(got.values[1], "-9007199254740991");
    assert_string_equal(got.names[2], "Mcp-Param-B");
    assert_string_equal(got.values[2], "false");
    assert_string_equal(got.names[3], "Mcp-Param-Deep");
    assert_string_equal(got.values[3], "=?base64?IHBhZGRlZCA=?=");
    assert_int_equal(emit(schema, "{\"n\": 42.0}", &got), 0);
    assert_string_equal(got.values[0], "42");

    /* what cannot be mirrored is refused before anything goes upstream */
    assert_int_equal(emit(schema, "{\"n\": 9007199254740992}", &got), -1);
    assert_string_equal(why, "argument for Mcp-Param-N is not a string, boolean or integer within +-(2^53-1)");
    assert_int_equal(emit(schema, "{\"g\": [\"x\"]}", &got), -1);
    assert_int_equal(emit(SCHEMA(PROPERTY("a", "number", "A")), "{\"a\": 1}", &got), -1);
    assert_non_null(strstr(why, "whose type is not"));
    assert_int_equal(got.len, 0);

    /* a long annotation name */
    char long_schema[512], name[200];
    memset(name, 'L', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(long_schema, sizeof(long_schema), SCHEMA("\"a\": {\"type\": \"string\", \"x-mcp-header\": \"%s\"}"), name);
    assert_int_equal(emit(long_schema, "{\"a\": \"v\"}", &got), 0);
    assert_int_equal(got.len, 1);
    assert_int_equal(strlen(got.names[0]), strlen("Mcp-Param-") + strlen(name));
}

/* What the gateway emits as a client is what it accepts as a server. */
static void test_round_trip(void **state)
{
    (void)state;
    const char *schema = SCHEMA(PROPERTY("g", "string", "Greeting") "," PROPERTY("n", "integer", "N") "," PROPERTY(
        "b", "boolean", "B") "," PROPERTY("e", "string", "Empty"));
    const char *arguments = "{\"g\": \"=?base64?literal?=\\t\\u00ff\", \"n\": 7, \"b\": true, \"e\": \"\"}";
    collected_t got;
    assert_int_equal(emit(schema, arguments, &got), 0);
    assert_int_equal(got.len, 4);
    char headers[1024] = CALL_HEADERS;
    for (size_t i = 0; i < got.len; i++) {
        char line[400];
        snprintf(line, sizeof(line), "%s: %s\n", got.names[i], got.values[i]);
        strcat(headers, line);
    }
    char body[512];
    snprintf(body, sizeof(body), CALL("%s"), arguments);
    assert_int_equal(check(headers, body, schema), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_passes),
        cmocka_unit_test(test_protocol_version),
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_spec_encoding_table),
        cmocka_unit_test(test_encode_edges),
        cmocka_unit_test(test_invalid_characters),
        cmocka_unit_test(test_invalid_characters_anywhere),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_decoded_bytes_must_be_utf8),
        cmocka_unit_test(test_integers_compare_numerically),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_presence_rules),
        cmocka_unit_test(test_unmirrorable_arguments),
        cmocka_unit_test(test_nested_properties),
        cmocka_unit_test(test_valid_annotations),
        cmocka_unit_test(test_invalid_annotations),
        cmocka_unit_test(test_annotation_limits),
        cmocka_unit_test(test_check_refuses_invalid_schema),
        cmocka_unit_test(test_messages_are_safe_and_short),
        cmocka_unit_test(test_param_headers),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
