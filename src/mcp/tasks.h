/*
 * tasks.h - the gateway's task handles for the tasks extension (io.modelcontextprotocol/tasks).
 *
 * A modern server may answer a tools/call with a CreateTaskResult (resultType "task"); the
 * client then polls tasks/get, answers tasks/update and may send tasks/cancel, each naming
 * only the taskId. Behind the gateway several servers issue task ids, and a client must
 * never reach a task that is not its own, so the taskId a client sees is the gateway's
 * handle: "mcpgate.task1." sealed (seal.h) around {p: principal, s: server, t: the
 * server's own taskId}. A handle of another principal, altered, or not the gateway's,
 * opens as "not found" -- the same answer as a task the server forgot, so nothing leaks.
 * Handles carry no expiry of their own: the server's ttlMs decides how long a task lives.
 */
#ifndef MG_MCP_TASKS_H
#define MG_MCP_TASKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mcp/session.h"

#define MG_TASKS_EXTENSION "io.modelcontextprotocol/tasks"
#define MG_TASKS_MAX_HANDLE 4096

/* tasks/get, tasks/update, tasks/cancel: the methods routed by handle. */
bool mg_tasks_is_task_method(const char *method);

/* Did the client declare the extension (capabilities.extensions["io.modelcontextprotocol/tasks"])? */
bool mg_tasks_client_supports(const json_t *client_capabilities);

/* The data of -32021 for a client that did not declare it (new reference). */
json_t *mg_tasks_required_capability(void);

/* The handle for a server's task id; malloc'ed, NULL when the id is too long or not a string. */
char *mg_tasks_seal(const mg_session_key_t *key, const char *principal, const char *server,
                    const json_t *upstream_task_id);

/* Opens a handle presented by `principal`: 0 with the server's name in `server` and its own task id
 * (new reference) in *upstream_task_id, or -1 with a reason fit for a log line in `why`. */
int mg_tasks_open(const mg_session_key_t *key, const char *principal, const char *handle, size_t len, char *server,
                  size_t server_size, json_t **upstream_task_id, char *why, size_t why_len);

#endif
