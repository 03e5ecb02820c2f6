/*
 * test_upstream_oauth.c - the upstream credential agent's pure parts: reading a token endpoint's
 * answer (RFC 6749 section 5.1) and when a token is replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/upstream_oauth.h"

static void parse_ok(const char *body, const char *token, int64_t expires_in)
{
    mg_upstream_token_t out;
    mg_error_t err = {{0}};
    if (mg_upstream_oauth_parse(body, strlen(body), &out, &err) != 0)
        fail_msg("unexpected error for %s: %s", body, err.message);
    assert_string_equal(out.access_token, token);
    assert_int_equal(out.expires_in, expires_in);
    free(out.access_token);
}

/* Fails with `expected` in the message, which never quotes the token ("SECRET" in the bodies). */
static void parse_fails(const char *body, size_t len, const char *expected)
{
    mg_upstream_token_t out;
    mg_error_t err = {{0}};
    assert_int_equal(mg_upstream_oauth_parse(body, len, &out, &err), -1);
    assert_null(out.access_token);
    if (strstr(err.message, expected) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", expected, err.message);
    if (strstr(err.message, "SECRET") != NULL)
        fail_msg("the message quotes the token: %s", err.message);
}

#define FAILS(body, expected) parse_fails(body, strlen(body), expected)

static void test_accepted(void **state)
{
    (void)state;
    parse_ok("{\"access_token\":\"eyJ.a-b_c.d~e+f/g==\",\"token_type\":\"Bearer\",\"expires_in\":3600}",
             "eyJ.a-b_c.d~e+f/g==", 3600);
    parse_ok("{\"access_token\":\"t\",\"token_type\":\"bearer\"}", "t", -1); /* no expires_in: unknown */
    parse_ok("{\"access_token\":\"t\",\"token_type\":\"BEARER\",\"expires_in\":null,\"scope\":\"a b\"}", "t", -1);
    parse_ok("{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":\"120\"}", "t", 120);
    /* a lifetime beyond a day is taken as a day */
    parse_ok("{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":99999999999}", "t",
             MG_UPSTREAM_OAUTH_MAX_LIFETIME_S);
    parse_ok("{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":\"999999999999999999\"}", "t",
             MG_UPSTREAM_OAUTH_MAX_LIFETIME_S);
}

static void test_access_token(void **state)
{
    (void)state;
    FAILS("{\"token_type\":\"Bearer\",\"expires_in\":60}", "has no access_token");
    FAILS("{\"access_token\":null,\"token_type\":\"Bearer\"}", "has no access_token");
    FAILS("{\"access_token\":42,\"token_type\":\"Bearer\"}", "has no access_token");
    FAILS("{\"access_token\":\"\",\"token_type\":\"Bearer\"}", "has no access_token");
    FAILS("{\"access_token\":\"SECRET\\r\\nX-Injected: 1\",\"token_type\":\"Bearer\"}", "cannot carry");
    FAILS("{\"access_token\":\"SECRET token\",\"token_type\":\"Bearer\"}", "cannot carry");
    FAILS("{\"access_token\":\"SECRET=x\",\"token_type\":\"Bearer\"}", "cannot carry"); /* '=' only at the end */
    FAILS("{\"access_token\":\"=\",\"token_type\":\"Bearer\"}", "cannot carry");
    FAILS("{\"access_token\":\"SECRET\\u0000x\",\"token_type\":\"Bearer\"}", "is not JSON"); /* NUL: refused */
    char body[MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES + 100];
    int len = snprintf(body, sizeof(body), "{\"token_type\":\"Bearer\",\"access_token\":\"SECRET");
    memset(body + len, 'a', MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES);
    snprintf(body + len + MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES,
             sizeof(body) - (size_t)len - MG_UPSTREAM_OAUTH_MAX_TOKEN_BYTES, "\"}");
    FAILS(body, "the access token is longer than");
}

static void test_token_type(void **state)
{
    (void)state;
    FAILS("{\"access_token\":\"SECRET\"}", "has no token_type");
    FAILS("{\"access_token\":\"SECRET\",\"token_type\":7}", "has no token_type");
    FAILS("{\"access_token\":\"SECRET\",\"token_type\":\"DPoP\"}", "token_type \"DPoP\" is not Bearer");
    FAILS("{\"access_token\":\"SECRET\",\"token_type\":\"Bearer \"}", "is not Bearer");
    FAILS("{\"access_token\":\"SECRET\",\"token_type\":\"mac\"}", "is not Bearer");
}

static void test_expires_in(void **state)
{
    (void)state;
    const char *bad[] = {"-1",
                         "0",
                         "-99999999999",
                         "1.5",
                         "\"-5\"",
                         "\"\"",
                         "\"60s\"",
                         "\"1e3\"",
                         "true",
                         "[]",
                         "\"9999999999999999999999\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[200];
        snprintf(body, sizeof(body), "{\"access_token\":\"SECRET\",\"token_type\":\"Bearer\",\"expires_in\":%s}",
                 bad[i]);
        FAILS(body, "expires_in is not a positive integer");
    }
}

static void test_not_a_token_response(void **state)
{
    (void)state;
    FAILS("", "is not JSON");
    FAILS("<html>SECRET</html>", "is not JSON");
    FAILS("{\"access_token\": SECRET}", "is not JSON (line 1, column");
    FAILS("{\"access_token\":\"a\",\"access_token\":\"SECRET\",\"token_type\":\"Bearer\"}", "is not JSON");
    FAILS("[\"SECRET\"]", "is not a JSON object");
    FAILS("\"SECRET\"", "is not JSON"); /* only an object or an array is decoded */
    /* oversized: refused before it is parsed, whatever it holds */
    size_t len = MG_UPSTREAM_OAUTH_MAX_RESPONSE_BYTES + 1;
    char *body = malloc(len + 1);
    assert_non_null(body);
    memset(body, ' ', len);
    memcpy(body, "{\"access_token\":\"t\",\"token_type\":\"Bearer\"}", 42);
    body[len] = '\0';
    parse_fails(body, len, "the token response is larger than 65536 bytes");
    body[MG_UPSTREAM_OAUTH_MAX_RESPONSE_BYTES] = '\0'; /* one byte less: read */
    parse_ok(body, "t", -1);
    free(body);
}

static void test_refresh_delay(void **state)
{
    (void)state;
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(-1), 300 * 1000);    /* unknown lifetime */
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(3600), 2880 * 1000); /* 80 % */
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(300), 240 * 1000);   /* both rules agree */
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(200), 140 * 1000);   /* 60 s before expiry */
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(60), 30 * 1000);     /* not before half */
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(4), 2000);
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(1), 1000); /* at least 1 s */
    assert_int_equal(mg_upstream_oauth_refresh_delay_ms(MG_UPSTREAM_OAUTH_MAX_LIFETIME_S),
                     (int64_t)MG_UPSTREAM_OAUTH_MAX_LIFETIME_S * 800);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_access_token),
        cmocka_unit_test(test_token_type),
        cmocka_unit_test(test_expires_in),
        cmocka_unit_test(test_not_a_token_response),
        cmocka_unit_test(test_refresh_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
