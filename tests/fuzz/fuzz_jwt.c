/*
 * fuzz_jwt.c - libFuzzer target for bearer JWT verification (auth/jwt.h) against a fixed key set
 * (fuzz_jwt_keys.h: RSA, EC P-256 and Ed25519 keys with kids, an Ed25519 key without one, an
 * ignored HMAC key).
 *
 * An input is used in one of two ways:
 *   - with no newline, it is a token, the way an Authorization header brings it: peeked, then
 *     verified under two sets of rules (defaults; custom claim names, no skew, RS256 and EdDSA only);
 *   - "<alg>\n<header>\n<payload>" is a token the target signs itself: header and payload bytes are
 *     base64url-encoded as they are and signed with the fixture's key for <alg> (RS*, PS*, ES256,
 *     EdDSA; anything else gets an empty signature), to reach the header checks that follow the
 *     alg, and the claims checks that sit behind a valid signature and random tokens never pass.
 * Whatever happens must be consistent: success exactly when a principal comes out, that principal
 * well-formed and from the configured issuer, the same issuer peek saw; a failure with a known code
 * and a non-empty message safe for a WWW-Authenticate header. Nothing may crash or leak.
 */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "fuzz_jwt_keys.h"

static mg_jwks_t *keys;
static EVP_PKEY *rsa, *ec, *ed25519;
static const char *const audiences[] = {FUZZ_JWT_AUDIENCE};
static mg_jwt_rules_t default_rules, custom_rules;

static EVP_PKEY *load_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL)
        abort();
    return pkey;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_error_t err;
    if (mg_jwks_parse(FUZZ_JWT_JWKS, strlen(FUZZ_JWT_JWKS), &keys, &err) != 0) {
        fprintf(stderr, "fuzz_jwt: %s\n", err.message);
        abort();
    }
    rsa = load_key(FUZZ_JWT_RSA_PEM);
    ec = load_key(FUZZ_JWT_EC_PEM);
    ed25519 = load_key(FUZZ_JWT_ED25519_PEM);
    mg_jwt_rules_init(&default_rules);
    default_rules.issuer = FUZZ_JWT_ISSUER;
    default_rules.audiences = audiences;
    default_rules.audiences_len = 1;
    custom_rules = default_rules;
    custom_rules.algorithms = MG_JOSE_RS256 | MG_JOSE_EDDSA;
    custom_rules.subject_claim = "email";
    custom_rules.groups_claim = "roles";
    custom_rules.scopes_claim = "scp";
    custom_rules.clock_skew_s = 0;
    custom_rules.max_token_bytes = 2048;
    return 0;
}

static void check_strings(const json_t *array)
{
    size_t i;
    json_t *value;
    if (!json_is_array(array))
        abort();
    json_array_foreach(array, i, value)
    {
        if (!json_is_string(value))
            abort();
    }
}

static void verify(const mg_jwt_rules_t *rules, const char *token, size_t len, const mg_jwt_peek_t *peek, int peek_rc)
{
    mg_principal_t *principal = (mg_principal_t *)&principal;
    mg_jwt_failure_t failure;
    memset(&failure, 0x5a, sizeof(failure));
    int rc = mg_jwt_verify(rules, keys, token, len, FUZZ_JWT_NOW, &principal, &failure);
    if (rc == 0) {
        if (principal == NULL || failure.code != MG_JWT_OK || principal->method != MG_AUTH_JWT ||
            principal->subject[0] == '\0' || strcmp(principal->issuer, rules->issuer) != 0 ||
            principal->expires_at < FUZZ_JWT_NOW - MG_JWT_MAX_CLOCK_SKEW_S - 1)
            abort();
        /* What peek read is what verification checked. */
        if (peek_rc != 0 || strcmp(peek->issuer, rules->issuer) != 0)
            abort();
        check_strings(principal->groups);
        check_strings(principal->scopes);
        mg_principal_release(principal);
        return;
    }
    if (rc != -1 || principal != NULL || failure.code <= MG_JWT_OK || failure.code > MG_JWT_INTERNAL ||
        strcmp(mg_jwt_failure_name(failure.code), "unknown") == 0)
        abort();
    size_t message_len = strnlen(failure.message, sizeof(failure.message));
    if (message_len == 0 || message_len == sizeof(failure.message))
        abort();
    for (size_t i = 0; i < message_len; i++)
        if (failure.message[i] < 0x20 || failure.message[i] > 0x7e || failure.message[i] == '"' ||
            failure.message[i] == '\\')
            abort();
}

static void peek_and_verify(const char *token, size_t len)
{
    mg_jwt_peek_t peek;
    mg_jwt_failure_t failure;
    int peek_rc = mg_jwt_peek(token, len, 0, &peek, &failure);
    if (peek_rc == 0 && (strlen(peek.issuer) > MG_JWT_MAX_ISSUER_BYTES || strlen(peek.alg) >= sizeof(peek.alg) ||
                         (!peek.has_kid && peek.kid[0] != '\0')))
        abort();
    if (peek_rc != 0 && (failure.code == MG_JWT_OK || failure.message[0] == '\0'))
        abort();
    verify(&default_rules, token, len, &peek, peek_rc);
    verify(&custom_rules, token, len, &peek, peek_rc);
}

static char *b64url(const uint8_t *data, size_t len)
{
    size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = malloc(size);
    if (text == NULL)
        abort();
    sodium_bin2base64(text, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

/* Signs `input` as JWS `alg` does with the fixture's key; returns the signature's length (0: none). */
static size_t sign(const char *alg, const char *input, unsigned char *signature)
{
    const EVP_MD *md = strcmp(alg + 2, "384") == 0   ? EVP_sha384()
                       : strcmp(alg + 2, "512") == 0 ? EVP_sha512()
                                                     : EVP_sha256();
    EVP_PKEY *pkey = NULL;
    if (strcmp(alg, "EdDSA") == 0) {
        pkey = ed25519;
        md = NULL;
    } else if (strcmp(alg, "ES256") == 0) {
        pkey = ec;
    } else if ((alg[0] == 'R' || alg[0] == 'P') && alg[1] == 'S') {
        pkey = rsa;
    } else {
        return 0;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char der[512];
    size_t len = sizeof(der);
    if (ctx == NULL || EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey) != 1 ||
        (alg[0] == 'P' && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
        EVP_DigestSign(ctx, der, &len, (const unsigned char *)input, strlen(input)) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (pkey != ec) {
        memcpy(signature, der, len);
        return len;
    }
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (sig == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(sig), signature, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), signature + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(sig);
    return 64;
}

/* "<alg>\n<header>\n<payload>": the token made of these, signed here. */
static void compose_and_verify(const uint8_t *data, size_t size)
{
    const uint8_t *first = memchr(data, '\n', size);
    const uint8_t *second = memchr(first + 1, '\n', size - (size_t)(first + 1 - data));
    if (second == NULL || first - data >= 16)
        return;
    char alg[16];
    memcpy(alg, data, (size_t)(first - data));
    alg[first - data] = '\0';
    char *header = b64url(first + 1, (size_t)(second - first - 1));
    char *payload = b64url(second + 1, size - (size_t)(second + 1 - data));
    char *input = NULL, *token = NULL;
    if (asprintf(&input, "%s.%s", header, payload) < 0)
        abort();
    unsigned char signature[512];
    char *encoded = b64url(signature, sign(alg, input, signature));
    if (asprintf(&token, "%s.%s", input, encoded) < 0)
        abort();
    peek_and_verify(token, strlen(token));
    free(token);
    free(encoded);
    free(input);
    free(payload);
    free(header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memchr(data, '\n', size) != NULL) {
        compose_and_verify(data, size);
        return 0;
    }
    /* A copy of exactly `size` bytes, so that reading one byte too far is caught. */
    char *token = malloc(size != 0 ? size : 1);
    if (token == NULL)
        return 0;
    memcpy(token, data, size);
    peek_and_verify(token, size);
    free(token);
    return 0;
}
