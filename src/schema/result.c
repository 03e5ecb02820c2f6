/*
 * result.c - violations: recorded while evaluating, rendered for the caller.
 *
 * Text is made only when a violation is recorded, never on the way to a valid answer: the instance
 * path is kept as a stack of (key, length) / index segments and written out here. Messages quote
 * the caller's values JSON-encoded in ASCII and cut short ("...") so that they are safe to log and
 * to hand to a model, and always fit their buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

/* Cuts s (NUL-terminated, in a buffer of `size`) so that it ends on a UTF-8 character boundary and
 * leaves room for `room` more bytes. */
static void cut_utf8(char *s, size_t size, size_t room)
{
    size_t len = strlen(s);
    if (len + room < size)
        return;
    len = size - room - 1;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    s[len] = '\0';
}

static void append(char *buf, size_t size, const char *s, size_t len)
{
    size_t used = strlen(buf);
    if (used + 1 >= size)
        return;
    if (len > size - used - 1)
        len = size - used - 1;
    memcpy(buf + used, s, len);
    buf[used + len] = '\0';
}

static void append_segment(char *buf, size_t size, const char *key, size_t len_or_index)
{
    append(buf, size, "/", 1);
    if (key != NULL)
        mg_schema_pointer_escape(buf, size, key, len_or_index);
    else {
        char index[24];
        int n = snprintf(index, sizeof(index), "%zu", len_or_index);
        append(buf, size, index, (size_t)n);
    }
}

/* Writes the instance path (plus an optional last segment) into out. */
static void instance_path(const mg_schema_eval_t *e, const char *key, size_t len_or_index, bool extra, char *out,
                          size_t size)
{
    char path[1024];
    path[0] = '\0';
    for (size_t i = 0; i < e->depth; i++)
        append_segment(path, sizeof(path), e->segments[i].key, e->segments[i].len_or_index);
    if (extra)
        append_segment(path, sizeof(path), key, len_or_index);
    if (strlen(path) >= size) {
        cut_utf8(path, size, 4);
        append(path, sizeof(path), "/...", 4);
    }
    snprintf(out, size, "%s", path);
}

static void schema_path(const mg_schema_node_t *node, const char *location, char *out, size_t size)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s%s%s%s%s", node->document != NULL ? node->document : "",
             node->document != NULL ? "#" : "", node->path, location != NULL ? "/" : "",
             location != NULL ? location : "");
    if (strlen(path) >= size) {
        cut_utf8(path, size, 4);
        append(path, sizeof(path), "/...", 4);
    }
    snprintf(out, size, "%s", path);
}

static bool record(mg_schema_eval_t *e, const char *key, size_t len_or_index, bool extra, const mg_schema_node_t *node,
                   const char *keyword, const char *location, const char *fmt, va_list ap)
{
    if (!e->collect)
        return false;
    mg_schema_result_t *result = e->result;
    if (result->count == MG_SCHEMA_VIOLATIONS_MAX) {
        /* full: the rest of the evaluation only needs the answer */
        result->truncated = true;
        e->collect = false;
        return false;
    }
    mg_schema_violation_t *v = &result->violations[result->count++];
    instance_path(e, key, len_or_index, extra, v->instance_path, sizeof(v->instance_path));
    schema_path(node, location, v->schema_path, sizeof(v->schema_path));
    v->keyword = keyword;
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    return false;
}

bool mg_schema_report(mg_schema_eval_t *e, const mg_schema_node_t *node, const char *keyword, const char *location,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(e, NULL, 0, false, node, keyword, location, fmt, ap);
    va_end(ap);
    return false;
}

bool mg_schema_report_at(mg_schema_eval_t *e, const char *key, size_t len_or_index, const mg_schema_node_t *node,
                         const char *keyword, const char *location, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(e, key, len_or_index, true, node, keyword, location, fmt, ap);
    va_end(ap);
    return false;
}

bool mg_schema_report_member(mg_schema_eval_t *e, const char *key, size_t len, const mg_schema_node_t *node,
                             const char *keyword, const char *location, const char *fmt)
{
    if (!e->collect)
        return false;
    char quoted[96];
    mg_schema_quote_string(key, len, quoted, sizeof(quoted));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    return mg_schema_report_at(e, key, len, node, keyword, location, fmt, quoted);
#pragma GCC diagnostic pop
}

bool mg_schema_stop(mg_schema_eval_t *e, const mg_schema_node_t *node, const char *keyword, const char *fmt, ...)
{
    if (e->stopped)
        return false;
    e->stopped = true;
    mg_schema_violation_t *v = &e->stop;
    instance_path(e, NULL, 0, false, v->instance_path, sizeof(v->instance_path));
    schema_path(node, NULL, v->schema_path, sizeof(v->schema_path));
    v->keyword = keyword;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    return false;
}

const char *mg_schema_quote_string(const char *s, size_t len, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t out = 0;
    const size_t room = size - 5; /* the closing quote, "..." and the NUL */
    buf[out++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char piece[16];
        size_t piece_len = 0;
        uint32_t code = c;
        if (c >= 0x80) {
            /* decode UTF-8 (jansson's strings are valid); anything odd becomes U+FFFD */
            size_t extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
            code = extra == 3 ? c & 0x07 : extra == 2 ? c & 0x0F : c & 0x1F;
            if (extra == 0 || i + extra >= len) {
                code = 0xFFFD;
                extra = 0;
            }
            for (size_t k = 1; k <= extra; k++) {
                unsigned char next = (unsigned char)s[i + k];
                if ((next & 0xC0) != 0x80) {
                    code = 0xFFFD;
                    extra = k - 1;
                    break;
                }
                code = (code << 6) | (next & 0x3F);
            }
            i += extra;
        }
        if (code == '"' || code == '\\') {
            piece[piece_len++] = '\\';
            piece[piece_len++] = (char)code;
        } else if (code >= 0x20 && code < 0x7F)
            piece[piece_len++] = (char)code;
        else if (code == '\n')
            piece[piece_len++] = '\\', piece[piece_len++] = 'n';
        else if (code == '\t')
            piece[piece_len++] = '\\', piece[piece_len++] = 't';
        else {
            uint32_t units[2] = {code, 0};
            size_t units_len = 1;
            if (code >= 0x10000) {
                units[0] = 0xD800 + ((code - 0x10000) >> 10);
                units[1] = 0xDC00 + ((code - 0x10000) & 0x3FF);
                units_len = 2;
            }
            for (size_t k = 0; k < units_len; k++) {
                piece[piece_len++] = '\\';
                piece[piece_len++] = 'u';
                for (int shift = 12; shift >= 0; shift -= 4)
                    piece[piece_len++] = hex[(units[k] >> shift) & 0xF];
            }
        }
        if (out + piece_len > room) {
            memcpy(buf + out, "...", 3);
            out += 3;
            break;
        }
        memcpy(buf + out, piece, piece_len);
        out += piece_len;
    }
    buf[out++] = '"';
    buf[out] = '\0';
    return buf;
}

const char *mg_schema_number_text(const mg_schema_number_t *number, char *buf, size_t size)
{
    if (number->is_integer) {
        snprintf(buf, size, "%lld", (long long)number->integer);
        return buf;
    }
    /* the shortest form that reads back as the same double: 0.1, not 0.10000000000000001 */
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, number->real);
        if (strtod(buf, NULL) == number->real)
            break;
    }
    return buf;
}

const char *mg_schema_quote(const json_t *value, char *buf, size_t size)
{
    mg_schema_number_t number;
    switch (json_typeof(value)) {
    case JSON_STRING:
        return mg_schema_quote_string(json_string_value(value), json_string_length(value), buf, size);
    case JSON_INTEGER:
    case JSON_REAL:
        mg_schema_number_of(value, &number);
        return mg_schema_number_text(&number, buf, size);
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    default:
        break;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (text == NULL)
        return json_is_array(value) ? "[...]" : "{...}";
    if (strlen(text) >= size) {
        text[size - 4] = '\0';
        snprintf(buf, size, "%s...", text);
    } else
        snprintf(buf, size, "%s", text);
    free(text);
    return buf;
}

const char *mg_schema_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static json_t *string_value(const char *s)
{
    json_t *value = json_string(s);
    if (value == NULL) {
        /* not UTF-8 (a key of a value built without jansson's checks): keep the ASCII */
        char clean[256];
        size_t i = 0;
        for (; s[i] != '\0' && i + 1 < sizeof(clean); i++)
            clean[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
        clean[i] = '\0';
        value = json_string(clean);
    }
    return value;
}

json_t *mg_schema_result_json(const mg_schema_result_t *result)
{
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < result->count; i++) {
        const mg_schema_violation_t *v = &result->violations[i];
        json_t *item = json_object();
        if (item == NULL || json_array_append_new(array, item) != 0 ||
            json_object_set_new(item, "instancePath", string_value(v->instance_path)) != 0 ||
            json_object_set_new(item, "schemaPath", string_value(v->schema_path)) != 0 ||
            json_object_set_new(item, "keyword", string_value(v->keyword)) != 0 ||
            json_object_set_new(item, "message", string_value(v->message)) != 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

size_t mg_schema_result_text(const mg_schema_result_t *result, char *buf, size_t size)
{
    size_t total = 0;
    bool full = false;
    if (size > 0)
        buf[0] = '\0';
    for (size_t i = 0; i <= result->count; i++) {
        char line[900];
        int len;
        if (i < result->count) {
            const mg_schema_violation_t *v = &result->violations[i];
            len = snprintf(line, sizeof(line), "%s: %s: %s\n",
                           v->instance_path[0] != '\0' ? v->instance_path : "(root)", v->keyword, v->message);
        } else if (result->truncated)
            len = snprintf(line, sizeof(line), "(more violations not shown)\n");
        else
            break;
        /* whole lines only */
        if (!full && total + (size_t)len < size)
            memcpy(buf + total, line, (size_t)len + 1);
        else
            full = true;
        total += (size_t)len;
    }
    return total;
}
