/*
 * test_modern.c - the MCP 2026-07-28 ("modern") era's pure parts: reading a request's
 * _meta, completing a result for a modern client, the legacy copy of modern params,
 * the sealed MRTR requestState (mrtr.h), task handles (tasks.h) and the version lists.
 *
 * Each error path of mg_modern_read_meta is reached once, with its code and message;
 * every way a requestState can be wrong is refused with a reason that starts
 * "Invalid requestState:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "mcp/mrtr.h"
#include "mcp/seal.h"
#include "mcp/session.h"
#include "mcp/tasks.h"
#include "mcp/versions.h"

#define NOW ((int64_t)1800000000)

static mg_session_key_t test_key(unsigned char fill)
{
    mg_session_key_t key;
    memset(key.bytes, fill, sizeof(key.bytes));
    return key;
}

/* The decoder the tests use: mg_rpc_decode, or the front end's mg_rpc_decode_client, which reads the _meta
 * of a modern request without building it (the read_meta tests run with both). */
static int (*decoder)(const char *, size_t, int, mg_rpc_message_t *, mg_rpc_error_t *) = mg_rpc_decode;

static int use_client_decoder(void **state)
{
    (void)state;
    decoder = mg_rpc_decode_client;
    return 0;
}

static int use_plain_decoder(void **state)
{
    (void)state;
    decoder = mg_rpc_decode;
    return 0;
}

/* Decodes `text` as a client message; fails the test when it is not valid JSON-RPC. */
static void decode(const char *text, mg_rpc_message_t *message)
{
    mg_rpc_error_t err;
    if (decoder(text, strlen(text), 32, message, &err) != 0)
        fail_msg("decode %s: %s", text, err.message);
}

/* A tools/call whose params._meta is `meta_json` (raw JSON text, or NULL for no _meta at all). */
static void request_with_meta(const char *meta_json, mg_rpc_message_t *message)
{
    char text[2048];
    if (meta_json == NULL)
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}");
    else
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\",\"_meta\":%s}}",
                 meta_json);
    decode(text, message);
}

#define PV "\"io.modelcontextprotocol/protocolVersion\""
#define CC "\"io.modelcontextprotocol/clientCapabilities\""
#define CI "\"io.modelcontextprotocol/clientInfo\""
#define LL "\"io.modelcontextprotocol/logLevel\""

/* Asserts mg_modern_read_meta refuses the _meta with `code` and a message containing `part`. */
static void assert_meta_refused(const char *meta_json, int code, const char *part)
{
    mg_rpc_message_t message;
    request_with_meta(meta_json, &message);
    mg_modern_meta_t meta;
    mg_modern_error_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(mg_modern_read_meta(&message, &meta, &err), -1);
    assert_int_equal(err.code, code);
    if (strstr(err.message, part) == NULL)
        fail_msg("_meta %s: message \"%s\" lacks \"%s\"", meta_json ? meta_json : "(none)", err.message, part);
    if (code != MG_RPC_UNSUPPORTED_VERSION)
        assert_null(err.data);
    json_decref(err.data);
    mg_rpc_message_dispose(&message);
}

/* ---- mg_modern_read_meta ----------------------------------------------------------------------- */

static void read_meta_accepts_a_full_envelope(void **state)
{
    (void)state;
    mg_rpc_message_t message;
    request_with_meta("{" PV ":\"2026-07-28\"," CC ":{\"elicitation\":{}}," CI ":{\"name\":\"c\",\"version\":\"1\"}," LL
                      ":\"warning\",\"progressToken\":7}",
                      &message);
    assert_true(mg_modern_declared(&message));
    mg_modern_meta_t meta;
    mg_modern_error_t err;
    assert_int_equal(mg_modern_read_meta(&message, &meta, &err), 0);
    assert_string_equal(meta.protocol_version, "2026-07-28");
    assert_true(json_is_object(meta.client_capabilities));
    assert_string_equal(json_string_value(json_object_get(meta.client_info, "name")), "c");
    assert_string_equal(meta.log_level, "warning");
    assert_true(mg_modern_client_can(&meta, "elicitation"));
    assert_false(mg_modern_client_can(&meta, "sampling"));
    assert_false(mg_modern_client_can(&meta, "roots"));
    mg_rpc_message_dispose(&message);
}

static void read_meta_accepts_the_minimum(void **state)
{
    (void)state;
    mg_rpc_message_t message;
    request_with_meta("{" PV ":\"2026-07-28\"," CC ":{}}", &message);
    mg_modern_meta_t meta;
    mg_modern_error_t err;
    assert_int_equal(mg_modern_read_meta(&message, &meta, &err), 0);
    assert_null(meta.client_info);
    assert_null(meta.log_level);
    assert_false(mg_modern_client_can(&meta, "elicitation"));
    mg_rpc_message_dispose(&message);
}

static void read_meta_requires_an_object(void **state)
{
    (void)state;
    assert_meta_refused(NULL, MG_RPC_INVALID_PARAMS, "params._meta is required and must be an object");
    assert_meta_refused("[]", MG_RPC_INVALID_PARAMS, "params._meta is required and must be an object");
    assert_meta_refused("\"2026-07-28\"", MG_RPC_INVALID_PARAMS, "params._meta is required and must be an object");
}

static void read_meta_requires_a_version_string(void **state)
{
    (void)state;
    assert_meta_refused("{" CC ":{}}", MG_RPC_INVALID_PARAMS, "protocolVersion\"] must be a string");
    assert_meta_refused("{" PV ":20260728," CC ":{}}", MG_RPC_INVALID_PARAMS, "protocolVersion\"] must be a string");
    assert_meta_refused("{" PV ":null," CC ":{}}", MG_RPC_INVALID_PARAMS, "protocolVersion\"] must be a string");
}

static void read_meta_refuses_unsupported_versions_with_data(void **state)
{
    (void)state;
    /* legacy versions are not modern ones, nor are near misses */
    const char *versions[] = {"2025-11-25", "2026-07-29", "2026-07-28 ", "", "2099-01-01"};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        char meta_json[256];
        snprintf(meta_json, sizeof(meta_json), "{" PV ":\"%s\"," CC ":{}}", versions[i]);
        mg_rpc_message_t message;
        request_with_meta(meta_json, &message);
        mg_modern_meta_t meta;
        mg_modern_error_t err;
        assert_int_equal(mg_modern_read_meta(&message, &meta, &err), -1);
        assert_int_equal(err.code, MG_RPC_UNSUPPORTED_VERSION);
        assert_non_null(strstr(err.message, "Unsupported protocol version"));
        assert_non_null(err.data);
        assert_string_equal(json_string_value(json_object_get(err.data, "requested")), versions[i]);
        json_t *supported = json_object_get(err.data, "supported");
        assert_true(json_is_array(supported));
        assert_string_equal(json_string_value(json_array_get(supported, 0)), "2026-07-28");
        json_decref(err.data);
        mg_rpc_message_dispose(&message);
    }
}

static void read_meta_requires_capabilities_object(void **state)
{
    (void)state;
    assert_meta_refused("{" PV ":\"2026-07-28\"}", MG_RPC_INVALID_PARAMS, "clientCapabilities\"] is required");
    assert_meta_refused("{" PV ":\"2026-07-28\"," CC ":[]}", MG_RPC_INVALID_PARAMS,
                        "clientCapabilities\"] is required");
    assert_meta_refused("{" PV ":\"2026-07-28\"," CC ":null}", MG_RPC_INVALID_PARAMS,
                        "clientCapabilities\"] is required");
}

static void read_meta_checks_client_info_and_log_level(void **state)
{
    (void)state;
    assert_meta_refused("{" PV ":\"2026-07-28\"," CC ":{}," CI ":\"me\"}", MG_RPC_INVALID_PARAMS,
                        "clientInfo\"] must be an object");
    assert_meta_refused("{" PV ":\"2026-07-28\"," CC ":{}," LL ":\"verbose\"}", MG_RPC_INVALID_PARAMS,
                        "logLevel\"] is not a logging level");
    assert_meta_refused("{" PV ":\"2026-07-28\"," CC ":{}," LL ":3}", MG_RPC_INVALID_PARAMS,
                        "logLevel\"] is not a logging level");
    assert_meta_refused("{" PV ":\"2026-07-28\"," CC ":{}," LL ":\"DEBUG\"}", MG_RPC_INVALID_PARAMS,
                        "logLevel\"] is not a logging level");
    /* every RFC 5424 level the spec names is accepted */
    const char *levels[] = {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        char meta_json[256];
        snprintf(meta_json, sizeof(meta_json), "{" PV ":\"2026-07-28\"," CC ":{}," LL ":\"%s\"}", levels[i]);
        mg_rpc_message_t message;
        request_with_meta(meta_json, &message);
        mg_modern_meta_t meta;
        mg_modern_error_t err;
        assert_int_equal(mg_modern_read_meta(&message, &meta, &err), 0);
        assert_string_equal(meta.log_level, levels[i]);
        mg_rpc_message_dispose(&message);
    }
}

/* With mg_rpc_decode_client, a modern request's _meta is the message's record, not a value in params. */
static void read_meta_reads_the_decoders_record(void **state)
{
    (void)state;
    mg_rpc_message_t message;
    request_with_meta("{" PV ":\"2026-07-28\"," CC ":{\"sampling\":{}}," LL ":\"error\"," CI ":{\"name\":\"c\"}}",
                      &message);
    assert_non_null(message.meta);
    assert_null(json_object_get(message.params, "_meta"));
    assert_true(mg_modern_declared(&message));
    mg_modern_meta_t meta;
    mg_modern_error_t err;
    assert_int_equal(mg_modern_read_meta(&message, &meta, &err), 0);
    assert_null(meta.object);
    /* the version outlives the message it was read from: not the record's copy */
    assert_string_equal(meta.protocol_version, MG_VERSION_MODERN);
    assert_true(meta.protocol_version != message.meta->protocol_version);
    assert_int_equal(meta.protocol_version_len, strlen(MG_VERSION_MODERN));
    assert_ptr_equal(meta.client_capabilities, message.meta->client_capabilities);
    assert_true(mg_modern_client_can(&meta, "sampling"));
    assert_string_equal(json_string_value(json_object_get(meta.client_info, "name")), "c");
    assert_string_equal(meta.log_level, "error");
    /* the escaped spelling of the same version is the same version */
    mg_rpc_message_dispose(&message);
    request_with_meta("{" PV ":\"2026\\u002d07-28\"," CC ":{}}", &message);
    assert_non_null(message.meta);
    assert_int_equal(mg_modern_read_meta(&message, &meta, &err), 0);
    mg_rpc_message_dispose(&message);
}

static void declared_only_for_requests_naming_a_version(void **state)
{
    (void)state;
    mg_rpc_message_t message;
    request_with_meta("{" CC ":{}}", &message);
    assert_false(mg_modern_declared(&message));
    mg_rpc_message_dispose(&message);
    decode("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":{\"_meta\":{" PV ":\"2026-07-28\"}}}",
           &message);
    assert_false(mg_modern_declared(&message)); /* a notification is no request */
    mg_rpc_message_dispose(&message);
    decode("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}", &message);
    assert_false(mg_modern_declared(&message));
    mg_rpc_message_dispose(&message);
}

/* ---- mg_modern_complete_result ------------------------------------------------------------------ */

static void complete_result_adds_result_type_everywhere(void **state)
{
    (void)state;
    json_t *result = json_pack("{s:[]}", "content");
    mg_modern_complete_result(result, "tools/call", 5000, "public");
    assert_string_equal(json_string_value(json_object_get(result, "resultType")), "complete");
    /* tools/call is not cacheable */
    assert_null(json_object_get(result, "ttlMs"));
    assert_null(json_object_get(result, "cacheScope"));
    json_decref(result);

    /* a result that says its own type keeps it, and an input_required list gets no cache hints */
    result = json_pack("{s:s}", "resultType", "input_required");
    mg_modern_complete_result(result, "tools/list", 5000, "public");
    assert_string_equal(json_string_value(json_object_get(result, "resultType")), "input_required");
    assert_null(json_object_get(result, "ttlMs"));
    json_decref(result);

    /* not an object: nothing to do, no crash */
    json_t *array = json_array();
    mg_modern_complete_result(array, "tools/list", 0, "public");
    assert_int_equal(json_array_size(array), 0);
    json_decref(array);
}

/* The answer's text is written with completion edits instead of completing the result in place: the
 * text must be exactly what completing a copy and writing it gives, whatever the result holds. */
static void completion_edits_write_what_completion_makes(void **state)
{
    (void)state;
    static const char *const results[] = {
        "{\"content\":[]}",
        "{\"tools\":[],\"resultType\":\"complete\"}",
        "{\"tools\":[],\"ttlMs\":-5,\"cacheScope\":\"public\",\"x\":1}",
        "{\"ttlMs\":300,\"cacheScope\":\"private\",\"tools\":[]}",
        "{\"cacheScope\":7,\"ttlMs\":1.5}",
        "{\"resultType\":\"input_required\",\"inputRequests\":{}}",
        "{\"resultType\":\"task\",\"ttlMs\":null}",
        "{\"resultType\":42}",
        "{}",
    };
    static const char *const methods[] = {"tools/call", "tools/list", "resources/read", "server/discover", "x/y"};
    static const char *const scopes[] = {"public", "private"};
    for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++) {
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            for (size_t s = 0; s < 2; s++) {
                json_t *result = json_loads(results[r], 0, NULL);
                assert_non_null(result);
                json_t *completed = json_deep_copy(result);
                mg_modern_complete_result(completed, methods[m], 0, scopes[s]);
                char *expected = json_dumps(completed, JSON_COMPACT);
                mg_json_edit_t edits[MG_MODERN_COMPLETION_EDITS];
                size_t n = mg_modern_completion_edits(result, methods[m], scopes[s], edits);
                mg_bytes_t out = {0};
                assert_int_equal(mg_json_write_edited(&out, result, edits, n, JSON_COMPACT), 0);
                mg_bytes_append(&out, "", 1);
                assert_string_equal(out.base, expected);
                for (size_t e = 0; e < n; e++)
                    edits[e].text = NULL; /* a member's text says what its key and value would write */
                out.len = 0;
                assert_int_equal(mg_json_write_edited(&out, result, edits, n, JSON_COMPACT), 0);
                mg_bytes_append(&out, "", 1);
                assert_string_equal(out.base, expected);
                mg_bytes_dispose(&out);
                free(expected);
                json_decref(completed);
                json_decref(result);
            }
        }
    }
    json_t *array = json_array(); /* not an object: nothing to complete */
    mg_json_edit_t edits[MG_MODERN_COMPLETION_EDITS];
    assert_int_equal(mg_modern_completion_edits(array, "tools/list", "public", edits), 0);
    json_decref(array);
}

static void complete_result_adds_cache_hints_to_cacheable_methods(void **state)
{
    (void)state;
    const char *cacheable[] = {
        "tools/list",     "prompts/list", "resources/list", "resources/read", "resources/templates/list",
        "server/discover"};
    for (size_t i = 0; i < sizeof(cacheable) / sizeof(cacheable[0]); i++) {
        json_t *result = json_object();
        mg_modern_complete_result(result, cacheable[i], 1234, "public");
        assert_string_equal(json_string_value(json_object_get(result, "resultType")), "complete");
        assert_int_equal(json_integer_value(json_object_get(result, "ttlMs")), 1234);
        assert_string_equal(json_string_value(json_object_get(result, "cacheScope")), "public");
        json_decref(result);
    }
    const char *not_cacheable[] = {"tools/call", "prompts/get", "completion/complete", "ping"};
    for (size_t i = 0; i < sizeof(not_cacheable) / sizeof(not_cacheable[0]); i++) {
        json_t *result = json_object();
        mg_modern_complete_result(result, not_cacheable[i], 1234, "public");
        assert_null(json_object_get(result, "ttlMs"));
        assert_null(json_object_get(result, "cacheScope"));
        json_decref(result);
    }
}

static void complete_result_keeps_a_valid_ttl_and_replaces_a_bad_one(void **state)
{
    (void)state;
    json_t *result = json_pack("{s:I}", "ttlMs", (json_int_t)60000);
    mg_modern_complete_result(result, "tools/list", 5, "public");
    assert_int_equal(json_integer_value(json_object_get(result, "ttlMs")), 60000);
    json_decref(result);

    result = json_pack("{s:I}", "ttlMs", (json_int_t)-1);
    mg_modern_complete_result(result, "tools/list", 5, "public");
    assert_int_equal(json_integer_value(json_object_get(result, "ttlMs")), 5);
    json_decref(result);

    result = json_pack("{s:s}", "ttlMs", "600");
    mg_modern_complete_result(result, "tools/list", 5, "public");
    assert_true(json_is_integer(json_object_get(result, "ttlMs")));
    assert_int_equal(json_integer_value(json_object_get(result, "ttlMs")), 5);
    json_decref(result);

    result = json_pack("{s:f}", "ttlMs", 1.5);
    mg_modern_complete_result(result, "tools/list", 5, "public");
    assert_int_equal(json_integer_value(json_object_get(result, "ttlMs")), 5);
    json_decref(result);
}

static void complete_result_takes_the_stricter_scope(void **state)
{
    (void)state;
    struct {
        const char *server; /* NULL: the server said nothing */
        const char *gateway;
        const char *expected;
    } cases[] = {
        {NULL, "public", "public"},      {"public", "public", "public"},   {"private", "public", "private"},
        {NULL, "private", "private"},    {"public", "private", "private"}, {"private", "private", "private"},
        {"shared", "public", "private"}, /* an unknown scope is not taken as public */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *result = json_object();
        if (cases[i].server != NULL)
            json_object_set_new(result, "cacheScope", json_string(cases[i].server));
        mg_modern_complete_result(result, "resources/read", 0, cases[i].gateway);
        const char *scope = json_string_value(json_object_get(result, "cacheScope"));
        if (scope == NULL || strcmp(scope, cases[i].expected) != 0)
            fail_msg("server %s, gateway %s: got %s, want %s", cases[i].server ? cases[i].server : "(none)",
                     cases[i].gateway, scope ? scope : "(none)", cases[i].expected);
        json_decref(result);
    }
}

/* ---- mg_modern_legacy_params --------------------------------------------------------------------- */

static void legacy_params_strip_modern_members(void **state)
{
    (void)state;
    json_t *params = json_loads("{\"name\":\"echo\",\"arguments\":{\"message\":\"hi\",\"requestState\":\"arg\"},"
                                "\"requestState\":\"mcpgate.rs1.x\",\"inputResponses\":{\"k\":{\"action\":\"accept\"}},"
                                "\"_meta\":{" PV ":\"2026-07-28\"," CC ":{}," CI ":{\"name\":\"c\"}," LL ":\"info\","
                                "\"io.modelcontextprotocol/future\":1,\"progressToken\":\"p-1\","
                                "\"com.example/trace\":\"t\"}}",
                                JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(params);
    json_t *before = json_deep_copy(params);
    json_t *legacy = mg_modern_legacy_params(params, NULL, 0);
    assert_non_null(legacy);
    assert_ptr_not_equal(legacy, params);
    json_t *expected = json_loads("{\"name\":\"echo\",\"arguments\":{\"message\":\"hi\",\"requestState\":\"arg\"},"
                                  "\"_meta\":{\"progressToken\":\"p-1\",\"com.example/trace\":\"t\"}}",
                                  0, NULL);
    if (!json_equal(legacy, expected)) {
        char *got = json_dumps(legacy, JSON_SORT_KEYS);
        fail_msg("legacy params: %s", got);
    }
    /* the caller's params are untouched */
    assert_true(json_equal(params, before));
    json_decref(expected);
    json_decref(legacy);
    json_decref(before);
    json_decref(params);
}

static void legacy_params_drop_an_emptied_meta(void **state)
{
    (void)state;
    json_t *params =
        json_pack("{s:s,s:{s:s,s:{}}}", "uri", "demo://x", "_meta", "io.modelcontextprotocol/protocolVersion",
                  "2026-07-28", "io.modelcontextprotocol/clientCapabilities");
    json_t *legacy = mg_modern_legacy_params(params, NULL, 0);
    assert_null(json_object_get(legacy, "_meta"));
    assert_string_equal(json_string_value(json_object_get(legacy, "uri")), "demo://x");
    assert_int_equal(json_object_size(legacy), 1);
    assert_non_null(json_object_get(params, "_meta"));
    json_decref(legacy);
    json_decref(params);

    assert_null(mg_modern_legacy_params(NULL, NULL, 0));
}

/* The front end takes a modern request's _meta out of its params: the legacy copy made from the rest
 * must be the same, byte for byte (order included), as the one made with _meta still in place; and
 * params with nothing to leave out are handed back as they are. */
static void legacy_params_with_meta_taken_out(void **state)
{
    (void)state;
    static const char *const metas[] = {
        "{" PV ":\"2026-07-28\"," CC ":{}}",
        "{\"progressToken\":7," PV ":\"2026-07-28\",\"com.example/trace\":\"t\"}",
    };
    static const char *const others[][2] = {
        {"name", "\"echo\""}, {"arguments", "{\"a\":1}"}, {"requestState", "\"rs\""}, {"uri", "\"demo://x\""}};
    for (size_t m = 0; m < 2; m++) {
        for (size_t count = 0; count <= 4; count++) {
            for (size_t position = 0; position <= count; position++) {
                char text[512] = "{";
                for (size_t i = 0; i <= count; i++) {
                    if (i > 0)
                        strcat(text, ",");
                    if (i == position) {
                        strcat(text, "\"_meta\":");
                        strcat(text, metas[m]);
                    } else {
                        size_t other = i < position ? i : i - 1;
                        strcat(text, "\"");
                        strcat(text, others[other][0]);
                        strcat(text, "\":");
                        strcat(text, others[other][1]);
                    }
                }
                strcat(text, "}");
                json_t *params = json_loads(text, 0, NULL);
                assert_non_null(params);
                json_t *whole = mg_modern_legacy_params(params, NULL, 0);
                json_t *meta = json_incref(json_object_get(params, "_meta"));
                json_object_del(params, "_meta");
                json_t *taken = mg_modern_legacy_params(params, meta, position);
                char *a = json_dumps(whole, JSON_COMPACT), *b = json_dumps(taken, JSON_COMPACT);
                assert_string_equal(a, b);
                bool nothing_to_leave_out = m == 0 && count < 3; /* no requestState among the others */
                if (nothing_to_leave_out)
                    assert_ptr_equal(taken, params);
                else
                    assert_ptr_not_equal(taken, params);
                free(a);
                free(b);
                json_decref(whole);
                json_decref(taken);
                json_decref(meta);
                json_decref(params);
            }
        }
    }
}

/* ---- mg_modern_http_status ------------------------------------------------------------------------ */

static void http_status_of_modern_errors(void **state)
{
    (void)state;
    assert_int_equal(mg_modern_http_status(MG_RPC_METHOD_NOT_FOUND), 404);
    assert_int_equal(mg_modern_http_status(MG_RPC_HEADER_MISMATCH), 400);
    assert_int_equal(mg_modern_http_status(MG_RPC_MISSING_CLIENT_CAPABILITY), 400);
    assert_int_equal(mg_modern_http_status(MG_RPC_UNSUPPORTED_VERSION), 400);
    assert_int_equal(mg_modern_http_status(MG_RPC_INVALID_REQUEST), 400);
    assert_int_equal(mg_modern_http_status(MG_RPC_PARSE_ERROR), 400);
    /* application errors travel in a 200 */
    assert_int_equal(mg_modern_http_status(MG_RPC_INVALID_PARAMS), 200);
    assert_int_equal(mg_modern_http_status(MG_RPC_RESOURCE_NOT_FOUND), 200);
    assert_int_equal(mg_modern_http_status(MG_RPC_UPSTREAM_ERROR), 200);
    assert_int_equal(mg_modern_http_status(0), 200);
}

/* ---- mg_mrtr: sealed requestState ---------------------------------------------------------------- */

static const mg_mrtr_request_t CALL = {"anonymous", "tools/call", "everything__trigger-elicitation-request"};

/* Asserts the token is refused for `request` at `now` with a reason containing `part`. */
static void assert_state_refused(const mg_session_key_t *key, const char *token, const mg_mrtr_request_t *request,
                                 int64_t now, const char *part)
{
    mg_mrtr_state_t opened;
    char why[160] = "";
    memset(&opened, 0x5a, sizeof(opened));
    assert_int_equal(mg_mrtr_open(key, token, strlen(token), request, now, &opened, why, sizeof(why)), -1);
    if (strncmp(why, "Invalid requestState: ", 22) != 0 || strstr(why, part) == NULL)
        fail_msg("refusal \"%s\" should start \"Invalid requestState: \" and say \"%s\"", why, part);
    assert_null(opened.upstream_state); /* nothing to dispose on failure */
    assert_int_equal(opened.kind, 0);
}

static void mrtr_park_round_trip(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x11);
    char *token = mg_mrtr_seal_park(&key, &CALL, 1, "0123456789abcdef0123456789abcdef", NOW);
    assert_non_null(token);
    assert_int_equal(strncmp(token, "mcpgate.rs1.", 12), 0);
    for (const char *p = token; *p; p++)
        assert_true(*p > 0x20 && *p < 0x7f); /* fits a JSON string and a header without escaping */
    mg_mrtr_state_t opened;
    char why[160];
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &CALL, NOW + 1, &opened, why, sizeof(why)), 0);
    assert_int_equal(opened.kind, MG_MRTR_PARK);
    assert_int_equal(opened.worker, 1);
    assert_string_equal(opened.parked_id, "0123456789abcdef0123456789abcdef");
    assert_null(opened.upstream_state);
    mg_mrtr_state_dispose(&opened);

    /* sealing twice gives two different tokens (fresh nonce) that both open */
    char *again = mg_mrtr_seal_park(&key, &CALL, 1, "0123456789abcdef0123456789abcdef", NOW);
    assert_string_not_equal(token, again);
    assert_int_equal(mg_mrtr_open(&key, again, strlen(again), &CALL, NOW, &opened, why, sizeof(why)), 0);
    mg_mrtr_state_dispose(&opened);
    free(again);
    free(token);
}

static void mrtr_wrap_round_trip(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x12);
    mg_mrtr_request_t read = {"anonymous", "resources/read", "modern+test://static-text"};
    json_t *upstream_state = json_string("server-own-state: {\"step\":2}");
    char *token = mg_mrtr_seal_wrap(&key, &read, "modern", upstream_state, NOW);
    assert_non_null(token);
    mg_mrtr_state_t opened;
    char why[160];
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &read, NOW, &opened, why, sizeof(why)), 0);
    assert_int_equal(opened.kind, MG_MRTR_WRAP);
    assert_string_equal(opened.server, "modern");
    assert_true(json_equal(opened.upstream_state, upstream_state));
    mg_mrtr_state_dispose(&opened);
    assert_null(opened.upstream_state);
    free(token);

    /* a modern server's InputRequiredResult may come without a state of its own */
    token = mg_mrtr_seal_wrap(&key, &read, "modern", NULL, NOW);
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &read, NOW, &opened, why, sizeof(why)), 0);
    assert_int_equal(opened.kind, MG_MRTR_WRAP);
    assert_null(opened.upstream_state);
    mg_mrtr_state_dispose(&opened);
    free(token);
    json_decref(upstream_state);
}

static void mrtr_approval_round_trip(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x1a);
    mg_mrtr_request_t call = {"api_key:alice", "tools/call", "fs__write_file"};
    mg_mrtr_approval_t approval = {.id = "apr_0123456789abcdef0123456789abcdef",
                                   .tool = "write_file",
                                   .digest = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                                   .rule = 2};
    char *token = mg_mrtr_seal_approval(&key, &call, "fs", &approval, NOW + 30);
    assert_non_null(token);
    mg_mrtr_state_t opened;
    char why[160];
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &call, NOW + 30, &opened, why, sizeof(why)), 0);
    assert_int_equal(opened.kind, MG_MRTR_APPROVE);
    assert_string_equal(opened.server, "fs");
    assert_string_equal(opened.approval.id, approval.id);
    assert_string_equal(opened.approval.tool, "write_file");
    assert_string_equal(opened.approval.digest, approval.digest);
    assert_int_equal(opened.approval.rule, 2);
    assert_null(opened.upstream_state);
    assert_false(opened.expired);
    mg_mrtr_state_dispose(&opened);

    /* it expires with the rule's timeout, not MG_MRTR_TTL_S: then it still opens, marked expired, for its own
     * principal and request only, so that the approve stage answers -32043 rather than "invalid state" */
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &call, NOW + 31, &opened, why, sizeof(why)), 0);
    assert_int_equal(opened.kind, MG_MRTR_APPROVE);
    assert_true(opened.expired);
    assert_string_equal(opened.approval.id, approval.id);
    assert_string_equal(opened.approval.digest, approval.digest);
    mg_mrtr_state_dispose(&opened);
    mg_mrtr_request_t other = call;
    other.principal = "api_key:mallory";
    assert_state_refused(&key, token, &other, NOW, "another principal");
    assert_state_refused(&key, token, &other, NOW + 31, "another principal");
    other = call;
    other.target = "fs__delete_file";
    assert_state_refused(&key, token, &other, NOW, "another request");
    assert_state_refused(&key, token, &other, NOW + 31, "expired");
    free(token);

    /* a wrap state of a call its user approved carries the approval; one without it carries none */
    json_t *upstream_state = json_string("server-own");
    token = mg_mrtr_seal_wrap_approved(&key, &call, "fs", upstream_state, &approval, NOW);
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &call, NOW, &opened, why, sizeof(why)), 0);
    assert_int_equal(opened.kind, MG_MRTR_WRAP);
    assert_string_equal(opened.approval.id, approval.id);
    assert_string_equal(opened.approval.digest, approval.digest);
    assert_true(json_equal(opened.upstream_state, upstream_state));
    mg_mrtr_state_dispose(&opened);
    free(token);
    token = mg_mrtr_seal_wrap(&key, &call, "fs", upstream_state, NOW);
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &call, NOW, &opened, why, sizeof(why)), 0);
    assert_string_equal(opened.approval.id, "");
    mg_mrtr_state_dispose(&opened);
    free(token);
    json_decref(upstream_state);

    /* a state without the approval's fields is malformed (sealed by this key, so only the gateway could) */
    approval.id[0] = '\0';
    token = mg_mrtr_seal_approval(&key, &call, "fs", &approval, NOW + 30);
    assert_state_refused(&key, token, &call, NOW, "malformed");
    free(token);
}

static void mrtr_refuses_another_principal(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x13);
    char *token = mg_mrtr_seal_park(&key, &CALL, 0, "00000000000000000000000000000001", NOW);
    mg_mrtr_request_t other = CALL;
    other.principal = "user:mallory@example.com";
    assert_state_refused(&key, token, &other, NOW, "another principal");
    free(token);
}

static void mrtr_refuses_an_expired_state(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x14);
    char *token = mg_mrtr_seal_park(&key, &CALL, 0, "00000000000000000000000000000002", NOW);
    mg_mrtr_state_t opened;
    char why[160];
    /* valid through the last second of its TTL ... */
    assert_int_equal(mg_mrtr_open(&key, token, strlen(token), &CALL, NOW + MG_MRTR_TTL_S, &opened, why, sizeof(why)),
                     0);
    mg_mrtr_state_dispose(&opened);
    /* ... and not after */
    assert_state_refused(&key, token, &CALL, NOW + MG_MRTR_TTL_S + 1, "expired");
    assert_state_refused(&key, token, &CALL, NOW + 86400, "expired");
    free(token);
}

static void mrtr_refuses_another_request(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x15);
    char *token = mg_mrtr_seal_park(&key, &CALL, 0, "00000000000000000000000000000003", NOW);
    mg_mrtr_request_t other_method = {"anonymous", "prompts/get", CALL.target};
    assert_state_refused(&key, token, &other_method, NOW, "another request");
    mg_mrtr_request_t other_target = {"anonymous", "tools/call", "everything__echo"};
    assert_state_refused(&key, token, &other_target, NOW, "another request");
    mg_mrtr_request_t no_target = {"anonymous", "tools/call", ""};
    assert_state_refused(&key, token, &no_target, NOW, "another request");
    free(token);
}

static void mrtr_refuses_tampering(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x16);
    char *token = mg_mrtr_seal_park(&key, &CALL, 0, "00000000000000000000000000000004", NOW);
    size_t len = strlen(token);
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* every position after the prefix: a different base64url character is refused */
    for (size_t i = 12; i < len; i++) {
        char *copy = strdup(token);
        const char *at = strchr(alphabet, copy[i]);
        assert_non_null(at);
        copy[i] = alphabet[(at - alphabet + 1) % 64];
        assert_state_refused(&key, copy, &CALL, NOW, "not issued by this gateway, or altered");
        free(copy);
    }
    /* truncated, extended, non-alphabet bytes */
    char *copy = strdup(token);
    copy[len - 1] = '\0';
    assert_state_refused(&key, copy, &CALL, NOW, "altered");
    free(copy);
    copy = malloc(len + 2);
    snprintf(copy, len + 2, "%sA", token);
    assert_state_refused(&key, copy, &CALL, NOW, "altered");
    copy[len] = '\0';
    copy[len - 3] = '\xc3';
    assert_state_refused(&key, copy, &CALL, NOW, "altered");
    copy[len - 3] = '=';
    assert_state_refused(&key, copy, &CALL, NOW, "altered");
    free(copy);
    assert_state_refused(&key, "", &CALL, NOW, "altered");
    assert_state_refused(&key, "mcpgate.rs1.", &CALL, NOW, "altered");
    /* another gateway's key */
    mg_session_key_t other = test_key(0x17);
    assert_state_refused(&other, token, &CALL, NOW, "altered");
    free(token);
}

static void mrtr_refuses_other_prefixes(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x18);
    char *token = mg_mrtr_seal_park(&key, &CALL, 0, "00000000000000000000000000000005", NOW);
    /* the same sealed bytes under another prefix: the prefix is authenticated too */
    char *renamed = malloc(strlen(token) + 8);
    sprintf(renamed, "mcpgate.rs2.%s", token + 12);
    assert_state_refused(&key, renamed, &CALL, NOW, "altered");
    free(renamed);
    free(token);

    /* a legacy session id sealed with the same key is no requestState */
    mg_session_claims_t claims;
    memset(&claims, 0, sizeof(claims));
    mg_session_claims_init(&claims);
    strcpy(claims.principal, "anonymous");
    strcpy(claims.protocol_version, "2025-11-25");
    char *session = NULL;
    mg_error_t err;
    assert_int_equal(mg_session_seal(&key, &claims, &session, &err), 0);
    assert_state_refused(&key, session, &CALL, NOW, "altered");
    char *as_state = malloc(strlen(session) + 16);
    sprintf(as_state, "mcpgate.rs1.%s", session + 3); /* "v1." swapped for our prefix */
    assert_state_refused(&key, as_state, &CALL, NOW, "altered");
    free(as_state);
    free(session);

    /* a JSON object sealed under our own prefix but without the claims of a state */
    json_t *junk = json_pack("{s:s,s:s,s:s,s:I}", "p", "anonymous", "m", "tools/call", "n", CALL.target, "e",
                             (json_int_t)(NOW + 60));
    char *sealed = mg_seal_json(&key, "mcpgate.rs1.", junk, MG_MRTR_MAX_TOKEN);
    assert_state_refused(&key, sealed, &CALL, NOW, "malformed");
    free(sealed);
    json_object_set_new(junk, "k", json_string("park")); /* no worker, no parked id */
    sealed = mg_seal_json(&key, "mcpgate.rs1.", junk, MG_MRTR_MAX_TOKEN);
    assert_state_refused(&key, sealed, &CALL, NOW, "malformed");
    free(sealed);
    json_object_set_new(junk, "k", json_string("wrap")); /* no server */
    sealed = mg_seal_json(&key, "mcpgate.rs1.", junk, MG_MRTR_MAX_TOKEN);
    assert_state_refused(&key, sealed, &CALL, NOW, "malformed");
    free(sealed);
    json_decref(junk);
}

/* ---- mg_tasks: sealed task handles ------------------------------------------------------------- */

static void assert_handle_refused(const mg_session_key_t *key, const char *principal, const char *handle,
                                  const char *part)
{
    char server[64] = "untouched", why[160] = "";
    json_t *task_id = json_string("untouched");
    json_t *before = task_id;
    assert_int_equal(
        mg_tasks_open(key, principal, handle, strlen(handle), server, sizeof(server), &task_id, why, sizeof(why)), -1);
    assert_null(task_id); /* nothing to release on failure */
    json_decref(before);
    if (strstr(why, part) == NULL)
        fail_msg("refusal \"%s\" should say \"%s\"", why, part);
}

static void tasks_handle_round_trip(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x21);
    json_t *upstream_id = json_string("786512e2-9e0d-44bd-8f29-789f320fe840");
    char *handle = mg_tasks_seal(&key, "anonymous", "modern", upstream_id);
    assert_non_null(handle);
    assert_int_equal(strncmp(handle, "mcpgate.task1.", 14), 0);
    for (const char *p = handle; *p; p++)
        assert_true(*p > 0x20 && *p < 0x7f); /* an Mcp-Name header value as it is */
    assert_null(strstr(handle, "786512e2")); /* the server's id is not visible */
    char server[64], why[160];
    json_t *opened = NULL;
    assert_int_equal(
        mg_tasks_open(&key, "anonymous", handle, strlen(handle), server, sizeof(server), &opened, why, sizeof(why)), 0);
    assert_string_equal(server, "modern");
    assert_true(json_equal(opened, upstream_id));
    json_decref(opened);
    free(handle);

    /* only string ids can be handed out; a huge one is refused rather than truncated */
    json_t *number = json_integer(7);
    assert_null(mg_tasks_seal(&key, "anonymous", "modern", number));
    json_decref(number);
    char *long_text = malloc(MG_TASKS_MAX_HANDLE + 1);
    memset(long_text, 'x', MG_TASKS_MAX_HANDLE);
    long_text[MG_TASKS_MAX_HANDLE] = '\0';
    json_t *huge = json_string(long_text);
    assert_null(mg_tasks_seal(&key, "anonymous", "modern", huge));
    json_decref(huge);
    free(long_text);
    json_decref(upstream_id);
}

static void tasks_handle_refusals(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(0x22);
    json_t *upstream_id = json_string("task-1");
    char *handle = mg_tasks_seal(&key, "user:alice", "modern", upstream_id);
    assert_handle_refused(&key, "user:mallory", handle, "another principal");
    mg_session_key_t other_key = test_key(0x23);
    assert_handle_refused(&other_key, "user:alice", handle, "altered");
    handle[strlen(handle) - 3] ^= 0x01; /* one character of the sealed text */
    assert_handle_refused(&key, "user:alice", handle, "altered");
    assert_handle_refused(&key, "user:alice", "786512e2-9e0d-44bd-8f29-789f320fe840", "altered");
    assert_handle_refused(&key, "user:alice", "", "altered");
    free(handle);

    /* a requestState of the same key is no task handle, and the other way round */
    char *token = mg_mrtr_seal_park(&key, &CALL, 0, "00000000000000000000000000000009", NOW);
    assert_handle_refused(&key, "anonymous", token, "altered");
    free(token);
    handle = mg_tasks_seal(&key, "anonymous", "modern", upstream_id);
    assert_state_refused(&key, handle, &CALL, NOW, "altered");
    free(handle);
    json_decref(upstream_id);
}

static void tasks_client_capability(void **state)
{
    (void)state;
    json_t *with = json_pack("{s:{s:{}}}", "extensions", MG_TASKS_EXTENSION);
    json_t *without = json_pack("{s:{}}", "elicitation");
    json_t *wrong_type = json_pack("{s:{s:b}}", "extensions", MG_TASKS_EXTENSION, 1);
    assert_true(mg_tasks_client_supports(with));
    assert_false(mg_tasks_client_supports(without));
    assert_false(mg_tasks_client_supports(wrong_type));
    assert_false(mg_tasks_client_supports(NULL));
    json_t *data = mg_tasks_required_capability();
    assert_true(json_equal(json_object_get(data, "requiredCapabilities"), with));
    json_decref(data);
    json_decref(with);
    json_decref(without);
    json_decref(wrong_type);
    assert_true(mg_tasks_is_task_method("tasks/get") && mg_tasks_is_task_method("tasks/update") &&
                mg_tasks_is_task_method("tasks/cancel"));
    assert_false(mg_tasks_is_task_method("tasks/list") || mg_tasks_is_task_method("tasks/result") ||
                 mg_tasks_is_task_method(NULL));
}

static void mrtr_target_of_params(void **state)
{
    (void)state;
    json_t *params = json_pack("{s:s}", "name", "everything__echo");
    assert_string_equal(mg_mrtr_target(params), "everything__echo");
    json_decref(params);
    params = json_pack("{s:s}", "uri", "everything+demo://x");
    assert_string_equal(mg_mrtr_target(params), "everything+demo://x");
    json_decref(params);
    params = json_pack("{s:i}", "name", 3);
    assert_string_equal(mg_mrtr_target(params), "");
    json_decref(params);
    assert_string_equal(mg_mrtr_target(NULL), "");
}

/* ---- versions ----------------------------------------------------------------------------------- */

static void versions_eras(void **state)
{
    (void)state;
    assert_true(mg_versions_is_modern("2026-07-28", 10));
    assert_false(mg_versions_is_modern("2026-07-28", 9));
    assert_false(mg_versions_is_modern("2026-07-28x", 11));
    assert_false(mg_versions_is_modern("2025-11-25", 10));
    const char *legacy[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
    for (size_t i = 0; i < 4; i++) {
        assert_true(mg_versions_is_legacy(legacy[i], strlen(legacy[i])));
        assert_false(mg_versions_is_modern(legacy[i], strlen(legacy[i])));
        assert_string_equal(mg_versions_negotiate_legacy(legacy[i]), legacy[i]);
    }
    assert_false(mg_versions_is_legacy("2026-07-28", 10));
    assert_false(mg_versions_is_legacy("2025-11-2", 9));
    /* anything else negotiates to the newest legacy version, a modern one included */
    assert_string_equal(mg_versions_negotiate_legacy("2026-07-28"), MG_VERSION_LATEST_LEGACY);
    assert_string_equal(mg_versions_negotiate_legacy("1999-01-01"), "2025-11-25");
    assert_string_equal(mg_versions_negotiate_legacy(""), "2025-11-25");
}

static void versions_supported_list(void **state)
{
    (void)state;
    json_t *list = mg_versions_supported();
    json_t *expected = json_pack("[s,s,s,s,s]", "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05");
    assert_true(json_equal(list, expected));
    /* a new reference each time: the caller may change it */
    json_t *again = mg_versions_supported();
    assert_ptr_not_equal(list, again);
    json_array_clear(list);
    assert_true(json_equal(again, expected));
    json_decref(again);
    json_decref(list);
    json_decref(expected);
}

static void log_levels_rank_and_gate(void **state)
{
    (void)state;
    assert_int_equal(mg_modern_log_level_rank("debug"), 0);
    assert_int_equal(mg_modern_log_level_rank("warning"), 3);
    assert_int_equal(mg_modern_log_level_rank("emergency"), 7);
    assert_int_equal(mg_modern_log_level_rank("warn"), -1);
    assert_int_equal(mg_modern_log_level_rank(NULL), -1);
    json_t *info = json_pack("{s:s,s:s,s:{s:s,s:s}}", "jsonrpc", "2.0", "method", "notifications/message", "params",
                             "level", "info", "data", "x");
    json_t *odd =
        json_pack("{s:s,s:s,s:{s:s}}", "jsonrpc", "2.0", "method", "notifications/message", "params", "level", "loud");
    json_t *progress =
        json_pack("{s:s,s:s,s:{s:i}}", "jsonrpc", "2.0", "method", "notifications/progress", "params", "progress", 1);
    /* no level asked for: no log messages at all, everything else passes */
    assert_false(mg_modern_log_wanted(NULL, info));
    assert_true(mg_modern_log_wanted(NULL, progress));
    /* at or above the level asked for */
    assert_true(mg_modern_log_wanted("debug", info));
    assert_true(mg_modern_log_wanted("info", info));
    assert_false(mg_modern_log_wanted("notice", info));
    assert_false(mg_modern_log_wanted("debug", odd)); /* a level that is none: not shown */
    json_decref(info);
    json_decref(odd);
    json_decref(progress);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_meta_accepts_a_full_envelope),
        cmocka_unit_test(read_meta_accepts_the_minimum),
        cmocka_unit_test(read_meta_requires_an_object),
        cmocka_unit_test(read_meta_requires_a_version_string),
        cmocka_unit_test(read_meta_refuses_unsupported_versions_with_data),
        cmocka_unit_test(read_meta_requires_capabilities_object),
        cmocka_unit_test(read_meta_checks_client_info_and_log_level),
#define CLIENT_DECODER(test) cmocka_unit_test_setup_teardown(test, use_client_decoder, use_plain_decoder)
        CLIENT_DECODER(read_meta_accepts_a_full_envelope),
        CLIENT_DECODER(read_meta_accepts_the_minimum),
        CLIENT_DECODER(read_meta_requires_an_object),
        CLIENT_DECODER(read_meta_requires_a_version_string),
        CLIENT_DECODER(read_meta_refuses_unsupported_versions_with_data),
        CLIENT_DECODER(read_meta_requires_capabilities_object),
        CLIENT_DECODER(read_meta_checks_client_info_and_log_level),
        CLIENT_DECODER(read_meta_reads_the_decoders_record),
        CLIENT_DECODER(declared_only_for_requests_naming_a_version),
        cmocka_unit_test(declared_only_for_requests_naming_a_version),
        cmocka_unit_test(complete_result_adds_result_type_everywhere),
        cmocka_unit_test(completion_edits_write_what_completion_makes),
        cmocka_unit_test(complete_result_adds_cache_hints_to_cacheable_methods),
        cmocka_unit_test(complete_result_keeps_a_valid_ttl_and_replaces_a_bad_one),
        cmocka_unit_test(complete_result_takes_the_stricter_scope),
        cmocka_unit_test(legacy_params_strip_modern_members),
        cmocka_unit_test(legacy_params_drop_an_emptied_meta),
        cmocka_unit_test(legacy_params_with_meta_taken_out),
        cmocka_unit_test(http_status_of_modern_errors),
        cmocka_unit_test(mrtr_park_round_trip),
        cmocka_unit_test(mrtr_wrap_round_trip),
        cmocka_unit_test(mrtr_approval_round_trip),
        cmocka_unit_test(mrtr_refuses_another_principal),
        cmocka_unit_test(mrtr_refuses_an_expired_state),
        cmocka_unit_test(mrtr_refuses_another_request),
        cmocka_unit_test(mrtr_refuses_tampering),
        cmocka_unit_test(mrtr_refuses_other_prefixes),
        cmocka_unit_test(mrtr_target_of_params),
        cmocka_unit_test(tasks_handle_round_trip),
        cmocka_unit_test(tasks_handle_refusals),
        cmocka_unit_test(tasks_client_capability),
        cmocka_unit_test(versions_eras),
        cmocka_unit_test(versions_supported_list),
        cmocka_unit_test(log_levels_rank_and_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
