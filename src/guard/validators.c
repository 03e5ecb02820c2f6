/*
 * validators.c - the checks that turn a raw match into a finding, or drop it.
 *
 * Patterns are written wide on purpose (any 13..19 digits, any "key = value"); precision comes from
 * here: a check-digit algorithm when the format has one (Luhn, ISO 13616 mod 97, GitHub's CRC32), the
 * rules a format's issuer publishes (SSN areas, IBAN lengths, AWS's base32 key ids), and entropy when
 * nothing else tells a random secret from a word. Each check returns a score: 0 drops the candidate,
 * otherwise how sure the check is. A check only reads the normalised text.
 */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "guard/detect_internal.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool equal_nocase(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (upper(a[i]) != upper(b[i]))
            return false;
    }
    return true;
}

double mg_guard_entropy(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    unsigned counts[256] = {0};
    for (size_t i = 0; i < len; i++)
        counts[(unsigned char)s[i]]++;
    double entropy = 0;
    for (size_t c = 0; c < 256; c++) {
        if (counts[c] == 0)
            continue;
        double p = (double)counts[c] / (double)len;
        entropy -= p * log2(p);
    }
    return entropy;
}

bool mg_guard_luhn(const char *s, size_t len, size_t *digits)
{
    unsigned sum = 0;
    size_t n = 0;
    for (size_t i = len; i-- > 0;) {
        if (!is_digit(s[i]))
            continue;
        unsigned d = (unsigned)(s[i] - '0');
        if (n++ % 2 == 1)
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    *digits = n;
    return n > 0 && sum % 10 == 0;
}

/* Payment cards: 13..19 digits, one separator style, an issuer prefix in use, Luhn. */
static float check_card(const char *s, size_t len)
{
    char separator = 0;
    for (size_t i = 0; i < len; i++) {
        if (is_digit(s[i]))
            continue;
        if (separator != 0 && s[i] != separator)
            return 0;
        separator = s[i];
    }
    size_t digits;
    if (!mg_guard_luhn(s, len, &digits) || digits < 13 || digits > 19)
        return 0;
    int first = s[0] - '0', two = (s[0] - '0') * 10 + (s[1] - '0');
    bool issuer; /* lengths each network issues (ISO/IEC 7812 prefixes) */
    if (first == 4)
        issuer = digits == 13 || digits == 16 || digits == 19;
    else if ((two >= 51 && two <= 55) || (two >= 22 && two <= 27))
        issuer = digits == 16;
    else if (two == 34 || two == 37)
        issuer = digits == 15;
    else if (first == 6 || two == 35)
        issuer = digits >= 16;
    else if (two == 30 || two == 36 || two == 38 || two == 39)
        issuer = digits >= 14;
    else
        issuer = false;
    if (!issuer)
        return 0;
    /* sixteen equal digits pass Luhn for some digits; no issuer hands those out */
    size_t same = 0;
    for (size_t i = 0; i < len; i++)
        same += s[i] == s[0];
    return same == digits ? 0 : 0.95f;
}

/* ISO 13616 lengths per country (the SWIFT IBAN registry). */
static const struct {
    char country[3];
    uint8_t length;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18},
    {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
    {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

bool mg_guard_iban_valid(const char *s, size_t len)
{
    char compact[40];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            continue;
        if (n == sizeof(compact) || !is_alnum(s[i]))
            return false;
        compact[n++] = upper(s[i]);
    }
    if (n < 15)
        return false;
    bool known = false;
    for (size_t c = 0; c < sizeof(iban_lengths) / sizeof(iban_lengths[0]); c++) {
        if (memcmp(iban_lengths[c].country, compact, 2) == 0) {
            known = iban_lengths[c].length == n;
            break;
        }
    }
    if (!known)
        return false;
    /* the first four characters move to the end; letters count as 10..35; the number mod 97 must be 1 */
    unsigned remainder = 0;
    for (size_t k = 0; k < n; k++) {
        char c = compact[(k + 4) % n];
        unsigned value = is_digit(c) ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
        remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
    }
    return remainder == 1;
}

/* SSA rules: area 001-899 except 666, group 01-99, serial 0001-9999; separators both '-' or both ' '. */
static float check_ssn(const char *s, size_t len)
{
    if (len != 11 || s[3] != s[6] || (s[3] != '-' && s[3] != ' '))
        return 0;
    int area = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    int group = (s[4] - '0') * 10 + (s[5] - '0');
    int serial = (s[7] - '0') * 1000 + (s[8] - '0') * 100 + (s[9] - '0') * 10 + (s[10] - '0');
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return 0;
    return s[3] == '-' ? 0.85f : 0.6f;
}

/* The value of an assignment must look random: long enough, not a placeholder, entropy above the bar. */
static float check_generic_secret(const mg_guard_detector_def_t *def, const char *s, size_t len)
{
    static const char *const placeholders[] = {"password", "changeme", "example", "xxxxxxxx", "********",
                                               "redacted", "your_",    "<",       "${",       "{{",
                                               "%s",       "null",     "none",    "true",     "false"};
    if (len < 8)
        return 0;
    for (size_t p = 0; p < sizeof(placeholders) / sizeof(placeholders[0]); p++) {
        size_t n = strlen(placeholders[p]);
        if (len >= n && equal_nocase(s, placeholders[p], n))
            return 0;
    }
    double entropy = mg_guard_entropy(s, len);
    if (entropy < def->min_entropy)
        return 0;
    bool digit = false, letter = false;
    for (size_t i = 0; i < len; i++) {
        digit |= is_digit(s[i]);
        letter |= is_alnum(s[i]) && !is_digit(s[i]);
    }
    if (!digit || !letter) /* "correcthorsebattery" or a phone number: not what this detector is for */
        return 0;
    return entropy >= def->min_entropy + 0.7 ? 0.8f : 0.6f;
}

/* A string with no keyword to vouch for it must look random for its length: 85% of the most entropy
 * that many characters can have (log2 of the length, up to 64), and letters mixed with digits. Hex
 * digests (at most 4 bits a character) and UUIDs stay under the bar on purpose. */
static bool check_high_entropy(const char *s, size_t len)
{
    bool digit = false, letter = false;
    for (size_t i = 0; i < len; i++) {
        digit |= is_digit(s[i]);
        letter |= is_alnum(s[i]) && !is_digit(s[i]);
    }
    return digit && letter && mg_guard_entropy(s, len) >= 0.85 * log2((double)(len < 64 ? len : 64));
}

static uint32_t crc32(const unsigned char *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ghp_ + 30 random characters + their CRC32 in base62 (0-9A-Za-z), six digits, zero-padded
 * (github.blog, 2021-04-05, "Behind GitHub's new authentication token formats"). */
bool mg_guard_github_checksum(const char *token, size_t len)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (len != 40 || token[3] != '_')
        return false;
    uint64_t value = 0;
    for (size_t i = 34; i < 40; i++) {
        const char *d = strchr(digits, token[i]);
        if (d == NULL || token[i] == '\0')
            return false;
        value = value * 62 + (uint64_t)(d - digits);
    }
    return value == crc32((const unsigned char *)token + 4, 30);
}

static int base64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    if (c == '-' || c == '_')
        return c == '-' ? 62 : 63;
    return -1;
}

/* The header segment decodes to a JSON object naming its algorithm. */
static float check_jwt(const char *s, size_t len)
{
    char header[96];
    size_t n = 0, bits = 0;
    unsigned accumulator = 0;
    for (size_t i = 0; i < len && s[i] != '.' && n < sizeof(header) - 1; i++) {
        int v = base64url_value(s[i]);
        if (v < 0)
            return 0;
        accumulator = (accumulator << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            header[n++] = (char)((accumulator >> bits) & 0xFF);
        }
    }
    header[n] = '\0';
    return header[0] == '{' && strstr(header, "\"alg\"") != NULL ? 0.95f : 0;
}

static float check_url_password(const char *s, size_t len)
{
    if (len < 3 || s[0] == '$' || s[0] == '<' || s[0] == '{' || s[0] == '*' || s[0] == '%')
        return 0;
    static const char *const placeholders[] = {"password", "pass", "secret", "pwd", "xxx", "changeme"};
    for (size_t p = 0; p < sizeof(placeholders) / sizeof(placeholders[0]); p++) {
        if (strlen(placeholders[p]) == len && equal_nocase(s, placeholders[p], len))
            return 0;
    }
    return 0.9f;
}

static float check_phone(const char *s, size_t len)
{
    size_t digits = 0, separators = 0, i = 0;
    const char *extension = NULL;
    for (; i < len; i++) {
        if (s[i] == 'x' || s[i] == 'X' || s[i] == 'e') {
            extension = s + i;
            break;
        }
        if (is_digit(s[i]))
            digits++;
        else if (s[i] == ' ' || s[i] == '-' || s[i] == '.' || s[i] == '(' || s[i] == ')')
            separators++;
    }
    (void)extension;
    if (digits < 7 || digits > 15 || (separators == 0 && s[0] != '+'))
        return 0;
    /* dates (2024-01-31, 31.01.2024) and dotted quads are not phone numbers */
    if (len >= 10 && is_digit(s[0]) && is_digit(s[3]) && (s[4] == '-' || s[4] == '.' || s[4] == '/') &&
        (s[7] == s[4]) && digits == 8)
        return 0;
    if (len >= 10 && (s[2] == '.' || s[2] == '/') && s[5] == s[2] && digits == 8)
        return 0;
    size_t dots = 0;
    for (size_t k = 0; k < len; k++)
        dots += s[k] == '.';
    if (dots == 3 && separators == 3 && digits <= 12)
        return 0;
    return s[0] == '+' || s[0] == '(' ? 0.7f : 0.55f;
}

/* A dotted quad inside a longer dotted run (1.2.3.4.5, a version or an OID) is not an address. */
static float check_ipv4(const char *text, size_t text_len, size_t start, size_t end)
{
    if (start >= 2 && text[start - 1] == '.' && is_digit(text[start - 2]))
        return 0;
    if (end + 1 < text_len && text[end] == '.' && is_digit(text[end + 1]))
        return 0;
    return 0.8f;
}

static float check_ipv6(const char *s, size_t len)
{
    char buffer[48];
    unsigned char address[16];
    if (len < 3 || len >= sizeof(buffer))
        return 0;
    memcpy(buffer, s, len);
    buffer[len] = '\0';
    if (inet_pton(AF_INET6, buffer, address) != 1)
        return 0;
    /* "a::b" and "dead::beef" are valid addresses and also C++ or log text; ask for an address-like group */
    size_t groups = 0, longest = 0, run = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ':') {
            groups += run > 0;
            longest = run > longest ? run : longest;
            run = 0;
        } else {
            run++;
        }
    }
    if (groups >= 8 || (groups >= 2 && longest >= 3))
        return 0.75f;
    return 0;
}

static float check_openai_key(const char *s, size_t len)
{
    if (len >= 7 && memcmp(s, "sk-ant-", 7) == 0)
        return 0;
    size_t digits = 0, upper = 0, lower = 0;
    for (size_t i = 0; i < len; i++) {
        digits += is_digit(s[i]);
        upper += s[i] >= 'A' && s[i] <= 'Z';
        lower += s[i] >= 'a' && s[i] <= 'z';
    }
    if (digits == 0 || upper == 0 || lower == 0)
        return 0;
    return memmem(s, len, "T3BlbkFJ", 8) != NULL ? 0.99f : 0.85f; /* base64 of "OpenAI" in older keys */
}

static float check_email(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    if (at == NULL || at == s || at - s > 64 || len - (size_t)(at - s) > 255)
        return 0;
    if (s[0] == '.' || at[-1] == '.')
        return 0;
    return 0.9f;
}

float mg_guard_check(const mg_guard_detector_def_t *def, const char *text, size_t text_len, size_t start, size_t end)
{
    const char *s = text + start;
    size_t len = end - start;
    size_t digits;
    switch ((mg_guard_check_t)def->check) {
    case CHECK_NONE:
        return def->score;
    case CHECK_LUHN_CARD:
        return check_card(s, len);
    case CHECK_LUHN_DIGITS:
        return mg_guard_luhn(s, len, &digits) && digits >= 13 && digits <= 19 ? def->score : 0;
    case CHECK_IBAN:
        return mg_guard_iban_valid(s, len) ? 0.95f : 0;
    case CHECK_SSN:
        return check_ssn(s, len);
    case CHECK_ENTROPY:
        if (def->min_entropy < 0)
            return check_high_entropy(s, len) ? def->score : 0;
        return mg_guard_entropy(s, len) >= def->min_entropy ? def->score : 0;
    case CHECK_GENERIC_SECRET:
        return check_generic_secret(def, s, len);
    case CHECK_AWS_KEY_ID:
        for (size_t i = 4; i < len; i++) {
            if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '2' && s[i] <= '7')))
                return 0.5f; /* right shape, not base32: a fake or a test value */
        }
        return 0.95f;
    case CHECK_GITHUB_CRC:
        return mg_guard_github_checksum(s, len) ? 1.0f : 0.6f;
    case CHECK_JWT:
        return check_jwt(s, len);
    case CHECK_URL_PASSWORD:
        return check_url_password(s, len);
    case CHECK_PHONE: /* "2025-03-14 10:22" and "10 22:31" are timestamps, not numbers to call */
        if (end < text_len && (text[end] == ':' || text[end] == 'T'))
            return 0;
        for (size_t i = 0; i + 10 <= len; i++) {
            if (is_digit(s[i]) && is_digit(s[i + 3]) && s[i + 4] == '-' && is_digit(s[i + 5]) && s[i + 7] == '-' &&
                is_digit(s[i + 8]) && is_digit(s[i + 9]))
                return 0;
        }
        return check_phone(s, len);
    case CHECK_IPV4:
        return check_ipv4(text, text_len, start, end);
    case CHECK_IPV6:
        return check_ipv6(s, len);
    case CHECK_OPENAI_KEY:
        return check_openai_key(s, len);
    case CHECK_EMAIL: /* scheme://user:password@host is a URL's userinfo, not an address */
        if (start > 0 && (text[start - 1] == ':' || text[start - 1] == '/'))
            return 0;
        return check_email(s, len);
    }
    return 0;
}
