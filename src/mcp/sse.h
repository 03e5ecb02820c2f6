/*
 * sse.h - Server-Sent Events (text/event-stream) parser and encoder.
 *
 * The parser follows the WHATWG HTML "event stream interpretation" rules: it is fed
 * arbitrary chunks (a line, an event or a CRLF pair may be split anywhere), accepts
 * LF, CRLF and CR line ends, ignores comments (":...") and unknown fields, joins
 * multi-line data with "\n", keeps the last event id across events, skips one
 * leading UTF-8 BOM, and discards an incomplete event at the end of the stream.
 *
 * The bytes come from upstreams, which are untrusted: the parser bounds one event
 * (data plus event type at most max_event_bytes; one line at most that plus a few
 * bytes for the field name) and fails, permanently, when an event would exceed it.
 *
 * The encoder writes events for clients; a JSON-RPC message serialized compactly
 * has no raw newline, so it becomes exactly one "data:" line.
 */
#ifndef MG_MCP_SSE_H
#define MG_MCP_SSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum {
    MG_SSE_OK = 0,
    MG_SSE_TOO_LARGE = -1, /* one event exceeded max_event_bytes */
    MG_SSE_STOPPED = -2,   /* the event callback asked to stop */
};

/* One dispatched event. Every pointer is borrowed and valid only during the callback.
 * The strings are NUL-terminated and may also contain NULs (use the lengths). */
typedef struct st_mg_sse_event_t {
    const char *type; /* "message" when the stream named none */
    size_t type_len;
    const char *data; /* data lines joined with "\n", without the final "\n"; may be empty */
    size_t data_len;
    const char *id; /* the last event id seen on the stream so far; "" when none */
    size_t id_len;
} mg_sse_event_t;

/* Returns 0 to continue, anything else to stop the parser (feed then returns MG_SSE_STOPPED). */
typedef int (*mg_sse_event_cb)(void *ctx, const mg_sse_event_t *event);

typedef struct st_mg_sse_buffer_t {
    char *bytes;
    size_t len;
    size_t cap;
} mg_sse_buffer_t;

typedef struct st_mg_sse_parser_t {
    size_t max_event_bytes;
    mg_sse_event_cb on_event;
    void *ctx;
    mg_sse_buffer_t line;    /* bytes of a line whose end has not arrived yet */
    mg_sse_buffer_t data;    /* data buffer of the event being built */
    mg_sse_buffer_t type;    /* event type buffer */
    mg_sse_buffer_t last_id; /* last event id buffer (persists across events) */
    long retry_ms;           /* last valid "retry" field, or -1 */
    bool after_cr;           /* the previous chunk ended in CR: a leading LF belongs to it */
    bool at_stream_start;    /* no line processed yet (BOM check) */
    int status;              /* MG_SSE_OK until the parser fails; then sticky */
} mg_sse_parser_t;

/* Prepares a parser; nothing is allocated until bytes arrive. */
void mg_sse_parser_init(mg_sse_parser_t *parser, size_t max_event_bytes, mg_sse_event_cb on_event, void *ctx);
/* Frees what the parser holds; it can be initialized again afterwards. */
void mg_sse_parser_dispose(mg_sse_parser_t *parser);
/* Parses a chunk, calling on_event for each complete event. Returns MG_SSE_OK,
 * MG_SSE_TOO_LARGE or MG_SSE_STOPPED; once it failed it keeps returning that status. */
int mg_sse_parser_feed(mg_sse_parser_t *parser, const char *bytes, size_t len);

/* Formats one event: "event: <type>\n" (when type is non-NULL), "id: <id>\n" (when id is
 * non-NULL), one "data: " line per line of data (CR, LF and CRLF in data start new
 * lines), then a blank line. Returns malloc'ed text and its length in *out_len, or NULL
 * when type or id contains CR or LF or when out of memory. */
char *mg_sse_encode_event(const char *type, const char *id, const char *data, size_t data_len, size_t *out_len);
/* Formats a JSON-RPC message as "event: message\ndata: <compact JSON>\n\n".
 * Returns malloc'ed text, or NULL when the value cannot be serialized. */
char *mg_sse_encode_message(const json_t *message, size_t *out_len);

#endif
