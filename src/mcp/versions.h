/*
 * versions.h - MCP protocol versions the gateway speaks.
 *
 * Legacy era (initialize + sessions): 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05.
 * A client asking for something else gets the newest legacy version, as the
 * lifecycle spec says; the client then decides whether it can go on.
 * Modern era (stateless, version in every request's _meta): 2026-07-28.
 */
#ifndef MG_MCP_VERSIONS_H
#define MG_MCP_VERSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MG_VERSION_LATEST_LEGACY "2025-11-25"
#define MG_VERSION_MODERN "2026-07-28"

bool mg_versions_is_legacy(const char *version, size_t len);
bool mg_versions_is_modern(const char *version, size_t len);
const char *mg_versions_negotiate_legacy(const char *requested);
/* Every version the gateway speaks, newest first (new reference): server/discover and -32022's data. */
json_t *mg_versions_supported(void);

#endif
