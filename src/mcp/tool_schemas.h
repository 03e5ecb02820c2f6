/*
 * tool_schemas.h - the compiled inputSchema and outputSchema of each tool an upstream lists, for the
 * checks of tools/call arguments and results (docs/validation.md).
 *
 * A worker keeps one mg_tool_schemas_t per upstream, built whenever it learns the upstream's tool
 * catalog (aggregate.c) and dropped with it. Compiling goes through the gateway's schema cache, keyed
 * by the schema's text and the server's options, so a definition that several workers, servers or
 * reconnections share is compiled once. A schema that is not valid JSON Schema (or that needs a remote
 * reference, or breaks a limit) is kept as its error: calls to that tool are refused, never passed
 * unchecked, and the gateway-wide report (mg_tool_schema_report_t) logs it once and shows it in /readyz.
 *
 * Threads: a mg_tool_schemas_t belongs to its worker's thread; the compiled schemas in it are shared
 * and immutable. The report is shared, behind a mutex (it changes only when a catalog does).
 */
#ifndef MG_MCP_TOOL_SCHEMAS_H
#define MG_MCP_TOOL_SCHEMAS_H

#include <jansson.h>
#include <pthread.h>

#include "config/config.h"
#include "schema/cache.h"
#include "schema/schema.h"

typedef struct st_mg_tool_schema_t {
    const char *name;
    mg_schema_t *input;  /* NULL: no inputSchema (any arguments), or input_error */
    mg_schema_t *output; /* NULL: no outputSchema, or output_error */
    char *input_error;   /* the inputSchema is unusable: why; calls are refused */
    char *output_error;  /* the outputSchema is unusable: why; results cannot be checked (see the docs) */
} mg_tool_schema_t;

typedef struct st_mg_tool_schemas_t mg_tool_schemas_t;

/* Invalid tool schemas, per server, gateway-wide: for the log (once per new problem) and /readyz. */
typedef struct st_mg_tool_schema_report_t {
    pthread_mutex_t lock;
    json_t **invalid; /* per server: object "tool" -> "what is wrong" */
    size_t servers_len;
} mg_tool_schema_report_t;

int mg_tool_schema_report_init(mg_tool_schema_report_t *report, size_t servers_len);
void mg_tool_schema_report_dispose(mg_tool_schema_report_t *report);
/* A copy of server `server_index`'s invalid tool schemas (an object, maybe empty); NULL when out of memory. */
json_t *mg_tool_schema_report_get(mg_tool_schema_report_t *report, size_t server_index);

/* Compiles the schemas of `tools` (an object: tool name -> definition, as upstream->tools) with the
 * options of `server` (strict, validate_formats). Never fails for a bad schema (it is recorded);
 * NULL only when memory runs out, and then every call is refused (the caller treats a missing set so). */
mg_tool_schemas_t *mg_tool_schemas_build(mg_schema_cache_t *cache, mg_tool_schema_report_t *report,
                                         const mg_config_server_t *server, size_t server_index, const json_t *tools);
void mg_tool_schemas_destroy(mg_tool_schemas_t *schemas);

/* The tool's schemas, or NULL when the catalog the set was built from has no such tool. */
const mg_tool_schema_t *mg_tool_schemas_find(const mg_tool_schemas_t *schemas, const char *name);

#endif
