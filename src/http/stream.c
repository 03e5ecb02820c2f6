/* stream.c - see stream.h. */
#include "http/stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"

static void flush(mg_stream_t *stream)
{
    if (stream->req == NULL || stream->writing || stream->closed)
        return;
    if (stream->pending.len == 0 && !stream->closing)
        return;
    free(stream->inflight);
    size_t len;
    stream->inflight = mg_bytes_take(&stream->pending, &len);
    h2o_iovec_t buf = h2o_iovec_init(stream->inflight, len);
    stream->writing = true;
    if (stream->closing)
        stream->closed = true;
    h2o_send(stream->req, &buf, buf.len != 0 ? 1 : 0,
             stream->closing ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    mg_stream_t *stream = (mg_stream_t *)generator;
    stream->writing = false;
    free(stream->inflight);
    stream->inflight = NULL;
    flush(stream);
}

static void on_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    mg_stream_t *stream = (mg_stream_t *)generator;
    stream->req = NULL;
    if (stream->on_stop != NULL)
        stream->on_stop(stream, stream->ctx);
}

void mg_stream_start(mg_stream_t *stream, h2o_req_t *req, mg_stream_stop_fn stop, void *ctx)
{
    stream->generator.proceed = on_proceed;
    stream->generator.stop = on_stop;
    stream->req = req;
    stream->on_stop = stop;
    stream->ctx = ctx;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/event-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL, H2O_STRLIT("no"));
    h2o_start_response(req, &stream->generator);
    /* an empty first chunk pushes the head out now, so clients see the stream open */
    stream->writing = true;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
}

void mg_stream_send_raw(mg_stream_t *stream, const char *text, size_t len)
{
    if (stream->req == NULL || stream->closing)
        return;
    mg_bytes_append(&stream->pending, text, len);
    flush(stream);
}

#define EVENT_HEAD "event: message\ndata: "

/* Compact JSON has no raw newlines (control characters are escaped), so one data line carries it. */
void mg_stream_send_json(mg_stream_t *stream, const json_t *msg)
{
    if (stream->req == NULL || stream->closing)
        return;
    size_t before = stream->pending.len;
    mg_bytes_append(&stream->pending, EVENT_HEAD, sizeof(EVENT_HEAD) - 1);
    if (mg_json_write(&stream->pending, msg, JSON_COMPACT) != 0) {
        stream->pending.len = before;
        return;
    }
    mg_bytes_append(&stream->pending, "\n\n", 2);
    flush(stream);
}

void mg_stream_send_json_text(mg_stream_t *stream, const char *json, size_t len)
{
    if (stream->req == NULL || stream->closing)
        return;
    mg_bytes_append(&stream->pending, EVENT_HEAD, sizeof(EVENT_HEAD) - 1);
    mg_bytes_append(&stream->pending, json, len);
    mg_bytes_append(&stream->pending, "\n\n", 2);
    flush(stream);
}

void mg_stream_close(mg_stream_t *stream)
{
    if (stream->closing)
        return;
    stream->closing = true;
    flush(stream);
}

void mg_stream_dispose(mg_stream_t *stream)
{
    mg_bytes_dispose(&stream->pending);
    free(stream->inflight);
    stream->inflight = NULL;
    stream->req = NULL;
}
