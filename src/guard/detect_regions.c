/*
 * detect_regions.c - the hand-written passes of a scan: where the class-heavy detectors may match, where a
 * match of the main database may start, and whitespace padding.
 *
 * vectorscan is fast on expressions it can anchor on a literal and slow on runs of character classes
 * (a phone number, a card, a base64 string), and slower still when it must report where each match
 * starts. So the scan asks it for neither: these loops find the few stretches of text where such a
 * detector could produce a finding, and vectorscan scans only those (detect.c). Each loop relies on one
 * fact about the detector's expression, stated where it is used:
 *
 *   - Numbers (card, SSN, phone, IPv4), IBANs, IPv6 and e-mail addresses and high-entropy strings are
 *     made of a small alphabet, so every match lies inside one maximal run of that alphabet; a run can only hold a
 *     finding when it has what the check asks for (13 digits for a card, 7 for a phone...), which most
 *     runs in prose, code and logs do not.
 *   - A run of at least N bytes contains an offset that is a multiple of N, so runs of 20 base64
 *     characters or 200 blanks are found by looking at every 20th or 200th byte.
 *   - Digits are found eight bytes at a time (SWAR), colons and '@' with memchr.
 *
 * Offsets are into the text the scan sees (normalised or not); every loop is linear in the text.
 */
#include <string.h>

#include "guard/detect_internal.h"

enum {
    C_DIGIT = 1 << 0,
    C_NUMBER = 1 << 1,        /* what card, SSN, phone and IPv4 expressions are made of */
    C_IBAN = 1 << 2,          /* [A-Z0-9 ] */
    C_IPV6 = 1 << 3,          /* [0-9A-Za-z:%] */
    C_BASE64 = 1 << 4,        /* [A-Za-z0-9+/_-]: the body of a high-entropy string */
    C_BASE64_STRING = 1 << 5, /* the body, '=' padding and quotes: what a high-entropy match is made of */
    C_BLANK = 1 << 6,         /* ' ', \t, \r, \n: padding */
    C_VALUE_END = 1 << 7,     /* ' ', \t, \r, \n, '"', '\'', ',', ';': never inside generic_secret's value */
    C_UPPER = 1 << 8,
    C_EMAIL = 1 << 9, /* [A-Za-z0-9._%+@-]: an e-mail address */
};

#define ALNUM (C_IBAN | C_IPV6 | C_BASE64 | C_BASE64_STRING | C_EMAIL)
#define LOWER (C_IPV6 | C_BASE64 | C_BASE64_STRING | C_EMAIL)
#define UPPER (LOWER | C_IBAN | C_UPPER)

static const uint16_t classes[256] = {
    [' '] = C_NUMBER | C_IBAN | C_BLANK | C_VALUE_END,
    ['\t'] = C_BLANK | C_VALUE_END,
    ['\r'] = C_BLANK | C_VALUE_END,
    ['\n'] = C_BLANK | C_VALUE_END,
    ['"'] = C_BASE64_STRING | C_VALUE_END,
    ['\''] = C_BASE64_STRING | C_VALUE_END,
    [','] = C_VALUE_END,
    [';'] = C_VALUE_END,
    ['('] = C_NUMBER,
    [')'] = C_NUMBER,
    ['+'] = C_NUMBER | C_BASE64 | C_BASE64_STRING | C_EMAIL,
    ['-'] = C_NUMBER | C_BASE64 | C_BASE64_STRING | C_EMAIL,
    ['.'] = C_NUMBER | C_EMAIL,
    ['/'] = C_BASE64 | C_BASE64_STRING,
    ['_'] = C_BASE64 | C_BASE64_STRING | C_EMAIL,
    ['='] = C_BASE64_STRING,
    [':'] = C_IPV6,
    ['%'] = C_IPV6 | C_EMAIL,
    ['@'] = C_EMAIL,
    ['0' ... '9'] = ALNUM | C_DIGIT | C_NUMBER,
    ['A' ... 'Z'] = UPPER,
    ['a' ... 'd'] = LOWER,
    ['e'] = LOWER | C_NUMBER, /* "ext" of a phone number's extension */
    ['f' ... 's'] = LOWER,
    ['t'] = LOWER | C_NUMBER,
    ['u' ... 'w'] = LOWER,
    ['x'] = LOWER | C_NUMBER,
    ['y' ... 'z'] = LOWER,
};

static uint16_t class_of(char c)
{
    return classes[(unsigned char)c];
}

/* The first digit at or after `from`: eight bytes at a time, a byte is a digit when (byte ^ '0') < 10. */
static size_t next_digit(const char *text, size_t from, size_t len)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = from;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, text + i, 8);
        uint64_t shifted = word ^ (ones * '0');
        if (((shifted - ones * 10) & ~shifted & highs) != 0)
            break;
    }
    while (i < len && (class_of(text[i]) & C_DIGIT) == 0)
        i++;
    return i;
}

/* The maximal run of `class` around text[at], not reaching below `floor`. */
static void run_around(const char *text, size_t len, size_t at, size_t floor, uint16_t class, size_t *from, size_t *to)
{
    size_t s = at, e = at;
    while (s > floor && (class_of(text[s - 1]) & class) != 0)
        s--;
    while (e < len && (class_of(text[e]) & class) != 0)
        e++;
    *from = s;
    *to = e;
}

/* A number can only be a finding with 7 digits (a phone; an SSN has 9, a card 13) or with 4 digits and
 * 3 dots (an IPv4 address). */
static bool number_may_match(const char *text, size_t from, size_t to)
{
    size_t digits = 0, dots = 0;
    for (size_t i = from; i < to; i++) {
        digits += (class_of(text[i]) & C_DIGIT) != 0;
        dots += text[i] == '.';
    }
    return digits >= 7 || (digits >= 4 && dots >= 3);
}

/* An IBAN starts with two capitals and two digits and has 15 letters and digits at least. */
static bool iban_may_match(const char *text, size_t from, size_t to)
{
    size_t alnum = 0;
    bool start = false;
    for (size_t i = from; i < to; i++) {
        alnum += text[i] != ' ';
        start |= i + 4 <= to && (class_of(text[i]) & C_UPPER) && (class_of(text[i + 1]) & C_UPPER) &&
                 (class_of(text[i + 2]) & C_DIGIT) && (class_of(text[i + 3]) & C_DIGIT);
    }
    return start && alnum >= 15;
}

/* Numbers and IBANs both hold digits: one search for digits serves both. */
static int digit_regions(const char *text, size_t len, unsigned regions, mg_guard_region_fn found, void *context)
{
    size_t number_end = 0, iban_end = 0; /* runs before these offsets were looked at */
    if ((regions & (1u << REGION_NUMBER)) == 0)
        number_end = len;
    if ((regions & (1u << REGION_IBAN)) == 0)
        iban_end = len;
    for (size_t at = next_digit(text, 0, len); at < len;) {
        size_t from, to;
        int rc;
        if (at >= number_end) {
            run_around(text, len, at, number_end, C_NUMBER, &from, &to);
            number_end = to;
            if (number_may_match(text, from, to) && (rc = found(context, REGION_NUMBER, from, to)) != 0)
                return rc;
        }
        if (at >= iban_end) {
            run_around(text, len, at, iban_end, C_IBAN, &from, &to);
            iban_end = to;
            if (iban_may_match(text, from, to) && (rc = found(context, REGION_IBAN, from, to)) != 0)
                return rc;
        }
        at = next_digit(text, number_end < iban_end ? number_end : iban_end, len);
    }
    return 0;
}

/* An IPv6 address has two colons at least. */
static int ipv6_regions(const char *text, size_t len, mg_guard_region_fn found, void *context)
{
    size_t end = 0;
    for (const char *colon = memchr(text, ':', len); colon != NULL;
         colon = end < len ? memchr(text + end, ':', len - end) : NULL) {
        size_t from, to, colons = 0;
        run_around(text, len, (size_t)(colon - text), end, C_IPV6, &from, &to);
        end = to;
        for (size_t i = from; i < to && colons < 2; i++)
            colons += text[i] == ':';
        int rc;
        if (colons >= 2 && (rc = found(context, REGION_IPV6, from, to)) != 0)
            return rc;
    }
    return 0;
}

/* An e-mail address has an '@'. */
static int email_regions(const char *text, size_t len, mg_guard_region_fn found, void *context)
{
    size_t end = 0;
    for (const char *at = memchr(text, '@', len); at != NULL;
         at = end < len ? memchr(text + end, '@', len - end) : NULL) {
        size_t from, to;
        run_around(text, len, (size_t)(at - text), end, C_EMAIL, &from, &to);
        end = to;
        int rc = found(context, REGION_EMAIL, from, to);
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define BASE64_RUN 20 /* both high_entropy_string expressions: [A-Za-z0-9+/_-]{20,} or a subset of it */

static int base64_regions(const char *text, size_t len, mg_guard_region_fn found, void *context)
{
    size_t end = 0;
    for (size_t at = BASE64_RUN - 1; at < len; at += BASE64_RUN) {
        if ((class_of(text[at]) & C_BASE64) == 0)
            continue;
        size_t from, to;
        run_around(text, len, at, end, C_BASE64, &from, &to);
        if (to - from < BASE64_RUN)
            continue; /* a short run holds no other sampled byte */
        run_around(text, len, at, end, C_BASE64_STRING, &from, &to);
        end = to;
        int rc = found(context, REGION_BASE64, from, to);
        if (rc != 0)
            return rc;
        while (at + BASE64_RUN < end)
            at += BASE64_RUN;
    }
    return 0;
}

int mg_guard_find_regions(const char *text, size_t len, unsigned regions, mg_guard_region_fn found, void *context)
{
    int rc = 0;
    if ((regions & (1u << REGION_NUMBER | 1u << REGION_IBAN)) != 0)
        rc = digit_regions(text, len, regions, found, context);
    if (rc == 0 && (regions & (1u << REGION_IPV6)) != 0)
        rc = ipv6_regions(text, len, found, context);
    if (rc == 0 && (regions & (1u << REGION_BASE64)) != 0)
        rc = base64_regions(text, len, found, context);
    if (rc == 0 && (regions & (1u << REGION_EMAIL)) != 0)
        rc = email_regions(text, len, found, context);
    return rc;
}

/* The start of the run of bytes that are not C_VALUE_END ending at `end`, walking only the bytes the
 * previous question (an earlier end in the same run) did not. */
static size_t value_run_start(const char *text, size_t end, const mg_guard_start_memo_t *memo)
{
    size_t s = end;
    while (s > 0 && (class_of(text[s - 1]) & C_VALUE_END) == 0) {
        if (s == memo->end && memo->end != 0)
            return memo->run;
        s--;
    }
    return s;
}

size_t mg_guard_start_bound(mg_guard_start_t start, const char *text, size_t end, mg_guard_start_memo_t *memo)
{
    if (start != START_ASSIGNMENT)
        return 0;
    /* generic_secret ends with its value, [^\s"',;]{8,}: inside the run of bytes that are not C_VALUE_END
     * (a subset of what the value excludes), with the key and operator right before it. */
    size_t run = value_run_start(text, end, memo);
    memo->end = end;
    memo->run = run;
    return run > START_ASSIGNMENT_KEY ? run - START_ASSIGNMENT_KEY : 0;
}

int mg_guard_find_padding(const char *text, size_t len, size_t run, int (*found)(void *context, size_t from, size_t to),
                          void *context)
{
    size_t end = 0;
    for (size_t at = run - 1; at < len; at += run) {
        if ((class_of(text[at]) & C_BLANK) == 0)
            continue;
        size_t from, to;
        run_around(text, len, at, end, C_BLANK, &from, &to);
        end = to;
        int rc;
        if (to - from >= run && to < len && (rc = found(context, from, to)) != 0)
            return rc;
        while (at + run < end)
            at += run;
    }
    return 0;
}
