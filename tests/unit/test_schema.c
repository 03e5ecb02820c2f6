/*
 * test_schema.c - the JSON Schema engine (src/schema/): keywords, the violations it reports and
 * their words, strict mode, the limits, references, formats, the compile cache, and the bad inputs a
 * gateway meets (pathological schemas and instances, numbers at the edge of double precision,
 * strings outside the BMP). The official test suite runs separately (schema_suite).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "schema/cache.h"
#include "schema/schema.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *json = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (json == NULL)
        fail_msg("bad JSON in the test: %s: %s", jerr.text, text);
    return json;
}

static mg_schema_t *compile_with(const char *text, const mg_schema_options_t *options)
{
    json_t *json = parse(text);
    mg_schema_t *schema = NULL;
    mg_error_t err = {{0}};
    if (mg_schema_compile(json, options, &schema, &err) != 0)
        fail_msg("unexpected compile error: %s (schema %s)", err.message, text);
    json_decref(json);
    return schema;
}

static mg_schema_t *compile(const char *text)
{
    return compile_with(text, NULL);
}

static mg_schema_t *compile_strict(const char *text)
{
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.strict = true;
    return compile_with(text, &options);
}

/* Compilation must fail with `code` and a message containing `part`. */
static void compile_fails(const char *text, const mg_schema_options_t *options, int code, const char *part)
{
    json_t *json = parse(text);
    mg_schema_t *schema = NULL;
    mg_error_t err = {{0}};
    int rc = mg_schema_compile(json, options, &schema, &err);
    json_decref(json);
    if (rc != code)
        fail_msg("schema %.200s: expected error %d, got %d (%s)", text, code, rc, err.message);
    assert_null(schema);
    if (strstr(err.message, part) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err.message, part);
}

static mg_schema_result_t result;

/* Validates both ways; checks that they agree and that the result agrees with the answer. */
static bool check(const mg_schema_t *schema, const char *instance_text)
{
    json_t *instance = parse(instance_text);
    bool quick = mg_schema_validate(schema, NULL, instance, NULL);
    bool full = mg_schema_validate(schema, NULL, instance, &result);
    json_decref(instance);
    if (quick != full)
        fail_msg("%s: the answer without a result (%d) differs from the one with (%d)", instance_text, quick, full);
    if (full != (result.count == 0))
        fail_msg("%s: answer %d with %zu violations", instance_text, full, result.count);
    return full;
}

static void valid(const mg_schema_t *schema, const char *instance)
{
    if (!check(schema, instance)) {
        char text[4096];
        mg_schema_result_text(&result, text, sizeof(text));
        fail_msg("%s should be valid:\n%s", instance, text);
    }
}

static void invalid(const mg_schema_t *schema, const char *instance)
{
    if (check(schema, instance))
        fail_msg("%s should be invalid", instance);
}

/* The i-th violation of the last check. */
static void violation(size_t i, const char *instance_path, const char *schema_path, const char *keyword,
                      const char *message)
{
    if (i >= result.count)
        fail_msg("no violation %zu (have %zu)", i, result.count);
    const mg_schema_violation_t *v = &result.violations[i];
    assert_string_equal(v->instance_path, instance_path);
    assert_string_equal(v->schema_path, schema_path);
    assert_string_equal(v->keyword, keyword);
    assert_string_equal(v->message, message);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- keywords ---- */

static void test_type_enum_const(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"type\": [\"integer\", \"null\"]}");
    valid(schema, "1");
    valid(schema, "1.0"); /* zero fractional part: an integer */
    valid(schema, "null");
    invalid(schema, "1.5");
    invalid(schema, "\"1\"");
    mg_schema_release(schema);

    schema = compile("{\"enum\": [1, \"a\", [1, {\"x\": null}], {\"b\": 2, \"a\": 1}]}");
    valid(schema, "1.0");
    valid(schema, "\"a\"");
    valid(schema, "[1.0, {\"x\": null}]");
    valid(schema, "{\"a\": 1, \"b\": 2.0}"); /* members in another order */
    invalid(schema, "true");
    invalid(schema, "[1]");
    invalid(schema, "{\"a\": 1}");
    mg_schema_release(schema);

    schema = compile("{\"enum\": [false]}");
    invalid(schema, "0"); /* false is not 0 */
    mg_schema_release(schema);

    schema = compile("{\"const\": {\"n\": 1}}");
    valid(schema, "{\"n\": 1.0}");
    invalid(schema, "{\"n\": 1, \"m\": 2}");
    mg_schema_release(schema);

    schema = compile("{\"const\": \"a\\u0000b\"}");
    valid(schema, "\"a\\u0000b\"");
    invalid(schema, "\"a\"");
    mg_schema_release(schema);
}

static void test_strings_arrays_objects(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 4, \"pattern\": \"b\"}");
    valid(schema, "\"ab\"");
    valid(schema, "\"abcd\"");
    invalid(schema, "\"b\"");
    invalid(schema, "\"abcde\"");
    invalid(schema, "\"ac\""); /* the pattern is not anchored, but "ac" has no b */
    mg_schema_release(schema);

    schema = compile("{\"prefixItems\": [{\"type\": \"integer\"}], \"items\": {\"type\": \"string\"}, "
                     "\"minItems\": 1, \"maxItems\": 3, \"uniqueItems\": true, \"contains\": {\"const\": \"x\"}, "
                     "\"maxContains\": 1}");
    valid(schema, "[1, \"x\"]");
    invalid(schema, "[1]");                      /* contains */
    invalid(schema, "[1, \"x\", \"x\"]");        /* unique, maxContains */
    invalid(schema, "[\"x\"]");                  /* prefixItems */
    invalid(schema, "[1, \"x\", 2]");            /* items */
    invalid(schema, "[1, \"x\", \"a\", \"b\"]"); /* maxItems */
    valid(schema, "{\"not\": \"an array\"}");
    mg_schema_release(schema);

    schema = compile("{\"properties\": {\"a\": {\"type\": \"integer\"}}, \"patternProperties\": {\"^x-\": "
                     "{\"type\": \"string\"}}, \"additionalProperties\": {\"type\": \"boolean\"}, "
                     "\"required\": [\"a\", \"c\"], \"minProperties\": 2, \"maxProperties\": 3, "
                     "\"propertyNames\": {\"maxLength\": 5}, \"dependentRequired\": {\"c\": [\"a\"]}, "
                     "\"dependentSchemas\": {\"a\": {\"properties\": {\"c\": {\"const\": true}}}}}");
    valid(schema, "{\"a\": 1, \"c\": true}");
    valid(schema, "{\"a\": 1, \"c\": true, \"x-y\": \"s\"}");
    invalid(schema, "{\"a\": 1}");                                   /* required c, minProperties */
    invalid(schema, "{\"a\": 1, \"c\": false}");                     /* dependentSchemas */
    invalid(schema, "{\"a\": 1, \"c\": true, \"x-y\": 1}");          /* patternProperties */
    invalid(schema, "{\"a\": 1, \"c\": true, \"d\": 1}");            /* additionalProperties */
    invalid(schema, "{\"a\": 1, \"c\": true, \"long-name\": true}"); /* propertyNames */
    mg_schema_release(schema);
}

static void test_applicators(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"allOf\": [{\"type\": \"integer\"}, {\"minimum\": 2}], \"anyOf\": [{\"maximum\": "
                                  "3}, {\"multipleOf\": 10}], \"oneOf\": [{\"multipleOf\": 2}, {\"multipleOf\": 3}], "
                                  "\"not\": {\"const\": 8}}");
    valid(schema, "2");
    valid(schema, "3");
    valid(schema, "20");
    invalid(schema, "6"); /* oneOf: both */
    invalid(schema, "8"); /* not, anyOf */
    invalid(schema, "1"); /* minimum */
    invalid(schema, "2.5");
    mg_schema_release(schema);

    schema = compile("{\"if\": {\"properties\": {\"kind\": {\"const\": \"file\"}}}, \"then\": {\"required\": "
                     "[\"path\"]}, \"else\": {\"required\": [\"url\"]}}");
    valid(schema, "{\"kind\": \"file\", \"path\": \"/x\"}");
    valid(schema, "{\"kind\": \"web\", \"url\": \"u\"}");
    invalid(schema, "{\"kind\": \"file\", \"url\": \"u\"}");
    invalid(schema, "{\"kind\": \"web\"}");
    mg_schema_release(schema);

    schema = compile("{\"properties\": {\"a\": true}, \"allOf\": [{\"properties\": {\"b\": true}}], "
                     "\"unevaluatedProperties\": false}");
    valid(schema, "{\"a\": 1, \"b\": 2}");
    invalid(schema, "{\"a\": 1, \"c\": 3}");
    violation(0, "/c", "/unevaluatedProperties", "unevaluatedProperties",
              "property \"c\" is not allowed: no keyword of the schema accepts it");
    mg_schema_release(schema);

    schema = compile("{\"prefixItems\": [true], \"anyOf\": [{\"prefixItems\": [true, true]}], "
                     "\"unevaluatedItems\": false}");
    valid(schema, "[1, 2]");
    invalid(schema, "[1, 2, 3]");
    violation(0, "/2", "/unevaluatedItems", "unevaluatedItems",
              "item 2 is not allowed: no keyword of the schema accepts it");
    mg_schema_release(schema);
}

static void test_boolean_and_empty(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("true");
    valid(schema, "{\"anything\": [1, 2]}");
    mg_schema_release(schema);
    schema = compile("false");
    invalid(schema, "null");
    violation(0, "", "", "false", "no value is allowed here (the schema is false)");
    mg_schema_release(schema);
    schema = compile("{}");
    valid(schema, "\"x\"");
    mg_schema_release(schema);
}

/* ---- what the violations say ---- */

static const char tool_schema[] =
    "{\"type\": \"object\", \"properties\": {"
    "  \"path\": {\"type\": \"string\", \"maxLength\": 40},"
    "  \"mode\": {\"enum\": [\"read\", \"write\"]},"
    "  \"count\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 10},"
    "  \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"pattern\": \"^[a-z]+$\"}},"
    "  \"options\": {\"$ref\": \"#/$defs/options\"}},"
    " \"required\": [\"path\", \"mode\"], \"additionalProperties\": false,"
    " \"$defs\": {\"options\": {\"type\": \"object\", \"properties\": {\"depth\": {\"type\": \"integer\"}}}}}";

static void test_violation_content(void **state)
{
    (void)state;
    mg_schema_t *schema = compile(tool_schema);
    invalid(schema, "{\"path\": \"/home/user/projects/mcpgate/src/schema/validate.c.gz\", \"count\": 0, "
                    "\"tags\": [\"ok\", \"Not-OK\"], \"options\": {\"depth\": \"2\"}, \"extra\": 1}");
    assert_int_equal(result.count, 6);
    assert_false(result.truncated);
    violation(0, "/path", "/properties/path/maxLength", "maxLength", "must be at most 40 characters long (is 52)");
    violation(1, "/count", "/properties/count/minimum", "minimum", "must be at least 1 (is 0)");
    violation(2, "/tags/1", "/properties/tags/items/pattern", "pattern", "must match the pattern \"^[a-z]+$\"");
    violation(3, "/options/depth", "/$defs/options/properties/depth/type", "type", "must be integer (is string)");
    violation(4, "/extra", "/additionalProperties", "additionalProperties",
              "property \"extra\" is not allowed (not declared by the schema)");
    violation(5, "", "/required", "required", "missing required property \"mode\"");

    invalid(schema, "{\"path\": 7, \"mode\": \"delete\"}");
    violation(0, "/path", "/properties/path/type", "type", "must be string (is integer)");
    violation(1, "/mode", "/properties/mode/enum", "enum", "must be one of \"read\", \"write\" (is \"delete\")");

    json_t *json = mg_schema_result_json(&result);
    assert_non_null(json);
    assert_int_equal(json_array_size(json), 2);
    json_t *first = json_array_get(json, 0);
    assert_string_equal(json_string_value(json_object_get(first, "instancePath")), "/path");
    assert_string_equal(json_string_value(json_object_get(first, "schemaPath")), "/properties/path/type");
    assert_string_equal(json_string_value(json_object_get(first, "keyword")), "type");
    assert_string_equal(json_string_value(json_object_get(first, "message")), "must be string (is integer)");
    json_decref(json);

    char text[512];
    size_t len = mg_schema_result_text(&result, text, sizeof(text));
    assert_string_equal(text, "/path: type: must be string (is integer)\n"
                              "/mode: enum: must be one of \"read\", \"write\" (is \"delete\")\n");
    assert_int_equal(len, strlen(text));
    /* a short buffer keeps whole lines, and the return says how long the text is */
    assert_int_equal(mg_schema_result_text(&result, text, 50), len);
    assert_string_equal(text, "/path: type: must be string (is integer)\n");

    invalid(schema, "[]");
    len = mg_schema_result_text(&result, text, sizeof(text));
    assert_string_equal(text, "(root): type: must be object (is array)\n");
    mg_schema_release(schema);

    /* special characters in member names are escaped in pointers and quoted in messages */
    schema = compile("{\"properties\": {\"a/b~c\": {\"type\": \"string\"}}, \"additionalProperties\": false}");
    invalid(schema, "{\"a/b~c\": 1, \"\\u00e9\\n\": 2}");
    violation(0, "/a~1b~0c", "/properties/a~1b~0c/type", "type", "must be string (is integer)");
    violation(1, "/\xc3\xa9\n", "/additionalProperties", "additionalProperties",
              "property \"\\u00e9\\n\" is not allowed (not declared by the schema)");
    mg_schema_release(schema);
}

static void test_composition_messages(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\", \"minimum\": 5}]}");
    invalid(schema, "3");
    assert_int_equal(result.count, 3);
    violation(0, "", "/anyOf", "anyOf", "must match at least one of the 2 schemas in anyOf (matches none)");
    violation(1, "", "/anyOf/0/type", "type", "must be string (is integer)");
    violation(2, "", "/anyOf/1/minimum", "minimum", "must be at least 5 (is 3)");
    mg_schema_release(schema);

    schema = compile("{\"oneOf\": [{\"type\": \"number\"}, {\"type\": \"integer\"}]}");
    invalid(schema, "1");
    assert_int_equal(result.count, 1);
    violation(0, "", "/oneOf", "oneOf", "must match exactly one of the 2 schemas in oneOf (matches #0 and #1)");
    mg_schema_release(schema);

    schema = compile("{\"not\": {\"type\": \"null\"}, \"propertyNames\": {\"pattern\": \"^[a-z]+$\"}}");
    invalid(schema, "null");
    violation(0, "", "/not", "not", "must not match the schema in not");
    invalid(schema, "{\"Abc\": 1}");
    violation(0, "", "/propertyNames", "propertyNames",
              "property name \"Abc\" is not valid: must match the pattern \"^[a-z]+$\"");
    mg_schema_release(schema);

    schema = compile("{\"type\": \"array\", \"prefixItems\": [{\"type\": \"string\"}], \"items\": false, "
                     "\"contains\": {\"type\": \"integer\"}, \"uniqueItems\": true}");
    invalid(schema, "[\"a\", \"a\"]");
    violation(0, "", "/items", "items", "must have at most 1 item (has 2)");
    violation(1, "", "/contains", "contains", "must contain at least 1 item matching the schema in contains (has 0)");
    violation(2, "", "/uniqueItems", "uniqueItems", "must not contain duplicates (items 0 and 1 are equal)");
    mg_schema_release(schema);

    schema = compile("{\"dependentRequired\": {\"credit_card\": [\"billing_address\"]}}");
    invalid(schema, "{\"credit_card\": 1}");
    violation(0, "", "/dependentRequired/credit_card", "dependentRequired",
              "property \"billing_address\" is required when \"credit_card\" is present");
    mg_schema_release(schema);
}

static void test_truncated(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"additionalProperties\": {\"type\": \"string\"}}");
    char text[2048] = "{";
    for (int i = 0; i < 20; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s\"p%d\": %d", i > 0 ? ", " : "", i, i);
    strcat(text, "}");
    invalid(schema, text);
    assert_int_equal(result.count, MG_SCHEMA_VIOLATIONS_MAX);
    assert_true(result.truncated);
    char out[8192];
    mg_schema_result_text(&result, out, sizeof(out));
    assert_non_null(strstr(out, "/p15: type: must be string (is integer)\n(more violations not shown)\n"));
    mg_schema_release(schema);
}

/* ---- strict mode ---- */

static void test_strict(void **state)
{
    (void)state;
    const char *declared = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"object\", \"properties\": "
                           "{\"x\": true}}, \"free\": {\"type\": \"object\"}}}";
    mg_schema_t *loose = compile(declared), *strict = compile_strict(declared);
    valid(loose, "{\"a\": {\"x\": 1, \"y\": 2}, \"b\": 1}");
    invalid(strict, "{\"a\": {\"x\": 1, \"y\": 2}, \"b\": 1}");
    violation(0, "/a/y", "/properties/a", "additionalProperties",
              "property \"y\" is not declared by the schema (strict mode)");
    violation(1, "/b", "", "additionalProperties", "property \"b\" is not declared by the schema (strict mode)");
    /* a free-form object stays free-form */
    valid(strict, "{\"free\": {\"anything\": 1}}");
    mg_schema_release(loose);
    mg_schema_release(strict);

    /* declarations count across in-place subschemas: allOf, $ref, if / then */
    strict = compile_strict("{\"allOf\": [{\"properties\": {\"a\": true}}, {\"$ref\": \"#/$defs/b\"}], "
                            "\"if\": {\"required\": [\"a\"]}, \"then\": {\"properties\": {\"c\": true}}, "
                            "\"$defs\": {\"b\": {\"patternProperties\": {\"^b\": true}}}}");
    valid(strict, "{\"a\": 1, \"bee\": 2, \"c\": 3}");
    invalid(strict, "{\"a\": 1, \"d\": 4}");
    invalid(strict, "{\"c\": 3}"); /* then did not apply: c is not declared here */
    mg_schema_release(strict);

    /* the schema says what to do with other members: strict mode stays out */
    strict = compile_strict("{\"properties\": {\"a\": true}, \"additionalProperties\": {\"type\": \"integer\"}}");
    valid(strict, "{\"a\": \"s\", \"b\": 1}");
    mg_schema_release(strict);
    strict = compile_strict("{\"properties\": {\"a\": true}, \"allOf\": [{\"unevaluatedProperties\": true}]}");
    valid(strict, "{\"b\": 1}");
    mg_schema_release(strict);

    /* items are entered locations too; anyOf declarations count when their branch passes */
    strict = compile_strict("{\"type\": \"array\", \"items\": {\"anyOf\": [{\"properties\": {\"a\": {\"type\": "
                            "\"integer\"}}, \"required\": [\"a\"]}, {\"properties\": {\"b\": true}}]}}");
    valid(strict, "[{\"a\": 1}, {\"b\": 1}]");
    invalid(strict, "[{\"a\": 1, \"b\": 2, \"c\": 3}]");
    violation(0, "/0/c", "/items", "additionalProperties",
              "property \"c\" is not declared by the schema (strict mode)");
    mg_schema_release(strict);
}

/* ---- limits and pathological schemas ---- */

static char *nested_schema(size_t levels)
{
    size_t size = levels * 40 + 64;
    char *text = malloc(size);
    assert_non_null(text);
    text[0] = '\0';
    for (size_t i = 0; i < levels; i++)
        strcat(text, "{\"properties\": {\"a\": ");
    strcat(text, "{\"type\": \"string\"}");
    for (size_t i = 0; i < levels; i++)
        strcat(text, "}}");
    return text;
}

static void test_limits(void **state)
{
    (void)state;
    char *text = nested_schema(64);
    mg_schema_t *schema = compile(text);
    mg_schema_release(schema);
    free(text);
    text = nested_schema(65);
    compile_fails(text, NULL, MG_SCHEMA_ERR_LIMIT,
                  "schema too deep: more than 64 levels at /properties/a/properties/a/properties/a");
    free(text);
    text = nested_schema(500);
    compile_fails(text, NULL, MG_SCHEMA_ERR_LIMIT, "schema too deep: more than 64 levels at");
    free(text);

    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.max_depth = 3;
    compile_fails("{\"items\": {\"items\": {\"items\": {\"items\": {}}}}}", &options, MG_SCHEMA_ERR_LIMIT,
                  "schema too deep: more than 3 levels at /items/items/items/items");

    /* a huge enum: past max_fanout it fails compilation; within it, it is bounded and fine */
    size_t values = 5000;
    char *big = malloc(values * 12 + 32);
    strcpy(big, "{\"enum\": [");
    for (size_t i = 0; i < values; i++)
        sprintf(big + strlen(big), "%s%zu", i > 0 ? ", " : "", i);
    strcat(big, "]}");
    compile_fails(big, NULL, MG_SCHEMA_ERR_LIMIT,
                  "schema too wide at /enum: 5000 members, more than 1024 (max_fanout)");
    options.max_depth = 0;
    options.max_fanout = 10000;
    schema = compile_with(big, &options);
    valid(schema, "4999");
    invalid(schema, "5000");
    assert_non_null(strstr(result.violations[0].message, "... (5000 values)"));
    mg_schema_release(schema);
    free(big);
}

static void test_max_nodes(void **state)
{
    (void)state;
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.max_nodes = 5;
    compile_fails("{\"properties\": {\"a\": {}, \"b\": {}, \"c\": {}, \"d\": {}, \"e\": {}}}", &options,
                  MG_SCHEMA_ERR_LIMIT, "schema too large: more than 5 subschemas");
    mg_schema_release(compile_with("{\"properties\": {\"a\": {}, \"b\": {}, \"c\": {}, \"d\": {}}}", &options));

    /* wide allOf over the fan-out limit */
    char *text = malloc(1100 * 4 + 32);
    strcpy(text, "{\"allOf\": [");
    for (int i = 0; i < 1100; i++)
        strcat(text, i > 0 ? ", {}" : "{}");
    strcat(text, "]}");
    compile_fails(text, NULL, MG_SCHEMA_ERR_LIMIT, "schema too wide at /allOf: 1100 members");
    free(text);
}

static void test_catastrophic_regex(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"type\": \"string\", \"pattern\": \"^(a+)+$\"}");
    char instance[128] = "\"";
    memset(instance + 1, 'a', 60);
    strcpy(instance + 61, "!\"");
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    invalid(schema, instance);
    assert_true(seconds_since(&start) < 2.0);
    assert_string_equal(result.violations[0].keyword, "pattern");
    valid(schema, "\"aaaa\"");

    /* the same in patternProperties, on a member name */
    mg_schema_release(schema);
    schema = compile("{\"patternProperties\": {\"^(a|aa)+$\": {\"type\": \"integer\"}}}");
    char object[256] = "{\"";
    memset(object + 2, 'a', 80);
    strcpy(object + 82, "b\": \"x\"}");
    clock_gettime(CLOCK_MONOTONIC, &start);
    (void)check(schema, object);
    assert_true(seconds_since(&start) < 2.0);
    mg_schema_release(schema);

    compile_fails("{\"pattern\": \"(unclosed\"}", NULL, MG_SCHEMA_ERR_INVALID,
                  "invalid schema at /pattern: the regular expression does not compile: missing closing parenthesis");
}

static void test_exponential_schema(void **state)
{
    (void)state;
    /* each level tries two branches that both fail on a string: 2^30 paths without a bound */
    char text[8192] = "{\"$defs\": {";
    for (int i = 0; i < 30; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "\"l%d\": {\"anyOf\": [{\"$ref\": \"#/$defs/l%d\"}, {\"$ref\": \"#/$defs/l%d\"}]}, ", i, i + 1, i + 1);
    strcat(text, "\"l30\": {\"type\": \"integer\"}}, \"$ref\": \"#/$defs/l0\"}");
    mg_schema_t *schema = compile(text);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    invalid(schema, "\"s\"");
    assert_true(seconds_since(&start) < 5.0);
    assert_string_equal(result.violations[result.count - 1].keyword, "steps");
    valid(schema, "1");
    mg_schema_release(schema);
}

static void test_reference_cycles(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"$ref\": \"#\"}");
    invalid(schema, "1");
    violation(0, "", "", "depth",
              "subschemas nest more than 1088 levels here (a reference cycle that never moves into the value?)");
    mg_schema_release(schema);

    schema = compile("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"allOf\": [{\"$ref\": \"#/$defs/a\"}]}}, "
                     "\"$ref\": \"#/$defs/a\"}");
    invalid(schema, "{}");
    mg_schema_release(schema);

    /* recursion through the instance is legal and ends with it */
    schema = compile("{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"children\": "
                     "{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}}, \"required\": [\"name\"]}");
    valid(schema, "{\"name\": \"a\", \"children\": [{\"name\": \"b\", \"children\": [{\"name\": \"c\"}]}]}");
    invalid(schema, "{\"name\": \"a\", \"children\": [{\"children\": []}]}");
    violation(0, "/children/0", "/required", "required", "missing required property \"name\"");
    mg_schema_release(schema);
}

/* ---- pathological instances ---- */

static json_t *deep_array(int levels)
{
    json_t *deep = json_array(), *inner = deep;
    for (int i = 0; i < levels; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    return deep;
}

static void test_deep_instance(void **state)
{
    (void)state;
    json_t *deep = deep_array(100000);
    mg_schema_t *schema = compile("{\"items\": {\"$ref\": \"#\"}}");
    assert_false(mg_schema_validate(schema, NULL, deep, NULL));
    assert_false(mg_schema_validate(schema, NULL, deep, &result));
    assert_int_equal(result.count, 1);
    assert_string_equal(result.violations[0].keyword, "depth");
    assert_string_equal(result.violations[0].message,
                        "the value nests more than 128 levels deep; deeper values are not validated");
    assert_int_equal(strlen(result.violations[0].instance_path), strlen(result.violations[0].instance_path));
    assert_non_null(strstr(result.violations[0].instance_path, "/..."));
    mg_schema_release(schema);

    /* a schema that does not look inside does not care */
    schema = compile("{\"type\": \"array\"}");
    assert_true(mg_schema_validate(schema, NULL, deep, NULL));
    mg_schema_release(schema);

    /* uniqueItems and enum compare deep values with a bound too */
    schema = compile("{\"uniqueItems\": true}");
    json_t *pair = json_pack("[O, o]", deep, deep_array(100000));
    assert_false(mg_schema_validate(schema, NULL, pair, &result));
    assert_string_equal(result.violations[0].keyword, "depth");
    json_decref(pair);
    pair = json_pack("[O, O]", deep, deep); /* the same value twice: equal without looking inside */
    assert_false(mg_schema_validate(schema, NULL, pair, &result));
    assert_string_equal(result.violations[0].keyword, "uniqueItems");
    json_decref(pair);
    mg_schema_release(schema);
    json_decref(deep);
}

static void test_large_instances(void **state)
{
    (void)state;
    /* a long string */
    size_t len = 4 * 1024 * 1024;
    char *text = malloc(len + 1);
    memset(text, 'x', len);
    text[len] = '\0';
    json_t *string = json_stringn(text, len);
    mg_schema_t *schema = compile("{\"type\": \"string\", \"maxLength\": 100, \"pattern\": \"^x+$\"}");
    assert_false(mg_schema_validate(schema, NULL, string, &result));
    assert_string_equal(result.violations[0].message, "must be at most 100 characters long (is 4194304)");
    mg_schema_release(schema);
    json_decref(string);
    free(text);

    /* many properties */
    json_t *object = json_object();
    for (int i = 0; i < 20000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        json_object_set_new(object, key, json_integer(i));
    }
    schema = compile("{\"properties\": {\"k1\": {\"type\": \"integer\"}}, \"additionalProperties\": false}");
    assert_false(mg_schema_validate(schema, NULL, object, &result));
    assert_int_equal(result.count, MG_SCHEMA_VIOLATIONS_MAX);
    assert_true(result.truncated);
    mg_schema_release(schema);
    schema = compile_strict("{\"properties\": {\"k1\": {\"type\": \"integer\"}}}");
    assert_false(mg_schema_validate(schema, NULL, object, NULL));
    mg_schema_release(schema);
    schema = compile("{\"properties\": {\"k1\": true}, \"unevaluatedProperties\": {\"type\": \"integer\"}}");
    assert_true(mg_schema_validate(schema, NULL, object, NULL));
    mg_schema_release(schema);
    json_decref(object);

    /* a long array with uniqueItems: hashed, not compared pairwise */
    json_t *array = json_array();
    for (int i = 0; i < 50000; i++)
        json_array_append_new(array, i % 2 ? json_integer(i) : json_real(i + 0.5));
    schema = compile("{\"uniqueItems\": true, \"items\": {\"type\": \"number\"}}");
    assert_true(mg_schema_validate(schema, NULL, array, NULL));
    json_array_append_new(array, json_real(49999.0)); /* equals the integer 49999 */
    assert_false(mg_schema_validate(schema, NULL, array, &result));
    assert_string_equal(result.violations[0].message, "must not contain duplicates (items 49999 and 50000 are equal)");
    mg_schema_release(schema);
    json_decref(array);
}

static void test_wrong_types_everywhere(void **state)
{
    (void)state;
    static const char *const instances[] = {
        "null", "true",         "false", "0", "-1", "1.5", "1e308", "\"\"", "\"s\"", "[]", "[1, \"a\", null]",
        "{}",   "{\"a\": [{}]}"};
    mg_schema_t *schema =
        compile("{\"type\": \"object\", \"minimum\": 1, \"maxLength\": 1, \"pattern\": \"x\", \"items\": {\"type\": "
                "\"string\"}, \"required\": [\"a\"], \"properties\": {\"a\": {\"type\": \"string\", \"minItems\": 2}}, "
                "\"format\": \"email\", \"multipleOf\": 2, \"uniqueItems\": true, \"contains\": {\"type\": \"null\"}, "
                "\"propertyNames\": {\"minLength\": 2}, \"enum\": [1, \"s\", [], {}], \"const\": 1}");
    for (size_t i = 0; i < sizeof(instances) / sizeof(instances[0]); i++)
        invalid(schema, instances[i]);
    mg_schema_release(schema);

    /* keywords whose values have the wrong shape fail compilation, with where and why */
    static const struct {
        const char *schema, *message;
    } bad[] = {
        {"[]", "invalid schema at the root: a schema must be an object or a boolean, not an array"},
        {"{\"type\": \"strin\"}", "invalid schema at /type: must be null, boolean, object"},
        {"{\"maxLength\": -1}", "invalid schema at /maxLength: must be a non-negative integer"},
        {"{\"minItems\": 1.5}", "invalid schema at /minItems: must be a non-negative integer"},
        {"{\"minimum\": \"1\"}", "invalid schema at /minimum: must be a number"},
        {"{\"multipleOf\": 0}", "invalid schema at /multipleOf: must be a number greater than 0"},
        {"{\"required\": \"a\"}", "invalid schema at /required: must be an array of property names"},
        {"{\"required\": [1]}", "invalid schema at /required: must be an array of property names (strings)"},
        {"{\"properties\": []}", "invalid schema at /properties: must be an object of schemas"},
        {"{\"properties\": {\"a\": 1}}", "invalid schema at /properties/a: a schema must be an object or a boolean"},
        {"{\"allOf\": []}", "invalid schema at /allOf: must be a non-empty array of schemas"},
        {"{\"items\": [{}]}", "invalid schema at /items: a schema must be an object or a boolean, not an array"},
        {"{\"enum\": 1}", "invalid schema at /enum: must be an array"},
        {"{\"uniqueItems\": 1}", "invalid schema at /uniqueItems: must be a boolean"},
        {"{\"$ref\": 1}", "invalid schema at /$ref: must be a string"},
        {"{\"$schema\": 7}", "invalid schema at /$schema: must be a string"},
        {"{\"$anchor\": \"1x\"}", "invalid schema at /$anchor: \"1x\" is not a valid anchor name"},
        {"{\"$id\": \"http://x/y#frag\"}", "has a fragment (name a location with $anchor)"},
        {"{\"$ref\": \"#/$defs/missing\"}", "invalid schema at /$ref: \"#/$defs/missing\" points to no location"},
        {"{\"$ref\": \"#nowhere\"}", "no anchor \"nowhere\""},
        {"{\"format\": 1}", "invalid schema at /format: must be a string"},
        {"{\"dependentRequired\": {\"a\": \"b\"}}", "invalid schema at /dependentRequired: must be an array"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        compile_fails(bad[i].schema, NULL, MG_SCHEMA_ERR_INVALID, bad[i].message);
    assert_int_equal(mg_schema_compile(NULL, NULL, &schema, NULL), MG_SCHEMA_ERR_INVALID);
}

/* ---- numbers and strings at the edges ---- */

static void test_numbers(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"maximum\": 1e308, \"minimum\": -1e308}");
    valid(schema, "1e308");
    valid(schema, "-1e308");
    valid(schema, "9223372036854775807");
    invalid(schema, "1.7976931348623157e308");
    mg_schema_release(schema);

    /* 2^53 + 1 is not representable as a double: integers compare exactly */
    schema = compile("{\"maximum\": 9007199254740992}");
    invalid(schema, "9007199254740993");
    violation(0, "", "/maximum", "maximum", "must be at most 9007199254740992 (is 9007199254740993)");
    mg_schema_release(schema);
    schema = compile("{\"exclusiveMaximum\": 9007199254740992.0}");
    invalid(schema, "9007199254740993");
    invalid(schema, "9007199254740992");
    valid(schema, "9007199254740991");
    mg_schema_release(schema);
    schema = compile("{\"const\": 9007199254740992}");
    valid(schema, "9007199254740992.0");
    invalid(schema, "9007199254740993");
    mg_schema_release(schema);

    /* multipleOf on decimals: what the digits say, not what binary floating point says */
    schema = compile("{\"multipleOf\": 0.01}");
    invalid(schema, "0.075");
    violation(0, "", "/multipleOf", "multipleOf", "must be a multiple of 0.01 (is 0.075)");
    valid(schema, "0.07");
    valid(schema, "19.99");
    valid(schema, "1e308");
    valid(schema, "-4");
    mg_schema_release(schema);
    schema = compile("{\"multipleOf\": 0.1}");
    valid(schema, "0.3");
    invalid(schema, "0.35");
    mg_schema_release(schema);
    schema = compile("{\"type\": \"integer\", \"multipleOf\": 0.123456789}");
    invalid(schema, "1e308");
    mg_schema_release(schema);
    schema = compile("{\"multipleOf\": 3}");
    valid(schema, "-9223372036854775806"); /* -(2^63 - 2) */
    invalid(schema, "-9223372036854775808");
    invalid(schema, "9223372036854775807");
    valid(schema, "4.5e1");
    invalid(schema, "4.5");
    mg_schema_release(schema);

    schema = compile("{\"type\": \"integer\"}");
    valid(schema, "1e308");
    valid(schema, "-0.0");
    invalid(schema, "1.0000000000000002");
    mg_schema_release(schema);

    schema = compile("{\"uniqueItems\": true}");
    invalid(schema, "[1, 1.0]");
    invalid(schema, "[{\"a\": 0}, {\"a\": -0.0}]");
    valid(schema, "[9007199254740993, 9007199254740992.0]");
    mg_schema_release(schema);
}

static void test_unicode_lengths(void **state)
{
    (void)state;
    mg_schema_t *schema = compile("{\"maxLength\": 1}");
    valid(schema, "\"\xf0\x9f\x92\xa9\""); /* U+1F4A9, four bytes, one character */
    valid(schema, "\"\\ud83d\\udca9\"");
    invalid(schema, "\"\xf0\x9f\x92\xa9\xf0\x9f\x92\xa9\"");
    violation(0, "", "/maxLength", "maxLength", "must be at most 1 character long (is 2)");
    mg_schema_release(schema);

    schema = compile("{\"minLength\": 2}");
    invalid(schema, "\"\xf0\x9f\x92\xa9\"");
    violation(0, "", "/minLength", "minLength", "must be at least 2 characters long (is 1)");
    valid(schema, "\"\xc3\xa9\xc3\xa9\"");
    mg_schema_release(schema);

    /* patterns see characters too */
    schema = compile("{\"pattern\": \"^.$\"}");
    valid(schema, "\"\xf0\x9f\x92\xa9\"");
    invalid(schema, "\"ab\"");
    mg_schema_release(schema);
    schema = compile("{\"pattern\": \"^\\\\p{Letter}+$\"}");
    valid(schema, "\"\xc3\xa9t\xc3\xa9\"");
    invalid(schema, "\"a1\"");
    mg_schema_release(schema);
    schema = compile("{\"pattern\": \"^\\\\u00e9$\"}");
    valid(schema, "\"\xc3\xa9\"");
    mg_schema_release(schema);

    /* a non-ASCII value is quoted in ASCII in messages */
    schema = compile("{\"const\": \"a\"}");
    invalid(schema, "\"\xf0\x9f\x92\xa9\"");
    violation(0, "", "/const", "const", "must be \"a\" (is \"\\ud83d\\udca9\")");
    mg_schema_release(schema);
}

/* ---- references, dialects, find ---- */

static void test_references(void **state)
{
    (void)state;
    compile_fails("{\"$ref\": \"https://example.com/schema.json\"}", NULL, MG_SCHEMA_ERR_REMOTE,
                  "remote reference: $ref \"https://example.com/schema.json\" at the root resolves to "
                  "\"https://example.com/schema.json\", outside the schema document; remote references are never "
                  "fetched");
    compile_fails("{\"properties\": {\"a\": {\"$ref\": \"other.json#/x\"}}}", NULL, MG_SCHEMA_ERR_REMOTE,
                  "$ref \"other.json#/x\" at /properties/a resolves to \"other.json\", outside the schema document");
    compile_fails("{\"$id\": \"https://a.example/root\", \"$ref\": \"b\"}", NULL, MG_SCHEMA_ERR_REMOTE,
                  "resolves to \"https://a.example/b\"");
    compile_fails("{\"$ref\": \"file:///etc/passwd\"}", NULL, MG_SCHEMA_ERR_REMOTE, "never fetched");

    /* the metaschemas are embedded */
    mg_schema_t *schema = compile("{\"$ref\": \"https://json-schema.org/draft/2020-12/schema\"}");
    valid(schema, "{\"type\": \"string\", \"minLength\": 1}");
    invalid(schema, "{\"minLength\": -1}");
    invalid(schema, "{\"type\": \"strin\"}");
    mg_schema_release(schema);
    schema = compile("{\"$ref\": \"http://json-schema.org/draft-07/schema#\"}");
    valid(schema, "{\"items\": [{}], \"additionalItems\": false}");
    invalid(schema, "{\"properties\": {\"a\": 1}}");
    mg_schema_release(schema);

    /* $id bases, anchors, escaped pointers */
    schema =
        compile("{\"$id\": \"https://example.com/root.json\", \"$defs\": {"
                "\"a b\": {\"$id\": \"nested/a.json\", \"$anchor\": \"A\", \"type\": \"integer\"},"
                "\"x/y\": {\"type\": \"string\"}},"
                "\"properties\": {\"p\": {\"$ref\": \"nested/a.json\"}, \"q\": {\"$ref\": \"#/$defs/x~1y\"},"
                "\"r\": {\"$ref\": \"https://example.com/nested/a.json#A\"}, \"s\": {\"$ref\": \"#/$defs/a%20b\"}}}");
    valid(schema, "{\"p\": 1, \"q\": \"s\", \"r\": 2, \"s\": 3}");
    invalid(schema, "{\"p\": \"1\"}");
    violation(0, "/p", "/$defs/a b/type", "type", "must be integer (is string)");
    invalid(schema, "{\"q\": 1}");
    violation(0, "/q", "/$defs/x~1y/type", "type", "must be string (is integer)");
    mg_schema_release(schema);
}

static void test_dialects(void **state)
{
    (void)state;
    /* draft-07: items as an array, additionalItems, $ref siblings ignored, dependencies */
    mg_schema_t *schema = compile("{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"properties\": {"
                                  "\"t\": {\"items\": [{\"type\": \"integer\"}], \"additionalItems\": false},"
                                  "\"r\": {\"$ref\": \"#/definitions/s\", \"maxLength\": 1}},"
                                  "\"dependencies\": {\"a\": [\"b\"], \"c\": {\"required\": [\"d\"]}},"
                                  "\"definitions\": {\"s\": {\"type\": \"string\"}}}");
    assert_int_equal(mg_schema_draft(schema), MG_SCHEMA_DRAFT_7);
    valid(schema, "{\"t\": [1], \"r\": \"long string\"}");
    invalid(schema, "{\"t\": [1, 2]}");
    violation(0, "/t", "/properties/t/additionalItems", "additionalItems", "must have at most 1 item (has 2)");
    invalid(schema, "{\"a\": 1}");
    invalid(schema, "{\"c\": 1}");
    mg_schema_release(schema);

    /* the same $schema written other ways */
    static const char *const names[] = {
        "https://json-schema.org/draft-07/schema", "http://json-schema.org/draft-07/schema",
        "http://json-schema.org/draft/2020-12/schema#", "https://json-schema.org/draft/2020-12/schema"};
    static const mg_schema_draft_t drafts[] = {MG_SCHEMA_DRAFT_7, MG_SCHEMA_DRAFT_7, MG_SCHEMA_DRAFT_2020_12,
                                               MG_SCHEMA_DRAFT_2020_12};
    for (size_t i = 0; i < 4; i++) {
        char text[200];
        snprintf(text, sizeof(text), "{\"$schema\": \"%s\"}", names[i]);
        schema = compile(text);
        assert_int_equal(mg_schema_draft(schema), drafts[i]);
        mg_schema_release(schema);
    }

    /* unknown: the default draft, or an error when asked */
    schema = compile("{\"$schema\": \"https://json-schema.org/draft/2019-09/schema\", \"prefixItems\": [false]}");
    assert_int_equal(mg_schema_draft(schema), MG_SCHEMA_DRAFT_2020_12);
    invalid(schema, "[1]");
    mg_schema_release(schema);
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.default_draft = MG_SCHEMA_DRAFT_7;
    schema = compile_with("{\"items\": [{\"type\": \"string\"}]}", &options);
    invalid(schema, "[1]");
    mg_schema_release(schema);
    options.reject_unknown_dialect = true;
    compile_fails("{\"$schema\": \"https://example.com/my-meta\"}", &options, MG_SCHEMA_ERR_REMOTE,
                  "$schema \"https://example.com/my-meta\" is not a metaschema this engine knows");
}

static json_t *load_spec(const char *version)
{
    const char *shared = getenv("MCPGATE_SHARED");
    char path[4096];
    snprintf(path, sizeof(path), "%s/spec/%s/schema.json", shared != NULL ? shared : "../shared", version);
    json_error_t jerr;
    json_t *json = json_load_file(path, 0, &jerr);
    if (json == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return json;
}

static void test_find_mcp_definitions(void **state)
{
    (void)state;
    static const struct {
        const char *version, *pointer;
    } specs[] = {{"2025-06-18", "#/definitions/CallToolRequest"}, {"2025-11-25", "#/$defs/CallToolRequest"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *json = load_spec(specs[i].version);
        mg_schema_t *schema = NULL;
        mg_error_t err = {{0}};
        if (mg_schema_compile(json, NULL, &schema, &err) != 0)
            fail_msg("%s: %s", specs[i].version, err.message);
        json_decref(json);
        const mg_schema_node_t *call = mg_schema_find(schema, specs[i].pointer);
        assert_non_null(call);
        assert_string_equal(mg_schema_node_path(call), specs[i].pointer + 1);
        json_t *message = parse("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", "
                                "\"params\": {\"name\": \"echo\", \"arguments\": {\"text\": \"hi\"}}}");
        assert_true(mg_schema_validate(schema, call, message, &result));
        json_object_del(json_object_get(message, "params"), "name");
        assert_false(mg_schema_validate(schema, call, message, &result));
        assert_string_equal(result.violations[0].instance_path, "/params");
        assert_string_equal(result.violations[0].message, "missing required property \"name\"");
        json_decref(message);
        assert_null(mg_schema_find(schema, "#/definitions/NoSuchThing"));
        assert_ptr_equal(mg_schema_find(schema, "#"), mg_schema_root(schema));
        assert_ptr_equal(mg_schema_find(schema, ""), mg_schema_root(schema));
        mg_schema_release(schema);
    }

    mg_schema_t *schema = compile("{\"$defs\": {\"a/b\": {\"$anchor\": \"ab\", \"type\": \"string\"}, "
                                  "\"c%d\": {\"type\": \"integer\"}}}");
    const mg_schema_node_t *node = mg_schema_find(schema, "#/$defs/a~1b");
    assert_non_null(node);
    assert_ptr_equal(mg_schema_find(schema, "#ab"), node);
    assert_ptr_equal(mg_schema_find(schema, "/$defs/a~1b"), node);
    assert_non_null(mg_schema_find(schema, "#/$defs/c%25d"));
    assert_null(mg_schema_find(schema, "#/$defs/a%2"));
    assert_null(mg_schema_find(schema, "#missing"));
    json_t *one = json_integer(1);
    assert_false(mg_schema_validate(schema, node, one, &result));
    assert_string_equal(result.violations[0].schema_path, "/$defs/a~1b/type");
    json_decref(one);
    mg_schema_release(schema);
}

/* ---- formats ---- */

static void test_formats(void **state)
{
    (void)state;
    static const struct {
        const char *format, *good, *bad;
    } cases[] = {
        {"date-time", "2025-01-31T13:45:00.5+01:00", "2025-02-30T13:45:00Z"},
        {"date-time", "1998-12-31T23:59:60Z", "1998-12-31T22:59:60Z"},
        {"date", "2024-02-29", "2023-02-29"},
        {"time", "23:59:59z", "24:00:00Z"},
        {"duration", "P3DT4H", "PT"},
        {"duration", "P2W", "P1Y2W"},
        {"email", "joe.bloggs@example.com", "joe..bloggs@example.com"},
        {"email", "\\\"joe bloggs\\\"@[127.0.0.1]", "@example.com"},
        {"hostname", "www.example.com", "-bad.example.com"},
        {"ipv4", "192.168.0.1", "192.168.01.1"},
        {"ipv6", "::ffff:192.168.0.1", "1:2:3:4:5:6:7:8:9"},
        {"uri", "https://user@example.com:8080/a?b#c", "/relative/path"},
        {"uri", "urn:isbn:0451450523", "http://exa mple.com"},
        {"uri-reference", "../a/b?c", "\\\\\\\\WINDOWS\\\\share"},
        {"iri", "https://\xc3\xa9x.example/\xc3\xa9", "\xc3\xa9"},
        {"uuid", "2eb8aa08-AA98-11ea-b4aa-73b441d16380", "2eb8aa08aa9811eab4aa73b441d16380"},
        {"json-pointer", "/a/~0b/~1c", "a/b"},
        {"relative-json-pointer", "1/a", "-1/a"},
        {"regex", "^[a-z]+$", "(unclosed"},
    };
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.validate_formats = true;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[200], good[200], bad[200];
        snprintf(text, sizeof(text), "{\"format\": \"%s\"}", cases[i].format);
        snprintf(good, sizeof(good), "\"%s\"", cases[i].good);
        snprintf(bad, sizeof(bad), "\"%s\"", cases[i].bad);
        mg_schema_t *schema = compile_with(text, &options), *annotation = compile(text);
        valid(schema, good);
        invalid(schema, bad);
        valid(annotation, bad); /* by default, format is an annotation */
        valid(schema, "42");    /* and applies to strings only */
        mg_schema_release(schema);
        mg_schema_release(annotation);
    }
    mg_schema_t *schema = compile_with("{\"format\": \"date-time\"}", &options);
    invalid(schema, "\"yesterday\"");
    violation(0, "", "/format", "format", "must be a valid date-time (RFC 3339, like 2025-01-31T13:45:00Z)");
    mg_schema_release(schema);
    schema = compile_with("{\"format\": \"x-custom\"}", &options);
    valid(schema, "\"anything\"");
    mg_schema_release(schema);
}

/* ---- the cache ---- */

static void test_cache(void **state)
{
    (void)state;
    mg_schema_cache_t *cache = mg_schema_cache_create(2);
    assert_non_null(cache);
    json_t *a = parse("{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}}}");
    json_t *a_reordered = parse("{\"properties\": {\"x\": {\"type\": \"integer\"}}, \"type\": \"object\"}");
    json_t *bad = parse("{\"type\": \"strin\"}");
    mg_schema_t *first = NULL, *second = NULL, *third = NULL;
    mg_error_t err = {{0}};
    assert_int_equal(mg_schema_cache_get(cache, a, NULL, &first, &err), 0);
    assert_int_equal(mg_schema_cache_get(cache, a_reordered, NULL, &second, &err), 0);
    assert_ptr_equal(first, second); /* the same canonical JSON: compiled once */
    mg_schema_options_t strict;
    mg_schema_options_default(&strict);
    strict.strict = true;
    assert_int_equal(mg_schema_cache_get(cache, a, &strict, &third, &err), 0);
    assert_ptr_not_equal(first, third); /* other options, another entry */
    mg_schema_cache_stats_t stats;
    mg_schema_cache_stats(cache, &stats);
    assert_int_equal(stats.hits, 1);
    assert_int_equal(stats.misses, 2);
    assert_int_equal(stats.entries, 2);

    /* a failed compilation is cached, and reported the same way each time */
    mg_schema_t *none = NULL;
    mg_error_t err1 = {{0}}, err2 = {{0}};
    assert_int_equal(mg_schema_cache_get(cache, bad, NULL, &none, &err1), MG_SCHEMA_ERR_INVALID);
    assert_null(none);
    assert_int_equal(mg_schema_cache_get(cache, bad, NULL, &none, &err2), MG_SCHEMA_ERR_INVALID);
    assert_string_equal(err1.message, err2.message);
    assert_non_null(strstr(err1.message, "invalid schema at /type"));
    mg_schema_cache_stats(cache, &stats);
    assert_int_equal(stats.misses, 3);
    assert_int_equal(stats.hits, 2);
    assert_int_equal(stats.failures, 1);
    /* over 2 entries, but the two compiled ones are held outside: only what nobody holds may go */
    assert_int_equal(stats.entries, 3);
    mg_schema_release(third);
    mg_schema_t *again = NULL;
    json_t *c = parse("{\"type\": \"string\"}");
    assert_int_equal(mg_schema_cache_get(cache, c, NULL, &again, &err), 0);
    mg_schema_cache_stats(cache, &stats);
    assert_true(stats.evictions >= 1);
    assert_true(stats.entries <= 3);
    /* the held entry survived */
    assert_int_equal(mg_schema_cache_get(cache, a, NULL, &third, &err), 0);
    assert_ptr_equal(third, first);
    mg_schema_release(third);
    mg_schema_release(again);

    mg_schema_cache_destroy(cache);
    /* a schema handed out outlives its cache */
    json_t *seven = json_integer(7);
    assert_false(mg_schema_validate(first, NULL, seven, NULL));
    json_decref(seven);
    mg_schema_release(first);
    mg_schema_release(second);
    json_decref(a);
    json_decref(a_reordered);
    json_decref(bad);
    json_decref(c);
}

/* ---- threads ---- */

typedef struct st_worker_t {
    const mg_schema_t *schema;
    mg_schema_cache_t *cache;
    int failures;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    json_t *good = parse("{\"path\": \"/tmp/x\", \"mode\": \"read\", \"tags\": [\"a\", \"b\"], \"count\": 3}");
    json_t *bad = parse("{\"path\": 1, \"mode\": \"x\", \"tags\": [\"A\"]}");
    json_t *text = parse(tool_schema);
    static _Thread_local mg_schema_result_t local;
    for (int i = 0; i < 2000; i++) {
        if (!mg_schema_validate(w->schema, NULL, good, &local) || mg_schema_validate(w->schema, NULL, bad, &local) ||
            local.count != 3)
            w->failures++;
        if (i % 100 == 0) {
            mg_schema_t *cached = NULL;
            if (mg_schema_cache_get(w->cache, text, NULL, &cached, NULL) != 0 ||
                !mg_schema_validate(cached, NULL, good, NULL))
                w->failures++;
            mg_schema_release(cached);
        }
    }
    json_decref(good);
    json_decref(bad);
    json_decref(text);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    mg_schema_t *schema = compile(tool_schema);
    mg_schema_cache_t *cache = mg_schema_cache_create(0);
    worker_t workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker_t){schema, cache, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].failures, 0);
    }
    mg_schema_cache_stats_t stats;
    mg_schema_cache_stats(cache, &stats);
    assert_int_equal(stats.entries, 1);
    mg_schema_cache_destroy(cache);
    mg_schema_release(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_enum_const),
        cmocka_unit_test(test_strings_arrays_objects),
        cmocka_unit_test(test_applicators),
        cmocka_unit_test(test_boolean_and_empty),
        cmocka_unit_test(test_violation_content),
        cmocka_unit_test(test_composition_messages),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_max_nodes),
        cmocka_unit_test(test_catastrophic_regex),
        cmocka_unit_test(test_exponential_schema),
        cmocka_unit_test(test_reference_cycles),
        cmocka_unit_test(test_deep_instance),
        cmocka_unit_test(test_large_instances),
        cmocka_unit_test(test_wrong_types_everywhere),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_unicode_lengths),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_dialects),
        cmocka_unit_test(test_find_mcp_definitions),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
