/*
 * fuzz_schema.c - libFuzzer target for the JSON Schema engine (src/schema/): compilation of any
 * schema, validation of any instance against it, the rendering of violations, and the cache.
 *
 * The input is a schema (JSON), a NUL byte, then an instance (JSON). Without a NUL byte the input
 * is the schema and the instance is the schema itself, which exercises most keywords on values of
 * every type. Inputs that are not JSON are skipped.
 *
 * The schema compiles four ways (strict mode and formats off and on, and the draft-07 default with
 * small limits); a failure must carry a known code and a message. Each compiled schema validates
 * the instance without a result and with one: the answers must agree, the result must agree with
 * them (no violation when valid, at least one when not), every violation must have a keyword, paths
 * that are pointers, and an ASCII message; the JSON and text renderings must succeed and measure
 * what they write. A small cache must hand back the same compiled schema, or the same error, twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/cache.h"
#include "schema/schema.h"

static mg_schema_cache_t *cache;

static void check_result(const mg_schema_result_t *result, bool valid)
{
    if (valid != (result->count == 0) || result->count > MG_SCHEMA_VIOLATIONS_MAX ||
        (result->truncated && result->count != MG_SCHEMA_VIOLATIONS_MAX))
        abort();
    for (size_t i = 0; i < result->count; i++) {
        const mg_schema_violation_t *v = &result->violations[i];
        if (v->keyword == NULL || v->keyword[0] == '\0' || v->message[0] == '\0' ||
            (v->instance_path[0] != '\0' && v->instance_path[0] != '/') ||
            strnlen(v->instance_path, sizeof(v->instance_path)) == sizeof(v->instance_path) ||
            strnlen(v->schema_path, sizeof(v->schema_path)) == sizeof(v->schema_path))
            abort();
        for (const char *p = v->message; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                abort();
    }
    json_t *json = mg_schema_result_json(result);
    if (json == NULL || json_array_size(json) != result->count)
        abort();
    json_decref(json);
    static char text[64 * 1024];
    size_t len = mg_schema_result_text(result, text, sizeof(text));
    if (len != strlen(text))
        abort();
    char small[40];
    if (mg_schema_result_text(result, small, sizeof(small)) != len || strlen(small) >= sizeof(small))
        abort();
}

static void run(const json_t *schema_json, const json_t *instance, const mg_schema_options_t *options)
{
    mg_schema_t *schema = NULL;
    mg_error_t err = {{0}};
    int rc = mg_schema_compile(schema_json, options, &schema, &err);
    if (rc != 0) {
        if (schema != NULL || err.message[0] == '\0' || rc < MG_SCHEMA_ERR_NOMEM || rc > MG_SCHEMA_ERR_INVALID)
            abort();
        return;
    }
    if (mg_schema_find(schema, "#") != mg_schema_root(schema))
        abort();
    static mg_schema_result_t result;
    bool quick = mg_schema_validate(schema, NULL, instance, NULL);
    bool full = mg_schema_validate(schema, NULL, instance, &result);
    if (quick != full)
        abort();
    check_result(&result, full);
    mg_schema_release(schema);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const uint8_t *separator = memchr(data, '\0', size);
    size_t schema_len = separator != NULL ? (size_t)(separator - data) : size;
    json_t *schema = json_loadb((const char *)data, schema_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (schema == NULL)
        return 0;
    json_t *instance = separator != NULL ? json_loadb((const char *)separator + 1, size - schema_len - 1,
                                                      JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                         : json_incref(schema);
    if (instance == NULL) {
        json_decref(schema);
        return 0;
    }
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.max_steps = 200000; /* keeps each input fast; the bound itself is what is exercised */
    for (int mode = 0; mode < 3; mode++) {
        options.strict = mode == 1;
        options.validate_formats = mode >= 1;
        run(schema, instance, &options);
    }
    options.default_draft = MG_SCHEMA_DRAFT_7;
    options.max_depth = 8;
    options.max_nodes = 64;
    options.max_fanout = 8;
    options.max_instance_depth = 8;
    options.max_steps = 500;
    run(schema, instance, &options);

    if (cache == NULL && (cache = mg_schema_cache_create(32)) == NULL)
        abort();
    mg_schema_t *first = NULL, *second = NULL;
    mg_error_t err1 = {{0}}, err2 = {{0}};
    int rc1 = mg_schema_cache_get(cache, schema, NULL, &first, &err1);
    int rc2 = mg_schema_cache_get(cache, schema, NULL, &second, &err2);
    if (rc1 != rc2 || first != second || (rc1 != 0 && strcmp(err1.message, err2.message) != 0))
        abort();
    mg_schema_release(first);
    mg_schema_release(second);
    json_decref(schema);
    json_decref(instance);
    return 0;
}
