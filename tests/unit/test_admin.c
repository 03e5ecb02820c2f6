/*
 * test_admin.c - the `admin` section (src/config/admin.c): its listener and roles, and every mistake
 * refused with the file, line and column of the node at fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_load.h"

#include "config/config.h"

#define AUTH                                                                                                           \
    "auth:\n  resource: http://127.0.0.1:8080/mcp\n  api_keys: {enabled: true}\n"                                      \
    "roles:\n  - name: ops\n    allow: [{tools: ['*']}]\n  - name: dev\n    allow: [{tools: ['*']}]\n"

static void test_config(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("log_level: info\n");
    assert_false(config->admin.enabled);
    mg_config_release(config);
    config = load_ok(AUTH "admin:\n  listen: 127.0.0.1:9090\n  roles: [ops]\n");
    assert_true(config->admin.enabled);
    assert_string_equal(config->admin.listen.address, "127.0.0.1:9090");
    assert_string_equal(config->admin.listen.host, "127.0.0.1");
    assert_int_equal(config->admin.listen.port, 9090);
    assert_null(config->admin.listen.tls_cert);
    assert_int_equal(config->admin.roles_len, 2 - 1);
    assert_string_equal(config->admin.roles[0], "ops");
    mg_config_release(config);
    /* TLS as on `listen` entries; two roles; port 0 may repeat (the kernel picks each) */
    config = load_ok("listen: ['127.0.0.1:0']\n" AUTH
                     "admin:\n  listen: {address: '[::1]:0', tls: {cert: c.pem, key: k.pem}}\n  roles: [ops, dev]\n");
    assert_string_equal(config->admin.listen.host, "::1");
    assert_string_equal(config->admin.listen.tls_cert, "/etc/mcpgate/c.pem");
    assert_string_equal(config->admin.listen.tls_key, "/etc/mcpgate/k.pem");
    assert_int_equal(config->admin.roles_len, 2);
    assert_string_equal(config->admin.roles[1], "dev");
    mg_config_release(config);
    /* metrics.roles shares the role-list loader */
    config = load_ok(AUTH "metrics: {roles: [dev]}\n");
    assert_string_equal(config->metrics.roles[0], "dev");
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("admin:\n  listen: 127.0.0.1:9090\n  roles: [ops]\n",
                 "gw.yaml:1:1: admin: needs an auth section: admin callers are identified as on /mcp (API key, JWT or "
                 "client certificate) and must hold one of admin.roles");
    expect_error(AUTH "admin:\n", "gw.yaml:9:1: admin: needs listen and roles");
    expect_error(AUTH "admin: [127.0.0.1:9090]\n", "gw.yaml:9:8: admin: expected a mapping, got a list");
    expect_error(AUTH "admin:\n  listn: 127.0.0.1:9090\n",
                 "gw.yaml:10:3: admin: unknown key \"listn\" (did you mean \"listen\"?)");
    expect_error(AUTH "admin:\n  roles: [ops]\n",
                 "gw.yaml:10:3: admin: missing required key \"listen\" (the admin API is served only on a listener of "
                 "its own)");
    expect_error(AUTH "admin:\n  listen: 127.0.0.1:9090\n",
                 "gw.yaml:10:3: admin: missing required key \"roles\" (who may use the admin API)");
    expect_error(
        AUTH "admin:\n  listen: localhost:9090\n  roles: [ops]\n",
        "gw.yaml:10:11: admin.listen.address: \"localhost\" is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or "
        "[::1])");
    expect_error("listen: ['127.0.0.1:8080']\n" AUTH "admin:\n  listen: 127.0.0.1:8080\n  roles: [ops]\n",
                 "gw.yaml:11:11: admin.listen: address 127.0.0.1:8080 is already used by listen[0] (the admin API "
                 "needs a listener of its own)");
    expect_error(AUTH "metrics: {listen: '127.0.0.1:9464'}\nadmin:\n  listen: 127.0.0.1:9464\n  roles: [ops]\n",
                 "gw.yaml:11:11: admin.listen: address 127.0.0.1:9464 is already used by metrics.listen (the admin "
                 "API needs a listener of its own)");
    expect_error(AUTH "admin:\n  listen: 127.0.0.1:9090\n  roles: []\n",
                 "gw.yaml:11:10: admin.roles: must name at least one role");
    expect_error(AUTH "admin:\n  listen: 127.0.0.1:9090\n  roles: [ops, root]\n",
                 "gw.yaml:11:16: admin.roles[1]: \"root\" is not a role in `roles`");
    expect_error(AUTH "admin:\n  listen: {address: 127.0.0.1:9090, tls: {cert: c.pem}}\n  roles: [ops]\n",
                 "gw.yaml:10:42: admin.listen.tls: missing required key \"key\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
