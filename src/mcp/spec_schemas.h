/*
 * spec_schemas.h - every client message checked against the MCP schema of its protocol version, before
 * anything routes it (docs/validation.md).
 *
 * The schema.json of each protocol version the specification publishes (2024-11-05, 2025-03-26,
 * 2025-06-18, 2025-11-25, 2026-07-28) is built into the binary and compiled once at start into one immutable
 * set that every worker shares. A request or notification is checked against the definition its
 * method names in that version (CallToolRequest for tools/call); a method that the version's
 * ClientRequest / ClientNotification does not list is unknown to it.
 *
 * 2026-07-28's `_meta`: by the time a modern request is dispatched, its _meta is no longer in params:
 * the decoder read it into message->meta (jsonrpc.h), or the front end took it out as an object
 * (exchange->meta_object). So the compiled 2026-07-28 document does not require params._meta, and the
 * _meta is checked on its own against RequestMetaObject (the object), or member by member against its
 * properties (what the decoder read). Whether _meta is there at all is the front end's check (-32602
 * before this one).
 */
#ifndef MG_MCP_SPEC_SCHEMAS_H
#define MG_MCP_SPEC_SCHEMAS_H

#include "core/error.h"
#include "mcp/jsonrpc.h"
#include "schema/schema.h"

typedef struct st_mg_spec_schemas_t mg_spec_schemas_t; /* immutable once made: shared by all workers */

typedef enum en_mg_spec_verdict_t {
    MG_SPEC_VALID,
    MG_SPEC_INVALID,        /* result holds the violations: -32602 */
    MG_SPEC_UNKNOWN_METHOD, /* the version defines no such client request or notification: -32601 */
    MG_SPEC_UNCHECKED,      /* no schema for this version, or nothing to check */
} mg_spec_verdict_t;

/* Compiles the built-in schemas. 0, or -1 with err (a schema that does not compile is a build defect). */
int mg_spec_schemas_create(mg_spec_schemas_t **out, mg_error_t *err);
void mg_spec_schemas_destroy(mg_spec_schemas_t *schemas);

/* Checks `message`, a client's request or notification, for protocol `version`; `meta_object` is a
 * modern request's _meta when it was taken out of params as an object (NULL otherwise). result (may be
 * NULL: just the verdict) gets the violations of an invalid message, their instance paths from the
 * message's root ("/params/name"). */
mg_spec_verdict_t mg_spec_schemas_check(const mg_spec_schemas_t *schemas, const char *version,
                                        const mg_rpc_message_t *message, const json_t *meta_object,
                                        mg_schema_result_t *result);

/* Checks `response`, a client's response to a server's request for `method` (method_len bytes), for
 * protocol `version`: its result against the result that answers the method (CreateMessageResult for
 * sampling/createMessage; CreateTaskResult when the result is a task). An error response, or a method
 * the version's ServerRequest does not list, is MG_SPEC_UNCHECKED. Violations as above ("/result/action"). */
mg_spec_verdict_t mg_spec_schemas_check_answer(const mg_spec_schemas_t *schemas, const char *version,
                                               const char *method, size_t method_len, const json_t *response,
                                               mg_schema_result_t *result);

/* Whether `method` is a client request or notification of protocol `version` (true when the version has
 * no schema: nothing is known to be missing). */
bool mg_spec_schemas_knows(const mg_spec_schemas_t *schemas, const char *version, const char *method);

#endif
