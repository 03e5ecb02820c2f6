/*
 * modern.h - what both transports need to talk to a server of the 2026-07-28 ("modern")
 * era (internal to src/upstream/): the era probe, its verdict, the legacy-shaped view of
 * a DiscoverResult, and the per-request metadata a modern server requires.
 *
 * Era detection (versioning.mdx, "Backward Compatibility with Initialization-Based
 * Versions"): the gateway first sends server/discover as a modern request. A
 * DiscoverResult, or a recognized modern error (-32022 with data.supported, -32020,
 * -32021), means a modern server; anything else (another error, an HTTP status with no
 * modern body, silence on stdio) means a legacy one, which then gets the usual
 * initialize. The transports own the timing; this module owns the judgement.
 */
#ifndef MG_UPSTREAM_MODERN_H
#define MG_UPSTREAM_MODERN_H

#include <jansson.h>
#include <stddef.h>

#include "core/bytes.h"
#include "upstream/upstream.h"

#define MG_UPSTREAM_DISCOVER_METHOD "server/discover"

typedef enum en_mg_upstream_discover_verdict_t {
    MG_UPSTREAM_DISCOVER_LEGACY,          /* not a modern server: fall back to initialize */
    MG_UPSTREAM_DISCOVER_MODERN,          /* a DiscoverResult that lists 2026-07-28 */
    MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE, /* modern, but it refused us or does not speak 2026-07-28;
                                             never fall back to initialize (stdio.mdx) */
} mg_upstream_discover_verdict_t;

/* The probe request: server/discover with this gateway's _meta (new reference, NULL when out of memory). */
json_t *mg_upstream_modern_discover_request(const char *id);

/* Judges the answer to the probe. `response` is the JSON-RPC response (borrowed), or NULL when the
 * server answered without one (an HTTP status with another body): legacy. For
 * MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE a reason fit for a log line is written into `why`. */
mg_upstream_discover_verdict_t mg_upstream_modern_judge(const json_t *response, char *why, size_t why_len);

/* The legacy-shaped initialize result of a modern server (new reference, NULL when out of memory):
 * {protocolVersion "2026-07-28", capabilities, serverInfo (from _meta's
 * io.modelcontextprotocol/serverInfo, else the configured name), instructions when given}.
 * The dispatcher's capability checks read it as they read a legacy server's. */
json_t *mg_upstream_modern_initialize_result(const json_t *discover_result, const char *server_name);

/* Makes `request` (the caller's own copy, changed in place) a modern request: sets params._meta's
 * protocolVersion, clientCapabilities (`client_capabilities`, or {} when NULL), clientInfo and
 * logLevel (`log_level`; removed when NULL: the server then sends no log messages), keeping every
 * other _meta member (progressToken...).
 * Returns 0, or -1 when params or _meta is not an object or memory runs out. */
int mg_upstream_modern_set_meta(json_t *request, const json_t *client_capabilities, const char *log_level);

/* Appends the headers that mirror a modern request's body ("Name: value\r\n" each): Mcp-Method;
 * Mcp-Name for tools/call, prompts/get, resources/read and (tasks extension) tasks/get|update|cancel;
 * Mcp-Param-* for a tools/call whose tool
 * (looked up in `tools`, name -> definition; may be NULL) annotates arguments with x-mcp-header.
 * Values that are not plain header-safe ASCII are sent as "=?base64?...?=". Returns 0, or -1
 * with the reason in `why` when the method or name cannot be sent at all. A Param header that
 * cannot be made is left out (logged): the server's HeaderMismatch then reaches the client. */
int mg_upstream_modern_headers(const json_t *request, const json_t *tools, mg_mirror_schemas_t *known_schemas,
                               const char *server_name, mg_bytes_t *out, char *why, size_t why_len);

/* Logs "upstream.era" (INFO) for a detection; `how` says what decided it. */
void mg_upstream_modern_log_era(const char *server_name, mg_upstream_era_t era, const char *how);

/* The era's name for logs: "unknown", "legacy", "modern". */
const char *mg_upstream_era_name(mg_upstream_era_t era);

#endif
