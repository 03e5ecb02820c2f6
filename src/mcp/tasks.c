/* tasks.c - see tasks.h. */
#include "mcp/tasks.h"

#include <stdio.h>
#include <string.h>

#include "mcp/seal.h"

#define PREFIX "mcpgate.task1."

bool mg_tasks_is_task_method(const char *method)
{
    return method != NULL && strncmp(method, "tasks/", 6) == 0 &&
           (strcmp(method + 6, "get") == 0 || strcmp(method + 6, "update") == 0 || strcmp(method + 6, "cancel") == 0);
}

bool mg_tasks_client_supports(const json_t *client_capabilities)
{
    return json_is_object(json_object_get(json_object_get(client_capabilities, "extensions"), MG_TASKS_EXTENSION));
}

json_t *mg_tasks_required_capability(void)
{
    return json_pack("{s:{s:{s:{}}}}", "requiredCapabilities", "extensions", MG_TASKS_EXTENSION);
}

char *mg_tasks_seal(const mg_session_key_t *key, const char *principal, const char *server,
                    const json_t *upstream_task_id)
{
    if (!json_is_string(upstream_task_id))
        return NULL;
    json_t *claims = json_pack("{s:s,s:s,s:O}", "p", principal, "s", server, "t", upstream_task_id);
    char *handle = claims != NULL ? mg_seal_json(key, PREFIX, claims, MG_TASKS_MAX_HANDLE) : NULL;
    json_decref(claims);
    return handle;
}

int mg_tasks_open(const mg_session_key_t *key, const char *principal, const char *handle, size_t len, char *server,
                  size_t server_size, json_t **upstream_task_id, char *why, size_t why_len)
{
    *upstream_task_id = NULL;
    json_t *claims = mg_unseal_json(key, PREFIX, handle, len, MG_TASKS_MAX_HANDLE);
    if (claims == NULL) {
        snprintf(why, why_len, "not a task handle of this gateway, or altered");
        return -1;
    }
    int rc = -1;
    const char *owner = json_string_value(json_object_get(claims, "p"));
    const char *name = json_string_value(json_object_get(claims, "s"));
    json_t *task_id = json_object_get(claims, "t");
    if (owner == NULL || strcmp(owner, principal) != 0) {
        snprintf(why, why_len, "the task handle was issued to another principal");
    } else if (name == NULL || strlen(name) >= server_size || !json_is_string(task_id)) {
        snprintf(why, why_len, "malformed task handle");
    } else {
        snprintf(server, server_size, "%s", name);
        *upstream_task_id = json_incref(task_id);
        rc = 0;
    }
    json_decref(claims);
    return rc;
}
