/*
 * test_jwt.c - JWT verification (auth/jwt.h) and key sets (auth/jwks.h).
 *
 * Keys are made here (OpenSSL: RSA 2048, EC P-256/384/521, Ed25519; cjose: one RSA and one EC key
 * as an independent signer), and tokens are signed here from header and payload text written by
 * hand, so that every bad case can be built: unsigned tokens, HMAC tokens keyed with the public key,
 * tampered payloads, duplicate members, wrong types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwks.h"
#include "auth/jwt.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define ISSUER "https://idp.example.com/realms/acme"
#define AUDIENCE "https://gw.example.com/mcp"

static struct {
    EVP_PKEY *rsa, *rsa_other, *ec256, *ec384, *ec521, *ed25519;
    cjose_jwk_t *cjose_rsa, *cjose_ec;
    mg_jwks_t *keys; /* the fixture set: see fixture_setup */
} fx;

static const char *const audiences[] = {"https://other.example.com", AUDIENCE};

static mg_jwt_rules_t rules(void)
{
    mg_jwt_rules_t r;
    mg_jwt_rules_init(&r);
    r.issuer = ISSUER;
    r.audiences = audiences;
    r.audiences_len = 2;
    return r;
}

/* ---- encoding and keys ---- */

static char *b64url(const void *data, size_t len)
{
    size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = malloc(size);
    assert_non_null(text);
    sodium_bin2base64(text, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

static char *b64url_text(const char *text)
{
    return b64url(text, strlen(text));
}

/* A big-number parameter of pkey, big-endian on `pad` bytes (0: its own length), base64url. */
static json_t *bn_member(const EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
    unsigned char buf[1024];
    int len = pad != 0 ? pad : BN_num_bytes(bn);
    assert_true(BN_bn2binpad(bn, buf, len) == len);
    BN_free(bn);
    char *text = b64url(buf, (size_t)len);
    json_t *value = json_string(text);
    free(text);
    return value;
}

static json_t *jwk_rsa(const EVP_PKEY *pkey, const char *kid)
{
    json_t *jwk = json_pack("{s:s, s:o, s:o}", "kty", "RSA", "n", bn_member(pkey, OSSL_PKEY_PARAM_RSA_N, 0), "e",
                            bn_member(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
    if (kid != NULL)
        json_object_set_new(jwk, "kid", json_string(kid));
    return jwk;
}

static json_t *jwk_ec(const EVP_PKEY *pkey, const char *kid)
{
    char curve[32];
    assert_int_equal(EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), NULL), 1);
    const char *crv = strcmp(curve, "prime256v1") == 0 ? "P-256" : strcmp(curve, "secp384r1") == 0 ? "P-384" : "P-521";
    int size = crv[2] == '2' ? 32 : crv[2] == '3' ? 48 : 66;
    json_t *jwk = json_pack("{s:s, s:s, s:o, s:o, s:s}", "kty", "EC", "crv", crv, "x",
                            bn_member(pkey, OSSL_PKEY_PARAM_EC_PUB_X, size), "y",
                            bn_member(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size), "use", "sig");
    if (kid != NULL)
        json_object_set_new(jwk, "kid", json_string(kid));
    return jwk;
}

static json_t *jwk_ed25519(const EVP_PKEY *pkey, const char *kid)
{
    unsigned char raw[32];
    size_t raw_len = sizeof(raw);
    assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len), 1);
    char *x = b64url(raw, raw_len);
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x, "alg", "EdDSA");
    free(x);
    if (kid != NULL)
        json_object_set_new(jwk, "kid", json_string(kid));
    return jwk;
}

static json_t *jwk_cjose(cjose_jwk_t *key)
{
    char *text = cjose_jwk_to_json(key, false, NULL);
    assert_non_null(text);
    json_t *jwk = json_loads(text, 0, NULL);
    free(text);
    return jwk;
}

/* Parses a set made of the given JWKs (stolen); fails the test when it does not parse. */
static mg_jwks_t *jwks_of(json_t *keys)
{
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    mg_jwks_t *set = NULL;
    mg_error_t err = {{0}};
    if (mg_jwks_parse(text, strlen(text), &set, &err) != 0)
        fail_msg("JWKS: %s", err.message);
    free(text);
    json_decref(doc);
    return set;
}

/* Expects the set document to be refused with a message containing `expected`. */
static void assert_jwks_refused(const char *text, const char *expected)
{
    mg_jwks_t *set = (mg_jwks_t *)1;
    mg_error_t err = {{0}};
    assert_int_equal(mg_jwks_parse(text, strlen(text), &set, &err), -1);
    assert_null(set);
    if (strstr(err.message, expected) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", err.message, expected);
}

/* ---- signing ---- */

static const EVP_MD *digest_of(const char *alg)
{
    if (strcmp(alg + 2, "256") == 0)
        return EVP_sha256();
    if (strcmp(alg + 2, "384") == 0)
        return EVP_sha384();
    return EVP_sha512();
}

/* Signs the signing input with `alg` as JWS defines it; returns the signature's length. */
static size_t sign(const char *alg, EVP_PKEY *pkey, const char *input, unsigned char *signature)
{
    if (strncmp(alg, "HS", 2) == 0 || strcmp(alg, "none") == 0)
        return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = strcmp(alg, "EdDSA") == 0 ? NULL : digest_of(alg);
    assert_int_equal(EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey), 1);
    if (alg[0] == 'P') {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    unsigned char der[1024];
    size_t len = sizeof(der);
    assert_int_equal(EVP_DigestSign(ctx, der, &len, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg[0] != 'E' || alg[1] != 'S') {
        memcpy(signature, der, len);
        return len;
    }
    /* ECDSA: DER SEQUENCE { r, s } to r || s, each on the curve's size (RFC 7518 section 3.4). */
    int size = strcmp(alg, "ES256") == 0 ? 32 : strcmp(alg, "ES384") == 0 ? 48 : 66;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(sig);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), signature, size), size);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), signature + size, size), size);
    ECDSA_SIG_free(sig);
    return (size_t)(2 * size);
}

/* header text . payload text, signed with pkey under `alg` (HS*, none: an empty signature). */
static char *token_raw(const char *header, const char *payload, const char *alg, EVP_PKEY *pkey)
{
    char *h = b64url_text(header), *p = b64url_text(payload);
    char *input = NULL;
    assert_true(asprintf(&input, "%s.%s", h, p) > 0);
    unsigned char signature[1024];
    size_t len = sign(alg, pkey, input, signature);
    char *s = b64url(signature, len);
    char *token = NULL;
    assert_true(asprintf(&token, "%s.%s", input, s) > 0);
    free(h);
    free(p);
    free(input);
    free(s);
    return token;
}

static json_t *claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:[s,s], s:s}", "iss", ISSUER, "aud", AUDIENCE, "sub", "alice", "exp",
                     (json_int_t)NOW + 3600, "iat", (json_int_t)NOW - 10, "groups", "admins", "devs", "scope",
                     "tools:read tools:call");
}

static char *dump(json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    return text;
}

/* A token with header {"alg","typ":"JWT","kid"} (no kid when NULL) and the payload `payload` (stolen). */
static char *token_of(const char *alg, const char *kid, EVP_PKEY *pkey, json_t *payload)
{
    json_t *header = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (kid != NULL)
        json_object_set_new(header, "kid", json_string(kid));
    char *header_text = dump(header), *payload_text = dump(payload);
    char *token = token_raw(header_text, payload_text, alg, pkey);
    free(header_text);
    free(payload_text);
    return token;
}

/* ---- verifying ---- */

static mg_principal_t *assert_valid_with(const mg_jwt_rules_t *r, const mg_jwks_t *keys, const char *token)
{
    mg_principal_t *principal = NULL;
    mg_jwt_failure_t failure;
    if (mg_jwt_verify(r, keys, token, strlen(token), NOW, &principal, &failure) != 0)
        fail_msg("refused: %s: %s", mg_jwt_failure_name(failure.code), failure.message);
    assert_int_equal(failure.code, MG_JWT_OK);
    assert_non_null(principal);
    return principal;
}

static void assert_valid(const char *token)
{
    mg_jwt_rules_t r = rules();
    mg_principal_t *principal = assert_valid_with(&r, fx.keys, token);
    assert_int_equal(principal->method, MG_AUTH_JWT);
    assert_string_equal(principal->subject, "alice");
    assert_string_equal(principal->issuer, ISSUER);
    assert_string_equal(principal->name, "jwt:" ISSUER "#alice");
    assert_int_equal(principal->expires_at, NOW + 3600);
    mg_principal_release(principal);
}

static void assert_refused_with(const mg_jwt_rules_t *r, const mg_jwks_t *keys, const char *token, size_t len,
                                mg_jwt_failure_code_t code, const char *message_part)
{
    mg_principal_t *principal = (mg_principal_t *)1;
    mg_jwt_failure_t failure;
    memset(&failure, 0, sizeof(failure));
    assert_int_equal(mg_jwt_verify(r, keys, token, len, NOW, &principal, &failure), -1);
    assert_null(principal);
    if (failure.code != code)
        fail_msg("%s (%s) instead of %s", mg_jwt_failure_name(failure.code), failure.message,
                 mg_jwt_failure_name(code));
    if (message_part != NULL && strstr(failure.message, message_part) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", failure.message, message_part);
    for (const char *c = failure.message; *c != '\0'; c++)
        assert_true(*c >= 0x20 && *c <= 0x7e && *c != '"' && *c != '\\');
}

static void assert_refused(const char *token, mg_jwt_failure_code_t code, const char *message_part)
{
    mg_jwt_rules_t r = rules();
    assert_refused_with(&r, fx.keys, token, strlen(token), code, message_part);
}

/* Signs `payload` (stolen) with the fixture's Ed25519 key and expects a refusal. */
static void assert_claims_refused(json_t *payload, mg_jwt_failure_code_t code, const char *message_part)
{
    char *token = token_of("EdDSA", "ed", fx.ed25519, payload);
    assert_refused(token, code, message_part);
    free(token);
}

static mg_principal_t *verify_claims(json_t *payload, const mg_jwt_rules_t *r)
{
    char *token = token_of("EdDSA", "ed", fx.ed25519, payload);
    mg_principal_t *principal = assert_valid_with(r, fx.keys, token);
    free(token);
    return principal;
}

/* ---- fixture ---- */

static int fixture_setup(void **state)
{
    (void)state;
    fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx.ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    fx.ec521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    fx.ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    static const uint8_t e[] = {1, 0, 1};
    fx.cjose_rsa = cjose_jwk_create_RSA_random(2048, e, sizeof(e), NULL);
    fx.cjose_ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, NULL);
    if (fx.rsa == NULL || fx.rsa_other == NULL || fx.ec256 == NULL || fx.ec384 == NULL || fx.ec521 == NULL ||
        fx.ed25519 == NULL || fx.cjose_rsa == NULL || fx.cjose_ec == NULL)
        return -1;
    cjose_jwk_set_kid(fx.cjose_rsa, "cjose-rsa", 9, NULL);
    cjose_jwk_set_kid(fx.cjose_ec, "cjose-ec", 8, NULL);

    json_t *hmac = json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "hmac", "k", "c2VjcmV0");
    json_t *rsa_only_rs512 = jwk_rsa(fx.rsa, "rs512-only");
    json_object_set_new(rsa_only_rs512, "alg", json_string("RS512"));
    json_t *both_rsa = jwk_rsa(fx.rsa, "both"), *both_ec = jwk_ec(fx.ec256, "both");
    fx.keys = jwks_of(json_pack("[o,o,o,o,o,o,o,o,o,o,o,o,o]", jwk_rsa(fx.rsa, "rsa1"), jwk_ec(fx.ec256, "ec256"),
                                jwk_ec(fx.ec384, "ec384"), jwk_ec(fx.ec521, "ec521"), jwk_ed25519(fx.ed25519, "ed"),
                                jwk_ec(fx.ec256, "shared"), jwk_cjose(fx.cjose_rsa), jwk_cjose(fx.cjose_ec), hmac,
                                rsa_only_rs512, both_rsa, both_ec, jwk_rsa(fx.rsa_other, "rsa2")));
    return fx.keys != NULL ? 0 : -1;
}

static int fixture_teardown(void **state)
{
    (void)state;
    mg_jwks_release(fx.keys);
    EVP_PKEY_free(fx.rsa);
    EVP_PKEY_free(fx.rsa_other);
    EVP_PKEY_free(fx.ec256);
    EVP_PKEY_free(fx.ec384);
    EVP_PKEY_free(fx.ec521);
    EVP_PKEY_free(fx.ed25519);
    cjose_jwk_release(fx.cjose_rsa);
    cjose_jwk_release(fx.cjose_ec);
    return 0;
}

/* ---- valid tokens ---- */

static void test_valid_rs256(void **state)
{
    (void)state;
    char *token = token_of("RS256", "rsa1", fx.rsa, claims());
    assert_valid(token);
    free(token);
}

static void test_valid_es256(void **state)
{
    (void)state;
    char *token = token_of("ES256", "ec256", fx.ec256, claims());
    assert_valid(token);
    free(token);
}

static void test_valid_eddsa(void **state)
{
    (void)state;
    char *token = token_of("EdDSA", "ed", fx.ed25519, claims());
    assert_valid(token);
    free(token);
}

static void test_valid_every_algorithm(void **state)
{
    (void)state;
    static const struct {
        const char *alg, *kid;
    } cases[] = {{"RS256", "rsa1"},  {"RS384", "rsa1"}, {"RS512", "rsa1"},      {"PS256", "rsa1"},
                 {"PS384", "rsa1"},  {"PS512", "rsa1"}, {"ES256", "ec256"},     {"ES384", "ec384"},
                 {"ES512", "ec521"}, {"EdDSA", "ed"},   {"RS512", "rs512-only"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *pkey = cases[i].kid[0] == 'r'               ? fx.rsa
                         : strcmp(cases[i].kid, "ec256") == 0 ? fx.ec256
                         : strcmp(cases[i].kid, "ec384") == 0 ? fx.ec384
                         : strcmp(cases[i].kid, "ec521") == 0 ? fx.ec521
                                                              : fx.ed25519;
        char *token = token_of(cases[i].alg, cases[i].kid, pkey, claims());
        assert_valid(token);
        free(token);
    }
}

/* Tokens from another implementation: cjose signs, the gateway verifies. */
static void test_valid_signed_by_cjose(void **state)
{
    (void)state;
    static const struct {
        const char *alg, *kid;
    } cases[] = {{"RS256", "cjose-rsa"}, {"PS384", "cjose-rsa"}, {"ES256", "cjose-ec"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *header = json_pack("{s:s, s:s, s:s}", "alg", cases[i].alg, "kid", cases[i].kid, "typ", "at+jwt");
        char *payload = dump(claims());
        cjose_err err;
        cjose_jws_t *jws = cjose_jws_sign(i < 2 ? fx.cjose_rsa : fx.cjose_ec, (cjose_header_t *)header,
                                          (const uint8_t *)payload, strlen(payload), &err);
        assert_non_null(jws);
        const char *token = NULL;
        assert_true(cjose_jws_export(jws, &token, &err));
        assert_valid(token);
        cjose_jws_release(jws);
        json_decref(header);
        free(payload);
    }
}

/* A kid shared by an RSA and an EC key: each token finds the key of its own type. */
static void test_kid_shared_by_two_key_types(void **state)
{
    (void)state;
    char *rsa = token_of("RS256", "both", fx.rsa, claims()), *ec = token_of("ES256", "both", fx.ec256, claims());
    assert_valid(rsa);
    assert_valid(ec);
    free(rsa);
    free(ec);
}

/* ---- dates ---- */

static void test_expired(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_set_new(payload, "exp", json_integer(NOW - 61));
    assert_claims_refused(payload, MG_JWT_EXPIRED, "expired at 1767225539, 61 s ago (60 s of skew allowed)");
}

static void test_not_yet_valid(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_set_new(payload, "nbf", json_integer(NOW + 61));
    assert_claims_refused(payload, MG_JWT_NOT_YET_VALID, "61 s from now");
}

static void test_issued_in_future(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_set_new(payload, "iat", json_integer(NOW + 3000));
    assert_claims_refused(payload, MG_JWT_ISSUED_IN_FUTURE, "issued at 1767228600");
}

static void test_within_skew(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    json_t *payload = claims();
    json_object_set_new(payload, "exp", json_integer(NOW - 60));
    json_object_set_new(payload, "nbf", json_integer(NOW + 60));
    json_object_set_new(payload, "iat", json_integer(NOW + 60));
    mg_principal_t *principal = verify_claims(payload, &r);
    assert_int_equal(principal->expires_at, NOW - 60);
    mg_principal_release(principal);

    /* No skew: a second late is late. */
    r.clock_skew_s = 0;
    payload = claims();
    json_object_set_new(payload, "exp", json_integer(NOW));
    mg_principal_release(verify_claims(payload, &r));
    payload = claims();
    json_object_set_new(payload, "exp", json_integer(NOW - 1));
    char *token = token_of("EdDSA", "ed", fx.ed25519, payload);
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_EXPIRED, "(0 s of skew allowed)");
    free(token);
}

static void test_skew_is_capped(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    r.clock_skew_s = 86400;
    json_t *payload = claims();
    json_object_set_new(payload, "exp", json_integer(NOW - 300));
    mg_principal_release(verify_claims(payload, &r));
    payload = claims();
    json_object_set_new(payload, "exp", json_integer(NOW - 301));
    char *token = token_of("EdDSA", "ed", fx.ed25519, payload);
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_EXPIRED, "(300 s of skew allowed)");
    free(token);
}

static void test_fractional_and_extreme_dates(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    json_t *payload = claims();
    json_object_set_new(payload, "exp", json_real(NOW + 3600.75));
    json_object_set_new(payload, "nbf", json_real(NOW - 0.5));
    mg_principal_t *principal = verify_claims(payload, &r);
    assert_int_equal(principal->expires_at, NOW + 3600);
    mg_principal_release(principal);

    payload = claims();
    json_object_set_new(payload, "exp", json_real(1e300));
    principal = verify_claims(payload, &r);
    assert_int_equal(principal->expires_at, INT64_MAX);
    mg_principal_release(principal);

    payload = claims();
    json_object_set_new(payload, "exp", json_real(-1e300));
    assert_claims_refused(payload, MG_JWT_EXPIRED, NULL);
    payload = claims();
    json_object_set_new(payload, "exp", json_integer(INT64_MIN));
    assert_claims_refused(payload, MG_JWT_EXPIRED, NULL);
}

static void test_missing_exp(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_del(payload, "exp");
    assert_claims_refused(payload, MG_JWT_MISSING_CLAIM, "no 'exp'");
}

static void test_non_numeric_dates(void **state)
{
    (void)state;
    static const char *const names[] = {"exp", "nbf", "iat"};
    for (size_t i = 0; i < 3; i++) {
        json_t *payload = claims();
        json_object_set_new(payload, names[i], json_string("1767229200"));
        char expected[64];
        snprintf(expected, sizeof(expected), "'%s' is not a number", names[i]);
        assert_claims_refused(payload, MG_JWT_MALFORMED, expected);
    }
    json_t *payload = claims();
    json_object_set_new(payload, "exp", json_true());
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'exp' is not a number");
}

/* ---- issuer and audience ---- */

static void test_wrong_issuer(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_set_new(payload, "iss", json_string(ISSUER "/"));
    assert_claims_refused(payload, MG_JWT_WRONG_ISSUER, "is not the issuer");
    payload = claims();
    json_object_set_new(payload, "iss", json_string("https://IDP.example.com/realms/acme"));
    assert_claims_refused(payload, MG_JWT_WRONG_ISSUER, NULL);
    payload = claims();
    json_object_del(payload, "iss");
    assert_claims_refused(payload, MG_JWT_MISSING_CLAIM, "no 'iss'");
    payload = claims();
    json_object_set_new(payload, "iss", json_pack("[s]", ISSUER));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'iss' is not a string");
}

static void test_wrong_audience(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_set_new(payload, "aud", json_string("https://gw.example.com/mcp/"));
    assert_claims_refused(payload, MG_JWT_WRONG_AUDIENCE, "aud 'https://gw.example.com/mcp/' is not an audience");
    payload = claims();
    json_object_set_new(payload, "aud", json_pack("[s,s]", "a", "b"));
    assert_claims_refused(payload, MG_JWT_WRONG_AUDIENCE, "none of the 2 values");
    payload = claims();
    json_object_set_new(payload, "aud", json_array());
    assert_claims_refused(payload, MG_JWT_WRONG_AUDIENCE, NULL);
    payload = claims();
    json_object_del(payload, "aud");
    assert_claims_refused(payload, MG_JWT_MISSING_CLAIM, "no 'aud'");
    payload = claims();
    json_object_set_new(payload, "aud", json_pack("[s,i]", AUDIENCE, 7));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "not a string");
    payload = claims();
    json_object_set_new(payload, "aud", json_pack("{s:s}", "aud", AUDIENCE));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "neither a string nor an array");

    /* No audience configured: nothing passes. */
    mg_jwt_rules_t r = rules();
    r.audiences_len = 0;
    char *token = token_of("EdDSA", "ed", fx.ed25519, claims());
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_WRONG_AUDIENCE, NULL);
    free(token);
}

static void test_audience_array_containing_it(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    json_t *payload = claims();
    json_object_set_new(payload, "aud", json_pack("[s,s,s]", "account", "https://elsewhere", AUDIENCE));
    mg_principal_release(verify_claims(payload, &r));
}

/* ---- algorithms ---- */

static void test_alg_none(void **state)
{
    (void)state;
    char *payload = dump(claims());
    static const char *const headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"kid\":\"rsa1\"}",
                                          "{\"alg\":\"None\",\"kid\":\"rsa1\"}", "{\"alg\":\"NONE\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *token = token_raw(headers[i], payload, "none", NULL);
        assert_int_equal(token[strlen(token) - 1], '.'); /* an empty signature */
        assert_refused(token, MG_JWT_ALG_NOT_ALLOWED, i < 2 ? "'none' (an unsigned token) is never accepted" : NULL);
        /* Whatever the rules' mask holds, "none" has no bit to be allowed by. */
        mg_jwt_rules_t r = rules();
        r.algorithms = ~0u;
        assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_ALG_NOT_ALLOWED, NULL);
        free(token);
    }
    free(payload);
}

static char *hmac_token(const char *header, const char *payload, const void *key, size_t key_len)
{
    char *h = b64url_text(header), *p = b64url_text(payload), *input = NULL, *token = NULL;
    assert_true(asprintf(&input, "%s.%s", h, p) > 0);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)input, strlen(input), mac, &mac_len));
    char *s = b64url(mac, mac_len);
    assert_true(asprintf(&token, "%s.%s", input, s) > 0);
    free(h);
    free(p);
    free(input);
    free(s);
    return token;
}

/* The classic confusion: an HS256 token whose HMAC key is the RSA public key as published. */
static void test_hs256_keyed_with_public_key(void **state)
{
    (void)state;
    char *payload = dump(claims());
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, fx.rsa), 1);
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(bio, &pem);
    json_t *jwk = jwk_rsa(fx.rsa, "rsa1");
    const char *n = json_string_value(json_object_get(jwk, "n"));
    char *jwk_text = json_dumps(jwk, JSON_COMPACT);
    const struct {
        const void *key;
        size_t len;
    } keys[] = {{pem, (size_t)pem_len}, {n, strlen(n)}, {jwk_text, strlen(jwk_text)}, {"secret", 6}};
    static const char *const headers[] = {"{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", "{\"alg\":\"HS256\"}",
                                          "{\"alg\":\"HS256\",\"kid\":\"hmac\"}"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t h = 0; h < sizeof(headers) / sizeof(headers[0]); h++) {
            char *token = hmac_token(headers[h], payload, keys[k].key, keys[k].len);
            assert_refused(token, MG_JWT_ALG_NOT_ALLOWED, "alg 'HS256' (HMAC) is never accepted");
            mg_jwt_rules_t r = rules();
            r.algorithms = ~0u;
            assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_ALG_NOT_ALLOWED, NULL);
            free(token);
        }
    }
    free(jwk_text);
    json_decref(jwk);
    BIO_free(bio);
    free(payload);
}

static void test_alg_not_in_allow_list(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    r.algorithms = MG_JOSE_RS256;
    char *token = token_of("PS256", "rsa1", fx.rsa, claims());
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_ALG_NOT_ALLOWED,
                        "alg 'PS256' is not among the issuer's algorithms");
    free(token);
    token = token_of("RS256", "rsa1", fx.rsa, claims());
    mg_principal_release(assert_valid_with(&r, fx.keys, token));
    free(token);
    r.algorithms = 0; /* nothing allowed */
    token = token_of("EdDSA", "ed", fx.ed25519, claims());
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_ALG_NOT_ALLOWED, NULL);
    free(token);

    char *payload = dump(claims());
    static const char *const headers[] = {"{\"alg\":\"RSA-OAEP\",\"kid\":\"rsa1\"}", "{\"alg\":\"Ed448\"}",
                                          "{\"alg\":\"rs256\",\"kid\":\"rsa1\"}", "{\"kid\":\"rsa1\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        token = token_raw(headers[i], payload, "none", NULL);
        assert_refused(token, MG_JWT_ALG_NOT_ALLOWED, NULL);
        free(token);
    }
    token = token_raw("{\"alg\":256}", payload, "none", NULL);
    assert_refused(token, MG_JWT_MALFORMED, "'alg' is not a string");
    free(token);
    free(payload);
}

/* ---- keys ---- */

static void test_rs256_against_ec_key_with_same_kid(void **state)
{
    (void)state;
    char *token = token_of("RS256", "shared", fx.rsa, claims());
    assert_refused(token, MG_JWT_KEY_MISMATCH, "key 'shared' (EC P-256, ES256) cannot verify RS256");
    free(token);
    token = token_of("ES256", "ec384", fx.ec256, claims());
    assert_refused(token, MG_JWT_KEY_MISMATCH, "(EC P-384, ES384) cannot verify ES256");
    free(token);
    token = token_of("EdDSA", "rsa1", fx.ed25519, claims());
    assert_refused(token, MG_JWT_KEY_MISMATCH, "(RSA, RS256..PS512) cannot verify EdDSA");
    free(token);
}

static void test_key_alg_must_equal_token_alg(void **state)
{
    (void)state;
    char *token = token_of("RS256", "rs512-only", fx.rsa, claims());
    assert_refused(token, MG_JWT_KEY_MISMATCH, "(RSA, RS512) cannot verify RS256");
    free(token);
    token = token_of("PS512", "rs512-only", fx.rsa, claims());
    assert_refused(token, MG_JWT_KEY_MISMATCH, NULL);
    free(token);
}

static void test_unknown_kid(void **state)
{
    (void)state;
    char *token = token_of("RS256", "rotated-2027", fx.rsa, claims());
    assert_refused(token, MG_JWT_UNKNOWN_KID, "no key with kid 'rotated-2027'");
    free(token);
    /* A kid is compared exactly. */
    token = token_of("RS256", "RSA1", fx.rsa, claims());
    assert_refused(token, MG_JWT_UNKNOWN_KID, NULL);
    free(token);
}

/* Before the first fetch there is no set: every token asks for one. */
static void test_no_key_set_yet(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    char *token = token_of("ES256", "ec256", fx.ec256, claims());
    assert_refused_with(&r, NULL, token, strlen(token), MG_JWT_UNKNOWN_KID, "has not been fetched yet");
    free(token);
    token = token_of("ES256", NULL, fx.ec256, claims());
    assert_refused_with(&r, NULL, token, strlen(token), MG_JWT_UNKNOWN_KID, NULL);
    free(token);
}

static void test_kid_of_ignored_key(void **state)
{
    (void)state;
    char *token = token_of("RS256", "hmac", fx.rsa, claims());
    assert_refused(token, MG_JWT_KEY_MISMATCH, "key 'hmac' of the set is not used: symmetric keys");
    free(token);
}

/* Without a kid, every key that can verify the alg is tried. */
static void test_token_without_kid(void **state)
{
    (void)state;
    char *token = token_of("ES384", NULL, fx.ec384, claims());
    assert_valid(token);
    free(token);
    token = token_of("RS256", NULL, fx.rsa_other, claims());
    assert_valid(token);
    free(token);

    EVP_PKEY *stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    token = token_of("ES256", NULL, stranger, claims());
    assert_refused(token, MG_JWT_BAD_SIGNATURE, "none of the 4 ES256 keys");
    free(token);
    EVP_PKEY_free(stranger);

    /* A set of kid-less keys: a token without kid finds its key, one with a kid finds none. */
    mg_jwks_t *set = jwks_of(json_pack("[o,o]", jwk_ed25519(fx.ed25519, NULL), jwk_rsa(fx.rsa, NULL)));
    mg_jwt_rules_t r = rules();
    token = token_of("EdDSA", NULL, fx.ed25519, claims());
    mg_principal_release(assert_valid_with(&r, set, token));
    free(token);
    token = token_of("EdDSA", "ed", fx.ed25519, claims());
    assert_refused_with(&r, set, token, strlen(token), MG_JWT_UNKNOWN_KID, NULL);
    free(token);
    token = token_of("ES256", NULL, fx.ec256, claims());
    assert_refused_with(&r, set, token, strlen(token), MG_JWT_UNKNOWN_KID,
                        "no 'kid' and no key in the set verifies ES256");
    free(token);
    mg_jwks_release(set);
}

/* ---- signatures ---- */

/* Replaces the payload part of `token` with base64url(`payload` text), keeping header and signature. */
static char *with_payload(const char *token, const char *payload)
{
    const char *first = strchr(token, '.'), *second = strchr(first + 1, '.');
    char *p = b64url_text(payload), *out = NULL;
    assert_true(asprintf(&out, "%.*s.%s%s", (int)(first - token), token, p, second) > 0);
    free(p);
    return out;
}

static void test_tampered_payload(void **state)
{
    (void)state;
    static const struct {
        const char *alg, *kid;
    } cases[] = {{"RS256", "rsa1"}, {"PS256", "rsa1"}, {"ES256", "ec256"}, {"ES512", "ec521"}, {"EdDSA", "ed"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *pkey = i < 2 ? fx.rsa : i == 2 ? fx.ec256 : i == 3 ? fx.ec521 : fx.ed25519;
        char *token = token_of(cases[i].alg, cases[i].kid, pkey, claims());
        json_t *payload = claims();
        json_object_set_new(payload, "sub", json_string("mallory"));
        char *payload_text = dump(payload);
        char *tampered = with_payload(token, payload_text);
        assert_refused(tampered, MG_JWT_BAD_SIGNATURE, "does not verify with key");
        free(tampered);
        free(payload_text);
        free(token);
    }
}

static void test_bad_signature_bytes(void **state)
{
    (void)state;
    char *token = token_of("ES256", "ec256", fx.ec256, claims());
    size_t len = strlen(token);
    /* One bit of the signature flipped (the first character stays in the alphabet). */
    char *sig = strrchr(token, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_refused(token, MG_JWT_BAD_SIGNATURE, NULL);
    /* A signature one byte short: 63 bytes is 84 characters. */
    token[len - 2] = '\0';
    sig[strlen(sig) - 1] = 'A';
    assert_refused(token, MG_JWT_BAD_SIGNATURE, "the signature is 63 bytes; ES256 with this key makes 64");
    free(token);

    token = token_of("RS256", "rsa1", fx.rsa, claims());
    *(strrchr(token, '.') + 1) = '\0'; /* no signature at all */
    assert_refused(token, MG_JWT_BAD_SIGNATURE, "the signature is 0 bytes");
    free(token);
    /* A valid signature of another key with the kid of this one. */
    token = token_of("RS256", "rsa1", fx.rsa_other, claims());
    assert_refused(token, MG_JWT_BAD_SIGNATURE, "does not verify with key 'rsa1'");
    free(token);
}

/* ---- shape ---- */

static void test_malformed_base64url(void **state)
{
    (void)state;
    char *token = token_of("EdDSA", "ed", fx.ed25519, claims());
    const char *first = strchr(token, '.');
    size_t header_len = (size_t)(first - token);
    static const struct {
        const char *insert, *message;
    } cases[] = {{"=", "padding '=' is not allowed"}, {"==", "padding '=' is not allowed"},
                 {"+", "outside the base64url"},      {"/", "outside the base64url"},
                 {" ", "outside the base64url"},      {"\xc3\xa9", "outside the base64url"},
                 {"\n", "outside the base64url"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int part = 0; part < 3; part++) {
            /* insert at the end of the header, the payload, or the signature */
            const char *at = part == 0 ? first : part == 1 ? strchr(first + 1, '.') : token + strlen(token);
            char *bad = NULL;
            assert_true(asprintf(&bad, "%.*s%s%s", (int)(at - token), token, cases[i].insert, at) > 0);
            assert_refused(bad, MG_JWT_MALFORMED, cases[i].message);
            free(bad);
        }
    }
    /* Non-canonical: the unused low bits of the header's last character set. */
    char *bad = strdup(token);
    assert_true(header_len % 4 != 0);
    char *last = bad + header_len - 1;
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = alphabet[(strchr(alphabet, *last) - alphabet) | 1];
    assert_refused(bad, MG_JWT_MALFORMED, "non-canonical");
    free(bad);
    free(token);

    /* The decoder on its own. */
    unsigned char out[16];
    size_t out_len;
    const char *why = NULL;
    assert_int_equal(mg_jose_base64url_decode("e30", 3, out, sizeof(out), &out_len, &why), 0);
    assert_int_equal(out_len, 2);
    assert_memory_equal(out, "{}", 2);
    assert_int_equal(mg_jose_base64url_decode("e31", 3, out, sizeof(out), &out_len, &why), -1);
    assert_int_equal(mg_jose_base64url_decode("e30=", 4, out, sizeof(out), &out_len, &why), -1);
    assert_string_equal(why, "padding '=' is not allowed");
    assert_int_equal(mg_jose_base64url_decode("e30AA", 5, out, sizeof(out), &out_len, &why), -1);
    assert_int_equal(mg_jose_base64url_decode("", 0, out, sizeof(out), &out_len, &why), 0);
    assert_int_equal(out_len, 0);
}

static void test_wrong_number_of_parts(void **state)
{
    (void)state;
    char *token = token_of("EdDSA", "ed", fx.ed25519, claims());
    char *shorter = strdup(token);
    *strrchr(shorter, '.') = '\0';
    assert_refused(shorter, MG_JWT_MALFORMED, "2 parts; a compact JWS has 3");
    char *longer = NULL;
    assert_true(asprintf(&longer, "%s.AAAA", token) > 0);
    assert_refused(longer, MG_JWT_MALFORMED, "4 parts");
    free(longer);
    /* A JWE: five parts. */
    assert_true(asprintf(&longer, "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.AAAA.AAAA.AAAA.AAAA") > 0);
    assert_refused(longer, MG_JWT_MALFORMED, "5 parts: an encrypted token (JWE) is not accepted");
    free(longer);
    assert_refused("", MG_JWT_MALFORMED, "1 part;");
    assert_refused("abc", MG_JWT_MALFORMED, "1 part;");
    assert_refused("..", MG_JWT_MALFORMED, "the header is empty");
    assert_refused(".e30.", MG_JWT_MALFORMED, "the header is empty");
    free(shorter);
    free(token);
}

static void test_header_not_json(void **state)
{
    (void)state;
    char *payload = dump(claims());
    static const struct {
        const char *header, *message;
    } cases[] = {
        {"not json", "the header is not JSON"},
        {"[\"alg\",\"RS256\"]", "the header is not a JSON object"},
        {"{\"alg\":\"RS256\"", "the header is not JSON"},
        {"{\"alg\":\"RS256\"} x", "the header is not JSON"},
        {"{\"alg\":\"EdDSA\",\"alg\":\"none\"}", "duplicate"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"e\\u0000d\"}", "the header is not JSON"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"\xff\"}", "the header is not JSON"},
        {"\"RS256\"", "the header is not JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *token = token_raw(cases[i].header, payload, "EdDSA", fx.ed25519);
        assert_refused(token, MG_JWT_MALFORMED, cases[i].message);
        free(token);
    }
    free(payload);
}

static void test_duplicate_key_in_payload(void **state)
{
    (void)state;
    char *token = token_raw("{\"alg\":\"EdDSA\",\"kid\":\"ed\"}",
                            "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"sub\":\"alice\",\"sub\":\"admin\","
                            "\"exp\":1767229200}",
                            "EdDSA", fx.ed25519);
    assert_refused(token, MG_JWT_MALFORMED, "the payload is not JSON: duplicate object key near ''sub''");
    free(token);
    token = token_raw("{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", "[1,2]", "EdDSA", fx.ed25519);
    assert_refused(token, MG_JWT_MALFORMED, "the payload is not a JSON object");
    free(token);
    token = token_raw("{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", "", "EdDSA", fx.ed25519);
    assert_refused(token, MG_JWT_MALFORMED, "the payload is not JSON");
    free(token);
}

static void test_oversized_token(void **state)
{
    (void)state;
    json_t *payload = claims();
    char *padding = malloc(MG_JWT_DEFAULT_MAX_TOKEN_BYTES);
    memset(padding, 'x', MG_JWT_DEFAULT_MAX_TOKEN_BYTES - 1);
    padding[MG_JWT_DEFAULT_MAX_TOKEN_BYTES - 1] = '\0';
    json_object_set_new(payload, "padding", json_string(padding));
    free(padding);
    char *token = token_of("EdDSA", "ed", fx.ed25519, payload);
    assert_refused(token, MG_JWT_TOO_LARGE, "; at most 8192 are accepted");

    /* The limit is the rules', and counts bytes of the token exactly. */
    mg_jwt_rules_t r = rules();
    r.max_token_bytes = strlen(token);
    mg_principal_release(assert_valid_with(&r, fx.keys, token));
    r.max_token_bytes = strlen(token) - 1;
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_TOO_LARGE, NULL);
    free(token);
    token = token_of("EdDSA", "ed", fx.ed25519, claims());
    r.max_token_bytes = 100;
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_TOO_LARGE, "at most 100");
    free(token);
}

static void test_header_parameters(void **state)
{
    (void)state;
    char *payload = dump(claims());
    static const struct {
        const char *header;
        mg_jwt_failure_code_t code;
        const char *message;
    } cases[] = {
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"at+jwt\"}", MG_JWT_OK, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"application/at+jwt\"}", MG_JWT_OK, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"Application/AT+JWT\"}", MG_JWT_OK, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"jwt\"}", MG_JWT_OK, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"jku\":\"https://evil.example/jwks\",\"x5u\":\"https://evil\"}", MG_JWT_OK,
         NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"dpop+jwt\"}", MG_JWT_TYPE_NOT_ALLOWED,
         "typ 'dpop+jwt' is not an access token's"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"logout+jwt\"}", MG_JWT_TYPE_NOT_ALLOWED, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"application/\"}", MG_JWT_TYPE_NOT_ALLOWED, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":7}", MG_JWT_MALFORMED, "'typ' is not a string"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"cty\":\"JWT\"}", MG_JWT_TYPE_NOT_ALLOWED, "'cty'"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"crit\":[\"b64\"],\"b64\":false}", MG_JWT_CRIT_UNSUPPORTED,
         "requires 'b64', an extension the gateway does not understand"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"crit\":[\"exp\"]}", MG_JWT_CRIT_UNSUPPORTED, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"crit\":[]}", MG_JWT_MALFORMED, "'crit' is not a non-empty array"},
        {"{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"crit\":\"b64\"}", MG_JWT_MALFORMED, NULL},
        {"{\"alg\":\"EdDSA\",\"kid\":[\"ed\"]}", MG_JWT_MALFORMED, "'kid' is not a string"},
    };
    mg_jwt_rules_t r = rules();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *token = token_raw(cases[i].header, payload, "EdDSA", fx.ed25519);
        if (cases[i].code == MG_JWT_OK)
            mg_principal_release(assert_valid_with(&r, fx.keys, token));
        else
            assert_refused(token, cases[i].code, cases[i].message);
        free(token);
    }
    /* A kid longer than any key set holds. */
    char header[400];
    snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%0256d\"}", 0);
    char *token = token_raw(header, payload, "EdDSA", fx.ed25519);
    assert_refused(token, MG_JWT_MALFORMED, "'kid' is longer than 255 bytes");
    free(token);
    free(payload);
}

/* ---- subject, groups, scopes ---- */

static void test_missing_subject(void **state)
{
    (void)state;
    json_t *payload = claims();
    json_object_del(payload, "sub");
    assert_claims_refused(payload, MG_JWT_MISSING_CLAIM, "no 'sub'");
    payload = claims();
    json_object_set_new(payload, "sub", json_string(""));
    assert_claims_refused(payload, MG_JWT_MISSING_CLAIM, "'sub' is empty");
    payload = claims();
    json_object_set_new(payload, "sub", json_integer(42));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'sub' is not a string");

    /* A configured subject claim is the only one read. */
    mg_jwt_rules_t r = rules();
    r.subject_claim = "email";
    payload = claims();
    json_object_set_new(payload, "email", json_string("alice@example.com"));
    mg_principal_t *principal = verify_claims(payload, &r);
    assert_string_equal(principal->subject, "alice@example.com");
    assert_string_equal(principal->name, "jwt:" ISSUER "#alice@example.com");
    mg_principal_release(principal);
    char *token = token_of("EdDSA", "ed", fx.ed25519, claims());
    assert_refused_with(&r, fx.keys, token, strlen(token), MG_JWT_MISSING_CLAIM, "no 'email'");
    free(token);
}

static void assert_strings(const json_t *array, size_t count, ...)
{
    va_list ap;
    va_start(ap, count);
    assert_int_equal(json_array_size(array), count);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(json_string_value(json_array_get(array, i)), va_arg(ap, const char *));
    va_end(ap);
}

static void test_scopes(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    json_t *payload = claims();
    json_object_set_new(payload, "scope", json_string(" tools:read  tools:call admin "));
    mg_principal_t *principal = verify_claims(payload, &r);
    assert_strings(principal->scopes, 3, "tools:read", "tools:call", "admin");
    assert_true(mg_principal_has_scope(principal, "tools:call"));
    assert_false(mg_principal_has_scope(principal, "tools"));
    mg_principal_release(principal);

    payload = claims();
    json_object_del(payload, "scope");
    json_object_set_new(payload, "scp", json_pack("[s,s]", "files.read", "files.write"));
    principal = verify_claims(payload, &r);
    assert_strings(principal->scopes, 2, "files.read", "files.write");
    mg_principal_release(principal);

    payload = claims(); /* both: "scope" wins */
    json_object_set_new(payload, "scp", json_pack("[s]", "ignored"));
    principal = verify_claims(payload, &r);
    assert_strings(principal->scopes, 2, "tools:read", "tools:call");
    mg_principal_release(principal);

    payload = claims(); /* none */
    json_object_del(payload, "scope");
    principal = verify_claims(payload, &r);
    assert_strings(principal->scopes, 0);
    mg_principal_release(principal);

    payload = claims();
    json_object_set_new(payload, "scope", json_pack("[s,i]", "a", 1));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'scope' holds a value that is not a string");
    payload = claims();
    json_object_set_new(payload, "scope", json_integer(1));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'scope' is neither a string nor an array");

    r.scopes_claim = "permissions"; /* a configured claim: no fallback to "scp" */
    payload = claims();
    json_object_set_new(payload, "permissions", json_pack("[s]", "read:tools"));
    json_object_set_new(payload, "scp", json_pack("[s]", "ignored"));
    principal = verify_claims(payload, &r);
    assert_strings(principal->scopes, 1, "read:tools");
    mg_principal_release(principal);
}

static void test_groups(void **state)
{
    (void)state;
    mg_jwt_rules_t r = rules();
    json_t *payload = claims();
    mg_principal_t *principal = verify_claims(payload, &r);
    assert_strings(principal->groups, 2, "admins", "devs");
    assert_strings(principal->roles, 0);
    mg_principal_release(principal);

    r.groups_claim = "realm_roles";
    payload = claims();
    json_object_set_new(payload, "realm_roles", json_pack("[s,s,s]", "/acme/Team A", "operators", ""));
    principal = verify_claims(payload, &r);
    assert_strings(principal->groups, 3, "/acme/Team A", "operators", "");
    mg_principal_release(principal);

    payload = claims(); /* one string is one group, spaces and all */
    json_object_set_new(payload, "realm_roles", json_string("/acme/Team A"));
    principal = verify_claims(payload, &r);
    assert_strings(principal->groups, 1, "/acme/Team A");
    mg_principal_release(principal);

    payload = claims(); /* the default claim is not read when another is configured */
    principal = verify_claims(payload, &r);
    assert_strings(principal->groups, 0);
    mg_principal_release(principal);

    payload = claims();
    json_object_set_new(payload, "groups", json_pack("[s,{}]", "a"));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'groups' holds a value that is not a string");
    payload = claims();
    json_object_set_new(payload, "groups", json_pack("{s:s}", "a", "b"));
    assert_claims_refused(payload, MG_JWT_MALFORMED, "'groups' is neither a string nor an array");
}

/* ---- messages and names ---- */

static void test_messages_are_header_safe(void **state)
{
    (void)state;
    char *token = token_of("RS256", "a\"b\\c\r\nWWW-Authenticate: x\x01\xc3\xa9", fx.rsa, claims());
    assert_refused(token, MG_JWT_UNKNOWN_KID,
                   "no key with kid 'a'b?c??WWW-Authenticate: x??"
                   "?'");
    free(token);
    json_t *payload = claims();
    json_object_set_new(payload, "iss", json_string("\"><script>"));
    assert_claims_refused(payload, MG_JWT_WRONG_ISSUER, "iss ''><script>'");
}

static void test_failure_names(void **state)
{
    (void)state;
    const char *seen[MG_JWT_INTERNAL + 1];
    for (int code = MG_JWT_OK; code <= MG_JWT_INTERNAL; code++) {
        seen[code] = mg_jwt_failure_name((mg_jwt_failure_code_t)code);
        assert_string_not_equal(seen[code], "unknown");
        for (int other = 0; other < code; other++)
            assert_string_not_equal(seen[code], seen[other]);
    }
    assert_string_equal(mg_jwt_failure_name(MG_JWT_UNKNOWN_KID), "unknown_kid");
    assert_string_equal(mg_jwt_failure_name((mg_jwt_failure_code_t)999), "unknown");
    assert_string_equal(mg_jose_alg_name(MG_JOSE_EDDSA), "EdDSA");
    assert_null(mg_jose_alg_name(MG_JOSE_RS256 | MG_JOSE_RS384));
    assert_int_equal(mg_jose_alg_parse("PS384", 5), MG_JOSE_PS384);
    assert_int_equal(mg_jose_alg_parse("HS256", 5), 0);
    assert_int_equal(mg_jose_alg_parse("none", 4), 0);
    assert_int_equal(mg_jose_alg_parse("ES2560", 6), 0);
}

/* ---- peek ---- */

static void test_peek(void **state)
{
    (void)state;
    mg_jwt_peek_t peek;
    mg_jwt_failure_t failure;
    char *token = token_of("ES256", "ec256", fx.ec256, claims());
    assert_int_equal(mg_jwt_peek(token, strlen(token), 0, &peek, &failure), 0);
    assert_string_equal(peek.issuer, ISSUER);
    assert_true(peek.has_kid);
    assert_string_equal(peek.kid, "ec256");
    assert_string_equal(peek.alg, "ES256");
    free(token);

    /* Unverified: a forged signature and a refused alg still peek. */
    char *payload = dump(claims());
    token = token_raw("{\"alg\":\"none\"}", payload, "none", NULL);
    assert_int_equal(mg_jwt_peek(token, strlen(token), 0, &peek, &failure), 0);
    assert_false(peek.has_kid);
    assert_string_equal(peek.kid, "");
    assert_string_equal(peek.alg, "none");
    free(token);
    token = token_raw("{\"alg\":\"a-very-long-algorithm-name\"}", payload, "none", NULL);
    assert_int_equal(mg_jwt_peek(token, strlen(token), 0, &peek, &failure), 0);
    assert_string_equal(peek.alg, "a-very-long-alg");
    free(token);
    free(payload);

    json_t *claims_without_iss = claims();
    json_object_del(claims_without_iss, "iss");
    token = token_of("EdDSA", "ed", fx.ed25519, claims_without_iss);
    assert_int_equal(mg_jwt_peek(token, strlen(token), 0, &peek, &failure), -1);
    assert_int_equal(failure.code, MG_JWT_MISSING_CLAIM);
    free(token);

    char long_issuer[MG_JWT_MAX_ISSUER_BYTES + 2];
    memset(long_issuer, 'i', sizeof(long_issuer) - 1);
    long_issuer[sizeof(long_issuer) - 1] = '\0';
    json_t *long_claims = claims();
    json_object_set_new(long_claims, "iss", json_string(long_issuer));
    token = token_of("EdDSA", "ed", fx.ed25519, long_claims);
    assert_int_equal(mg_jwt_peek(token, strlen(token), 0, &peek, &failure), -1);
    assert_int_equal(failure.code, MG_JWT_MALFORMED);
    long_issuer[MG_JWT_MAX_ISSUER_BYTES] = '\0'; /* exactly the longest */
    free(token);
    long_claims = claims();
    json_object_set_new(long_claims, "iss", json_string(long_issuer));
    token = token_of("EdDSA", "ed", fx.ed25519, long_claims);
    assert_int_equal(mg_jwt_peek(token, strlen(token), 0, &peek, &failure), 0);
    assert_string_equal(peek.issuer, long_issuer);
    assert_int_equal(mg_jwt_peek(token, strlen(token), 100, &peek, &failure), -1);
    assert_int_equal(failure.code, MG_JWT_TOO_LARGE);
    free(token);

    static const char *const garbage[] = {"", ".", "..", "...", "a.b.c", "e30.e30.", "e30.W10.", "eyJhbGciOjF9.e30."};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        memset(&failure, 0, sizeof(failure));
        assert_int_equal(mg_jwt_peek(garbage[i], strlen(garbage[i]), 0, &peek, &failure), -1);
        assert_int_not_equal(failure.code, MG_JWT_OK);
        assert_string_not_equal(failure.message, "");
    }
}

/* ---- key sets ---- */

static void test_jwks_oct_key_not_usable(void **state)
{
    (void)state;
    assert_jwks_refused("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\",\"alg\":\"HS256\"}]}",
                        "no usable signature key; keys[0] (kid \"h\"): symmetric keys (kty 'oct') are never used");
    json_t *hmac = json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0");
    mg_jwks_t *set = jwks_of(json_pack("[o,o]", hmac, jwk_ed25519(fx.ed25519, "ed")));
    assert_int_equal(mg_jwks_count(set), 1);
    assert_int_equal(mg_jwks_ignored_count(set), 1);
    assert_int_equal(mg_jwks_ignored(set, 0)->index, 0);
    assert_null(mg_jwks_ignored(set, 0)->kid);
    assert_int_equal(mg_jwks_key(set, 0)->index, 1);
    assert_int_equal(mg_jwks_key(set, 0)->algorithms, MG_JOSE_EDDSA);
    mg_jwks_release(set);
}

static void test_jwks_malformed(void **state)
{
    (void)state;
    assert_jwks_refused("", "JWKS: not JSON");
    assert_jwks_refused("{\"keys\":[", "JWKS: not JSON: line 1");
    assert_jwks_refused("[]", "not a JSON object");
    assert_jwks_refused("{}", "no \"keys\" member");
    assert_jwks_refused("{\"keys\":{}}", "\"keys\" is not an array");
    assert_jwks_refused("{\"keys\":[]}", "\"keys\" is empty");
    assert_jwks_refused("{\"keys\":[1]}", "keys[0] is not a JSON object");
    assert_jwks_refused("{\"keys\":[],\"keys\":[]}", "duplicate object key");
    assert_jwks_refused("{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"EC\"}]}", "duplicate object key");

    json_t *keys = json_array();
    for (int i = 0; i <= MG_JWKS_MAX_KEYS; i++)
        json_array_append_new(keys, json_object());
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = dump(doc);
    assert_jwks_refused(text, "JWKS: 65 keys; at most 64 are accepted");
    free(text);

    char *huge = malloc(MG_JWKS_MAX_BYTES + 2);
    memset(huge, ' ', MG_JWKS_MAX_BYTES + 1);
    huge[MG_JWKS_MAX_BYTES + 1] = '\0';
    assert_jwks_refused(huge, "JWKS: 262145 bytes; at most 262144 are accepted");
    free(huge);
}

/* Each JWK the gateway must not use is left out with its reason; the set keeps the good key. */
static void test_jwks_ignored_keys(void **state)
{
    (void)state;
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    assert_non_null(small);
    assert_non_null(x25519);
    json_t *enc = jwk_rsa(fx.rsa, "enc");
    json_object_set_new(enc, "use", json_string("enc"));
    json_t *ops = jwk_rsa(fx.rsa, "ops");
    json_object_set_new(ops, "key_ops", json_pack("[s]", "encrypt"));
    json_t *private_key = jwk_ec(fx.ec256, "private");
    json_object_set_new(private_key, "d", json_string("AAAA"));
    json_t *short_x = jwk_ec(fx.ec256, "short-x");
    json_object_set_new(short_x, "x", json_string("AAAA"));
    json_t *off_curve = jwk_ec(fx.ec256, "off-curve");
    json_object_set(off_curve, "y", json_object_get(off_curve, "x")); /* (x, x) is not on the curve */
    json_t *padded = jwk_rsa(fx.rsa, "padded");
    char *n = NULL;
    assert_true(asprintf(&n, "%s=", json_string_value(json_object_get(padded, "n"))) > 0);
    json_object_set_new(padded, "n", json_string(n));
    free(n);
    json_t *wrong_alg = jwk_ec(fx.ec256, "wrong-alg");
    json_object_set_new(wrong_alg, "alg", json_string("RS256"));
    json_t *encryption_alg = jwk_rsa(fx.rsa, "oaep");
    json_object_set_new(encryption_alg, "alg", json_string("RSA-OAEP"));
    unsigned char raw[32];
    size_t raw_len = sizeof(raw);
    EVP_PKEY_get_raw_public_key(x25519, raw, &raw_len);
    char *x = b64url(raw, raw_len);
    json_t *keys = json_pack("[o,o,o,o,o,o,o,o,o,o,{s:s,s:s},{s:s,s:s,s:s,s:s},{s:i},{s:s,s:s,s:i},o,{s:s,s:s,s:s}]",
                             jwk_rsa(small, "small"), enc, ops, private_key, short_x, off_curve, padded, wrong_alg,
                             encryption_alg, jwk_ed25519(fx.ed25519, "good"), "kty", "EC", "kid", "no-crv", "kty",
                             "OKP", "crv", "X25519", "x", x, "kid", "x25519", "kty", 3, "kty", "RSA", "n", "AQAB", "e",
                             65537, json_pack("{s:s, s:s, s:s}", "kty", "PQC", "kid", "future", "x", "AAAA"), "kty",
                             "RSA", "kid", "no-n", "e", "AQAB");
    free(x);
    char long_text[1500];
    memset(long_text, 'A', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    json_t *long_x = jwk_ec(fx.ec256, "long-x");
    json_object_set_new(long_x, "x", json_string(long_text));
    json_array_append_new(keys, long_x);
    json_array_append_new(keys,
                          json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", "huge", "n", long_text, "e", "AQAB"));
    mg_jwks_t *set = jwks_of(keys);
    assert_int_equal(mg_jwks_count(set), 1);
    assert_string_equal(mg_jwks_key(set, 0)->kid, "good");
    static const struct {
        const char *kid, *reason;
    } expected[] = {
        {"small", "RSA modulus shorter than 2048 bits"},
        {"enc", "'use' is not 'sig'"},
        {"ops", "'key_ops' does not include 'verify'"},
        {"private", "private key material"},
        {"short-x", "does not have the curve's length"},
        {"off-curve", "cjose refused the key"},
        {"padded", "not strict base64url"},
        {"wrong-alg", "'alg' does not fit the key's type or curve"},
        {"oaep", "'alg' is not a signature algorithm the gateway accepts"},
        {"no-crv", "EC key on a curve other than"},
        {"x25519", "OKP key on a curve other than Ed25519"},
        {NULL, "'kty' is missing or not a string"},
        {NULL, "not a string"},
        {"future", "unsupported 'kty'"},
        {"no-n", "a required member"},
        {"long-x", "does not have the curve's length"},
        {"huge", "RSA modulus longer than 8192 bits"},
    };
    assert_int_equal(mg_jwks_ignored_count(set), sizeof(expected) / sizeof(expected[0]));
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        const mg_jwks_ignored_t *ignored = mg_jwks_ignored(set, i);
        if (expected[i].kid != NULL)
            assert_string_equal(ignored->kid, expected[i].kid);
        if (strstr(ignored->reason, expected[i].reason) == NULL)
            fail_msg("keys[%zu]: \"%s\" does not contain \"%s\"", ignored->index, ignored->reason, expected[i].reason);
    }
    /* A token naming an ignored key says why it cannot be used. */
    mg_jwt_rules_t r = rules();
    char *token = token_of("RS256", "small", small, claims());
    assert_refused_with(&r, set, token, strlen(token), MG_JWT_KEY_MISMATCH, "shorter than 2048 bits");
    free(token);
    mg_jwks_release(set);
    EVP_PKEY_free(small);
    EVP_PKEY_free(x25519);
}

static void test_jwks_retain_release(void **state)
{
    (void)state;
    mg_jwks_t *set = jwks_of(json_pack("[o]", jwk_ec(fx.ec256, "ec")));
    assert_ptr_equal(mg_jwks_retain(set), set);
    mg_jwks_release(set);
    assert_int_equal(mg_jwks_count(set), 1); /* still held once */
    assert_string_equal(mg_jwks_key(set, 0)->kind, "EC P-256");
    assert_int_equal(mg_jwks_key(set, 0)->signature_bytes, 64);
    mg_jwks_release(set);
    mg_jwks_release(NULL);
}

/* ---- rules ---- */

static void test_rules_validate(void **state)
{
    (void)state;
    mg_error_t err = {{0}};
    mg_jwt_rules_t r = rules();
    assert_int_equal(mg_jwt_rules_validate(&r, &err), 0);
    assert_int_equal(r.algorithms, MG_JOSE_ALGS_ALL);
    assert_int_equal(r.clock_skew_s, 60);
    assert_int_equal(r.max_token_bytes, 8192);
    static const char *const empty_audience[] = {""};
    r.issuer = NULL;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    assert_string_equal(err.message, "jwt: issuer is required");
    r = rules();
    r.audiences_len = 0;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    assert_non_null(strstr(err.message, "audiences must list at least one audience"));
    r = rules();
    r.audiences = empty_audience;
    r.audiences_len = 1;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    r = rules();
    r.algorithms = 0;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    r.algorithms = 1u << 20;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    r = rules();
    r.clock_skew_s = 301;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    r.clock_skew_s = -1;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    r = rules();
    r.groups_claim = "";
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
    r = rules();
    r.max_token_bytes = MG_JWT_MAX_TOKEN_BYTES_LIMIT + 1;
    assert_int_equal(mg_jwt_rules_validate(&r, &err), -1);
}

/* ---- threads ---- */

static void *verify_many(void *arg)
{
    char **tokens = arg;
    mg_jwt_rules_t r = rules();
    for (int round = 0; round < 20; round++) {
        for (int i = 0; tokens[i] != NULL; i++) {
            mg_principal_t *principal = NULL;
            mg_jwt_failure_t failure;
            if (mg_jwt_verify(&r, fx.keys, tokens[i], strlen(tokens[i]), NOW, &principal, &failure) != 0)
                return (void *)1;
            mg_principal_release(principal);
        }
    }
    return NULL;
}

/* One set, shared by threads verifying at once (run under ThreadSanitizer to see more). */
static void test_shared_between_threads(void **state)
{
    (void)state;
    char *tokens[] = {token_of("RS256", "rsa1", fx.rsa, claims()), token_of("ES256", "ec256", fx.ec256, claims()),
                      token_of("EdDSA", "ed", fx.ed25519, claims()), token_of("PS256", NULL, fx.rsa, claims()), NULL};
    pthread_t threads[4];
    mg_jwks_t *held = mg_jwks_retain(fx.keys);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, verify_many, tokens), 0);
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        assert_null(result);
    }
    mg_jwks_release(held);
    for (int i = 0; tokens[i] != NULL; i++)
        free(tokens[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_rs256),
        cmocka_unit_test(test_valid_es256),
        cmocka_unit_test(test_valid_eddsa),
        cmocka_unit_test(test_valid_every_algorithm),
        cmocka_unit_test(test_valid_signed_by_cjose),
        cmocka_unit_test(test_kid_shared_by_two_key_types),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_issued_in_future),
        cmocka_unit_test(test_within_skew),
        cmocka_unit_test(test_skew_is_capped),
        cmocka_unit_test(test_fractional_and_extreme_dates),
        cmocka_unit_test(test_missing_exp),
        cmocka_unit_test(test_non_numeric_dates),
        cmocka_unit_test(test_wrong_issuer),
        cmocka_unit_test(test_wrong_audience),
        cmocka_unit_test(test_audience_array_containing_it),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_hs256_keyed_with_public_key),
        cmocka_unit_test(test_alg_not_in_allow_list),
        cmocka_unit_test(test_rs256_against_ec_key_with_same_kid),
        cmocka_unit_test(test_key_alg_must_equal_token_alg),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_kid_of_ignored_key),
        cmocka_unit_test(test_no_key_set_yet),
        cmocka_unit_test(test_token_without_kid),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_bad_signature_bytes),
        cmocka_unit_test(test_malformed_base64url),
        cmocka_unit_test(test_wrong_number_of_parts),
        cmocka_unit_test(test_header_not_json),
        cmocka_unit_test(test_duplicate_key_in_payload),
        cmocka_unit_test(test_oversized_token),
        cmocka_unit_test(test_header_parameters),
        cmocka_unit_test(test_missing_subject),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_messages_are_header_safe),
        cmocka_unit_test(test_failure_names),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_jwks_oct_key_not_usable),
        cmocka_unit_test(test_jwks_malformed),
        cmocka_unit_test(test_jwks_ignored_keys),
        cmocka_unit_test(test_jwks_retain_release),
        cmocka_unit_test(test_rules_validate),
        cmocka_unit_test(test_shared_between_threads),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
