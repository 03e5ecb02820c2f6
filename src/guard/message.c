/*
 * message.c - the walk over an MCP message's scanned strings (message.h says which and why).
 *
 * The walk carries the JSON pointer of where it is in one growing buffer: entering a member appends
 * "/<escaped key>", leaving truncates back. A schema is walked by its keywords, not as data, so that a
 * parameter's name (an object key) is scanned and a `type: "string"` is not.
 */
#include <stdlib.h>
#include <string.h>

#include "guard/detect.h"
#include "guard/message.h"

typedef struct st_walk_t {
    mg_guard_message_visit_t visit;
    void *context;
    char *pointer;
    size_t len, capacity;
    bool request;
    mg_error_t *err;
} walk_t;

static int push(walk_t *walk, const char *segment, size_t *saved)
{
    *saved = walk->len;
    size_t need = walk->len + 1 + strlen(segment) * 2 + 1;
    if (need > walk->capacity) {
        size_t capacity = walk->capacity == 0 ? 256 : walk->capacity;
        while (capacity < need)
            capacity *= 2;
        char *grown = realloc(walk->pointer, capacity);
        if (grown == NULL)
            return mg_error_set(walk->err, "out of memory");
        walk->pointer = grown;
        walk->capacity = capacity;
    }
    walk->pointer[walk->len++] = '/';
    for (const char *c = segment; *c != '\0'; c++) { /* RFC 6901: '~' is "~0", '/' is "~1" */
        if (*c == '~' || *c == '/') {
            walk->pointer[walk->len++] = '~';
            walk->pointer[walk->len++] = *c == '~' ? '0' : '1';
        } else {
            walk->pointer[walk->len++] = *c;
        }
    }
    walk->pointer[walk->len] = '\0';
    return 0;
}

static int push_index(walk_t *walk, size_t index, size_t *saved)
{
    char digits[24];
    snprintf(digits, sizeof(digits), "%zu", index);
    return push(walk, digits, saved);
}

static void pop(walk_t *walk, size_t saved)
{
    walk->len = saved;
    walk->pointer[saved] = '\0';
}

static int visit(walk_t *walk, const char *text, size_t len, json_t *value, unsigned kinds)
{
    mg_guard_message_string_t string = {walk->pointer, text, len, value, kinds, walk->request};
    return walk->visit(walk->context, &string);
}

static bool skipped_member(const char *key)
{
    return strcmp(key, "blob") == 0 || strcmp(key, "mimeType") == 0 || strcmp(key, "type") == 0 ||
           strcmp(key, "_meta") == 0 || strcmp(key, "progressToken") == 0;
}

/* Every string of a value, for `kinds`. */
static int walk_data(walk_t *walk, json_t *value, unsigned kinds)
{
    const char *key;
    json_t *member;
    size_t index, saved;
    int rc = 0;
    if (json_is_string(value))
        return visit(walk, json_string_value(value), json_string_length(value), value, kinds);
    if (json_is_object(value)) {
        json_object_foreach(value, key, member)
        {
            if (!walk->request && skipped_member(key))
                continue;
            if (push(walk, key, &saved) != 0)
                return -1;
            rc = walk_data(walk, member, kinds);
            pop(walk, saved);
            if (rc != 0)
                return rc;
        }
    } else if (json_is_array(value)) {
        json_array_foreach(value, index, member)
        {
            if (push_index(walk, index, &saved) != 0)
                return -1;
            rc = walk_data(walk, member, kinds);
            pop(walk, saved);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int walk_member(walk_t *walk, json_t *object, const char *key, int (*fn)(walk_t *, json_t *, unsigned),
                       unsigned kinds)
{
    json_t *member = json_object_get(object, key);
    size_t saved;
    if (member == NULL)
        return 0;
    if (push(walk, key, &saved) != 0)
        return -1;
    int rc = fn(walk, member, kinds);
    pop(walk, saved);
    return rc;
}

/* The strings of a JSON Schema a model reads: property names, descriptions, titles, enums, defaults,
 * examples, and the same in every subschema. */
static int walk_schema(walk_t *walk, json_t *schema, unsigned kinds)
{
    static const char *const text_keywords[] = {"description", "title", "enum", "default", "examples", "const"};
    static const char *const map_keywords[] = {"properties", "patternProperties", "$defs", "definitions"};
    static const char *const schema_keywords[] = {"items", "additionalProperties", "not", "anyOf", "oneOf",
                                                  "allOf", "prefixItems",          "if",  "then",  "else"};
    const char *key;
    json_t *member;
    size_t saved, index;
    int rc;
    if (json_is_array(schema)) {
        json_array_foreach(schema, index, member)
        {
            if (push_index(walk, index, &saved) != 0)
                return -1;
            rc = walk_schema(walk, member, kinds);
            pop(walk, saved);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(schema))
        return 0;
    for (size_t k = 0; k < sizeof(text_keywords) / sizeof(text_keywords[0]); k++) {
        if ((rc = walk_member(walk, schema, text_keywords[k], walk_data, kinds)) != 0)
            return rc;
    }
    for (size_t k = 0; k < sizeof(map_keywords) / sizeof(map_keywords[0]); k++) {
        json_t *map = json_object_get(schema, map_keywords[k]);
        if (!json_is_object(map))
            continue;
        size_t outer;
        if (push(walk, map_keywords[k], &outer) != 0)
            return -1;
        json_object_foreach(map, key, member)
        {
            if (push(walk, key, &saved) != 0)
                return -1;
            rc = visit(walk, key, strlen(key), NULL, kinds);
            if (rc == 0)
                rc = walk_schema(walk, member, kinds);
            pop(walk, saved);
            if (rc != 0)
                return rc;
        }
        pop(walk, outer);
    }
    for (size_t k = 0; k < sizeof(schema_keywords) / sizeof(schema_keywords[0]); k++) {
        if ((rc = walk_member(walk, schema, schema_keywords[k], walk_schema, kinds)) != 0)
            return rc;
    }
    return 0;
}

/* One item of a list result (a tool, prompt, resource or template). */
static int walk_listed(walk_t *walk, json_t *item, unsigned kinds)
{
    static const char *const text_members[] = {"name", "title", "description", "uri", "uriTemplate"};
    int rc;
    if (!json_is_object(item))
        return 0;
    for (size_t k = 0; k < sizeof(text_members) / sizeof(text_members[0]); k++) {
        if ((rc = walk_member(walk, item, text_members[k], walk_data, kinds)) != 0)
            return rc;
    }
    if ((rc = walk_member(walk, item, "inputSchema", walk_schema, kinds)) != 0 ||
        (rc = walk_member(walk, item, "outputSchema", walk_schema, kinds)) != 0 ||
        (rc = walk_member(walk, item, "annotations", walk_data, kinds)) != 0 ||
        (rc = walk_member(walk, item, "arguments", walk_data, kinds)) != 0)
        return rc;
    return 0;
}

static int walk_list(walk_t *walk, json_t *list, unsigned kinds)
{
    size_t index, saved;
    json_t *item;
    int rc;
    json_array_foreach(list, index, item)
    {
        if (push_index(walk, index, &saved) != 0)
            return -1;
        rc = walk_listed(walk, item, kinds);
        pop(walk, saved);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool is_list_key(const char *key)
{
    return strcmp(key, "tools") == 0 || strcmp(key, "prompts") == 0 || strcmp(key, "resources") == 0 ||
           strcmp(key, "resourceTemplates") == 0;
}

static int walk_result(walk_t *walk, json_t *result, unsigned kinds)
{
    const char *key;
    json_t *member;
    bool listing = false;
    int rc;
    (void)kinds;
    if (!json_is_object(result))
        return walk_data(walk, result, MG_GUARD_SECRETS | MG_GUARD_PII | MG_GUARD_INJECTION);
    /* one pass over the members (a hash lookup per possible list key costs more than the whole walk of a
     * small result) */
    json_object_foreach(result, key, member)
    {
        if ((json_is_array(member) && is_list_key(key)) ||
            (json_is_string(member) && strcmp(key, "instructions") == 0)) {
            listing = true;
            break;
        }
    }
    if (!listing)
        return walk_data(walk, result, MG_GUARD_SECRETS | MG_GUARD_PII | MG_GUARD_INJECTION);
    json_object_foreach(result, key, member)
    {
        if (json_is_array(member) && is_list_key(key))
            rc = walk_member(walk, result, key, walk_list, MG_GUARD_POISONING);
        else if (json_is_string(member) && strcmp(key, "instructions") == 0)
            rc = walk_member(walk, result, key, walk_data, MG_GUARD_POISONING);
        else
            continue;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A request's strings: tools/call and prompts/get `params.arguments`, anything else its `params`. */
static int walk_request(walk_t *walk, const char *method, json_t *params)
{
    walk->request = true;
    unsigned kinds = MG_GUARD_SECRETS | MG_GUARD_PII;
    if ((strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0) && json_is_object(params)) {
        size_t outer;
        if (push(walk, "params", &outer) != 0)
            return -1;
        int rc = walk_member(walk, params, "arguments", walk_data, kinds);
        pop(walk, outer);
        return rc;
    }
    if (params == NULL)
        return 0;
    size_t outer;
    if (push(walk, "params", &outer) != 0)
        return -1;
    int rc = walk_data(walk, params, kinds);
    pop(walk, outer);
    return rc;
}

static int walk_begin(walk_t *walk)
{
    size_t saved;
    int rc = push(walk, "", &saved);
    pop(walk, 0);
    return rc;
}

int mg_guard_request_walk(const char *method, json_t *params, mg_guard_message_visit_t visit_fn, void *context,
                          mg_error_t *err)
{
    walk_t walk = {.visit = visit_fn, .context = context, .err = err};
    int rc = walk_begin(&walk);
    if (rc == 0)
        rc = walk_request(&walk, method, params);
    free(walk.pointer);
    return rc;
}

int mg_guard_definition_walk(json_t *definition, mg_guard_message_visit_t visit_fn, void *context, mg_error_t *err)
{
    walk_t walk = {.visit = visit_fn, .context = context, .err = err};
    int rc = walk_begin(&walk);
    if (rc == 0)
        rc = json_is_string(definition) ? visit(&walk, json_string_value(definition), json_string_length(definition),
                                                definition, MG_GUARD_POISONING)
                                        : walk_listed(&walk, definition, MG_GUARD_POISONING);
    free(walk.pointer);
    return rc;
}

int mg_guard_server_message_walk(json_t *message, mg_guard_message_visit_t visit_fn, void *context, mg_error_t *err)
{
    walk_t walk = {.visit = visit_fn, .context = context, .err = err};
    int rc = walk_begin(&walk);
    json_t *params = json_object_get(message, "params");
    if (rc == 0 && params != NULL) {
        size_t outer;
        rc = push(&walk, "params", &outer);
        if (rc == 0) {
            rc = walk_data(&walk, params, MG_GUARD_SECRETS | MG_GUARD_PII | MG_GUARD_INJECTION);
            pop(&walk, outer);
        }
    }
    free(walk.pointer);
    return rc;
}

int mg_guard_message_walk(json_t *message, mg_guard_message_visit_t visit_fn, void *context, mg_error_t *err)
{
    if (!json_is_object(message))
        return mg_error_set(err, "not a JSON-RPC message: not an object");
    walk_t walk = {.visit = visit_fn, .context = context, .err = err};
    int rc = walk_begin(&walk);
    if (rc != 0)
        return -1;
    json_t *method = json_object_get(message, "method");
    if (json_is_string(method)) {
        rc = walk_request(&walk, json_string_value(method), json_object_get(message, "params"));
    } else if (json_object_get(message, "result") != NULL) {
        rc = walk_member(&walk, message, "result", walk_result, 0);
    } else if (json_is_object(json_object_get(message, "error"))) {
        size_t outer;
        if (push(&walk, "error", &outer) != 0)
            goto oom;
        json_t *error = json_object_get(message, "error");
        unsigned kinds = MG_GUARD_SECRETS | MG_GUARD_PII | MG_GUARD_INJECTION;
        rc = walk_member(&walk, error, "message", walk_data, kinds);
        if (rc == 0)
            rc = walk_member(&walk, error, "data", walk_data, kinds);
        pop(&walk, outer);
    } else {
        free(walk.pointer);
        return mg_error_set(err, "not a JSON-RPC message: no method, result or error");
    }
    free(walk.pointer);
    return rc;
oom:
    free(walk.pointer);
    return -1;
}
