/*
 * fuzz_traceparent.c - libFuzzer target for the W3C trace context parsers (obs/trace.h).
 *
 * Input: a traceparent or tracestate header value as a client would send it. mg_traceparent_parse
 * reads only the bytes it is given (the input is not NUL-terminated) and either refuses them or
 * yields ids that are not all zero; a version-00 value it accepts is formatted back into exactly the
 * same text (lowercase hex, fixed positions), so parse and format agree on every input. The same bytes
 * go through mg_tracestate_valid, whose answer must not depend on anything past `size`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/trace.h"

static void check(int condition)
{
    if (!condition)
        abort();
}

static int all_zero(const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that AddressSanitizer catches a read past the end */
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    mg_trace_context_t context;
    if (mg_traceparent_parse(text, size, &context) == 0) {
        check(size >= MG_TRACEPARENT_LEN);
        check(!all_zero(context.trace_id, MG_TRACE_ID_BYTES) && !all_zero(context.span_id, MG_SPAN_ID_BYTES));
        char again[MG_TRACEPARENT_LEN + 1];
        mg_traceparent_format(context.trace_id, context.span_id, context.flags, again);
        check(strlen(again) == MG_TRACEPARENT_LEN);
        /* everything but the version is read back exactly; version 00 is the whole text */
        check(memcmp(again + 2, text + 2, MG_TRACEPARENT_LEN - 2) == 0);
        if (memcmp(text, "00", 2) == 0)
            check(size == MG_TRACEPARENT_LEN);
        mg_trace_context_t reparsed;
        check(mg_traceparent_parse(again, MG_TRACEPARENT_LEN, &reparsed) == 0);
        check(memcmp(&reparsed, &context, sizeof(context)) == 0);
    }
    bool valid = mg_tracestate_valid(text, size);
    check(!valid || size <= MG_TRACESTATE_MAX);
    free(text);
    return 0;
}
