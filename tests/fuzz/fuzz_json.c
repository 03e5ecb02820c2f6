/*
 * fuzz_json.c - differential libFuzzer target for mg_json_loadb (jsonrpc.h), the gateway's fast
 * JSON reader: for every input and both flag sets the gateway uses, it must give exactly what
 * jansson's json_loadb gives -- the same value (same compact text, json_equal), or NULL both.
 * The fast path may decline anything; it may never accept what jansson refuses, nor build
 * something else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"

static void same_as_jansson(const char *data, size_t size, size_t flags)
{
    json_error_t fast_error, jansson_error;
    json_t *fast = mg_json_loadb(data, size, flags, &fast_error);
    json_t *jansson = json_loadb(data, size, flags, &jansson_error);
    if ((fast == NULL) != (jansson == NULL))
        abort();
    if (fast != NULL) {
        char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(jansson, JSON_COMPACT | JSON_ENCODE_ANY);
        if (a == NULL || b == NULL || strcmp(a, b) != 0 || !json_equal(fast, jansson))
            abort();
        free(a);
        free(b);
    } else if (strcmp(fast_error.text, jansson_error.text) != 0) {
        abort();
    }
    json_decref(fast);
    json_decref(jansson);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    same_as_jansson((const char *)data, size, MG_JSON_DECODE_FLAGS);
    same_as_jansson((const char *)data, size, MG_JSON_DECODE_FLAGS | JSON_DECODE_ANY);
    return 0;
}
