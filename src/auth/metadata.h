/*
 * metadata.h - the gateway as an OAuth 2.1 protected resource: its resource identifiers, its
 * protected resource metadata (RFC 9728) and the challenges it answers unauthenticated callers with
 * (RFC 6750 section 3, as the MCP authorization spec of 2025-11-25 and 2026-07-28 requires).
 *
 * Each MCP path is a resource of its own: /mcp is auth.resource itself, and /servers/<name>/mcp is
 * the same URI with its trailing "/mcp" replaced by "/servers/<name>/mcp". A client (the SDK does)
 * asks for a token for exactly the resource it connects to, so a server path's token names that
 * path and is accepted there only, while a token for auth.resource is accepted on every path.
 * Metadata lives at the RFC 9728 section 3.1 location: "/.well-known/oauth-protected-resource"
 * inserted between the origin and the resource's path; the bare well-known path describes /mcp.
 */
#ifndef MG_AUTH_METADATA_H
#define MG_AUTH_METADATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

#define MG_AUTH_METADATA_PREFIX "/.well-known/oauth-protected-resource"

/* The resource identifier of an MCP path: `scope` -1 for /mcp, else a server index. malloc'd. */
char *mg_auth_resource_for(const mg_config_t *config, long scope);

/* The URL of that resource's metadata document. malloc'd. */
char *mg_auth_metadata_url_for(const mg_config_t *config, long scope);

/* Which resource a request for `path` (after the well-known prefix: "", "/mcp", "/servers/x/mcp",
 * or the resource's own path) asks about: 0 with *scope set, or -1 when it names none. */
int mg_auth_metadata_scope(const mg_config_t *config, const char *path, size_t len, long *scope);

/* The metadata document of a resource (new reference). */
json_t *mg_auth_metadata_document(const mg_config_t *config, long scope);

/* The WWW-Authenticate value of a refusal: `error` NULL for a request that carried no credential
 * (RFC 6750 section 3.1: then no error code), else "invalid_token", "invalid_request" or
 * "insufficient_scope"; `description` may be NULL; `scope` NULL means the configured
 * scopes_required. Quotes and backslashes in the description are dropped. malloc'd. */
char *mg_auth_challenge(const mg_config_t *config, long scope, const char *error, const char *description,
                        const char *needed_scope);

#endif
