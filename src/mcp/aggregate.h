/*
 * aggregate.h - merging what several servers answered into one answer, and the
 * gateway's own list cursors.
 *
 * Lists keep a deterministic order: servers in configuration order, each server's
 * items in its own order. A gateway cursor is base64url(JSON {"<server index>":
 * "<upstream cursor>"}): it names, for each server that still has pages, where to
 * go on, so paging needs no state on the gateway.
 */
#ifndef MG_MCP_AGGREGATE_H
#define MG_MCP_AGGREGATE_H

#include <jansson.h>

#include "config/config.h"
#include "mcp/exchange.h"

/* "tools" | "prompts" | "resources" | "resourceTemplates" for the four list methods. */
const char *mg_aggregate_list_key(const char *method);
/* Builds the list result from parts' `collected` arrays and `cursor`s (new reference). */
json_t *mg_aggregate_merge_lists(const mg_config_t *config, long scope, const char *method, mg_exchange_part_t *parts,
                                 size_t parts_len);
/* Rewrites resource URIs inside a routed response (tools/call, resources/read, prompts/get) in place. */
void mg_aggregate_rewrite_result(const mg_config_t *config, size_t server_index, const char *method, json_t *response);
/* Rewrites a notification from a server for clients of /mcp (resources/updated URIs) in place. */
void mg_aggregate_rewrite_notification(const mg_config_t *config, size_t server_index, json_t *notification);
/* The initialize result the gateway answers with (new reference). */
json_t *mg_aggregate_initialize_result(mg_exchange_t *exchange);

/* Keeps a worker's tool catalog current: drops it when `msg` is a tools/list_changed from that server. */
void mg_aggregate_observe(mg_worker_t *worker, size_t server_index, const json_t *msg);
/* Replaces a worker's tool catalog for a server with the tools in `tools` (a complete tools/list). */
void mg_aggregate_remember_tools(mg_worker_t *worker, size_t server_index, const json_t *tools);

char *mg_aggregate_encode_cursor(json_t *cursors /* borrowed */);
json_t *mg_aggregate_decode_cursor(const char *cursor); /* NULL when malformed */

#endif
