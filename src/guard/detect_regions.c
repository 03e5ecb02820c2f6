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
 *   - A run of at least N bytes contains an offset that is a multiple of N, so runs of 200 blanks are
 *     found by looking at every 200th byte, and a run of 20 base64 characters holds an 8-byte word at an
 *     offset that is a multiple of 8.
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

/* Sixteen bytes, as a GCC/clang generic vector (SSE2 or NEON where there is one). */
typedef unsigned char mg_guard_bytes16_t __attribute__((vector_size(16)));

/* The first digit at or after `from`, eight bytes at a time. With x = byte ^ '0', a digit is x < 10:
 * (x & 0x7F) + 0x76 sets the high bit exactly when x & 0x7F >= 10 and cannot carry into the next byte. */
static size_t next_digit(const char *text, size_t from, size_t len)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = from;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, text + i, 8);
        uint64_t shifted = word ^ (ones * '0');
        uint64_t digits = ~(((shifted & ~highs) + ones * 0x76) | shifted) & highs;
        if (digits != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)__builtin_ctzll(digits) / 8; /* the lowest byte is the first in memory */
#else
            break;
#endif
        }
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

static bool is_digit(const char *text, size_t len, size_t at)
{
    return at < len && (class_of(text[at]) & C_DIGIT) != 0;
}

/* BOUND_DIGIT (detect.c, bounded): no digit, and no '.' or '-' before a digit, touches the number. */
static bool digit_bounded_start(const char *text, size_t len, size_t start)
{
    return (start == 0 || !is_digit(text, len, start - 1)) &&
           (start < 2 || (text[start - 1] != '.' && text[start - 1] != '-') || !is_digit(text, len, start - 2));
}

static bool digit_bounded_end(const char *text, size_t len, size_t end)
{
    return !is_digit(text, len, end) &&
           (end >= len || (text[end] != '.' && text[end] != '-') || !is_digit(text, len, end + 1));
}

/* validators.c, CHECK_PHONE: a span holding a date (2024-01-31) is not a phone number. */
static bool is_date(const char *text, size_t len, size_t at)
{
    return is_digit(text, len, at) && is_digit(text, len, at + 3) && at + 9 < len && text[at + 4] == '-' &&
           is_digit(text, len, at + 5) && text[at + 7] == '-' && is_digit(text, len, at + 8) &&
           is_digit(text, len, at + 9);
}

/* A phone finding is a span [start, end) of the run with 7 digits, bounded like BOUND_DIGIT, that holds
 * no date and is followed by neither ':' nor 'T' (validators.c, CHECK_PHONE: timestamps). For each end,
 * the start that gives the most digits is the lowest bounded one past every date the span would hold. */
static bool phone_may_match(const char *text, size_t len, size_t from, size_t to)
{
    size_t start = from, digits = 0; /* digits in [start, end) once start < end */
    while (start < to && !digit_bounded_start(text, len, start))
        start++;
    for (size_t end = from + 1; end <= to; end++) {
        if (end - 1 >= start && is_digit(text, len, end - 1))
            digits++;
        if (end >= from + 10 && end - 10 >= start && is_date(text, len, end - 10)) {
            for (size_t past = end - 10 + 1; start < past || (start < to && !digit_bounded_start(text, len, start));) {
                if (start < end && is_digit(text, len, start))
                    digits--;
                start++;
            }
        }
        if (start < end && digits >= 7 && is_digit(text, len, end - 1) && digit_bounded_end(text, len, end) &&
            (end >= len || (text[end] != ':' && text[end] != 'T')))
            return true;
    }
    return false;
}

/* d{3}[- ]d{2}[- ]d{4}: an SSN's shape. */
static bool ssn_may_match(const char *text, size_t len, size_t from, size_t to)
{
    for (size_t i = from; i + 11 <= to; i++) {
        if (is_digit(text, len, i) && is_digit(text, len, i + 1) && is_digit(text, len, i + 2) &&
            (text[i + 3] == '-' || text[i + 3] == ' ') && is_digit(text, len, i + 4) && is_digit(text, len, i + 5) &&
            (text[i + 6] == '-' || text[i + 6] == ' ') && is_digit(text, len, i + 7) && is_digit(text, len, i + 8) &&
            is_digit(text, len, i + 9) && is_digit(text, len, i + 10))
            return true;
    }
    return false;
}

/* What a run needs to hold a finding: a card 13 digits, an IPv4 address 4 digits and 3 dots, an SSN its
 * shape, a phone number what phone_may_match says. Most numbers in logs and JSON (dates, times, ids) have
 * none of these. */
static bool number_may_match(const char *text, size_t len, size_t from, size_t to)
{
    size_t digits = 0, dots = 0;
    for (size_t i = from; i < to; i++) {
        digits += (class_of(text[i]) & C_DIGIT) != 0;
        dots += text[i] == '.';
    }
    if (digits >= 13 || (digits >= 4 && dots >= 3))
        return true;
    return digits >= 7 && (ssn_may_match(text, len, from, to) || phone_may_match(text, len, from, to));
}

/* An IBAN has 15 letters and digits at least. */
static bool iban_may_match(const char *text, size_t from, size_t to)
{
    size_t alnum = 0;
    for (size_t i = from; i < to; i++)
        alnum += text[i] != ' ';
    return alnum >= 15;
}

/* Numbers and IBANs both hold digits: one search for digits serves both. An IBAN starts with
 * [A-Z]{2}[0-9]{2}, and a digit after a capital starts a run of the number alphabet (which has no
 * capitals), so the search, which visits the first digit of every such run, sees every IBAN's first digit. */
static int digit_regions(const char *text, size_t len, unsigned regions, mg_guard_region_fn found, void *context)
{
    size_t number_end = 0, iban_end = 0; /* runs before these offsets were looked at */
    for (size_t at = next_digit(text, 0, len); at < len; at = next_digit(text, number_end, len)) {
        size_t from, to;
        int rc;
        if (at >= iban_end && at >= 2 && (regions & (1u << REGION_IBAN)) != 0 && (class_of(text[at - 1]) & C_UPPER) &&
            (class_of(text[at - 2]) & C_UPPER) && is_digit(text, len, at + 1)) {
            run_around(text, len, at, iban_end, C_IBAN, &from, &to);
            iban_end = to;
            if (iban_may_match(text, from, to) && (rc = found(context, REGION_IBAN, from, to)) != 0)
                return rc;
        }
        /* `at` is the run's first digit: most runs (ids, prices, years) end before they could hold a finding */
        size_t digits = 0, dots = 0;
        for (to = at; to < len && (class_of(text[to]) & C_NUMBER) != 0; to++) {
            digits += (class_of(text[to]) & C_DIGIT) != 0;
            dots += text[to] == '.';
        }
        size_t previous_end = number_end;
        number_end = to;
        if ((regions & (1u << REGION_NUMBER)) == 0 || (digits < 7 && (digits < 4 || dots < 3)))
            continue;
        run_around(text, len, at, previous_end, C_NUMBER, &from, &to);
        if (number_may_match(text, len, from, to) && (rc = found(context, REGION_NUMBER, from, to)) != 0)
            return rc;
    }
    return 0;
}

/* An IPv6 address without dots (the expression has none) is eight groups or has "::" (inet_pton). */
static int ipv6_regions(const char *text, size_t len, mg_guard_region_fn found, void *context)
{
    size_t end = 0;
    for (const char *colon = memchr(text, ':', len); colon != NULL;
         colon = end < len ? memchr(text + end, ':', len - end) : NULL) {
        /* the first colon of its run: the run's colons are all from here on */
        size_t from, to, colons = 0, previous_end = end;
        bool double_colon = false;
        for (to = (size_t)(colon - text); to < len && (class_of(text[to]) & C_IPV6) != 0; to++) {
            colons += text[to] == ':';
            double_colon |= text[to] == ':' && to + 1 < len && text[to + 1] == ':';
        }
        end = to;
        if (!double_colon && colons < 7)
            continue;
        run_around(text, len, (size_t)(colon - text), previous_end, C_IPV6, &from, &to);
        int rc = found(context, REGION_IPV6, from, to);
        if (rc != 0)
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

/* Whether eight bytes may all be C_BASE64: none below '+' (0x2B: blanks, quotes, brackets...), none
 * above 0x7F, no '.', ',' or ':'. (v - ones * n) & ~v & highs is nonzero when a byte of v is below n. */
static bool word_may_be_base64(uint64_t word)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t dot = word ^ (ones * '.'), comma = word ^ (ones * ','), colon = word ^ (ones * ':');
    uint64_t out = (word - ones * '+') & ~word;
    out |= ((dot - ones) & ~dot) | ((comma - ones) & ~comma) | ((colon - ones) & ~colon);
    return ((word | out) & highs) == 0;
}

/* Looks closely at the 8-byte word at `at`: a run of 20 base64 characters through it is a stretch. */
static int base64_word(const char *text, size_t len, size_t at, size_t *end, mg_guard_region_fn found, void *context)
{
    size_t from, to;
    run_around(text, len, at, *end, C_BASE64, &from, &to);
    if (to - from < BASE64_RUN)
        return 0;
    run_around(text, len, at, *end, C_BASE64_STRING, &from, &to);
    *end = to;
    return found(context, REGION_BASE64, from, to);
}

/* A run of 20 bytes holds an 8-byte word at an offset that is a multiple of 8: only such words that may
 * be all base64 are looked at closely, sixteen bytes (two words) at a time where the compiler has vectors. */
static int base64_regions(const char *text, size_t len, mg_guard_region_fn found, void *context)
{
    size_t end = 0, at = 0;
    int rc;
    for (; at + 16 <= len; at += 16) {
        mg_guard_bytes16_t bytes;
        memcpy(&bytes, text + at, 16);
        mg_guard_bytes16_t out =
            (mg_guard_bytes16_t)((bytes < '+') | (bytes > 'z') | (bytes == '.') | (bytes == ',') | (bytes == ':'));
        uint64_t words[2];
        memcpy(words, &out, 16);
        for (size_t half = 0; half < 2; half++) {
            if (words[half] == 0 && at + 8 * half >= end &&
                (rc = base64_word(text, len, at + 8 * half, &end, found, context)) != 0)
                return rc;
        }
    }
    for (; at + 8 <= len; at += 8) {
        uint64_t word;
        memcpy(&word, text + at, 8);
        if (word_may_be_base64(word) && at >= end && (rc = base64_word(text, len, at, &end, found, context)) != 0)
            return rc;
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

/* Backward parsers. A match of a region's expression holds no newline (no region's alphabet has one), so
 * walking back from an end never leaves the stretch it lies in; `floor` is that stretch's first byte. */

static bool digit_in(const char *text, size_t floor, size_t at)
{
    return at >= floor && text[at] >= '0' && text[at] <= '9';
}

/* [2-6](?:[ -]?[0-9]){12,18}: from the last digit, each group is a digit with at most one separator
 * before it, so the digits the match can have are one chain; the start is the 13th to 19th digit of the
 * chain counting from the end, the farthest that is a 2 to 6. */
size_t mg_guard_card_start(const char *text, size_t floor, size_t end)
{
    size_t start = SIZE_MAX;
    if (end <= floor || !digit_in(text, floor, end - 1))
        return start;
    size_t digit = end - 1;
    for (unsigned count = 1; count <= 19; count++) {
        if (count >= 13 && text[digit] >= '2' && text[digit] <= '6')
            start = digit;
        if (digit > floor && digit_in(text, floor, digit - 1))
            digit -= 1;
        else if (digit > floor + 1 && (text[digit - 1] == ' ' || text[digit - 1] == '-') &&
                 digit_in(text, floor, digit - 2))
            digit -= 2;
        else
            break;
    }
    return start;
}

static bool digits_before(const char *text, size_t floor, size_t at, size_t count)
{
    if (at < floor + count)
        return false;
    for (size_t i = at - count; i < at; i++) {
        if (!digit_in(text, floor, i))
            return false;
    }
    return true;
}

static bool is_phone_separator(const char *text, size_t floor, size_t at)
{
    return at >= floor && (text[at] == ' ' || text[at] == '.' || text[at] == '-');
}

static size_t lower(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* \+[0-9]{1,3}[ .-]? ending at `end`: its leftmost start. */
static size_t phone_country_start(const char *text, size_t floor, size_t end)
{
    size_t start = SIZE_MAX;
    for (size_t separator = 0; separator <= 1; separator++) {
        if (separator == 1 && !(end > floor && is_phone_separator(text, floor, end - 1)))
            continue;
        size_t digits_end = end - separator;
        for (size_t count = 1; count <= 3 && digits_end >= floor + count && digit_in(text, floor, digits_end - count);
             count++) {
            if (digits_end - count > floor && text[digits_end - count - 1] == '+')
                start = lower(start, digits_end - count - 1);
        }
    }
    return start;
}

/* (?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)? ending at `end` (the core's start): the leftmost start. */
static size_t phone_prefix_start(const char *text, size_t floor, size_t end)
{
    if (end == floor ||
        (text[end - 1] != ')' && !is_phone_separator(text, floor, end - 1) && !digit_in(text, floor, end - 1)))
        return end; /* a prefix ends with a digit, ')' or a separator */
    size_t start = lower(end, phone_country_start(text, floor, end));
    for (size_t separator = 0; separator <= 1; separator++) {
        if (separator == 1 && !(end > floor && is_phone_separator(text, floor, end - 1)))
            continue;
        size_t close = end - separator; /* just past ')' */
        if (close <= floor || text[close - 1] != ')')
            continue;
        for (size_t count = 1; count <= 4 && digits_before(text, floor, close - 1, count); count++) {
            size_t open = close - 1 - count - 1;
            if (close - 1 - count > floor && text[open] == '(')
                start = lower(start, lower(open, phone_country_start(text, floor, open)));
        }
    }
    return start;
}

/* [0-9]{2,4}(?:[ .-][0-9]{2,4}){1,4} ending at `end`, `groups` of the repeated part already read. */
static size_t phone_core_start(const char *text, size_t floor, size_t end, unsigned groups)
{
    size_t start = SIZE_MAX;
    if (!digits_before(text, floor, end, 2))
        return start;
    for (size_t count = 2; count <= 4 && end >= floor + count && digit_in(text, floor, end - count); count++) {
        size_t run = end - count;
        if (groups >= 1)
            start = lower(start, phone_prefix_start(text, floor, run));
        if (groups < 4 && run > floor && is_phone_separator(text, floor, run - 1))
            start = lower(start, phone_core_start(text, floor, run - 1, groups + 1));
    }
    return start;
}

/* The phone expression: prefix, core, then (?: ?(?:x|ext\.?) ?[0-9]{1,6})?. */
size_t mg_guard_phone_start(const char *text, size_t floor, size_t end)
{
    size_t start = phone_core_start(text, floor, end, 0);
    for (size_t count = 1; count <= 6 && digits_before(text, floor, end, count); count++) {
        for (size_t space = 0; space <= 1; space++) {
            size_t marker_end = end - count - space;
            if (space == 1 && !(end - count > floor && text[end - count - 1] == ' '))
                continue;
            if (marker_end == floor ||
                (text[marker_end - 1] != 'x' && text[marker_end - 1] != 't' && text[marker_end - 1] != '.'))
                continue; /* no extension marker ends here */
            static const char *const markers[] = {"x", "ext", "ext."};
            for (size_t m = 0; m < 3; m++) {
                size_t marker_len = strlen(markers[m]);
                if (marker_end < floor + marker_len ||
                    memcmp(text + marker_end - marker_len, markers[m], marker_len) != 0)
                    continue;
                size_t core_end = marker_end - marker_len;
                start = lower(start, phone_core_start(text, floor, core_end, 0));
                if (core_end > floor && text[core_end - 1] == ' ')
                    start = lower(start, phone_core_start(text, floor, core_end - 1, 0));
            }
        }
    }
    return start;
}

static bool iban_character(const char *text, size_t floor, size_t at)
{
    return at >= floor && (digit_in(text, floor, at) || (text[at] >= 'A' && text[at] <= 'Z'));
}

/* (?: ?[A-Z0-9]{4}){2,7} ending at `end`, `groups` already read, then [A-Z]{2}[0-9]{2}. */
static size_t iban_groups_start(const char *text, size_t floor, size_t end, unsigned groups)
{
    size_t start = SIZE_MAX;
    if (end < floor + 4)
        return start;
    for (size_t i = end - 4; i < end; i++) {
        if (!iban_character(text, floor, i))
            return start;
    }
    for (size_t space = 0; space <= 1; space++) {
        size_t group = end - 4 - space; /* where the group, with its space, starts */
        if (space == 1 && !(end - 4 > floor && text[end - 5] == ' '))
            continue;
        if (groups + 1 >= 2 && group >= floor + 4 && text[group - 4] >= 'A' && text[group - 4] <= 'Z' &&
            text[group - 3] >= 'A' && text[group - 3] <= 'Z' && digit_in(text, floor, group - 2) &&
            digit_in(text, floor, group - 1))
            start = lower(start, group - 4);
        if (groups + 1 < 7)
            start = lower(start, iban_groups_start(text, floor, group, groups + 1));
    }
    return start;
}

/* [A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})? */
size_t mg_guard_iban_start(const char *text, size_t floor, size_t end)
{
    size_t start = iban_groups_start(text, floor, end, 0);
    for (size_t count = 1; count <= 3 && end >= floor + count && iban_character(text, floor, end - count); count++) {
        start = lower(start, iban_groups_start(text, floor, end - count, 0));
        if (end - count > floor && text[end - count - 1] == ' ')
            start = lower(start, iban_groups_start(text, floor, end - count - 1, 0));
    }
    return start;
}

static bool email_domain_character(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
}

/* [A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}: the domain has no '@', so the match's
 * '@' is the first byte before the run of domain characters; the local part is any tail of the run before
 * it, the leftmost one is all of it. */
size_t mg_guard_email_start(const char *text, size_t floor, size_t end)
{
    size_t at = end;
    while (at > floor && email_domain_character(text[at - 1]))
        at--;
    if (at == floor || text[at - 1] != '@')
        return SIZE_MAX;
    size_t start = at - 1;
    while (start > floor && (email_domain_character(text[start - 1]) || text[start - 1] == '_' ||
                             text[start - 1] == '%' || text[start - 1] == '+'))
        start--;
    return start < at - 1 ? start : SIZE_MAX;
}

static bool key_character(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* [A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9+/]{20,}={0,2}: the value has no '=', so it is the whole run of value
 * characters before the padding, with the '=' before it; the name is the longest tail of the run of
 * [A-Za-z0-9_] before that which starts with a letter or '_'. */
size_t mg_guard_key_value_start(const char *text, size_t floor, size_t end)
{
    size_t value_end = end;
    while (value_end > floor && end - value_end < 2 && text[value_end - 1] == '=')
        value_end--;
    size_t value = value_end;
    while (value > floor && (key_character(text[value - 1]) || text[value - 1] == '+' || text[value - 1] == '/') &&
           text[value - 1] != '_')
        value--;
    if (value_end - value < 20 || value == floor || text[value - 1] != '=')
        return SIZE_MAX;
    size_t name = value - 1;
    while (name > floor && key_character(text[name - 1]))
        name--;
    while (name < value - 1 && text[name] >= '0' && text[name] <= '9')
        name++;
    return name < value - 1 ? name : SIZE_MAX;
}
