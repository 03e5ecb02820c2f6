/*
 * jose.h - the JOSE vocabulary the key set (jwks.h) and the token verifier (jwt.h) share: the
 * signature algorithms the gateway accepts, and strict base64url.
 *
 * Only asymmetric algorithms have a value here. "none" and the HMAC family (HS256/384/512) have
 * none at all, so no allow-list, key or configuration can ever name them: the gateway verifies
 * tokens against keys an identity provider publishes, and a published key used as an HMAC secret is
 * the classic algorithm-confusion forgery (RFC 8725 sections 2.1 and 3.1).
 */
#ifndef MG_AUTH_JOSE_H
#define MG_AUTH_JOSE_H

#include <stddef.h>

/* One bit per algorithm, so an allow-list or the algorithms a key may verify are one `unsigned`. */
typedef enum en_mg_jose_alg_t {
    MG_JOSE_RS256 = 1u << 0, /* RSASSA-PKCS1-v1_5, RFC 7518 section 3.3 */
    MG_JOSE_RS384 = 1u << 1,
    MG_JOSE_RS512 = 1u << 2,
    MG_JOSE_PS256 = 1u << 3, /* RSASSA-PSS, salt as long as the hash (RFC 7518 section 3.5) */
    MG_JOSE_PS384 = 1u << 4,
    MG_JOSE_PS512 = 1u << 5,
    MG_JOSE_ES256 = 1u << 6, /* ECDSA on P-256, signature r || s (RFC 7518 section 3.4) */
    MG_JOSE_ES384 = 1u << 7, /* ECDSA on P-384 */
    MG_JOSE_ES512 = 1u << 8, /* ECDSA on P-521 */
    MG_JOSE_EDDSA = 1u << 9, /* Ed25519 (RFC 8037); Ed448 is not supported */
} mg_jose_alg_t;

#define MG_JOSE_ALGS_RSA (MG_JOSE_RS256 | MG_JOSE_RS384 | MG_JOSE_RS512 | MG_JOSE_PS256 | MG_JOSE_PS384 | MG_JOSE_PS512)
#define MG_JOSE_ALGS_ALL (MG_JOSE_ALGS_RSA | MG_JOSE_ES256 | MG_JOSE_ES384 | MG_JOSE_ES512 | MG_JOSE_EDDSA)

/* The JWA name ("RS256", "EdDSA"), or NULL when `alg` is not exactly one algorithm. */
const char *mg_jose_alg_name(mg_jose_alg_t alg);
/* The algorithm the `len` bytes at `name` name, compared exactly (RFC 7515 section 4.1.1: case-sensitive);
 * 0 for any other name, "none" and "HS256" included. */
mg_jose_alg_t mg_jose_alg_parse(const char *name, size_t len);

/* Room mg_jose_base64url_decode needs for `len` characters of text. */
#define MG_JOSE_DECODED_SIZE(len) ((len) / 4 * 3 + 3)

/* Decodes base64url as JWS writes it (RFC 7515 section 2): the 64 URL-safe characters only, no '='
 * padding, no white space, and canonical (the unused low bits of the last character are zero, and a
 * length of 4n+1 characters is refused), so a byte string has exactly one text. Writes at most
 * out_size bytes to `out`; returns 0 and sets *out_len, or -1 and points *why at a static phrase
 * ("padding '=' is not allowed"). */
int mg_jose_base64url_decode(const char *text, size_t len, unsigned char *out, size_t out_size, size_t *out_len,
                             const char **why);

#endif
