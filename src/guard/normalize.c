/*
 * normalize.c - the text the detectors see, and the way back to the text they were given.
 *
 * Evasion tries to make a marker unrecognisable to a pattern while a model still reads it: fullwidth
 * letters ("ｉｇｎｏｒｅ"), accents ("ignóre"), zero-width or tag characters inside a word ("ig\u200Bnore"),
 * escapes a JSON or HTML consumer will decode ("\u0069gnore", "%69gnore", "&#105;gnore"). Each code point
 * is therefore decoded (escapes first), then decomposed by utf8proc with compatibility mappings (the K of
 * NFKC), marks stripped, default-ignorable code points dropped and look-alike punctuation lumped
 * (UTF8PROC_LUMP: the many dashes, spaces and quotes become their ASCII selves). Composition is not
 * needed: with marks stripped there is nothing left to compose, and per-code-point decomposition is what
 * keeps an exact offset map. What this does not undo: homoglyphs from other scripts (Cyrillic "і" in
 * "іgnore" stays Cyrillic), text split by markup, base64 or other encodings.
 *
 * Each output byte records the original bytes [start, end) it came from, so a finding is reported and
 * redacted in the original text. Plain ASCII without anything that decodes is scanned in place: that is
 * the common case, and it costs one pass over a lookup table and no copy.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "guard/detect_internal.h"

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex_run(const char *s, size_t len, size_t count)
{
    if (len < count)
        return false;
    for (size_t i = 0; i < count; i++) {
        if (hex_value((unsigned char)s[i]) < 0)
            return false;
    }
    return true;
}

static unsigned hex_number(const char *s, size_t count)
{
    unsigned value = 0;
    for (size_t i = 0; i < count; i++)
        value = value * 16 + (unsigned)hex_value((unsigned char)s[i]);
    return value;
}

/* Bytes after which an escape may start; everything else is copied as is. */
static bool is_special(unsigned char c)
{
    return c >= 0x80 || c == '\\' || c == '%' || c == '&';
}

/* An escape starting at s[0] (one of \ % &): its code point and length, or 0 when it is none. */
static size_t decode_escape(const char *s, size_t len, int32_t *cp)
{
    if (s[0] == '\\' && len >= 6 && (s[1] == 'u' || s[1] == 'U') && hex_run(s + 2, len - 2, 4)) {
        unsigned high = hex_number(s + 2, 4);
        if (high >= 0xD800 && high <= 0xDBFF && len >= 12 && s[6] == '\\' && s[7] == 'u' &&
            hex_run(s + 8, len - 8, 4)) {
            unsigned low = hex_number(s + 8, 4);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                *cp = (int32_t)(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00));
                return 12;
            }
        }
        *cp = (int32_t)high;
        return 6;
    }
    if (s[0] == '\\' && len >= 4 && s[1] == 'x' && hex_run(s + 2, len - 2, 2)) {
        *cp = (int32_t)hex_number(s + 2, 2);
        return 4;
    }
    if (s[0] == '%' && len >= 3 && hex_run(s + 1, len - 1, 2)) {
        unsigned char bytes[4];
        size_t n = 0;
        while (n < 4 && n * 3 + 3 <= len && s[n * 3] == '%' && hex_run(s + n * 3 + 1, len - n * 3 - 1, 2)) {
            bytes[n] = (unsigned char)hex_number(s + n * 3 + 1, 2);
            n++;
            if (bytes[0] < 0x80)
                break;
        }
        utf8proc_int32_t value;
        utf8proc_ssize_t used = utf8proc_iterate(bytes, (utf8proc_ssize_t)n, &value);
        if (used <= 0)
            return 0;
        *cp = value;
        return (size_t)used * 3;
    }
    if (s[0] == '&' && len >= 4) {
        static const struct {
            const char *name;
            int32_t cp;
        } named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", ' '}};
        if (s[1] == '#') {
            bool hex = s[2] == 'x' || s[2] == 'X';
            size_t i = hex ? 3 : 2;
            unsigned value = 0;
            size_t digits = 0;
            for (; i < len && digits < 7; i++, digits++) {
                int v = hex ? hex_value((unsigned char)s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
                if (v < 0)
                    break;
                value = value * (hex ? 16 : 10) + (unsigned)v;
            }
            if (digits == 0 || i >= len || s[i] != ';' || value > 0x10FFFF)
                return 0;
            *cp = (int32_t)value;
            return i + 1;
        }
        for (size_t n = 0; n < sizeof(named) / sizeof(named[0]); n++) {
            size_t name_len = strlen(named[n].name);
            if (len >= name_len + 1 && memcmp(s + 1, named[n].name, name_len) == 0) {
                *cp = named[n].cp;
                return name_len + 1;
            }
        }
    }
    return 0;
}

typedef unsigned char mg_guard_bytes16_t __attribute__((vector_size(16)));

/* The first byte at or after `from` that is_special (len when none): sixteen bytes at a time (a GCC/clang
 * generic vector), then one by one. */
static size_t next_special(const char *text, size_t from, size_t len)
{
    size_t i = from;
    for (; i + 16 <= len; i += 16) {
        mg_guard_bytes16_t bytes;
        memcpy(&bytes, text + i, 16);
        mg_guard_bytes16_t special =
            (mg_guard_bytes16_t)((bytes >= 0x80) | (bytes == '\\') | (bytes == '%') | (bytes == '&'));
        uint64_t words[2];
        memcpy(words, &special, 16);
        if ((words[0] | words[1]) != 0)
            break;
    }
    while (i < len && !is_special((unsigned char)text[i]))
        i++;
    return i;
}

bool mg_guard_needs_normalizing(const char *text, size_t len)
{
    for (size_t i = next_special(text, 0, len); i < len; i = next_special(text, i + 1, len)) {
        if ((unsigned char)text[i] >= 0x80)
            return true;
        int32_t cp;
        if (decode_escape(text + i, len - i, &cp) != 0)
            return true;
    }
    return false;
}

static int reserve(mg_guard_normalized_t *out, size_t extra)
{
    if (out->len + extra <= out->capacity)
        return 0;
    size_t capacity = out->capacity == 0 ? 256 : out->capacity;
    while (capacity < out->len + extra)
        capacity *= 2;
    char *text = realloc(out->text, capacity);
    if (text != NULL)
        out->text = text;
    uint32_t *start = realloc(out->start, capacity * sizeof(uint32_t));
    if (start != NULL)
        out->start = start;
    uint32_t *end = realloc(out->end, capacity * sizeof(uint32_t));
    if (end != NULL)
        out->end = end;
    if (text == NULL || start == NULL || end == NULL)
        return -1;
    out->capacity = capacity;
    return 0;
}

/* Bytes copied as they are, each from itself: written as loops the compiler turns into vector stores. */
static void put_run(mg_guard_normalized_t *out, const char *text, size_t from, size_t to)
{
    size_t n = to - from;
    char *bytes = out->text + out->len;
    uint32_t *start = out->start + out->len, *end = out->end + out->len;
    memcpy(bytes, text + from, n);
    for (size_t k = 0; k < n; k++) {
        start[k] = (uint32_t)(from + k);
        end[k] = (uint32_t)(from + k + 1);
    }
    out->len += n;
}

static void put(mg_guard_normalized_t *out, unsigned char c, size_t from, size_t to)
{
    out->text[out->len] = (char)c;
    out->start[out->len] = (uint32_t)from;
    out->end[out->len] = (uint32_t)to;
    out->len++;
}

#define DECOMPOSED_MAX 32 /* utf8proc's longest compatibility decomposition is 18 code points */

/* Appends the normalised form of one code point that came from original bytes [from, to). */
static int put_code_point(mg_guard_normalized_t *out, int32_t cp, size_t from, size_t to)
{
    if (cp < 0x80) {
        if (reserve(out, 1) != 0)
            return -1;
        put(out, (unsigned char)cp, from, to);
        return 0;
    }
    utf8proc_int32_t decomposed[DECOMPOSED_MAX];
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    utf8proc_ssize_t count = utf8proc_decompose_char(
        cp, decomposed, DECOMPOSED_MAX,
        UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE | UTF8PROC_LUMP, &boundclass);
    if (count < 0 || count > DECOMPOSED_MAX) {
        decomposed[0] = cp; /* unassigned or too long: keep it as it is */
        count = 1;
    }
    if (reserve(out, (size_t)count * 4) != 0)
        return -1;
    for (utf8proc_ssize_t i = 0; i < count; i++) {
        utf8proc_uint8_t bytes[4];
        utf8proc_ssize_t n = utf8proc_encode_char(decomposed[i], bytes);
        for (utf8proc_ssize_t b = 0; b < n; b++)
            put(out, bytes[b], from, to);
    }
    return 0;
}

int mg_guard_normalize(const char *text, size_t len, mg_guard_normalized_t *out)
{
    out->len = 0;
    if (reserve(out, len + 16) != 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        if (!is_special(c)) {
            size_t run = next_special(text, i, len);
            if (reserve(out, run - i) != 0)
                return -1;
            put_run(out, text, i, run);
            i = run;
            continue;
        }
        int32_t cp;
        size_t used = c < 0x80 ? decode_escape(text + i, len - i, &cp) : 0;
        if (used == 0 && c >= 0x80) {
            utf8proc_int32_t value;
            utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                                  (utf8proc_ssize_t)(len - i < 4 ? len - i : 4), &value);
            if (n > 0) {
                cp = value;
                used = (size_t)n;
            }
        }
        if (used == 0) { /* a lone '\\', '%', '&', or a byte that is not UTF-8: kept as it is */
            if (reserve(out, 1) != 0)
                return -1;
            put(out, c, i, i + 1);
            i++;
            continue;
        }
        if (put_code_point(out, cp, i, i + used) != 0)
            return -1;
        i += used;
    }
    return 0;
}

void mg_guard_normalized_dispose(mg_guard_normalized_t *normalized)
{
    free(normalized->text);
    free(normalized->start);
    free(normalized->end);
    memset(normalized, 0, sizeof(*normalized));
}
