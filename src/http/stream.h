/*
 * stream.h - a server-sent-events response body on an h2o request.
 *
 * h2o lets a generator have one h2o_send in flight at a time and calls `proceed`
 * when the client has taken it; this writer queues what is written meanwhile and
 * sends it in one piece at the next proceed, so producers (upstream messages) never
 * wait and never lose a message. `on_stop` fires once when the client goes away.
 */
#ifndef MG_HTTP_STREAM_H
#define MG_HTTP_STREAM_H

#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>

#include "core/bytes.h"

typedef struct st_mg_stream_t mg_stream_t;
typedef void (*mg_stream_stop_fn)(mg_stream_t *stream, void *ctx);

struct st_mg_stream_t {
    h2o_generator_t generator; /* first member: h2o hands it back to us */
    h2o_req_t *req;            /* NULL once the client is gone */
    mg_stream_stop_fn on_stop;
    void *ctx;
    mg_bytes_t pending; /* written since the last h2o_send */
    char *inflight;     /* what h2o is sending now */
    bool writing, closing, closed;
};

/* Sends the response head (status 200, text/event-stream, no caching) with any headers the
 * caller already added to req->res.headers, and starts the body. */
void mg_stream_start(mg_stream_t *stream, h2o_req_t *req, mg_stream_stop_fn on_stop, void *ctx);
/* Queues one SSE event carrying a JSON-RPC message (borrowed). */
void mg_stream_send_json(mg_stream_t *stream, const json_t *msg);
/* Queues one SSE event carrying a JSON-RPC message already written as compact JSON (one line). */
void mg_stream_send_json_text(mg_stream_t *stream, const char *json, size_t len);
/* Queues raw SSE text (e.g. ": keepalive\n\n"). */
void mg_stream_send_raw(mg_stream_t *stream, const char *text, size_t len);
/* Ends the body after what is queued. */
void mg_stream_close(mg_stream_t *stream);
/* Frees buffers; call once the request is gone (from the request pool's dispose). */
void mg_stream_dispose(mg_stream_t *stream);

#endif
