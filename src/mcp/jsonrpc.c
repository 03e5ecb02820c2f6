/*
 * jsonrpc.c - strict JSON-RPC 2.0 codec for MCP messages (contract in jsonrpc.h).
 *
 * Decoding runs in three passes, cheapest first, so hostile input is turned away
 * before it costs anything:
 *
 *   1. a blank check (empty and whitespace-only bodies get their own message);
 *   2. mg_rpc_check_depth, a single byte scan that counts '[' and '{' outside strings
 *      and stops at the first one past the limit, with no allocation at all;
 *   3. jansson with JSON_REJECT_DUPLICATES (never JSON_ALLOW_NUL), which already
 *      rejects invalid UTF-8, lone surrogate escapes, "\u0000", integers outside
 *      int64 and trailing garbage. JSON_DECODE_ANY is added only so that a bare
 *      scalar reaches classification and gets -32600, as JSON-RPC 2.0 asks.
 *
 * Classification then checks the envelope. It tolerates unknown members (clients
 * add their own) but nothing ambiguous: a message is a request, a notification or a
 * response and never two of them at once. When it fails, the id is recovered if it
 * is a string or an integer so that the caller can address its error reply.
 *
 * Error messages embed jansson's text, which quotes the offending token and so may
 * carry raw input bytes. They are reduced to printable ASCII so that they are always
 * valid UTF-8 for the error reply and safe for a log line.
 */
#include "mcp/jsonrpc.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void reset(mg_rpc_message_t *out, mg_rpc_error_t *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
}

static int fail(mg_rpc_error_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(mg_rpc_error_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    for (char *p = err->message; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    }
    err->code = code;
    return -1;
}

static const char *type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

int mg_rpc_check_depth(const char *buf, size_t len, int max_depth, size_t *offending_offset)
{
    int depth = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte can be neither a closing quote nor an escape */
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                if (offending_offset != NULL)
                    *offending_offset = i;
                return -1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            /* unbalanced closers are jansson's to report, not a depth question */
            depth--;
        }
    }
    return 0;
}

static bool is_blank(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
            return false;
    }
    return true;
}

/* JSON-RPC 2.0 section 5.1: an error object has an integer code and a string message. */
static int check_error_object(const json_t *error, mg_rpc_error_t *err)
{
    if (!json_is_object(error))
        return fail(err, MG_RPC_INVALID_REQUEST, "\"error\" must be an object, not %s", type_name(error));
    json_t *code = json_object_get(error, "code");
    if (code == NULL)
        return fail(err, MG_RPC_INVALID_REQUEST, "\"error\" has no \"code\"");
    if (!json_is_integer(code))
        return fail(err, MG_RPC_INVALID_REQUEST, "\"error.code\" must be an integer, not %s", type_name(code));
    json_t *message = json_object_get(error, "message");
    if (message == NULL)
        return fail(err, MG_RPC_INVALID_REQUEST, "\"error\" has no \"message\"");
    if (!json_is_string(message))
        return fail(err, MG_RPC_INVALID_REQUEST, "\"error.message\" must be a string, not %s", type_name(message));
    return 0;
}

/* Fills msg (borrowed pointers only) when root is a well-formed envelope; the caller owns root. */
static int classify_object(json_t *root, mg_rpc_message_t *msg, mg_rpc_error_t *err)
{
    json_t *version = json_object_get(root, "jsonrpc");
    json_t *id = json_object_get(root, "id");
    json_t *method = json_object_get(root, "method");
    json_t *params = json_object_get(root, "params");
    json_t *result = json_object_get(root, "result");
    json_t *error = json_object_get(root, "error");

    if (version == NULL)
        return fail(err, MG_RPC_INVALID_REQUEST, "missing \"jsonrpc\" member");
    if (!json_is_string(version) || json_string_length(version) != 3 || strcmp(json_string_value(version), "2.0") != 0)
        return fail(err, MG_RPC_INVALID_REQUEST, "\"jsonrpc\" must be the string \"2.0\"");
    /* JSON-RPC allows a null id; MCP does not, and fractional ids are not ids. */
    if (id != NULL && !json_is_string(id) && !json_is_integer(id))
        return fail(err, MG_RPC_INVALID_REQUEST, "\"id\" must be a string or an integer, not %s", type_name(id));

    if (method != NULL) {
        if (!json_is_string(method))
            return fail(err, MG_RPC_INVALID_REQUEST, "\"method\" must be a string, not %s", type_name(method));
        if (result != NULL || error != NULL)
            return fail(err, MG_RPC_INVALID_REQUEST,
                        "a message with \"method\" must not carry \"result\" or \"error\"");
        /* MCP params are always named (an object), never positional. */
        if (params != NULL && !json_is_object(params))
            return fail(err, MG_RPC_INVALID_REQUEST, "\"params\" must be an object, not %s", type_name(params));
        msg->kind = id != NULL ? MG_RPC_REQUEST : MG_RPC_NOTIFICATION;
        msg->method = json_string_value(method);
        msg->params = params;
    } else {
        if (result == NULL && error == NULL)
            return fail(err, MG_RPC_INVALID_REQUEST,
                        id == NULL ? "message has none of \"method\", \"result\" or \"error\""
                                   : "response has neither \"result\" nor \"error\"");
        if (result != NULL && error != NULL)
            return fail(err, MG_RPC_INVALID_REQUEST, "response has both \"result\" and \"error\"");
        if (id == NULL)
            return fail(err, MG_RPC_INVALID_REQUEST, "response has no \"id\"");
        if (error != NULL && check_error_object(error, err) != 0)
            return -1;
        msg->kind = MG_RPC_RESPONSE;
        msg->result = result;
        msg->error = error;
    }
    msg->id = id;
    return 0;
}

int mg_rpc_classify(json_t *root, mg_rpc_message_t *out, mg_rpc_error_t *err)
{
    reset(out, err);
    if (json_is_array(root))
        return fail(err, MG_RPC_INVALID_REQUEST, "batch requests are not supported");
    if (!json_is_object(root))
        return fail(err, MG_RPC_INVALID_REQUEST, "message must be a JSON object, not %s",
                    root == NULL ? "nothing" : type_name(root));

    mg_rpc_message_t msg = {0};
    if (classify_object(root, &msg, err) != 0) {
        json_t *id = json_object_get(root, "id");
        if (json_is_string(id) || json_is_integer(id))
            err->id = json_incref(id);
        return -1;
    }
    msg.root = json_incref(root);
    *out = msg;
    return 0;
}

int mg_rpc_decode(const char *buf, size_t len, int max_depth, mg_rpc_message_t *out, mg_rpc_error_t *err)
{
    reset(out, err);
    if (is_blank(buf, len))
        return fail(err, MG_RPC_PARSE_ERROR, "empty message");

    size_t offset = 0;
    if (mg_rpc_check_depth(buf, len, max_depth, &offset) != 0)
        return fail(err, MG_RPC_PARSE_ERROR, "JSON nested deeper than %d levels at byte %zu", max_depth, offset);

    json_error_t parse_error;
    json_t *root = json_loadb(buf, len, MG_JSON_DECODE_FLAGS | JSON_DECODE_ANY, &parse_error);
    if (root == NULL)
        return fail(err, MG_RPC_PARSE_ERROR, "%s at byte %d", parse_error.text, parse_error.position);

    int rc = mg_rpc_classify(root, out, err);
    json_decref(root); /* on success the message holds its own reference */
    return rc;
}

void mg_rpc_message_dispose(mg_rpc_message_t *msg)
{
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

void mg_rpc_error_dispose(mg_rpc_error_t *err)
{
    json_decref(err->id);
    err->id = NULL;
}

/*
 * The builders use json_pack because its "o" conversions consume their reference
 * even when packing fails, which keeps the "stolen" promise of the header on every
 * path. "o?" turns a NULL id into null; "o*" leaves out absent params and data.
 */
json_t *mg_rpc_make_error(json_t *id, int code, const char *message, json_t *data)
{
    assert(message != NULL);
    return json_pack("{s:s, s:o?, s:{s:i, s:s, s:o*}}", "jsonrpc", "2.0", "id", json_deep_copy(id), "error", "code",
                     code, "message", message, "data", data);
}

json_t *mg_rpc_make_result(json_t *id, json_t *result)
{
    assert(id != NULL);
    return json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", json_deep_copy(id), "result", result);
}

json_t *mg_rpc_make_request(json_t *id, const char *method, json_t *params)
{
    assert(id != NULL && method != NULL);
    return json_pack("{s:s, s:o, s:s, s:o*}", "jsonrpc", "2.0", "id", json_deep_copy(id), "method", method, "params",
                     params);
}

json_t *mg_rpc_make_notification(const char *method, json_t *params)
{
    assert(method != NULL);
    return json_pack("{s:s, s:s, s:o*}", "jsonrpc", "2.0", "method", method, "params", params);
}

/* jansson escapes every control character inside strings, so compact output never
 * contains a raw newline and can be framed as one line on stdio upstreams. */
char *mg_rpc_encode(const json_t *msg, size_t *len)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text != NULL && len != NULL)
        *len = strlen(text);
    return text;
}
