/*
 * spec_schemas.c - the MCP schemas built into the binary, compiled once, and the check of a client's
 * message against its version's (spec_schemas.h).
 *
 * Each version's ClientRequest and ClientNotification name, through their anyOf's $refs, the
 * definitions a client may send; each definition's `method` const gives the method. Those become a
 * small table per version (a dozen entries, compared by length first), so that a check is one table
 * walk and one validation against the definition's compiled node: the whole message (jsonrpc, id,
 * method, params), which is what the definitions describe since 2025-11-25 and what the older ones
 * describe in part (method and params).
 */
#include "mcp/spec_schemas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/versions.h"

#define SPEC_VERSIONS 5
#define SPEC_MAX_NODES 100000 /* the largest document compiles to a few thousand */

extern const char mg_spec_schema_2024_11_05[], mg_spec_schema_2025_03_26[], mg_spec_schema_2025_06_18[],
    mg_spec_schema_2025_11_25[], mg_spec_schema_2026_07_28[];
extern const size_t mg_spec_schema_2024_11_05_len, mg_spec_schema_2025_03_26_len, mg_spec_schema_2025_06_18_len,
    mg_spec_schema_2025_11_25_len, mg_spec_schema_2026_07_28_len;

typedef struct st_method_entry_t {
    char *method;
    size_t len;
    const mg_schema_node_t *node;
} method_entry_t;

/* A modern request's _meta member the decoder read (jsonrpc.h), and the node that describes it. */
typedef struct st_meta_entry_t {
    mg_rpc_meta_member_t member;
    const char *pointer; /* its place in the message, for violations */
    const mg_schema_node_t *node;
    bool empty_object_valid; /* the node's verdict on {}, which most clients send as their capabilities */
} meta_entry_t;

typedef struct st_entries_t {
    method_entry_t *items;
    size_t len;
} entries_t;

typedef struct st_version_schemas_t {
    const char *version;
    mg_schema_t *schema;
    entries_t methods;                          /* the client's requests and notifications */
    entries_t answers;                          /* the server's requests, each with the node of the client's result */
    const mg_schema_node_t *create_task_result; /* since 2025-11-25: a task-augmented request's answer */
    meta_entry_t meta[3];                       /* 2026-07-28 only: capabilities, client info, log level */
    size_t meta_len;
    const mg_schema_node_t *meta_object; /* 2026-07-28 only: RequestMetaObject */
} version_schemas_t;

struct st_mg_spec_schemas_t {
    version_schemas_t versions[SPEC_VERSIONS];
};

void mg_spec_schemas_destroy(mg_spec_schemas_t *schemas)
{
    if (schemas == NULL)
        return;
    for (size_t v = 0; v < SPEC_VERSIONS; v++) {
        version_schemas_t *version = &schemas->versions[v];
        entries_t *lists[] = {&version->methods, &version->answers};
        for (size_t l = 0; l < 2; l++) {
            for (size_t i = 0; i < lists[l]->len; i++)
                free(lists[l]->items[i].method);
            free(lists[l]->items);
        }
        mg_schema_release(version->schema);
    }
    free(schemas);
}

/* 2026-07-28 requires params._meta, which the decoder may have taken out of params (see the header). */
static void drop_required_meta(json_t *document)
{
    const char *name;
    json_t *definition;
    json_object_foreach(json_object_get(document, "$defs"), name, definition)
    {
        json_t *meta = json_object_get(json_object_get(definition, "properties"), "_meta");
        const char *ref = json_string_value(json_object_get(meta, "$ref"));
        json_t *required = json_object_get(definition, "required");
        if (ref == NULL || strcmp(ref, "#/$defs/RequestMetaObject") != 0 || !json_is_array(required))
            continue;
        for (size_t i = json_array_size(required); i-- > 0;) {
            if (json_is_string(json_array_get(required, i)) &&
                strcmp(json_string_value(json_array_get(required, i)), "_meta") == 0)
                json_array_remove(required, i);
        }
    }
}

static int add_entry(entries_t *entries, const char *method, const mg_schema_node_t *node, mg_error_t *err)
{
    method_entry_t *grown = realloc(entries->items, (entries->len + 1) * sizeof(*grown));
    if (grown == NULL)
        return mg_error_set(err, "out of memory");
    entries->items = grown;
    method_entry_t *entry = &entries->items[entries->len];
    if ((entry->method = strdup(method)) == NULL)
        return mg_error_set(err, "out of memory");
    entry->len = strlen(method);
    entry->node = node;
    entries->len++;
    return 0;
}

/* The node of the result that answers request definition `name` ("ElicitRequest" → ElicitResult; a
 * request without a result of its own, ping, is answered by any result). */
static const mg_schema_node_t *answer_node(const version_schemas_t *version, const char *name)
{
    char fragment[160];
    size_t len = strlen(name);
    const char *suffix = "Request";
    if (len > strlen(suffix) && strcmp(name + len - strlen(suffix), suffix) == 0) {
        snprintf(fragment, sizeof(fragment), "#/$defs/%.*sResult", (int)(len - strlen(suffix)), name);
        const mg_schema_node_t *node = mg_schema_find(version->schema, fragment);
        if (node == NULL) {
            snprintf(fragment, sizeof(fragment), "#/definitions/%.*sResult", (int)(len - strlen(suffix)), name);
            node = mg_schema_find(version->schema, fragment);
        }
        if (node != NULL)
            return node;
    }
    const mg_schema_node_t *node = mg_schema_find(version->schema, "#/$defs/Result");
    return node != NULL ? node : mg_schema_find(version->schema, "#/definitions/Result");
}

/* Adds the methods that `list` names: ClientRequest or ClientNotification to `methods`, ServerRequest (with
 * the result that answers each) to `answers`. */
static int add_methods(version_schemas_t *version, const json_t *document, const char *list, mg_error_t *err)
{
    bool answers = strcmp(list, "ServerRequest") == 0;
    const json_t *definitions = json_object_get(document, "$defs");
    if (definitions == NULL)
        definitions = json_object_get(document, "definitions");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(json_object_get(definitions, list), "anyOf"), i, item)
    {
        const char *ref = json_string_value(json_object_get(item, "$ref"));
        const char *slash = ref != NULL ? strrchr(ref, '/') : NULL;
        const json_t *definition = slash != NULL ? json_object_get(definitions, slash + 1) : NULL;
        const char *method = json_string_value(
            json_object_get(json_object_get(json_object_get(definition, "properties"), "method"), "const"));
        const mg_schema_node_t *node = ref != NULL ? mg_schema_find(version->schema, ref) : NULL;
        if (method == NULL || node == NULL)
            return mg_error_set(err, "MCP schema %s: %s.anyOf[%zu] names no method definition", version->version, list,
                                i);
        if (answers && (node = answer_node(version, slash + 1)) == NULL)
            return mg_error_set(err, "MCP schema %s: no result answers %s", version->version, slash + 1);
        if (add_entry(answers ? &version->answers : &version->methods, method, node, err) != 0)
            return -1;
    }
    return 0;
}

static int add_meta(version_schemas_t *version, mg_error_t *err)
{
    static const struct {
        mg_rpc_meta_member_t member;
        const char *pointer, *fragment;
    } members[] = {
        {MG_RPC_META_CLIENT_CAPABILITIES, "/params/_meta/io.modelcontextprotocol~1clientCapabilities",
         "#/$defs/RequestMetaObject/properties/io.modelcontextprotocol~1clientCapabilities"},
        {MG_RPC_META_CLIENT_INFO, "/params/_meta/io.modelcontextprotocol~1clientInfo",
         "#/$defs/RequestMetaObject/properties/io.modelcontextprotocol~1clientInfo"},
        {MG_RPC_META_LOG_LEVEL, "/params/_meta/io.modelcontextprotocol~1logLevel",
         "#/$defs/RequestMetaObject/properties/io.modelcontextprotocol~1logLevel"},
    };
    if ((version->meta_object = mg_schema_find(version->schema, "#/$defs/RequestMetaObject")) == NULL)
        return mg_error_set(err, "MCP schema %s: no RequestMetaObject", version->version);
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        const mg_schema_node_t *node = mg_schema_find(version->schema, members[i].fragment);
        if (node == NULL)
            return mg_error_set(err, "MCP schema %s: no %s", version->version, members[i].fragment);
        json_t *empty = json_object();
        if (empty == NULL)
            return mg_error_set(err, "out of memory");
        bool empty_valid = mg_schema_validate(version->schema, node, empty, NULL);
        json_decref(empty);
        version->meta[version->meta_len++] = (meta_entry_t){.member = members[i].member,
                                                            .pointer = members[i].pointer,
                                                            .node = node,
                                                            .empty_object_valid = empty_valid};
    }
    return 0;
}

static int compile_version(version_schemas_t *version, const char *name, const char *text, size_t len, mg_error_t *err)
{
    version->version = name;
    json_error_t parse_error;
    json_t *document = json_loadb(text, len, JSON_REJECT_DUPLICATES, &parse_error);
    if (document == NULL)
        return mg_error_set(err, "MCP schema %s: %s at line %d", name, parse_error.text, parse_error.line);
    bool modern = strcmp(name, MG_VERSION_MODERN) == 0;
    if (modern)
        drop_required_meta(document);
    mg_schema_options_t options;
    mg_schema_options_default(&options);
    options.max_nodes = SPEC_MAX_NODES;
    mg_error_t compile_error;
    int rc = 0;
    if (mg_schema_compile(document, &options, &version->schema, &compile_error) != 0)
        rc = mg_error_set(err, "MCP schema %s: %s", name, compile_error.message);
    else if (add_methods(version, document, "ClientRequest", err) != 0 ||
             add_methods(version, document, "ClientNotification", err) != 0 ||
             add_methods(version, document, "ServerRequest", err) != 0 || (modern && add_meta(version, err) != 0))
        rc = -1;
    else
        version->create_task_result = mg_schema_find(version->schema, "#/$defs/CreateTaskResult");
    json_decref(document);
    return rc;
}

int mg_spec_schemas_create(mg_spec_schemas_t **out, mg_error_t *err)
{
    static const struct {
        const char *version;
        const char *text;
        const size_t *len;
    } built_in[SPEC_VERSIONS] = {
        {"2024-11-05", mg_spec_schema_2024_11_05, &mg_spec_schema_2024_11_05_len},
        {"2025-03-26", mg_spec_schema_2025_03_26, &mg_spec_schema_2025_03_26_len},
        {"2025-06-18", mg_spec_schema_2025_06_18, &mg_spec_schema_2025_06_18_len},
        {"2025-11-25", mg_spec_schema_2025_11_25, &mg_spec_schema_2025_11_25_len},
        {"2026-07-28", mg_spec_schema_2026_07_28, &mg_spec_schema_2026_07_28_len},
    };
    *out = NULL;
    mg_spec_schemas_t *schemas = calloc(1, sizeof(*schemas));
    if (schemas == NULL)
        return mg_error_set(err, "out of memory");
    for (size_t v = 0; v < SPEC_VERSIONS; v++) {
        if (compile_version(&schemas->versions[v], built_in[v].version, built_in[v].text, *built_in[v].len, err) != 0) {
            mg_spec_schemas_destroy(schemas);
            return -1;
        }
    }
    *out = schemas;
    return 0;
}

static const version_schemas_t *find_version(const mg_spec_schemas_t *schemas, const char *version)
{
    for (size_t v = 0; version != NULL && v < SPEC_VERSIONS; v++) {
        if (strcmp(schemas->versions[v].version, version) == 0)
            return &schemas->versions[v];
    }
    return NULL;
}

static const method_entry_t *find_entry(const entries_t *entries, const char *method, size_t len)
{
    for (size_t i = 0; i < entries->len; i++) {
        if (entries->items[i].len == len && memcmp(entries->items[i].method, method, len) == 0)
            return &entries->items[i];
    }
    return NULL;
}

static const method_entry_t *find_method(const version_schemas_t *version, const char *method)
{
    return find_entry(&version->methods, method, strlen(method));
}

bool mg_spec_schemas_knows(const mg_spec_schemas_t *schemas, const char *version, const char *method)
{
    const version_schemas_t *found = find_version(schemas, version);
    return found == NULL || (method != NULL && find_method(found, method) != NULL);
}

/* Puts `prefix` in front of the instance paths of violations [from, count). */
static void prefix_paths(mg_schema_result_t *result, size_t from, const char *prefix)
{
    for (size_t i = from; i < result->count; i++) {
        char *path = result->violations[i].instance_path;
        char joined[sizeof(result->violations[i].instance_path)];
        snprintf(joined, sizeof(joined), "%s%s", prefix, path);
        memcpy(path, joined, sizeof(joined));
    }
}

/* Validates `value` against `node`, adding its violations (under `pointer`) to result (may be NULL). */
static bool check_part(const version_schemas_t *version, const mg_schema_node_t *node, const json_t *value,
                       const char *pointer, mg_schema_result_t *result)
{
    if (result == NULL)
        return mg_schema_validate(version->schema, node, value, NULL);
    mg_schema_result_t part;
    if (mg_schema_validate(version->schema, node, value, &part))
        return true;
    prefix_paths(&part, 0, pointer);
    size_t room = MG_SCHEMA_VIOLATIONS_MAX - result->count;
    result->truncated = result->truncated || part.truncated || part.count > room;
    for (size_t j = 0; j < part.count && j < room; j++)
        result->violations[result->count++] = part.violations[j];
    return false;
}

/* The _meta members the decoder read: each against its property's schema. */
static bool check_meta(const version_schemas_t *version, const mg_rpc_meta_t *meta, mg_schema_result_t *result)
{
    bool valid = true;
    for (size_t i = 0; i < version->meta_len; i++) {
        const meta_entry_t *entry = &version->meta[i];
        const json_t *value = entry->member == MG_RPC_META_CLIENT_CAPABILITIES ? meta->client_capabilities
                              : entry->member == MG_RPC_META_CLIENT_INFO       ? meta->client_info
                                                                               : meta->log_level;
        if (value == NULL || (entry->empty_object_valid && json_is_object(value) && json_object_size(value) == 0))
            continue; /* a schema's verdict on {} is the same every time: computed once, at start */
        if (!check_part(version, entry->node, value, entry->pointer, result)) {
            valid = false;
            if (result == NULL)
                return false;
        }
    }
    return valid;
}

mg_spec_verdict_t mg_spec_schemas_check(const mg_spec_schemas_t *schemas, const char *version,
                                        const mg_rpc_message_t *message, const json_t *meta_object,
                                        mg_schema_result_t *result)
{
    const version_schemas_t *found = find_version(schemas, version);
    if (found == NULL || message->method == NULL || message->kind == MG_RPC_RESPONSE)
        return MG_SPEC_UNCHECKED;
    const method_entry_t *entry = find_method(found, message->method);
    if (entry == NULL)
        return MG_SPEC_UNKNOWN_METHOD;
    bool valid = mg_schema_validate(found->schema, entry->node, message->root, result);
    if (!valid && result == NULL)
        return MG_SPEC_INVALID;
    if (found->meta_object != NULL && (valid || result != NULL)) { /* a valid message left result empty */
        if (meta_object != NULL)
            valid = check_part(found, found->meta_object, meta_object, "/params/_meta", result) && valid;
        else if (message->meta != NULL)
            valid = check_meta(found, message->meta, result) && valid;
    }
    return valid ? MG_SPEC_VALID : MG_SPEC_INVALID;
}

mg_spec_verdict_t mg_spec_schemas_check_answer(const mg_spec_schemas_t *schemas, const char *version,
                                               const char *method, size_t method_len, const json_t *response,
                                               mg_schema_result_t *result)
{
    const version_schemas_t *found = find_version(schemas, version);
    const method_entry_t *entry = found != NULL ? find_entry(&found->answers, method, method_len) : NULL;
    const json_t *answer = json_object_get(response, "result");
    if (entry == NULL || answer == NULL)
        return MG_SPEC_UNCHECKED; /* an error, or an answer to a request this version does not define */
    const mg_schema_node_t *node = entry->node;
    if (found->create_task_result != NULL && json_object_get(answer, "task") != NULL)
        node = found->create_task_result; /* the request was task-augmented: the answer is the task */
    if (result != NULL)
        *result = (mg_schema_result_t){.count = 0}; /* check_part adds to it */
    return check_part(found, node, answer, "/result", result) ? MG_SPEC_VALID : MG_SPEC_INVALID;
}
