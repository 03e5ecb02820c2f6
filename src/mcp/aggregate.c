/* aggregate.c - see aggregate.h. */
#include "mcp/aggregate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"
#include "guard/pins.h"
#include "mcp/authorize.h"
#include "mcp/naming.h"
#include "mcp/tasks.h"
#include "mcp/validate.h"
#include "mcpgate_version.h"

const char *mg_aggregate_list_key(const char *method)
{
    if (strcmp(method, "tools/list") == 0)
        return "tools";
    if (strcmp(method, "prompts/list") == 0)
        return "prompts";
    if (strcmp(method, "resources/templates/list") == 0)
        return "resourceTemplates";
    return "resources";
}

static void prefix_member(const mg_config_t *config, size_t server_index, json_t *object, const char *key, bool is_uri)
{
    const char *value = json_string_value(json_object_get(object, key));
    if (value == NULL)
        return;
    char *renamed =
        is_uri ? mg_naming_join_uri(config, server_index, value) : mg_naming_join_name(config, server_index, value);
    if (renamed != NULL)
        json_object_set_new(object, key, json_string(renamed));
    free(renamed);
}

json_t *mg_aggregate_merge_lists(const mg_config_t *config, long scope, const char *method, mg_exchange_part_t *parts,
                                 size_t parts_len)
{
    const char *key = mg_aggregate_list_key(method);
    const char *item_key = strcmp(key, "resourceTemplates") == 0 ? "uriTemplate"
                           : strcmp(key, "resources") == 0       ? "uri"
                                                                 : "name";
    bool is_uri = strcmp(item_key, "name") != 0;
    json_t *items = json_array();
    json_t *cursors = json_object();
    /* parts were started in configuration order, so appending in part order keeps the list deterministic */
    for (size_t i = 0; i < parts_len; i++) {
        json_t *item;
        size_t index;
        json_array_foreach(parts[i].collected, index, item)
        {
            json_t *copy = json_deep_copy(item);
            if (scope < 0)
                prefix_member(config, parts[i].server_index, copy, item_key, is_uri);
            json_array_append_new(items, copy);
        }
        if (parts[i].cursor != NULL) {
            char server[24];
            snprintf(server, sizeof(server), "%zu", parts[i].server_index);
            json_object_set_new(cursors, server, json_string(parts[i].cursor));
        }
    }
    json_t *result = json_object();
    json_object_set_new(result, key, items);
    if (scope >= 0 && parts_len == 1 && parts[0].cursor != NULL) {
        json_object_set_new(result, "nextCursor", json_string(parts[0].cursor));
    } else if (scope < 0 && json_object_size(cursors) > 0) {
        char *cursor = mg_aggregate_encode_cursor(cursors);
        if (cursor != NULL)
            json_object_set_new(result, "nextCursor", json_string(cursor));
        free(cursor);
    }
    json_decref(cursors);
    return result;
}

/* content items of type resource_link carry "uri"; embedded resources carry "resource.uri" */
static void rewrite_content(const mg_config_t *config, size_t server_index, json_t *content)
{
    json_t *item;
    size_t index;
    json_array_foreach(content, index, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type == NULL)
            continue;
        if (strcmp(type, "resource_link") == 0)
            prefix_member(config, server_index, item, "uri", true);
        else if (strcmp(type, "resource") == 0)
            prefix_member(config, server_index, json_object_get(item, "resource"), "uri", true);
    }
}

void mg_aggregate_rewrite_result(const mg_config_t *config, size_t server_index, const char *method, json_t *response)
{
    json_t *result = json_object_get(response, "result");
    if (result == NULL)
        return;
    if (strcmp(method, "tools/call") == 0) {
        rewrite_content(config, server_index, json_object_get(result, "content"));
    } else if (strcmp(method, "resources/read") == 0) {
        json_t *item;
        size_t index;
        json_array_foreach(json_object_get(result, "contents"), index, item)
        {
            prefix_member(config, server_index, item, "uri", true);
        }
    } else if (strcmp(method, "prompts/get") == 0) {
        json_t *message;
        size_t index;
        json_array_foreach(json_object_get(result, "messages"), index, message)
        {
            json_t *content = json_object_get(message, "content");
            json_t *wrapper = json_array();
            json_array_append(wrapper, content);
            rewrite_content(config, server_index, wrapper);
            json_decref(wrapper);
        }
    }
}

void mg_aggregate_rewrite_notification(const mg_config_t *config, size_t server_index, json_t *notification)
{
    const char *method = json_string_value(json_object_get(notification, "method"));
    if (method != NULL && strcmp(method, "notifications/resources/updated") == 0)
        prefix_member(config, server_index, json_object_get(notification, "params"), "uri", true);
}

static json_t *merged_capabilities(mg_exchange_t *exchange)
{
    json_t *capabilities = json_object();
    for (size_t i = 0; i < exchange->config->servers_len; i++) {
        const json_t *result = exchange->worker->upstreams[i]->initialize_result;
        json_t *upstream = json_object_get(result, "capabilities");
        if (json_object_get(upstream, "tools") != NULL && mg_authorize_uses(exchange, i, "tools"))
            json_object_set_new(capabilities, "tools", json_pack("{s:b}", "listChanged", 1));
        if (json_object_get(upstream, "prompts") != NULL && mg_authorize_uses(exchange, i, "prompts"))
            json_object_set_new(capabilities, "prompts", json_pack("{s:b}", "listChanged", 1));
        if (json_object_get(upstream, "resources") != NULL && mg_authorize_uses(exchange, i, "resources"))
            json_object_set_new(capabilities, "resources", json_pack("{s:b,s:b}", "subscribe", 1, "listChanged", 1));
        if (json_object_get(upstream, "logging") != NULL)
            json_object_set_new(capabilities, "logging", json_object());
        if (json_object_get(upstream, "completions") != NULL && mg_authorize_uses(exchange, i, "completions"))
            json_object_set_new(capabilities, "completions", json_object());
        /* tasks: the gateway routes them by handle, for clients of the era that has the extension */
        if (exchange->modern && json_object_get(json_object_get(upstream, "extensions"), MG_TASKS_EXTENSION) != NULL)
            json_object_set_new(capabilities, "extensions", json_pack("{s:{}}", MG_TASKS_EXTENSION));
    }
    return capabilities;
}

json_t *mg_aggregate_initialize_result(mg_exchange_t *exchange)
{
    json_t *result = json_object();
    json_object_set_new(result, "protocolVersion", json_string(exchange->claims.protocol_version));
    if (exchange->scope >= 0) {
        /* one server: present it as it is, so the gateway is transparent */
        const json_t *upstream = NULL;
        for (size_t i = 0; i < exchange->parts_len; i++) {
            if (exchange->parts[i].collected != NULL)
                upstream = exchange->parts[i].collected;
        }
        if (upstream == NULL)
            upstream = exchange->worker->upstreams[exchange->scope]->initialize_result;
        json_t *capabilities = json_object_get(upstream, "capabilities");
        capabilities = capabilities != NULL ? json_deep_copy(capabilities) : json_object();
        static const char *const usable[] = {"tools", "prompts", "resources", "completions"};
        for (size_t i = 0; i < sizeof(usable) / sizeof(usable[0]); i++) {
            if (!mg_authorize_uses(exchange, (size_t)exchange->scope, usable[i]))
                json_object_del(capabilities, usable[i]); /* nothing there the caller may use */
        }
        json_object_set_new(result, "capabilities", capabilities);
        json_t *server_info = json_object_get(upstream, "serverInfo");
        json_object_set_new(result, "serverInfo",
                            server_info != NULL
                                ? json_deep_copy(server_info)
                                : json_pack("{s:s,s:s}", "name", "mcpgate", "version", MCPGATE_VERSION));
        json_t *instructions = json_object_get(upstream, "instructions");
        if (json_is_string(instructions) && !exchange->worker->upstreams[exchange->scope]->instructions_held)
            json_object_set(result, "instructions", instructions);
        return result;
    }
    json_object_set_new(result, "capabilities", merged_capabilities(exchange));
    json_object_set_new(result, "serverInfo", json_pack("{s:s,s:s}", "name", "mcpgate", "version", MCPGATE_VERSION));
    char instructions[512];
    snprintf(instructions, sizeof(instructions),
             "mcpgate aggregates several MCP servers. Tools and prompts are named <server>%s<name>; resource URIs "
             "are <server>+<uri>.",
             exchange->config->tool_separator);
    json_object_set_new(result, "instructions", json_string(instructions));
    return result;
}

char *mg_aggregate_encode_cursor(json_t *cursors)
{
    size_t len;
    char *text = mg_json_write_text(cursors, JSON_COMPACT | JSON_SORT_KEYS, &len);
    if (text == NULL)
        return NULL;
    size_t out_len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(out_len);
    if (out != NULL)
        sodium_bin2base64(out, out_len, (const unsigned char *)text, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(text);
    return out;
}

json_t *mg_aggregate_decode_cursor(const char *cursor)
{
    size_t len = strlen(cursor);
    if (len == 0 || len > 16384)
        return NULL;
    unsigned char *bin = malloc(len);
    size_t bin_len;
    json_t *cursors = NULL;
    if (bin != NULL &&
        sodium_base642bin(bin, len, cursor, len, NULL, &bin_len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0) {
        cursors = json_loadb((const char *)bin, bin_len, JSON_REJECT_DUPLICATES, NULL);
        const char *key;
        json_t *value;
        json_object_foreach(cursors, key, value)
        {
            if (!json_is_string(value) || strspn(key, "0123456789") != strlen(key)) {
                json_decref(cursors);
                cursors = NULL;
                break;
            }
        }
        if (cursors != NULL && !json_is_object(cursors)) {
            json_decref(cursors);
            cursors = NULL;
        }
    }
    free(bin);
    return cursors;
}

void mg_aggregate_observe(mg_worker_t *worker, size_t server_index, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    mg_upstream_t *upstream = worker->upstreams[server_index];
    if (method != NULL && strcmp(method, "notifications/tools/list_changed") == 0 && upstream->tools != NULL) {
        json_decref(upstream->tools);
        upstream->tools = NULL;
        json_decref(upstream->held_tools);
        upstream->held_tools = NULL;
        mg_mirror_schemas_clear(&upstream->tool_schemas);
        mg_validate_catalog_changed(worker, server_index);
    }
}

void mg_aggregate_remember_tools(mg_worker_t *worker, size_t server_index, const json_t *tools)
{
    mg_upstream_t *upstream = worker->upstreams[server_index];
    json_t *names = json_object();
    json_t *tool;
    size_t index;
    json_array_foreach(tools, index, tool)
    {
        const char *name = json_string_value(json_object_get(tool, "name"));
        if (name != NULL)
            json_object_set(names, name, tool);
    }
    json_decref(upstream->tools);
    upstream->tools = names;
    mg_pins_judge_catalog(worker, server_index); /* verdicts kept beside the catalog: a call only looks them up */
    mg_mirror_schemas_clear(&upstream->tool_schemas);
    mg_validate_catalog_changed(worker, server_index);
}
