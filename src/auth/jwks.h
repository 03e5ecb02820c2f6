/*
 * jwks.h - an identity provider's published signature keys (a JWK Set, RFC 7517 section 5), parsed
 * once and then shared, read-only, by every worker that verifies tokens against it.
 *
 * A set is immutable after mg_jwks_parse and reference-counted: a worker holds it for as long as a
 * verification runs, and a refresh (off the request path) swaps in a new set while the old one
 * finishes. Nothing in it changes after parsing, so any number of threads may use it at once.
 *
 * What a set holds, and why it holds nothing else:
 *   - RSA keys (2048 to 8192 bits) for RS256/384/512 and PS256/384/512, and EC keys on P-256,
 *     P-384 and P-521 for ES256, ES384 and ES512 respectively: cjose builds and verifies these.
 *   - OKP keys on Ed25519 for EdDSA, which cjose 0.6 does not know: OpenSSL builds and verifies these.
 *   - Each key may verify only the algorithms of its own type and curve, and only its own "alg"
 *     when the JWK names one: an RS256 token is never checked against an EC key, nor an ES256 token
 *     against a P-384 key, whatever the token's header claims.
 * Keys the gateway must not or cannot use are left out and listed (mg_jwks_ignored), as RFC 7517
 * section 5 asks, rather than failing the whole set: symmetric keys ("kty": "oct") always, since a
 * published HMAC secret is no secret; keys whose "use" is not "sig" or whose "key_ops" lack
 * "verify"; keys that carry private members (a provider that publishes "d" has leaked its key);
 * unknown key types and curves; an "alg" that is not an accepted signature algorithm or does not fit
 * the key; values that are not strict base64url of the right length. A set with no usable key
 * at all is an error, so that a refresh that fetched something useless keeps the previous set.
 *
 * Keys without "kid" are kept: see mg_jwt_verify (jwt.h) for how a token finds its key.
 */
#ifndef MG_AUTH_JWKS_H
#define MG_AUTH_JWKS_H

#include <stddef.h>

#include "auth/jose.h"
#include "core/error.h"

#define MG_JWKS_MAX_BYTES (256 * 1024) /* a longer document is refused unread */
#define MG_JWKS_MAX_KEYS 64            /* entries in "keys": more is refused, bounding parse and lookup cost */
#define MG_JWKS_MAX_KID_BYTES 255      /* a longer "kid" makes its key ignored (and a token's, malformed) */
#define MG_JWKS_MIN_RSA_BITS 2048      /* RFC 7518 section 3.3: "2048 bits or larger MUST be used" */
#define MG_JWKS_MAX_RSA_BITS 8192      /* bounds the cost of one verification */

struct _cjose_jwk_int;
struct evp_pkey_st;

/* One usable key. Everything is read-only; the crypto handles are jwks.c's business. */
typedef struct st_mg_jwk_t {
    char *kid;                    /* NULL when the JWK has no "kid" */
    unsigned algorithms;          /* the mg_jose_alg_t this key may verify (never 0) */
    size_t signature_bytes;       /* the exact length of a valid signature (RSA: modulus; EC: 2 x coordinate) */
    const char *kind;             /* "RSA", "EC P-256", "EC P-384", "EC P-521", "OKP Ed25519": for messages */
    size_t index;                 /* position in the document's "keys" */
    struct _cjose_jwk_int *cjose; /* RSA and EC */
    struct evp_pkey_st *ed25519;  /* OKP */
} mg_jwk_t;

/* A key left out, for the log line that follows a fetch. */
typedef struct st_mg_jwks_ignored_t {
    size_t index;       /* position in the document's "keys" */
    char *kid;          /* NULL when absent or not a string */
    const char *reason; /* static: "symmetric keys (kty 'oct') are never used" */
} mg_jwks_ignored_t;

typedef struct st_mg_jwks_t mg_jwks_t;

/* Parses a JWK Set document (JSON text, `len` bytes, no NUL needed). On success *out is a new set
 * (refcount 1) with at least one usable key. Returns -1 and fills err when the document is not a
 * JSON object with a "keys" array of at most MG_JWKS_MAX_KEYS objects (duplicate member names and
 * invalid UTF-8 refused), is longer than MG_JWKS_MAX_BYTES, or leaves no usable key; the message
 * then names the first ignored key and its reason. */
int mg_jwks_parse(const char *json, size_t len, mg_jwks_t **out, mg_error_t *err);

mg_jwks_t *mg_jwks_retain(mg_jwks_t *keys);
void mg_jwks_release(mg_jwks_t *keys); /* NULL is fine */

size_t mg_jwks_count(const mg_jwks_t *keys);
const mg_jwk_t *mg_jwks_key(const mg_jwks_t *keys, size_t i); /* i < mg_jwks_count */
size_t mg_jwks_ignored_count(const mg_jwks_t *keys);
const mg_jwks_ignored_t *mg_jwks_ignored(const mg_jwks_t *keys, size_t i); /* i < mg_jwks_ignored_count */

/* Checks a compact JWS's signature with `key`. `token` is the whole token (`len` bytes) and must
 * already be three strict base64url parts; its first signing_input_len bytes are the signing input
 * (header "." payload), and `signature` (signature_len bytes) is its decoded third part. `alg` must
 * be among key->algorithms. Returns 1 when the signature is valid, 0 when it is not (a wrong length
 * included), -1 when the crypto library failed (out of memory). Leaves OpenSSL's error queue empty. */
int mg_jwks_verify_signature(const mg_jwk_t *key, mg_jose_alg_t alg, const char *token, size_t len,
                             size_t signing_input_len, const unsigned char *signature, size_t signature_len);

#endif
