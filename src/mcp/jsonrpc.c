/*
 * jsonrpc.c - strict JSON-RPC 2.0 codec for MCP messages (contract in jsonrpc.h).
 *
 * Most messages are read by the fast path (below, before mg_rpc_decode): one pass
 * over the bytes that builds the value, for the well-formed JSON that clients send.
 * Whatever it declines, and every malformed message, takes the strict path, which
 * gives every verdict and every error message. It runs in three passes, cheapest
 * first, so hostile input is turned away before it costs anything:
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
 * Client messages go through mg_rpc_decode_client, the same decoder with one difference: the
 * fast path reads a 2026-07-28 request's params._meta into a small record (the protocol version as
 * text, the other members the gateway reads as values) instead of building the object, its keys'
 * hashes and the version's string, which a modern request carries on every call. Whatever it does
 * not read exactly so, it builds as usual (see "params._meta without values" below).
 *
 * Error messages embed jansson's text, which quotes the offending token and so may
 * carry raw input bytes. They are reduced to printable ASCII so that they are always
 * valid UTF-8 for the error reply and safe for a log line.
 */
#include "mcp/jsonrpc.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"
#include "mcp/modern.h"   /* the _meta keys mg_rpc_decode_client reads */
#include "mcp/versions.h" /* and the version it names */

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

/* The envelope's members, found in one walk over the object (a message has a handful of members;
 * six lookups cost six hashes). */
typedef struct st_envelope_t {
    json_t *version, *id, *method, *params, *result, *error;
} envelope_t;

static void read_envelope(json_t *root, envelope_t *envelope)
{
    memset(envelope, 0, sizeof(*envelope));
    for (void *iter = json_object_iter(root); iter != NULL; iter = json_object_iter_next(root, iter)) {
        const char *key = json_object_iter_key(iter);
        size_t len = json_object_iter_key_len(iter);
        json_t **slot = NULL;
        switch (len) {
        case 2:
            slot = memcmp(key, "id", 2) == 0 ? &envelope->id : NULL;
            break;
        case 5:
            slot = memcmp(key, "error", 5) == 0 ? &envelope->error : NULL;
            break;
        case 6:
            slot = memcmp(key, "method", 6) == 0   ? &envelope->method
                   : memcmp(key, "params", 6) == 0 ? &envelope->params
                   : memcmp(key, "result", 6) == 0 ? &envelope->result
                                                   : NULL;
            break;
        case 7:
            slot = memcmp(key, "jsonrpc", 7) == 0 ? &envelope->version : NULL;
            break;
        }
        if (slot != NULL)
            *slot = json_object_iter_value(iter);
    }
}

/* Fills msg (borrowed pointers only) when root is a well-formed envelope; the caller owns root. `name_read`:
 * NULL, or where the decoder put params' "name" member as it read params (then no lookup is needed). */
static int classify_object(json_t *root, mg_rpc_message_t *msg, mg_rpc_error_t *err, json_t *const *name_read)
{
    envelope_t envelope;
    read_envelope(root, &envelope);
    json_t *version = envelope.version, *id = envelope.id, *method = envelope.method, *params = envelope.params,
           *result = envelope.result, *error = envelope.error;

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
        msg->name = name_read != NULL ? *name_read : params != NULL ? json_object_get(params, "name") : NULL;
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

static int classify(json_t *root, mg_rpc_message_t *out, mg_rpc_error_t *err, json_t *const *name_read)
{
    reset(out, err);
    if (json_is_array(root))
        return fail(err, MG_RPC_INVALID_REQUEST, "batch requests are not supported");
    if (!json_is_object(root))
        return fail(err, MG_RPC_INVALID_REQUEST, "message must be a JSON object, not %s",
                    root == NULL ? "nothing" : type_name(root));

    mg_rpc_message_t msg = {0};
    if (classify_object(root, &msg, err, name_read) != 0) {
        json_t *id = json_object_get(root, "id");
        if (json_is_string(id) || json_is_integer(id))
            err->id = json_incref(id);
        return -1;
    }
    msg.root = json_incref(root);
    *out = msg;
    return 0;
}

int mg_rpc_classify(json_t *root, mg_rpc_message_t *out, mg_rpc_error_t *err)
{
    return classify(root, out, err, NULL);
}

/* ---- the fast path ------------------------------------------------------------------
 * jansson reads its input a byte at a time through a callback and copies every token into a
 * buffer before it looks at it: a 218-byte 2026-07-28 tools/call cost 44k instructions to decode,
 * the largest single cost of the request in the gateway. The fast path reads the JSON that
 * messages are made of (objects, arrays, strings with any escape, valid UTF-8, integers, true,
 * false, null) straight from the buffer and builds the same values with the same jansson calls
 * (12k instructions for that request). It never reports an error: on anything else (reals, a
 * syntax error, a duplicate key, "\u0000", a lone surrogate, an integer out of range, nesting
 * past the limit, a scalar root) it gives up, and the strict path parses the same bytes and gives
 * jansson's own verdict. So it must accept nothing jansson rejects and build exactly what jansson
 * builds (same types, same key order); it may decline anything at all. */

#define FAST_DEPTH_MAX 128 /* deeper documents (when the limit allows them) take the strict path */

typedef struct st_fast_t {
    const unsigned char *p, *end;
    int depth, max_depth;
    mg_rpc_meta_t *meta; /* NULL, or where the root's params._meta may be read (mg_rpc_decode_client) */
    bool meta_tried;     /* params had a _meta member */
    bool meta_read;      /* ... read into `meta` */
    bool mrtr_members;   /* params had requestState or inputResponses */
    json_t *params_name; /* params' "name" member (borrowed), when params was read as the root's */
} fast_t;

#define IS_KEY(key, len, name) ((len) == sizeof(name) - 1 && memcmp((key), (name), sizeof(name) - 1) == 0)

static json_t *fast_value(fast_t *in);

static void fast_skip_blank(fast_t *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

/* Length of the valid UTF-8 sequence at p (2-4), or 0; the rules of jansson's utf.c (RFC 3629). */
static size_t fast_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t size = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (size == 0 || (size_t)(end - p) < size)
        return 0;
    uint32_t value = c & (size == 2 ? 0x1f : size == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < size; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
        value = value << 6 | (p[i] & 0x3f);
    }
    if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff) || (size == 3 && value < 0x800) ||
        (size == 4 && value < 0x10000))
        return 0;
    return size;
}

static int fast_hex4(const unsigned char *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value << 4 | digit;
    }
    return value;
}

/* Decodes escapes from `p` (just after the opening quote) to the closing quote into `out`, which has
 * room for the raw length. Returns the decoded length, or -1 to decline. */
static ptrdiff_t fast_unescape(const unsigned char *p, const unsigned char *close, char *out)
{
    char *t = out;
    while (p < close) {
        if (*p != '\\') {
            *t++ = (char)*p++;
            continue;
        }
        p++;
        static const char plain[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
        const char *at = *p != '\0' ? strchr(plain, *p) : NULL;
        if (at != NULL) {
            *t++ = decoded[at - plain];
            p++;
            continue;
        }
        if (*p != 'u' || close - p < 5)
            return -1;
        int32_t value = fast_hex4(p + 1);
        p += 5;
        if (value >= 0xd800 && value <= 0xdbff) {
            int32_t low = close - p >= 6 && p[0] == '\\' && p[1] == 'u' ? fast_hex4(p + 2) : -1;
            if (low < 0xdc00 || low > 0xdfff)
                return -1;
            value = ((value - 0xd800) << 10) + (low - 0xdc00) + 0x10000;
            p += 6;
        }
        if (value <= 0 || (value >= 0xdc00 && value <= 0xdfff)) /* "\u0000": jansson refuses it in keys and values */
            return -1;
        if (value < 0x80) {
            *t++ = (char)value;
        } else if (value < 0x800) {
            *t++ = (char)(0xc0 | value >> 6);
            *t++ = (char)(0x80 | (value & 0x3f));
        } else if (value < 0x10000) {
            *t++ = (char)(0xe0 | value >> 12);
            *t++ = (char)(0x80 | (value >> 6 & 0x3f));
            *t++ = (char)(0x80 | (value & 0x3f));
        } else {
            *t++ = (char)(0xf0 | value >> 18);
            *t++ = (char)(0x80 | (value >> 12 & 0x3f));
            *t++ = (char)(0x80 | (value >> 6 & 0x3f));
            *t++ = (char)(0x80 | (value & 0x3f));
        }
    }
    return t - out;
}

/* Bytes that stand for themselves inside a string: printable ASCII but '"' and '\\'. */
static const bool fast_plain[256] = {[0x20 ... 0x21] = true, [0x23 ... 0x5B] = true, [0x5D ... 0x7E] = true};

/* A string at in->p (the opening quote). Calls take(ctx, text, len) with the decoded bytes, valid
 * during the call; returns its result, or -1 to decline. */
static int fast_string(fast_t *in, int (*take)(void *ctx, const char *text, size_t len), void *ctx)
{
    const unsigned char *start = ++in->p, *p = start;
    bool escaped = false;
    for (;;) {
        while (in->end - p >= 4 && (fast_plain[p[0]] & fast_plain[p[1]] & fast_plain[p[2]] & fast_plain[p[3]]))
            p += 4;
        while (p < in->end && fast_plain[*p])
            p++;
        if (p >= in->end)
            return -1;
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            escaped = true;
            p += 2; /* the escaped byte is checked by fast_unescape; a quote there does not close */
        } else if (c < 0x80) {
            p++;
        } else {
            size_t size = fast_utf8(p, in->end);
            if (size == 0)
                return -1;
            p += size;
        }
    }
    in->p = p + 1;
    if (!escaped)
        return take(ctx, (const char *)start, (size_t)(p - start));
    char small[256], *text = (size_t)(p - start) <= sizeof(small) ? small : malloc((size_t)(p - start));
    if (text == NULL)
        return -1;
    ptrdiff_t len = fast_unescape(start, p, text);
    int rc = len < 0 ? -1 : take(ctx, text, (size_t)len);
    if (text != small)
        free(text);
    return rc;
}

static int take_string(void *ctx, const char *text, size_t len)
{
    *(json_t **)ctx = json_stringn_nocheck(text, len);
    return *(json_t **)ctx != NULL ? 0 : -1;
}

typedef struct st_member_t {
    fast_t *in;
    json_t *object;
} member_t;

/* Which object fast_object reads: any, or (when the decoder may read params._meta) the root or its params.
 * Each has its own member function, so that objects in general pay nothing for the two. */
typedef enum en_object_role_t { OBJECT_ANY, OBJECT_ROOT, OBJECT_PARAMS } object_role_t;

static json_t *fast_object(fast_t *in, object_role_t role);

static int fast_meta(fast_t *in, size_t position);

static bool fast_colon(fast_t *in)
{
    fast_skip_blank(in);
    if (in->p >= in->end || *in->p != ':')
        return false;
    in->p++;
    return true;
}

/* One object member, its key and value in hand (NULL: declined): the insertion is jansson's own, and so
 * is the duplicate check -- a repeated key replaces the earlier value and leaves the size as it was,
 * which declines (one hash per member instead of a lookup and an insertion). */
static int insert_member(member_t *member, const char *key, size_t len, json_t *value)
{
    if (value == NULL)
        return -1;
    size_t size = json_object_size(member->object);
    if (json_object_setn_new_nocheck(member->object, key, len, value) != 0)
        return -1;
    return json_object_size(member->object) == size + 1 ? 0 : -1;
}

static int take_member(void *ctx, const char *key, size_t len)
{
    member_t *member = ctx;
    if (!fast_colon(member->in))
        return -1;
    return insert_member(member, key, len, fast_value(member->in));
}

/* A member of the root: "params" is read as params. */
static int take_root_member(void *ctx, const char *key, size_t len)
{
    member_t *member = ctx;
    fast_t *in = member->in;
    if (!fast_colon(in))
        return -1;
    fast_skip_blank(in);
    if (!IS_KEY(key, len, "params") || in->p >= in->end || *in->p != '{')
        return insert_member(member, key, len, fast_value(in));
    if (++in->depth > in->max_depth)
        return -1;
    json_t *params = fast_object(in, OBJECT_PARAMS);
    in->depth--;
    return insert_member(member, key, len, params);
}

/* A member of the root's params: "_meta" may be read into the record, and the MRTR members are noted. */
static int take_params_member(void *ctx, const char *key, size_t len)
{
    member_t *member = ctx;
    fast_t *in = member->in;
    if (!fast_colon(in))
        return -1;
    if (IS_KEY(key, len, "requestState") || IS_KEY(key, len, "inputResponses"))
        in->mrtr_members = true;
    if (IS_KEY(key, len, "_meta")) {
        int rc = fast_meta(in, json_object_size(member->object));
        if (rc <= 0)
            return rc; /* read without a value, or declined */
    }
    json_t *value = fast_value(in);
    if (IS_KEY(key, len, "name"))
        in->params_name = value; /* a second "name" declines in insert_member */
    return insert_member(member, key, len, value);
}

static json_t *fast_object(fast_t *in, object_role_t role)
{
    json_t *object = json_object();
    member_t member = {in, object};
    int (*take)(void *, const char *, size_t) = role == OBJECT_ROOT     ? take_root_member
                                                : role == OBJECT_PARAMS ? take_params_member
                                                                        : take_member;
    in->p++;
    fast_skip_blank(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return object;
    }
    for (;;) {
        fast_skip_blank(in);
        if (object == NULL || in->p >= in->end || *in->p != '"' || fast_string(in, take, &member) != 0)
            break;
        fast_skip_blank(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == '}') {
            in->p++;
            return object;
        }
        break;
    }
    json_decref(object);
    return NULL;
}

static json_t *fast_array(fast_t *in)
{
    json_t *array = json_array();
    in->p++;
    fast_skip_blank(in);
    if (in->p < in->end && *in->p == ']') {
        in->p++;
        return array;
    }
    while (array != NULL) {
        json_t *item = fast_value(in);
        if (item == NULL || json_array_append_new(array, item) != 0)
            break;
        fast_skip_blank(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == ']') {
            in->p++;
            return array;
        }
        break;
    }
    json_decref(array);
    return NULL;
}

/* An integer, as jansson's lexer reads one: -?(0|[1-9][0-9]*) not followed by a fraction or exponent
 * (reals are left to jansson and strtod). Up to 19 digits, range-checked like strtoll. */
static json_t *fast_integer(fast_t *in)
{
    const unsigned char *p = in->p;
    bool negative = *p == '-';
    if (negative)
        p++;
    const unsigned char *digits = p;
    uint64_t value = 0;
    while (p < in->end && *p >= '0' && *p <= '9' && p - digits < 20)
        value = value * 10 + (uint64_t)(*p++ - '0');
    size_t count = (size_t)(p - digits);
    if (count == 0 || count > 19 || (count > 1 && digits[0] == '0') ||
        (p < in->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))))
        return NULL;
    if (value > (uint64_t)INT64_MAX + (negative ? 1 : 0))
        return NULL;
    in->p = p;
    json_int_t integer = negative ? (json_int_t)(0 - value) : (json_int_t)value;
    return json_integer(integer);
}

/* true, false, null: jansson reads the whole run of letters, so "truex" is no "true". */
static json_t *fast_word(fast_t *in)
{
    const unsigned char *p = in->p;
    while (p < in->end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        p++;
    size_t len = (size_t)(p - in->p);
    json_t *value = len == 4 && memcmp(in->p, "true", 4) == 0    ? json_true()
                    : len == 5 && memcmp(in->p, "false", 5) == 0 ? json_false()
                    : len == 4 && memcmp(in->p, "null", 4) == 0  ? json_null()
                                                                 : NULL;
    if (value != NULL)
        in->p = p;
    return value;
}

static json_t *fast_value(fast_t *in)
{
    fast_skip_blank(in);
    if (in->p >= in->end)
        return NULL;
    json_t *value = NULL;
    switch (*in->p) {
    case '{':
    case '[':
        if (++in->depth > in->max_depth)
            return NULL;
        value = *in->p == '{' ? fast_object(in, OBJECT_ANY) : fast_array(in);
        in->depth--;
        return value;
    case '"':
        return fast_string(in, take_string, &value) == 0 ? value : NULL;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return fast_integer(in);
    default:
        return fast_word(in);
    }
}

/* ---- params._meta without values (mg_rpc_decode_client) ----
 * The members are read with the same functions as any other, so what is accepted is what the fast
 * path accepts; only the _meta object and the protocol version's string are not built. The object's
 * own rules are kept by hand: a member repeated (decoded keys compared, as jansson compares them)
 * declines, and a member the record has no place for (progressToken, a vendor's key) sends the
 * parser back to the opening brace to build the object as usual. */

static const char *const meta_keys[MG_RPC_META_MEMBERS] = {MG_META_PROTOCOL_VERSION, MG_META_CLIENT_CAPABILITIES,
                                                           MG_META_CLIENT_INFO, MG_META_LOG_LEVEL};

static int take_meta_key(void *ctx, const char *key, size_t len)
{
    int *which = ctx;
    *which = -1;
    for (int i = 0; i < MG_RPC_META_MEMBERS; i++) {
        if (strlen(meta_keys[i]) == len && memcmp(meta_keys[i], key, len) == 0) {
            *which = i;
            break;
        }
    }
    return 0;
}

/* The member key at in->p when it is one of meta_keys written as is (no escape): its index, with in->p past
 * its closing quote; else -1, in->p unchanged. A comparison of the bytes costs less than reading them. */
static int fast_literal_meta_key(fast_t *in)
{
    static const size_t prefix_len = sizeof(MG_META_PREFIX) - 1;
    const unsigned char *p = in->p;
    size_t left = (size_t)(in->end - p);
    if (left < prefix_len + 2 || p[0] != '"' || memcmp(p + 1, MG_META_PREFIX, prefix_len) != 0)
        return -1;
    static const size_t lengths[MG_RPC_META_MEMBERS] = {sizeof(MG_META_PROTOCOL_VERSION) - 1,
                                                        sizeof(MG_META_CLIENT_CAPABILITIES) - 1,
                                                        sizeof(MG_META_CLIENT_INFO) - 1, sizeof(MG_META_LOG_LEVEL) - 1};
    for (int i = 0; i < MG_RPC_META_MEMBERS; i++) {
        size_t len = lengths[i];
        if (left >= len + 2 && memcmp(p + 1 + prefix_len, meta_keys[i] + prefix_len, len - prefix_len) == 0 &&
            p[len + 1] == '"') {
            in->p = p + len + 2;
            return i;
        }
    }
    return -1;
}

/* The supported version written as is (the version nearly every request names): kept with one
 * comparison, in->p past its closing quote. Anything else is read as any string. */
static bool fast_literal_version(fast_t *in, mg_rpc_meta_t *meta)
{
    static const size_t len = sizeof(MG_VERSION_MODERN) - 1;
    static_assert(sizeof(MG_VERSION_MODERN) - 1 <= MG_RPC_META_VERSION_MAX, "the version fits the record");
    if ((size_t)(in->end - in->p) < len + 2 || memcmp(in->p + 1, MG_VERSION_MODERN, len) != 0 || in->p[len + 1] != '"')
        return false;
    memcpy(meta->protocol_version, MG_VERSION_MODERN, len + 1);
    meta->protocol_version_len = len;
    in->p += len + 2;
    return true;
}

/* The {} most clients send as their capabilities, shared: one object for every request, never freed
 * (a refcount of (size_t)-1 is jansson's mark of a value it never counts, as json_true() is), so that
 * reading it costs no allocation. Values of the record are read-only, which makes sharing it safe. */
static json_t *shared_empty;
static pthread_once_t shared_empty_once = PTHREAD_ONCE_INIT;

static void make_shared_empty(void)
{
    shared_empty = json_object();
    if (shared_empty != NULL)
        shared_empty->refcount = (size_t)-1;
}

/* The shared {} when the value at in->p is an empty object (in->p then past it); else NULL, in->p where
 * it was. The depth rule is fast_value's. */
static json_t *fast_empty_object(fast_t *in)
{
    const unsigned char *p = in->p;
    if (p >= in->end || *p != '{' || in->depth + 1 > in->max_depth)
        return NULL;
    for (p++; p < in->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r');)
        p++;
    if (p >= in->end || *p != '}')
        return NULL;
    pthread_once(&shared_empty_once, make_shared_empty);
    if (shared_empty != NULL)
        in->p = p + 1;
    return shared_empty;
}

/* 1 (not for the record) when it is too long to keep */
static int take_version(void *ctx, const char *text, size_t len)
{
    mg_rpc_meta_t *meta = ctx;
    if (len > MG_RPC_META_VERSION_MAX)
        return 1;
    memcpy(meta->protocol_version, text, len);
    meta->protocol_version[len] = '\0';
    meta->protocol_version_len = len;
    return 0;
}

static void meta_release(mg_rpc_meta_t *meta)
{
    json_decref(meta->client_capabilities);
    json_decref(meta->client_info);
    json_decref(meta->log_level);
    memset(meta, 0, sizeof(*meta));
}

/* The members of the _meta object at in->p (its opening brace): 0 when they are all the record's (*seen
 * says which), 1 when one is not, -1 to decline. */
static int fast_meta_members(fast_t *in, unsigned *seen)
{
    mg_rpc_meta_t *meta = in->meta;
    in->p++;
    fast_skip_blank(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return 0;
    }
    for (;;) {
        fast_skip_blank(in);
        int which = fast_literal_meta_key(in);
        if (which < 0 && (in->p >= in->end || *in->p != '"' || fast_string(in, take_meta_key, &which) != 0))
            return -1;
        if (which < 0)
            return 1;
        if (*seen & 1u << which)
            return -1; /* a duplicate key: jansson refuses it */
        fast_skip_blank(in);
        if (in->p >= in->end || *in->p != ':')
            return -1;
        in->p++;
        if (which == MG_RPC_META_PROTOCOL_VERSION) {
            fast_skip_blank(in);
            if (in->p >= in->end || *in->p != '"')
                return 1; /* not a string: built, for modern.c to refuse */
            int rc = fast_literal_version(in, meta) ? 0 : fast_string(in, take_version, meta);
            if (rc != 0)
                return rc;
        } else {
            fast_skip_blank(in);
            json_t *value = which == MG_RPC_META_CLIENT_CAPABILITIES ? fast_empty_object(in) : NULL;
            if (value == NULL)
                value = fast_value(in);
            if (value == NULL)
                return -1;
            json_t **slot = which == MG_RPC_META_CLIENT_CAPABILITIES ? &meta->client_capabilities
                            : which == MG_RPC_META_CLIENT_INFO       ? &meta->client_info
                                                                     : &meta->log_level;
            *slot = value;
        }
        *seen |= 1u << which;
        meta->order[meta->count++] = (unsigned char)which;
        fast_skip_blank(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == '}') {
            in->p++;
            return 0;
        }
        return -1;
    }
}

/* The root's params._meta, at in->p (after the colon), `position` members of params before it: 0 when it
 * was read into in->meta, 1 when it is to be built (in->p is where it was), -1 to decline. */
static int fast_meta(fast_t *in, size_t position)
{
    mg_rpc_meta_t *meta = in->meta;
    assert(meta != NULL);
    if (in->meta_read)
        return -1; /* a second _meta after one read here: jansson refuses the duplicate */
    if (in->meta_tried)
        return 1; /* a second after one built: inserting it declines, as any duplicate does */
    in->meta_tried = true;
    memset(meta, 0, sizeof(*meta));
    fast_skip_blank(in);
    if (in->p >= in->end || *in->p != '{')
        return 1;
    const unsigned char *start = in->p;
    if (++in->depth > in->max_depth) {
        in->depth--;
        return -1;
    }
    unsigned seen = 0;
    int rc = fast_meta_members(in, &seen);
    in->depth--;
    if (rc == 0 && (seen & 1u << MG_RPC_META_PROTOCOL_VERSION)) {
        in->meta_read = true;
        meta->position = position;
        return 0;
    }
    meta_release(meta);
    if (rc < 0)
        return -1;
    in->p = start;
    return 1;
}

json_t *mg_rpc_meta_value(const mg_rpc_meta_t *meta)
{
    json_t *object = json_object();
    for (size_t i = 0; object != NULL && i < meta->count; i++) {
        int which = meta->order[i];
        json_t *value = which == MG_RPC_META_PROTOCOL_VERSION
                            ? json_stringn_nocheck(meta->protocol_version, meta->protocol_version_len)
                        : which == MG_RPC_META_CLIENT_CAPABILITIES ? json_incref(meta->client_capabilities)
                        : which == MG_RPC_META_CLIENT_INFO         ? json_incref(meta->client_info)
                                                                   : json_incref(meta->log_level);
        if (value == NULL || json_object_set_new_nocheck(object, meta_keys[which], value) != 0) {
            json_decref(object);
            object = NULL;
        }
    }
    return object;
}

/* The message parsed on the fast path, or NULL when it declines (see above). `meta`: as fast_t's; *meta_read
 * says whether it was read into, and *params_name (with `meta`) is the root's params' "name" member. */
static json_t *fast_parse(const char *buf, size_t len, int max_depth, mg_rpc_meta_t *meta, bool *meta_read,
                          json_t **params_name)
{
    fast_t in = {(const unsigned char *)buf,
                 (const unsigned char *)buf + len,
                 0,
                 max_depth < FAST_DEPTH_MAX ? max_depth : FAST_DEPTH_MAX,
                 meta,
                 false,
                 false,
                 false,
                 NULL};
    fast_skip_blank(&in);
    if (in.p >= in.end || (*in.p != '{' && *in.p != '['))
        return NULL; /* a scalar root is an invalid request: jansson reads it for the error */
    json_t *root = NULL;
    if (meta == NULL || *in.p != '{')
        root = fast_value(&in);
    else if (++in.depth <= in.max_depth)
        root = fast_object(&in, OBJECT_ROOT);
    fast_skip_blank(&in);
    if (root != NULL && in.p != in.end) {
        json_decref(root);
        root = NULL;
    }
    if (root == NULL && in.meta_read)
        meta_release(meta);
    if (meta_read != NULL)
        *meta_read = root != NULL && in.meta_read;
    if (root != NULL && in.meta_read)
        meta->mrtr_members = in.mrtr_members; /* params has been read to its end */
    if (params_name != NULL)
        *params_name = in.params_name;
    return root;
}

json_t *mg_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
    /* the fast path builds what jansson builds with these flags (a duplicate key makes it decline) */
    json_t *root = buf != NULL && (flags & ~(size_t)(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)) == 0
                       ? fast_parse(buf, len, FAST_DEPTH_MAX, NULL, NULL, NULL)
                       : NULL;
    if (root == NULL)
        return json_loadb(buf, len, flags, error);
    if (error != NULL) { /* as json_loadb leaves it on success */
        memset(error, 0, sizeof(*error));
        error->line = error->column = -1;
        error->position = (int)len;
        memcpy(error->source, "<buffer>", sizeof("<buffer>"));
    }
    return root;
}

int mg_rpc_decode(const char *buf, size_t len, int max_depth, mg_rpc_message_t *out, mg_rpc_error_t *err)
{
    reset(out, err);
    /* a document the fast path reads is valid JSON within the depth limit: the checks below would pass */
    json_t *fast = buf != NULL ? fast_parse(buf, len, max_depth, NULL, NULL, NULL) : NULL;
    if (fast != NULL) {
        int rc = mg_rpc_classify(fast, out, err);
        json_decref(fast);
        return rc;
    }
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

int mg_rpc_decode_client(const char *buf, size_t len, int max_depth, mg_rpc_message_t *out, mg_rpc_error_t *err)
{
    mg_rpc_meta_t meta; /* filled by the parse when meta_read */
    bool meta_read = false;
    json_t *name = NULL; /* the parse reads a root object's params as params: their "name" is known */
    json_t *fast = buf != NULL ? fast_parse(buf, len, max_depth, &meta, &meta_read, &name) : NULL;
    if (fast == NULL)
        return mg_rpc_decode(buf, len, max_depth, out, err);
    int rc = classify(fast, out, err, &name);
    json_decref(fast);
    if (!meta_read)
        return rc;
    if (rc == 0 && out->kind == MG_RPC_REQUEST) {
        out->meta = malloc(sizeof(meta)); /* the message's size stays what every other message costs */
        if (out->meta != NULL) {
            *out->meta = meta;
            return 0;
        }
    }
    /* classification does not look into params, so its verdict stands; but only a request's _meta is
     * kept out of its params (and only with memory for the record): anything else is decoded again */
    meta_release(&meta);
    if (rc != 0)
        return rc;
    mg_rpc_message_dispose(out);
    return mg_rpc_decode(buf, len, max_depth, out, err);
}

void mg_rpc_message_dispose(mg_rpc_message_t *msg)
{
    if (msg->meta != NULL) {
        meta_release(msg->meta);
        free(msg->meta);
    }
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

void mg_rpc_error_dispose(mg_rpc_error_t *err)
{
    json_decref(err->id);
    err->id = NULL;
}

/*
 * The builders set members one by one, in the order they are written (json_pack, which they
 * replaced, read its format string on every message). Like json_pack's "o", every value they are
 * given is consumed on every path, failures included, which keeps the "stolen" promise of the
 * header; a string that is not valid UTF-8 (json_string refuses it) fails the message, as it did.
 */

/* Adds `value` (consumed) to `object` (consumed on failure). Returns the object, or NULL. */
static json_t *with(json_t *object, const char *key, json_t *value)
{
    if (object == NULL || value == NULL) {
        json_decref(object);
        json_decref(value);
        return NULL;
    }
    if (json_object_set_new_nocheck(object, key, value) != 0) { /* consumed `value` */
        json_decref(object);
        return NULL;
    }
    return object;
}

static json_t *envelope(void)
{
    return with(json_object(), "jsonrpc", json_stringn_nocheck("2.0", 3));
}

json_t *mg_rpc_make_error(json_t *id, int code, const char *message, json_t *data)
{
    assert(message != NULL);
    json_t *error = with(json_object(), "code", json_integer(code));
    error = with(error, "message", json_string(message));
    if (data != NULL)
        error = with(error, "data", data);
    json_t *msg = with(envelope(), "id", id != NULL ? json_deep_copy(id) : json_null());
    return with(msg, "error", error);
}

json_t *mg_rpc_make_result(json_t *id, json_t *result)
{
    assert(id != NULL);
    json_t *msg = with(envelope(), "id", json_deep_copy(id));
    return with(msg, "result", result);
}

json_t *mg_rpc_make_request(json_t *id, const char *method, json_t *params)
{
    assert(id != NULL && method != NULL);
    json_t *msg = with(envelope(), "id", json_deep_copy(id));
    msg = with(msg, "method", json_string(method));
    return params != NULL ? with(msg, "params", params) : msg;
}

json_t *mg_rpc_make_notification(const char *method, json_t *params)
{
    assert(method != NULL);
    json_t *msg = with(envelope(), "method", json_string(method));
    return params != NULL ? with(msg, "params", params) : msg;
}

/* Every control character inside strings is escaped, so compact output never contains a raw
 * newline and can be framed as one line on stdio upstreams. */
char *mg_rpc_encode(const json_t *msg, size_t *len)
{
    return mg_json_write_text(msg, JSON_COMPACT, len);
}
