/*
 * config_load.h - loading a configuration from a YAML string in unit tests (as "gw.yaml" in
 * /etc/mcpgate): one that must load, and one that must fail with exactly a given message. Shared by
 * the tests of each configuration section. Include after <cmocka.h>.
 */
#ifndef MG_TESTS_CONFIG_LOAD_H
#define MG_TESTS_CONFIG_LOAD_H

#include <stdint.h>
#include <string.h>

#include "config/config.h"

static inline mg_config_t *load_ok(const char *yaml)
{
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    if (mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err) != 0)
        fail_msg("unexpected error: %s", err.message);
    assert_non_null(config);
    return config;
}

static inline void expect_error(const char *yaml, const char *expected)
{
    mg_config_t *config = (mg_config_t *)(uintptr_t)1; /* the loader must set it to NULL */
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err), -1);
    assert_null(config);
    assert_string_equal(err.message, expected);
}

#endif
