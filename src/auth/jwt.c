/* jwt.c - see jwt.h. The token's shape, its header and its key; the claims are in jwt_claims.c. */
#include "auth/jwt.h"

#include "auth/jwt_internal.h"
#include "mcp/jsonrpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const failure_names[] = {
    [MG_JWT_OK] = "ok",
    [MG_JWT_TOO_LARGE] = "token_too_large",
    [MG_JWT_MALFORMED] = "malformed",
    [MG_JWT_ALG_NOT_ALLOWED] = "alg_not_allowed",
    [MG_JWT_CRIT_UNSUPPORTED] = "crit_unsupported",
    [MG_JWT_TYPE_NOT_ALLOWED] = "type_not_allowed",
    [MG_JWT_UNKNOWN_KID] = "unknown_kid",
    [MG_JWT_KEY_MISMATCH] = "key_mismatch",
    [MG_JWT_BAD_SIGNATURE] = "bad_signature",
    [MG_JWT_WRONG_ISSUER] = "wrong_issuer",
    [MG_JWT_WRONG_AUDIENCE] = "wrong_audience",
    [MG_JWT_EXPIRED] = "expired",
    [MG_JWT_NOT_YET_VALID] = "not_yet_valid",
    [MG_JWT_ISSUED_IN_FUTURE] = "issued_in_future",
    [MG_JWT_MISSING_CLAIM] = "missing_claim",
    [MG_JWT_INTERNAL] = "internal",
};

const char *mg_jwt_failure_name(mg_jwt_failure_code_t code)
{
    if ((size_t)code < sizeof(failure_names) / sizeof(failure_names[0]) && failure_names[code] != NULL)
        return failure_names[code];
    return "unknown";
}

int mg_jwt_fail(mg_jwt_failure_t *failure, mg_jwt_failure_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure->message, sizeof(failure->message), fmt, ap);
    va_end(ap);
    /* RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E. Values from the token are in
     * the text, and jansson quotes what it quotes with '"'. */
    for (char *c = failure->message; *c != '\0'; c++) {
        if (*c == '"')
            *c = '\'';
        else if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '\\')
            *c = '?';
    }
    failure->code = code;
    return -1;
}

void mg_jwt_rules_init(mg_jwt_rules_t *rules)
{
    memset(rules, 0, sizeof(*rules));
    rules->algorithms = MG_JOSE_ALGS_ALL;
    rules->subject_claim = "sub";
    rules->groups_claim = "groups";
    rules->scopes_claim = "scope";
    rules->clock_skew_s = MG_JWT_DEFAULT_CLOCK_SKEW_S;
    rules->max_token_bytes = MG_JWT_DEFAULT_MAX_TOKEN_BYTES;
}

int mg_jwt_rules_validate(const mg_jwt_rules_t *rules, mg_error_t *err)
{
    if (rules->issuer == NULL || rules->issuer[0] == '\0')
        return mg_error_set(err, "jwt: issuer is required");
    if (strlen(rules->issuer) > MG_JWT_MAX_ISSUER_BYTES)
        return mg_error_set(err, "jwt: issuer is longer than %d bytes", MG_JWT_MAX_ISSUER_BYTES);
    if (rules->audiences_len == 0)
        return mg_error_set(err, "jwt: issuer %s: audiences must list at least one audience", rules->issuer);
    for (size_t i = 0; i < rules->audiences_len; i++)
        if (rules->audiences[i] == NULL || rules->audiences[i][0] == '\0')
            return mg_error_set(err, "jwt: issuer %s: audiences[%zu] is empty", rules->issuer, i);
    if ((rules->algorithms & MG_JOSE_ALGS_ALL) == 0 || (rules->algorithms & ~(unsigned)MG_JOSE_ALGS_ALL) != 0)
        return mg_error_set(err,
                            "jwt: issuer %s: algorithms must list RS256, RS384, RS512, PS256, PS384, PS512, "
                            "ES256, ES384, ES512 or EdDSA, and nothing else",
                            rules->issuer);
    if (rules->clock_skew_s < 0 || rules->clock_skew_s > MG_JWT_MAX_CLOCK_SKEW_S)
        return mg_error_set(err, "jwt: issuer %s: clock_skew_s must be between 0 and %d", rules->issuer,
                            MG_JWT_MAX_CLOCK_SKEW_S);
    const char *const claims[] = {rules->subject_claim, rules->groups_claim, rules->scopes_claim};
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
        if (claims[i] != NULL && claims[i][0] == '\0')
            return mg_error_set(err, "jwt: issuer %s: claim names must not be empty", rules->issuer);
    if (rules->max_token_bytes > MG_JWT_MAX_TOKEN_BYTES_LIMIT)
        return mg_error_set(err, "jwt: issuer %s: max_token_bytes must be at most %d", rules->issuer,
                            MG_JWT_MAX_TOKEN_BYTES_LIMIT);
    return 0;
}

static int decode_part(const char *text, size_t len, const char *name, unsigned char **cursor, size_t *out_len,
                       mg_jwt_failure_t *failure)
{
    const char *why;
    if (mg_jose_base64url_decode(text, len, *cursor, MG_JOSE_DECODED_SIZE(len), out_len, &why) != 0)
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the %s is not base64url: %s", name, why);
    *cursor += *out_len;
    return 0;
}

static json_t *parse_object(const unsigned char *text, size_t len, const char *name, mg_jwt_failure_t *failure)
{
    json_error_t error;
    json_t *value = mg_json_loadb((const char *)text, len, MG_JSON_DECODE_FLAGS, &error);
    if (value == NULL) {
        mg_jwt_fail(failure, MG_JWT_MALFORMED, "the %s is not JSON: %s", name, error.text);
    } else if (!json_is_object(value)) {
        json_decref(value);
        value = NULL;
        mg_jwt_fail(failure, MG_JWT_MALFORMED, "the %s is not a JSON object", name);
    }
    return value;
}

int mg_jwt_token_parse(mg_jwt_token_t *token, const char *text, size_t len, size_t max_token_bytes,
                       mg_jwt_failure_t *failure)
{
    memset(token, 0, sizeof(*token));
    token->text = text;
    token->len = len;
    if (max_token_bytes == 0)
        max_token_bytes = MG_JWT_DEFAULT_MAX_TOKEN_BYTES;
    if (len > max_token_bytes)
        return mg_jwt_fail(failure, MG_JWT_TOO_LARGE, "the token is %zu bytes; at most %zu are accepted", len,
                           max_token_bytes);
    size_t dots = 0, first_dot = 0, second_dot = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '.')
            continue;
        if (++dots == 1)
            first_dot = i;
        else if (dots == 2)
            second_dot = i;
    }
    if (dots == 4)
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "5 parts: an encrypted token (JWE) is not accepted");
    if (dots != 2)
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "%zu part%s; a compact JWS has 3", dots + 1,
                           dots == 0 ? "" : "s");
    if (first_dot == 0)
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header is empty");
    token->signing_input_len = second_dot;

    /* One block holds the three decoded parts, one after the other. */
    token->decoded = malloc(MG_JOSE_DECODED_SIZE(first_dot) + MG_JOSE_DECODED_SIZE(second_dot - first_dot - 1) +
                            MG_JOSE_DECODED_SIZE(len - second_dot - 1));
    if (token->decoded == NULL)
        return mg_jwt_fail(failure, MG_JWT_INTERNAL, "out of memory");
    unsigned char *cursor = token->decoded;
    token->header = cursor;
    if (decode_part(text, first_dot, "header", &cursor, &token->header_len, failure) != 0)
        return -1;
    token->payload = cursor;
    if (decode_part(text + first_dot + 1, second_dot - first_dot - 1, "payload", &cursor, &token->payload_len,
                    failure) != 0)
        return -1;
    token->signature = cursor;
    if (decode_part(text + second_dot + 1, len - second_dot - 1, "signature", &cursor, &token->signature_len,
                    failure) != 0)
        return -1;
    token->header_json = parse_object(token->header, token->header_len, "header", failure);
    return token->header_json == NULL ? -1 : 0;
}

int mg_jwt_token_parse_payload(mg_jwt_token_t *token, mg_jwt_failure_t *failure)
{
    token->payload_json = parse_object(token->payload, token->payload_len, "payload", failure);
    return token->payload_json == NULL ? -1 : 0;
}

void mg_jwt_token_dispose(mg_jwt_token_t *token)
{
    json_decref(token->header_json);
    json_decref(token->payload_json);
    free(token->decoded);
    memset(token, 0, sizeof(*token));
}

/* "alg", "crit", "typ", "cty" and "kid", as jwt.h describes. */
static int check_header(const mg_jwt_token_t *token, unsigned allowed, mg_jose_alg_t *alg, const char **kid,
                        size_t *kid_len, mg_jwt_failure_t *failure)
{
    const json_t *member = json_object_get(token->header_json, "alg");
    if (member == NULL)
        return mg_jwt_fail(failure, MG_JWT_ALG_NOT_ALLOWED, "the header has no 'alg'");
    if (!json_is_string(member))
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header's 'alg' is not a string");
    const char *name = json_string_value(member);
    *alg = mg_jose_alg_parse(name, json_string_length(member));
    if (strcmp(name, "none") == 0)
        return mg_jwt_fail(failure, MG_JWT_ALG_NOT_ALLOWED, "alg 'none' (an unsigned token) is never accepted");
    if (strcmp(name, "HS256") == 0 || strcmp(name, "HS384") == 0 || strcmp(name, "HS512") == 0)
        return mg_jwt_fail(failure, MG_JWT_ALG_NOT_ALLOWED,
                           "alg '%s' (HMAC) is never accepted: a published key is no secret", name);
    if (*alg == 0)
        return mg_jwt_fail(failure, MG_JWT_ALG_NOT_ALLOWED, "alg '%.64s' is not a supported signature algorithm", name);
    if ((*alg & allowed) == 0)
        return mg_jwt_fail(failure, MG_JWT_ALG_NOT_ALLOWED, "alg '%s' is not among the issuer's algorithms", name);

    if ((member = json_object_get(token->header_json, "crit")) != NULL) {
        if (!json_is_array(member) || json_array_size(member) == 0)
            return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header's 'crit' is not a non-empty array");
        const char *first = json_string_value(json_array_get(member, 0));
        return mg_jwt_fail(failure, MG_JWT_CRIT_UNSUPPORTED,
                           "the header's 'crit' requires '%.64s', an extension the gateway does not understand",
                           first != NULL ? first : "?");
    }
    if ((member = json_object_get(token->header_json, "typ")) != NULL) {
        if (!json_is_string(member))
            return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header's 'typ' is not a string");
        const char *type = json_string_value(member);
        if (strncasecmp(type, "application/", 12) == 0)
            type += 12;
        if (strcasecmp(type, "JWT") != 0 && strcasecmp(type, "at+jwt") != 0)
            return mg_jwt_fail(failure, MG_JWT_TYPE_NOT_ALLOWED, "typ '%.64s' is not an access token's (JWT or at+jwt)",
                               json_string_value(member));
    }
    if (json_object_get(token->header_json, "cty") != NULL)
        return mg_jwt_fail(failure, MG_JWT_TYPE_NOT_ALLOWED,
                           "the header has a 'cty': nested tokens and other content are not accepted");
    *kid = NULL;
    *kid_len = 0;
    if ((member = json_object_get(token->header_json, "kid")) != NULL) {
        if (!json_is_string(member))
            return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header's 'kid' is not a string");
        if (json_string_length(member) > MG_JWT_MAX_KID_BYTES)
            return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header's 'kid' is longer than %d bytes",
                               MG_JWT_MAX_KID_BYTES);
        *kid = json_string_value(member);
        *kid_len = json_string_length(member);
    }
    return 0;
}

static bool same_kid(const char *key_kid, const char *kid, size_t kid_len)
{
    return key_kid != NULL && strlen(key_kid) == kid_len && memcmp(key_kid, kid, kid_len) == 0;
}

/* "RS256", or "RS256..PS512" for a key that may verify several algorithms. */
static const char *key_algorithms(const mg_jwk_t *key)
{
    const char *single = mg_jose_alg_name(key->algorithms);
    return single != NULL ? single : "RS256..PS512";
}

/* Why the kid names no key that can verify alg: a key of another type or alg, a key the set ignored, or none. */
static int no_key(const mg_jwks_t *keys, const mg_jwk_t *mismatched, mg_jose_alg_t alg, const char *kid, size_t kid_len,
                  mg_jwt_failure_t *failure)
{
    const char *alg_name = mg_jose_alg_name(alg);
    if (kid == NULL)
        return mg_jwt_fail(failure, MG_JWT_UNKNOWN_KID, "the token has no 'kid' and no key in the set verifies %s",
                           alg_name);
    if (mismatched != NULL)
        return mg_jwt_fail(failure, MG_JWT_KEY_MISMATCH, "key '%.64s' (%s, %s) cannot verify %s", kid, mismatched->kind,
                           key_algorithms(mismatched), alg_name);
    for (size_t i = 0; i < mg_jwks_ignored_count(keys); i++) {
        const mg_jwks_ignored_t *ignored = mg_jwks_ignored(keys, i);
        if (same_kid(ignored->kid, kid, kid_len))
            return mg_jwt_fail(failure, MG_JWT_KEY_MISMATCH, "key '%.64s' of the set is not used: %s", kid,
                               ignored->reason);
    }
    return mg_jwt_fail(failure, MG_JWT_UNKNOWN_KID, "no key with kid '%.64s' in the issuer's key set", kid);
}

/* Step 3 and 4 of jwt.h: the token's key, and its signature. */
static int check_signature(const mg_jwks_t *keys, const mg_jwt_token_t *token, mg_jose_alg_t alg, const char *kid,
                           size_t kid_len, mg_jwt_failure_t *failure)
{
    const mg_jwk_t *mismatched = NULL, *tried = NULL;
    size_t tried_count = 0;
    if (keys == NULL)
        return mg_jwt_fail(failure, MG_JWT_UNKNOWN_KID, "the issuer's key set has not been fetched yet");
    for (size_t i = 0; i < mg_jwks_count(keys); i++) {
        const mg_jwk_t *key = mg_jwks_key(keys, i);
        if (kid != NULL && !same_kid(key->kid, kid, kid_len))
            continue;
        if ((key->algorithms & alg) == 0) {
            mismatched = key;
            continue;
        }
        tried = key;
        tried_count++;
        int rc = mg_jwks_verify_signature(key, alg, token->text, token->len, token->signing_input_len, token->signature,
                                          token->signature_len);
        if (rc == 1)
            return 0;
        if (rc < 0)
            return mg_jwt_fail(failure, MG_JWT_INTERNAL, "the crypto library failed while checking the signature");
    }
    if (tried == NULL)
        return no_key(keys, mismatched, alg, kid, kid_len, failure);
    if (tried_count > 1)
        return mg_jwt_fail(failure, MG_JWT_BAD_SIGNATURE, "the signature verifies with none of the %zu %s keys",
                           tried_count, mg_jose_alg_name(alg));
    if (token->signature_len != tried->signature_bytes)
        return mg_jwt_fail(failure, MG_JWT_BAD_SIGNATURE, "the signature is %zu bytes; %s with this key makes %zu",
                           token->signature_len, mg_jose_alg_name(alg), tried->signature_bytes);
    return mg_jwt_fail(failure, MG_JWT_BAD_SIGNATURE, "the signature does not verify with key '%.64s'",
                       tried->kid != NULL ? tried->kid : "(no kid)");
}

int mg_jwt_verify(const mg_jwt_rules_t *rules, const mg_jwks_t *keys, const char *text, size_t len, int64_t now,
                  mg_principal_t **out, mg_jwt_failure_t *failure)
{
    *out = NULL;
    if (rules->issuer == NULL)
        return mg_jwt_fail(failure, MG_JWT_INTERNAL, "the issuer's rules have no issuer");
    mg_jwt_token_t token;
    mg_jose_alg_t alg = 0;
    const char *kid = NULL;
    size_t kid_len = 0;
    int rc = mg_jwt_token_parse(&token, text, len, rules->max_token_bytes, failure);
    if (rc == 0)
        rc = check_header(&token, rules->algorithms, &alg, &kid, &kid_len, failure);
    if (rc == 0)
        rc = check_signature(keys, &token, alg, kid, kid_len, failure);
    if (rc == 0)
        rc = mg_jwt_token_parse_payload(&token, failure);
    if (rc == 0)
        rc = mg_jwt_claims_check(rules, token.payload_json, now, out, failure);
    mg_jwt_token_dispose(&token);
    if (rc == 0) {
        failure->code = MG_JWT_OK;
        failure->message[0] = '\0';
    }
    return rc;
}

int mg_jwt_peek(const char *text, size_t len, size_t max_token_bytes, mg_jwt_peek_t *out, mg_jwt_failure_t *failure)
{
    memset(out, 0, sizeof(*out));
    mg_jwt_token_t token;
    int rc = mg_jwt_token_parse(&token, text, len, max_token_bytes, failure);
    const json_t *alg = rc == 0 ? json_object_get(token.header_json, "alg") : NULL;
    const json_t *kid = rc == 0 ? json_object_get(token.header_json, "kid") : NULL;
    if (rc == 0 && !json_is_string(alg))
        rc = mg_jwt_fail(failure, alg == NULL ? MG_JWT_ALG_NOT_ALLOWED : MG_JWT_MALFORMED,
                         "the header's 'alg' is missing or not a string");
    if (rc == 0 && kid != NULL && (!json_is_string(kid) || json_string_length(kid) > MG_JWT_MAX_KID_BYTES))
        rc = mg_jwt_fail(failure, MG_JWT_MALFORMED, "the header's 'kid' is not a string of at most %d bytes",
                         MG_JWT_MAX_KID_BYTES);
    if (rc == 0)
        rc = mg_jwt_token_parse_payload(&token, failure);
    const json_t *issuer = rc == 0 ? json_object_get(token.payload_json, "iss") : NULL;
    if (rc == 0 && issuer == NULL)
        rc = mg_jwt_fail(failure, MG_JWT_MISSING_CLAIM, "the token has no 'iss'");
    if (rc == 0 && (!json_is_string(issuer) || json_string_length(issuer) > MG_JWT_MAX_ISSUER_BYTES))
        rc = mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's 'iss' is not a string of at most %d bytes",
                         MG_JWT_MAX_ISSUER_BYTES);
    if (rc == 0) {
        snprintf(out->alg, sizeof(out->alg), "%s", json_string_value(alg));
        memcpy(out->issuer, json_string_value(issuer), json_string_length(issuer) + 1);
        if ((out->has_kid = kid != NULL))
            memcpy(out->kid, json_string_value(kid), json_string_length(kid) + 1);
        failure->code = MG_JWT_OK;
        failure->message[0] = '\0';
    }
    mg_jwt_token_dispose(&token);
    return rc;
}
