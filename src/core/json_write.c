/*
 * json_write.c - compact JSON text, as jansson writes it (contract in json_write.h).
 *
 * The writer appends pieces into an mg_bytes_t, making room before each write. Strings are
 * copied in runs between the bytes that need an escape; the rules for what is valid UTF-8 are
 * jansson's (utf.c): no overlong forms, no surrogates, nothing above U+10FFFF.
 *
 * Cycles: jansson keeps every container on the current path in a hash table and fails when one
 * comes round again. Here each path carries one checkpoint, the container last seen at a depth that
 * is a power of two (Brent's cycle finding): a cycle along the path meets its checkpoint within
 * twice its own length and start, so the verdict is the same -- the text of a cyclic value is never
 * used, only the failure -- at one comparison per container.
 */
#include "core/json_write.h"

#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUPPORTED_FLAGS                                                                                                \
    (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_ESCAPE_SLASH | JSON_PRESERVE_ORDER |   \
     JSON_REAL_PRECISION(31))
#define PRECISION_OF(flags) (((flags) >> 11) & 0x1F)
#define SORT_ON_STACK 16 /* members sorted without an allocation */

typedef struct st_writer_t {
    mg_bytes_t *out;
    size_t flags;
} writer_t;

static inline char *room(writer_t *w, size_t len)
{
    if (w->out->cap - w->out->len < len)
        mg_bytes_reserve(w->out, len);
    return w->out->base + w->out->len;
}

static inline void put(writer_t *w, const char *data, size_t len)
{
    memcpy(room(w, len), data, len);
    w->out->len += len;
}

static inline void put_char(writer_t *w, char c)
{
    *room(w, 1) = c;
    w->out->len++;
}

/* ---- strings ---- */

enum { PLAIN = 0, ESCAPE = 1, SLASH = 2, NON_ASCII = 3 };

/* What each byte needs inside a string. */
static const unsigned char byte_class[256] = {
    [0x00 ... 0x1F] = ESCAPE, ['"'] = ESCAPE, ['\\'] = ESCAPE, ['/'] = SLASH, [0x80 ... 0xFF] = NON_ASCII,
};

/* Length of the valid UTF-8 sequence at p (2-4) with its code point, or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end, int32_t *codepoint)
{
    unsigned char c = p[0];
    size_t size = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (size == 0 || (size_t)(end - p) < size)
        return 0;
    int32_t value = c & (size == 2 ? 0x1F : size == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < size; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
        value = value << 6 | (p[i] & 0x3F);
    }
    if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF) || (size == 3 && value < 0x800) ||
        (size == 4 && value < 0x10000))
        return 0;
    *codepoint = value;
    return size;
}

static void put_u_escape(writer_t *w, int32_t unit)
{
    static const char hex[] = "0123456789ABCDEF";
    char *t = room(w, 6);
    t[0] = '\\';
    t[1] = 'u';
    t[2] = hex[unit >> 12 & 0xF];
    t[3] = hex[unit >> 8 & 0xF];
    t[4] = hex[unit >> 4 & 0xF];
    t[5] = hex[unit & 0xF];
    w->out->len += 6;
}

static void put_escape(writer_t *w, unsigned char c)
{
    switch (c) {
    case '"':
        put(w, "\\\"", 2);
        break;
    case '\\':
        put(w, "\\\\", 2);
        break;
    case '/':
        put(w, "\\/", 2);
        break;
    case '\b':
        put(w, "\\b", 2);
        break;
    case '\f':
        put(w, "\\f", 2);
        break;
    case '\n':
        put(w, "\\n", 2);
        break;
    case '\r':
        put(w, "\\r", 2);
        break;
    case '\t':
        put(w, "\\t", 2);
        break;
    default:
        put_u_escape(w, c);
        break;
    }
}

/* Returns -1 on invalid UTF-8, having written what jansson has written by then: the opening quote and
 * everything up to the last escape (jansson writes plain runs only when an escape or the end comes). */
static int write_string(writer_t *w, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len, *run = p;
    bool escape_slash = (w->flags & JSON_ESCAPE_SLASH) != 0, ensure_ascii = (w->flags & JSON_ENSURE_ASCII) != 0;
    room(w, len + 2);
    put_char(w, '"');
    while (p < end) {
        while (p < end && byte_class[*p] == PLAIN)
            p++;
        if (p >= end)
            break;
        unsigned char kind = byte_class[*p];
        if (kind == PLAIN || (kind == SLASH && !escape_slash)) {
            p++;
            continue;
        }
        if (kind == NON_ASCII) {
            int32_t codepoint;
            size_t size = utf8_sequence(p, end, &codepoint);
            if (size == 0)
                return -1;
            if (!ensure_ascii) {
                p += size;
                continue;
            }
            put(w, (const char *)run, (size_t)(p - run));
            if (codepoint < 0x10000) {
                put_u_escape(w, codepoint);
            } else {
                codepoint -= 0x10000;
                put_u_escape(w, 0xD800 | (codepoint >> 10 & 0x3FF));
                put_u_escape(w, 0xDC00 | (codepoint & 0x3FF));
            }
            p += size;
            run = p;
            continue;
        }
        put(w, (const char *)run, (size_t)(p - run));
        put_escape(w, *p);
        run = ++p;
    }
    put(w, (const char *)run, (size_t)(p - run));
    put_char(w, '"');
    return 0;
}

/* ---- numbers ---- */

static void write_integer(writer_t *w, json_int_t value)
{
    char digits[24], *end = digits + sizeof(digits), *p = end;
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0)
        *--p = '-';
    put(w, p, (size_t)(end - p));
}

/* jansson's jsonp_dtostr: "%.17g" (or the flags' precision), the locale's decimal point read back
 * as '.', ".0" when the text would read as an integer, no '+' and no leading zeros in the exponent. */
static int write_real(writer_t *w, double value)
{
    char text[64];
    int precision = (int)PRECISION_OF(w->flags);
    int n = snprintf(text, sizeof(text), "%.*g", precision == 0 ? 17 : precision, value);
    if (n < 0 || (size_t)n >= sizeof(text) - 3)
        return -1;
    size_t len = (size_t)n;
    char point = localeconv()->decimal_point[0];
    if (point != '.') {
        char *at = strchr(text, point);
        if (at != NULL)
            *at = '.';
    }
    if (strchr(text, '.') == NULL && strchr(text, 'e') == NULL) {
        memcpy(text + len, ".0", 3);
        len += 2;
    }
    char *exponent = strchr(text, 'e');
    if (exponent != NULL) {
        char *start = exponent + 1, *digits = start + 1;
        if (*start == '-')
            start++;
        while (*digits == '0')
            digits++;
        if (digits != start) {
            memmove(start, digits, len - (size_t)(digits - text) + 1);
            len -= (size_t)(digits - start);
        }
    }
    put(w, text, len);
    return 0;
}

/* ---- containers ---- */

static int write_value(writer_t *w, const json_t *value, size_t depth, const json_t *checkpoint);
static int write_object_edited(writer_t *w, const json_t *object, const mg_json_edit_t *edits, size_t edits_len,
                               size_t depth, const json_t *checkpoint);

/* Brent: is `container` at `depth` the checkpoint (a cycle)? Moves the checkpoint at powers of two. */
static bool cycles(const json_t *container, size_t depth, const json_t **checkpoint)
{
    if (container == *checkpoint)
        return true;
    if ((depth & (depth - 1)) == 0)
        *checkpoint = container;
    return false;
}

typedef struct st_member_t {
    const char *key;
    size_t len;
    const json_t *value;
} member_t;

/* jansson's compare_keys: bytes first, then the shorter key first. */
static int compare_members(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    int order = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (order != 0)
        return order;
    return (int)x->len - (int)y->len;
}

static int write_sorted_object(writer_t *w, const json_t *object, size_t depth, const json_t *checkpoint)
{
    size_t size = json_object_size(object), count = 0;
    member_t on_stack[SORT_ON_STACK], *members = size <= SORT_ON_STACK ? on_stack : malloc(size * sizeof(member_t));
    if (members == NULL)
        return -1;
    for (void *iter = json_object_iter((json_t *)object); iter != NULL && count < size;
         iter = json_object_iter_next((json_t *)object, iter))
        members[count++] =
            (member_t){json_object_iter_key(iter), json_object_iter_key_len(iter), json_object_iter_value(iter)};
    if (count > 1)
        qsort(members, count, sizeof(member_t), compare_members);
    int rc = 0;
    put_char(w, '{');
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (i > 0)
            put_char(w, ',');
        (void)write_string(w, members[i].key, members[i].len); /* jansson ignores a key's failure */
        put_char(w, ':');
        rc = write_value(w, members[i].value, depth + 1, checkpoint);
    }
    if (members != on_stack)
        free(members);
    if (rc == 0)
        put_char(w, '}');
    return rc;
}

static int write_object(writer_t *w, const json_t *object, size_t depth, const json_t *checkpoint)
{
    if (w->flags & JSON_SORT_KEYS)
        return write_sorted_object(w, object, depth, checkpoint);
    put_char(w, '{');
    bool first = true;
    for (void *iter = json_object_iter((json_t *)object); iter != NULL;
         iter = json_object_iter_next((json_t *)object, iter)) {
        if (!first)
            put_char(w, ',');
        first = false;
        (void)write_string(w, json_object_iter_key(iter), json_object_iter_key_len(iter)); /* as jansson: ignored */
        put_char(w, ':');
        if (write_value(w, json_object_iter_value(iter), depth + 1, checkpoint) != 0)
            return -1;
    }
    put_char(w, '}');
    return 0;
}

static int write_array(writer_t *w, const json_t *array, size_t depth, const json_t *checkpoint)
{
    size_t size = json_array_size(array);
    put_char(w, '[');
    for (size_t i = 0; i < size; i++) {
        if (i > 0)
            put_char(w, ',');
        if (write_value(w, json_array_get(array, i), depth + 1, checkpoint) != 0)
            return -1;
    }
    put_char(w, ']');
    return 0;
}

static int write_value(writer_t *w, const json_t *value, size_t depth, const json_t *checkpoint)
{
    if (value == NULL)
        return -1;
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return cycles(value, depth, &checkpoint) ? -1 : write_object(w, value, depth, checkpoint);
    case JSON_ARRAY:
        return cycles(value, depth, &checkpoint) ? -1 : write_array(w, value, depth, checkpoint);
    case JSON_STRING:
        return write_string(w, json_string_value(value), json_string_length(value));
    case JSON_INTEGER:
        write_integer(w, json_integer_value(value));
        return 0;
    case JSON_REAL:
        return write_real(w, json_real_value(value));
    case JSON_TRUE:
        put(w, "true", 4);
        return 0;
    case JSON_FALSE:
        put(w, "false", 5);
        return 0;
    case JSON_NULL:
        put(w, "null", 4);
        return 0;
    }
    return -1;
}

/* ---- edits ---- */

static const mg_json_edit_t *find_edit(const mg_json_edit_t *edits, size_t edits_len, const size_t *lengths,
                                       const char *key, size_t len, bool *used)
{
    for (size_t i = 0; i < edits_len; i++) {
        if (!used[i] && lengths[i] == len && memcmp(edits[i].key, key, len) == 0) {
            used[i] = true;
            return &edits[i];
        }
    }
    return NULL;
}

/* One member whose value an edit gives. Returns 0, or -1. */
static int write_edited_member(writer_t *w, const char *key, size_t len, const mg_json_edit_t *edit, bool *first,
                               size_t depth, const json_t *checkpoint)
{
    if (edit->value == NULL)
        return 0;
    if (!*first)
        put_char(w, ',');
    *first = false;
    if (edit->text != NULL) {
        put(w, edit->text, strlen(edit->text));
        return 0;
    }
    (void)write_string(w, key, len);
    put_char(w, ':');
    if (edit->inner != NULL && json_is_object(edit->value))
        return write_object_edited(w, edit->value, edit->inner, edit->inner_len, depth + 1, checkpoint);
    return write_value(w, edit->value, depth + 1, checkpoint);
}

#define EDITS_MAX 8

static int write_object_edited(writer_t *w, const json_t *object, const mg_json_edit_t *edits, size_t edits_len,
                               size_t depth, const json_t *checkpoint)
{
    bool used[EDITS_MAX] = {false};
    size_t lengths[EDITS_MAX];
    if (edits_len > EDITS_MAX || cycles(object, depth, &checkpoint))
        return -1;
    for (size_t i = 0; i < edits_len; i++)
        lengths[i] = strlen(edits[i].key);
    put_char(w, '{');
    bool first = true;
    for (void *iter = json_object_iter((json_t *)object); iter != NULL;
         iter = json_object_iter_next((json_t *)object, iter)) {
        const char *key = json_object_iter_key(iter);
        size_t len = json_object_iter_key_len(iter);
        const mg_json_edit_t *edit = find_edit(edits, edits_len, lengths, key, len, used);
        if (edit != NULL && !edit->keep_existing) {
            if (write_edited_member(w, key, len, edit, &first, depth, checkpoint) != 0)
                return -1;
            continue;
        }
        if (!first)
            put_char(w, ',');
        first = false;
        (void)write_string(w, key, len);
        put_char(w, ':');
        if (write_value(w, json_object_iter_value(iter), depth + 1, checkpoint) != 0)
            return -1;
    }
    for (size_t i = 0; i < edits_len; i++) { /* new members, in the order they were set */
        if (!used[i] && write_edited_member(w, edits[i].key, lengths[i], &edits[i], &first, depth, checkpoint) != 0)
            return -1;
    }
    put_char(w, '}');
    return 0;
}

/* ---- entry points ---- */

static bool handled_here(size_t flags)
{
    return (flags & JSON_COMPACT) && (flags & ~(size_t)SUPPORTED_FLAGS) == 0;
}

int mg_json_write(mg_bytes_t *out, const json_t *value, size_t flags)
{
    if (!(flags & JSON_ENCODE_ANY) && !json_is_object(value) && !json_is_array(value))
        return -1;
    if (!handled_here(flags)) {
        char *text = json_dumps(value, flags);
        if (text == NULL)
            return -1;
        mg_bytes_append(out, text, strlen(text));
        free(text);
        return 0;
    }
    size_t before = out->len;
    writer_t w = {out, flags};
    if (write_value(&w, value, 0, NULL) != 0) {
        out->len = before;
        return -1;
    }
    return 0;
}

int mg_json_write_edited(mg_bytes_t *out, const json_t *object, const mg_json_edit_t *edits, size_t edits_len,
                         size_t flags)
{
    if (!json_is_object(object) || !handled_here(flags) || (flags & JSON_SORT_KEYS))
        return -1;
    size_t before = out->len;
    writer_t w = {out, flags};
    if (write_object_edited(&w, object, edits, edits_len, 0, NULL) != 0) {
        out->len = before;
        return -1;
    }
    return 0;
}

char *mg_json_write_text(const json_t *value, size_t flags, size_t *len)
{
    mg_bytes_t out = {0};
    mg_bytes_reserve(&out, 128);
    if (mg_json_write(&out, value, flags) != 0) {
        mg_bytes_dispose(&out);
        return NULL;
    }
    mg_bytes_reserve(&out, 1);
    out.base[out.len] = '\0';
    if (len != NULL)
        *len = out.len;
    return out.base;
}
