/*
 * tool_schemas.c - a worker's compiled tool schemas for one upstream, and the gateway-wide report of
 * the invalid ones (tool_schemas.h).
 *
 * The set is an array sorted by tool name, searched by bisection: a catalog changes rarely and is
 * read on every tools/call. Names point into the entries' own copies, so the set outlives the
 * catalog it was built from.
 */
#include "mcp/tool_schemas.h"

#include <stdlib.h>
#include <string.h>

#include "obs/log.h"

struct st_mg_tool_schemas_t {
    mg_tool_schema_t *tools; /* sorted by name */
    size_t len;
};

int mg_tool_schema_report_init(mg_tool_schema_report_t *report, size_t servers_len)
{
    report->servers_len = servers_len;
    if ((report->invalid = calloc(servers_len + 1, sizeof(json_t *))) == NULL)
        return -1;
    for (size_t i = 0; i < servers_len; i++) {
        if ((report->invalid[i] = json_object()) == NULL)
            return -1;
    }
    pthread_mutex_init(&report->lock, NULL);
    return 0;
}

void mg_tool_schema_report_dispose(mg_tool_schema_report_t *report)
{
    if (report->invalid == NULL)
        return;
    for (size_t i = 0; i < report->servers_len; i++)
        json_decref(report->invalid[i]);
    free(report->invalid);
    report->invalid = NULL;
    pthread_mutex_destroy(&report->lock);
}

json_t *mg_tool_schema_report_get(mg_tool_schema_report_t *report, size_t server_index)
{
    pthread_mutex_lock(&report->lock);
    json_t *copy = server_index < report->servers_len ? json_deep_copy(report->invalid[server_index]) : json_object();
    pthread_mutex_unlock(&report->lock);
    return copy;
}

/* Replaces the server's list with `invalid` (taken), logging each problem the list did not have. */
static void report_replace(mg_tool_schema_report_t *report, const mg_config_server_t *server, size_t server_index,
                           json_t *invalid)
{
    if (report == NULL || server_index >= report->servers_len) {
        json_decref(invalid);
        return;
    }
    pthread_mutex_lock(&report->lock);
    const char *tool;
    json_t *why;
    json_object_foreach(invalid, tool, why)
    {
        if (!json_equal(json_object_get(report->invalid[server_index], tool), why))
            mg_log(MG_LOG_WARN, "tool.schema_invalid",
                   "server %s, tool %s: %s; calls to it are refused until the server fixes it", server->name, tool,
                   json_string_value(why));
    }
    json_decref(report->invalid[server_index]);
    report->invalid[server_index] = invalid;
    pthread_mutex_unlock(&report->lock);
}

void mg_tool_schemas_destroy(mg_tool_schemas_t *schemas)
{
    if (schemas == NULL)
        return;
    for (size_t i = 0; i < schemas->len; i++) {
        mg_tool_schema_t *tool = &schemas->tools[i];
        free((char *)tool->name);
        mg_schema_release(tool->input);
        mg_schema_release(tool->output);
        free(tool->input_error);
        free(tool->output_error);
    }
    free(schemas->tools);
    free(schemas);
}

/* Compiles `schema` (may be NULL: nothing to check) into *out, or sets *error to why it cannot be. */
static int compile_one(mg_schema_cache_t *cache, const json_t *schema, const mg_schema_options_t *options,
                       mg_schema_t **out, char **error)
{
    *out = NULL;
    *error = NULL;
    if (schema == NULL)
        return 0;
    mg_error_t err;
    if (!json_is_object(schema) && !json_is_boolean(schema)) {
        snprintf(err.message, sizeof(err.message), "the schema is %s, not an object",
                 json_is_array(schema)    ? "an array"
                 : json_is_string(schema) ? "a string"
                                          : "not a schema");
    } else if (mg_schema_cache_get(cache, schema, options, out, &err) == 0) {
        return 0;
    }
    return (*error = strdup(err.message)) != NULL ? 0 : -1;
}

static int compare_tools(const void *a, const void *b)
{
    return strcmp(((const mg_tool_schema_t *)a)->name, ((const mg_tool_schema_t *)b)->name);
}

mg_tool_schemas_t *mg_tool_schemas_build(mg_schema_cache_t *cache, mg_tool_schema_report_t *report,
                                         const mg_config_server_t *server, size_t server_index, const json_t *tools)
{
    mg_tool_schemas_t *schemas = calloc(1, sizeof(*schemas));
    json_t *invalid = json_object();
    if (schemas == NULL || invalid == NULL ||
        (schemas->tools = calloc(json_object_size(tools) + 1, sizeof(*schemas->tools))) == NULL)
        goto fail;
    mg_schema_options_t input_options, output_options;
    mg_schema_options_default(&input_options);
    input_options.validate_formats = server->validate_formats;
    output_options = input_options;
    input_options.strict = server->strict; /* strict is about what a caller may send */
    const char *name;
    json_t *definition;
    json_object_foreach((json_t *)tools, name, definition)
    {
        mg_tool_schema_t *tool = &schemas->tools[schemas->len];
        if ((tool->name = strdup(name)) == NULL)
            goto fail;
        schemas->len++;
        if (compile_one(cache, json_object_get(definition, "inputSchema"), &input_options, &tool->input,
                        &tool->input_error) != 0 ||
            compile_one(cache, json_object_get(definition, "outputSchema"), &output_options, &tool->output,
                        &tool->output_error) != 0)
            goto fail;
        if (tool->input_error != NULL || tool->output_error != NULL) {
            char why[640];
            snprintf(why, sizeof(why), "%s%s%s%s", tool->input_error != NULL ? "inputSchema: " : "",
                     tool->input_error != NULL ? tool->input_error : "",
                     tool->output_error != NULL ? (tool->input_error != NULL ? "; outputSchema: " : "outputSchema: ")
                                                : "",
                     tool->output_error != NULL ? tool->output_error : "");
            json_object_set_new(invalid, name, json_string(why));
        }
    }
    qsort(schemas->tools, schemas->len, sizeof(*schemas->tools), compare_tools);
    report_replace(report, server, server_index, invalid);
    return schemas;
fail:
    json_decref(invalid);
    mg_tool_schemas_destroy(schemas);
    return NULL;
}

const mg_tool_schema_t *mg_tool_schemas_find(const mg_tool_schemas_t *schemas, const char *name)
{
    size_t low = 0, high = schemas != NULL ? schemas->len : 0;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(name, schemas->tools[middle].name);
        if (order == 0)
            return &schemas->tools[middle];
        if (order < 0)
            high = middle;
        else
            low = middle + 1;
    }
    return NULL;
}
