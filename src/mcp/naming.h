/*
 * naming.h - public names on the aggregated endpoint (/mcp).
 *
 * Tools and prompts: "<server><separator><name>" (separator from the config, "__" by
 * default). Server names cannot contain the separator (the config refuses it), so the
 * first separator always splits correctly, even when the upstream's own name contains
 * the separator again ("fs__read__v2" is fs's tool "read__v2").
 *
 * Resources and resource templates: "<server>+<uri>". A URI scheme may contain '+',
 * but a server name may not, so the first '+' splits; the result is itself a valid
 * URI (or URI template) whose scheme is "<server>+<original scheme>", which clients
 * treat as opaque. Resource links inside results are rewritten the same way.
 */
#ifndef MG_MCP_NAMING_H
#define MG_MCP_NAMING_H

#include <stddef.h>

#include "config/config.h"

/* Returns a malloc'ed "<server><separator><name>". */
char *mg_naming_join_name(const mg_config_t *config, size_t server_index, const char *name);
/* Splits a public tool/prompt name. Returns 0 and sets *server_index and *local_name (points into
 * public_name) when the prefix names a configured server; -1 otherwise. */
int mg_naming_split_name(const mg_config_t *config, const char *public_name, size_t *server_index,
                         const char **local_name);

/* Returns a malloc'ed "<server>+<uri>". */
char *mg_naming_join_uri(const mg_config_t *config, size_t server_index, const char *uri);
/* Splits a public resource URI like mg_naming_split_name. */
int mg_naming_split_uri(const mg_config_t *config, const char *public_uri, size_t *server_index,
                        const char **local_uri);

#endif
