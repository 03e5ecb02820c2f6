/*
 * jwt.h - bearer JWT verification: a compact JWS access token, an issuer's rules and its key set
 * (jwks.h) in; a principal (principal.h) or one precise reason for refusal out.
 *
 * The identify stage first calls mg_jwt_peek for the token's unverified "iss" to choose the issuer's
 * rules and key set, then mg_jwt_verify. Verification is strict, in this order, and stops at the
 * first failure:
 *   1. size (rules->max_token_bytes) and shape: exactly three parts (a five-part JWE is refused),
 *      each strict base64url without padding; header and payload JSON objects, duplicate member
 *      names, invalid UTF-8 and \u0000 refused;
 *   2. header: "alg" one of the rules' algorithms ("none" and HS256/384/512 never, whatever the
 *      rules say); "crit" refused, since no extension is understood (RFC 7515 section 4.1.11);
 *      "typ" absent, "JWT", "at+jwt" or "application/at+jwt" (RFC 9068; media types compared without
 *      regard to case, "application/" optional), any other type refused so that a token minted for
 *      another purpose (a logout token, a DPoP proof, a security event) is not taken for an access
 *      token (RFC 8725 section 3.11); "cty" refused (nested JWTs are not accepted); "jwk", "jku",
 *      "x5u" and "x5c" ignored, since keys come only from the configured set;
 *   3. the key: a token with a "kid" is checked only against the set's keys with exactly that kid;
 *      none there is MG_JWT_UNKNOWN_KID (the caller may refresh the set, rate-limited, and retry);
 *      keys with that kid that cannot verify the token's alg (another key type or curve, or a JWK
 *      "alg" that differs) are MG_JWT_KEY_MISMATCH. A token without "kid" is checked against every
 *      key of the set that can verify its alg, with or without a kid, first valid wins: at most
 *      MG_JWKS_MAX_KEYS signature checks, and providers that publish several keys put kids in
 *      their tokens;
 *   4. the signature (MG_JWT_BAD_SIGNATURE), before anything in the payload is read;
 *   5. claims: "iss" equal to rules->issuer byte for byte; "aud" (a string or an array of strings)
 *      holding one of rules->audiences exactly; "exp" required, expired when now > exp + skew;
 *      "nbf", when present, not yet valid when now + skew < nbf; "iat", when present, refused when
 *      iat > now + skew, where skew is rules->clock_skew_s held to 0..MG_JWT_MAX_CLOCK_SKEW_S. Dates
 *      are JSON numbers (fractions allowed); any other type is malformed;
 *   6. the principal: the subject claim must be a non-empty string; groups are an array of strings,
 *      or one string taken as one group (group names may hold spaces, e.g. "/acme/Team A", so it is
 *      not split); scopes are a space-separated string (RFC 8693 section 4.2, RFC 9068) or an array
 *      of strings, read from the rules' claim, or when that is the default "scope" and the token
 *      has none, from "scp" (as Azure AD and Okta send them). A groups or scopes claim of another
 *      shape is malformed, not ignored: a mapping that silently grants nothing is hard to debug.
 *
 * Verification allocates the decoded token (one block) and what jansson and cjose build; all state
 * is on the caller's stack, so any number of threads may verify at once against shared rules and
 * keys. The caller caches verified principals; a miss costs one signature check (tens of
 * microseconds).
 */
#ifndef MG_AUTH_JWT_H
#define MG_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jose.h"
#include "auth/jwks.h"
#include "auth/principal.h"
#include "core/error.h"

#define MG_JWT_DEFAULT_MAX_TOKEN_BYTES 8192 /* a bearer token longer than this is refused before decoding */
#define MG_JWT_MAX_TOKEN_BYTES_LIMIT 65536  /* the largest max_token_bytes the rules may set */
#define MG_JWT_DEFAULT_CLOCK_SKEW_S 60
#define MG_JWT_MAX_CLOCK_SKEW_S 300 /* a larger skew in the rules is used as 300 */
#define MG_JWT_MAX_ISSUER_BYTES 511 /* longer "iss" values cannot be peeked (nor configured) */
#define MG_JWT_MAX_KID_BYTES MG_JWKS_MAX_KID_BYTES

/* One issuer's rules (configuration `auth.jwt[]`); plain data the caller owns and keeps alive while
 * verifying. A field left NULL or 0 takes the default noted, except `algorithms`: 0 allows nothing. */
typedef struct st_mg_jwt_rules_t {
    const char *issuer;           /* required: "iss" must equal it byte for byte */
    const char *const *audiences; /* "aud" must hold one of these exactly; none configured: every token is refused */
    size_t audiences_len;
    unsigned algorithms;       /* mask of mg_jose_alg_t; mg_jwt_rules_init sets MG_JOSE_ALGS_ALL */
    const char *subject_claim; /* NULL: "sub" */
    const char *groups_claim;  /* NULL: "groups" */
    const char *scopes_claim;  /* NULL: "scope", and "scp" when the token has no "scope" */
    int clock_skew_s;          /* tolerance for exp, nbf and iat; used as 0..MG_JWT_MAX_CLOCK_SKEW_S */
    size_t max_token_bytes;    /* 0: MG_JWT_DEFAULT_MAX_TOKEN_BYTES */
} mg_jwt_rules_t;

/* Every default: all algorithms, the default claim names, 60 s skew, 8 KiB tokens; no issuer, no audience. */
void mg_jwt_rules_init(mg_jwt_rules_t *rules);
/* For configuration loading: fails with a message naming the field when the issuer is missing, empty
 * or longer than MG_JWT_MAX_ISSUER_BYTES, no audience is given (or one is empty), no algorithm is
 * allowed, the skew is negative or above MG_JWT_MAX_CLOCK_SKEW_S, a claim name is empty, or
 * max_token_bytes exceeds MG_JWT_MAX_TOKEN_BYTES_LIMIT. */
int mg_jwt_rules_validate(const mg_jwt_rules_t *rules, mg_error_t *err);

/* Why a token was refused. Every code maps to HTTP 401 with error="invalid_token" (RFC 6750 section
 * 3.1) except MG_JWT_INTERNAL, which is the gateway's fault (500). */
typedef enum en_mg_jwt_failure_code_t {
    MG_JWT_OK = 0,
    MG_JWT_TOO_LARGE,        /* longer than the rules' max_token_bytes */
    MG_JWT_MALFORMED,        /* not three strict base64url parts of JSON objects; a member of the wrong type */
    MG_JWT_ALG_NOT_ALLOWED,  /* "alg" missing, "none", HMAC, unknown, or not among the rules' algorithms */
    MG_JWT_CRIT_UNSUPPORTED, /* a "crit" header: an extension the gateway does not understand */
    MG_JWT_TYPE_NOT_ALLOWED, /* "typ" other than JWT / at+jwt, or a "cty" */
    MG_JWT_UNKNOWN_KID,      /* no key in the set has the token's kid (or none verifies its alg, without kid) */
    MG_JWT_KEY_MISMATCH,     /* the kid names a key that cannot verify the token's alg, or one the set ignored */
    MG_JWT_BAD_SIGNATURE,    /* the signature does not verify (a changed header or payload included) */
    MG_JWT_WRONG_ISSUER,     /* "iss" is not the rules' issuer */
    MG_JWT_WRONG_AUDIENCE,   /* "aud" holds none of the rules' audiences */
    MG_JWT_EXPIRED,          /* now > exp + skew */
    MG_JWT_NOT_YET_VALID,    /* now + skew < nbf */
    MG_JWT_ISSUED_IN_FUTURE, /* iat > now + skew */
    MG_JWT_MISSING_CLAIM,    /* no "iss", "aud" or "exp", or the subject claim absent or empty */
    MG_JWT_INTERNAL,         /* out of memory, or the crypto library failed */
} mg_jwt_failure_code_t;

typedef struct st_mg_jwt_failure_t {
    mg_jwt_failure_code_t code;
    /* Precise and short ("the token expired at 1767225600, 120 s ago (60 s of skew allowed)"). Values
     * taken from the token are cut to 64 bytes; '"' is written as '\'', and '\' and every byte outside
     * printable ASCII as '?', so the text can go into logs and a WWW-Authenticate error_description
     * as it is. */
    char message[256];
} mg_jwt_failure_t;

/* "ok", "token_too_large", "malformed", "alg_not_allowed", ...: stable names for logs and metrics. */
const char *mg_jwt_failure_name(mg_jwt_failure_code_t code);

/* What a token says about itself before anything is verified, to choose rules and keys by. */
typedef struct st_mg_jwt_peek_t {
    char issuer[MG_JWT_MAX_ISSUER_BYTES + 1]; /* the payload's "iss" */
    char kid[MG_JWT_MAX_KID_BYTES + 1];       /* "" when has_kid is false */
    bool has_kid;
    char alg[16]; /* the header's "alg", whatever it is (cut to 15 bytes): for logs only */
} mg_jwt_peek_t;

/* Reads a token's unverified "iss", "kid" and "alg". Safe on any input: applies step 1 above (with
 * max_token_bytes, 0 for the default) and requires "alg" and "iss" to be strings and "kid", when
 * present, a string of at most MG_JWT_MAX_KID_BYTES; "iss" longer than MG_JWT_MAX_ISSUER_BYTES is
 * refused, never cut. Returns 0, or -1 and fills *failure. NOTHING here is trusted: use it only to
 * choose which rules and keys mg_jwt_verify gets. */
int mg_jwt_peek(const char *token, size_t len, size_t max_token_bytes, mg_jwt_peek_t *out, mg_jwt_failure_t *failure);

/* Verifies `token` (`len` bytes; no NUL needed) at time `now` (Unix seconds) as described above.
 * `keys` may be NULL while the issuer's set has not been fetched: a token that passes the header
 * checks is then MG_JWT_UNKNOWN_KID, which asks for a fetch. On success returns 0 and sets *out to a
 * new principal (refcount 1, method MG_AUTH_JWT, issuer the rules' issuer, expires_at the "exp"
 * rounded down) that the caller releases, and failure->code to MG_JWT_OK. On failure returns -1,
 * sets *out to NULL and fills *failure. */
int mg_jwt_verify(const mg_jwt_rules_t *rules, const mg_jwks_t *keys, const char *token, size_t len, int64_t now,
                  mg_principal_t **out, mg_jwt_failure_t *failure);

#endif
