/*
 * mirror.h - MCP 2026-07-28 request metadata: HTTP headers that mirror the body.
 *
 * A modern request carries copies of body fields in headers, so that load balancers
 * and WAFs can route on them without parsing JSON (streamable-http.mdx, "Request
 * Metadata"):
 *
 *   MCP-Protocol-Version  params._meta["io.modelcontextprotocol/protocolVersion"]
 *   Mcp-Method            method                              (every request)
 *   Mcp-Name              params.name or params.uri           (tools/call, prompts/get, resources/read;
 *                         params.taskId for tasks/get|update|cancel of the tasks extension: optional)
 *   Mcp-Param-{X}         the tools/call argument whose property schema says "x-mcp-header": "X"
 *
 * Whoever processes the body must refuse a request whose headers disagree with it
 * (HeaderMismatch, -32020, HTTP 400): otherwise a router acting on the header and a
 * server acting on the body see two different requests. That is the whole point of
 * this module, so it is strict: a header value with a byte outside visible ASCII,
 * space and tab is refused, a repeated Mcp-Param header is refused, an argument that
 * cannot be carried in a header (an object, a fraction, an integer beyond 2^53-1)
 * is refused.
 *
 * Mcp-Name and Mcp-Param-* values that are not plain header-safe ASCII travel as
 * "=?base64?<standard base64 with padding>?=" of their UTF-8 bytes (markers exactly so,
 * canonical base64 only). Checking decodes and compares byte by byte, so it allocates
 * nothing; integer arguments compare numerically and exactly ("42.0" and "042" match 42;
 * "4.2e1" does not, as in the TypeScript SDK), without floating point. Other arguments
 * compare by the type the body value has: strings as bytes, booleans as "true"/"false".
 *
 * Presence: MCP-Protocol-Version and Mcp-Method are always required. Mcp-Name is required
 * when the body carries the field as a string (a body without it is left to params
 * validation); a header without a body value is a mismatch. Mcp-Param-{X} is required
 * exactly when the argument is present and not null; sent for an absent or null argument,
 * it is a mismatch (stricter than the TypeScript SDK, which ignores it).
 *
 * An x-mcp-header annotation counts only on a property reached from the schema root
 * through `properties` keys alone; one anywhere else (items, anyOf, $defs, if/then,
 * additionalProperties...) makes the whole tool invalid, as do a name that is not an
 * HTTP token, a name repeated case-insensitively, a property whose type is not
 * integer, string or boolean (or such a type with "null"), and more than
 * MG_MIRROR_MAX_ANNOTATIONS annotations, or a schema nested over 64 levels deep (refused
 * rather than walked). Instance data (const, enum, default, examples) is not searched.
 */
#ifndef MG_MCP_MIRROR_H
#define MG_MCP_MIRROR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MG_MIRROR_HEADER_MISMATCH (-32020) /* the JSON-RPC error code for a failed mg_mirror_check */
#define MG_MIRROR_MAX_ANNOTATIONS 64       /* per inputSchema; more makes the tool invalid */

/* A header value as received: base NULL when the header is absent, else `len` bytes (no NUL needed). */
typedef struct st_mg_mirror_value_t {
    const char *base;
    size_t len;
} mg_mirror_value_t;

typedef struct st_mg_mirror_param_t {
    mg_mirror_value_t name; /* the part after "Mcp-Param-", in any case */
    mg_mirror_value_t value;
} mg_mirror_param_t;

/* The request's MCP headers, values as received (surrounding spaces and tabs are ignored). The caller
 * passes every Mcp-Param-* header it received, repeats included (a repeat of an annotated one is a
 * mismatch), and refuses repeated standard headers itself (or passes them combined, which fails). */
typedef struct st_mg_mirror_headers_t {
    mg_mirror_value_t protocol_version, method, name;
    const mg_mirror_param_t *params;
    size_t params_len;
    /* NULL, or the request (a root, owned by the caller for as long as these headers live and not
     * changed meanwhile) that MCP-Protocol-Version, Mcp-Method and Mcp-Name were already found to
     * agree with: checking it again with a schema checks only the Mcp-Param-* headers */
    const json_t *checked_root;
} mg_mirror_headers_t;

/* The body field (of params) Mcp-Name mirrors for `method`, or NULL when it has none: name (tools/call,
 * prompts/get), uri (resources/read), and taskId (tasks/get|update|cancel, the tasks extension, as the
 * TypeScript SDK sends it). *required is false for the extension's: outside the core table, a client may
 * omit the header, but it may not lie. */
const char *mg_mirror_name_field(const char *method, bool *required);

/* Verdicts on inputSchemas, remembered so that a tool's schema is walked once rather than on every call:
 * a small table of valid schemas keyed by their address. Whoever keeps one keeps the schemas in it
 * alive and unchanged, and clears it (all zero) whenever that stops being true: a tool catalog is
 * replaced or dropped. Invalid schemas are not remembered (their calls are refused, with the reason). */
#define MG_MIRROR_SCHEMAS_REMEMBERED 64
typedef struct st_mg_mirror_schemas_t {
    const json_t *schema[MG_MIRROR_SCHEMAS_REMEMBERED]; /* a valid schema, or NULL */
    bool annotated[MG_MIRROR_SCHEMAS_REMEMBERED];       /* does it carry any x-mcp-header annotation? */
} mg_mirror_schemas_t;

void mg_mirror_schemas_clear(mg_mirror_schemas_t *schemas);

/* Returns 0 when the headers agree with the request `root` (a decoded JSON-RPC request; 2026-07-28
 * defines no header rules for notifications). `input_schema` is the called tool's inputSchema for a
 * tools/call, or NULL (unknown, or not a tools/call): then Mcp-Param-* headers are not checked.
 * `known` (may be NULL) remembers the schema's verdict, so that it is worked out once.
 * Mcp-Param-* headers that match no annotation are ignored, as are Mcp-Name on methods without a
 * name. On mismatch returns -1 and writes a client-safe message (printable ASCII, long values
 * truncated) into `why`, e.g. "Header mismatch: Mcp-Name header value 'foo' does not match body
 * value 'bar'". Allocates nothing unless a base64 integer argument decodes to more than 64 bytes. */
int mg_mirror_check(const mg_mirror_headers_t *headers, const json_t *root, const json_t *input_schema,
                    mg_mirror_schemas_t *known, char *why, size_t why_len);

/* mg_mirror_check's checks of MCP-Protocol-Version, Mcp-Method and Mcp-Name, for a caller that holds the
 * request's parts already: the text of the body's `method` (NUL-terminated) and of `protocol_version`,
 * params._meta["io.modelcontextprotocol/protocolVersion"] (each base NULL when absent or not a string),
 * its `params` member (NULL when absent) and params' "name" member (`params_name`, NULL when absent).
 * The same answers. */
int mg_mirror_check_request(const mg_mirror_headers_t *headers, mg_mirror_value_t method, const json_t *params,
                            const json_t *params_name, mg_mirror_value_t protocol_version, char *why, size_t why_len);
/* mg_mirror_check_request without the MCP-Protocol-Version check, for a caller that has found the header
 * to be byte for byte the body's version, and that version one it supports (so the check would pass). */
int mg_mirror_check_method_and_name(const mg_mirror_headers_t *headers, mg_mirror_value_t method, const json_t *params,
                                    const json_t *params_name, char *why, size_t why_len);

/* mg_mirror_check's check of the Mcp-Param-* headers alone, for a tools/call whose other headers the
 * caller has found to agree: `params` are its params, `input_schema` the tool's (NULL: nothing to check).
 * The same answers. */
int mg_mirror_check_params(const mg_mirror_headers_t *headers, const json_t *params, const json_t *input_schema,
                           mg_mirror_schemas_t *known, char *why, size_t why_len);

/* Returns 0 when every x-mcp-header annotation in `input_schema` is valid (or there is none), else -1
 * with the reason and its place (a JSON pointer) in `why`, for the warning logged with the tool name. */
int mg_mirror_schema_valid(const json_t *input_schema, char *why, size_t why_len);

/* For the gateway as a client of a modern upstream: calls emit(ctx, header_name, value) once for each
 * Mcp-Param-* header that `arguments` require under `input_schema` ("Mcp-Param-Region", "us-west1";
 * values already encoded). Both strings are NUL-terminated temporaries, valid during the call.
 * Returns 0, or -1 with the reason in `why` when the schema is invalid, an argument cannot be
 * mirrored or memory runs out; some headers may have been emitted by then. `known` as for mg_mirror_check. */
int mg_mirror_param_headers(const json_t *input_schema, mg_mirror_schemas_t *known, const json_t *arguments,
                            void (*emit)(void *ctx, const char *name, const char *value), void *ctx, char *why,
                            size_t why_len);

/* Encodes one value (Mcp-Name, or a string argument) for a header: as is when it is non-empty visible
 * ASCII and spaces with no space at either end and does not look like the sentinel; else (also "") as
 * "=?base64?...?=". Returns a malloc'ed NUL-terminated string, or NULL when memory runs out. */
char *mg_mirror_encode(const char *utf8, size_t len);

#endif
