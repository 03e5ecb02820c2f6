/* jose.c - see jose.h. */
#include "auth/jose.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

static const struct {
    mg_jose_alg_t alg;
    const char *name;
} algorithms[] = {
    {MG_JOSE_RS256, "RS256"}, {MG_JOSE_RS384, "RS384"}, {MG_JOSE_RS512, "RS512"}, {MG_JOSE_PS256, "PS256"},
    {MG_JOSE_PS384, "PS384"}, {MG_JOSE_PS512, "PS512"}, {MG_JOSE_ES256, "ES256"}, {MG_JOSE_ES384, "ES384"},
    {MG_JOSE_ES512, "ES512"}, {MG_JOSE_EDDSA, "EdDSA"},
};

const char *mg_jose_alg_name(mg_jose_alg_t alg)
{
    for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
        if (algorithms[i].alg == alg)
            return algorithms[i].name;
    return NULL;
}

mg_jose_alg_t mg_jose_alg_parse(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
        if (strlen(algorithms[i].name) == len && memcmp(algorithms[i].name, name, len) == 0)
            return algorithms[i].alg;
    return 0;
}

static bool is_base64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int mg_jose_base64url_decode(const char *text, size_t len, unsigned char *out, size_t out_size, size_t *out_len,
                             const char **why)
{
    /* The alphabet is checked here first: libsodium 1.0.18 reads bytes >= 0x80 as '_'. */
    for (size_t i = 0; i < len; i++) {
        if (!is_base64url_char(text[i])) {
            *why = text[i] == '=' ? "padding '=' is not allowed" : "a character outside the base64url alphabet";
            return -1;
        }
    }
    if (len % 4 == 1) {
        *why = "a length no base64url text has";
        return -1;
    }
    if (out_size < MG_JOSE_DECODED_SIZE(len)) {
        *why = "too long";
        return -1;
    }
    /* Without a b64_end pointer libsodium refuses trailing junk and non-canonical final bits. */
    if (sodium_base642bin(out, out_size, text, len, NULL, out_len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) !=
        0) {
        *why = "non-canonical base64url (the unused bits of the last character are not zero)";
        return -1;
    }
    return 0;
}
