/*
 * test_webhook.c - guards.webhook: its configuration (valid, defaults, every refusal with its position) and
 * the verdicts the client reads from an answer (src/guard/webhook.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_load.h"
#include "guard/webhook.h"

static void test_config(void **state)
{
    (void)state;
    setenv("MG_TEST_WEBHOOK_KEY", "k-123", 1);
    mg_config_t *config = load_ok("guards:\n"
                                  "  webhook:\n"
                                  "    url: https://guardrail.internal:8443/check?v=1\n"
                                  "    timeout_ms: 750\n"
                                  "    on_error: allow\n"
                                  "    headers: {X-Api-Key: '${MG_TEST_WEBHOOK_KEY}', X-Team: mcp}\n");
    const mg_config_webhook_t *webhook = &config->guards.webhook;
    assert_true(config->guards.enabled);
    assert_string_equal(webhook->url, "https://guardrail.internal:8443/check?v=1");
    assert_int_equal(webhook->timeout_ms, 750);
    assert_true(webhook->on_error_allow);
    assert_int_equal(webhook->headers_len, 2);
    assert_string_equal(webhook->headers[0].key, "X-Api-Key");
    assert_string_equal(webhook->headers[0].value, "k-123"); /* expanded like every other value */
    assert_string_equal(webhook->headers[1].value, "mcp");
    mg_config_release(config);

    config = load_ok("guards:\n  webhook: {url: http://127.0.0.1:9/check}\n");
    assert_int_equal(config->guards.webhook.timeout_ms, 200);
    assert_false(config->guards.webhook.on_error_allow);
    assert_int_equal(config->guards.webhook.headers_len, 0);
    assert_true(config->guards.webhook.requests); /* directions: requests by default */
    assert_false(config->guards.webhook.responses);
    mg_config_release(config);

    config = load_ok("guards:\n  webhook: {url: http://127.0.0.1:9/check, directions: [responses]}\n");
    assert_false(config->guards.webhook.requests);
    assert_true(config->guards.webhook.responses);
    mg_config_release(config);

    config = load_ok("guards:\n  secrets: {requests: flag}\n");
    assert_null(config->guards.webhook.url); /* no webhook: the stage is one branch */
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("guards:\n  webhook: {url: ftp://x/check}\n",
                 "gw.yaml:2:18: guards.webhook.url: \"ftp://x/check\" must be an absolute http:// or https:// URL");
    expect_error("guards:\n  webhook: {url: /check}\n",
                 "gw.yaml:2:18: guards.webhook.url: \"/check\" must be an absolute http:// or https:// URL");
    expect_error("guards:\n  webhook: {timeout_ms: 100}\n",
                 "gw.yaml:2:12: guards.webhook: missing required key \"url\"");
    expect_error("guards:\n  webhook: {url: 'http://x/c', on_error: ignore}\n",
                 "gw.yaml:2:42: guards.webhook.on_error: \"ignore\" must be block or allow");
    expect_error("guards:\n  webhook: {url: 'http://x/c', on_eror: allow}\n",
                 "gw.yaml:2:32: guards.webhook: unknown key \"on_eror\" (did you mean \"on_error\"?)");
    expect_error("guards:\n  webhook: {url: 'http://x/c', timeout_ms: 0}\n",
                 "gw.yaml:2:44: guards.webhook.timeout_ms: 0 is out of range 1..60000");
    expect_error("guards:\n  webhook: {url: 'http://x/c', headers: {Content-Type: text/plain}}\n",
                 "gw.yaml:2:42: guards.webhook.headers.Content-Type: is set by the gateway and cannot be configured");
    expect_error("guards:\n  webhook: {url: 'http://x/c', directions: []}\n",
                 "gw.yaml:2:44: guards.webhook.directions: must name requests, responses or both");
    expect_error("guards:\n  webhook: {url: 'http://x/c', directions: [answers]}\n",
                 "gw.yaml:2:45: guards.webhook.directions[0]: \"answers\" must be requests or responses");
    expect_error("guards:\n  webhook: {url: 'http://x/c', directions: [requests, requests]}\n",
                 "gw.yaml:2:55: guards.webhook.directions[1]: \"requests\" is listed twice");
    expect_error("guards:\n  webhook: 'http://x/c'\n",
                 "gw.yaml:2:12: guards.webhook: expected a mapping, got \"http://x/c\"");
}

static mg_webhook_verdict_t parse(int status, const char *body, char reason[MG_WEBHOOK_REASON_MAX])
{
    return mg_webhook_parse_verdict(status, body, strlen(body), reason);
}

static void test_verdicts(void **state)
{
    (void)state;
    char reason[MG_WEBHOOK_REASON_MAX];
    assert_int_equal(parse(200, "{\"action\":\"allow\"}", reason), MG_WEBHOOK_ALLOW);
    assert_int_equal(parse(200, "{\"action\":\"allow\",\"note\":[1]}", reason), MG_WEBHOOK_ALLOW);
    assert_int_equal(parse(200, "{\"action\":\"block\",\"reason\":\"no deletes\"}", reason), MG_WEBHOOK_BLOCK);
    assert_string_equal(reason, "no deletes");
    assert_int_equal(parse(200, "{\"action\":\"block\"}", reason), MG_WEBHOOK_BLOCK);
    assert_string_equal(reason, "blocked by the webhook");
    assert_int_equal(parse(200, "{\"action\":\"block\",\"reason\":\"a\\nb\\u001b[31m\"}", reason), MG_WEBHOOK_BLOCK);
    assert_string_equal(reason, "a b [31m"); /* controls never reach a log line or the client */

    assert_int_equal(parse(500, "{\"action\":\"allow\"}", reason), MG_WEBHOOK_ERROR);
    assert_string_equal(reason, "the webhook answered HTTP 500");
    assert_int_equal(parse(204, "", reason), MG_WEBHOOK_ERROR);
    assert_int_equal(parse(200, "allow", reason), MG_WEBHOOK_ERROR);
    assert_string_equal(reason, "the webhook's answer is not a JSON object");
    assert_int_equal(parse(200, "[\"allow\"]", reason), MG_WEBHOOK_ERROR);
    assert_int_equal(parse(200, "{\"action\":\"allow\",\"action\":\"block\"}", reason), MG_WEBHOOK_ERROR);
    assert_int_equal(parse(200, "{\"verdict\":\"allow\"}", reason), MG_WEBHOOK_ERROR);
    assert_string_equal(reason, "the webhook's answer has no \"action\" string");
    assert_int_equal(parse(200, "{\"action\":\"ALLOW\"}", reason), MG_WEBHOOK_ERROR);
    assert_string_equal(reason, "the webhook's answer has an unknown action");
    assert_int_equal(parse(200, "{\"action\":true}", reason), MG_WEBHOOK_ERROR);

    /* a long reason is cut on a character boundary: 300 two-byte characters */
    char body[1024] = "{\"action\":\"block\",\"reason\":\"";
    for (int i = 0; i < 300; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}");
    assert_int_equal(parse(200, body, reason), MG_WEBHOOK_BLOCK);
    assert_int_equal(strlen(reason), MG_WEBHOOK_REASON_MAX - 2); /* 254: 255 would split a character */
    assert_int_equal((unsigned char)reason[strlen(reason) - 1], 0xa9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
