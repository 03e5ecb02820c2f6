/*
 * format.c - the `format` values checked when options->validate_formats is on.
 *
 * Dates and times follow RFC 3339 section 5.6 (a leap second only at 23:59:60 UTC), durations its
 * appendix A (ISO 8601, designators in order, weeks alone), hostname RFC 1123 (labels of 1 to 63
 * letters, digits and hyphens, not starting or ending with one; 253 bytes in all), email RFC 5321's
 * mailbox (dot-atom or quoted local part, a hostname or an address literal), ipv4 the dotted quad
 * without leading zeros, ipv6 RFC 4291's text forms (inet_pton), uri and friends RFC 3986 / 3987
 * (uri.c), uuid RFC 4122's 8-4-4-4-12 hex form, json-pointer RFC 6901, regex a pattern PCRE2
 * compiles as `pattern` would be. The idn-* formats accept non-ASCII characters where the ASCII
 * form has letters, without checking IDNA's tables. Unknown formats are annotations only.
 */
#include <arpa/inet.h>
#include <string.h>

#include "schema/schema_internal.h"

static const struct {
    const char *name;
    mg_schema_format_t format;
} formats[] = {
    {"date-time", FORMAT_DATE_TIME},
    {"date", FORMAT_DATE},
    {"time", FORMAT_TIME},
    {"duration", FORMAT_DURATION},
    {"email", FORMAT_EMAIL},
    {"idn-email", FORMAT_IDN_EMAIL},
    {"hostname", FORMAT_HOSTNAME},
    {"idn-hostname", FORMAT_IDN_HOSTNAME},
    {"ipv4", FORMAT_IPV4},
    {"ipv6", FORMAT_IPV6},
    {"uri", FORMAT_URI},
    {"uri-reference", FORMAT_URI_REFERENCE},
    {"iri", FORMAT_IRI},
    {"iri-reference", FORMAT_IRI_REFERENCE},
    {"uuid", FORMAT_UUID},
    {"json-pointer", FORMAT_JSON_POINTER},
    {"relative-json-pointer", FORMAT_RELATIVE_JSON_POINTER},
    {"regex", FORMAT_REGEX},
};

mg_schema_format_t mg_schema_format_of(const char *name)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].format;
    return FORMAT_NONE;
}

const char *mg_schema_format_name(mg_schema_format_t format)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i].format == format)
            return formats[i].name;
    return "unknown";
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* `count` digits at s, as a number; -1 when they are not all digits */
static int digits(const char *s, size_t count)
{
    int value = 0;
    for (size_t i = 0; i < count; i++) {
        if (!is_digit(s[i]))
            return -1;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

static bool full_date(const char *s, size_t len)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= days[month - 1] + (month == 2 && leap);
}

static bool full_time(const char *s, size_t len)
{
    if (len < 9 || s[2] != ':' || s[5] != ':')
        return false;
    int hour = digits(s, 2), minute = digits(s + 3, 2), second = digits(s + 6, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
        return false;
    size_t i = 8;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    int offset_minutes = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int offset_hour = digits(s + i + 1, 2), offset_minute = digits(s + i + 4, 2);
        if (offset_hour < 0 || offset_hour > 23 || offset_minute < 0 || offset_minute > 59)
            return false;
        offset_minutes = (offset_hour * 60 + offset_minute) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else
        return false;
    if (i != len)
        return false;
    if (second == 60) {
        /* a leap second happens at 23:59:60 UTC only */
        int utc = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
        return utc == 23 * 60 + 59;
    }
    return true;
}

static bool date_time(const char *s, size_t len)
{
    return len > 11 && (s[10] == 'T' || s[10] == 't') && full_date(s, 10) && full_time(s + 11, len - 11);
}

/* ISO 8601 / RFC 3339 appendix A: P[nY][nM][nD][T[nH][nM][nS]] with something after P and T, or PnW */
static bool duration(const char *s, size_t len)
{
    if (len < 3 || s[0] != 'P')
        return false;
    static const char date_units[] = "YMD", time_units[] = "HMS";
    size_t i = 1;
    if (is_digit(s[len - 1]) || s[len - 1] == 'T')
        return false;
    if (s[len - 1] == 'W') {
        for (i = 1; i < len - 1; i++)
            if (!is_digit(s[i]))
                return false;
        return true;
    }
    const char *units = date_units;
    size_t next_unit = 0;
    bool in_time = false, any = false;
    while (i < len) {
        if (s[i] == 'T') {
            if (in_time || i + 1 == len)
                return false;
            in_time = true;
            units = time_units;
            next_unit = 0;
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start || i == len)
            return false;
        const char *unit = strchr(units + next_unit, s[i]);
        if (s[i] == '\0' || unit == NULL)
            return false;
        next_unit = (size_t)(unit - units) + 1;
        any = true;
        i++;
        if (in_time && i < len && s[i] == 'T')
            return false;
    }
    return any;
}

static bool hostname(const char *s, size_t len, bool idn)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return false;
            label = 0;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) || c == '-' || (idn && c >= 0x80);
        if (!ok)
            return false;
        label++;
    }
    return true;
}

static bool ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        int value = 0;
        while (i < len && is_digit(s[i]) && i - start < 3)
            value = value * 10 + (s[i++] - '0');
        if (i == start || value > 255 || (i - start > 1 && s[start] == '0'))
            return false;
    }
    return i == len;
}

static bool ipv6(const char *s, size_t len)
{
    char text[64];
    if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len) != NULL)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    unsigned char address[16];
    return inet_pton(AF_INET6, text, address) == 1;
}

static bool atext(unsigned char c, bool idn)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL) || (idn && c >= 0x80);
}

static bool email(const char *s, size_t len, bool idn)
{
    const char *at = memrchr(s, '@', len);
    if (at == NULL || at == s)
        return false;
    size_t local_len = (size_t)(at - s), domain_len = len - local_len - 1;
    const char *domain = at + 1;
    if (s[0] == '"') {
        if (local_len < 2 || s[local_len - 1] != '"')
            return false;
        for (size_t i = 1; i + 1 < local_len; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                if (++i + 1 >= local_len)
                    return false;
            } else if (c == '"' || c < 0x20 || c == 0x7f)
                return false;
        }
    } else {
        if (local_len > 64 || s[0] == '.' || s[local_len - 1] == '.')
            return false;
        for (size_t i = 0; i < local_len; i++)
            if (s[i] == '.' ? s[i + 1] == '.' : !atext((unsigned char)s[i], idn))
                return false;
    }
    if (domain_len > 2 && domain[0] == '[' && domain[domain_len - 1] == ']') {
        if (domain_len > 7 && strncmp(domain + 1, "IPv6:", 5) == 0)
            return ipv6(domain + 6, domain_len - 7);
        return ipv4(domain + 1, domain_len - 2);
    }
    return hostname(domain, domain_len, idn);
}

static bool uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (hyphen ? c != '-' : !(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool json_pointer(const char *s, size_t len)
{
    if (len > 0 && s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 == len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return false;
    return true;
}

static bool relative_json_pointer(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_digit(s[i]))
        i++;
    if (i == 0 || (i > 1 && s[0] == '0'))
        return false;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        /* the index adjustment of draft 2020-12's relative JSON pointer */
        size_t start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start || (i - start > 1 && s[start] == '0') || (s[start - 1] == '-' && s[start] == '0'))
            return false;
    }
    return (i + 1 == len && s[i] == '#') || json_pointer(s + i, len - i);
}

static bool regex(const char *s, size_t len)
{
    char message[256];
    pcre2_code *compiled = mg_schema_regex_compile(s, len, NULL, message, sizeof(message));
    pcre2_code_free(compiled);
    return compiled != NULL;
}

bool mg_schema_format_check(mg_schema_format_t format, const char *s, size_t len)
{
    switch (format) {
    case FORMAT_NONE:
        return true;
    case FORMAT_DATE_TIME:
        return date_time(s, len);
    case FORMAT_DATE:
        return full_date(s, len);
    case FORMAT_TIME:
        return full_time(s, len);
    case FORMAT_DURATION:
        return duration(s, len);
    case FORMAT_EMAIL:
    case FORMAT_IDN_EMAIL:
        return email(s, len, format == FORMAT_IDN_EMAIL);
    case FORMAT_HOSTNAME:
    case FORMAT_IDN_HOSTNAME:
        return hostname(s, len, format == FORMAT_IDN_HOSTNAME);
    case FORMAT_IPV4:
        return ipv4(s, len);
    case FORMAT_IPV6:
        return ipv6(s, len);
    case FORMAT_URI:
    case FORMAT_URI_REFERENCE:
    case FORMAT_IRI:
    case FORMAT_IRI_REFERENCE:
        return mg_schema_valid_uri(s, len, format == FORMAT_URI_REFERENCE || format == FORMAT_IRI_REFERENCE,
                                   format == FORMAT_IRI || format == FORMAT_IRI_REFERENCE);
    case FORMAT_UUID:
        return uuid(s, len);
    case FORMAT_JSON_POINTER:
        return json_pointer(s, len);
    case FORMAT_RELATIVE_JSON_POINTER:
        return relative_json_pointer(s, len);
    case FORMAT_REGEX:
        return regex(s, len);
    }
    return true;
}
