/*
 * test_admin.c - the `admin` section (src/config/admin.c): its listener and roles, and every mistake
 * refused with the file, line and column of the node at fault; the admin API's reading of targets and
 * bodies (src/http/admin_route.c).
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
#include "http/admin_route.h"

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

/* ---- targets and bodies (src/http/admin_route.c) ------------------------------------------------------ */

static int parse(const char *method, const char *target, mg_admin_route_t *route)
{
    char error[256];
    return mg_admin_route_parse(method, strlen(method), target, strlen(target), route, error, sizeof(error));
}

static void test_routes(void **state)
{
    (void)state;
    mg_admin_route_t route;
    assert_int_equal(parse("GET", "/admin/approvals", &route), 0);
    assert_int_equal(route.action, MG_ADMIN_LIST_APPROVALS);
    assert_string_equal(route.state, "");
    assert_int_equal(parse("GET", "/admin/approvals?state=expired", &route), 0);
    assert_string_equal(route.state, "expired");
    assert_int_equal(parse("GET", "/admin/approvals?state=maybe", &route), MG_ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET", "/admin/approvals?state=pending&x=1", &route), MG_ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET", "/admin/approvals?", &route), 0);

    assert_int_equal(parse("POST", "/admin/approvals/apr_0123456789abcdef0123456789abcdef/deny", &route), 0);
    assert_int_equal(route.action, MG_ADMIN_DECIDE_APPROVAL);
    assert_string_equal(route.id, "apr_0123456789abcdef0123456789abcdef");
    assert_string_equal(route.verdict, "denied");
    assert_int_equal(parse("GET", "/admin/approvals/apr_0123456789abcdef0123456789abcdef/approve", &route),
                     MG_ADMIN_BAD_METHOD);
    assert_string_equal(route.allow, "POST");
    assert_int_equal(parse("POST", "/admin/approvals/apr_0123456789ABCDEF0123456789abcdef/approve", &route),
                     MG_ADMIN_NOT_FOUND);
    assert_int_equal(parse("POST", "/admin/approvals/apr_0123456789abcdef0123456789abcdef/approve?x", &route),
                     MG_ADMIN_BAD_REQUEST);

    assert_int_equal(parse("POST", "/admin/tools", &route), MG_ADMIN_BAD_METHOD);
    assert_string_equal(route.allow, "GET");
    /* each segment decoded on its own: a "/" in a tool name travels as %2F */
    assert_int_equal(parse("POST", "/admin/tools/git%2Dhub/a%2Fb/approve", &route), 0);
    assert_int_equal(route.action, MG_ADMIN_APPROVE_TOOL);
    assert_string_equal(route.server, "git-hub");
    assert_string_equal(route.tool, "a/b");
    assert_int_equal(parse("POST", "/admin/tools/github%23instructions/approve", &route), 0);
    assert_string_equal(route.server, "github");
    assert_string_equal(route.tool, "");
    assert_int_equal(parse("POST", "/admin/tools/%23instructions/approve", &route), MG_ADMIN_NOT_FOUND);
    assert_int_equal(parse("POST", "/admin/tools/github/approve", &route), MG_ADMIN_NOT_FOUND);

    static const char *const unknown[] = {"/admin",
                                          "/admin/",
                                          "/mcp",
                                          "/admin/tools/",
                                          "/admin//tools",
                                          "/admin/../admin/tools",
                                          "/admin/tools/a/b/c/approve",
                                          "/admin/tools/a%00/b/approve",
                                          "/admin/tools/a%1/b/approve",
                                          "/admin/tools/a%zz/b/approve",
                                          "/Admin/tools",
                                          NULL};
    for (size_t i = 0; unknown[i] != NULL; i++) {
        if (parse("GET", unknown[i], &route) != MG_ADMIN_NOT_FOUND)
            fail_msg("%s is not 404", unknown[i]);
    }
}

static void test_bodies(void **state)
{
    (void)state;
    char reason[MG_ADMIN_REASON_MAX + 1], error[256];
#define BODY(text) mg_admin_body_parse(text, strlen(text), reason, error, sizeof(error))
    assert_int_equal(BODY(""), 0);
    assert_string_equal(reason, "");
    assert_int_equal(BODY("{}"), 0);
    assert_int_equal(BODY("{\"reason\": \"looks fine\"}"), 0);
    assert_string_equal(reason, "looks fine");
    assert_int_equal(BODY("{\"reason\": "), MG_ADMIN_BAD_REQUEST);
    assert_non_null(strstr(error, "not JSON"));
    assert_int_equal(BODY("[]"), MG_ADMIN_BAD_REQUEST);
    assert_int_equal(BODY("{\"reason\": 1}"), MG_ADMIN_BAD_REQUEST);
    assert_int_equal(BODY("{\"reason\": \"a\", \"reason\": \"b\"}"), MG_ADMIN_BAD_REQUEST);
    assert_int_equal(BODY("{\"why\": \"a\"}"), MG_ADMIN_BAD_REQUEST);
    assert_int_equal(BODY("{\"reason\": \"a\\u0000b\"}"), MG_ADMIN_BAD_REQUEST);
#undef BODY
    assert_true(mg_admin_is_json_type("application/json", 16));
    assert_true(mg_admin_is_json_type("Application/JSON; charset=utf-8", 32));
    assert_false(mg_admin_is_json_type("application/jsonx", 17));
    assert_false(mg_admin_is_json_type("text/plain", 10));
    assert_false(mg_admin_is_json_type(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
