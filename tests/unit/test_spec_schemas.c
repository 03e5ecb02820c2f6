/*
 * test_spec_schemas.c - client messages, and clients' answers to servers' requests, against the MCP
 * schemas built into the binary (src/mcp/spec_schemas.c); the ids those requests travel under
 * (src/mcp/asked.c); and a worker's compiled tool schemas (src/mcp/tool_schemas.c).
 *
 * Messages are decoded by the gateway's own decoder, so a modern request's _meta arrives the way it
 * does in production: read into message.meta, out of params.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/asked.h"
#include "mcp/spec_schemas.h"
#include "mcp/tool_schemas.h"

static mg_spec_schemas_t *schemas;

static int setup(void **state)
{
    (void)state;
    mg_error_t err = {{0}};
    if (mg_spec_schemas_create(&schemas, &err) != 0) {
        print_error("%s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mg_spec_schemas_destroy(schemas);
    return 0;
}

static mg_spec_verdict_t check(const char *version, const char *text, mg_schema_result_t *result)
{
    mg_rpc_message_t message;
    mg_rpc_error_t error;
    if (mg_rpc_decode_client(text, strlen(text), 64, &message, &error) != 0)
        fail_msg("decode: %s: %s", error.message, text);
    mg_spec_verdict_t verdict = mg_spec_schemas_check(schemas, version, &message, NULL, result);
    /* the quick answer (no result) is always the same verdict */
    assert_int_equal(mg_spec_schemas_check(schemas, version, &message, NULL, NULL), verdict);
    mg_rpc_message_dispose(&message);
    return verdict;
}

static bool has_violation(const mg_schema_result_t *result, const char *instance_path, const char *keyword)
{
    for (size_t i = 0; i < result->count; i++) {
        if (strcmp(result->violations[i].instance_path, instance_path) == 0 &&
            strcmp(result->violations[i].keyword, keyword) == 0)
            return true;
    }
    return false;
}

static void test_legacy_versions(void **state)
{
    (void)state;
    static const char *const versions[] = {"2025-03-26", "2025-06-18", "2025-11-25"};
    mg_schema_result_t result;
    for (size_t i = 0; i < 3; i++) {
        const char *v = versions[i];
        assert_int_equal(check(v,
                               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\","
                               "\"arguments\":{\"a\":1}}}",
                               &result),
                         MG_SPEC_VALID);
        assert_int_equal(
            check(v, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":42}}", &result),
            MG_SPEC_INVALID);
        assert_true(has_violation(&result, "/params/name", "type"));
        assert_int_equal(check(v, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", &result),
                         MG_SPEC_INVALID);
        assert_int_equal(
            check(v, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{}}", &result),
            MG_SPEC_INVALID);
        assert_true(has_violation(&result, "/params", "required"));
        assert_int_equal(check(v, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &result), MG_SPEC_VALID);
        assert_int_equal(check(v, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope/nope\",\"params\":{}}", &result),
                         MG_SPEC_UNKNOWN_METHOD);
        assert_int_equal(check(v, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &result),
                         MG_SPEC_VALID);
        assert_false(mg_spec_schemas_knows(schemas, v, "server/discover"));
        assert_true(mg_spec_schemas_knows(schemas, v, "initialize"));
    }
    /* elicitation arrived in 2025-06-18: a server-to-client request, never a client's */
    assert_int_equal(
        check("2025-11-25", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"elicitation/create\",\"params\":{}}", &result),
        MG_SPEC_UNKNOWN_METHOD);
    /* tasks are client requests in 2025-11-25 */
    assert_true(mg_spec_schemas_knows(schemas, "2025-11-25", "tasks/get"));
    assert_false(mg_spec_schemas_knows(schemas, "2025-06-18", "tasks/get"));
}

#define MODERN_META                                                                                                    \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                                           \
    "\"io.modelcontextprotocol/clientCapabilities\":%s}"

static mg_spec_verdict_t check_modern(const char *params_head, const char *capabilities, mg_schema_result_t *result)
{
    char text[1024];
    char meta[256];
    snprintf(meta, sizeof(meta), MODERN_META, capabilities);
    snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{%s%s%s}}",
             params_head, params_head[0] != '\0' ? "," : "", meta);
    return check("2026-07-28", text, result);
}

static void test_modern(void **state)
{
    (void)state;
    mg_schema_result_t result;
    assert_int_equal(check_modern("\"name\":\"x\",\"arguments\":{}", "{}", &result), MG_SPEC_VALID);
    assert_int_equal(check_modern("\"name\":7", "{}", &result), MG_SPEC_INVALID);
    assert_true(has_violation(&result, "/params/name", "type"));
    /* the _meta the decoder read out of params is checked too, under its own path */
    assert_int_equal(check_modern("\"name\":\"x\"", "[]", &result), MG_SPEC_INVALID);
    assert_true(has_violation(&result, "/params/_meta/io.modelcontextprotocol~1clientCapabilities", "type"));
    /* legacy-only methods are not 2026-07-28 methods */
    assert_int_equal(
        check("2026-07-28", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}", &result),
        MG_SPEC_UNKNOWN_METHOD);
    assert_true(mg_spec_schemas_knows(schemas, "2026-07-28", "server/discover"));
    /* 2024-11-05 has its schema too (draft-07, "definitions") */
    assert_int_equal(
        check("2024-11-05", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", &result),
        MG_SPEC_INVALID);
    assert_true(has_violation(&result, "/params", "required"));
    assert_int_equal(check("2024-11-05",
                           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}",
                           &result),
                     MG_SPEC_VALID);
    assert_int_equal(
        check("2024-11-05", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"elicitation/create\",\"params\":{}}", &result),
        MG_SPEC_UNKNOWN_METHOD);
    /* a version without a built-in schema is not checked */
    assert_int_equal(
        check("2023-01-01", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", &result),
        MG_SPEC_UNCHECKED);
    assert_true(mg_spec_schemas_knows(schemas, "2023-01-01", "anything"));
}

static void test_tool_schemas(void **state)
{
    (void)state;
    mg_schema_cache_t *cache = mg_schema_cache_create(0);
    mg_tool_schema_report_t report;
    assert_int_equal(mg_tool_schema_report_init(&report, 1), 0);
    mg_config_server_t server = {.name = "s", .strict = true, .output_validation = MG_OUTPUT_ENFORCE};
    json_error_t error;
    json_t *tools = json_loads("{\"b\":{\"name\":\"b\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"x\":"
                               "{\"type\":\"string\"}}},\"outputSchema\":{\"type\":\"object\"}},"
                               "\"a\":{\"name\":\"a\",\"inputSchema\":{\"type\":\"nonsense\"}},"
                               "\"c\":{\"name\":\"c\",\"inputSchema\":[]},"
                               "\"d\":{\"name\":\"d\"}}",
                               0, &error);
    assert_non_null(tools);
    mg_tool_schemas_t *set = mg_tool_schemas_build(cache, &report, &server, 0, tools);
    assert_non_null(set);
    const mg_tool_schema_t *b = mg_tool_schemas_find(set, "b");
    assert_non_null(b);
    assert_non_null(b->input);
    assert_non_null(b->output);
    json_t *extra = json_pack("{s:s,s:i}", "x", "ok", "y", 1);
    assert_false(mg_schema_validate(b->input, NULL, extra, NULL)); /* strict: y is not declared */
    json_decref(extra);
    const mg_tool_schema_t *a = mg_tool_schemas_find(set, "a");
    assert_non_null(a->input_error);
    assert_null(a->input);
    assert_non_null(mg_tool_schemas_find(set, "c")->input_error);
    const mg_tool_schema_t *d = mg_tool_schemas_find(set, "d");
    assert_null(d->input);
    assert_null(d->input_error);
    assert_null(mg_tool_schemas_find(set, "e"));
    json_t *invalid = mg_tool_schema_report_get(&report, 0);
    assert_int_equal(json_object_size(invalid), 2);
    assert_non_null(json_object_get(invalid, "a"));
    json_decref(invalid);
    /* a second worker's set compiles nothing: the cache has every schema */
    mg_schema_cache_stats_t before, after;
    mg_schema_cache_stats(cache, &before);
    mg_tool_schemas_t *again = mg_tool_schemas_build(cache, &report, &server, 0, tools);
    mg_schema_cache_stats(cache, &after);
    assert_int_equal(after.misses, before.misses);
    assert_ptr_equal(mg_tool_schemas_find(again, "b")->input, b->input);
    mg_tool_schemas_destroy(again);
    mg_tool_schemas_destroy(set);
    json_decref(tools);
    mg_tool_schema_report_dispose(&report);
    mg_schema_cache_destroy(cache);
}

static mg_spec_verdict_t answer(const char *version, const char *method, const char *text, mg_schema_result_t *result)
{
    json_t *response = json_loads(text, 0, NULL);
    assert_non_null(response);
    mg_spec_verdict_t verdict =
        mg_spec_schemas_check_answer(schemas, version, method, strlen(method), response, result);
    assert_int_equal(mg_spec_schemas_check_answer(schemas, version, method, strlen(method), response, NULL), verdict);
    json_decref(response);
    return verdict;
}

/* A client's answers to a server's requests, against the result each request asks for. */
static void test_answers(void **state)
{
    (void)state;
    static mg_schema_result_t result;
    const char *v = "2025-11-25";
    assert_int_equal(answer(v, "elicitation/create",
                            "{\"id\":\"x\",\"result\":{\"action\":\"accept\",\"content\":{\"a\":1}}}", &result),
                     MG_SPEC_VALID);
    assert_int_equal(answer(v, "elicitation/create", "{\"id\":\"x\",\"result\":{\"action\":\"maybe\"}}", &result),
                     MG_SPEC_INVALID);
    assert_true(has_violation(&result, "/result/action", "enum"));
    assert_int_equal(answer(v, "elicitation/create", "{\"id\":\"x\",\"result\":{\"content\":{\"a\":{}}}}", &result),
                     MG_SPEC_INVALID);
    assert_true(has_violation(&result, "/result", "required"));
    assert_int_equal(answer(v, "roots/list", "{\"id\":1,\"result\":{\"roots\":[{\"name\":\"no uri\"}]}}", &result),
                     MG_SPEC_INVALID);
    assert_true(has_violation(&result, "/result/roots/0", "required"));
    assert_int_equal(answer(v, "roots/list", "{\"id\":1,\"result\":{\"roots\":[{\"uri\":\"file:///a\"}]}}", &result),
                     MG_SPEC_VALID);
    assert_int_equal(answer(v, "sampling/createMessage", "{\"id\":1,\"result\":{\"role\":\"assistant\"}}", &result),
                     MG_SPEC_INVALID);
    assert_int_equal(answer(v, "ping", "{\"id\":1,\"result\":{}}", &result), MG_SPEC_VALID);
    /* a task-augmented request is answered by a task */
    assert_int_equal(
        answer(v, "sampling/createMessage",
               "{\"id\":1,\"result\":{\"task\":{\"taskId\":\"t\",\"status\":\"working\","
               "\"createdAt\":\"2026-01-01T00:00:00Z\",\"lastUpdatedAt\":\"2026-01-01T00:00:00Z\",\"ttl\":null}}}",
               &result),
        MG_SPEC_VALID);
    assert_int_equal(answer(v, "sampling/createMessage", "{\"id\":1,\"result\":{\"task\":{}}}", &result),
                     MG_SPEC_INVALID);
    /* nothing to check: an error, a method the version does not ask, a version without schema */
    assert_int_equal(answer(v, "elicitation/create", "{\"id\":1,\"error\":{\"code\":-1,\"message\":\"no\"}}", NULL),
                     MG_SPEC_UNCHECKED);
    assert_int_equal(answer("2025-03-26", "elicitation/create", "{\"id\":1,\"result\":{}}", NULL), MG_SPEC_UNCHECKED);
    assert_int_equal(answer(v, "-", "{\"id\":1,\"result\":[]}", NULL), MG_SPEC_UNCHECKED);
    assert_int_equal(answer("2023-01-01", "roots/list", "{\"id\":1,\"result\":{}}", NULL), MG_SPEC_UNCHECKED);
    assert_int_equal(answer("2024-11-05", "roots/list", "{\"id\":1,\"result\":{}}", NULL), MG_SPEC_INVALID);
    assert_int_equal(answer("2025-03-26", "roots/list", "{\"id\":1,\"result\":{}}", NULL), MG_SPEC_INVALID);
}

/* The ids a server's request travels under (mcp/asked.h). */
static void test_asked_ids(void)
{
    char *id = mg_asked_id_make("github", "elicitation/create", "\"a:b\"");
    assert_string_equal(id, "mcpgate:github:elicitation/create:\"a:b\"");
    mg_asked_id_t parsed;
    assert_true(mg_asked_id_parse(id, &parsed));
    assert_true(mg_asked_id_from(&parsed, "github"));
    assert_false(mg_asked_id_from(&parsed, "git"));
    assert_int_equal(parsed.method_len, strlen("elicitation/create"));
    assert_memory_equal(parsed.method, "elicitation/create", parsed.method_len);
    assert_string_equal(parsed.tail, "\"a:b\"");
    free(id);
    /* a method the id cannot carry as it is */
    const char *odd[] = {"a:b", "", "x y", NULL};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        id = mg_asked_id_make(MG_ASKED_BRIDGE, odd[i], "0:1:key");
        assert_true(mg_asked_id_parse(id, &parsed));
        assert_int_equal(parsed.method_len, 1);
        assert_int_equal(parsed.method[0], '-');
        assert_string_equal(parsed.tail, "0:1:key");
        free(id);
    }
    const char *foreign[] = {"mcpgate:", "mcpgate:x", "mcpgate::m:t", "mcpgate:x::t", "other:x:m:t", "mcpgate:x:m"};
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
        assert_false(mg_asked_id_parse(foreign[i], &parsed));
    assert_false(mg_asked_id_parse(NULL, &parsed));
}

static void test_asked(void **state)
{
    (void)state;
    test_asked_ids();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_versions), cmocka_unit_test(test_modern), cmocka_unit_test(test_tool_schemas),
        cmocka_unit_test(test_answers),         cmocka_unit_test(test_asked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
