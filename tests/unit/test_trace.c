/*
 * test_trace.c - W3C trace context, sampling, span records, the OTLP JSON encoding, the request's
 * trace and the `tracing` section (src/obs/trace*.c, src/config/tracing.c).
 *
 * The exporter's POSTs to a real collector are tested end to end (tests/e2e/tracing.test.mjs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_load.h"

#include "config/config.h"
#include "obs/trace.h"
#include "obs/trace_internal.h"

static const char example[] = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";

/* --- traceparent ------------------------------------------------------------------------------- */

static int parse(const char *text, mg_trace_context_t *out)
{
    return mg_traceparent_parse(text, strlen(text), out);
}

static void test_traceparent_valid(void **state)
{
    (void)state;
    mg_trace_context_t context;
    assert_int_equal(parse(example, &context), 0);
    char hex[33];
    mg_trace_hex(context.trace_id, MG_TRACE_ID_BYTES, hex);
    assert_string_equal(hex, "0af7651916cd43dd8448eb211c80319c");
    mg_trace_hex(context.span_id, MG_SPAN_ID_BYTES, hex);
    assert_string_equal(hex, "00f067aa0ba902b7");
    assert_int_equal(context.flags, 1);
    char text[MG_TRACEPARENT_LEN + 1];
    mg_traceparent_format(context.trace_id, context.span_id, context.flags, text);
    assert_string_equal(text, example);

    assert_int_equal(parse("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00", &context), 0);
    assert_int_equal(context.flags, 0);
    /* unknown flag bits are kept as received */
    assert_int_equal(parse("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-ff", &context), 0);
    assert_int_equal(context.flags, 0xff);
    /* a later version: its first four fields, and anything after a dash (section 3.2.4) */
    assert_int_equal(parse("01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01", &context), 0);
    assert_int_equal(parse("cc-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-what-the-future-holds", &context),
                     0);
    assert_int_equal(context.flags, 1);
    /* not NUL-terminated: only len bytes are read */
    char buffer[80];
    memcpy(buffer, example, MG_TRACEPARENT_LEN);
    memset(buffer + MG_TRACEPARENT_LEN, 'x', sizeof(buffer) - MG_TRACEPARENT_LEN);
    assert_int_equal(mg_traceparent_parse(buffer, MG_TRACEPARENT_LEN, &context), 0);
}

static void test_traceparent_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-0",   /* short */
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-", /* version 00 is exactly 55 */
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-011", /* same */
        "00-0AF7651916CD43DD8448EB211C80319C-00F067AA0BA902B7-01",  /* uppercase */
        "00-0af7651916cd43dd8448eb211c80319C-00f067aa0ba902b7-01",  /* one uppercase digit */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* all-zero trace id */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  /* all-zero parent id */
        "ff-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",  /* version ff */
        "0g-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",  /* version not hex */
        "00_0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",  /* separators */
        "00-0af7651916cd43dd8448eb211c80319c_00f067aa0ba902b7-01",
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7_01",
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-0x",  /* flags not hex */
        "00-0af7651916cd43dd8448eb211c8031 c-00f067aa0ba902b7-01",  /* space inside */
        " 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01", /* leading space */
        "01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01x", /* later version: no dash after */
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01\n",
        "00-0af7651916cd43dd8448eb211c80319c00f067aa0ba902b7-01-", /* a dash moved */
    };
    mg_trace_context_t context;
    memset(&context, 0x5a, sizeof(context));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], &context) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(context.flags, 0x5a); /* untouched on failure */
    assert_int_equal(mg_traceparent_parse(NULL, 0, &context), -1);
}

static void test_tracestate(void **state)
{
    (void)state;
    static const char *const good[] = {
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "rojo=1, congo=2 ,\tcongo2=3",
        "",
        ",,a=1,,",
        "tenant1@vendor=value",
        "a*/_-9=x y",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!mg_tracestate_valid(good[i], strlen(good[i])))
            fail_msg("refused \"%s\"", good[i]);
    }
    static const char *const bad[] = {
        "Congo=1",                                   /* uppercase key */
        "1abc=x",                                    /* key starts with a digit (not multi-tenant) */
        "congo",                                     /* no value */
        "congo=",                                    /* empty value */
        "congo=a=b",                                 /* '=' in value */
        "congo=a\x7f",    "congo=\x01", "@vendor=1", /* empty tenant */
        "t@=1",                                      /* empty system */
        "t@1vendor=1",                               /* system id starts with a digit */
        "congo=\xc3\xa9",                            /* not ASCII */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mg_tracestate_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    char many[400] = "";
    for (int i = 0; i < 33; i++) /* 33 members: one too many */
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sk%d=v", i > 0 ? "," : "", i);
    assert_false(mg_tracestate_valid(many, strlen(many)));
    *strrchr(many, ',') = '\0'; /* 32 */
    assert_true(mg_tracestate_valid(many, strlen(many)));
    char long_state[MG_TRACESTATE_MAX + 2];
    memset(long_state, 'a', sizeof(long_state) - 1);
    long_state[0] = 'k';
    long_state[1] = '=';
    long_state[MG_TRACESTATE_MAX + 1] = '\0';
    assert_false(mg_tracestate_valid(long_state, strlen(long_state)));
}

static void test_random_ids(void **state)
{
    (void)state;
    uint8_t a[MG_TRACE_ID_BYTES], b[MG_TRACE_ID_BYTES], zero[MG_TRACE_ID_BYTES] = {0};
    mg_trace_random_trace_id(a);
    mg_trace_random_trace_id(b);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    uint8_t s1[MG_SPAN_ID_BYTES], s2[MG_SPAN_ID_BYTES];
    mg_trace_random_span_id(s1);
    mg_trace_random_span_id(s2);
    assert_memory_not_equal(s1, s2, sizeof(s1));
}

/* --- sampling --------------------------------------------------------------------------------- */

static void test_sampling(void **state)
{
    (void)state;
    mg_trace_context_t parent;
    assert_int_equal(parse(example, &parent), 0);
    uint8_t id[MG_TRACE_ID_BYTES] = {0};
    /* parent-based: the client's flag decides whatever the ratio */
    assert_true(mg_trace_should_sample(&parent, id, 0.0));
    parent.flags = 0;
    assert_false(mg_trace_should_sample(&parent, id, 1.0));
    parent.flags = 0x02; /* another bit, not sampled */
    assert_false(mg_trace_should_sample(&parent, id, 1.0));
    /* no parent: the ratio against the trace id's last 8 bytes */
    memset(id + 8, 0xff, 8);
    assert_true(mg_trace_should_sample(NULL, id, 1.0));
    assert_false(mg_trace_should_sample(NULL, id, 0.0));
    assert_false(mg_trace_should_sample(NULL, id, 0.5));
    memset(id + 8, 0, 8);
    id[15] = 1;
    assert_false(mg_trace_should_sample(NULL, id, 0.0));
    assert_true(mg_trace_should_sample(NULL, id, 0.5));
    id[8] = 0x7f; /* just under half */
    assert_true(mg_trace_should_sample(NULL, id, 0.5));
    id[8] = 0x80; /* just over */
    assert_false(mg_trace_should_sample(NULL, id, 0.5));
    assert_true(mg_trace_should_sample(NULL, id, 0.51));
    /* over many random ids the share is near the ratio */
    int sampled = 0;
    for (int i = 0; i < 20000; i++) {
        mg_trace_random_trace_id(id);
        sampled += mg_trace_should_sample(NULL, id, 0.25);
    }
    assert_in_range(sampled, 4500, 5500);
}

/* --- spans and the OTLP encoding ---------------------------------------------------------------- */

static json_t *attribute(const json_t *span, const char *key)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(span, "attributes"), i, item)
    {
        if (strcmp(json_string_value(json_object_get(item, "key")), key) == 0)
            return json_object_get(item, "value");
    }
    return NULL;
}

static void test_otlp_encoding(void **state)
{
    (void)state;
    mg_span_t spans[2];
    mg_trace_context_t parent;
    assert_int_equal(parse(example, &parent), 0);
    static const uint8_t root_id[MG_SPAN_ID_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t child_id[MG_SPAN_ID_BYTES] = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11};
    mg_span_init(&spans[0], parent.trace_id, root_id, parent.span_id, MG_SPAN_SERVER, "tools/call echo", 15);
    spans[0].start_ns = 1700000000123456789ULL;
    spans[0].end_ns = 1700000000223456789ULL;
    mg_span_add_string(&spans[0], "mcp.method.name", "tools/call", 10);
    mg_span_add_string(&spans[0], "gen_ai.tool.name", "say \"hi\"\n\\\x01", 11);
    mg_span_add_int(&spans[0], "rpc.jsonrpc.error_code", -32602);
    mg_span_set_status(&spans[0], MG_SPAN_STATUS_ERROR, "bad \"params\"");
    mg_span_init(&spans[1], parent.trace_id, child_id, root_id, MG_SPAN_INTERNAL, "mcpgate.authorize", 17);
    spans[1].start_ns = 1700000000123456790ULL;
    spans[1].end_ns = 1700000000123456800ULL;

    mg_bytes_t out = {0};
    mg_trace_encode_otlp(spans, 2, "gw \"one\"", &out);
    json_error_t error;
    json_t *root = json_loadb(out.base, out.len, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL)
        fail_msg("not JSON: %s: %.*s", error.text, (int)out.len, out.base);
    json_t *resource_spans = json_array_get(json_object_get(root, "resourceSpans"), 0);
    json_t *service = attribute(json_object_get(resource_spans, "resource"), "service.name");
    assert_string_equal(json_string_value(json_object_get(service, "stringValue")), "gw \"one\"");
    json_t *scope_spans = json_array_get(json_object_get(resource_spans, "scopeSpans"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(scope_spans, "scope"), "name")), "mcpgate");
    json_t *list = json_object_get(scope_spans, "spans");
    assert_int_equal(json_array_size(list), 2);
    json_t *first = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(first, "traceId")), "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(json_string_value(json_object_get(first, "spanId")), "0102030405060708");
    assert_string_equal(json_string_value(json_object_get(first, "parentSpanId")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(first, "name")), "tools/call echo");
    assert_int_equal(json_integer_value(json_object_get(first, "kind")), 2);
    assert_string_equal(json_string_value(json_object_get(first, "startTimeUnixNano")), "1700000000123456789");
    assert_string_equal(json_string_value(json_object_get(first, "endTimeUnixNano")), "1700000000223456789");
    assert_string_equal(json_string_value(json_object_get(attribute(first, "gen_ai.tool.name"), "stringValue")),
                        "say \"hi\"\n\\\x01");
    assert_string_equal(json_string_value(json_object_get(attribute(first, "rpc.jsonrpc.error_code"), "intValue")),
                        "-32602");
    json_t *status = json_object_get(first, "status");
    assert_int_equal(json_integer_value(json_object_get(status, "code")), 2);
    assert_string_equal(json_string_value(json_object_get(status, "message")), "bad \"params\"");
    json_t *second = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(second, "parentSpanId")), "0102030405060708");
    assert_int_equal(json_integer_value(json_object_get(second, "kind")), 1);
    assert_int_equal(json_array_size(json_object_get(second, "attributes")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(second, "status"), "code")), 0);
    assert_null(json_object_get(json_object_get(second, "status"), "message"));
    json_decref(root);
    mg_bytes_dispose(&out);

    /* a root span has no parentSpanId member at all */
    mg_span_init(&spans[0], parent.trace_id, root_id, NULL, MG_SPAN_SERVER, "ping", 4);
    mg_trace_encode_otlp(spans, 1, "mcpgate", &out);
    mg_bytes_append(&out, "", 1);
    assert_null(strstr(out.base, "parentSpanId"));
    mg_bytes_dispose(&out);
}

static void test_span_text_bounds(void **state)
{
    (void)state;
    uint8_t trace_id[MG_TRACE_ID_BYTES], span_id[MG_SPAN_ID_BYTES];
    mg_trace_random_trace_id(trace_id);
    mg_trace_random_span_id(span_id);
    mg_span_t span;
    char name[MG_SPAN_TEXT_MAX + 10];
    memset(name, 'n', sizeof(name));
    mg_span_init(&span, trace_id, span_id, NULL, MG_SPAN_SERVER, name, sizeof(name));
    assert_int_equal(span.name_len, MG_SPAN_TEXT_MAX);
    mg_span_add_string(&span, "k", "v", 1); /* no room: an empty value, still valid */
    assert_int_equal(span.attributes[0].len, 0);
    /* text cut at a UTF-8 boundary: "é" is two bytes and never split */
    mg_span_init(&span, trace_id, span_id, NULL, MG_SPAN_SERVER, name, MG_SPAN_TEXT_MAX - 1);
    mg_span_add_string(&span, "k", "\xc3\xa9", 2);
    assert_int_equal(span.attributes[0].len, 0);
    for (int i = 0; i < MG_SPAN_MAX_ATTRIBUTES + 3; i++)
        mg_span_add_int(&span, "n", i);
    assert_int_equal(span.attributes_len, MG_SPAN_MAX_ATTRIBUTES);
}

/* --- the request's trace ------------------------------------------------------------------------ */

static mg_tracer_t *tracer_with(double ratio, size_t queue)
{
    mg_config_tracing_t config = {.enabled = true,
                                  .otlp_endpoint = "http://127.0.0.1:9/v1/traces",
                                  .sample_ratio = ratio,
                                  .service_name = "test",
                                  .batch_size = queue,
                                  .queue = queue};
    mg_tracer_t *tracer = NULL;
    mg_error_t err = {{0}};
    assert_int_equal(mg_tracer_create(&config, &tracer, &err), 0);
    return tracer; /* never started: spans stay in tracer->filling for the test to read */
}

static const mg_span_t *queued(mg_tracer_t *tracer, const char *name)
{
    for (size_t i = 0; i < tracer->filling_len; i++) {
        const mg_span_t *span = &tracer->filling[i];
        if (span->name_len == strlen(name) && memcmp(span->text + span->name_offset, name, span->name_len) == 0)
            return span;
    }
    fail_msg("no span named %s", name);
    return NULL;
}

static void test_request_trace_with_parent(void **state)
{
    (void)state;
    mg_tracer_t *tracer = tracer_with(0.0, 64); /* ratio 0: only the parent's flag can sample */
    mg_trace_request_t request = {.header_traceparent = "00-11111111111111111111111111111111-2222222222222222-01",
                                  .header_traceparent_len = MG_TRACEPARENT_LEN,
                                  .meta_traceparent = example, /* preferred over the header */
                                  .meta_tracestate = "congo=t61rcWkgMzE",
                                  .method = "tools/call",
                                  .target = "everything__echo",
                                  .protocol_version = "2026-07-28",
                                  .request_id = "7",
                                  .arrived_ns = mg_trace_now_ns() - 1000,
                                  .identify_start_ns = mg_trace_now_ns() - 900,
                                  .identified_ns = mg_trace_now_ns() - 800};
    mg_trace_t *trace = mg_trace_begin(tracer, &request);
    assert_non_null(trace);
    assert_true(mg_trace_sampled(trace));
    char hex[33];
    assert_true(mg_trace_id_hex(trace, hex));
    assert_string_equal(hex, "0af7651916cd43dd8448eb211c80319c");
    uint64_t start = mg_trace_stage_start(trace);
    assert_true(start != 0);
    mg_trace_stage_end(trace, MG_TRACE_AUTHORIZE, start, NULL);
    mg_trace_stage_end(trace, MG_TRACE_RATE_LIMIT, mg_trace_stage_start(trace), "rate_limited");
    json_t *upstream_request =
        json_pack("{s:s,s:i,s:s,s:{s:s}}", "jsonrpc", "2.0", "id", 7, "method", "tools/call", "params", "name", "echo");
    int part;
    const char *traceparent = mg_trace_upstream_begin(trace, &part, "everything", upstream_request);
    assert_non_null(traceparent);
    mg_trace_context_t sent;
    assert_int_equal(parse(traceparent, &sent), 0);
    assert_string_equal(mg_trace_tracestate(trace), "congo=t61rcWkgMzE");
    mg_trace_upstream_end(trace, &part, 0);
    mg_trace_root_string(trace, "mcp.server", "everything");
    mg_trace_answered(trace, -32029);
    mg_trace_answered(trace, 0); /* the first answer counts */
    mg_trace_end(trace);

    assert_int_equal(tracer->filling_len, 5); /* identify, authorize, rate limit, upstream, root */
    const mg_span_t *root = queued(tracer, "tools/call everything__echo");
    assert_int_equal(root->kind, MG_SPAN_SERVER);
    assert_true(root->has_parent);
    assert_memory_equal(root->parent_span_id, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8); /* the client's span */
    assert_memory_equal(root->trace_id, sent.trace_id, MG_TRACE_ID_BYTES);
    assert_true(root->start_ns <= root->end_ns);
    assert_int_equal(root->status, MG_SPAN_STATUS_ERROR);
    bool has_code = false;
    for (size_t i = 0; i < root->attributes_len; i++)
        has_code |=
            strcmp(root->attributes[i].key, "rpc.jsonrpc.error_code") == 0 && root->attributes[i].number == -32029;
    assert_true(has_code);
    static const char *const children[] = {"mcpgate.identify", "mcpgate.authorize", "mcpgate.rate_limit",
                                           "tools/call echo"};
    for (size_t i = 0; i < 4; i++) {
        const mg_span_t *child = queued(tracer, children[i]);
        assert_memory_equal(child->trace_id, root->trace_id, MG_TRACE_ID_BYTES);
        assert_memory_equal(child->parent_span_id, root->span_id, MG_SPAN_ID_BYTES);
        assert_true(child->start_ns >= root->start_ns && child->end_ns <= root->end_ns);
    }
    const mg_span_t *upstream = queued(tracer, "tools/call echo");
    assert_int_equal(upstream->kind, MG_SPAN_CLIENT);
    assert_memory_equal(upstream->span_id, sent.span_id, MG_SPAN_ID_BYTES); /* the upstream's parent */
    assert_int_equal(sent.flags, 1);
    assert_int_equal(queued(tracer, "mcpgate.rate_limit")->status, MG_SPAN_STATUS_ERROR);
    assert_int_equal(queued(tracer, "mcpgate.authorize")->status, MG_SPAN_STATUS_UNSET);
    json_decref(upstream_request);
    mg_tracer_destroy(tracer);
}

static void test_request_trace_sampled_out(void **state)
{
    (void)state;
    mg_tracer_t *tracer = tracer_with(0.0, 64);
    /* no context and ratio 0: no trace at all, and every call tolerates it */
    mg_trace_request_t request = {.method = "ping"};
    mg_trace_t *trace = mg_trace_begin(tracer, &request);
    assert_null(trace);
    assert_int_equal(mg_trace_stage_start(trace), 0);
    mg_trace_stage_end(trace, MG_TRACE_VALIDATE, 0, NULL);
    mg_trace_answered(trace, -32602);
    assert_null(mg_trace_upstream_begin(trace, &request, "s", NULL));
    mg_trace_upstream_end(trace, &request, 0);
    char hex[33];
    assert_false(mg_trace_id_hex(trace, hex));
    mg_trace_end(trace);
    assert_null(mg_trace_begin(NULL, &request)); /* no tracer */

    /* an unsampled parent: passed on with the flag off, nothing recorded */
    request.header_traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00";
    request.header_traceparent_len = MG_TRACEPARENT_LEN;
    request.header_tracestate = "a=1,B=2"; /* invalid: dropped */
    request.header_tracestate_len = 7;
    trace = mg_trace_begin(tracer, &request);
    assert_non_null(trace);
    assert_false(mg_trace_sampled(trace));
    assert_null(mg_trace_tracestate(trace));
    const char *traceparent = mg_trace_upstream_begin(trace, &request, "s", NULL);
    mg_trace_context_t sent;
    assert_int_equal(parse(traceparent, &sent), 0);
    assert_int_equal(sent.flags, 0);
    assert_memory_not_equal(sent.span_id, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8); /* our own id */
    mg_trace_end(trace);
    assert_int_equal(tracer->filling_len, 0);

    /* a malformed header: a new trace, sampled by the ratio (1 here) */
    mg_tracer_destroy(tracer);
    tracer = tracer_with(1.0, 64);
    request.header_traceparent = "00-0AF7651916CD43DD8448EB211C80319C-00F067AA0BA902B7-01";
    trace = mg_trace_begin(tracer, &request);
    assert_true(mg_trace_sampled(trace));
    assert_true(mg_trace_id_hex(trace, hex));
    assert_string_not_equal(hex, "0af7651916cd43dd8448eb211c80319c");
    mg_trace_end(trace);
    assert_int_equal(tracer->filling_len, 1);
    assert_false(tracer->filling[0].has_parent);
    mg_tracer_destroy(tracer);
}

static void test_queue_full_drops(void **state)
{
    (void)state;
    mg_tracer_t *tracer = tracer_with(1.0, 2);
    mg_trace_request_t request = {.method = "ping"};
    for (int i = 0; i < 5; i++)
        mg_trace_end(mg_trace_begin(tracer, &request));
    mg_tracer_stats_t stats;
    mg_tracer_stats(tracer, &stats);
    assert_int_equal(stats.spans_queued, 2);
    assert_int_equal(stats.spans_dropped, 3);
    assert_int_equal(stats.queue_depth, 2);
    assert_int_equal(stats.queue_capacity, 2);
    mg_tracer_destroy(tracer);
}

static void test_upstream_spans_left_open(void **state)
{
    (void)state;
    mg_tracer_t *tracer = tracer_with(1.0, 64);
    mg_trace_request_t request = {.method = "tools/list"};
    mg_trace_t *trace = mg_trace_begin(tracer, &request);
    json_t *list = json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", 1, "method", "tools/list");
    int parts[10];
    for (int i = 0; i < 10; i++) /* a fan-out: eight are recorded */
        assert_non_null(mg_trace_upstream_begin(trace, &parts[i], "s", list));
    mg_trace_upstream_end(trace, &parts[0], -32001);
    mg_trace_end(trace); /* the other seven end with it */
    assert_int_equal(tracer->filling_len, 9);
    size_t errors = 0;
    for (size_t i = 0; i < tracer->filling_len; i++)
        errors += tracer->filling[i].status == MG_SPAN_STATUS_ERROR;
    assert_int_equal(errors, 8);
    json_decref(list);
    mg_tracer_destroy(tracer);
}

static void test_inject_meta(void **state)
{
    (void)state;
    json_t *params = json_pack("{s:s,s:{s:s,s:s,s:s}}", "name", "echo", "_meta", "progressToken", "p1", "traceparent",
                               "client", "tracestate", "old=1");
    json_t *request =
        json_pack("{s:s,s:i,s:s,s:O}", "jsonrpc", "2.0", "id", 3, "method", "tools/call", "params", params);
    json_t *sent = mg_trace_inject_meta(request, example, NULL);
    assert_non_null(sent);
    json_t *meta = json_object_get(json_object_get(sent, "params"), "_meta");
    assert_string_equal(json_string_value(json_object_get(meta, "traceparent")), example);
    assert_null(json_object_get(meta, "tracestate"));
    assert_string_equal(json_string_value(json_object_get(meta, "progressToken")), "p1");
    /* the original is untouched */
    json_t *original = json_object_get(params, "_meta");
    assert_string_equal(json_string_value(json_object_get(original, "traceparent")), "client");
    assert_string_equal(json_string_value(json_object_get(original, "tracestate")), "old=1");
    assert_ptr_equal(json_object_get(request, "params"), params);
    json_decref(sent);
    /* no params at all */
    json_t *ping = json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", 4, "method", "ping");
    sent = mg_trace_inject_meta(ping, example, "a=1");
    meta = json_object_get(json_object_get(sent, "params"), "_meta");
    assert_string_equal(json_string_value(json_object_get(meta, "tracestate")), "a=1");
    assert_null(json_object_get(ping, "params"));
    json_decref(sent);
    /* params that are not an object: nothing to do */
    json_object_set_new(ping, "params", json_array());
    assert_null(mg_trace_inject_meta(ping, example, NULL));
    json_decref(ping);
    json_decref(request);
    json_decref(params);
}

/* --- configuration ---------------------------------------------------------------------------- */

static void test_config(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("log_level: info\n");
    assert_false(config->tracing.enabled);
    mg_config_release(config);
    config = load_ok("tracing:\n  otlp_endpoint: http://127.0.0.1:4318/v1/traces\n");
    const mg_config_tracing_t *tracing = &config->tracing;
    assert_true(tracing->enabled);
    assert_string_equal(tracing->otlp_endpoint, "http://127.0.0.1:4318/v1/traces");
    assert_true(tracing->sample_ratio == 1.0);
    assert_string_equal(tracing->service_name, "mcpgate");
    assert_int_equal(tracing->batch_size, 512);
    assert_int_equal(tracing->export_interval_ms, 2000);
    assert_int_equal(tracing->export_timeout_ms, 10000);
    assert_int_equal(tracing->queue, 8192);
    assert_int_equal(tracing->headers_len, 0);
    mg_config_release(config);
    setenv("TEST_TRACE_KEY", "s3cret", 1);
    config = load_ok("tracing:\n"
                     "  otlp_endpoint: https://otel.example/v1/traces\n"
                     "  sample_ratio: 0.25\n"
                     "  service_name: gw-eu\n"
                     "  batch_size: 100\n"
                     "  export_interval_ms: 500\n"
                     "  export_timeout_ms: 3000\n"
                     "  queue: 1000\n"
                     "  headers:\n"
                     "    x-api-key: ${TEST_TRACE_KEY}\n");
    tracing = &config->tracing;
    assert_true(tracing->sample_ratio == 0.25);
    assert_string_equal(tracing->service_name, "gw-eu");
    assert_int_equal(tracing->batch_size, 100);
    assert_int_equal(tracing->export_interval_ms, 500);
    assert_int_equal(tracing->export_timeout_ms, 3000);
    assert_int_equal(tracing->queue, 1000);
    assert_int_equal(tracing->headers_len, 1);
    assert_string_equal(tracing->headers[0].key, "x-api-key");
    assert_string_equal(tracing->headers[0].value, "s3cret");
    mg_config_release(config);
    config = load_ok("tracing: {otlp_endpoint: 'http://c:4318/v1/traces', sample_ratio: 0}\n");
    assert_true(config->tracing.sample_ratio == 0.0);
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("tracing:\n  sample_ratio: 1\n", "gw.yaml:2:3: tracing: missing required key \"otlp_endpoint\"");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  sample_rate: 1\n",
                 "gw.yaml:3:3: tracing: unknown key \"sample_rate\" (did you mean \"sample_ratio\"?)");
    expect_error("tracing:\n  otlp_endpoint: grpc://c:4317\n",
                 "gw.yaml:2:18: tracing.otlp_endpoint: \"grpc://c:4317\" must be an absolute http:// or https:// URL");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  sample_ratio: 1.5\n",
                 "gw.yaml:3:17: tracing.sample_ratio: \"1.5\" must be a number from 0 to 1");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  sample_ratio: half\n",
                 "gw.yaml:3:17: tracing.sample_ratio: \"half\" must be a number from 0 to 1");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  sample_ratio: -0.1\n",
                 "gw.yaml:3:17: tracing.sample_ratio: \"-0.1\" must be a number from 0 to 1");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  queue: 0\n",
                 "gw.yaml:3:10: tracing.queue: 0 is out of range 1..1048576");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  batch_size: 200\n  queue: 100\n",
                 "gw.yaml:3:15: tracing.batch_size: batch_size (200) must not exceed queue (100)");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  service_name: ''\n",
                 "gw.yaml:3:17: tracing.service_name: must not be empty");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  headers:\n    content-type: text/plain\n",
                 "gw.yaml:4:5: tracing.headers.content-type: is set by the exporter and cannot be configured");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  headers:\n    'bad name': x\n",
                 "gw.yaml:4:5: tracing.headers.bad name: not a valid HTTP header name");
    expect_error("tracing:\n  otlp_endpoint: http://c/v1/traces\n  headers:\n    x-key: \"a\\nb\"\n",
                 "gw.yaml:4:12: tracing.headers.x-key: must not contain control characters");
    expect_error("tracing: on\n", "gw.yaml:1:10: tracing: expected a mapping, got \"on\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_valid),
        cmocka_unit_test(test_traceparent_malformed),
        cmocka_unit_test(test_tracestate),
        cmocka_unit_test(test_random_ids),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_otlp_encoding),
        cmocka_unit_test(test_span_text_bounds),
        cmocka_unit_test(test_request_trace_with_parent),
        cmocka_unit_test(test_request_trace_sampled_out),
        cmocka_unit_test(test_queue_full_drops),
        cmocka_unit_test(test_upstream_spans_left_open),
        cmocka_unit_test(test_inject_meta),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
