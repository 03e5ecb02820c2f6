/*
 * message.h - which strings of an MCP JSON-RPC message the guards scan, and for what.
 *
 * The gateway does not scan a message as one text: it scans the strings a client or a server controls,
 * each for the kinds that matter where it sits.
 *   - requests (tools/call, prompts/get: `params.arguments`; anything else: `params`): secrets, pii.
 *   - results of tools/list, prompts/list, resources/list, resources/templates/list: each item's name,
 *     title and description, and for tools every string of inputSchema/outputSchema that a model reads
 *     (property names, descriptions, titles, enums, defaults, examples) and annotations: poisoning.
 *   - `result.instructions` (initialize, server/discover): poisoning.
 *   - any other result (tools/call content text, structuredContent, embedded resource text, prompts/get
 *     messages, resources/read contents) and error messages/data: secrets, pii, injection. `blob`
 *     (base64 binary), `mimeType`, `type` and `_meta` members are skipped.
 *   - notifications (a client's): `params`: secrets, pii.
 *   - a server's own messages (its notifications, its requests to the client): `params`: secrets, pii,
 *     injection (mg_guard_server_message_walk).
 * Each string is reported with its RFC 6901 JSON pointer from the message's root.
 */
#ifndef MG_GUARD_MESSAGE_H
#define MG_GUARD_MESSAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct st_mg_guard_message_string_t {
    const char *pointer; /* "/params/arguments/query"; valid during the visit only */
    const char *text;    /* the string, or the object key when `value` is NULL */
    size_t len;
    json_t *value;  /* the string value (may be redacted in place); NULL for a key (a parameter name) */
    unsigned kinds; /* MG_GUARD_* this string is scanned for */
    bool request;   /* from the client (a request or notification) rather than a server */
} mg_guard_message_string_t;

/* Returns 0 to go on, non-zero to stop the walk (the walk then returns that value). */
typedef int (*mg_guard_message_visit_t)(void *context, const mg_guard_message_string_t *string);

/* Visits the strings of `message` the guards scan. Returns 0, the visitor's non-zero value, or -1 with
 * err set when the message is not a JSON-RPC object or memory runs out. */
int mg_guard_message_walk(json_t *message, mg_guard_message_visit_t visit, void *context, mg_error_t *err);

/* The same walk over a request known by its parts (the gateway has them apart): `params` may be NULL. */
int mg_guard_request_walk(const char *method, json_t *params, mg_guard_message_visit_t visit, void *context,
                          mg_error_t *err);

/* The strings of a message a server sends on its own, in the middle of a call or on an event stream (a
 * notification: progress, log message, resource update; or a request to the client: sampling, elicitation):
 * every string of `params` but the members an answer's walk skips and `progressToken`, for secrets, pii and
 * injection, as a server's (not `request`). */
int mg_guard_server_message_walk(json_t *message, mg_guard_message_visit_t visit, void *context, mg_error_t *err);

/* The strings of one definition a server lists (a tool, prompt, resource or template: the strings a list
 * result's item is scanned for), or of a server's `instructions` when `definition` is a string: poisoning.
 * Pointers are relative to the definition ("/description", "/inputSchema/properties/path"). */
int mg_guard_definition_walk(json_t *definition, mg_guard_message_visit_t visit, void *context, mg_error_t *err);

#endif
