/*
 * mirror.c - request-metadata headers checked against the body (contract in mirror.h).
 *
 * Three parts: value encoding (the base64 sentinel, UTF-8, exact integers), the
 * schema scan that finds and validates x-mcp-header annotations, and the checks and
 * emission built on a walk of the `properties` chains in step with the arguments.
 *
 * A schema is validated before it is trusted: a walk of the whole tree. Callers that keep
 * a tool catalog keep an mg_mirror_schemas_t next to it, so each schema is walked once; a
 * schema without annotations then costs a calls check nothing more.
 */
#include "mcp/mirror.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ascii.h"

#define SENTINEL_PREFIX "=?base64?"
#define SENTINEL_SUFFIX "?="
#define PREFIX_LEN (sizeof(SENTINEL_PREFIX) - 1)
#define SUFFIX_LEN (sizeof(SENTINEL_SUFFIX) - 1)
#define PARAM_PREFIX "Mcp-Param-"
#define PROTOCOL_VERSION_KEY "io.modelcontextprotocol/protocolVersion"
#define MAX_SAFE_INTEGER 9007199254740991LL /* 2^53 - 1: what a JavaScript number holds exactly */
#define SHOWN_MAX 48                        /* bytes of a value quoted in a message */
#define SCHEMA_DEPTH_MAX 64                 /* deeper schemas are refused rather than recursed into */

/* ---- messages ---- */

static int say(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int say(char *why, size_t why_len, const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Untrusted bytes made fit for a message: at most SHOWN_MAX of them, printable ASCII as is,
 * anything else (and the quote and backslash) as \xNN, "..." when cut. */
typedef struct st_shown_t {
    char text[SHOWN_MAX * 4 + 4];
} shown_t;

static const char *show(shown_t *out, const char *bytes, size_t len)
{
    size_t at = 0;
    for (size_t i = 0; i < len && i < SHOWN_MAX; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
            out->text[at++] = (char)c;
        else
            at += (size_t)snprintf(out->text + at, 5, "\\x%02x", c);
    }
    if (len > SHOWN_MAX) {
        memcpy(out->text + at, "...", 3);
        at += 3;
    }
    out->text[at] = '\0';
    return out->text;
}

/* ---- value encoding ---- */

static bool ascii_equal_nocase(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return false;
    }
    return true;
}

/* RFC 9110 field-value bytes: visible ASCII, space, tab (a table: every mirrored header is read byte by byte). */
static const bool field_value_byte[256] = {['\t'] = true, [0x20 ... 0x7e] = true};

static bool is_field_value(mg_mirror_value_t value)
{
    size_t i = mg_ascii_printable_prefix(value.base, value.len, 0x20); /* nearly every value is all of it */
    for (; i < value.len; i++) {
        if (!field_value_byte[(unsigned char)value.base[i]])
            return false;
    }
    return true;
}

/* RFC 9110 token (1*tchar). */
static bool is_token(const char *text, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (!alnum && (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL))
            return false;
    }
    return true;
}

static bool has_sentinel_ends(const char *text, size_t len)
{
    return len >= PREFIX_LEN && memcmp(text, SENTINEL_PREFIX, PREFIX_LEN) == 0 && len >= SUFFIX_LEN &&
           memcmp(text + len - SUFFIX_LEN, SENTINEL_SUFFIX, SUFFIX_LEN) == 0;
}

/* "=?base64?=" has both ends overlapping: some readers decode it to "", others take it literally,
 * so decode_sentinel refuses it (and the encoder never produces it). */
static bool is_sentinel(mg_mirror_value_t value)
{
    return has_sentinel_ends(value.base, value.len);
}

/* Plain means: a header can carry it as is and it will read back the same (spec "Value Encoding").
 * The empty string is encoded too: some HTTP stacks drop empty headers (the TypeScript SDK does the same). */
static bool is_plain(const char *text, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
            return false;
    }
    if (text[0] == ' ' || text[len - 1] == ' ')
        return false;
    return !has_sentinel_ends(text, len);
}

static const char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int base64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes one 4-character group; padding only in the last. Returns 1-3 bytes, or -1 for a byte
 * outside the alphabet, misplaced padding or leftover bits (a non-canonical encoding). */
static int decode_group(const char *group, bool last, uint8_t out[3])
{
    int pad = 0;
    if (last && group[3] == '=')
        pad = group[2] == '=' ? 2 : 1;
    int digit[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4 - pad; i++) {
        if ((digit[i] = base64_digit((unsigned char)group[i])) < 0)
            return -1;
    }
    if ((pad == 2 && (digit[1] & 0x0f) != 0) || (pad == 1 && (digit[2] & 0x03) != 0))
        return -1;
    uint32_t bits = (uint32_t)digit[0] << 18 | (uint32_t)digit[1] << 12 | (uint32_t)digit[2] << 6 | (uint32_t)digit[3];
    out[0] = (uint8_t)(bits >> 16);
    out[1] = (uint8_t)(bits >> 8);
    out[2] = (uint8_t)bits;
    return 3 - pad;
}

/* A streaming UTF-8 check (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
typedef struct st_utf8_t {
    uint8_t need, low, high;
    bool bad;
} utf8_t;

static void utf8_step(utf8_t *utf8, uint8_t c)
{
    if (utf8->bad)
        return;
    if (utf8->need > 0) {
        if (c < utf8->low || c > utf8->high)
            utf8->bad = true;
        utf8->need--;
        utf8->low = 0x80;
        utf8->high = 0xbf;
        return;
    }
    if (c < 0x80)
        return;
    utf8->low = 0x80;
    utf8->high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        utf8->need = 1;
    else if (c == 0xe0)
        utf8->need = 2, utf8->low = 0xa0;
    else if (c == 0xed)
        utf8->need = 2, utf8->high = 0x9f;
    else if (c >= 0xe1 && c <= 0xef)
        utf8->need = 2;
    else if (c == 0xf0)
        utf8->need = 3, utf8->low = 0x90;
    else if (c == 0xf4)
        utf8->need = 3, utf8->high = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3)
        utf8->need = 3;
    else
        utf8->bad = true;
}

typedef enum en_verdict_t { SAME, DIFFERENT, BAD_BASE64, BAD_UTF8 } verdict_t;

/* Where decoded bytes go: compared against `expected` and/or copied into `copy`. */
typedef struct st_decoding_t {
    const char *expected;
    size_t expected_len;
    char *copy;
    size_t copy_cap;
    size_t len;
    bool same;
} decoding_t;

static verdict_t decode_sentinel(mg_mirror_value_t value, decoding_t *decoding)
{
    if (value.len < PREFIX_LEN + SUFFIX_LEN)
        return BAD_BASE64;
    const char *payload = value.base + PREFIX_LEN;
    size_t payload_len = value.len - PREFIX_LEN - SUFFIX_LEN;
    if (payload_len % 4 != 0)
        return BAD_BASE64;
    utf8_t utf8 = {0, 0, 0, false};
    decoding->len = 0;
    decoding->same = true;
    for (size_t i = 0; i < payload_len; i += 4) {
        uint8_t bytes[3];
        int count = decode_group(payload + i, i + 4 == payload_len, bytes);
        if (count < 0)
            return BAD_BASE64;
        for (int j = 0; j < count; j++, decoding->len++) {
            utf8_step(&utf8, bytes[j]);
            if (decoding->expected != NULL &&
                (decoding->len >= decoding->expected_len || (uint8_t)decoding->expected[decoding->len] != bytes[j]))
                decoding->same = false;
            if (decoding->copy != NULL && decoding->len < decoding->copy_cap)
                decoding->copy[decoding->len] = (char)bytes[j];
        }
    }
    if (utf8.bad || utf8.need > 0)
        return BAD_UTF8;
    return SAME;
}

static verdict_t compare_text(mg_mirror_value_t header, const char *expected, size_t expected_len, bool encodable)
{
    if (!encodable || !is_sentinel(header))
        return header.len == expected_len && memcmp(header.base, expected, expected_len) == 0 ? SAME : DIFFERENT;
    decoding_t decoding = {expected, expected_len, NULL, 0, 0, true};
    verdict_t verdict = decode_sentinel(header, &decoding);
    if (verdict != SAME)
        return verdict;
    return decoding.same && decoding.len == expected_len ? SAME : DIFFERENT;
}

/* Parses a decimal number ("-42", "42.0"; the TypeScript SDK's form, no exponent) exactly. Returns 0 when it
 * is an integer within +-(2^53-1), else -1. Never overflows: significant digits are counted first. */
static int parse_integer(const char *text, size_t len, int64_t *out)
{
    size_t i = 0;
    bool negative = len > 0 && text[0] == '-';
    i += negative;
    size_t int_start = i;
    while (i < len && text[i] >= '0' && text[i] <= '9')
        i++;
    size_t int_end = i;
    if (int_end == int_start)
        return -1;
    if (i < len && text[i] == '.') {
        size_t frac_start = ++i;
        while (i < len && text[i] == '0') /* any other digit makes a fraction */
            i++;
        if (i == frac_start || i != len)
            return -1;
    }
    if (i != len)
        return -1;
    while (int_start < int_end && text[int_start] == '0')
        int_start++;
    if (int_end - int_start > 16) /* at least 10^16 > 2^53 */
        return -1;
    uint64_t value = 0;
    for (size_t k = int_start; k < int_end; k++)
        value = value * 10 + (uint64_t)(text[k] - '0');
    if (value > (uint64_t)MAX_SAFE_INTEGER)
        return -1;
    *out = negative ? -(int64_t)value : (int64_t)value;
    return 0;
}

/* A JSON integer, or a real without fraction (42.0), within +-(2^53-1). */
static int body_integer(const json_t *value, int64_t *out)
{
    if (json_is_integer(value)) {
        json_int_t number = json_integer_value(value);
        if (number < -MAX_SAFE_INTEGER || number > MAX_SAFE_INTEGER)
            return -1;
        *out = (int64_t)number;
        return 0;
    }
    double real = json_real_value(value);
    if (!json_is_real(value) || real != floor(real) || fabs(real) > (double)MAX_SAFE_INTEGER)
        return -1;
    *out = (int64_t)real;
    return 0;
}

static verdict_t compare_integer(mg_mirror_value_t header, int64_t expected)
{
    int64_t number;
    if (!is_sentinel(header))
        return parse_integer(header.base, header.len, &number) == 0 && number == expected ? SAME : DIFFERENT;
    char small[64];
    size_t cap = header.len < PREFIX_LEN + SUFFIX_LEN ? 0 : (header.len - PREFIX_LEN - SUFFIX_LEN) / 4 * 3;
    char *copy = cap <= sizeof(small) ? small : malloc(cap);
    if (copy == NULL)
        return DIFFERENT;
    decoding_t decoding = {NULL, 0, copy, cap, 0, true};
    verdict_t verdict = decode_sentinel(header, &decoding);
    if (verdict == SAME && (parse_integer(copy, decoding.len, &number) != 0 || number != expected))
        verdict = DIFFERENT;
    if (copy != small)
        free(copy);
    return verdict;
}

char *mg_mirror_encode(const char *utf8, size_t len)
{
    if (is_plain(utf8, len)) {
        char *out = malloc(len + 1);
        if (out != NULL) {
            memcpy(out, utf8, len);
            out[len] = '\0';
        }
        return out;
    }
    if (len > (SIZE_MAX - PREFIX_LEN - SUFFIX_LEN - 8) / 4 * 3)
        return NULL;
    char *out = malloc(PREFIX_LEN + (len + 2) / 3 * 4 + SUFFIX_LEN + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, SENTINEL_PREFIX, PREFIX_LEN);
    size_t at = PREFIX_LEN;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        uint32_t bits = (uint32_t)(uint8_t)utf8[i] << 16;
        if (left > 1)
            bits |= (uint32_t)(uint8_t)utf8[i + 1] << 8;
        if (left > 2)
            bits |= (uint8_t)utf8[i + 2];
        out[at++] = base64_alphabet[bits >> 18 & 63];
        out[at++] = base64_alphabet[bits >> 12 & 63];
        out[at++] = left > 1 ? base64_alphabet[bits >> 6 & 63] : '=';
        out[at++] = left > 2 ? base64_alphabet[bits & 63] : '=';
    }
    memcpy(out + at, SENTINEL_SUFFIX, SUFFIX_LEN + 1);
    return out;
}

/* ---- the schema scan ---- */

/* The scan keeps its place as a stack of keys and indexes and spells it out (a JSON pointer) only for
 * a message, so a valid schema costs no formatting. */
typedef struct st_segment_t {
    const char *key; /* NULL: an array index */
    size_t index;
} segment_t;

typedef struct st_scan_t {
    const json_t *names[MG_MIRROR_MAX_ANNOTATIONS];
    size_t names_len;
    segment_t path[2 * SCHEMA_DEPTH_MAX + 4]; /* a level pushes a keyword and at most one name or index */
    size_t path_len;
    char where[160];
    char *why;
    size_t why_len;
} scan_t;

static void path_push(scan_t *scan, const char *key, size_t index)
{
    assert(scan->path_len < sizeof(scan->path) / sizeof(scan->path[0]));
    scan->path[scan->path_len++] = (segment_t){key, index};
}

static void path_pop(scan_t *scan)
{
    assert(scan->path_len > 0);
    scan->path_len--;
}

/* "#/properties/a~1b/items/0", cut to fit. */
static const char *where(scan_t *scan)
{
    size_t at = 0, cap = sizeof(scan->where) - 4;
    scan->where[at++] = '#';
    for (size_t i = 0; i < scan->path_len && at < cap; i++) {
        char segment[sizeof(shown_t) + 24];
        const segment_t *step = &scan->path[i];
        if (step->key == NULL) {
            snprintf(segment, sizeof(segment), "%zu", step->index);
        } else {
            shown_t shown;
            snprintf(segment, sizeof(segment), "%s", show(&shown, step->key, strlen(step->key)));
        }
        scan->where[at++] = '/';
        for (const char *p = segment; *p != '\0' && at < cap; p++) {
            if (*p == '~' || *p == '/') /* JSON pointer escapes */
                scan->where[at++] = '~', scan->where[at++] = *p == '~' ? '0' : '1';
            else
                scan->where[at++] = *p;
        }
    }
    scan->where[at] = '\0';
    return scan->where;
}

static bool is_mirrorable_type_name(const char *name)
{
    return strcmp(name, "string") == 0 || strcmp(name, "integer") == 0 || strcmp(name, "boolean") == 0;
}

/* "integer", "string", "boolean", or an array of them that may add "null". */
static bool is_mirrorable_type(const json_t *type)
{
    if (json_is_string(type))
        return is_mirrorable_type_name(json_string_value(type));
    if (!json_is_array(type))
        return false;
    bool some = false;
    for (size_t i = 0; i < json_array_size(type); i++) {
        const char *name = json_string_value(json_array_get(type, i));
        if (name == NULL || (strcmp(name, "null") != 0 && !is_mirrorable_type_name(name)))
            return false;
        some |= strcmp(name, "null") != 0;
    }
    return some;
}

static int check_annotation(scan_t *scan, const json_t *schema, const json_t *annotation, bool on_property_chain)
{
    shown_t shown;
    if (!json_is_string(annotation))
        return say(scan->why, scan->why_len, "x-mcp-header at %s is not a string", where(scan));
    const char *name = json_string_value(annotation);
    size_t len = json_string_length(annotation);
    if (!on_property_chain)
        return say(scan->why, scan->why_len,
                   "x-mcp-header '%s' at %s is not on a property reached from the root through properties keys alone",
                   show(&shown, name, len), where(scan));
    if (!is_token(name, len))
        return say(scan->why, scan->why_len, "x-mcp-header '%s' at %s is not an HTTP token", show(&shown, name, len),
                   where(scan));
    if (!is_mirrorable_type(json_object_get(schema, "type")))
        return say(scan->why, scan->why_len,
                   "x-mcp-header '%s' at %s is on a property whose type is not integer, string or boolean",
                   show(&shown, name, len), where(scan));
    for (size_t i = 0; i < scan->names_len; i++) {
        if (ascii_equal_nocase(json_string_value(scan->names[i]), json_string_length(scan->names[i]), name, len))
            return say(scan->why, scan->why_len, "x-mcp-header '%s' at %s repeats another one (case-insensitively)",
                       show(&shown, name, len), where(scan));
    }
    if (scan->names_len == MG_MIRROR_MAX_ANNOTATIONS)
        return say(scan->why, scan->why_len, "more than %d x-mcp-header annotations", MG_MIRROR_MAX_ANNOTATIONS);
    scan->names[scan->names_len++] = annotation;
    return 0;
}

static int scan_schema(scan_t *scan, const json_t *schema, bool reachable, int depth);

/* Any JSON that is not a known schema position: objects in it are read as schemas, none reachable. */
static int scan_any(scan_t *scan, const json_t *value, int depth)
{
    if (json_is_object(value))
        return scan_schema(scan, value, false, depth);
    for (size_t i = 0; i < json_array_size(value); i++) {
        path_push(scan, NULL, i);
        int rc = depth >= SCHEMA_DEPTH_MAX ? say(scan->why, scan->why_len, "schema nests too deeply at %s", where(scan))
                                           : scan_any(scan, json_array_get(value, i), depth + 1);
        path_pop(scan);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef enum en_keyword_t {
    KEYWORD_ANNOTATION, /* x-mcp-header */
    KEYWORD_DATA,       /* instance values, never schemas: const, enum, default, examples */
    KEYWORD_PROPERTIES, /* names to subschemas, the one map that keeps reachability */
    KEYWORD_SCHEMA_MAP, /* other names to subschemas: patternProperties, $defs, definitions, dependentSchemas */
    KEYWORD_OTHER,      /* read as schemas wherever objects appear */
} keyword_t;

/* Dispatches on the first byte so that the common keywords (type, description, required...) cost one test. */
static keyword_t classify(const char *keyword)
{
    switch (keyword[0]) {
    case 'x':
        return strcmp(keyword, "x-mcp-header") == 0 ? KEYWORD_ANNOTATION : KEYWORD_OTHER;
    case 'c':
        return strcmp(keyword, "const") == 0 ? KEYWORD_DATA : KEYWORD_OTHER;
    case 'e':
        return strcmp(keyword, "enum") == 0 || strcmp(keyword, "examples") == 0 ? KEYWORD_DATA : KEYWORD_OTHER;
    case 'd':
        if (strcmp(keyword, "default") == 0)
            return KEYWORD_DATA;
        return strcmp(keyword, "definitions") == 0 || strcmp(keyword, "dependentSchemas") == 0 ? KEYWORD_SCHEMA_MAP
                                                                                               : KEYWORD_OTHER;
    case 'p':
        if (strcmp(keyword, "properties") == 0)
            return KEYWORD_PROPERTIES;
        return strcmp(keyword, "patternProperties") == 0 ? KEYWORD_SCHEMA_MAP : KEYWORD_OTHER;
    case '$':
        return strcmp(keyword, "$defs") == 0 ? KEYWORD_SCHEMA_MAP : KEYWORD_OTHER;
    default:
        return KEYWORD_OTHER;
    }
}

static int scan_map(scan_t *scan, const json_t *map, bool reachable, int depth)
{
    const char *name;
    json_t *subschema;
    json_object_foreach((json_t *)map, name, subschema)
    {
        path_push(scan, name, 0);
        int rc = json_is_object(subschema) ? scan_schema(scan, subschema, reachable, depth + 1)
                                           : scan_any(scan, subschema, depth + 1);
        path_pop(scan);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* `reachable`: reached from the root through `properties` alone (the root itself, depth 0, is no property). */
static int scan_schema(scan_t *scan, const json_t *schema, bool reachable, int depth)
{
    if (depth >= SCHEMA_DEPTH_MAX)
        return say(scan->why, scan->why_len, "schema nests too deeply at %s", where(scan));
    const json_t *annotation = json_object_get(schema, "x-mcp-header");
    if (annotation != NULL && check_annotation(scan, schema, annotation, reachable && depth > 0) != 0)
        return -1;
    const char *keyword;
    json_t *value;
    json_object_foreach((json_t *)schema, keyword, value)
    {
        keyword_t kind = classify(keyword);
        if (kind == KEYWORD_ANNOTATION || kind == KEYWORD_DATA)
            continue;
        path_push(scan, keyword, 0);
        int rc;
        if ((kind == KEYWORD_PROPERTIES || kind == KEYWORD_SCHEMA_MAP) && json_is_object(value))
            rc = scan_map(scan, value, reachable && kind == KEYWORD_PROPERTIES, depth);
        else
            rc = scan_any(scan, value, depth + 1);
        path_pop(scan);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int scan_input_schema(scan_t *scan_state, const json_t *input_schema, char *why, size_t why_len)
{
    scan_state->names_len = 0;
    scan_state->path_len = 0;
    scan_state->why = why;
    scan_state->why_len = why_len;
    if (!json_is_object(input_schema))
        return 0;
    return scan_schema(scan_state, input_schema, true, 0);
}

int mg_mirror_schema_valid(const json_t *input_schema, char *why, size_t why_len)
{
    scan_t scan_state;
    return scan_input_schema(&scan_state, input_schema, why, why_len);
}

void mg_mirror_schemas_clear(mg_mirror_schemas_t *schemas)
{
    memset(schemas, 0, sizeof(*schemas));
}

/* The schema's verdict, from `known` when it is there: 0 (valid; *annotated says whether any
 * x-mcp-header is in it) or -1 with the reason in `why`. */
static int schema_verdict(const json_t *input_schema, mg_mirror_schemas_t *known, bool *annotated, char *why,
                          size_t why_len)
{
    size_t slot = ((uintptr_t)input_schema >> 4) % MG_MIRROR_SCHEMAS_REMEMBERED;
    if (known != NULL && known->schema[slot] == input_schema) {
        *annotated = known->annotated[slot];
        return 0;
    }
    scan_t scan_state;
    if (scan_input_schema(&scan_state, input_schema, why, why_len) != 0)
        return -1;
    *annotated = scan_state.names_len > 0;
    if (known != NULL) {
        known->schema[slot] = input_schema;
        known->annotated[slot] = *annotated;
    }
    return 0;
}

/* ---- checks and emission ---- */

typedef int (*annotation_fn)(void *ctx, const char *name, const json_t *value);

/* Visits every annotation along `properties` chains with the argument at the same path (NULL when
 * absent or null). Only called on schemas that passed the scan, so depth is bounded. */
static int each_annotation(const json_t *schema, const json_t *arguments, annotation_fn visit, void *ctx)
{
    json_t *properties = json_object_get(schema, "properties");
    const char *key;
    json_t *subschema;
    json_object_foreach(properties, key, subschema)
    {
        const json_t *value = json_object_get(arguments, key);
        if (json_is_null(value))
            value = NULL;
        const char *name = json_string_value(json_object_get(subschema, "x-mcp-header"));
        int rc = name != NULL ? visit(ctx, name, value) : 0;
        if (rc == 0)
            rc = each_annotation(subschema, value, visit, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef enum en_source_t { PLAIN_STRING, ENCODABLE_STRING, ARGUMENT } source_t;

/* The header's value without surrounding OWS, when it is there and made of field-value bytes: 0, or -1
 * with the mismatch said. */
static int header_value(const char *label, mg_mirror_value_t *header, char *why, size_t why_len)
{
    if (header->base == NULL)
        return say(why, why_len, "Header mismatch: required header %s is missing", label);
    while (header->len > 0 && (header->base[0] == ' ' || header->base[0] == '\t')) /* OWS is not part of a value */
        header->base++, header->len--;
    while (header->len > 0 && (header->base[header->len - 1] == ' ' || header->base[header->len - 1] == '\t'))
        header->len--;
    if (!is_field_value(*header))
        return say(why, why_len, "Header mismatch: %s header value contains invalid characters", label);
    return 0;
}

/* The answer to nearly every check, found before any trimming, decoding or message: the header is the
 * body's text byte for byte, visible ASCII or spaces, with no space at either end (so that trimming would
 * leave it as it is and it is a field value) -- the same SAME the full check would give. An encodable
 * value must not look like the base64 sentinel, which the full check decodes instead. */
static inline bool is_verbatim(mg_mirror_value_t header, const char *body, size_t body_len, bool encodable)
{
    if (header.len != body_len || body_len == 0 || body[0] == ' ' || body[body_len - 1] == ' ')
        return false;
    for (size_t i = 0; i < body_len; i++) { /* one pass: these values are a few bytes long */
        unsigned char c = (unsigned char)body[i];
        if ((unsigned char)header.base[i] != c || c < 0x20 || c > 0x7e)
            return false;
    }
    return !encodable || !has_sentinel_ends(body, body_len);
}

/* check_value for a body value that is a plain string (`body`, base NULL when the body has none): the
 * same answers, for a caller that holds the text rather than a value. */
static int __attribute__((noinline))
check_plain_text_fully(const char *label, mg_mirror_value_t header, mg_mirror_value_t body, char *why, size_t why_len)
{
    shown_t shown_header, shown_body;
    if (header_value(label, &header, why, why_len) != 0)
        return -1;
    if (body.base == NULL)
        return say(why, why_len, "Header mismatch: %s header value '%s' has no string counterpart in the body", label,
                   show(&shown_header, header.base, header.len));
    if (header.len == body.len && memcmp(header.base, body.base, body.len) == 0)
        return 0;
    return say(why, why_len, "Header mismatch: %s header value '%s' does not match body value '%s'", label,
               show(&shown_header, header.base, header.len), show(&shown_body, body.base, body.len));
}

/* The verbatim case inline, the rest (with its message buffers) out of line. */
static int check_plain_text(const char *label, mg_mirror_value_t header, mg_mirror_value_t body, char *why,
                            size_t why_len)
{
    if (header.base != NULL && body.base != NULL && is_verbatim(header, body.base, body.len, false))
        return 0;
    return check_plain_text_fully(label, header, body, why, why_len);
}

static int __attribute__((noinline)) check_value_fully(const char *label, mg_mirror_value_t header, const json_t *body,
                                                       source_t source, char *why, size_t why_len)
{
    shown_t shown_header, shown_body;
    if (header_value(label, &header, why, why_len) != 0)
        return -1;
    verdict_t verdict;
    const char *body_text = NULL; /* set when it is not a string */
    char number[24];
    if (json_is_string(body)) {
        verdict = compare_text(header, json_string_value(body), json_string_length(body), source != PLAIN_STRING);
    } else if (source != ARGUMENT || body == NULL) {
        return say(why, why_len, "Header mismatch: %s header value '%s' has no string counterpart in the body", label,
                   show(&shown_header, header.base, header.len));
    } else if (json_is_boolean(body)) {
        body_text = json_is_true(body) ? "true" : "false";
        verdict = compare_text(header, body_text, strlen(body_text), true);
    } else if (json_is_number(body)) {
        int64_t expected;
        if (body_integer(body, &expected) != 0)
            return say(why, why_len, "Header mismatch: body value for %s is not an integer within +-(2^53-1)", label);
        snprintf(number, sizeof(number), "%lld", (long long)expected);
        body_text = number;
        verdict = compare_integer(header, expected);
    } else {
        return say(why, why_len, "Header mismatch: body value for %s is not a string, integer or boolean", label);
    }
    if (verdict == SAME)
        return 0;
    const char *header_text = show(&shown_header, header.base, header.len);
    if (body_text == NULL)
        body_text = show(&shown_body, json_string_value(body), json_string_length(body));
    switch (verdict) {
    case SAME:
    case BAD_BASE64:
        return say(why, why_len, "Header mismatch: %s header value '%s' is not valid base64", label, header_text);
    case BAD_UTF8:
        return say(why, why_len, "Header mismatch: %s header value '%s' does not decode to UTF-8", label, header_text);
    case DIFFERENT:
        break;
    }
    return say(why, why_len, "Header mismatch: %s header value '%s' does not match body value '%s'", label, header_text,
               body_text);
}

static int check_value(const char *label, mg_mirror_value_t header, const json_t *body, source_t source, char *why,
                       size_t why_len)
{
    if (header.base != NULL && json_is_string(body) &&
        is_verbatim(header, json_string_value(body), json_string_length(body), source != PLAIN_STRING))
        return 0;
    return check_value_fully(label, header, body, source, why, why_len);
}

typedef struct st_param_check_t {
    const mg_mirror_headers_t *headers;
    char *why;
    size_t why_len;
} param_check_t;

static int check_param(void *ctx, const char *name, const json_t *value)
{
    param_check_t *check = ctx;
    shown_t shown;
    char label[sizeof(PARAM_PREFIX) + sizeof(shown.text)];
    snprintf(label, sizeof(label), PARAM_PREFIX "%s", show(&shown, name, strlen(name)));
    mg_mirror_value_t header = {NULL, 0};
    size_t count = 0;
    for (size_t i = 0; i < check->headers->params_len; i++) {
        const mg_mirror_param_t *param = &check->headers->params[i];
        if (param->name.base != NULL && param->value.base != NULL &&
            ascii_equal_nocase(param->name.base, param->name.len, name, strlen(name))) {
            header = param->value;
            count++;
        }
    }
    if (count > 1)
        return say(check->why, check->why_len, "Header mismatch: header %s appears more than once", label);
    if (value == NULL && header.base != NULL) /* spec: the client omits it, the server must not expect it */
        return say(check->why, check->why_len, "Header mismatch: header %s is present but the body has no value for it",
                   label);
    if (value == NULL)
        return 0;
    return check_value(label, header, value, ARGUMENT, check->why, check->why_len);
}

const char *mg_mirror_name_field(const char *method, bool *required)
{
    *required = true;
    if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
        return "name";
    if (strcmp(method, "resources/read") == 0)
        return "uri";
    *required = false;
    if (strcmp(method, "tasks/get") == 0 || strcmp(method, "tasks/update") == 0 || strcmp(method, "tasks/cancel") == 0)
        return "taskId";
    return NULL;
}

/* A body without the field fails its own params validation later, with a better message than ours. */
static int check_name(const mg_mirror_headers_t *headers, const char *method, const json_t *params,
                      const json_t *params_name, char *why, size_t why_len)
{
    bool required;
    const char *field = mg_mirror_name_field(method, &required);
    if (field == NULL)
        return 0;
    const json_t *value =
        strcmp(field, "name") == 0 ? params_name : json_object_get(params, field); /* "name" is at hand */
    if (headers->name.base == NULL && (!required || !json_is_string(value)))
        return 0;
    return check_value("Mcp-Name", headers->name, value, ENCODABLE_STRING, why, why_len);
}

int mg_mirror_check_request(const mg_mirror_headers_t *headers, mg_mirror_value_t method, const json_t *params,
                            const json_t *params_name, mg_mirror_value_t protocol_version, char *why, size_t why_len)
{
    if (check_plain_text("MCP-Protocol-Version", headers->protocol_version, protocol_version, why, why_len) != 0)
        return -1;
    return mg_mirror_check_method_and_name(headers, method, params, params_name, why, why_len);
}

int mg_mirror_check_method_and_name(const mg_mirror_headers_t *headers, mg_mirror_value_t method, const json_t *params,
                                    const json_t *params_name, char *why, size_t why_len)
{
    if (check_plain_text("Mcp-Method", headers->method, method, why, why_len) != 0)
        return -1;
    /* the body's method is a string (it matched), NUL-terminated as every string jansson holds */
    assert(method.base != NULL && method.base[method.len] == '\0');
    return check_name(headers, method.base, params, params_name, why, why_len);
}

/* A string value's text, or base NULL for anything else. */
static mg_mirror_value_t string_text(const json_t *value)
{
    return json_is_string(value) ? (mg_mirror_value_t){json_string_value(value), json_string_length(value)}
                                 : (mg_mirror_value_t){NULL, 0};
}

int mg_mirror_check(const mg_mirror_headers_t *headers, const json_t *root, const json_t *input_schema,
                    mg_mirror_schemas_t *known, char *why, size_t why_len)
{
    if (root == NULL || headers->checked_root != root) {
        const json_t *params = json_object_get(root, "params");
        const json_t *version = json_object_get(json_object_get(params, "_meta"), PROTOCOL_VERSION_KEY);
        if (mg_mirror_check_request(headers, string_text(json_object_get(root, "method")), params,
                                    json_object_get(params, "name"), string_text(version), why, why_len) != 0)
            return -1;
    }
    if (input_schema == NULL)
        return 0;
    const json_t *method = json_object_get(root, "method");
    assert(json_is_string(method)); /* checked now or before (checked_root) */
    if (strcmp(json_string_value(method), "tools/call") != 0)
        return 0;
    return mg_mirror_check_params(headers, json_object_get(root, "params"), input_schema, known, why, why_len);
}

int mg_mirror_check_params(const mg_mirror_headers_t *headers, const json_t *params, const json_t *input_schema,
                           mg_mirror_schemas_t *known, char *why, size_t why_len)
{
    if (input_schema == NULL)
        return 0;
    char reason[256];
    bool annotated;
    if (schema_verdict(input_schema, known, &annotated, reason, sizeof(reason)) != 0)
        return say(why, why_len, "Header mismatch: the tool's inputSchema cannot be mirrored: %s", reason);
    if (!annotated)
        return 0; /* no Mcp-Param-* header is required, and any that came match nothing (ignored) */
    param_check_t check = {headers, why, why_len};
    return each_annotation(input_schema, json_object_get(params, "arguments"), check_param, &check);
}

typedef struct st_emitting_t {
    void (*emit)(void *ctx, const char *name, const char *value);
    void *ctx;
    char *why;
    size_t why_len;
} emitting_t;

/* The header text of one argument: `number` or `*encoded` (malloc'ed) hold it when needed. NULL when the
 * argument cannot be mirrored or memory ran out (then *encoded stays NULL too). */
static const char *argument_text(const json_t *value, char number[24], char **encoded)
{
    int64_t integer;
    *encoded = NULL;
    if (json_is_string(value)) {
        if (is_plain(json_string_value(value), json_string_length(value)))
            return json_string_value(value);
        return *encoded = mg_mirror_encode(json_string_value(value), json_string_length(value));
    }
    if (json_is_boolean(value))
        return json_is_true(value) ? "true" : "false";
    if (body_integer(value, &integer) != 0)
        return NULL;
    snprintf(number, 24, "%lld", (long long)integer);
    return number;
}

static int emit_param(void *ctx, const char *name, const json_t *value)
{
    emitting_t *emitting = ctx;
    if (value == NULL)
        return 0;
    char number[24], *encoded;
    const char *text = argument_text(value, number, &encoded);
    size_t name_len = sizeof(PARAM_PREFIX) + strlen(name);
    char small[128], *header_name = name_len <= sizeof(small) ? small : malloc(name_len);
    int rc = 0;
    if (text == NULL && !json_is_string(value)) {
        shown_t shown;
        rc = say(emitting->why, emitting->why_len,
                 "argument for " PARAM_PREFIX "%s is not a string, boolean or integer within +-(2^53-1)",
                 show(&shown, name, strlen(name)));
    } else if (text == NULL || header_name == NULL) {
        rc = say(emitting->why, emitting->why_len, "out of memory");
    } else {
        snprintf(header_name, name_len, PARAM_PREFIX "%s", name);
        emitting->emit(emitting->ctx, header_name, text);
    }
    if (header_name != small)
        free(header_name);
    free(encoded);
    return rc;
}

int mg_mirror_param_headers(const json_t *input_schema, mg_mirror_schemas_t *known, const json_t *arguments,
                            void (*emit)(void *ctx, const char *name, const char *value), void *ctx, char *why,
                            size_t why_len)
{
    bool annotated;
    if (schema_verdict(input_schema, known, &annotated, why, why_len) != 0)
        return -1;
    if (!annotated)
        return 0;
    emitting_t emitting = {emit, ctx, why, why_len};
    return each_annotation(input_schema, arguments, emit_param, &emitting);
}
