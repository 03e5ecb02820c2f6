/*
 * limit_stage.h - the limit stage (DESIGN.md section 1): rate limits, quotas and concurrency limits on
 * a routed call, and the cost it is charged (docs/rate-limits.md).
 *
 * The dispatcher asks this stage once a call has been routed and authorized, and for tools/call once
 * the tool is known to exist, before anything else is checked or sent: an item the caller may not see
 * is answered as unknown before it is ever counted, and the counters' keys only ever name items the
 * gateway routes (tools from a server's own list, not any name a client makes up).
 *
 * A refused call gets JSON-RPC error -32029 naming the rule, with data {rule, limit, retryAfterSeconds,
 * retryAfterMs}, and over HTTP status 429 with Retry-After (seconds, rounded up, at least 1). In
 * observe mode the call goes on. Either way the event is logged: `rate_limit.limited` or
 * `rate_limit.observed`. An admitted call's cost is added to its principal's totals; its concurrency
 * slots stay with the exchange until it is freed (http/front.c), however it ends.
 *
 * A retry that continues a call (a modern client's requestState) is the same call: it is not counted
 * again.
 */
#ifndef MG_MCP_LIMIT_STAGE_H
#define MG_MCP_LIMIT_STAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "mcp/exchange.h"

/* Decides exchange->message (tools/call, prompts/get, resources/read|subscribe|unsubscribe,
 * completion/complete) for item `item` of kind `kind` on server `server_index`. Returns true to go on;
 * false when the exchange has been answered. */
bool mg_limit_stage_admit(mg_exchange_t *exchange, size_t server_index, mg_config_pattern_kind_t kind,
                          const char *item);

#endif
