/*
 * jsonrpc.h - strict JSON-RPC 2.0 codec for MCP messages.
 *
 * Decoding is where untrusted bytes become values, so it is strict: duplicate
 * object keys, invalid UTF-8, NUL bytes in strings, nesting deeper than the
 * configured limit and trailing garbage are parse errors (-32700); a batch array, a
 * missing or wrong "jsonrpc", an id that is not a string or an integer, a non-string
 * method, or a response with both/neither result and error are invalid requests
 * (-32600). MCP (2025-06-18 and later) forbids batches, and ids must not be null.
 *
 * The depth limit is checked by a byte scan before jansson parses, so a hostile
 * 1 MB of '[' costs one linear pass and no allocation. Well-formed messages are read
 * by a faster parser that builds the same values; it defers to jansson for anything
 * else, so the answers (and error messages) are jansson's. For a client's message, it also
 * reads a modern request's params._meta without building it (mg_rpc_decode_client).
 */
#ifndef MG_MCP_JSONRPC_H
#define MG_MCP_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum {
    MG_RPC_PARSE_ERROR = -32700,
    MG_RPC_INVALID_REQUEST = -32600,
    MG_RPC_METHOD_NOT_FOUND = -32601,
    MG_RPC_INVALID_PARAMS = -32602,
    MG_RPC_INTERNAL_ERROR = -32603,
    MG_RPC_UPSTREAM_ERROR = -32000,     /* gateway: upstream unreachable or failed */
    MG_RPC_UPSTREAM_TIMEOUT = -32001,   /* gateway: upstream did not answer in time */
    MG_RPC_RESOURCE_NOT_FOUND = -32002, /* MCP: resources/read of an unknown URI */
    MG_RPC_UNAUTHORIZED = -32003,       /* gateway: no valid credential (HTTP 401) or not enough scope (403) */
    MG_RPC_RATE_LIMITED = -32029,       /* gateway: a rate limit, quota or concurrency limit (HTTP 429) */
};

typedef enum en_mg_rpc_kind_t {
    MG_RPC_REQUEST = 1,      /* method + id */
    MG_RPC_NOTIFICATION = 2, /* method, no id */
    MG_RPC_RESPONSE = 3,     /* id + result or error */
} mg_rpc_kind_t;

/* A 2026-07-28 request's params._meta as mg_rpc_decode_client read it, without building it: the members
 * the gateway reads (modern.h's MG_META_* keys), and nothing else. Only the protocol version is kept as
 * text; the other members are the values jansson would have built. */
#define MG_RPC_META_VERSION_MAX 31
typedef enum en_mg_rpc_meta_member_t {
    MG_RPC_META_PROTOCOL_VERSION,
    MG_RPC_META_CLIENT_CAPABILITIES,
    MG_RPC_META_CLIENT_INFO,
    MG_RPC_META_LOG_LEVEL,
    MG_RPC_META_MEMBERS
} mg_rpc_meta_member_t;

typedef struct st_mg_rpc_meta_t {
    size_t position;                                    /* how many members of params preceded it */
    char protocol_version[MG_RPC_META_VERSION_MAX + 1]; /* NUL-terminated (the text has no NUL) */
    size_t protocol_version_len;
    /* owned, NULL when absent; any JSON type; read-only (an empty object may be one shared by all) */
    json_t *client_capabilities, *client_info, *log_level;
    unsigned char order[MG_RPC_META_MEMBERS]; /* the members in the order of the text */
    size_t count;
    bool mrtr_members; /* params holds requestState or inputResponses (the decoder saw each of its members) */
} mg_rpc_meta_t;

typedef struct st_mg_rpc_message_t {
    mg_rpc_kind_t kind;
    json_t *root;        /* owned: the whole message object */
    json_t *id;          /* borrowed from root; NULL for notifications */
    const char *method;  /* borrowed; NULL for responses */
    json_t *params;      /* borrowed; NULL when absent (must be an object when present) */
    json_t *name;        /* borrowed: params' "name" member (any type), NULL when none: the tool or prompt named,
                          * looked up once (the decoder notes it as it reads params) */
    json_t *result;      /* borrowed; responses only */
    json_t *error;       /* borrowed; responses only */
    mg_rpc_meta_t *meta; /* owned: params._meta when mg_rpc_decode_client read it (then params has none), or NULL */
} mg_rpc_message_t;

typedef struct st_mg_rpc_error_t {
    int code;          /* MG_RPC_PARSE_ERROR or MG_RPC_INVALID_REQUEST */
    char message[256]; /* precise: "duplicate object key \"id\" at byte 41" */
    json_t *id;        /* owned (may be NULL): the request id when it could be recovered, for the error reply */
} mg_rpc_error_t;

/* Decodes one message. On success fills *out (release with mg_rpc_message_dispose) and returns 0.
 * On failure returns -1 and fills *err (release with mg_rpc_error_dispose). */
int mg_rpc_decode(const char *buf, size_t len, int max_depth, mg_rpc_message_t *out, mg_rpc_error_t *err);

/* mg_rpc_decode for a client's message, with one difference: a request whose params._meta is an object
 * holding a string protocol version (MG_META_PROTOCOL_VERSION) and no member but the four of
 * mg_rpc_meta_member_t, each once, has it read into out->meta and left out of params,
 * instead of built: the members a 2026-07-28 request carries on every call cost more to build as
 * values, to look up and to free than the rest of a tools/call. Every verdict is mg_rpc_decode's, and
 * putting mg_rpc_meta_value() back at meta.position gives exactly the message it would have made. */
int mg_rpc_decode_client(const char *buf, size_t len, int max_depth, mg_rpc_message_t *out, mg_rpc_error_t *err);

/* The _meta object `meta` stands for, built as jansson would have built it (members in
 * their order): a new reference, or NULL when memory ran out. */
json_t *mg_rpc_meta_value(const mg_rpc_meta_t *meta);

void mg_rpc_message_dispose(mg_rpc_message_t *msg);
void mg_rpc_error_dispose(mg_rpc_error_t *err);

/* Classifies an already-parsed value (used for messages coming from upstreams, which
 * are parsed with the same strict flags). Takes a new reference to `root` on success. */
int mg_rpc_classify(json_t *root, mg_rpc_message_t *out, mg_rpc_error_t *err);

/* Returns 0 when the buffer nests at most max_depth arrays/objects, else -1 and the byte offset. */
int mg_rpc_check_depth(const char *buf, size_t len, int max_depth, size_t *offending_offset);

/* Builders; each returns a new reference. `id` is borrowed (copied in); NULL id encodes as null
 * (only for errors where the id could not be read, as JSON-RPC 2.0 requires). `data` is stolen. */
json_t *mg_rpc_make_error(json_t *id, int code, const char *message, json_t *data);
json_t *mg_rpc_make_result(json_t *id, json_t *result /* stolen */);
json_t *mg_rpc_make_request(json_t *id, const char *method, json_t *params /* stolen, may be NULL */);
json_t *mg_rpc_make_notification(const char *method, json_t *params /* stolen, may be NULL */);

/* Serializes compactly (no newline); returns malloc'ed text and its length, or NULL on failure. */
char *mg_rpc_encode(const json_t *msg, size_t *len);

/* The decode flags every JSON parse in the gateway uses. */
#define MG_JSON_DECODE_FLAGS JSON_REJECT_DUPLICATES

/* json_loadb, with the same result for the same input (the value, or NULL and jansson's own error),
 * several times faster on the JSON that MCP messages are made of when `flags` are MG_JSON_DECODE_FLAGS,
 * with or without JSON_DECODE_ANY; other flags go to jansson directly. */
json_t *mg_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);

#endif
