/*
 * test_config.c - the configuration loader, one behaviour per test.
 *
 * Error tests pin the complete message, including the "file:line:col: path:" prefix,
 * because that prefix is the contract operators rely on to find their mistake.
 * Most inputs are inline YAML loaded as "gw.yaml" with base directory /etc/mcpgate;
 * the full example is a fixture file so that file loading and path resolution
 * against the file's own directory are covered too.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_load.h"

#include "config/config.h"

static void test_full_example_file(void **state)
{
    (void)state;
    const char *root = getenv("MCPGATE_SOURCE_ROOT");
    char path[PATH_MAX], dir[PATH_MAX], expected[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/tests/unit/data/config/full.yaml", root != NULL ? root : ".");
    snprintf(dir, sizeof(dir), "%s/tests/unit/data/config", root != NULL ? root : ".");
    char *base = realpath(dir, NULL);
    assert_non_null(base);
    setenv("MG_TEST_SEARCH_TOKEN", "t0ken", 1);

    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    if (mg_config_load_file(path, &config, &err) != 0)
        fail_msg("%s", err.message);
    assert_string_equal(config->source, path);
    assert_int_equal(config->refcount, 1);

    assert_int_equal(config->listen_len, 2);
    assert_string_equal(config->listen[0].address, "127.0.0.1:8080");
    assert_string_equal(config->listen[0].host, "127.0.0.1");
    assert_int_equal(config->listen[0].port, 8080);
    snprintf(expected, sizeof(expected), "%s/server.crt", base);
    assert_string_equal(config->listen[0].tls_cert, expected);
    snprintf(expected, sizeof(expected), "%s/tls/server.key", base);
    assert_string_equal(config->listen[0].tls_key, expected);
    assert_string_equal(config->listen[1].host, "::1");
    assert_int_equal(config->listen[1].port, 0);
    assert_null(config->listen[1].tls_cert);

    assert_int_equal(config->workers, 2);
    snprintf(expected, sizeof(expected), "%s/state", base);
    assert_string_equal(config->state_dir, expected);
    assert_string_equal(config->tool_separator, "__");
    assert_int_equal(config->allowed_origins_len, 2);
    assert_string_equal(config->allowed_origins[1], "https://app.example.com");
    assert_null(config->allowed_origins[2]);
    assert_string_equal(config->log_level, "debug");
    assert_int_equal(config->limits.max_body_bytes, 1048576);
    assert_int_equal(config->limits.max_json_depth, 32);
    assert_int_equal(config->limits.upstream_timeout_ms, 45000);

    assert_int_equal(config->servers_len, 3);
    const mg_config_server_t *everything = mg_config_find_server(config, "everything");
    assert_ptr_equal(everything, &config->servers[0]);
    assert_int_equal(everything->kind, MG_UPSTREAM_STDIO);
    assert_int_equal(everything->command_len, 3);
    assert_string_equal(everything->command[0], "npx");
    assert_string_equal(everything->command[2], "@modelcontextprotocol/server-everything");
    assert_null(everything->command[3]);
    assert_int_equal(everything->env_len, 1);
    assert_string_equal(everything->env[0].key, "LOG_LEVEL");
    assert_string_equal(everything->env[0].value, "info");
    snprintf(expected, sizeof(expected), "%s/tools", base);
    assert_string_equal(everything->cwd, expected);
    assert_int_equal(everything->timeout_ms, 30000);
    assert_true(everything->required);

    const mg_config_server_t *search = mg_config_find_server(config, "search");
    assert_non_null(search);
    assert_int_equal(search->kind, MG_UPSTREAM_HTTP);
    assert_string_equal(search->url, "https://search.internal/mcp");
    assert_int_equal(search->headers_len, 1);
    assert_string_equal(search->headers[0].key, "Authorization");
    assert_string_equal(search->headers[0].value, "Bearer t0ken");
    assert_false(search->tls_verify);
    snprintf(expected, sizeof(expected), "%s/ca.pem", base);
    assert_string_equal(search->ca_file, expected);
    assert_false(search->required);
    assert_int_equal(search->timeout_ms, 45000);

    snprintf(expected, sizeof(expected), "%s/bin/run.sh", base);
    assert_string_equal(mg_config_find_server(config, "local-script")->command[0], expected);
    assert_null(mg_config_find_server(config, "missing"));

    mg_config_release(config);
    free(base);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *inputs[] = {"", "# only a comment\n", "{}", "servers:\nlisten: ~\n"};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        mg_config_t *config = load_ok(inputs[i]);
        assert_int_equal(config->listen_len, 1);
        assert_string_equal(config->listen[0].address, "127.0.0.1:8080");
        assert_string_equal(config->listen[0].host, "127.0.0.1");
        assert_int_equal(config->listen[0].port, 8080);
        assert_null(config->listen[0].tls_cert);
        assert_int_equal(config->workers, cores < 1 ? 1 : cores > 256 ? 256 : cores);
        assert_string_equal(config->state_dir, "/etc/mcpgate/var");
        assert_string_equal(config->tool_separator, "__");
        assert_int_equal(config->allowed_origins_len, 0);
        assert_non_null(config->allowed_origins);
        assert_null(config->allowed_origins[0]);
        assert_string_equal(config->log_level, "info");
        assert_int_equal(config->limits.max_body_bytes, 4194304);
        assert_int_equal(config->limits.max_json_depth, 64);
        assert_int_equal(config->limits.upstream_timeout_ms, 60000);
        assert_int_equal(config->servers_len, 0);
        assert_string_equal(config->source, "gw.yaml");
        mg_config_release(config);
    }
}

static void test_server_defaults(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("limits: {upstream_timeout_ms: 1234}\n"
                                  "servers:\n"
                                  "  - {name: a, url: \"http://h:1/mcp\"}\n"
                                  "  - {name: b, command: [/usr/bin/tool], env: ~}\n");
    assert_true(config->servers[0].tls_verify);
    assert_true(config->servers[0].required);
    assert_null(config->servers[0].ca_file);
    assert_int_equal(config->servers[0].timeout_ms, 1234);
    assert_string_equal(config->servers[1].command[0], "/usr/bin/tool");
    assert_int_equal(config->servers[1].env_len, 0);
    assert_null(config->servers[1].cwd);
    mg_config_release(config);
}

static void test_syntax_error(void **state)
{
    (void)state;
    expect_error("workers: 2\nlisten: [127.0.0.1:1\n", "gw.yaml:3:1: did not find expected ',' or ']' "
                                                       "(while parsing a flow sequence started at line 2, column 9)");
    expect_error("a: b\n  c: d\n", "gw.yaml:2:4: mapping values are not allowed in this context");
    expect_error("workers: 1\n---\nworkers: 2\n", "gw.yaml:3:1: only one YAML document is allowed");
    expect_error("bad: \xff\n", "gw.yaml:1:6: invalid leading UTF-8 octet");
}

static void test_type_errors(void **state)
{
    (void)state;
    expect_error("- a\n", "gw.yaml:1:1: expected a mapping, got a list");
    expect_error("workers: two\n", "gw.yaml:1:10: workers: expected an integer, got \"two\"");
    expect_error("limits: 5\n", "gw.yaml:1:9: limits: expected a mapping, got \"5\"");
    expect_error("servers: {a: b}\n", "gw.yaml:1:10: servers: expected a list, got a mapping");
    expect_error("listen: 127.0.0.1:80\n", "gw.yaml:1:9: listen: expected a list, got \"127.0.0.1:80\"");
    expect_error("log_level: [info]\n", "gw.yaml:1:12: log_level: expected a string, got a list");
    expect_error("servers:\n  - name: a\n    command: npx\n",
                 "gw.yaml:3:14: servers[0].command: expected a list of strings, e.g. [npx, -y, \"@scope/server\"]");
    expect_error("servers:\n  - name: a\n    url: http://x\n    required: yes\n",
                 "gw.yaml:4:15: servers[0].required: expected true or false, got \"yes\"");
    expect_error("servers:\n  - name: a\n    command: [x, ~]\n",
                 "gw.yaml:3:18: servers[0].command[1]: expected a string, got null");
    expect_error("servers:\n  - name: \"a\\0b\"\n    command: [x]\n",
                 "gw.yaml:2:11: servers[0].name: must not contain a NUL character");
    expect_error("{[a]: 1}\n", "gw.yaml:1:2: keys must be plain strings, got a list");
}

static void test_range_errors(void **state)
{
    (void)state;
    expect_error("workers: 0\n", "gw.yaml:1:10: workers: 0 is out of range 1..256");
    expect_error("workers: 257\n", "gw.yaml:1:10: workers: 257 is out of range 1..256");
    expect_error("workers: 99999999999999999999\n",
                 "gw.yaml:1:10: workers: 99999999999999999999 is out of range 1..256");
    expect_error("workers: 0x10\n", "gw.yaml:1:10: workers: expected an integer, got \"0x10\"");
    expect_error("workers: 2.5\n", "gw.yaml:1:10: workers: expected an integer, got \"2.5\"");
    expect_error("limits: {max_body_bytes: 1023}\n",
                 "gw.yaml:1:26: limits.max_body_bytes: 1023 is out of range 1024..1073741824");
    expect_error("limits: {max_json_depth: 1001}\n",
                 "gw.yaml:1:26: limits.max_json_depth: 1001 is out of range 1..1000");
    expect_error("limits:\n  upstream_timeout_ms: -5\n",
                 "gw.yaml:2:24: limits.upstream_timeout_ms: -5 is out of range 1..3600000");
    expect_error("servers:\n  - name: a\n    url: http://x\n    timeout_ms: 3600001\n",
                 "gw.yaml:4:17: servers[0].timeout_ms: 3600001 is out of range 1..3600000");
    mg_config_t *config = load_ok("workers: 256\nlimits: {max_body_bytes: 1024, max_json_depth: 1000}\n");
    assert_int_equal(config->workers, 256);
    assert_int_equal(config->limits.max_body_bytes, 1024);
    mg_config_release(config);
}

static void test_unknown_and_duplicate_keys(void **state)
{
    (void)state;
    expect_error("servers:\n  - name: a\n    comand: [x]\n",
                 "gw.yaml:3:5: servers[0]: unknown key \"comand\" (did you mean \"command\"?)");
    expect_error("worker: 2\n", "gw.yaml:1:1: unknown key \"worker\" (did you mean \"workers\"?)");
    expect_error("limits: {max_body: 1}\n", "gw.yaml:1:10: limits: unknown key \"max_body\"");
    expect_error("frobnicate: 1\n", "gw.yaml:1:1: unknown key \"frobnicate\"");
    expect_error("listen:\n  - address: 127.0.0.1:1\n    tls: {cert: a, key: b, kye: c}\n",
                 "gw.yaml:3:28: listen[0].tls: unknown key \"kye\" (did you mean \"key\"?)");
    expect_error("workers: 1\nworkers: 2\n", "gw.yaml:2:1: duplicate key \"workers\" (first at line 1)");
    expect_error("servers:\n  - name: a\n    url: http://x\n    headers: {X-A: 1, X-A: 2}\n",
                 "gw.yaml:4:23: servers[0].headers: duplicate key \"X-A\" (first at line 4)");
}

static void test_server_name_errors(void **state)
{
    (void)state;
    /* The message from config.h, at the same position. */
    expect_error("# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n# 10\nservers:\n"
                 "  - name: search\n    url: http://a\n  - url: http://b\n    name: Search\n",
                 "gw.yaml:15:11: servers[1].name: \"Search\" must match [a-z0-9-]+");
    expect_error("servers:\n  - name: \"\"\n    url: http://a\n", "gw.yaml:2:11: servers[0].name: must not be empty");
    expect_error("servers:\n  - url: http://a\n", "gw.yaml:2:5: servers[0]: missing required key \"name\"");
    expect_error("servers:\n  - name: "
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n    url: http://a\n",
                 "gw.yaml:2:11: servers[0].name: "
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is longer than 64 characters");
    expect_error("servers:\n  - {name: a, url: http://a}\n  - {name: b, url: http://b}\n  - {name: a, url: http://c}\n",
                 "gw.yaml:4:12: servers[2].name: \"a\" is already used by servers[0]");
}

static void test_server_kind_errors(void **state)
{
    (void)state;
    expect_error("servers:\n  - name: a\n    command: [x]\n    url: http://a\n",
                 "gw.yaml:4:5: servers[0]: has both command (line 3) and url; a server is either stdio (command) or "
                 "HTTP (url), not both");
    expect_error("servers:\n  - name: a\n    cwd: /tmp\n",
                 "gw.yaml:2:5: servers[0]: needs either command (stdio upstream) or url (HTTP upstream)");
    expect_error("servers:\n  - name: a\n    url: http://a\n    env: {A: b}\n",
                 "gw.yaml:4:5: servers[0].env: only valid for stdio servers (with command)");
    expect_error("servers:\n  - name: a\n    command: [x]\n    tls_verify: false\n",
                 "gw.yaml:4:5: servers[0].tls_verify: only valid for HTTP servers (with url)");
    expect_error("servers:\n  - name: a\n    command: []\n",
                 "gw.yaml:3:14: servers[0].command: must name at least the program to run");
    expect_error("servers:\n  - name: a\n    url: ftp://a\n",
                 "gw.yaml:3:10: servers[0].url: \"ftp://a\" must start with http:// or https://");
    expect_error("servers:\n  - name: a\n    url: https:///mcp\n",
                 "gw.yaml:3:10: servers[0].url: \"https:///mcp\" has no host");
    expect_error("servers:\n  - name: a\n    command: [x]\n    env: {1BAD: x}\n",
                 "gw.yaml:4:11: servers[0].env.1BAD: not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    expect_error("servers:\n  - name: a\n    url: http://a\n    headers: {\"Bad Header\": x}\n",
                 "gw.yaml:4:15: servers[0].headers.Bad Header: not a valid HTTP header name");
    expect_error("servers:\n  - name: a\n    url: http://a\n    headers: {mcp-session-id: x}\n",
                 "gw.yaml:4:15: servers[0].headers.mcp-session-id: is set by the gateway and cannot be configured");
}

static void test_separator(void **state)
{
    (void)state;
    expect_error("tool_separator: \"-\"\nservers:\n  - name: my-server\n    url: http://a\n",
                 "gw.yaml:3:11: servers[0].name: \"my-server\" contains the tool separator \"-\"; rename the server or "
                 "change tool_separator");
    expect_error("tool_separator: \"::\"\n",
                 "gw.yaml:1:17: tool_separator: \"::\" must be 1 to 8 characters from \"_-.\"");
    expect_error("tool_separator: _________\n",
                 "gw.yaml:1:17: tool_separator: \"_________\" must be 1 to 8 characters from \"_-.\"");
    expect_error("tool_separator: \"\"\n", "gw.yaml:1:17: tool_separator: must not be empty");
    mg_config_t *config = load_ok("tool_separator: \".\"\nservers:\n  - {name: my-server, url: http://a}\n");
    assert_string_equal(config->tool_separator, ".");
    mg_config_release(config);
}

static void test_env_expansion(void **state)
{
    (void)state;
    setenv("MG_TEST_TOKEN", "s3cr3t ${MG_TEST_OTHER} $$", 1);
    setenv("MG_TEST_OTHER", "leak", 1);
    setenv("MG_TEST_WORKERS", "3", 1);
    setenv("MG_TEST_EMPTY", "", 1);
    mg_config_t *config = load_ok("workers: ${MG_TEST_WORKERS}\n"
                                  "servers:\n"
                                  "  - name: a\n"
                                  "    url: http://a\n"
                                  "    headers: {Authorization: \"Bearer ${MG_TEST_TOKEN}\", X-Price: \"$$5 $$$$\","
                                  " X-Empty: \"${MG_TEST_EMPTY}\", X-Two: \"${MG_TEST_WORKERS}${MG_TEST_WORKERS}\"}\n");
    assert_int_equal(config->workers, 3);
    /* Expanded text is not rescanned: the ${...} and $$ inside the value stay literal. */
    assert_string_equal(config->servers[0].headers[0].value, "Bearer s3cr3t ${MG_TEST_OTHER} $$");
    assert_string_equal(config->servers[0].headers[1].value, "$5 $$");
    assert_string_equal(config->servers[0].headers[2].value, "");
    assert_string_equal(config->servers[0].headers[3].value, "33");
    mg_config_release(config);

    unsetenv("SEARCH_TOKEN_MG_UNSET");
    expect_error("servers:\n  - name: search\n    url: http://a\n"
                 "    headers: {Authorization: \"Bearer ${SEARCH_TOKEN_MG_UNSET}\"}\n",
                 "gw.yaml:4:30: servers[0].headers.Authorization: environment variable SEARCH_TOKEN_MG_UNSET is not "
                 "set");
    expect_error("state_dir: ${secret:db}\n", "gw.yaml:1:12: state_dir: secret references are not allowed here: "
                                              "state_dir and secrets are read before any secret can be resolved");
    expect_error("state_dir: $HOME/x\n",
                 "gw.yaml:1:12: state_dir: '$' must start ${NAME} or be doubled as $$ for a literal '$'");
    expect_error("state_dir: a$\n",
                 "gw.yaml:1:12: state_dir: '$' must start ${NAME} or be doubled as $$ for a literal '$'");
    expect_error("state_dir: ${HOME\n", "gw.yaml:1:12: state_dir: unterminated ${ (missing '}')");
    expect_error("state_dir: ${}\n", "gw.yaml:1:12: state_dir: empty variable name in ${}");
    expect_error("state_dir: ${A-B}\n",
                 "gw.yaml:1:12: state_dir: invalid variable name \"A-B\" (expected [A-Za-z_][A-Za-z0-9_]*)");
    setenv("MG_TEST_CRLF", "x\r\nX-Injected: 1", 1);
    expect_error("servers:\n  - name: a\n    url: http://a\n    headers: {X-A: \"${MG_TEST_CRLF}\"}\n",
                 "gw.yaml:4:20: servers[0].headers.X-A: must not contain line breaks");
    /* Keys are never expanded. */
    expect_error("${MG_TEST_WORKERS}: 1\n", "gw.yaml:1:1: unknown key \"${MG_TEST_WORKERS}\"");
}

static void test_listen_addresses(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("listen:\n  - address: \"[::1]:8080\"\n  - address: 0.0.0.0:0\n"
                                  "  - 10.1.2.3:9000\n  - \"[::]:0\"\n");
    assert_int_equal(config->listen_len, 4);
    assert_string_equal(config->listen[0].address, "[::1]:8080");
    assert_string_equal(config->listen[0].host, "::1");
    assert_int_equal(config->listen[0].port, 8080);
    assert_string_equal(config->listen[1].host, "0.0.0.0");
    assert_int_equal(config->listen[1].port, 0);
    assert_string_equal(config->listen[2].host, "10.1.2.3");
    assert_int_equal(config->listen[2].port, 9000);
    assert_string_equal(config->listen[3].host, "::");
    mg_config_release(config);

    expect_error("listen: []\n", "gw.yaml:1:9: listen: needs at least one address (omit it for 127.0.0.1:8080)");
    expect_error("listen:\n  - address: ::1:8080\n",
                 "gw.yaml:2:14: listen[0].address: \"::1:8080\": an IPv6 address must be in brackets, e.g. [::1]:8080");
    expect_error("listen:\n  - address: 127.0.0.1\n",
                 "gw.yaml:2:14: listen[0].address: \"127.0.0.1\" must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
    expect_error("listen:\n  - address: 127.0.0.1:65536\n",
                 "gw.yaml:2:14: listen[0].address: port 65536 is out of range 0..65535");
    expect_error("listen:\n  - address: \"[zz]:80\"\n",
                 "gw.yaml:2:14: listen[0].address: \"zz\" is not a valid IPv6 address");
    expect_error(
        "listen:\n  - address: localhost:80\n",
        "gw.yaml:2:14: listen[0].address: \"localhost\" is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or [::1])");
    expect_error(
        "listen:\n  - address: 127.0.0.256:80\n",
        "gw.yaml:2:14: listen[0].address: \"127.0.0.256\" is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or [::1])");
    expect_error("listen:\n  - {tls: {cert: a, key: b}}\n", "gw.yaml:2:5: listen[0]: missing required key \"address\"");
    expect_error("listen:\n  - address: 127.0.0.1:1\n    tls: {cert: a}\n",
                 "gw.yaml:3:10: listen[0].tls: missing required key \"key\"");
    expect_error("listen: [127.0.0.1:1, 127.0.0.1:1]\n",
                 "gw.yaml:1:23: listen[1]: address 127.0.0.1:1 is already used by listen[0]");
}

static void test_relative_paths(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("state_dir: ./data/\n"
                                  "listen:\n  - {address: \"127.0.0.1:1\", tls: {cert: /abs/c.pem, key: k.pem}}\n"
                                  "servers:\n"
                                  "  - {name: a, command: [bin/tool, ./not-a-path], cwd: .}\n"
                                  "  - {name: b, command: [tool]}\n"
                                  "  - {name: c, url: \"https://x\", ca_file: ../ca.pem}\n");
    assert_string_equal(config->state_dir, "/etc/mcpgate/data/");
    assert_string_equal(config->listen[0].tls_cert, "/abs/c.pem");
    assert_string_equal(config->listen[0].tls_key, "/etc/mcpgate/k.pem");
    assert_string_equal(config->servers[0].command[0], "/etc/mcpgate/bin/tool");
    assert_string_equal(config->servers[0].command[1], "./not-a-path");
    assert_string_equal(config->servers[0].cwd, "/etc/mcpgate");
    assert_string_equal(config->servers[1].command[0], "tool");
    assert_string_equal(config->servers[2].ca_file, "/etc/mcpgate/../ca.pem");
    mg_config_release(config);

    /* A relative base_dir is made absolute against the working directory. */
    char cwd[PATH_MAX], expected[PATH_MAX + 16];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_string("state_dir: s", 12, NULL, "conf", &config, &err), 0);
    snprintf(expected, sizeof(expected), "%s/conf/s", cwd);
    assert_string_equal(config->state_dir, expected);
    assert_string_equal(config->source, "<embedded>");
    mg_config_release(config);
}

static void test_other_values(void **state)
{
    (void)state;
    expect_error("log_level: verbose\n",
                 "gw.yaml:1:12: log_level: \"verbose\" must be one of debug, info, warn, error");
    expect_error("allowed_origins: [\"http://a b\"]\n",
                 "gw.yaml:1:19: allowed_origins[0]: must not contain spaces or control characters");
    expect_error("allowed_origins: [\"\"]\n", "gw.yaml:1:19: allowed_origins[0]: must not be empty");
    mg_config_t *config = load_ok("log_level: warn\n");
    assert_string_equal(config->log_level, "warn");
    mg_config_release(config);
}

static void test_origin_matching(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("allowed_origins: [\"http://localhost:*\", \"https://app.example.com\", "
                                  "\"https://*.corp.example\", \"a*b*c\"]\n");
#define ALLOWED(origin) mg_config_origin_allowed(config, origin, strlen(origin))
    assert_true(ALLOWED("http://localhost:3000"));
    assert_true(ALLOWED("http://localhost:"));
    assert_false(ALLOWED("http://localhost"));
    assert_false(ALLOWED("https://localhost:3000"));
    assert_true(ALLOWED("https://app.example.com"));
    assert_false(ALLOWED("https://app.example.com.evil.net"));
    assert_false(ALLOWED("https://app.example.co"));
    assert_false(ALLOWED("HTTPS://APP.EXAMPLE.COM"));
    assert_true(ALLOWED("https://tools.corp.example"));
    assert_false(ALLOWED("https://corp.example"));
    assert_false(ALLOWED("https://evil.corp.example.net"));
    assert_true(ALLOWED("abc"));
    assert_true(ALLOWED("aXbYbZc"));
    assert_false(ALLOWED("aXbYbZcd"));
    assert_false(ALLOWED(""));
    assert_false(mg_config_origin_allowed(config, NULL, 0));
    /* The length bounds the origin: it need not be NUL-terminated. */
    assert_true(mg_config_origin_allowed(config, "https://app.example.comXYZ", 23));
    assert_false(mg_config_origin_allowed(config, "https://app.example.com", 22));
#undef ALLOWED
    mg_config_release(config);

    config = load_ok("");
    assert_false(mg_config_origin_allowed(config, "http://localhost:1", 18));
    mg_config_release(config);
    config = load_ok("allowed_origins: ['*']\n");
    assert_true(mg_config_origin_allowed(config, "null", 4));
    mg_config_release(config);
}

static void test_retain_release(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("");
    assert_ptr_equal(mg_config_retain(config), config);
    assert_int_equal(config->refcount, 2);
    mg_config_release(config);
    assert_int_equal(config->refcount, 1);
    mg_config_release(config);
    mg_config_release(NULL);
    assert_null(mg_config_retain(NULL));
}

static void test_load_file_errors(void **state)
{
    (void)state;
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    assert_int_equal(mg_config_load_file("/nonexistent/gw.yaml", &config, &err), -1);
    assert_null(config);
    assert_string_equal(err.message, "/nonexistent/gw.yaml: cannot open: No such file or directory");

    char path[] = "/tmp/mg-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "servers:\n  - name: a\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    char expected[128];
    snprintf(expected, sizeof(expected),
             "%s:2:5: servers[0]: needs either command (stdio upstream) or url (HTTP upstream)", path);
    assert_int_equal(mg_config_load_file(path, &config, &err), -1);
    assert_string_equal(err.message, expected);
    assert_int_equal(mg_config_load_file(path, &config, NULL), -1); /* err is optional */
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_example_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_server_defaults),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_unknown_and_duplicate_keys),
        cmocka_unit_test(test_server_name_errors),
        cmocka_unit_test(test_server_kind_errors),
        cmocka_unit_test(test_separator),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_other_values),
        cmocka_unit_test(test_origin_matching),
        cmocka_unit_test(test_retain_release),
        cmocka_unit_test(test_load_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
