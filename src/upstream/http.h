/*
 * http.h - the Streamable HTTP upstream transport, for servers of either era (legacy
 * 2025-11-25 and earlier, modern 2026-07-28).
 *
 * One mg_upstream_t per HTTP server per worker: its own keep-alive connection pool,
 * its own TLS context (peer and host name verified unless tls_verify is false), and
 * a health probe at creation and, with backoff up to 30 s, until the server answers.
 * The probe also tells the era: server/discover first (a DiscoverResult: modern, done);
 * for a legacy server initialize, then DELETE of the probe's session. The semantics
 * of each operation are those of upstream.h; what is specific to HTTP:
 *
 * - Requests carry only the gateway's own headers plus server->headers: nothing of
 *   the client's HTTP request (its credentials above all) ever reaches the upstream.
 * - MCP-Protocol-Version is session->protocol_version (on open_session, the version
 *   the initialize request asks for; on notifications/initialized, the one the
 *   upstream answered with).
 * - To a modern server: MCP-Protocol-Version 2026-07-28, Mcp-Method, Mcp-Name and
 *   Mcp-Param-* (from the tool's inputSchema in `tools`, when known), never
 *   Mcp-Session-Id; no notifications at all (a client's notifications/cancelled closes
 *   the connection of the call it names, on this worker, and ends it with an error),
 *   no replies, no listen (0), and open_session answers from the discovered picture.
 * - Gateway request ids pass through unchanged; ids of server-to-client requests
 *   become "mcpgate:<server>:<method>:<original id as compact JSON>" and reply() maps them
 *   back, so no table is kept.
 * - No event fires from destroy(); destroy() must not be called from inside an
 *   event callback of the same upstream.
 */
#ifndef MG_UPSTREAM_HTTP_H
#define MG_UPSTREAM_HTTP_H

#include <stddef.h>

#include "config/config.h"
#include "core/error.h"
#include "core/worker.h"
#include "upstream/upstream.h"

/* Creates the transport for `server` (kind MG_UPSTREAM_HTTP) on `worker`'s loop, and
 * starts the first probe. `server` is borrowed and must outlive the upstream. Fails
 * (NULL, *err filled) on an unusable URL, an invalid configured header, or a TLS
 * context that cannot be set up (unreadable ca_file). Reachability is not a failure:
 * ready() says false until a probe succeeds. */
mg_upstream_t *mg_upstream_http_create(mg_worker_t *worker, const mg_config_server_t *server, size_t server_index,
                                       mg_error_t *err);

#endif
