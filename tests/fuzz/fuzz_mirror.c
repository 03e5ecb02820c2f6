/*
 * fuzz_mirror.c - libFuzzer target for the request-metadata header checks.
 *
 * Input: "<headers>\0<body JSON>\0<inputSchema JSON>", the headers as "Name: value"
 * lines. Whatever comes in, mg_mirror_check and mg_mirror_schema_valid answer with
 * a printable message. Two round trips must hold:
 *   - the headers mg_mirror_encode and mg_mirror_param_headers make from a body are
 *     accepted by mg_mirror_check for that body (what the gateway sends as a client
 *     it accepts as a server);
 *   - the headers text itself, encoded as an Mcp-Name, reads back as that name when it
 *     is UTF-8, and is refused as not UTF-8 when it is not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"
#include "mcp/mirror.h"

#define MAX_PARAMS (MG_MIRROR_MAX_ANNOTATIONS + 8)

static void check(int condition)
{
    if (!condition)
        abort();
}

static void check_message(int rc, const char *why, int mismatch)
{
    if (rc == 0)
        return;
    check(rc == -1);
    for (const char *p = why; *p != '\0'; p++)
        check(*p >= 0x20 && *p < 0x7f);
    check(!mismatch || strncmp(why, "Header mismatch: ", 17) == 0);
}

static int ascii_prefix_nocase(const char *text, size_t len, const char *prefix)
{
    size_t prefix_len = strlen(prefix);
    return len >= prefix_len && strncasecmp(text, prefix, prefix_len) == 0;
}

typedef struct st_fuzz_headers_t {
    mg_mirror_headers_t headers;
    mg_mirror_param_t params[MAX_PARAMS];
    char *owned[MAX_PARAMS * 2 + 4]; /* copies made for the round trip */
    size_t owned_len;
} fuzz_headers_t;

static void parse_headers(fuzz_headers_t *out, const char *text, size_t len)
{
    memset(out, 0, sizeof(*out));
    out->headers.params = out->params;
    const char *end_of_text = text + len;
    for (const char *line = text; line < end_of_text;) {
        const char *end = memchr(line, '\n', (size_t)(end_of_text - line));
        if (end == NULL)
            end = end_of_text;
        const char *colon = memchr(line, ':', (size_t)(end - line));
        if (colon != NULL) {
            size_t name_len = (size_t)(colon - line);
            mg_mirror_value_t value = {colon + 1, (size_t)(end - colon - 1)};
            if (name_len == 20 && ascii_prefix_nocase(line, name_len, "MCP-Protocol-Version"))
                out->headers.protocol_version = value;
            else if (name_len == 10 && ascii_prefix_nocase(line, name_len, "Mcp-Method"))
                out->headers.method = value;
            else if (name_len == 8 && ascii_prefix_nocase(line, name_len, "Mcp-Name"))
                out->headers.name = value;
            else if (ascii_prefix_nocase(line, name_len, "Mcp-Param-") && out->headers.params_len < MAX_PARAMS)
                out->params[out->headers.params_len++] = (mg_mirror_param_t){{line + 10, name_len - 10}, value};
        }
        line = end + 1;
    }
}

static mg_mirror_value_t own(fuzz_headers_t *headers, const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    check(copy != NULL && headers->owned_len < sizeof(headers->owned) / sizeof(headers->owned[0]));
    memcpy(copy, text, len);
    copy[len] = '\0';
    headers->owned[headers->owned_len++] = copy;
    return (mg_mirror_value_t){copy, len};
}

static void disown(fuzz_headers_t *headers)
{
    for (size_t i = 0; i < headers->owned_len; i++)
        free(headers->owned[i]);
}

static void collect(void *ctx, const char *name, const char *value)
{
    fuzz_headers_t *headers = ctx;
    check(strncmp(name, "Mcp-Param-", 10) == 0);
    for (const char *p = value; *p != '\0'; p++)
        check(*p >= 0x20 && *p < 0x7f);
    check(headers->headers.params_len < MAX_PARAMS);
    mg_mirror_param_t *param = &headers->params[headers->headers.params_len++];
    param->name = own(headers, name + 10, strlen(name) - 10);
    param->value = own(headers, value, strlen(value));
}

/* A standard header carries the body value as is, so the value must survive HTTP as is. */
static int survives_as_is(const json_t *value)
{
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (text == NULL || len == 0 || text[0] == ' ' || text[0] == '\t' || text[len - 1] == ' ' || text[len - 1] == '\t')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\t' && (text[i] < 0x20 || text[i] > 0x7e))
            return 0;
    }
    return 1;
}

static mg_mirror_value_t encoded(fuzz_headers_t *headers, const json_t *value)
{
    char *text = mg_mirror_encode(json_string_value(value), json_string_length(value));
    check(text != NULL);
    mg_mirror_value_t out = own(headers, text, strlen(text));
    free(text);
    return out;
}

static void round_trip_body(const json_t *root, const json_t *schema)
{
    const json_t *params = json_object_get(root, "params");
    const json_t *version =
        json_object_get(json_object_get(params, "_meta"), "io.modelcontextprotocol/protocolVersion");
    const json_t *method = json_object_get(root, "method");
    if (!survives_as_is(version) || !survives_as_is(method))
        return;
    fuzz_headers_t headers;
    memset(&headers, 0, sizeof(headers));
    headers.headers.params = headers.params;
    headers.headers.protocol_version = own(&headers, json_string_value(version), json_string_length(version));
    headers.headers.method = own(&headers, json_string_value(method), json_string_length(method));
    const char *name = json_string_value(method);
    const char *field = strcmp(name, "resources/read") == 0 ? "uri"
                        : strncmp(name, "tasks/", 6) == 0   ? "taskId"
                                                            : "name";
    if (json_is_string(json_object_get(params, field)))
        headers.headers.name = encoded(&headers, json_object_get(params, field));
    int expect_pass = 1;
    if (schema != NULL && strcmp(name, "tools/call") == 0) {
        char why[256] = "";
        int rc = mg_mirror_param_headers(schema, NULL, json_object_get(params, "arguments"), collect, &headers, why,
                                         sizeof(why));
        check_message(rc, why, 0);
        expect_pass = rc == 0;
    }
    char why[512] = "";
    int rc = mg_mirror_check(&headers.headers, root, schema, NULL, why, sizeof(why));
    check_message(rc, why, 1);
    if (expect_pass)
        check(rc == 0);
    disown(&headers);
}

static void round_trip_name(const char *text, size_t len)
{
    char *value = mg_mirror_encode(text, len);
    check(value != NULL);
    size_t value_len = strlen(value);
    for (size_t i = 0; i < value_len; i++)
        check(value[i] >= 0x20 && value[i] < 0x7f);
    check(value_len == 0 || (value[0] != ' ' && value[value_len - 1] != ' '));
    json_t *name = json_stringn(text, len); /* NULL when not UTF-8 */
    json_t *root = json_pack("{s:s, s:i, s:s, s:{s:{s:s}, s:o}}", "jsonrpc", "2.0", "id", 1, "method", "prompts/get",
                             "params", "_meta", "io.modelcontextprotocol/protocolVersion", "2026-07-28", "name",
                             name != NULL ? name : json_string("x"));
    check(root != NULL);
    mg_mirror_headers_t headers = {{"2026-07-28", 10}, {"prompts/get", 11}, {value, value_len}, NULL, 0, NULL};
    char why[512] = "";
    int rc = mg_mirror_check(&headers, root, NULL, NULL, why, sizeof(why));
    check_message(rc, why, 1);
    if (name != NULL)
        check(rc == 0);
    else
        check(rc == -1 && strstr(why, "does not decode to UTF-8") != NULL);
    json_decref(root);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *parts[3] = {(const char *)data, "", ""};
    size_t lens[3] = {size, 0, 0};
    for (int i = 0; i < 2; i++) {
        const char *cut = memchr(parts[i], '\0', lens[i]);
        if (cut == NULL)
            break;
        parts[i + 1] = cut + 1;
        lens[i + 1] = lens[i] - (size_t)(cut + 1 - parts[i]);
        lens[i] = (size_t)(cut - parts[i]);
    }
    json_t *root = json_loadb(parts[1], lens[1], MG_JSON_DECODE_FLAGS, NULL);
    json_t *schema = json_loadb(parts[2], lens[2], MG_JSON_DECODE_FLAGS, NULL);

    fuzz_headers_t headers;
    parse_headers(&headers, parts[0], lens[0]);
    char why[512] = "";
    int rc = mg_mirror_check(&headers.headers, root, schema, NULL, why, sizeof(why));
    check_message(rc, why, 1);
    /* a remembered verdict (the memory filled by the first call, used by the second) changes nothing */
    mg_mirror_schemas_t known;
    mg_mirror_schemas_clear(&known);
    for (int round = 0; round < 2; round++) {
        char again[sizeof(why)] = "";
        check(mg_mirror_check(&headers.headers, root, schema, &known, again, sizeof(again)) == rc);
        check(strcmp(again, why) == 0);
    }
    check_message(mg_mirror_schema_valid(schema, why, sizeof(why)), why, 0);

    if (json_is_object(root))
        round_trip_body(root, schema);
    round_trip_name(parts[0], lens[0]);

    json_decref(root);
    json_decref(schema);
    return 0;
}
