/* test_naming.c - public names on the aggregated endpoint (src/mcp/naming.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/naming.h"

static mg_config_t *load(const char *yaml)
{
    mg_config_t *config = NULL;
    mg_error_t err;
    if (mg_config_load_string(yaml, strlen(yaml), "test.yaml", "/tmp", &config, &err) != 0)
        fail_msg("config: %s", err.message);
    return config;
}

static const char two_servers[] = "servers:\n"
                                  "  - {name: fs, command: [x]}\n"
                                  "  - {name: fs-extra, command: [y]}\n";

static void test_join_and_split_names(void **state)
{
    (void)state;
    mg_config_t *config = load(two_servers);
    char *name = mg_naming_join_name(config, 1, "read");
    assert_string_equal(name, "fs-extra__read");
    size_t index;
    const char *local;
    assert_int_equal(mg_naming_split_name(config, name, &index, &local), 0);
    assert_int_equal(index, 1);
    assert_string_equal(local, "read");
    free(name);
    /* the upstream's own name may contain the separator again */
    assert_int_equal(mg_naming_split_name(config, "fs__read__v2", &index, &local), 0);
    assert_int_equal(index, 0);
    assert_string_equal(local, "read__v2");
    mg_config_release(config);
}

static void test_unknown_names_do_not_split(void **state)
{
    (void)state;
    mg_config_t *config = load(two_servers);
    size_t index;
    const char *local;
    assert_int_equal(mg_naming_split_name(config, "other__read", &index, &local), -1);
    assert_int_equal(mg_naming_split_name(config, "read", &index, &local), -1);
    assert_int_equal(mg_naming_split_name(config, "fs__", &index, &local), -1);
    assert_int_equal(mg_naming_split_name(config, "__read", &index, &local), -1);
    assert_int_equal(mg_naming_split_name(config, "fs-__read", &index, &local), -1);
    mg_config_release(config);
}

static void test_uris(void **state)
{
    (void)state;
    mg_config_t *config = load(two_servers);
    char *uri = mg_naming_join_uri(config, 0, "file:///tmp/a+b.txt");
    assert_string_equal(uri, "fs+file:///tmp/a+b.txt");
    size_t index;
    const char *local;
    assert_int_equal(mg_naming_split_uri(config, uri, &index, &local), 0);
    assert_int_equal(index, 0);
    assert_string_equal(local, "file:///tmp/a+b.txt");
    free(uri);
    assert_int_equal(mg_naming_split_uri(config, "fs-extra+demo://x", &index, &local), 0);
    assert_int_equal(index, 1);
    assert_int_equal(mg_naming_split_uri(config, "file:///tmp/x", &index, &local), -1);
    assert_int_equal(mg_naming_split_uri(config, "nope+file:///x", &index, &local), -1);
    assert_int_equal(mg_naming_split_uri(config, "fs+", &index, &local), -1);
    mg_config_release(config);
}

static void test_custom_separator(void **state)
{
    (void)state;
    mg_config_t *config = load("tool_separator: \".\"\nservers:\n  - {name: gh, command: [x]}\n");
    char *name = mg_naming_join_name(config, 0, "create_issue");
    assert_string_equal(name, "gh.create_issue");
    size_t index;
    const char *local;
    assert_int_equal(mg_naming_split_name(config, name, &index, &local), 0);
    assert_string_equal(local, "create_issue");
    free(name);
    mg_config_release(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_and_split_names),
        cmocka_unit_test(test_unknown_names_do_not_split),
        cmocka_unit_test(test_uris),
        cmocka_unit_test(test_custom_separator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
