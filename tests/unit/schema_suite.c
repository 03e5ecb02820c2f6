/*
 * schema_suite.c - runs the official JSON Schema Test Suite against src/schema/.
 *
 *     schema_suite <suite directory> [-v]
 *
 * Reads the .json files of <dir>/tests/draft2020-12 and <dir>/tests/draft7 (not optional/): each is
 * an array of {description, schema, tests: [{description, data, valid}]}. A schema compiles with
 * that directory's draft as the default and reject_unknown_dialect on; each test validates twice,
 * without a result and with one, and passes when both answers match `valid` and the result agrees
 * (no violation when valid, at least one when not).
 *
 * Skips are decided by one rule: a schema whose compilation fails with MG_SCHEMA_ERR_REMOTE needs
 * a document from outside (the suite's remotes/, served on localhost:1234 by other runners, or a
 * custom metaschema), which this engine never fetches by design. Every skipped case is listed with
 * the compiler's reason. Any other compilation failure fails the group's tests.
 *
 * Prints, per draft, passed / failed / skipped per file and a total line; -v also prints each
 * failure's violations. Exits 1 if anything failed (2 on bad usage or an unreadable suite).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

typedef struct st_counts_t {
    size_t passed, failed, skipped;
} counts_t;

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json files of dir, sorted; NULL when the directory cannot be read. */
static char **list_files(const char *dir, size_t *len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n < 6 || strcmp(entry->d_name + n - 5, ".json") != 0)
            continue;
        if (count == cap) {
            cap = cap == 0 ? 64 : cap * 2;
            names = realloc(names, cap * sizeof(*names));
            if (names == NULL)
                abort();
        }
        names[count++] = strdup(entry->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof(*names), compare_names);
    *len = count;
    return names;
}

static bool run_test(const mg_schema_t *schema, const json_t *test, bool verbose, const char *label)
{
    const json_t *data = json_object_get(test, "data");
    bool expected = json_is_true(json_object_get(test, "valid"));
    static mg_schema_result_t result;
    bool quick = mg_schema_validate(schema, NULL, data, NULL);
    bool full = mg_schema_validate(schema, NULL, data, &result);
    bool consistent = full ? result.count == 0 : result.count > 0;
    bool passed = quick == expected && full == expected && consistent;
    if (!passed) {
        printf("FAIL %s: expected %s, got %s / %s%s\n", label, expected ? "valid" : "invalid",
               quick ? "valid" : "invalid", full ? "valid" : "invalid", consistent ? "" : " (result disagrees)");
        if (verbose) {
            char text[8192];
            mg_schema_result_text(&result, text, sizeof(text));
            printf("%s", text);
        }
    }
    return passed;
}

static int run_draft(const char *root, const char *draft_dir, mg_schema_draft_t draft, bool verbose, counts_t *total)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/%s", root, draft_dir);
    size_t files_len;
    char **files = list_files(dir, &files_len);
    if (files == NULL) {
        fprintf(stderr, "schema_suite: cannot read %s\n", dir);
        return -1;
    }
    char skipped[65536] = "";
    printf("%s\n%-40s %7s %7s %7s\n", draft_dir, "keyword (file)", "passed", "failed", "skipped");
    for (size_t f = 0; f < files_len; f++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        json_error_t jerr;
        json_t *groups = json_load_file(path, JSON_ALLOW_NUL, &jerr);
        if (!json_is_array(groups)) {
            fprintf(stderr, "schema_suite: %s: %s\n", path, jerr.text);
            json_decref(groups);
            return -1;
        }
        counts_t counts = {0};
        for (size_t g = 0; g < json_array_size(groups); g++) {
            const json_t *group = json_array_get(groups, g);
            const json_t *tests = json_object_get(group, "tests");
            const char *description = json_string_value(json_object_get(group, "description"));
            mg_schema_options_t options;
            mg_schema_options_default(&options);
            options.default_draft = draft;
            options.reject_unknown_dialect = true;
            mg_schema_t *schema = NULL;
            mg_error_t err = {{0}};
            int rc = mg_schema_compile(json_object_get(group, "schema"), &options, &schema, &err);
            for (size_t t = 0; t < json_array_size(tests); t++) {
                const json_t *test = json_array_get(tests, t);
                char label[1024];
                snprintf(label, sizeof(label), "%s/%s: %s: %s", draft_dir, files[f], description,
                         json_string_value(json_object_get(test, "description")));
                if (rc == MG_SCHEMA_ERR_REMOTE) {
                    counts.skipped++;
                    size_t used = strlen(skipped);
                    snprintf(skipped + used, sizeof(skipped) - used, "  skipped %s\n    (%s)\n", label, err.message);
                } else if (rc != 0) {
                    counts.failed++;
                    printf("FAIL %s: does not compile: %s\n", label, err.message);
                } else if (run_test(schema, test, verbose, label))
                    counts.passed++;
                else
                    counts.failed++;
            }
            mg_schema_release(schema);
        }
        json_decref(groups);
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(strlen(files[f]) - 5), files[f]);
        printf("%-40s %7zu %7zu %7zu\n", name, counts.passed, counts.failed, counts.skipped);
        total->passed += counts.passed;
        total->failed += counts.failed;
        total->skipped += counts.skipped;
        free(files[f]);
    }
    free(files);
    printf("%s: %zu passed, %zu failed, %zu skipped (remote references)\n", draft_dir, total->passed, total->failed,
           total->skipped);
    if (skipped[0] != '\0')
        printf("%s", skipped);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "-v") != 0)) {
        fprintf(stderr, "usage: schema_suite <JSON-Schema-Test-Suite directory> [-v]\n");
        return 2;
    }
    bool verbose = argc == 3;
    counts_t draft2020 = {0}, draft7 = {0};
    if (run_draft(argv[1], "draft2020-12", MG_SCHEMA_DRAFT_2020_12, verbose, &draft2020) != 0 ||
        run_draft(argv[1], "draft7", MG_SCHEMA_DRAFT_7, verbose, &draft7) != 0)
        return 2;
    printf("draft2020-12: %zu passed, %zu failed, %zu skipped (remote references)\n", draft2020.passed,
           draft2020.failed, draft2020.skipped);
    printf("draft7: %zu passed, %zu failed, %zu skipped (remote references)\n", draft7.passed, draft7.failed,
           draft7.skipped);
    return draft2020.failed + draft7.failed == 0 ? 0 : 1;
}
