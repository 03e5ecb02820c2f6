/*
 * admin_route.h - what an admin API request asks for, read from its untrusted method, target and body
 * (http/admin.h serves it). Pure functions of their input, without I/O or state, so that the fuzz
 * target fuzz_admin_route can drive them with anything.
 *
 * Targets. Each path segment is percent-decoded on its own, so a tool name holding "/" travels as
 * %2F; a decoded segment must be 1..511 bytes without control characters. A server's instructions are
 * named as `mcpgate tools list` names them, "SERVER#instructions", with "#" written %23:
 *   GET  /admin/approvals[?state=pending|approved|denied|expired|abandoned]
 *   POST /admin/approvals/{id}/approve | /deny
 *   GET  /admin/tools
 *   POST /admin/tools/{server}/{tool}/approve
 *   POST /admin/tools/{server}%23instructions/approve
 * Bodies. A POST's body is empty, or a JSON object whose only member is an optional "reason" string of
 * at most MG_ADMIN_REASON_MAX bytes (for the log and the audit record).
 */
#ifndef MG_HTTP_ADMIN_ROUTE_H
#define MG_HTTP_ADMIN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define MG_ADMIN_REASON_MAX 500
#define MG_ADMIN_NAME_MAX 512 /* a decoded segment, with its NUL */

typedef enum en_mg_admin_action_t {
    MG_ADMIN_LIST_APPROVALS = 1,
    MG_ADMIN_DECIDE_APPROVAL,
    MG_ADMIN_LIST_TOOLS,
    MG_ADMIN_APPROVE_TOOL,
} mg_admin_action_t;

typedef struct st_mg_admin_route_t {
    mg_admin_action_t action;
    const char *allow;              /* the method the target takes: "GET" or "POST" (the Allow header of a 405) */
    char state[16];                 /* LIST_APPROVALS: the ?state filter, "" for every state */
    char id[40];                    /* DECIDE_APPROVAL: "apr_" and 32 hex digits */
    const char *verdict;            /* DECIDE_APPROVAL: "approved" or "denied" */
    char server[MG_ADMIN_NAME_MAX]; /* APPROVE_TOOL */
    char tool[MG_ADMIN_NAME_MAX];   /* APPROVE_TOOL: "" for the server's instructions */
} mg_admin_route_t;

/* What a target or a body is wrong with, as the HTTP status it gets. */
enum {
    MG_ADMIN_BAD_REQUEST = 400,
    MG_ADMIN_NOT_FOUND = 404,
    MG_ADMIN_BAD_METHOD = 405, /* route->allow says which one it takes */
};

/* Reads `method` and `target` (the request-target as sent: path and query). Returns 0 with *route filled,
 * or one of the statuses above with `error` (at least 128 bytes) saying why. */
int mg_admin_route_parse(const char *method, size_t method_len, const char *target, size_t target_len,
                         mg_admin_route_t *route, char *error, size_t error_size);

/* Reads a POST's body into `reason` (MG_ADMIN_REASON_MAX + 1 bytes; "" without one). Returns 0, or
 * MG_ADMIN_BAD_REQUEST with `error` saying why. */
int mg_admin_body_parse(const char *body, size_t len, char *reason, char *error, size_t error_size);

/* Whether a Content-Type value is application/json (parameters such as charset allowed). */
bool mg_admin_is_json_type(const char *value, size_t len);

#endif
