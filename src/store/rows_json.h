/*
 * rows_json.h - the state store's rows as the JSON people and programs read: `mcpgate tools list --json`,
 * `mcpgate approvals list --json` and the admin API (http/admin.h) print these objects, built here once so
 * that the two can never disagree about a field.
 *
 * Times are RFC 3339 UTC text ("2026-05-01T10:00:00Z") or null for "never"; empty strings are null.
 */
#ifndef MG_STORE_ROWS_JSON_H
#define MG_STORE_ROWS_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "config/config.h"
#include "store/sqlite.h"

/* How far back `approvals list` and GET /admin/approvals look: the calls created in the last day. */
#define MG_STORE_APPROVALS_LIST_WINDOW_S (24 * 3600)

/* "2026-05-01T10:00:00Z"; `never` for 0. */
void mg_store_format_time(int64_t when, const char *never, char out[32]);

/* A row's state as people see it at `now`: a pending row whose deadline passed is "expired" (nothing can
 * approve it any more), otherwise the stored state. */
const char *mg_store_approval_state(const mg_store_approval_t *row, int64_t now);
/* {"id", "state", "principal", "server", "tool", "arguments_sha256", "arguments", "rule", "approver",
 * "created_at", "expires_at", "decided_at", "decided_by"}; NULL when out of memory. */
json_t *mg_store_approval_json(const mg_store_approval_t *row, int64_t now);
/* An array of the above, in the rows' order; NULL when out of memory. */
json_t *mg_store_approvals_json(const mg_store_approval_t *rows, size_t count, int64_t now);

/* "pinned", "quarantined" (held: a change under pins.mode enforce, or a poisoning verdict in any mode) or
 * "changed" (a change served because pins.mode is warn or off). */
const char *mg_store_pin_state(const mg_store_pin_t *pin, mg_pins_mode_t mode);
/* "SERVER/TOOL", or "SERVER#instructions" for the server's instructions. */
void mg_store_pin_name(const mg_store_pin_t *pin, char *out, size_t size);
/* {"name", "server", "tool", "state", "reason", "detail", "approved_sha256", "pending_sha256", "approved_by",
 * "first_seen", "changed_at", "approved_at"}; NULL when out of memory. */
json_t *mg_store_pin_json(const mg_store_pin_t *pin, mg_pins_mode_t mode);
/* An array of the above, in the rows' order; NULL when out of memory. */
json_t *mg_store_pins_json(const mg_store_pin_t *rows, size_t count, mg_pins_mode_t mode);

#endif
