/*
 * trace_bench.c - what tracing adds to one request on the worker's thread (obs/trace.h), measured by
 * doing exactly the trace calls a routed tools/call makes: begin, identify, validate (message and
 * arguments), authorize, rate limit, one upstream call with its params._meta copy, the answer, end.
 * The exporter's work (encoding, POST) happens on its own thread and is not counted here.
 *
 *   build/bench/trace_bench [iterations]
 *
 * Cases: no tracer (the branch on a NULL trace); a tracer, request sampled out without a context; a
 * sampled-out client context (propagated only); a sampled request (every span recorded and queued).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/trace.h"
#include "obs/trace_internal.h"

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void one_request(mg_tracer_t *tracer, const mg_trace_request_t *request, json_t *upstream_request)
{
    mg_trace_t *trace = mg_trace_begin(tracer, request);
    static const mg_trace_stage_t stages[] = {MG_TRACE_VALIDATE, MG_TRACE_AUTHORIZE, MG_TRACE_RATE_LIMIT,
                                              MG_TRACE_VALIDATE_ARGUMENTS};
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
        uint64_t began = mg_trace_stage_start(trace);
        mg_trace_stage_end(trace, stages[i], began, NULL);
    }
    int part;
    json_t *sent = NULL;
    if (trace != NULL) {
        const char *traceparent = mg_trace_upstream_begin(trace, &part, "everything", upstream_request);
        if (traceparent != NULL)
            sent = mg_trace_inject_meta(upstream_request, traceparent, mg_trace_tracestate(trace));
    }
    json_decref(sent);
    if (mg_trace_sampled(trace))
        mg_trace_upstream_end(trace, &part, 0);
    if (mg_trace_sampled(trace))
        mg_trace_answered(trace, 0);
    mg_trace_root_string(trace, "mcp.server", "everything");
    mg_trace_end(trace);
}

static void run(const char *what, mg_tracer_t *tracer, const mg_trace_request_t *request, json_t *upstream_request,
                long iterations)
{
    uint64_t total = 0;
    for (long i = 0; i < iterations; i++) {
        if (tracer != NULL && tracer->filling_len > tracer->capacity - 16)
            tracer->filling_len = 0; /* nobody exports here: empty the queue outside the timing */
        uint64_t start = now_ns();
        one_request(tracer, request, upstream_request);
        total += now_ns() - start;
    }
    printf("%-52s %8.0f ns/request\n", what, (double)total / (double)iterations);
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    mg_config_tracing_t config = {.enabled = true,
                                  .otlp_endpoint = "http://127.0.0.1:9/v1/traces",
                                  .sample_ratio = 0.0,
                                  .service_name = "bench",
                                  .batch_size = 4096,
                                  .queue = 4096};
    mg_tracer_t *tracer = NULL;
    mg_error_t err = {{0}};
    if (mg_tracer_create(&config, &tracer, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    json_t *upstream_request = json_pack("{s:s,s:i,s:s,s:{s:s,s:{s:s}}}", "jsonrpc", "2.0", "id", 7, "method",
                                         "tools/call", "params", "name", "echo", "arguments", "message", "hello");
    mg_trace_request_t request = {.method = "tools/call",
                                  .target = "everything__echo",
                                  .protocol_version = "2025-11-25",
                                  .request_id = "7",
                                  .arrived_ns = mg_trace_now_ns(),
                                  .identify_start_ns = mg_trace_now_ns(),
                                  .identified_ns = mg_trace_now_ns()};
    run("no tracing section", NULL, &request, upstream_request, iterations);
    run("tracing, sampled out, no client context", tracer, &request, upstream_request, iterations);
    request.header_traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00";
    request.header_traceparent_len = MG_TRACEPARENT_LEN;
    run("tracing, client context not sampled (propagated)", tracer, &request, upstream_request, iterations);
    request.header_traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    run("tracing, sampled (6 spans queued, _meta copied)", tracer, &request, upstream_request, iterations);
    json_decref(upstream_request);
    mg_tracer_destroy(tracer);
    return 0;
}
