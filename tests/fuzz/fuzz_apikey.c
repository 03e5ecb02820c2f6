/*
 * fuzz_apikey.c - libFuzzer target for what `mcpgate` parses of API keys: the key a client
 * presents (mg_apikeys_parse, mg_apikeys_verify) and the arguments of `keys create` (--expires,
 * --roles).
 *
 * The first byte of an input picks what the rest is:
 *   0  a presented key, verified against a table of three keys (active, revoked, expired) that
 *      share one secret: only the exact text of a known key may verify, and whatever parses must
 *      be its own one canonical spelling;
 *   1  the same, but as edits (position, byte pairs) applied to one of the three keys' text, so
 *      that the fuzzer spends its time next to valid keys instead of on random prefixes;
 *   2  an --expires value: accepted ones lie in the future and within 100 years;
 *   3  a --roles list: accepted ones join back to the input.
 * Anything else is ignored. Nothing may crash, leak, or break these properties.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/apikeys_internal.h"

#define NOW 1800000000

static const char *const ids[] = {"0123456789abcdef", "1111111111111111", "2222222222222222"};
static char keys[3][MG_APIKEY_LEN + 1];
static mg_apikeys_table_t *table;

static void build_table(void)
{
    unsigned char secret[MG_APIKEY_SECRET_BYTES];
    char secret_text[MG_APIKEY_SECRET_TEXT_LEN + 1];
    mg_store_key_t rows[3];
    if (sodium_init() < 0)
        abort();
    memset(secret, 0x42, sizeof(secret));
    sodium_bin2base64(secret_text, sizeof(secret_text), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    for (int i = 0; i < 3; i++) {
        rows[i] = (mg_store_key_t){.id = (char *)ids[i],
                                   .name = "fuzz",
                                   .roles = "[\"developer\"]",
                                   .created_at = NOW - 100,
                                   .expires_at = i == 2 ? NOW - 1 : 0,
                                   .revoked_at = i == 1 ? NOW - 1 : 0};
        mg_apikeys_hash(ids[i], secret, rows[i].hash);
        snprintf(keys[i], sizeof(keys[i]), MG_APIKEY_PREFIX "%s_%s", ids[i], secret_text);
    }
    table = mg_apikeys_table_build(rows, 3, 1, NULL);
    if (table == NULL)
        abort();
}

static void check_key(const char *presented, size_t len)
{
    char id[MG_APIKEY_ID_LEN + 1], spelled[MG_APIKEY_LEN + 1], secret_text[MG_APIKEY_SECRET_TEXT_LEN + 1];
    unsigned char secret[MG_APIKEY_SECRET_BYTES];
    mg_principal_t *principal = NULL;
    mg_apikeys_failure_t failure;
    int parsed = mg_apikeys_parse(presented, len, id, secret);
    if (parsed == 0) {
        sodium_bin2base64(secret_text, sizeof(secret_text), secret, sizeof(secret),
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        snprintf(spelled, sizeof(spelled), MG_APIKEY_PREFIX "%s_%s", id, secret_text);
        if (len != MG_APIKEY_LEN || memcmp(spelled, presented, len) != 0)
            abort(); /* a second spelling of one key */
    }
    int verified = mg_apikeys_verify(table, NULL, presented, len, NOW, &principal, &failure);
    int known = -1;
    for (int i = 0; i < 3; i++) {
        if (len == MG_APIKEY_LEN && memcmp(presented, keys[i], len) == 0)
            known = i;
    }
    if (verified == 0) {
        if (known != 0 || failure != MG_APIKEYS_OK || principal == NULL || strcmp(principal->subject, "fuzz") != 0 ||
            principal->method != MG_AUTH_API_KEY || json_array_size(principal->roles) != 1)
            abort();
        mg_principal_release(principal);
        return;
    }
    if (principal != NULL)
        abort();
    mg_apikeys_failure_t expected = parsed != 0   ? MG_APIKEYS_MALFORMED
                                    : known == 1  ? MG_APIKEYS_REVOKED
                                    : known == 2  ? MG_APIKEYS_EXPIRED
                                    : known == -1 ? MG_APIKEYS_UNKNOWN
                                                  : MG_APIKEYS_OK;
    if (failure != expected)
        abort();
}

static void check_edited(const uint8_t *data, size_t size)
{
    char edited[MG_APIKEY_LEN + 1];
    if (size < 1)
        return;
    memcpy(edited, keys[data[0] % 3], sizeof(edited));
    size_t len = MG_APIKEY_LEN - (data[0] / 3 % 4 == 3 ? 1 : 0); /* sometimes one short */
    for (size_t i = 1; i + 1 < size; i += 2)
        edited[data[i] % MG_APIKEY_LEN] = (char)data[i + 1];
    check_key(edited, len);
}

static void check_expiry(const char *text)
{
    mg_error_t err;
    int64_t expires_at = 0;
    if (mg_apikeys_parse_expiry(text, NOW, &expires_at, &err) == 0 &&
        (expires_at <= NOW || expires_at > NOW + (int64_t)100 * 366 * 86400))
        abort();
}

static void check_roles(const char *text)
{
    mg_error_t err;
    json_t *roles = NULL, *role;
    size_t i, at = 0;
    char *joined;
    if (mg_apikeys_parse_roles(text, &roles, &err) != 0) {
        if (roles != NULL)
            abort();
        return;
    }
    if ((joined = calloc(strlen(text) + 1, 1)) == NULL || json_array_size(roles) == 0)
        abort();
    json_array_foreach(roles, i, role)
    {
        size_t len = strlen(json_string_value(role));
        if (i > 0)
            joined[at++] = ',';
        memcpy(joined + at, json_string_value(role), len);
        at += len;
    }
    if (strcmp(joined, text) != 0)
        abort();
    free(joined);
    json_decref(roles);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (table == NULL)
        build_table();
    if (size < 1)
        return 0;
    char *text = malloc(size); /* the rest, NUL-terminated for the argument parsers */
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0]) {
    case 0:
        check_key(text, size - 1);
        break;
    case 1:
        check_edited(data + 1, size - 1);
        break;
    case 2:
        check_expiry(text);
        break;
    case 3:
        check_roles(text);
        break;
    }
    free(text);
    return 0;
}
