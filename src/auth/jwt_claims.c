/*
 * jwt_claims.c - a verified token's claims against an issuer's rules (jwt.h steps 5 and 6), and the
 * principal they make.
 *
 * Dates are compared as doubles: NumericDate may have a fraction (RFC 7519 section 2), every whole
 * second up to 2^53 is exact, and nothing can overflow, whatever a token says.
 */
#include "auth/jwt_internal.h"

#include <math.h>
#include <string.h>

static int64_t whole_seconds(double date)
{
    if (date >= 9.2e18)
        return INT64_MAX;
    if (date <= -9.2e18)
        return INT64_MIN;
    return (int64_t)floor(date);
}

static int check_issuer(const mg_jwt_rules_t *rules, const json_t *payload, mg_jwt_failure_t *failure)
{
    const json_t *issuer = json_object_get(payload, "iss");
    if (issuer == NULL)
        return mg_jwt_fail(failure, MG_JWT_MISSING_CLAIM, "the token has no 'iss'");
    if (!json_is_string(issuer))
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's 'iss' is not a string");
    if (json_string_length(issuer) != strlen(rules->issuer) ||
        memcmp(json_string_value(issuer), rules->issuer, json_string_length(issuer)) != 0)
        return mg_jwt_fail(failure, MG_JWT_WRONG_ISSUER, "iss '%.64s' is not the issuer '%.64s'",
                           json_string_value(issuer), rules->issuer);
    return 0;
}

static bool is_audience(const mg_jwt_rules_t *rules, const json_t *value)
{
    for (size_t i = 0; i < rules->audiences_len; i++)
        if (json_string_length(value) == strlen(rules->audiences[i]) &&
            memcmp(json_string_value(value), rules->audiences[i], json_string_length(value)) == 0)
            return true;
    return false;
}

static int check_audience(const mg_jwt_rules_t *rules, const json_t *payload, mg_jwt_failure_t *failure)
{
    const json_t *audience = json_object_get(payload, "aud");
    if (audience == NULL)
        return mg_jwt_fail(failure, MG_JWT_MISSING_CLAIM, "the token has no 'aud'");
    if (json_is_string(audience)) {
        if (is_audience(rules, audience))
            return 0;
        return mg_jwt_fail(failure, MG_JWT_WRONG_AUDIENCE, "aud '%.64s' is not an audience of this gateway",
                           json_string_value(audience));
    }
    if (!json_is_array(audience))
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's 'aud' is neither a string nor an array");
    size_t i;
    const json_t *value;
    bool found = false;
    json_array_foreach(audience, i, value)
    {
        if (!json_is_string(value))
            return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's 'aud' holds a value that is not a string");
        found = found || is_audience(rules, value);
    }
    if (!found)
        return mg_jwt_fail(failure, MG_JWT_WRONG_AUDIENCE,
                           "none of the %zu values of 'aud' is an audience of this "
                           "gateway",
                           json_array_size(audience));
    return 0;
}

/* Reads the NumericDate `name`: 0 and *date set, 1 when absent, -1 (failure filled) when not a number. */
static int get_date(const json_t *payload, const char *name, double *date, mg_jwt_failure_t *failure)
{
    const json_t *value = json_object_get(payload, name);
    if (value == NULL)
        return 1;
    if (!json_is_number(value))
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's '%s' is not a number", name);
    *date = json_number_value(value);
    return 0;
}

static int check_dates(const json_t *payload, int skew, int64_t now, double *expiry, mg_jwt_failure_t *failure)
{
    double date = 0;
    int rc = get_date(payload, "exp", expiry, failure);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return mg_jwt_fail(failure, MG_JWT_MISSING_CLAIM, "the token has no 'exp'");
    if ((double)now > *expiry + skew)
        return mg_jwt_fail(failure, MG_JWT_EXPIRED, "the token expired at %lld, %lld s ago (%d s of skew allowed)",
                           (long long)whole_seconds(*expiry), (long long)whole_seconds((double)now - *expiry), skew);
    if ((rc = get_date(payload, "nbf", &date, failure)) < 0)
        return -1;
    if (rc == 0 && (double)now + skew < date)
        return mg_jwt_fail(failure, MG_JWT_NOT_YET_VALID,
                           "the token is not valid before %lld, %lld s from now (%d s of skew allowed)",
                           (long long)whole_seconds(date), (long long)whole_seconds(date - (double)now), skew);
    if ((rc = get_date(payload, "iat", &date, failure)) < 0)
        return -1;
    if (rc == 0 && date > (double)now + skew)
        return mg_jwt_fail(failure, MG_JWT_ISSUED_IN_FUTURE,
                           "the token was issued at %lld, %lld s from now (%d s of skew allowed)",
                           (long long)whole_seconds(date), (long long)whole_seconds(date - (double)now), skew);
    return 0;
}

/* Appends the strings of a claim to `list`: each value of an array, or a string whole or split at spaces. */
static int append_strings(json_t *list, const json_t *claim, const char *name, bool split, mg_jwt_failure_t *failure)
{
    if (claim == NULL)
        return 0;
    if (json_is_string(claim) && !split)
        return json_array_append(list, (json_t *)claim) == 0 ? 0
                                                             : mg_jwt_fail(failure, MG_JWT_INTERNAL, "out of memory");
    if (json_is_string(claim)) {
        const char *text = json_string_value(claim), *end = text + json_string_length(claim);
        while (text < end) {
            const char *space = memchr(text, ' ', (size_t)(end - text));
            size_t word = space != NULL ? (size_t)(space - text) : (size_t)(end - text);
            if (word > 0 && json_array_append_new(list, json_stringn(text, word)) != 0)
                return mg_jwt_fail(failure, MG_JWT_INTERNAL, "out of memory");
            text += word + 1;
        }
        return 0;
    }
    if (!json_is_array(claim))
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's '%.64s' is neither a string nor an array", name);
    size_t i;
    json_t *value;
    json_array_foreach(claim, i, value)
    {
        if (!json_is_string(value))
            return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's '%.64s' holds a value that is not a string",
                               name);
        if (json_array_append(list, value) != 0)
            return mg_jwt_fail(failure, MG_JWT_INTERNAL, "out of memory");
    }
    return 0;
}

static int make_principal(const mg_jwt_rules_t *rules, const json_t *payload, double expiry, mg_principal_t **out,
                          mg_jwt_failure_t *failure)
{
    const char *subject_claim = rules->subject_claim != NULL ? rules->subject_claim : "sub";
    const json_t *subject = json_object_get(payload, subject_claim);
    if (subject == NULL)
        return mg_jwt_fail(failure, MG_JWT_MISSING_CLAIM, "the token has no '%.64s'", subject_claim);
    if (!json_is_string(subject))
        return mg_jwt_fail(failure, MG_JWT_MALFORMED, "the token's '%.64s' is not a string", subject_claim);
    if (json_string_length(subject) == 0)
        return mg_jwt_fail(failure, MG_JWT_MISSING_CLAIM, "the token's '%.64s' is empty", subject_claim);

    const char *groups_claim = rules->groups_claim != NULL ? rules->groups_claim : "groups";
    const char *scopes_claim = rules->scopes_claim != NULL ? rules->scopes_claim : "scope";
    const json_t *scopes = json_object_get(payload, scopes_claim);
    if (scopes == NULL && strcmp(scopes_claim, "scope") == 0 && (scopes = json_object_get(payload, "scp")) != NULL)
        scopes_claim = "scp";

    mg_principal_t *principal = mg_principal_create(MG_AUTH_JWT, json_string_value(subject), rules->issuer, NULL);
    if (principal == NULL)
        return mg_jwt_fail(failure, MG_JWT_INTERNAL, "out of memory");
    principal->expires_at = whole_seconds(expiry);
    /* a copy of its own: the payload's values are shared with the verifier, and jansson's reference counts
     * are not atomic, while a principal is read by every worker */
    if ((principal->claims = json_deep_copy(payload)) == NULL) {
        mg_principal_release(principal);
        return mg_jwt_fail(failure, MG_JWT_INTERNAL, "out of memory");
    }
    if (append_strings(principal->groups, json_object_get(payload, groups_claim), groups_claim, false, failure) != 0 ||
        append_strings(principal->scopes, scopes, scopes_claim, true, failure) != 0) {
        mg_principal_release(principal);
        return -1;
    }
    *out = principal;
    return 0;
}

int mg_jwt_claims_check(const mg_jwt_rules_t *rules, const json_t *payload, int64_t now, mg_principal_t **out,
                        mg_jwt_failure_t *failure)
{
    int skew = rules->clock_skew_s < 0                         ? 0
               : rules->clock_skew_s > MG_JWT_MAX_CLOCK_SKEW_S ? MG_JWT_MAX_CLOCK_SKEW_S
                                                               : rules->clock_skew_s;
    double expiry = 0;
    if (check_issuer(rules, payload, failure) != 0 || check_audience(rules, payload, failure) != 0 ||
        check_dates(payload, skew, now, &expiry, failure) != 0)
        return -1;
    return make_principal(rules, payload, expiry, out, failure);
}
