/*
 * sse.c - Server-Sent Events parser and encoder (see sse.h).
 *
 * The parser works line by line. A line that arrives whole inside one chunk is
 * interpreted straight from the caller's bytes; only a line split across chunks is
 * copied into `line`, so a stream of small events costs one copy (into the data
 * buffer) per byte. A CR at the very end of a chunk may be the first half of a CRLF,
 * so `after_cr` remembers it and a LF at the start of the next chunk is dropped.
 *
 * Bound: an event's data plus type never exceed max_event_bytes, and a single line
 * never exceeds it by more than LINE_SLACK; an upstream that sends more gets the
 * stream refused rather than the gateway's memory.
 */
#include "mcp/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"

static int buffer_append(mg_sse_buffer_t *buffer, const char *bytes, size_t len)
{
    /* +1 keeps room for a NUL so borrowed strings handed to callbacks are terminated */
    if (buffer->len + len + 1 > buffer->cap) {
        size_t cap = buffer->cap == 0 ? 256 : buffer->cap;
        while (cap < buffer->len + len + 1)
            cap *= 2;
        char *bytes_new = realloc(buffer->bytes, cap);
        if (bytes_new == NULL)
            return -1;
        buffer->bytes = bytes_new;
        buffer->cap = cap;
    }
    if (len != 0)
        memcpy(buffer->bytes + buffer->len, bytes, len);
    buffer->len += len;
    buffer->bytes[buffer->len] = '\0';
    return 0;
}

static int buffer_set(mg_sse_buffer_t *buffer, const char *bytes, size_t len)
{
    buffer->len = 0;
    return buffer_append(buffer, bytes, len);
}

static void buffer_free(mg_sse_buffer_t *buffer)
{
    free(buffer->bytes);
    *buffer = (mg_sse_buffer_t){0};
}

static bool field_is(const char *name, size_t name_len, const char *literal)
{
    return name_len == strlen(literal) && memcmp(name, literal, name_len) == 0;
}

void mg_sse_parser_init(mg_sse_parser_t *parser, size_t max_event_bytes, mg_sse_event_cb on_event, void *ctx)
{
    *parser = (mg_sse_parser_t){
        .max_event_bytes = max_event_bytes,
        .on_event = on_event,
        .ctx = ctx,
        .retry_ms = -1,
        .at_stream_start = true,
        .status = MG_SSE_OK,
    };
}

void mg_sse_parser_dispose(mg_sse_parser_t *parser)
{
    buffer_free(&parser->line);
    buffer_free(&parser->data);
    buffer_free(&parser->type);
    buffer_free(&parser->last_id);
}

static int fail(mg_sse_parser_t *parser, int status)
{
    parser->status = status;
    return status;
}

/* A line may exceed the event bound by this much (its field name and ": "), so that
 * whether an event fits does not depend on where the chunks happened to split. */
#define LINE_SLACK 64

static bool line_too_long(const mg_sse_parser_t *parser, size_t len)
{
    return len > parser->max_event_bytes + LINE_SLACK;
}

/* A blank line: dispatch the event being built, if it has data (WHATWG: an event
 * without any data field is dropped, its type forgotten). */
static int dispatch(mg_sse_parser_t *parser)
{
    if (parser->data.len == 0) {
        parser->type.len = 0;
        return MG_SSE_OK;
    }
    parser->data.len--; /* the "\n" after the last data line */
    parser->data.bytes[parser->data.len] = '\0';

    mg_sse_event_t event = {
        .type = parser->type.len != 0 ? parser->type.bytes : "message",
        .type_len = parser->type.len != 0 ? parser->type.len : strlen("message"),
        .data = parser->data.bytes,
        .data_len = parser->data.len,
        .id = parser->last_id.len != 0 ? parser->last_id.bytes : "",
        .id_len = parser->last_id.len,
    };
    int stop = parser->on_event(parser->ctx, &event);
    parser->data.len = 0;
    parser->type.len = 0;
    return stop != 0 ? fail(parser, MG_SSE_STOPPED) : MG_SSE_OK;
}

static void set_retry(mg_sse_parser_t *parser, const char *value, size_t len)
{
    if (len == 0)
        return;
    long retry = 0;
    for (size_t i = 0; i != len; ++i) {
        if (value[i] < '0' || value[i] > '9')
            return; /* not all digits: ignored */
        if (retry < INT32_MAX)
            retry = retry * 10 + (value[i] - '0');
    }
    parser->retry_ms = retry < INT32_MAX ? retry : INT32_MAX;
}

static int process_line(mg_sse_parser_t *parser, const char *line, size_t len)
{
    if (parser->at_stream_start) {
        parser->at_stream_start = false;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
    }
    if (len == 0)
        return dispatch(parser);
    if (line_too_long(parser, len))
        return fail(parser, MG_SSE_TOO_LARGE);
    if (line[0] == ':')
        return MG_SSE_OK; /* comment (servers use them as keep-alives) */

    const char *colon = memchr(line, ':', len);
    size_t name_len = colon != NULL ? (size_t)(colon - line) : len;
    const char *value = colon != NULL ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len != 0 && value[0] == ' ') {
        ++value;
        --value_len;
    }

    if (field_is(line, name_len, "data")) {
        if (parser->data.len + parser->type.len + value_len + 1 > parser->max_event_bytes)
            return fail(parser, MG_SSE_TOO_LARGE);
        if (buffer_append(&parser->data, value, value_len) != 0 || buffer_append(&parser->data, "\n", 1) != 0)
            return fail(parser, MG_SSE_TOO_LARGE);
    } else if (field_is(line, name_len, "event")) {
        if (parser->data.len + value_len > parser->max_event_bytes)
            return fail(parser, MG_SSE_TOO_LARGE);
        if (buffer_set(&parser->type, value, value_len) != 0)
            return fail(parser, MG_SSE_TOO_LARGE);
    } else if (field_is(line, name_len, "id")) {
        /* WHATWG: an id containing NUL is ignored; the buffer is per stream, so a
         * later event without an id field reports the previous one */
        if (memchr(value, '\0', value_len) == NULL && buffer_set(&parser->last_id, value, value_len) != 0)
            return fail(parser, MG_SSE_TOO_LARGE);
    } else if (field_is(line, name_len, "retry")) {
        set_retry(parser, value, value_len);
    }
    return MG_SSE_OK;
}

/* Completes the pending line (if any) with `bytes` and interprets it. */
static int finish_line(mg_sse_parser_t *parser, const char *bytes, size_t len)
{
    if (parser->line.len == 0)
        return process_line(parser, bytes, len);
    if (line_too_long(parser, parser->line.len + len) || buffer_append(&parser->line, bytes, len) != 0)
        return fail(parser, MG_SSE_TOO_LARGE);
    size_t line_len = parser->line.len;
    parser->line.len = 0;
    return process_line(parser, parser->line.bytes, line_len);
}

int mg_sse_parser_feed(mg_sse_parser_t *parser, const char *bytes, size_t len)
{
    if (parser->status != MG_SSE_OK)
        return parser->status;
    const char *end = bytes + len;
    if (bytes == end)
        return MG_SSE_OK;
    if (parser->after_cr && *bytes == '\n')
        ++bytes;
    parser->after_cr = false;

    while (bytes != end) {
        const char *eol = bytes;
        while (eol != end && *eol != '\n' && *eol != '\r')
            ++eol;
        if (eol == end) {
            if (line_too_long(parser, parser->line.len + (size_t)(end - bytes)) ||
                buffer_append(&parser->line, bytes, (size_t)(end - bytes)) != 0)
                return fail(parser, MG_SSE_TOO_LARGE);
            break;
        }
        int rc = finish_line(parser, bytes, (size_t)(eol - bytes));
        if (rc != MG_SSE_OK)
            return rc;
        bytes = eol + 1;
        if (*eol == '\r') {
            if (bytes == end)
                parser->after_cr = true;
            else if (*bytes == '\n')
                ++bytes;
        }
    }
    return MG_SSE_OK;
}

static bool has_line_break(const char *text)
{
    return text != NULL && strpbrk(text, "\r\n") != NULL;
}

char *mg_sse_encode_event(const char *type, const char *id, const char *data, size_t data_len, size_t *out_len)
{
    if (has_line_break(type) || has_line_break(id))
        return NULL;
    mg_sse_buffer_t out = {0};
    bool ok = true;
    if (type != NULL)
        ok = ok && buffer_append(&out, "event: ", 7) == 0 && buffer_append(&out, type, strlen(type)) == 0 &&
             buffer_append(&out, "\n", 1) == 0;
    if (id != NULL)
        ok = ok && buffer_append(&out, "id: ", 4) == 0 && buffer_append(&out, id, strlen(id)) == 0 &&
             buffer_append(&out, "\n", 1) == 0;

    const char *cursor = data, *end = data + data_len;
    do {
        const char *eol = cursor;
        while (eol != end && *eol != '\n' && *eol != '\r')
            ++eol;
        ok = ok && buffer_append(&out, "data: ", 6) == 0 && buffer_append(&out, cursor, (size_t)(eol - cursor)) == 0 &&
             buffer_append(&out, "\n", 1) == 0;
        if (eol == end)
            break;
        cursor = eol + 1;
        if (*eol == '\r' && cursor != end && *cursor == '\n')
            ++cursor;
        if (cursor == end) /* data ended with a line break: it encodes as a final empty line */
            ok = ok && buffer_append(&out, "data: \n", 7) == 0;
    } while (ok && cursor != end);
    ok = ok && buffer_append(&out, "\n", 1) == 0;

    if (!ok) {
        buffer_free(&out);
        return NULL;
    }
    if (out_len != NULL)
        *out_len = out.len;
    return out.bytes;
}

char *mg_sse_encode_message(const json_t *message, size_t *out_len)
{
    size_t len;
    char *json = mg_json_write_text(message, JSON_COMPACT, &len);
    if (json == NULL)
        return NULL;
    char *event = mg_sse_encode_event("message", NULL, json, len, out_len);
    free(json);
    return event;
}
