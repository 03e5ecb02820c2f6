/*
 * modern.c - talking to 2026-07-28 servers: the era verdict and the request shape (see modern.h).
 *
 * The gateway keeps one legacy-shaped picture of every server (initialize_result) so that
 * the dispatcher's capability checks need not know the era; a modern server's picture is
 * made from its DiscoverResult. Requests go the other way: the dispatcher hands over a
 * legacy-shaped request and this module adds what a modern server requires of every
 * request (basic/index.mdx, "_meta"; streamable-http.mdx, "Request Metadata").
 */
#include "upstream/modern.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mirror.h"
#include "mcp/modern.h"
#include "mcp/versions.h"
#include "mcpgate_version.h"
#include "obs/log.h"

static json_t *client_info(void)
{
    return json_pack("{s:s, s:s}", "name", "mcpgate", "version", MCPGATE_VERSION);
}

json_t *mg_upstream_modern_discover_request(const char *id)
{
    json_t *request = json_pack("{s:s, s:s, s:s, s:{s:{s:s, s:{}, s:o}}}", "jsonrpc", "2.0", "id", id, "method",
                                MG_UPSTREAM_DISCOVER_METHOD, "params", "_meta", MG_META_PROTOCOL_VERSION,
                                MG_VERSION_MODERN, MG_META_CLIENT_CAPABILITIES, MG_META_CLIENT_INFO, client_info());
    return request;
}

static bool lists_version(const json_t *versions, const char *wanted)
{
    size_t index;
    json_t *version;
    json_array_foreach(versions, index, version)
    {
        if (json_is_string(version) && strcmp(json_string_value(version), wanted) == 0)
            return true;
    }
    return false;
}

/* Writes the first few entries of a version list, for a log line. */
static void describe_versions(const json_t *versions, char *out, size_t out_len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(versions) && i < 8 && used < out_len; i++) {
        const char *version = json_string_value(json_array_get(versions, i));
        int n = snprintf(out + used, out_len - used, "%s%.32s", i == 0 ? "" : ", ", version != NULL ? version : "?");
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

mg_upstream_discover_verdict_t mg_upstream_modern_judge(const json_t *response, char *why, size_t why_len)
{
    char versions[200];
    const json_t *result = json_object_get(response, "result");
    if (json_is_object(result)) {
        /* only a DiscoverResult counts: a lax legacy server may answer anything with {} */
        const json_t *supported = json_object_get(result, "supportedVersions");
        if (!json_is_array(supported))
            return MG_UPSTREAM_DISCOVER_LEGACY;
        if (lists_version(supported, MG_VERSION_MODERN))
            return MG_UPSTREAM_DISCOVER_MODERN;
        describe_versions(supported, versions, sizeof(versions));
        snprintf(why, why_len, "it speaks only %s", versions);
        return MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE;
    }
    const json_t *error = json_object_get(response, "error");
    const json_t *code = json_object_get(error, "code");
    if (!json_is_integer(code))
        return MG_UPSTREAM_DISCOVER_LEGACY;
    const char *message = json_string_value(json_object_get(error, "message"));
    switch (json_integer_value(code)) {
    case MG_RPC_UNSUPPORTED_VERSION: {
        /* the data.supported list is what makes -32022 a modern error and not a legacy server's own code */
        const json_t *supported = json_object_get(json_object_get(error, "data"), "supported");
        if (!json_is_array(supported))
            return MG_UPSTREAM_DISCOVER_LEGACY;
        describe_versions(supported, versions, sizeof(versions));
        snprintf(why, why_len, "it does not support %s (it supports %s)", MG_VERSION_MODERN, versions);
        return MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE;
    }
    case MG_RPC_HEADER_MISMATCH:
    case MG_RPC_MISSING_CLIENT_CAPABILITY:
        snprintf(why, why_len, "it refused server/discover: %.150s (%d)", message != NULL ? message : "no message",
                 (int)json_integer_value(code));
        return MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE;
    default:
        return MG_UPSTREAM_DISCOVER_LEGACY;
    }
}

json_t *mg_upstream_modern_initialize_result(const json_t *discover_result, const char *server_name)
{
    const json_t *capabilities = json_object_get(discover_result, "capabilities");
    const json_t *server_info = json_object_get(json_object_get(discover_result, "_meta"), MG_META_SERVER_INFO);
    const json_t *instructions = json_object_get(discover_result, "instructions");
    /* deep copies: the picture outlives the DiscoverResult and may be posted to other threads */
    json_t *result = json_object();
    if (result == NULL || json_object_set_new(result, "protocolVersion", json_string(MG_VERSION_MODERN)) != 0 ||
        json_object_set_new(result, "capabilities",
                            json_is_object(capabilities) ? json_deep_copy(capabilities) : json_object()) != 0 ||
        json_object_set_new(result, "serverInfo",
                            json_is_object(server_info)
                                ? json_deep_copy(server_info)
                                : json_pack("{s:s, s:s}", "name", server_name, "version", "")) != 0 ||
        (json_is_string(instructions) &&
         json_object_set_new(result, "instructions", json_deep_copy(instructions)) != 0)) {
        json_decref(result);
        return NULL;
    }
    return result;
}

int mg_upstream_modern_set_meta(json_t *request, const json_t *client_capabilities, const char *log_level)
{
    json_t *params = json_object_get(request, "params");
    if (params == NULL) {
        params = json_object();
        if (json_object_set_new(request, "params", params) != 0)
            return -1;
    }
    if (!json_is_object(params))
        return -1;
    json_t *meta = json_object_get(params, "_meta");
    if (meta == NULL) {
        meta = json_object();
        if (json_object_set_new(params, "_meta", meta) != 0)
            return -1;
    }
    if (!json_is_object(meta))
        return -1;
    json_t *capabilities = client_capabilities != NULL ? json_deep_copy(client_capabilities) : json_object();
    if (json_object_set_new(meta, MG_META_PROTOCOL_VERSION, json_string(MG_VERSION_MODERN)) != 0 ||
        json_object_set_new(meta, MG_META_CLIENT_CAPABILITIES, capabilities) != 0 ||
        json_object_set_new(meta, MG_META_CLIENT_INFO, client_info()) != 0 ||
        (log_level != NULL && json_object_set_new(meta, MG_META_LOG_LEVEL, json_string(log_level)) != 0))
        return -1;
    if (log_level == NULL)
        json_object_del(meta, MG_META_LOG_LEVEL);
    return 0;
}

/* ---- mirrored headers ---------------------------------------------------------------------- */

static void append_header(mg_bytes_t *out, const char *name, const char *value)
{
    mg_bytes_append(out, name, strlen(name));
    mg_bytes_append(out, ": ", 2);
    mg_bytes_append(out, value, strlen(value));
    mg_bytes_append(out, "\r\n", 2);
}

static void emit_param_header(void *ctx, const char *name, const char *value)
{
    append_header(ctx, name, value);
}

int mg_upstream_modern_headers(const json_t *request, const json_t *tools, mg_mirror_schemas_t *known_schemas,
                               const char *server_name, mg_bytes_t *out, char *why, size_t why_len)
{
    const char *method = json_string_value(json_object_get(request, "method"));
    if (method == NULL || method[0] == '\0') {
        snprintf(why, why_len, "the request has no method");
        return -1;
    }
    for (const char *p = method; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            snprintf(why, why_len, "the method name cannot be sent in Mcp-Method");
            return -1;
        }
    }
    append_header(out, "Mcp-Method", method);

    const json_t *params = json_object_get(request, "params");
    bool is_tool_call = strcmp(method, "tools/call") == 0;
    bool required; /* the gateway always sends it, the extension's too */
    const char *key = mg_mirror_name_field(method, &required);
    if (key == NULL)
        return 0;
    const json_t *name = json_object_get(params, key);
    if (!json_is_string(name)) {
        snprintf(why, why_len, "%s has no params.%s", method, key);
        return -1;
    }
    char *value = mg_mirror_encode(json_string_value(name), json_string_length(name));
    if (value == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    append_header(out, "Mcp-Name", value);
    free(value);

    /* Mcp-Param-*: only as far as the tool is known; the dispatcher lists tools before calling them */
    const json_t *tool = is_tool_call ? json_object_get(tools, json_string_value(name)) : NULL;
    const json_t *input_schema = json_object_get(tool, "inputSchema");
    const json_t *arguments = json_object_get(params, "arguments");
    if (input_schema == NULL || !json_is_object(arguments))
        return 0;
    mg_bytes_t param_headers = {0}; /* all or none: a half set would only confuse the server's check */
    char param_why[200];
    if (mg_mirror_param_headers(input_schema, known_schemas, arguments, emit_param_header, &param_headers, param_why,
                                sizeof(param_why)) != 0) {
        mg_log(MG_LOG_WARN, "upstream.param_headers", "upstream %s, tool %.100s: Mcp-Param headers left out: %s",
               server_name, json_string_value(name), param_why);
    } else if (param_headers.len != 0) {
        mg_bytes_append(out, param_headers.base, param_headers.len);
    }
    mg_bytes_dispose(&param_headers);
    return 0;
}

/* ---- logs ------------------------------------------------------------------------------------ */

const char *mg_upstream_era_name(mg_upstream_era_t era)
{
    switch (era) {
    case MG_UPSTREAM_ERA_LEGACY:
        return "legacy";
    case MG_UPSTREAM_ERA_MODERN:
        return "modern";
    default:
        return "unknown";
    }
}

void mg_upstream_modern_log_era(const char *server_name, mg_upstream_era_t era, const char *how)
{
    mg_log_fields(MG_LOG_INFO, "upstream.era",
                  json_pack("{s:s, s:s}", "server", server_name, "era", mg_upstream_era_name(era)),
                  "upstream %s speaks the %s era (%s)", server_name, mg_upstream_era_name(era), how);
}
