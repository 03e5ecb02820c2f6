/*
 * apikeys.c - the key format and everything `mcpgate keys create` needs (see apikeys.h).
 *
 * Why a fast hash. The stored value is BLAKE2b-256 of the key's id and secret. Slow password
 * hashes (Argon2, scrypt) exist because people choose passwords from a small space that an
 * attacker with the hashes can enumerate; they buy time per guess. Here the secret is 256 bits
 * from the system's CSPRNG, which nobody enumerates at any speed, so one fast, preimage-resistant
 * hash is as safe as a slow one, and verification stays cheap enough for every request. The hash
 * is personalised ("mcpgate-apikey1") and covers the id, so a stored value means nothing outside
 * this table and cannot be moved to another row.
 *
 * The parsers here read what a user typed on the command line (and what a client presents, for
 * mg_apikeys_parse): they accept exactly one spelling of each thing and say precisely what they
 * expected otherwise. tests/fuzz/fuzz_apikey.c runs them on arbitrary bytes.
 */
#include "auth/apikeys_internal.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EXPIRY_SECONDS ((int64_t)100 * 366 * 86400)

static const unsigned char hash_personal[crypto_generichash_blake2b_PERSONALBYTES] = "mcpgate-apikey1";

void mg_apikeys_hash(const char id[MG_APIKEY_ID_LEN + 1], const unsigned char secret[MG_APIKEY_SECRET_BYTES],
                     unsigned char hash[MG_STORE_HASH_BYTES])
{
    unsigned char input[MG_APIKEY_ID_LEN + MG_APIKEY_SECRET_BYTES];
    memcpy(input, id, MG_APIKEY_ID_LEN);
    memcpy(input + MG_APIKEY_ID_LEN, secret, MG_APIKEY_SECRET_BYTES);
    crypto_generichash_blake2b_salt_personal(hash, MG_STORE_HASH_BYTES, input, sizeof(input), NULL, 0, NULL,
                                             hash_personal);
    sodium_memzero(input, sizeof(input));
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_base64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int mg_apikeys_parse(const char *presented, size_t len, char id[MG_APIKEY_ID_LEN + 1],
                     unsigned char secret[MG_APIKEY_SECRET_BYTES])
{
    const char *id_text = presented + MG_APIKEY_PREFIX_LEN;
    const char *secret_text = id_text + MG_APIKEY_ID_LEN + 1;
    size_t secret_len = 0;
    if (len != MG_APIKEY_LEN || memcmp(presented, MG_APIKEY_PREFIX, MG_APIKEY_PREFIX_LEN) != 0 ||
        id_text[MG_APIKEY_ID_LEN] != '_')
        return -1;
    for (size_t i = 0; i < MG_APIKEY_ID_LEN; i++) {
        if (!is_lower_hex(id_text[i]))
            return -1;
    }
    /* The alphabet is checked here because libsodium 1.0.18 decodes some bytes above 0x7f (a
     * signed char widened to unsigned) as if they were base64 digits: fuzz_apikey found keys
     * with a second spelling that way. libsodium still refuses a last character with stray low
     * bits, so each secret has exactly one accepted spelling. */
    for (size_t i = 0; i < MG_APIKEY_SECRET_TEXT_LEN; i++) {
        if (!is_base64url(secret_text[i]))
            return -1;
    }
    if (sodium_base642bin(secret, MG_APIKEY_SECRET_BYTES, secret_text, MG_APIKEY_SECRET_TEXT_LEN, NULL, &secret_len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        secret_len != MG_APIKEY_SECRET_BYTES) {
        sodium_memzero(secret, MG_APIKEY_SECRET_BYTES);
        return -1;
    }
    memcpy(id, id_text, MG_APIKEY_ID_LEN);
    id[MG_APIKEY_ID_LEN] = '\0';
    return 0;
}

static bool all_from(const char *text, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (c == '\0' || strchr(extra, c) == NULL))
            return false;
    }
    return true;
}

bool mg_apikeys_name_valid(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len <= MG_APIKEY_NAME_MAX && all_from(name, len, "._-");
}

int mg_apikeys_parse_roles(const char *text, json_t **roles, mg_error_t *err)
{
    *roles = json_array();
    if (*roles == NULL)
        return mg_error_set(err, "out of memory");
    for (const char *start = text;;) {
        const char *comma = strchr(start, ',');
        size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);
        if (len == 0 || len > MG_APIKEY_ROLE_MAX || !all_from(start, len, "._:-")) {
            mg_error_set(err,
                         "roles \"%s\": each role is 1 to %d characters from A-Z a-z 0-9 . _ : -, separated by commas",
                         text, MG_APIKEY_ROLE_MAX);
            goto fail;
        }
        size_t i;
        json_t *seen;
        json_array_foreach(*roles, i, seen)
        {
            if (strlen(json_string_value(seen)) == len && memcmp(json_string_value(seen), start, len) == 0) {
                mg_error_set(err, "roles \"%s\": \"%.*s\" is listed twice", text, (int)len, start);
                goto fail;
            }
        }
        if (json_array_append_new(*roles, json_stringn(start, len)) != 0) {
            mg_error_set(err, "out of memory");
            goto fail;
        }
        if (comma == NULL)
            return 0;
        start = comma + 1;
    }
fail:
    json_decref(*roles);
    *roles = NULL;
    return -1;
}

/* Exactly `count` decimal digits at text[*pos], as a number. */
static bool take_digits(const char *text, size_t *pos, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++, (*pos)++) {
        if (text[*pos] < '0' || text[*pos] > '9')
            return false;
        *value = *value * 10 + (text[*pos] - '0');
    }
    return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ", UTC; a day that does not exist is refused. */
static bool parse_date(const char *text, int64_t *out)
{
    struct tm tm = {0}, check;
    size_t pos = 0, len = strlen(text);
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (len != 10 && len != 20)
        return false;
    if (!take_digits(text, &pos, 4, &year) || text[pos++] != '-' || !take_digits(text, &pos, 2, &month) ||
        text[pos++] != '-' || !take_digits(text, &pos, 2, &day))
        return false;
    if (len == 20 && (text[pos++] != 'T' || !take_digits(text, &pos, 2, &hour) || text[pos++] != ':' ||
                      !take_digits(text, &pos, 2, &minute) || text[pos++] != ':' ||
                      !take_digits(text, &pos, 2, &second) || text[pos++] != 'Z'))
        return false;
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    time_t when = timegm(&tm);
    /* timegm normalises 2027-02-30 into March; the round trip catches it. */
    if (when == (time_t)-1 || gmtime_r(&when, &check) == NULL || check.tm_mday != day || check.tm_mon != month - 1)
        return false;
    *out = (int64_t)when;
    return true;
}

/* "<digits><unit>" with unit m, h, d or w; at most MAX_EXPIRY_SECONDS. */
static int parse_duration(const char *text, int64_t *seconds)
{
    size_t len = strlen(text);
    int64_t value = 0, unit;
    if (len < 2 || len > 12)
        return -1;
    switch (text[len - 1]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return -1;
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0'); /* at most 11 digits: no overflow */
    }
    if (value == 0)
        return -1;
    *seconds = value > MAX_EXPIRY_SECONDS / unit ? MAX_EXPIRY_SECONDS + 1 : value * unit;
    return 0;
}

int mg_apikeys_parse_expiry(const char *text, int64_t now, int64_t *expires_at, mg_error_t *err)
{
    int64_t seconds, when;
    if (parse_duration(text, &seconds) == 0) {
        if (seconds > MAX_EXPIRY_SECONDS)
            return mg_error_set(err, "--expires %s: longer than 100 years", text);
        *expires_at = now + seconds;
        return 0;
    }
    if (!parse_date(text, &when))
        return mg_error_set(err,
                            "--expires \"%s\": expected a duration (45s, 90m, 12h, 30d, 2w) or a UTC date (2027-01-01 or "
                            "2027-01-01T12:00:00Z)",
                            text);
    if (when <= now)
        return mg_error_set(err, "--expires %s: that is not in the future", text);
    if (when - now > MAX_EXPIRY_SECONDS)
        return mg_error_set(err, "--expires %s: more than 100 years from now", text);
    *expires_at = when;
    return 0;
}

int mg_apikeys_create(mg_store_t *store, const char *name, const json_t *roles, int64_t expires_at, int64_t now,
                      char key[MG_APIKEY_LEN + 1], char id[MG_APIKEY_ID_LEN + 1], mg_error_t *err)
{
    unsigned char id_bytes[MG_APIKEY_ID_LEN / 2], secret[MG_APIKEY_SECRET_BYTES];
    char secret_text[MG_APIKEY_SECRET_TEXT_LEN + 1];
    mg_store_key_t row = {.created_at = now, .expires_at = expires_at};
    if (!mg_apikeys_name_valid(name))
        return mg_error_set(err, "name \"%s\": 1 to %d characters from A-Z a-z 0-9 . _ -", name, MG_APIKEY_NAME_MAX);
    if (!json_is_array(roles) || json_array_size(roles) == 0)
        return mg_error_set(err, "a key needs at least one role");
    if (sodium_init() < 0)
        return mg_error_set(err, "libsodium failed to initialize");
    if ((row.roles = json_dumps(roles, JSON_COMPACT)) == NULL)
        return mg_error_set(err, "out of memory");
    randombytes_buf(id_bytes, sizeof(id_bytes));
    randombytes_buf(secret, sizeof(secret));
    sodium_bin2hex(id, MG_APIKEY_ID_LEN + 1, id_bytes, sizeof(id_bytes));
    sodium_bin2base64(secret_text, sizeof(secret_text), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    mg_apikeys_hash(id, secret, row.hash);
    row.id = id;
    row.name = (char *)name; /* only read by the insert */
    int rc = mg_store_key_insert(store, &row, err);
    if (rc == 0)
        snprintf(key, MG_APIKEY_LEN + 1, MG_APIKEY_PREFIX "%s_%s", id, secret_text);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(secret_text, sizeof(secret_text));
    free(row.roles);
    return rc;
}
