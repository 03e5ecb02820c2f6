/* test_sse.c - the text/event-stream parser (line ends, splits, fields, bounds) and encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/sse.h"

#define MAX_EVENTS 16

/* Everything the parser reported, as "type|id|data" strings. */
typedef struct recorder_t {
    char *events[MAX_EVENTS];
    size_t count;
    size_t stop_after; /* 0: never ask the parser to stop */
} recorder_t;

static int record(void *ctx, const mg_sse_event_t *event)
{
    recorder_t *recorder = ctx;
    assert_true(recorder->count < MAX_EVENTS);
    assert_int_equal(strlen(event->type), event->type_len);
    assert_int_equal(event->data[event->data_len], '\0');
    size_t len = event->type_len + event->id_len + event->data_len + 3;
    char *text = malloc(len);
    assert_non_null(text);
    snprintf(text, len, "%s|%s|", event->type, event->id);
    memcpy(text + event->type_len + event->id_len + 2, event->data, event->data_len + 1);
    recorder->events[recorder->count++] = text;
    return recorder->stop_after != 0 && recorder->count >= recorder->stop_after;
}

static void recorder_clear(recorder_t *recorder)
{
    for (size_t i = 0; i != recorder->count; ++i)
        free(recorder->events[i]);
    *recorder = (recorder_t){0};
}

/* Parses `stream` in one chunk and checks the events (NULL-terminated list of "type|id|data"). */
static void expect_events_chunked(const char *stream, size_t len, size_t split_every, const char *const *expected)
{
    recorder_t recorder = {0};
    mg_sse_parser_t parser;
    mg_sse_parser_init(&parser, 1 << 20, record, &recorder);
    for (size_t offset = 0; offset < len; offset += split_every) {
        size_t n = len - offset < split_every ? len - offset : split_every;
        assert_int_equal(mg_sse_parser_feed(&parser, stream + offset, n), MG_SSE_OK);
    }
    size_t i = 0;
    for (; expected[i] != NULL; ++i) {
        if (i >= recorder.count)
            fail_msg("missing event %zu: %s (split %zu)", i, expected[i], split_every);
        assert_string_equal(recorder.events[i], expected[i]);
    }
    assert_int_equal(recorder.count, i);
    mg_sse_parser_dispose(&parser);
    recorder_clear(&recorder);
}

/* Same, at every chunk size from 1 byte to the whole stream, so every split point is exercised. */
static void expect_events(const char *stream, const char *const *expected)
{
    size_t len = strlen(stream);
    for (size_t split = 1; split <= len; ++split)
        expect_events_chunked(stream, len, split, expected);
}

static void test_simple_event(void **state)
{
    (void)state;
    expect_events("data: {\"a\":1}\n\n", (const char *[]){"message||{\"a\":1}", NULL});
}

static void test_line_ends(void **state)
{
    (void)state;
    const char *const expected[] = {"message||one", "message||two", "message||three", NULL};
    expect_events("data: one\n\ndata: two\n\ndata: three\n\n", expected);
    expect_events("data: one\r\n\r\ndata: two\r\n\r\ndata: three\r\n\r\n", expected);
    expect_events("data: one\r\rdata: two\r\rdata: three\r\r", expected);
    expect_events("data: one\r\n\rdata: two\n\r\ndata: three\r\n\n", expected);
}

static void test_cr_then_lf_in_next_chunk_is_one_line_end(void **state)
{
    (void)state;
    recorder_t recorder = {0};
    mg_sse_parser_t parser;
    mg_sse_parser_init(&parser, 1024, record, &recorder);
    assert_int_equal(mg_sse_parser_feed(&parser, "data: a\r", 8), MG_SSE_OK);
    assert_int_equal(mg_sse_parser_feed(&parser, "\n", 1), MG_SSE_OK);
    assert_int_equal(recorder.count, 0); /* CR LF is one line end, not a blank line */
    assert_int_equal(mg_sse_parser_feed(&parser, "\r", 1), MG_SSE_OK);
    assert_int_equal(recorder.count, 1);
    assert_string_equal(recorder.events[0], "message||a");
    mg_sse_parser_dispose(&parser);
    recorder_clear(&recorder);
}

static void test_multi_line_data(void **state)
{
    (void)state;
    expect_events("data: first\ndata:second\ndata\ndata:  fourth\n\n",
                  (const char *[]){"message||first\nsecond\n\n fourth", NULL});
}

static void test_comments_and_unknown_fields(void **state)
{
    (void)state;
    expect_events(": keep-alive\n:\nfoo: bar\nDATA: x\ndata: kept\n: between\n\n",
                  (const char *[]){"message||kept", NULL});
    expect_events(": only a comment\n\n", (const char *[]){NULL});
}

static void test_event_type(void **state)
{
    (void)state;
    expect_events("event: endpoint\ndata: /x\n\ndata: y\n\nevent:\ndata: z\n\n",
                  (const char *[]){"endpoint||/x", "message||y", "message||z", NULL});
}

static void test_event_without_data_is_dropped(void **state)
{
    (void)state;
    /* the type set by the dropped event must not leak into the next one */
    expect_events("event: ping\nid: 7\n\ndata: after\n\n", (const char *[]){"message|7|after", NULL});
    /* an empty data field still makes an event (the SDK's priming event) */
    expect_events("id: 1\ndata:\n\n", (const char *[]){"message|1|", NULL});
}

static void test_id_persists_and_nul_id_is_ignored(void **state)
{
    (void)state;
    static const char stream[] = "id: a\ndata: 1\n\ndata: 2\n\nid: b\0c\ndata: 3\n\nid\ndata: 4\n\n";
    const char *const expected[] = {"message|a|1", "message|a|2", "message|a|3", "message||4", NULL};
    for (size_t split = 1; split < sizeof(stream); ++split)
        expect_events_chunked(stream, sizeof(stream) - 1, split, expected);
}

static void test_retry(void **state)
{
    (void)state;
    recorder_t recorder = {0};
    mg_sse_parser_t parser;
    mg_sse_parser_init(&parser, 1024, record, &recorder);
    assert_int_equal(parser.retry_ms, -1);
    const char *stream = "retry: 1500\n\nretry: 12x\n\nretry:\n\n";
    assert_int_equal(mg_sse_parser_feed(&parser, stream, strlen(stream)), MG_SSE_OK);
    assert_int_equal(parser.retry_ms, 1500);
    stream = "retry: 99999999999999999999\n";
    assert_int_equal(mg_sse_parser_feed(&parser, stream, strlen(stream)), MG_SSE_OK);
    assert_true(parser.retry_ms > 1500);
    assert_int_equal(recorder.count, 0);
    mg_sse_parser_dispose(&parser);
}

static void test_bom_is_skipped_once(void **state)
{
    (void)state;
    expect_events("\xEF\xBB\xBF"
                  "data: x\n\n",
                  (const char *[]){"message||x", NULL});
    /* a BOM later in the stream is content: "\xEF\xBB\xBF" + "data" is an unknown field */
    expect_events("data: x\n\n\xEF\xBB\xBF"
                  "data: y\n\n",
                  (const char *[]){"message||x", NULL});
}

static void test_incomplete_event_at_end_is_not_dispatched(void **state)
{
    (void)state;
    expect_events("data: complete\n\ndata: partial\n", (const char *[]){"message||complete", NULL});
}

static void test_event_size_bound(void **state)
{
    (void)state;
    recorder_t recorder = {0};
    mg_sse_parser_t parser;

    /* an event whose data is exactly the bound passes */
    mg_sse_parser_init(&parser, 16, record, &recorder);
    assert_int_equal(mg_sse_parser_feed(&parser, "data: 0123456789abcde\n\n", 23), MG_SSE_OK);
    assert_int_equal(recorder.count, 1);
    assert_string_equal(recorder.events[0], "message||0123456789abcde");
    mg_sse_parser_dispose(&parser);
    recorder_clear(&recorder);

    /* ... wherever the chunks split */
    static const char exact[] = "data: 0123456789abcde\n\n";
    for (size_t split = 1; split < sizeof(exact); ++split) {
        mg_sse_parser_init(&parser, 16, record, &recorder);
        for (size_t offset = 0; offset < sizeof(exact) - 1; offset += split) {
            size_t n = sizeof(exact) - 1 - offset < split ? sizeof(exact) - 1 - offset : split;
            assert_int_equal(mg_sse_parser_feed(&parser, exact + offset, n), MG_SSE_OK);
        }
        assert_int_equal(recorder.count, 1);
        mg_sse_parser_dispose(&parser);
        recorder_clear(&recorder);
    }

    /* one byte more fails, and stays failed */
    mg_sse_parser_init(&parser, 16, record, &recorder);
    assert_int_equal(mg_sse_parser_feed(&parser, "data: 0123", 10), MG_SSE_OK);
    assert_int_equal(mg_sse_parser_feed(&parser, "456789abcdef\n\n", 14), MG_SSE_TOO_LARGE);
    assert_int_equal(mg_sse_parser_feed(&parser, "data: x\n\n", 9), MG_SSE_TOO_LARGE);
    assert_int_equal(recorder.count, 0);
    mg_sse_parser_dispose(&parser);

    /* data accumulated over several lines counts, split in small chunks */
    mg_sse_parser_init(&parser, 16, record, &recorder);
    int rc = MG_SSE_OK;
    for (int i = 0; i < 10 && rc == MG_SSE_OK; ++i) {
        rc = mg_sse_parser_feed(&parser, "data: ", 6);
        if (rc == MG_SSE_OK)
            rc = mg_sse_parser_feed(&parser, "abc\n", 4);
    }
    assert_int_equal(rc, MG_SSE_TOO_LARGE);
    mg_sse_parser_dispose(&parser);

    /* a line that never ends is bounded too (a comment here) */
    mg_sse_parser_init(&parser, 16, record, &recorder);
    rc = MG_SSE_OK;
    for (int i = 0; i < 100 && rc == MG_SSE_OK; ++i)
        rc = mg_sse_parser_feed(&parser, ":xxxx", 5);
    assert_int_equal(rc, MG_SSE_TOO_LARGE);
    assert_true(parser.line.len <= 16 + 64);
    mg_sse_parser_dispose(&parser);
}

static void test_callback_can_stop(void **state)
{
    (void)state;
    recorder_t recorder = {.stop_after = 1};
    mg_sse_parser_t parser;
    mg_sse_parser_init(&parser, 1024, record, &recorder);
    const char *stream = "data: 1\n\ndata: 2\n\n";
    assert_int_equal(mg_sse_parser_feed(&parser, stream, strlen(stream)), MG_SSE_STOPPED);
    assert_int_equal(recorder.count, 1);
    assert_int_equal(mg_sse_parser_feed(&parser, stream, strlen(stream)), MG_SSE_STOPPED);
    assert_int_equal(recorder.count, 1);
    mg_sse_parser_dispose(&parser);
    recorder_clear(&recorder);
}

static void test_encode_message(void **state)
{
    (void)state;
    json_t *message = json_pack("{s:s, s:i, s:{s:s}}", "jsonrpc", "2.0", "id", 1, "result", "text", "a\nb");
    size_t len = 0;
    char *text = mg_sse_encode_message(message, &len);
    assert_non_null(text);
    assert_string_equal(text,
                        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"text\":\"a\\nb\"}}\n\n");
    assert_int_equal(len, strlen(text));
    free(text);
    json_decref(message);
}

static void test_encode_event_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        const char *expected;
    } cases[] = {
        {"", "x|7|"},
        {"one", "x|7|one"},
        {"a\nb", "x|7|a\nb"},
        {"a\r\nb\rc", "x|7|a\nb\nc"},
        {"trailing\n", "x|7|trailing\n"},
        {"\n\n", "x|7|\n\n"},
        {" leading space", "x|7| leading space"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t len = 0;
        char *text = mg_sse_encode_event("x", "7", cases[i].data, strlen(cases[i].data), &len);
        assert_non_null(text);
        assert_int_equal(len, strlen(text));
        expect_events(text, (const char *[]){cases[i].expected, NULL});
        free(text);
    }
    assert_null(mg_sse_encode_event("bad\ntype", NULL, "x", 1, NULL));
    assert_null(mg_sse_encode_event("ok", "bad\rid", "x", 1, NULL));
}

/* Untrusted bytes: arbitrary input in arbitrary chunks never crashes and respects the bound. */
static void test_random_bytes(void **state)
{
    (void)state;
    static const char alphabet[] = "data:event:id:retry: \r\n\0\xEF\xBB\xBFx";
    unsigned seed = 12345;
    char stream[4096];
    for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < sizeof(stream); ++i) {
            seed = seed * 1103515245u + 12345u;
            stream[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        recorder_t recorder = {.stop_after = MAX_EVENTS};
        mg_sse_parser_t parser;
        mg_sse_parser_init(&parser, 64, record, &recorder);
        size_t offset = 0;
        while (offset < sizeof(stream)) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 97;
            if (n > sizeof(stream) - offset)
                n = sizeof(stream) - offset;
            if (mg_sse_parser_feed(&parser, stream + offset, n) != MG_SSE_OK)
                break;
            assert_true(parser.data.len + parser.type.len <= 64);
            assert_true(parser.line.len <= 64 + 64);
            offset += n;
        }
        mg_sse_parser_dispose(&parser);
        recorder_clear(&recorder);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_event),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_cr_then_lf_in_next_chunk_is_one_line_end),
        cmocka_unit_test(test_multi_line_data),
        cmocka_unit_test(test_comments_and_unknown_fields),
        cmocka_unit_test(test_event_type),
        cmocka_unit_test(test_event_without_data_is_dropped),
        cmocka_unit_test(test_id_persists_and_nul_id_is_ignored),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_bom_is_skipped_once),
        cmocka_unit_test(test_incomplete_event_at_end_is_not_dispatched),
        cmocka_unit_test(test_event_size_bound),
        cmocka_unit_test(test_callback_can_stop),
        cmocka_unit_test(test_encode_message),
        cmocka_unit_test(test_encode_event_round_trips),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
