/* jwks.c - see jwks.h. */
#include "auth/jwks.h"

#include "mcp/jsonrpc.h"

#include <assert.h>
#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct st_mg_jwks_t {
    _Atomic int refcount;
    size_t count, ignored_count;
    mg_jwk_t keys[MG_JWKS_MAX_KEYS];
    mg_jwks_ignored_t ignored[MG_JWKS_MAX_KEYS];
};

/* The members of a JWK that only a private key has (RFC 7518 sections 6.2.2, 6.3.2; RFC 8037 section 2). */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth"};

static const struct {
    const char *name;
    size_t coordinate_bytes;
    mg_jose_alg_t alg;
    const char *kind;
} ec_curves[] = {
    {"P-256", 32, MG_JOSE_ES256, "EC P-256"},
    {"P-384", 48, MG_JOSE_ES384, "EC P-384"},
    {"P-521", 66, MG_JOSE_ES512, "EC P-521"},
};

/* Decodes the string member `name` of a JWK; exactly `want` bytes unless want is 0. Returns a reason or NULL. */
static const char *decode_member(const json_t *jwk, const char *name, unsigned char *out, size_t out_size, size_t want,
                                 size_t *out_len)
{
    const json_t *member = json_object_get(jwk, name);
    const char *why;
    if (member == NULL)
        return "a required member ('n', 'e', 'x' or 'y') is missing";
    if (!json_is_string(member))
        return "a key member ('n', 'e', 'x' or 'y') is not a string";
    if (MG_JOSE_DECODED_SIZE(json_string_length(member)) > out_size)
        return want != 0 ? "a coordinate ('x' or 'y') does not have the curve's length" : "a key member is too long";
    if (mg_jose_base64url_decode(json_string_value(member), json_string_length(member), out, out_size, out_len, &why) !=
        0)
        return "a key member ('n', 'e', 'x' or 'y') is not strict base64url";
    if (want != 0 && *out_len != want)
        return "a coordinate ('x' or 'y') does not have the curve's length";
    return NULL;
}

/* Imports an RSA or EC JWK with cjose, once its members have been checked strictly here: cjose's own
 * base64url decoder stops at '=' and ignores what follows. */
static const char *import_with_cjose(json_t *jwk, mg_jwk_t *key)
{
    cjose_err cjose_error;
    key->cjose = cjose_jwk_import_json((cjose_header_t *)jwk, &cjose_error);
    ERR_clear_error();
    return key->cjose == NULL ? "cjose refused the key (an EC point not on its curve, or an invalid RSA key)" : NULL;
}

static const char *load_rsa(json_t *jwk, mg_jwk_t *key)
{
    /* Base64url of the longest modulus accepted, with room for a leading zero octet. */
    enum { MAX_MODULUS_TEXT = (MG_JWKS_MAX_RSA_BITS / 8 + 1 + 2) / 3 * 4 };
    unsigned char modulus[MG_JOSE_DECODED_SIZE(MAX_MODULUS_TEXT)];
    unsigned char exponent[MG_JOSE_DECODED_SIZE(12)];
    size_t modulus_len, exponent_len;
    const json_t *n = json_object_get(jwk, "n"), *e = json_object_get(jwk, "e");
    if (json_is_string(n) && json_string_length(n) > MAX_MODULUS_TEXT)
        return "RSA modulus longer than 8192 bits";
    if (json_is_string(e) && json_string_length(e) > 12)
        return "RSA public exponent longer than 64 bits";
    const char *why = decode_member(jwk, "n", modulus, sizeof(modulus), 0, &modulus_len);
    if (why == NULL)
        why = decode_member(jwk, "e", exponent, sizeof(exponent), 0, &exponent_len);
    if (why != NULL)
        return why;
    size_t skip = 0; /* leading zero octets do not count towards the modulus length */
    while (skip < modulus_len && modulus[skip] == 0)
        skip++;
    size_t bits = (modulus_len - skip) * 8;
    for (unsigned top = skip < modulus_len ? modulus[skip] : 0x80; (top & 0x80) == 0; top <<= 1)
        bits--;
    if (bits < MG_JWKS_MIN_RSA_BITS)
        return "RSA modulus shorter than 2048 bits";
    if (bits > MG_JWKS_MAX_RSA_BITS)
        return "RSA modulus longer than 8192 bits";
    if (exponent_len == 0 || exponent_len > 8 || (exponent[exponent_len - 1] & 1) == 0)
        return "RSA public exponent is not an odd number of at most 64 bits";
    if ((why = import_with_cjose(jwk, key)) != NULL)
        return why;
    key->algorithms = MG_JOSE_ALGS_RSA;
    key->signature_bytes = cjose_jwk_get_keysize(key->cjose, NULL) / 8;
    key->kind = "RSA";
    return NULL;
}

static const char *load_ec(json_t *jwk, mg_jwk_t *key)
{
    const char *curve = json_string_value(json_object_get(jwk, "crv"));
    size_t i = 0;
    while (i < sizeof(ec_curves) / sizeof(ec_curves[0]) && (curve == NULL || strcmp(curve, ec_curves[i].name) != 0))
        i++;
    if (i == sizeof(ec_curves) / sizeof(ec_curves[0]))
        return "EC key on a curve other than P-256, P-384 and P-521 (or without 'crv')";
    unsigned char coordinate[MG_JOSE_DECODED_SIZE(88)];
    size_t coordinate_len;
    const char *why =
        decode_member(jwk, "x", coordinate, sizeof(coordinate), ec_curves[i].coordinate_bytes, &coordinate_len);
    if (why == NULL)
        why = decode_member(jwk, "y", coordinate, sizeof(coordinate), ec_curves[i].coordinate_bytes, &coordinate_len);
    if (why == NULL)
        why = import_with_cjose(jwk, key);
    if (why != NULL)
        return why;
    key->algorithms = ec_curves[i].alg;
    key->signature_bytes = 2 * ec_curves[i].coordinate_bytes;
    key->kind = ec_curves[i].kind;
    return NULL;
}

static const char *load_okp(json_t *jwk, mg_jwk_t *key)
{
    const char *curve = json_string_value(json_object_get(jwk, "crv"));
    if (curve == NULL || strcmp(curve, "Ed25519") != 0)
        return "OKP key on a curve other than Ed25519 (Ed448 and X25519 are not supported)";
    unsigned char public_key[MG_JOSE_DECODED_SIZE(43)];
    size_t public_key_len;
    const char *why = decode_member(jwk, "x", public_key, sizeof(public_key), 32, &public_key_len);
    if (why != NULL)
        return why;
    key->ed25519 = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, public_key_len);
    ERR_clear_error();
    if (key->ed25519 == NULL)
        return "OpenSSL refused the Ed25519 public key";
    key->algorithms = MG_JOSE_EDDSA;
    key->signature_bytes = 64;
    key->kind = "OKP Ed25519";
    return NULL;
}

/* The checks every key type shares: what it may be used for, and that it is public. */
static const char *check_usage(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use");
    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        return "'use' is not 'sig'";
    const json_t *key_ops = json_object_get(jwk, "key_ops");
    if (key_ops != NULL) {
        size_t i;
        const json_t *op;
        bool verify = false;
        if (!json_is_array(key_ops))
            return "'key_ops' is not an array";
        json_array_foreach(key_ops, i, op)
        {
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                verify = true;
        }
        if (!verify)
            return "'key_ops' does not include 'verify'";
    }
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (json_object_get(jwk, private_members[i]) != NULL)
            return "the key holds private key material; a published key set must hold public keys only";
    return NULL;
}

/* Fills `key` from one JWK, or returns why the key is left out (and leaves nothing to free in `key`). */
static const char *load_key(json_t *jwk, mg_jwk_t *key)
{
    const json_t *kid = json_object_get(jwk, "kid");
    if (kid != NULL && !json_is_string(kid))
        return "'kid' is not a string";
    if (kid != NULL && json_string_length(kid) > MG_JWKS_MAX_KID_BYTES)
        return "'kid' is longer than 255 bytes";
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL)
        return "'kty' is missing or not a string";
    if (strcmp(kty, "oct") == 0)
        return "symmetric keys (kty 'oct') are never used: HMAC tokens are not accepted against a published key set";
    const char *why = check_usage(jwk);
    if (why != NULL)
        return why;
    const json_t *alg_member = json_object_get(jwk, "alg");
    mg_jose_alg_t alg = 0;
    if (alg_member != NULL &&
        (!json_is_string(alg_member) ||
         (alg = mg_jose_alg_parse(json_string_value(alg_member), json_string_length(alg_member))) == 0))
        return "'alg' is not a signature algorithm the gateway accepts";

    if (strcmp(kty, "RSA") == 0)
        why = load_rsa(jwk, key);
    else if (strcmp(kty, "EC") == 0)
        why = load_ec(jwk, key);
    else if (strcmp(kty, "OKP") == 0)
        why = load_okp(jwk, key);
    else
        why = "unsupported 'kty' (only RSA, EC and OKP)";
    if (why == NULL && alg != 0) {
        if ((key->algorithms & alg) == 0)
            why = "'alg' does not fit the key's type or curve";
        key->algorithms = alg; /* RFC 7517 section 4.4: the key is meant for this algorithm only */
    }
    if (why == NULL && kid != NULL && (key->kid = strdup(json_string_value(kid))) == NULL)
        why = "out of memory";
    if (why != NULL) {
        cjose_jwk_release(key->cjose);
        EVP_PKEY_free(key->ed25519);
        memset(key, 0, sizeof(*key));
    }
    return why;
}

static int parse_keys(mg_jwks_t *set, json_t *keys, mg_error_t *err)
{
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        if (!json_is_object(jwk))
            return mg_error_set(err, "JWKS: keys[%zu] is not a JSON object", i);
        mg_jwk_t *key = &set->keys[set->count];
        const char *why = load_key(jwk, key);
        if (why == NULL) {
            key->index = i;
            set->count++;
            continue;
        }
        mg_jwks_ignored_t *ignored = &set->ignored[set->ignored_count++];
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        ignored->index = i;
        ignored->reason = why;
        ignored->kid = kid != NULL ? strdup(kid) : NULL;
    }
    if (set->count == 0 && set->ignored_count == 0)
        return mg_error_set(err, "JWKS: \"keys\" is empty");
    if (set->count == 0)
        return mg_error_set(err, "JWKS: no usable signature key; keys[%zu]%s%.64s%s: %s", set->ignored[0].index,
                            set->ignored[0].kid != NULL ? " (kid \"" : "",
                            set->ignored[0].kid != NULL ? set->ignored[0].kid : "",
                            set->ignored[0].kid != NULL ? "\")" : "", set->ignored[0].reason);
    return 0;
}

int mg_jwks_parse(const char *json, size_t len, mg_jwks_t **out, mg_error_t *err)
{
    *out = NULL;
    if (len > MG_JWKS_MAX_BYTES)
        return mg_error_set(err, "JWKS: %zu bytes; at most %d are accepted", len, MG_JWKS_MAX_BYTES);
    json_error_t json_error;
    json_t *root = mg_json_loadb(json, len, MG_JSON_DECODE_FLAGS, &json_error);
    if (root == NULL)
        return mg_error_set(err, "JWKS: not JSON: line %d, column %d: %s", json_error.line, json_error.column,
                            json_error.text);
    json_t *keys = json_object_get(root, "keys");
    int rc = 0;
    if (!json_is_object(root))
        rc = mg_error_set(err, "JWKS: the document is not a JSON object");
    else if (keys == NULL)
        rc = mg_error_set(err, "JWKS: no \"keys\" member (RFC 7517 section 5)");
    else if (!json_is_array(keys))
        rc = mg_error_set(err, "JWKS: \"keys\" is not an array");
    else if (json_array_size(keys) > MG_JWKS_MAX_KEYS)
        rc = mg_error_set(err, "JWKS: %zu keys; at most %d are accepted", json_array_size(keys), MG_JWKS_MAX_KEYS);
    mg_jwks_t *set = rc == 0 ? calloc(1, sizeof(*set)) : NULL;
    if (rc == 0 && set == NULL)
        rc = mg_error_set(err, "JWKS: out of memory");
    if (set != NULL) {
        atomic_init(&set->refcount, 1);
        rc = parse_keys(set, keys, err);
        if (rc != 0)
            mg_jwks_release(set);
        else
            *out = set;
    }
    json_decref(root);
    return rc;
}

mg_jwks_t *mg_jwks_retain(mg_jwks_t *keys)
{
    if (keys != NULL)
        atomic_fetch_add_explicit(&keys->refcount, 1, memory_order_relaxed);
    return keys;
}

void mg_jwks_release(mg_jwks_t *keys)
{
    if (keys == NULL || atomic_fetch_sub_explicit(&keys->refcount, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < keys->count; i++) {
        free(keys->keys[i].kid);
        cjose_jwk_release(keys->keys[i].cjose);
        EVP_PKEY_free(keys->keys[i].ed25519);
    }
    for (size_t i = 0; i < keys->ignored_count; i++)
        free(keys->ignored[i].kid);
    free(keys);
}

size_t mg_jwks_count(const mg_jwks_t *keys)
{
    return keys->count;
}

const mg_jwk_t *mg_jwks_key(const mg_jwks_t *keys, size_t i)
{
    assert(i < keys->count);
    return &keys->keys[i];
}

size_t mg_jwks_ignored_count(const mg_jwks_t *keys)
{
    return keys->ignored_count;
}

const mg_jwks_ignored_t *mg_jwks_ignored(const mg_jwks_t *keys, size_t i)
{
    assert(i < keys->ignored_count);
    return &keys->ignored[i];
}

static int verify_with_cjose(const mg_jwk_t *key, const char *token, size_t len)
{
    cjose_err cjose_error;
    cjose_jws_t *jws = cjose_jws_import(token, len, &cjose_error);
    if (jws == NULL)
        return cjose_error.code == CJOSE_ERR_NO_MEMORY ? -1 : 0;
    bool valid = cjose_jws_verify(jws, key->cjose, &cjose_error);
    int rc = valid ? 1 : cjose_error.code == CJOSE_ERR_NO_MEMORY ? -1 : 0;
    cjose_jws_release(jws);
    return rc;
}

static int verify_ed25519(const mg_jwk_t *key, const char *signing_input, size_t signing_input_len,
                          const unsigned char *signature, size_t signature_len)
{
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL)
        return -1;
    int rc = EVP_DigestVerifyInit(context, NULL, NULL, NULL, key->ed25519) == 1 ? 0 : -1;
    if (rc == 0)
        rc = EVP_DigestVerify(context, signature, signature_len, (const unsigned char *)signing_input,
                              signing_input_len) == 1;
    EVP_MD_CTX_free(context);
    return rc;
}

int mg_jwks_verify_signature(const mg_jwk_t *key, mg_jose_alg_t alg, const char *token, size_t len,
                             size_t signing_input_len, const unsigned char *signature, size_t signature_len)
{
    assert((key->algorithms & alg) != 0 && signing_input_len < len);
    /* An exact length: cjose splits an ECDSA signature at its middle whatever its size, and OpenSSL takes
     * an RSA signature shorter than the modulus as a number with leading zeros. */
    if (signature_len != key->signature_bytes)
        return 0;
    int rc = key->ed25519 != NULL ? verify_ed25519(key, token, signing_input_len, signature, signature_len)
                                  : verify_with_cjose(key, token, len);
    ERR_clear_error();
    return rc;
}
