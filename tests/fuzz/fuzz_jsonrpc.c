/*
 * fuzz_jsonrpc.c - libFuzzer target for the JSON-RPC codec.
 *
 * Every input is decoded with the gateway's depth limit. What decodes must survive
 * a round trip: encoding it yields one line, and decoding that line again gives a
 * message of the same kind with an equal value. What is refused must carry a code
 * of -32700 or -32600 and an id only for -32600.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"

#define FUZZ_DEPTH 64

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_rpc_message_t msg;
    mg_rpc_error_t err;
    if (mg_rpc_decode((const char *)data, size, FUZZ_DEPTH, &msg, &err) != 0) {
        check(err.code == MG_RPC_PARSE_ERROR || err.code == MG_RPC_INVALID_REQUEST);
        check(err.id == NULL || err.code == MG_RPC_INVALID_REQUEST);
        json_t *reply = mg_rpc_make_error(err.id, err.code, err.message, NULL);
        check(reply != NULL); /* the message is printable ASCII, so it always packs */
        json_decref(reply);
        mg_rpc_error_dispose(&err);
        return 0;
    }

    size_t len = 0;
    char *text = mg_rpc_encode(msg.root, &len);
    check(text != NULL);
    check(memchr(text, '\n', len) == NULL);

    mg_rpc_message_t again;
    check(mg_rpc_decode(text, len, FUZZ_DEPTH, &again, &err) == 0);
    check(again.kind == msg.kind);
    check(json_equal(again.root, msg.root));

    mg_rpc_message_dispose(&again);
    mg_rpc_message_dispose(&msg);
    free(text);
    return 0;
}
