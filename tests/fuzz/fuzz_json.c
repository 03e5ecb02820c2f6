/*
 * fuzz_json.c - differential libFuzzer target for mg_json_loadb (jsonrpc.h), the gateway's fast
 * JSON reader: for every input and both flag sets the gateway uses, it must give exactly what
 * jansson's json_loadb gives -- the same value (same compact text, json_equal), or NULL both.
 * The fast path may decline anything; it may never accept what jansson refuses, nor build
 * something else.
 *
 * The same holds for mg_rpc_decode_client, which reads a modern request's params._meta into a
 * record instead of values: its verdict must be mg_rpc_decode's (which reads through jansson when
 * the fast path declines), and its message, with the record put back in params at its position,
 * the same message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"

#define FUZZ_DEPTH 64

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

static void check(int condition)
{
    if (!condition)
        abort();
}

/* The root mg_rpc_decode would have made: the record's _meta put back in params, in its place. */
static json_t *restored_root(const mg_rpc_message_t *msg)
{
    json_t *root = json_copy(msg->root);
    if (msg->meta == NULL)
        return root;
    json_t *params = json_object(), *old = json_object_get(root, "params");
    size_t position = 0;
    const char *key;
    json_t *value;
    json_object_foreach(old, key, value)
    {
        if (position++ == msg->meta->position)
            check(json_object_set_new(params, "_meta", mg_rpc_meta_value(msg->meta)) == 0);
        check(json_object_set(params, key, value) == 0);
    }
    if (position <= msg->meta->position)
        check(json_object_set_new(params, "_meta", mg_rpc_meta_value(msg->meta)) == 0);
    check(json_object_set_new(root, "params", params) == 0);
    return root;
}

static void client_same_as_decode(const char *data, size_t size)
{
    mg_rpc_message_t plain, client;
    mg_rpc_error_t plain_error, client_error;
    int rc = mg_rpc_decode(data, size, FUZZ_DEPTH, &plain, &plain_error);
    check(mg_rpc_decode_client(data, size, FUZZ_DEPTH, &client, &client_error) == rc);
    if (rc != 0) {
        check(plain_error.code == client_error.code && strcmp(plain_error.message, client_error.message) == 0);
        check((plain_error.id == NULL) == (client_error.id == NULL));
        check(plain_error.id == NULL || json_equal(plain_error.id, client_error.id));
        mg_rpc_error_dispose(&plain_error);
        mg_rpc_error_dispose(&client_error);
        return;
    }
    check(plain.kind == client.kind && plain.meta == NULL);
    check(client.meta == NULL || (client.kind == MG_RPC_REQUEST && json_object_get(client.params, "_meta") == NULL));
    check(client.meta == NULL ||
          client.meta->mrtr_members == (json_object_get(plain.params, "requestState") != NULL ||
                                        json_object_get(plain.params, "inputResponses") != NULL));
    json_t *restored = restored_root(&client);
    char *a = json_dumps(plain.root, JSON_COMPACT), *b = json_dumps(restored, JSON_COMPACT);
    check(a != NULL && b != NULL && strcmp(a, b) == 0 && json_equal(plain.root, restored));
    free(a);
    free(b);
    json_decref(restored);
    mg_rpc_message_dispose(&plain);
    mg_rpc_message_dispose(&client);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    client_same_as_decode((const char *)data, size);
    same_as_jansson((const char *)data, size, MG_JSON_DECODE_FLAGS);
    same_as_jansson((const char *)data, size, MG_JSON_DECODE_FLAGS | JSON_DECODE_ANY);
    return 0;
}
