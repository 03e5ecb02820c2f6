/*
 * fuzz_jwks.c - libFuzzer target for JWK Set parsing (auth/jwks.h): a key set document comes from
 * an identity provider's jwks_uri, over the network.
 *
 * Every input is parsed as a set. A set that parses must be well-formed (1 to MG_JWKS_MAX_KEYS keys,
 * each able to verify at least one algorithm, with a signature length and a kid of at most
 * MG_JWKS_MAX_KID_BYTES; every ignored entry with a reason), and is then used: tokens signed with
 * the fixture's keys (fuzz_jwt_keys.h), with and without kid, are verified against it, so that
 * lookups and signature checks run on keys built from hostile input. A refused set must say why.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "fuzz_jwt_keys.h"

static const char *const audiences[] = {FUZZ_JWT_AUDIENCE};
static mg_jwt_rules_t rules;
static char *tokens[3];

static char *b64url(const void *data, size_t len)
{
    size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = malloc(size);
    if (text == NULL)
        abort();
    sodium_bin2base64(text, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

/* An EdDSA or RS256 token for the fixture's claims, signed with the fixture's key. */
static char *make_token(const char *pem, const char *header)
{
    char payload[256];
    snprintf(payload, sizeof(payload), "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"alice\",\"exp\":%d}", FUZZ_JWT_ISSUER,
             FUZZ_JWT_AUDIENCE, FUZZ_JWT_NOW + 3600);
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload)), *input = NULL, *token = NULL;
    if (asprintf(&input, "%s.%s", h, p) < 0)
        abort();
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char signature[512];
    size_t len = sizeof(signature);
    const EVP_MD *md = strstr(header, "RS256") != NULL ? EVP_sha256() : NULL;
    if (pkey == NULL || ctx == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, signature, &len, (const unsigned char *)input, strlen(input)) != 1)
        abort();
    char *s = b64url(signature, len);
    if (asprintf(&token, "%s.%s", input, s) < 0)
        abort();
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    free(h);
    free(p);
    free(input);
    free(s);
    return token;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_jwt_rules_init(&rules);
    rules.issuer = FUZZ_JWT_ISSUER;
    rules.audiences = audiences;
    rules.audiences_len = 1;
    tokens[0] = make_token(FUZZ_JWT_ED25519_PEM, "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}");
    tokens[1] = make_token(FUZZ_JWT_ED25519_PEM, "{\"alg\":\"EdDSA\"}");
    tokens[2] = make_token(FUZZ_JWT_RSA_PEM, "{\"alg\":\"RS256\",\"kid\":\"rsa\"}");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_jwks_t *keys = (mg_jwks_t *)&keys;
    mg_error_t err;
    err.message[0] = '\0';
    if (mg_jwks_parse((const char *)data, size, &keys, &err) != 0) {
        if (keys != NULL || err.message[0] == '\0')
            abort();
        return 0;
    }
    size_t count = mg_jwks_count(keys);
    if (count == 0 || count > MG_JWKS_MAX_KEYS || count + mg_jwks_ignored_count(keys) > MG_JWKS_MAX_KEYS)
        abort();
    for (size_t i = 0; i < count; i++) {
        const mg_jwk_t *key = mg_jwks_key(keys, i);
        if ((key->algorithms & MG_JOSE_ALGS_ALL) == 0 || (key->algorithms & ~(unsigned)MG_JOSE_ALGS_ALL) != 0 ||
            key->signature_bytes == 0 || key->kind == NULL ||
            (key->kid != NULL && strlen(key->kid) > MG_JWKS_MAX_KID_BYTES) ||
            (key->cjose == NULL) == (key->ed25519 == NULL))
            abort();
    }
    for (size_t i = 0; i < mg_jwks_ignored_count(keys); i++)
        if (mg_jwks_ignored(keys, i)->reason == NULL)
            abort();
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        mg_principal_t *principal = NULL;
        mg_jwt_failure_t failure;
        if (mg_jwt_verify(&rules, keys, tokens[i], strlen(tokens[i]), FUZZ_JWT_NOW, &principal, &failure) == 0)
            mg_principal_release(principal);
        else if (principal != NULL || failure.code == MG_JWT_OK)
            abort();
    }
    mg_jwks_release(keys);
    return 0;
}
