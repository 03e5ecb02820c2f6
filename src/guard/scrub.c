/*
 * scrub.c - terminal escapes and invisible Unicode out of upstream text (scrub.h says what goes).
 *
 * The gateway runs this over every upstream message, and almost all of them are clean, so the design is
 * two paths. The clean check is a loop that passes over sixteen printable ASCII bytes at a time (SSE2;
 * eight elsewhere) and looks any other byte up in a 256-entry table: only C0 controls other than tab,
 * LF and CR, DEL, and the six UTF-8 lead bytes that can begin a removed character (0xC2: C1; 0xD8:
 * U+061C; 0xE1: U+180E; 0xE2: U+200B-U+206F; 0xEF: U+FEFF, U+FFF9-U+FFFB; 0xF3: tags) stop it, and at
 * those the one character is decoded and judged (curly quotes and dashes begin with 0xE2 too) before
 * the loop goes on. No allocation. A message is judged on its JSON text before it is parsed (the same
 * loop, which also stops at a backslash to decode the escape), because walking the parsed value costs a
 * call into jansson per member, several times the cost of the bytes; only a message with something to
 * remove is walked, and only a string with something to remove is copied, from its first removal on,
 * character by character, with escape sequences parsed the way ECMA-48 frames them (and the way
 * terminals do, erring on the side of dropping more).
 *
 * Dropping never creates what it removes: the output holds no ESC, no C0 but tab, LF and CR, and the
 * characters it keeps are whole valid code points, so scrubbing is idempotent (fuzz_scrub checks it).
 */
#include "guard/scrub.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "obs/log.h"

enum { KEEP = 0, ESCAPE, LINK, CONTROL, TAG, INVISIBLE, BIDI, INVALID };

/* For a byte the clean check must stop at: TEXT in text and in JSON text, JSON_ESCAPE (the backslash)
 * in JSON text only. */
enum { TEXT = 1, JSON_ESCAPE = 2 };
static const unsigned char suspect[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1,           [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x0b] = 1, [0x0c] = 1, [0x0e] = 1, [0x0f] = 1,           [0x10] = 1, [0x11] = 1, [0x12] = 1,
    [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,           [0x18] = 1, [0x19] = 1, [0x1a] = 1,
    [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,           [0x7f] = 1, [0xc2] = 1, [0xd8] = 1,
    [0xe1] = 1, [0xe2] = 1, [0xef] = 1, [0xf3] = 1, ['\\'] = JSON_ESCAPE,
};

/* Offset of the first byte whose suspect[] entry has a bit of `mask`, or len. Sixteen bytes at a time
 * with SSE2 (in every x86-64), eight with the word tricks of core/ascii.h elsewhere: a block of printable
 * ASCII (in JSON text: without a backslash) is passed over at once; in any other block only the bytes
 * outside that range are looked up. */
static inline size_t first_suspect_of(const unsigned char *p, size_t len, unsigned mask)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f), backslash = _mm_set1_epi8('\\');
    for (; len - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        /* signed: below 0x20 are the C0 controls and every byte from 0x80 on */
        __m128i outside = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del));
        if (mask & JSON_ESCAPE)
            outside = _mm_or_si128(outside, _mm_cmpeq_epi8(v, backslash));
        for (unsigned bits = (unsigned)_mm_movemask_epi8(outside); bits != 0; bits &= bits - 1) {
            size_t at = i + (size_t)__builtin_ctz(bits);
            if (suspect[p[at]] & mask)
                return at;
        }
    }
#else
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (len - i >= 8) {
        uint64_t word, del, slash;
        memcpy(&word, p + i, sizeof(word));
        del = word ^ (0x7f * ones);
        uint64_t outside = word | ((word - 0x20 * ones) & ~word) | ((del - ones) & ~del);
        if (mask & JSON_ESCAPE) {
            slash = word ^ ('\\' * ones);
            outside |= (slash - ones) & ~slash;
        }
        if ((outside & highs) == 0) {
            i += 8;
            continue;
        }
        for (size_t end = i + 8; i < end; i++) {
            if (suspect[p[i]] & mask)
                return i;
        }
    }
#endif
    for (; i < len; i++) {
        if (suspect[p[i]] & mask)
            return i;
    }
    return len;
}

static size_t first_suspect(const unsigned char *p, size_t len)
{
    return first_suspect_of(p, len, TEXT);
}

/* The valid UTF-8 character at p (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing
 * above U+10FFFF): its length, or 0. */
static size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        if (avail < 2 || (p[1] & 0xc0) != 0x80)
            return 0;
        *cp = (uint32_t)(c & 0x1f) << 6 | (p[1] & 0x3f);
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char low = c == 0xe0 ? 0xa0 : 0x80, high = c == 0xed ? 0x9f : 0xbf;
        if (avail < 3 || p[1] < low || p[1] > high || (p[2] & 0xc0) != 0x80)
            return 0;
        *cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char low = c == 0xf0 ? 0x90 : 0x80, high = c == 0xf4 ? 0x8f : 0xbf;
        if (avail < 4 || p[1] < low || p[1] > high || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 | (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
        return 4;
    }
    return 0;
}

/* What becomes of a character that does not begin an escape sequence. */
static int classify(uint32_t cp)
{
    if (cp < 0x20)
        return cp == '\t' || cp == '\n' || cp == '\r' ? KEEP : CONTROL;
    if (cp < 0x7f)
        return KEEP;
    if (cp <= 0x9f)
        return CONTROL;
    if (cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return BIDI;
    if (cp == 0x180e || (cp >= 0x200b && cp <= 0x200d) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
        (cp >= 0xfff9 && cp <= 0xfffb))
        return INVISIBLE;
    if (cp >= 0xe0000 && cp <= 0xe007f)
        return TAG;
    return KEEP;
}

/* Offset of the first byte of the first thing that must go, or len. Characters that merely begin with
 * a suspect byte (’ “ ” — … are all 0xE2) are decoded and passed over without writing anything. */
static size_t first_removal(const unsigned char *p, size_t len)
{
    size_t i = 0;
    for (;;) {
        i += first_suspect(p + i, len - i);
        if (i == len)
            return len;
        if (p[i] < 0x80)
            return i; /* every suspect ASCII byte goes: C0 controls, ESC, DEL */
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0 || classify(cp) != KEEP)
            return i;
        i += n;
    }
}

bool mg_scrub_is_clean(const char *text, size_t len)
{
    return first_removal((const unsigned char *)text, len) == len;
}

/* The four hex digits at p, or -1. */
static int32_t hex4(const unsigned char *p)
{
    int32_t value = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p[k];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value << 4 | digit;
    }
    return value;
}

bool mg_scrub_json_text_is_clean(const char *json, size_t len)
{
    const unsigned char *p = (const unsigned char *)json;
    size_t i = 0;
    for (;;) {
        i += first_suspect_of(p + i, len - i, TEXT | JSON_ESCAPE);
        if (i == len)
            return true;
        if (p[i] == '\\') {
            if (len - i < 2)
                return false;
            unsigned char kind = p[i + 1];
            if (kind == 'b' || kind == 'f')
                return false; /* backspace, form feed */
            if (kind != 'u') {
                i += 2; /* \" \\ \/ \n \r \t, or not JSON at all (then the parser refuses it) */
                continue;
            }
            int32_t cp = len - i >= 6 ? hex4(p + i + 2) : -1;
            if (cp < 0)
                return false;
            size_t n = 6;
            if (cp >= 0xd800 && cp <= 0xdbff && len - i >= 12 && p[i + 6] == '\\' && p[i + 7] == 'u') {
                int32_t low = hex4(p + i + 8);
                if (low >= 0xdc00 && low <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    n = 12;
                }
            }
            if (classify((uint32_t)cp) != KEEP)
                return false;
            i += n;
            continue;
        }
        if (p[i] < 0x80)
            return false;
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        if (n == 0 || classify(cp) != KEEP)
            return false;
        i += n;
    }
}

/* End of a control string (OSC, DCS, SOS, PM, APC) whose content starts at i: just after its ST
 * (ESC \ or U+009C), or BEL for OSC; the end of the text when there is none. */
static size_t string_end(const unsigned char *p, size_t len, size_t i, bool bel_ends)
{
    for (; i < len; i++) {
        if (p[i] == 0x07 && bel_ends)
            return i + 1;
        if (p[i] == 0x1b && i + 1 < len && p[i + 1] == '\\')
            return i + 2;
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] == 0x9c)
            return i + 2;
    }
    return len;
}

/* End of a CSI whose parameters start at i: parameter and intermediate bytes, then a final byte.
 * Anything else ends it early (terminals then show what follows; so does this). */
static size_t csi_end(const unsigned char *p, size_t len, size_t i)
{
    while (i < len && p[i] >= 0x20 && p[i] <= 0x3f)
        i++;
    if (i < len && p[i] >= 0x40 && p[i] <= 0x7e)
        i++;
    return i;
}

/* The sequence whose introducer (ESC x, or a C1 control, as `kind`: the C1 code) ends at i: its end,
 * and its category in *what. */
static size_t introduced_end(const unsigned char *p, size_t len, size_t i, unsigned kind, int *what)
{
    *what = ESCAPE;
    switch (kind) {
    case 0x9b: /* CSI */
        return csi_end(p, len, i);
    case 0x9d: /* OSC; OSC 8 is a hyperlink */
        if (i + 1 < len && p[i] == '8' && p[i + 1] == ';')
            *what = LINK;
        return string_end(p, len, i, true);
    case 0x90: /* DCS */
    case 0x98: /* SOS */
    case 0x9e: /* PM */
    case 0x9f: /* APC */
        return string_end(p, len, i, false);
    default:
        *what = CONTROL;
        return i;
    }
}

/* The escape sequence that begins with the ESC at i: its end and category. */
static size_t escape_end(const unsigned char *p, size_t len, size_t i, int *what)
{
    *what = ESCAPE;
    i++;
    if (i == len)
        return i;
    unsigned char c = p[i];
    if (c >= 0x40 && c <= 0x5f) { /* ESC Fe: the 7-bit form of C1 */
        int kind_what;
        size_t end = introduced_end(p, len, i + 1, 0x80u + (c - 0x40u), &kind_what);
        *what = kind_what == CONTROL ? ESCAPE : kind_what;
        return end;
    }
    if (c >= 0x20 && c <= 0x2f) { /* nF: intermediates, then a final byte */
        while (i < len && p[i] >= 0x20 && p[i] <= 0x2f)
            i++;
        return i < len && p[i] >= 0x30 && p[i] <= 0x7e ? i + 1 : i;
    }
    if (c >= 0x30 && c <= 0x7e) /* Fp, Fs: ESC 7, ESC c, ... */
        return i + 1;
    return i; /* ESC before a control or non-ASCII: the ESC alone */
}

static void count(mg_scrub_counts_t *counts, int what)
{
    if (counts == NULL)
        return;
    switch (what) {
    case ESCAPE:
        counts->escapes++;
        break;
    case LINK:
        counts->links++;
        break;
    case CONTROL:
        counts->controls++;
        break;
    case TAG:
        counts->tags++;
        break;
    case INVISIBLE:
        counts->invisible++;
        break;
    case BIDI:
        counts->bidi++;
        break;
    case INVALID:
        counts->invalid++;
        break;
    default:
        break;
    }
}

/* Writes the cleaned p[start..len) to out + start (out may be p); returns the end of what it wrote. */
static size_t scrub_from(const unsigned char *p, size_t len, size_t start, unsigned char *out,
                         mg_scrub_counts_t *counts)
{
    size_t i = start, o = start;
    while (i < len) {
        unsigned char c = p[i];
        if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r') {
            out[o++] = c;
            i++;
            continue;
        }
        int what;
        size_t next;
        uint32_t cp = 0;
        size_t n = c == 0x1b ? 1 : utf8_decode(p + i, len - i, &cp);
        if (c == 0x1b) {
            next = escape_end(p, len, i, &what);
        } else if (n == 0) {
            what = INVALID;
            next = i + 1;
        } else if (cp >= 0x80 && cp <= 0x9f) {
            next = introduced_end(p, len, i + n, cp, &what);
        } else {
            what = classify(cp);
            next = i + n;
        }
        if (what == KEEP) {
            memmove(out + o, p + i, n);
            o += n;
        } else {
            count(counts, what);
        }
        i = next;
    }
    return o;
}

bool mg_scrub_text(const char *text, size_t len, char *out, size_t *out_len, mg_scrub_counts_t *counts)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t start = first_removal(p, len);
    if (start == len)
        return false;
    if (out != text)
        memcpy(out, text, start);
    *out_len = scrub_from(p, len, start, (unsigned char *)out, counts);
    if (counts != NULL)
        counts->strings++;
    return true;
}

/* ---- JSON values ------------------------------------------------------------------------------ */

static int scrub_value(json_t *value, int depth, mg_scrub_counts_t *counts);

static int scrub_string(json_t *string, mg_scrub_counts_t *counts)
{
    const char *text = json_string_value(string);
    size_t len = json_string_length(string);
    if (mg_scrub_is_clean(text, len))
        return 0;
    char *out = malloc(len + 1);
    if (out == NULL)
        return MG_SCRUB_NO_MEMORY;
    size_t out_len;
    mg_scrub_text(text, len, out, &out_len, counts);
    /* valid UTF-8 in, valid UTF-8 out (whole characters kept): no need to check it again */
    int rc = json_string_setn_nocheck(string, out, out_len) == 0 ? 0 : MG_SCRUB_NO_MEMORY;
    free(out);
    return rc;
}

typedef struct st_member_t {
    char *key;
    size_t key_len;
    json_t *value;
} member_t;

/* Puts the members back under their scrubbed keys, in order, into the same object. */
static int refill_object(json_t *object, mg_scrub_counts_t *counts)
{
    size_t n = json_object_size(object), i = 0;
    member_t *members = calloc(n, sizeof(*members));
    if (members == NULL)
        return MG_SCRUB_NO_MEMORY;
    int rc = 0;
    for (void *it = json_object_iter(object); it != NULL; it = json_object_iter_next(object, it), i++) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        members[i].key = malloc(key_len + 1);
        if (members[i].key == NULL) {
            rc = MG_SCRUB_NO_MEMORY;
            break;
        }
        if (!mg_scrub_text(key, key_len, members[i].key, &members[i].key_len, counts)) {
            memcpy(members[i].key, key, key_len);
            members[i].key_len = key_len;
        }
        members[i].value = json_incref(json_object_iter_value(it));
    }
    if (rc == 0) {
        json_object_clear(object);
        for (i = 0; i < n; i++) {
            if (json_object_getn(object, members[i].key, members[i].key_len) != NULL) {
                if (counts != NULL)
                    counts->dropped_keys++;
            } else if (json_object_setn_nocheck(object, members[i].key, members[i].key_len, members[i].value) != 0) {
                rc = MG_SCRUB_NO_MEMORY;
            }
        }
    }
    for (i = 0; i < n; i++) {
        free(members[i].key);
        json_decref(members[i].value);
    }
    free(members);
    return rc;
}

static int scrub_object(json_t *object, int depth, mg_scrub_counts_t *counts, bool skip_id)
{
    bool keys_clean = true;
    for (void *it = json_object_iter(object); it != NULL; it = json_object_iter_next(object, it)) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        if (keys_clean && !mg_scrub_is_clean(key, key_len))
            keys_clean = false;
        if (skip_id && key_len == 2 && memcmp(key, "id", 2) == 0)
            continue;
        int rc = scrub_value(json_object_iter_value(it), depth + 1, counts);
        if (rc != 0)
            return rc;
    }
    return keys_clean ? 0 : refill_object(object, counts);
}

static int scrub_value(json_t *value, int depth, mg_scrub_counts_t *counts)
{
    switch (json_typeof(value)) {
    case JSON_STRING:
        return scrub_string(value, counts);
    case JSON_OBJECT:
        if (depth >= MG_SCRUB_MAX_DEPTH)
            return MG_SCRUB_TOO_DEEP;
        return scrub_object(value, depth, counts, false);
    case JSON_ARRAY: {
        if (depth >= MG_SCRUB_MAX_DEPTH)
            return MG_SCRUB_TOO_DEEP;
        size_t n = json_array_size(value);
        for (size_t i = 0; i < n; i++) {
            int rc = scrub_value(json_array_get(value, i), depth + 1, counts);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int mg_scrub_json(json_t *value, mg_scrub_counts_t *counts)
{
    return value == NULL ? 0 : scrub_value(value, 0, counts);
}

int mg_scrub_message(json_t *message, mg_scrub_counts_t *counts)
{
    if (!json_is_object(message))
        return mg_scrub_json(message, counts);
    return scrub_object(message, 0, counts, true);
}

size_t mg_scrub_counts_total(const mg_scrub_counts_t *counts)
{
    return counts->escapes + counts->links + counts->controls + counts->tags + counts->invisible + counts->bidi +
           counts->invalid;
}

void mg_scrub_log(const char *server, const mg_scrub_counts_t *counts)
{
    if (mg_scrub_counts_total(counts) == 0 && counts->dropped_keys == 0)
        return;
    if (!mg_log_enabled(MG_LOG_INFO))
        return;
    mg_log_fields(MG_LOG_INFO, "upstream.scrubbed",
                  json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "server", server, "escapes",
                            (json_int_t)counts->escapes, "links", (json_int_t)counts->links, "controls",
                            (json_int_t)counts->controls, "tags", (json_int_t)counts->tags, "invisible",
                            (json_int_t)counts->invisible, "bidi", (json_int_t)counts->bidi, "invalid",
                            (json_int_t)counts->invalid, "strings", (json_int_t)counts->strings, "dropped_keys",
                            (json_int_t)counts->dropped_keys),
                  "removed escape sequences or invisible characters from a message of %s", server);
}
