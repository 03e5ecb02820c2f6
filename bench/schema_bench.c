/*
 * schema_bench.c - what validating a tool call's arguments costs (src/schema/).
 *
 *     build/bench/schema_bench [iterations]
 *
 * Compiles a realistic tool inputSchema (about 1 KB: a dozen properties of strings with patterns
 * and lengths, integers with bounds, an enum, a date, a number, an array of strings, a nested object,
 * required lists, additionalProperties false) and validates a valid instance of about 1 KB against
 * it. Each row is the median over 9 runs of `iterations` validations (default 200000), timed with
 * CLOCK_MONOTONIC, in nanoseconds per mg_schema_validate:
 *
 *   no result    mg_schema_validate(schema, NULL, instance, NULL): only the answer
 *   result       the same with a mg_schema_result_t (no violation to record)
 *   strict       strict mode on the schema without its additionalProperties: false, so that strict
 *                mode itself does the rejecting (annotation tracking at both objects)
 *   invalid      an instance with three violations, with a result (the error path, messages made)
 *
 * Figures are recorded in docs/validation.md; nothing asserts on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/schema.h"

#define RUNS 9

static const char schema_text[] =
    "{"
    "\"type\": \"object\","
    "\"description\": \"Create an issue in a repository\","
    "\"properties\": {"
    "  \"repository\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$\", \"maxLength\": 140,"
    "                   \"description\": \"owner/name\"},"
    "  \"title\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 256},"
    "  \"body\": {\"type\": \"string\", \"maxLength\": 65536},"
    "  \"state\": {\"type\": \"string\", \"enum\": [\"open\", \"closed\", \"all\"]},"
    "  \"labels\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 50},"
    "              \"maxItems\": 20, \"uniqueItems\": true},"
    "  \"assignees\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9-]{1,39}$\"},"
    "                 \"maxItems\": 10},"
    "  \"milestone\": {\"type\": \"integer\", \"minimum\": 1},"
    "  \"priority\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 4},"
    "  \"draft\": {\"type\": \"boolean\"},"
    "  \"due_date\": {\"type\": \"string\", \"format\": \"date\"},"
    "  \"estimate_hours\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 1000},"
    "  \"options\": {\"type\": \"object\", \"properties\": {"
    "      \"notify\": {\"type\": \"boolean\"},"
    "      \"template\": {\"type\": \"string\", \"maxLength\": 64},"
    "      \"reviewers\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 10}},"
    "    \"required\": [\"notify\"], \"additionalProperties\": false}"
    "},"
    "\"required\": [\"repository\", \"title\", \"state\"],"
    "\"additionalProperties\": false"
    "}";

static const char instance_text[] =
    "{\"repository\": \"acme/widgets\","
    "\"title\": \"Crash when the configuration file is empty\","
    "\"body\": \"Steps to reproduce: create an empty gw.yaml, run `mcpgate serve`, observe the crash. "
    "Expected: a clear error message naming the file and the missing servers section. Actual: a segmentation "
    "fault in the configuration loader before any log line is written. This happens on every release since "
    "0.3 and on both Linux and macOS. The core dump points at the YAML tree walker, which dereferences the "
    "root node without checking that the document has one. A fix should reject the empty document early, "
    "with the same message format as the other configuration errors, and a unit test should pin it.\","
    "\"state\": \"open\","
    "\"labels\": [\"bug\", \"configuration\", \"good first issue\", \"p1\"],"
    "\"assignees\": [\"octocat\", \"hubot\"],"
    "\"milestone\": 12,"
    "\"priority\": 1,"
    "\"draft\": false,"
    "\"due_date\": \"2025-03-31\","
    "\"estimate_hours\": 2.5,"
    "\"options\": {\"notify\": true, \"template\": \"bug_report\", \"reviewers\": 2}}";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double measure(const mg_schema_t *schema, const json_t *instance, mg_schema_result_t *result, bool expected,
                      long iterations)
{
    double runs[RUNS];
    for (int run = 0; run < RUNS; run++) {
        double start = now_ns();
        for (long i = 0; i < iterations; i++) {
            if (mg_schema_validate(schema, NULL, instance, result) != expected) {
                fprintf(stderr, "schema_bench: unexpected answer\n");
                exit(1);
            }
        }
        runs[run] = (now_ns() - start) / (double)iterations;
    }
    qsort(runs, RUNS, sizeof(runs[0]), compare_doubles);
    return runs[RUNS / 2];
}

static mg_schema_t *compile(const json_t *json, bool strict)
{
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.strict = strict;
    mg_schema_t *schema = NULL;
    mg_error_t err = {{0}};
    if (mg_schema_compile(json, &options, &schema, &err) != 0) {
        fprintf(stderr, "schema_bench: %s\n", err.message);
        exit(1);
    }
    return schema;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    if (iterations <= 0) {
        fprintf(stderr, "usage: schema_bench [iterations]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *schema_json = json_loads(schema_text, 0, &jerr), *instance = json_loads(instance_text, 0, &jerr);
    if (schema_json == NULL || instance == NULL) {
        fprintf(stderr, "schema_bench: %s\n", jerr.text);
        return 1;
    }
    mg_schema_t *schema = compile(schema_json, false);
    /* strict mode doing additionalProperties' job */
    json_t *loose = json_deep_copy(schema_json);
    json_object_del(loose, "additionalProperties");
    json_object_del(json_object_get(json_object_get(loose, "properties"), "options"), "additionalProperties");
    mg_schema_t *strict = compile(loose, true);
    json_t *invalid = json_deep_copy(instance);
    json_object_set_new(invalid, "state", json_string("opened"));
    json_object_set_new(invalid, "priority", json_integer(7));
    json_object_set_new(invalid, "labelz", json_array());

    char *dumped = json_dumps(instance, JSON_COMPACT);
    char *dumped_schema = json_dumps(schema_json, JSON_COMPACT);
    printf("instance: %zu bytes, %zu members; schema: %zu bytes; %ld validations per run, median of %d runs\n",
           strlen(dumped), json_object_size(instance), strlen(dumped_schema), iterations, RUNS);
    free(dumped);
    free(dumped_schema);

    static mg_schema_result_t result;
    printf("no result   %8.1f ns\n", measure(schema, instance, NULL, true, iterations));
    printf("result      %8.1f ns\n", measure(schema, instance, &result, true, iterations));
    printf("strict      %8.1f ns\n", measure(strict, instance, NULL, true, iterations));
    double invalid_ns = measure(schema, invalid, &result, false, iterations / 4);
    printf("invalid     %8.1f ns (%zu violations)\n", invalid_ns, result.count);

    mg_schema_release(schema);
    mg_schema_release(strict);
    json_decref(schema_json);
    json_decref(loose);
    json_decref(instance);
    json_decref(invalid);
    return 0;
}
