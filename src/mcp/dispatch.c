/*
 * dispatch.c - what each client message means to the gateway (legacy era).
 *
 * Three shapes of work:
 *   - answered here: initialize (negotiated with the client; each HTTP upstream gets its
 *     own session for this client), ping, notifications the gateway consumes;
 *   - routed: tools/call, prompts/get, resources/read|subscribe|unsubscribe,
 *     completion/complete go to the one server a public name or URI designates;
 *   - fanned out: the four list methods and logging/setLevel go to every server in
 *     scope that advertises the capability; one failing server is left out of the
 *     answer (and logged) instead of failing the aggregate.
 * On /servers/<name>/mcp (scope >= 0) nothing is renamed and unknown methods pass
 * through; on /mcp names and URIs are rewritten by naming.h's scheme.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/principal.h"
#include "guard/approvals.h"
#include "guard/pins.h"
#include "mcp/aggregate.h"
#include "mcp/asked.h"
#include "mcp/authorize.h"
#include "mcp/exchange.h"
#include "mcp/inspect.h"
#include "mcp/limit_stage.h"
#include "mcp/webhook_stage.h"
#include "mcp/mirror.h"
#include "mcp/modern.h"
#include "mcp/mrtr.h"
#include "mcp/naming.h"
#include "mcp/tasks.h"
#include "mcp/validate.h"
#include "mcp/versions.h"
#include "obs/log.h"

#define MAX_PAGES_PER_SERVER 50

static bool server_in_scope(const mg_exchange_t *exchange, size_t index)
{
    return exchange->scope < 0 || (size_t)exchange->scope == index;
}

static bool server_usable(const mg_exchange_t *exchange, size_t index)
{
    mg_upstream_t *upstream = exchange->worker->upstreams[index];
    return upstream->ops->ready(upstream);
}

/* Does the server advertise `capability` ("tools", "prompts", "resources", "logging", "completions")? */
static bool server_has(const mg_exchange_t *exchange, size_t index, const char *capability)
{
    const json_t *result = exchange->worker->upstreams[index]->initialize_result;
    if (result == NULL)
        return false;
    return json_object_get(json_object_get(result, "capabilities"), capability) != NULL;
}

/* The upstream's copy of the client's request. A modern request loses its era-specific members
 * here; the upstream transport adds what its server's era needs. */
static json_t *copy_request_with(const mg_exchange_t *exchange, json_t *params /* stolen */)
{
    /* params made from the client's, whose _meta the decoder recorded (so it held no key from outside
     * io.modelcontextprotocol/) and which had no requestState or inputResponses: nothing to take out */
    const mg_rpc_meta_t *recorded = exchange->message.meta;
    bool as_they_are = recorded != NULL && !recorded->mrtr_members && !exchange->resumed &&
                       strcmp(exchange->message.method, "tasks/update") != 0;
    if (exchange->modern && params != NULL && !as_they_are) {
        json_t *legacy = mg_modern_legacy_params(params, exchange->meta_object, exchange->meta_position);
        bool tasks_update = strcmp(exchange->message.method, "tasks/update") == 0;
        if ((tasks_update || exchange->resumed) && legacy == params) { /* changed below: not the client's own */
            json_decref(legacy);
            legacy = json_copy(params);
        }
        if (tasks_update) /* a task's answers, not an MRTR retry's */
            json_object_set(legacy, "inputResponses", json_object_get(params, "inputResponses"));
        if (exchange->resumed) { /* a retry for a modern server: its answers and its own state go back to it */
            json_t *responses = json_object_get(params, "inputResponses");
            if (responses != NULL)
                json_object_set(legacy, "inputResponses", responses);
            if (exchange->upstream_state != NULL)
                json_object_set(legacy, "requestState", exchange->upstream_state);
        }
        json_decref(params);
        params = legacy;
    }
    return mg_rpc_make_request(exchange->message.id, exchange->message.method, params);
}

/* A modern server's InputRequiredResult, for a modern client: its requestState goes inside the
 * gateway's own, bound to the caller, the request and the server, with the caller's user's approval
 * the call went on with, if any (guard/approvals.h), so that the retry is not asked again. */
static void wrap_request_state(mg_exchange_t *exchange, size_t server_index, json_t *result)
{
    mg_mrtr_request_t request = {exchange->claims.principal, exchange->message.method,
                                 mg_mrtr_target(exchange->message.params)};
    const mg_mrtr_state_t *approved = exchange->approval_state;
    char *state = mg_mrtr_seal_wrap_approved(
        &exchange->worker->gateway->session_key, &request, exchange->config->servers[server_index].name,
        json_object_get(result, "requestState"), approved != NULL && !approved->expired ? &approved->approval : NULL,
        (int64_t)time(NULL));
    if (state != NULL)
        json_object_set_new(result, "requestState", json_string(state));
    else
        json_object_del(result, "requestState");
    free(state);
}

/* A Task a modern server answered with (CreateTaskResult, or tasks/get's DetailedTask): the client sees
 * the gateway's handle instead of the server's taskId. `result` is the caller's own copy. Returns 0, or
 * -1 when no handle could be made (the server's id is not a string or far too long). */
static int hand_out_task(mg_exchange_t *exchange, size_t server_index, json_t *result)
{
    json_t *task_id = json_object_get(result, "taskId");
    if (task_id == NULL)
        return 0; /* tasks/update and tasks/cancel acknowledge with an empty result */
    if (mg_tasks_is_task_method(exchange->message.method)) {
        /* the handle the client asked about, exactly: clients compare taskIds (a new seal would differ) */
        json_object_set(result, "taskId", json_object_get(exchange->message.params, "taskId"));
    } else {
        char *handle = mg_tasks_seal(&exchange->worker->gateway->session_key, exchange->claims.principal,
                                     exchange->config->servers[server_index].name, task_id);
        if (handle == NULL)
            return -1;
        json_object_set_new(result, "taskId", json_string(handle));
        free(handle);
    }
    json_t *inner = json_object_get(result, "result"); /* a completed task: what tools/call would have returned */
    if (exchange->scope < 0 && json_is_object(inner)) {
        json_t *wrapper = json_pack("{s:O}", "result", inner);
        mg_aggregate_rewrite_result(exchange->config, server_index, "tools/call", wrapper);
        json_decref(wrapper);
    }
    return 0;
}

/* ---- routed calls ---------------------------------------------------------------- */

static void routed_answer(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response)
{
    json_t *result = json_object_get(response, "result");
    const char *result_type = json_string_value(json_object_get(result, "resultType"));
    bool asks = result_type != NULL && strcmp(result_type, "input_required") == 0;
    bool has_task = json_is_object(result) && ((result_type != NULL && strcmp(result_type, "task") == 0) ||
                                               mg_tasks_is_task_method(exchange->message.method));
    if (exchange->scope >= 0 && !asks && !has_task) {
        mg_exchange_finish_reply(exchange, response); /* one server, a plain answer: only the id changes */
        return;
    }
    /* one server: only the id changes, so a shallow copy does; /mcp rewrites URIs deep inside */
    json_t *out = exchange->scope < 0 ? json_deep_copy(response) : json_copy(response);
    json_object_set(out, "id", exchange->message.id);
    if (exchange->scope < 0)
        mg_aggregate_rewrite_result(exchange->config, part->server_index, exchange->message.method, out);
    result = json_object_get(out, "result");
    result_type = json_string_value(json_object_get(result, "resultType"));
    if (!exchange->modern && result_type != NULL && strcmp(result_type, "input_required") == 0) {
        /* a modern server asks a legacy client: its questions become server-to-client requests */
        mg_exchange_ask(exchange, part, result);
        json_decref(out);
        return;
    }
    if (exchange->modern && result_type != NULL && strcmp(result_type, "input_required") == 0) {
        json_t *copy = json_copy(result);
        json_object_set_new(out, "result", copy); /* frees `result` when `out` was a deep copy */
        result = copy;
        wrap_request_state(exchange, part->server_index, copy);
    }
    bool is_task = result_type != NULL && strcmp(result_type, "task") == 0;
    if (json_is_object(result) && (is_task || mg_tasks_is_task_method(exchange->message.method))) {
        json_t *copy = json_copy(result);
        json_object_set_new(out, "result", copy);
        const char *refusal = !exchange->modern ? "the server answered with a task, which this client cannot poll"
                              : hand_out_task(exchange, part->server_index, copy) != 0
                                  ? "the server answered with an unusable taskId"
                                  : NULL;
        if (refusal != NULL) {
            mg_log_as(MG_LOG_WARN, "tasks.refused", exchange->principal->name, "%s: %s",
                      exchange->config->servers[part->server_index].name, refusal);
            mg_exchange_finish_error(exchange, MG_RPC_UPSTREAM_ERROR, refusal, NULL);
            json_decref(out);
            return;
        }
    }
    mg_exchange_finish(exchange, out);
    json_decref(out);
}

static void routed_done(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                        const char *error_message)
{
    if (response == NULL) {
        mg_exchange_finish_error(exchange, error_code, error_message, NULL);
        return;
    }
    exchange->outcome.upstream_answered = true;
    if (exchange->output_schema != NULL && !mg_validate_result(exchange, part->server_index, response))
        return; /* withheld: it breaks the tool's outputSchema */
    bool owned;
    json_t *answer = mg_inspect_response(exchange, part->server_index, response, &owned);
    if (answer == NULL)
        return; /* blocked by a guard */
    if (mg_webhook_answer_stage(exchange, part, answer, routed_answer) == MG_STAGE_GO)
        routed_answer(exchange, part, answer);
    if (owned)
        json_decref(answer);
}

static void send_routed(mg_exchange_t *exchange)
{
    json_t *params = exchange->forward.params;
    exchange->forward.params = NULL;
    json_t *request = copy_request_with(exchange, params);
    const char *error_message = NULL;
    mg_exchange_part_t *part =
        mg_exchange_call(exchange, exchange->forward.server_index, request, routed_done, &error_message);
    if (part == NULL)
        mg_exchange_finish_error(exchange, MG_RPC_UPSTREAM_ERROR, error_message, NULL);
    else
        part->request = json_incref(request); /* kept: a legacy client's MRTR retry re-sends it */
    json_decref(request);
}

/* Runs the forward stages from the one the request has reached; each passes or keeps the request. */
static void run_forward_stages(mg_exchange_t *exchange)
{
    for (;;) {
        mg_stage_t verdict = MG_STAGE_GO;
        switch (exchange->forward.next++) {
        case MG_FORWARD_INSPECT:
            verdict = mg_inspect_request(exchange, exchange->forward.server_index, exchange->forward.params);
            break;
        case MG_FORWARD_WEBHOOK:
            verdict = mg_webhook_stage(exchange, exchange->forward.server_index, exchange->forward.params);
            break;
        case MG_FORWARD_APPROVE:
            verdict = mg_approval_stage(exchange, exchange->forward.server_index, exchange->forward.params);
            break;
        case MG_FORWARD_SEND:
            send_routed(exchange);
            return;
        }
        if (verdict != MG_STAGE_GO)
            return;
    }
}

void mg_dispatch_forward_resume(mg_exchange_t *exchange)
{
    assert(exchange->wait.cancel == NULL);
    run_forward_stages(exchange);
}

/* Sends `params` to the server once the forward stages let it go. */
static void route_to(mg_exchange_t *exchange, size_t server_index, json_t *params /* stolen */)
{
    exchange->forward.server_index = server_index;
    exchange->forward.params = params;
    exchange->forward.next = MG_FORWARD_INSPECT;
    run_forward_stages(exchange);
}

/* The answer to a name or URI that names nothing the caller may use: the same whether it exists or not. */
static void finish_unknown(mg_exchange_t *exchange, const char *public_name, bool is_uri, int unknown_code,
                           const char *unknown_what)
{
    char message[512];
    snprintf(message, sizeof(message), "%s: %.400s", unknown_what, public_name);
    json_t *data = is_uri ? json_pack("{s:s}", "uri", public_name) : NULL;
    mg_exchange_finish_error(exchange, unknown_code, message, data);
}

/* Routes by a public name (prompts/get) or URI (resources/...), rewriting it to the local one. */
static void route_by_key(mg_exchange_t *exchange, const char *key, bool is_uri, int unknown_code,
                         const char *unknown_what)
{
    json_t *params = exchange->message.params;
    const char *public_name = json_string_value(json_object_get(params, key));
    if (public_name == NULL) {
        char message[128];
        snprintf(message, sizeof(message), "params.%s must be a string", key);
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, message, NULL);
        return;
    }
    size_t server_index = exchange->scope >= 0 ? (size_t)exchange->scope : 0;
    const char *local = public_name;
    if (exchange->scope < 0 &&
        (is_uri ? mg_naming_split_uri(exchange->config, public_name, &server_index, &local)
                : mg_naming_split_name(exchange->config, public_name, &server_index, &local)) != 0) {
        finish_unknown(exchange, public_name, is_uri, unknown_code, unknown_what);
        return;
    }
    switch (mg_authorize_item(exchange, is_uri ? MG_POLICY_RESOURCE : MG_POLICY_PROMPT, server_index, local, NULL)) {
    case MG_AUTHORIZE_GO:
        break;
    case MG_AUTHORIZE_HIDDEN:
        finish_unknown(exchange, public_name, is_uri, unknown_code, unknown_what);
        return;
    case MG_AUTHORIZE_ANSWERED:
        return;
    }
    if (!mg_limit_stage_admit(exchange, server_index, is_uri ? MG_CONFIG_RESOURCES : MG_CONFIG_PROMPTS, local))
        return;
    if (exchange->scope >= 0) {
        route_to(exchange, server_index, json_incref(params));
        return;
    }
    json_t *local_params = json_copy(params); /* shallow: only the top-level key changes */
    json_object_set_new(local_params, key, json_string(local));
    route_to(exchange, server_index, local_params);
}

static void route_completion(mg_exchange_t *exchange)
{
    static const char unknown[] = "completion reference names no known prompt or resource";
    json_t *params = exchange->message.params;
    json_t *ref = json_object_get(params, "ref");
    const char *type = json_string_value(json_object_get(ref, "type"));
    if (type == NULL) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "params.ref.type must be a string", NULL);
        return;
    }
    bool is_uri = strcmp(type, "ref/resource") == 0;
    const char *key = is_uri ? "uri" : "name";
    const char *public_name = json_string_value(json_object_get(ref, key));
    size_t server_index = exchange->scope >= 0 ? (size_t)exchange->scope : 0;
    const char *local = public_name;
    if (exchange->scope < 0 &&
        (public_name == NULL ||
         (is_uri ? mg_naming_split_uri(exchange->config, public_name, &server_index, &local)
                 : mg_naming_split_name(exchange->config, public_name, &server_index, &local)) != 0)) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, unknown, NULL);
        return;
    }
    if (exchange->access != NULL) { /* under a policy, a completion is about something the caller may use */
        mg_authorize_t verdict = local == NULL
                                     ? MG_AUTHORIZE_HIDDEN
                                     : mg_authorize_item(exchange, is_uri ? MG_POLICY_RESOURCE : MG_POLICY_PROMPT,
                                                         server_index, local, NULL);
        if (verdict == MG_AUTHORIZE_HIDDEN)
            mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, unknown, NULL);
        if (verdict != MG_AUTHORIZE_GO)
            return;
    }
    if (local != NULL &&
        !mg_limit_stage_admit(exchange, server_index, is_uri ? MG_CONFIG_RESOURCES : MG_CONFIG_PROMPTS, local))
        return;
    if (exchange->scope >= 0) {
        route_to(exchange, server_index, json_incref(params));
        return;
    }
    json_t *local_params = json_deep_copy(params);
    json_object_set_new(json_object_get(local_params, "ref"), key, json_string(local));
    route_to(exchange, server_index, local_params);
}

/* ---- tools/call: unknown tools are refused here, as the spec asks, whatever the server would do ---- */

static void call_checked_tool(mg_exchange_t *exchange, size_t server_index, const char *local_name)
{
    mg_upstream_t *upstream = exchange->worker->upstreams[server_index];
    json_t *tool = json_object_get(upstream->tools, local_name);
    if (tool == NULL) {
        finish_unknown(exchange, json_string_value(exchange->message.name), false, MG_RPC_INVALID_PARAMS,
                       "Unknown tool");
        return;
    }
    exchange->outcome.item_known = true; /* a name from the server's own list */
    if (upstream->held_tools != NULL && mg_pins_refuse_call(exchange, server_index, local_name))
        return; /* quarantined: its definition changed (or was flagged) and awaits an operator */
    if (!mg_limit_stage_admit(exchange, server_index, MG_CONFIG_TOOLS, local_name))
        return; /* limited: counted only once the tool is known to exist */
    char why[512];
    /* the front end checked the other mirrored headers (mirror.checked_root); Mcp-Param-* need the tool */
    assert(!exchange->modern || exchange->mirror.checked_root == exchange->message.root);
    if (exchange->modern &&
        mg_mirror_check_params(&exchange->mirror, exchange->message.params, json_object_get(tool, "inputSchema"),
                               &upstream->tool_schemas, why, sizeof(why)) != 0) {
        mg_exchange_finish_error(exchange, MG_RPC_HEADER_MISMATCH, why, NULL);
        return;
    }
    if (!mg_validate_arguments(exchange, server_index, local_name))
        return; /* refused: the call never leaves the gateway */
    json_t *params = exchange->message.params;
    if (strcmp(json_string_value(exchange->message.name), local_name) == 0) {
        route_to(exchange, server_index, json_incref(params)); /* a server's own path: nothing to rename */
        return;
    }
    json_t *local_params = json_copy(params); /* shallow: only the name changes */
    json_object_set_new(local_params, "name", json_string(local_name));
    route_to(exchange, server_index, local_params);
}

static const char *local_tool_name(mg_exchange_t *exchange, size_t server_index)
{
    const char *public_name = json_string_value(exchange->message.name);
    size_t index;
    const char *local = public_name;
    if (exchange->scope < 0 && mg_naming_split_name(exchange->config, public_name, &index, &local) != 0)
        return NULL;
    (void)server_index;
    return local;
}

static void catalog_part_done(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                              const char *error_message)
{
    json_t *result = response != NULL ? json_object_get(response, "result") : NULL;
    if (result == NULL) {
        mg_exchange_finish_error(exchange, error_code != 0 ? error_code : MG_RPC_UPSTREAM_ERROR,
                                 error_message != NULL ? error_message : "the server did not list its tools", NULL);
        return;
    }
    if (part->collected == NULL)
        part->collected = json_array();
    json_array_extend(part->collected, json_object_get(result, "tools"));
    const char *next = json_string_value(json_object_get(result, "nextCursor"));
    if (next != NULL && ++part->pages < MAX_PAGES_PER_SERVER) {
        json_t *request = mg_rpc_make_request(exchange->message.id, "tools/list", json_pack("{s:s}", "cursor", next));
        int rc = mg_exchange_call_again(exchange, part, request);
        json_decref(request);
        if (rc == 0)
            return;
    }
    mg_aggregate_remember_tools(exchange->worker, part->server_index, part->collected);
    call_checked_tool(exchange, part->server_index, local_tool_name(exchange, part->server_index));
}

static void route_tool_call(mg_exchange_t *exchange)
{
    const char *public_name = json_string_value(exchange->message.name);
    if (public_name == NULL) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "params.name must be a string", NULL);
        return;
    }
    size_t server_index = exchange->scope >= 0 ? (size_t)exchange->scope : 0;
    const char *local = public_name;
    mg_authorize_t verdict = MG_AUTHORIZE_HIDDEN; /* a name that splits into no server names nothing */
    if (exchange->scope >= 0 || mg_naming_split_name(exchange->config, public_name, &server_index, &local) == 0)
        verdict = mg_authorize_item(exchange, MG_POLICY_TOOL, server_index, local,
                                    json_object_get(exchange->message.params, "arguments"));
    if (verdict != MG_AUTHORIZE_GO) {
        if (verdict == MG_AUTHORIZE_HIDDEN)
            finish_unknown(exchange, public_name, false, MG_RPC_INVALID_PARAMS, "Unknown tool");
        return;
    }
    if (json_object_get(exchange->worker->upstreams[server_index]->tools, local) != NULL) {
        call_checked_tool(exchange, server_index, local);
        return;
    }
    /* Not in this worker's catalog: it may be stale, or (HTTP upstreams, one session per client) this
     * client may see tools another did not, so ask the server with the caller's own session. */
    json_t *request = mg_rpc_make_request(exchange->message.id, "tools/list", json_object());
    const char *error_message = NULL;
    if (mg_exchange_call(exchange, server_index, request, catalog_part_done, &error_message) == NULL)
        mg_exchange_finish_error(exchange, MG_RPC_UPSTREAM_ERROR, error_message, NULL);
    json_decref(request);
}

/* ---- fan-out lists ------------------------------------------------------------------ */

/* A modern server's caching hints for its page: the merged answer is as fresh as its stalest part
 * and private when any part is. */
static void note_cache_hints(mg_exchange_part_t *part, const json_t *result)
{
    json_t *ttl = json_object_get(result, "ttlMs");
    long long ttl_ms = json_is_integer(ttl) && json_integer_value(ttl) >= 0 ? json_integer_value(ttl) : 0;
    if (part->pages == 0 || ttl_ms < part->ttl_ms)
        part->ttl_ms = ttl_ms;
    const char *scope = json_string_value(json_object_get(result, "cacheScope"));
    if (scope != NULL && strcmp(scope, "public") != 0)
        part->private_scope = true;
}

static void merge_cache_hints(const mg_exchange_t *exchange, json_t *result)
{
    long long ttl_ms = -1;
    bool private_scope = strcmp(mg_exchange_cache_scope(exchange), "public") != 0;
    for (size_t i = 0; i < exchange->parts_len; i++) {
        const mg_exchange_part_t *part = &exchange->parts[i];
        if (part->collected == NULL)
            continue;
        if (ttl_ms < 0 || part->ttl_ms < ttl_ms)
            ttl_ms = part->ttl_ms;
        private_scope = private_scope || part->private_scope;
    }
    json_object_set_new(result, "ttlMs", json_integer(ttl_ms < 0 ? 0 : ttl_ms));
    json_object_set_new(result, "cacheScope", json_string(private_scope ? "private" : "public"));
}

static void list_finish_if_done(mg_exchange_t *exchange)
{
    if (exchange->parts_running > 0 || mg_exchange_finished(exchange))
        return;
    for (size_t i = 0; i < exchange->parts_len; i++)
        mg_authorize_filter_list(exchange, exchange->message.method, exchange->parts[i].server_index,
                                 exchange->parts[i].collected);
    json_t *result = mg_aggregate_merge_lists(exchange->config, exchange->scope, exchange->message.method,
                                              exchange->parts, exchange->parts_len);
    if (exchange->modern)
        merge_cache_hints(exchange, result);
    json_t *response = mg_rpc_make_result(exchange->message.id, result);
    mg_exchange_finish(exchange, response);
    json_decref(response);
}

static json_t *list_request(const mg_exchange_t *exchange, const char *cursor)
{
    json_t *params = json_object();
    if (cursor != NULL)
        json_object_set_new(params, "cursor", json_string(cursor));
    return mg_rpc_make_request(exchange->message.id, exchange->message.method, params);
}

static void list_part_done(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                           const char *error_message)
{
    json_t *result = response != NULL ? json_object_get(response, "result") : NULL;
    if (result == NULL) {
        const char *why = error_message;
        if (response != NULL)
            why = json_string_value(json_object_get(json_object_get(response, "error"), "message"));
        mg_log_as(MG_LOG_WARN, "aggregate.partial", exchange->principal->name, "%s from %s left out: %s (%d)",
                  exchange->message.method, exchange->config->servers[part->server_index].name,
                  why != NULL ? why : "error", error_code);
        if (exchange->scope >= 0 && response != NULL) { /* one server: its error is the answer */
            json_t *out = json_deep_copy(response);
            json_object_set(out, "id", exchange->message.id);
            mg_exchange_finish(exchange, out);
            json_decref(out);
            return;
        }
        list_finish_if_done(exchange);
        return;
    }
    if (part->collected == NULL)
        part->collected = json_array();
    json_array_extend(part->collected, json_object_get(result, mg_aggregate_list_key(exchange->message.method)));
    note_cache_hints(part, result);
    const char *next = json_string_value(json_object_get(result, "nextCursor"));
    free(part->cursor);
    part->cursor = next != NULL ? strdup(next) : NULL;
    /* On /mcp, follow each server's pages so that clients which never paginate still see every
     * server; the gateway's own cursor covers what is left after MAX_PAGES_PER_SERVER. */
    if (exchange->scope < 0 && next != NULL && ++part->pages < MAX_PAGES_PER_SERVER) {
        json_t *request = list_request(exchange, next);
        int rc = mg_exchange_call_again(exchange, part, request);
        json_decref(request);
        if (rc == 0)
            return;
    }
    /* a complete listing that started at the first page is this worker's catalog of the server's tools */
    if (strcmp(exchange->message.method, "tools/list") == 0) {
        if (part->cursor == NULL &&
            (exchange->scope < 0 || json_object_get(exchange->message.params, "cursor") == NULL))
            mg_aggregate_remember_tools(exchange->worker, part->server_index, part->collected);
        else /* a page that is not the whole catalog: its tools are judged all the same */
            mg_pins_judge_page(exchange->worker, part->server_index, part->collected);
        /* quarantined tools are hidden (guard/pins.h), now: a quarantine this very list caused announces a
         * tools/list_changed that drops the worker's verdicts before the other servers' parts are in */
        mg_pins_filter_list(exchange->worker, part->server_index, part->collected);
    }
    list_finish_if_done(exchange);
}

static void fan_out_list(mg_exchange_t *exchange, const char *capability)
{
    const char *cursor = json_string_value(json_object_get(exchange->message.params, "cursor"));
    json_t *cursors = NULL; /* server index -> upstream cursor, from the gateway's own cursor */
    if (cursor != NULL && exchange->scope < 0 && (cursors = mg_aggregate_decode_cursor(cursor)) == NULL) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "invalid cursor", NULL);
        return;
    }
    for (size_t i = 0; i < exchange->config->servers_len; i++) {
        /* on /servers/<name>/mcp the server answers for itself, even about a capability it lacks */
        if (!server_in_scope(exchange, i) || !server_usable(exchange, i) ||
            (exchange->scope < 0 && !server_has(exchange, i, capability)))
            continue;
        const char *upstream_cursor = exchange->scope >= 0 ? cursor : NULL;
        if (cursors != NULL) {
            char key[24];
            snprintf(key, sizeof(key), "%zu", i);
            if ((upstream_cursor = json_string_value(json_object_get(cursors, key))) == NULL)
                continue; /* that server's pages were all delivered */
        }
        json_t *request = list_request(exchange, upstream_cursor);
        const char *error_message;
        if (mg_exchange_call(exchange, i, request, list_part_done, &error_message) == NULL)
            mg_log_as(MG_LOG_WARN, "aggregate.partial", exchange->principal->name, "%s: %s",
                      exchange->config->servers[i].name, error_message);
        json_decref(request);
    }
    json_decref(cursors);
    if (exchange->scope >= 0 && exchange->parts_len == 0) {
        mg_exchange_finish_error(exchange, MG_RPC_UPSTREAM_ERROR, "server is not available", NULL);
        return;
    }
    list_finish_if_done(exchange);
}

/* ---- logging/setLevel: fan out, answer {} ----------------------------------------- */

static void set_level_part_done(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                                const char *error_message)
{
    (void)part, (void)response, (void)error_code, (void)error_message;
    if (exchange->parts_running == 0 && !mg_exchange_finished(exchange)) {
        json_t *out = mg_rpc_make_result(exchange->message.id, json_object());
        mg_exchange_finish(exchange, out);
        json_decref(out);
    }
}

/* Sessions whose level each worker keeps (worker->log_levels); beyond it the table starts afresh. */
#define LOG_LEVELS_MAX 10000

static void remember_level(mg_worker_t *worker, void *arg)
{
    mg_json_note_t *note = arg;
    if (worker->log_levels == NULL || json_object_size(worker->log_levels) >= LOG_LEVELS_MAX) {
        json_decref(worker->log_levels);
        worker->log_levels = json_object();
    }
    json_object_set(worker->log_levels, json_string_value(json_object_get(note->msg, "sid")),
                    json_object_get(note->msg, "level"));
    json_decref(note->msg);
    free(note);
}

/* A legacy server keeps its session's level itself; a modern one has no session, so every worker
 * remembers the level and sends it as each request's io.modelcontextprotocol/logLevel. */
static void fan_out_set_level(mg_exchange_t *exchange)
{
    const char *level = json_string_value(json_object_get(exchange->message.params, "level"));
    if (mg_modern_log_level_rank(level) < 0) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS,
                                 "Invalid log level: params.level must be one of debug, info, notice, warning, "
                                 "error, critical, alert, emergency",
                                 NULL);
        return;
    }
    if (exchange->has_session) {
        json_t *note = json_pack("{s:s,s:s}", "sid", exchange->claims.sid, "level", level);
        mg_worker_post_json_to_all(exchange->worker->gateway, remember_level, 0, note);
        json_decref(note);
    }
    for (size_t i = 0; i < exchange->config->servers_len; i++) {
        if (server_in_scope(exchange, i) && server_usable(exchange, i) && server_has(exchange, i, "logging") &&
            exchange->worker->upstreams[i]->era != MG_UPSTREAM_ERA_MODERN) {
            const char *error_message;
            mg_exchange_call(exchange, i, exchange->message.root, set_level_part_done, &error_message);
        }
    }
    set_level_part_done(exchange, NULL, NULL, 0, NULL);
}

/* ---- initialize ------------------------------------------------------------------- */

static void initialize_finish_if_done(mg_exchange_t *exchange)
{
    if (exchange->parts_running > 0 || mg_exchange_finished(exchange))
        return;
    json_t *result = mg_aggregate_initialize_result(exchange);
    char *token = NULL;
    mg_error_t err;
    if (mg_session_seal(&exchange->worker->gateway->session_key, &exchange->claims, &token, &err) != 0) {
        json_decref(result);
        mg_exchange_finish_error(exchange, MG_RPC_INTERNAL_ERROR, err.message, NULL);
        return;
    }
    exchange->new_session_token = token;
    json_t *response = mg_rpc_make_result(exchange->message.id, result);
    mg_exchange_finish(exchange, response);
    json_decref(response);
}

static void open_session_done(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                              const char *error_message)
{
    const char *server = exchange->config->servers[part->server_index].name;
    const char *session_id =
        response != NULL ? json_string_value(json_object_get(response, "_mcpgate_session_id")) : NULL;
    if (response == NULL || json_object_get(response, "result") == NULL) {
        mg_log_as(MG_LOG_WARN, "session.upstream_failed", exchange->principal->name,
                  "could not open a session on %s: %s (%d)", server,
                  error_message != NULL ? error_message : "error response", error_code);
    } else {
        part->collected = json_incref(json_object_get(response, "result"));
        if (session_id != NULL) {
            if (exchange->claims.upstream_sessions == NULL)
                exchange->claims.upstream_sessions = json_object();
            json_object_set_new(exchange->claims.upstream_sessions, server, json_string(session_id));
        }
    }
    initialize_finish_if_done(exchange);
}

static void handle_initialize(mg_exchange_t *exchange)
{
    json_t *params = exchange->message.params;
    const char *requested = json_string_value(json_object_get(params, "protocolVersion"));
    if (requested == NULL) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "params.protocolVersion must be a string", NULL);
        return;
    }
    mg_session_claims_init(&exchange->claims);
    exchange->has_session = true;
    snprintf(exchange->claims.principal, sizeof(exchange->claims.principal), "%s", exchange->principal->name);
    snprintf(exchange->claims.protocol_version, sizeof(exchange->claims.protocol_version), "%s",
             mg_versions_negotiate_legacy(requested));
    exchange->claims.client_info = json_incref(json_object_get(params, "clientInfo"));
    exchange->claims.client_capabilities = json_incref(json_object_get(params, "capabilities"));

    for (size_t i = 0; i < exchange->config->servers_len; i++) {
        if (!server_in_scope(exchange, i) || exchange->config->servers[i].kind != MG_UPSTREAM_HTTP ||
            !server_usable(exchange, i))
            continue;
        json_t *request = json_deep_copy(exchange->message.root);
        json_object_set_new(json_object_get(request, "params"), "protocolVersion",
                            json_string(exchange->claims.protocol_version));
        mg_exchange_open_session(exchange, i, request, open_session_done);
        json_decref(request);
    }
    initialize_finish_if_done(exchange);
}

/* ---- client notifications and responses ------------------------------------------- */

static void forward_notification(mg_exchange_t *exchange)
{
    for (size_t i = 0; i < exchange->config->servers_len; i++) {
        if (!server_in_scope(exchange, i))
            continue;
        mg_upstream_session_t session;
        mg_exchange_upstream_session(exchange, i, &session);
        mg_upstream_t *upstream = exchange->worker->upstreams[i];
        upstream->ops->notify(upstream, &session, exchange->message.root);
    }
}

static void handle_notification(mg_exchange_t *exchange)
{
    const char *method = exchange->message.method;
    if (strcmp(method, "notifications/cancelled") == 0 || strcmp(method, "notifications/roots/list_changed") == 0)
        forward_notification(exchange);
    /* notifications/initialized and anything else a client announces concern the gateway only */
    mg_exchange_finish_accepted(exchange);
}

/* A client's answer to a server-to-client request: the id (mcp/asked.h) names the upstream that asked,
 * the bridge that asked a modern server's question for it, or an `approver: user` rule's question, and the
 * method asked. */
static void handle_client_response(mg_exchange_t *exchange)
{
    mg_asked_id_t asked;
    if (!mg_asked_id_parse(json_string_value(exchange->message.id), &asked)) {
        mg_exchange_finish_accepted(exchange); /* no id the gateway made: nothing waits for it */
        return;
    }
    /* an answer that is not the result the request asks for does not reach the asker: an error does */
    json_t *refusal = mg_validate_answer(exchange, asked.method, asked.method_len);
    json_t *response = refusal != NULL ? refusal : exchange->message.root;
    if (mg_asked_id_from(&asked, MG_ASKED_BRIDGE)) {
        mg_exchange_answer(exchange, asked.tail, response);
    } else if (mg_asked_id_from(&asked, MG_ASKED_APPROVAL)) {
        mg_approvals_user_answer(exchange, asked.tail, response);
    } else {
        for (size_t i = 0; i < exchange->config->servers_len; i++) {
            if (mg_asked_id_from(&asked, exchange->config->servers[i].name) && server_in_scope(exchange, i)) {
                mg_upstream_session_t session;
                mg_exchange_upstream_session(exchange, i, &session);
                mg_upstream_t *upstream = exchange->worker->upstreams[i];
                upstream->ops->reply(upstream, &session, response);
                break;
            }
        }
    }
    json_decref(refusal);
    /* Unknown ids are dropped: the client may answer a request the gateway already gave up on. */
    mg_exchange_finish_accepted(exchange); /* unless refused above */
}

/* ---- the modern era's own methods ---------------------------------------------------- */

/* server/discover: the gateway's identity and the capabilities of the servers in scope. */
static void handle_discover(mg_exchange_t *exchange)
{
    json_t *result = mg_aggregate_initialize_result(exchange);
    json_object_del(result, "protocolVersion");
    json_object_set_new(result, "supportedVersions", mg_versions_supported());
    json_t *server_info = json_incref(json_object_get(result, "serverInfo"));
    json_object_del(result, "serverInfo");
    json_object_set_new(result, "_meta", json_pack("{s:o}", MG_META_SERVER_INFO, server_info));
    json_t *response = mg_rpc_make_result(exchange->message.id, result);
    mg_exchange_finish(exchange, response);
    json_decref(response);
}

/* A retry with a requestState: the gateway's own, always. A parked call resumes where it waits;
 * a modern server's state is unwrapped and the retry routed as usual, to that same server.
 * Returns 0 to go on routing, -1 when the exchange has been answered or handed over. */
static int resume(mg_exchange_t *exchange, json_t *state)
{
    if (!json_is_string(state)) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "params.requestState must be a string", NULL);
        return -1;
    }
    mg_mrtr_request_t request = {exchange->claims.principal, exchange->message.method,
                                 mg_mrtr_target(exchange->message.params)};
    mg_mrtr_state_t opened;
    char why[160];
    if (mg_mrtr_open(&exchange->worker->gateway->session_key, json_string_value(state), json_string_length(state),
                     &request, (int64_t)time(NULL), &opened, why, sizeof(why)) != 0) {
        mg_log_as(MG_LOG_INFO, "mrtr.refused", exchange->principal->name, "%s", why);
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, why, NULL);
        return -1;
    }
    if (opened.kind == MG_MRTR_PARK) {
        mg_exchange_resume(exchange, &opened);
        mg_mrtr_state_dispose(&opened);
        return -1;
    }
    if (opened.kind == MG_MRTR_APPROVE) { /* routed as usual: the approve stage reads it (guard/approvals.h) */
        if ((exchange->approval_state = malloc(sizeof(opened))) == NULL) {
            mg_exchange_finish_error(exchange, MG_RPC_INTERNAL_ERROR, "out of memory", NULL);
            return -1;
        }
        *exchange->approval_state = opened;
        return 0;
    }
    const mg_config_server_t *found = mg_config_find_server(exchange->config, opened.server);
    long server = found != NULL ? (long)(found - exchange->config->servers) : -1;
    if (server < 0 || (exchange->scope >= 0 && server != exchange->scope)) {
        mg_mrtr_state_dispose(&opened);
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "Invalid requestState: issued for another server",
                                 NULL);
        return -1;
    }
    exchange->resumed = true;
    exchange->upstream_state = opened.upstream_state; /* taken */
    opened.upstream_state = NULL;
    if (opened.approval.id[0] != '\0') { /* a call its user approved: the approve stage lets it continue */
        if ((exchange->approval_state = malloc(sizeof(opened))) == NULL) {
            mg_exchange_finish_error(exchange, MG_RPC_INTERNAL_ERROR, "out of memory", NULL);
            return -1;
        }
        *exchange->approval_state = opened;
    }
    return 0;
}

/* tasks/get, tasks/update, tasks/cancel: to the server that issued the task, with its own taskId. */
static void route_task(mg_exchange_t *exchange)
{
    if (!mg_tasks_client_supports(exchange->claims.client_capabilities)) {
        mg_exchange_finish_error(exchange, MG_RPC_MISSING_CLIENT_CAPABILITY,
                                 "Missing required client capability: " MG_TASKS_EXTENSION,
                                 mg_tasks_required_capability());
        return;
    }
    json_t *handle = json_object_get(exchange->message.params, "taskId");
    if (!json_is_string(handle)) {
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "params.taskId must be a string", NULL);
        return;
    }
    char server[128], why[160];
    json_t *task_id = NULL;
    const mg_config_server_t *found = NULL;
    if (mg_tasks_open(&exchange->worker->gateway->session_key, exchange->claims.principal, json_string_value(handle),
                      json_string_length(handle), server, sizeof(server), &task_id, why, sizeof(why)) != 0 ||
        (found = mg_config_find_server(exchange->config, server)) == NULL ||
        (exchange->scope >= 0 && found - exchange->config->servers != exchange->scope)) {
        if (found == NULL && task_id != NULL)
            snprintf(why, sizeof(why), "the task's server %.100s is no longer configured", server);
        else if (task_id != NULL)
            snprintf(why, sizeof(why), "the task belongs to server %.100s, outside this path", server);
        mg_log_as(MG_LOG_INFO, "tasks.refused", exchange->principal->name, "%s: %s", exchange->message.method, why);
        json_decref(task_id);
        mg_exchange_finish_error(exchange, MG_RPC_INVALID_PARAMS, "Failed to retrieve task: Task not found", NULL);
        return;
    }
    json_t *params = json_copy(exchange->message.params); /* shallow: only the taskId changes */
    json_object_set_new(params, "taskId", task_id);
    route_to(exchange, (size_t)(found - exchange->config->servers), params);
}

/* Methods 2026-07-28 removed; a modern client that sends them gets -32601 (HTTP 404). */
static bool removed_in_modern(const char *method)
{
    switch (method[0]) { /* one comparison at most for the methods that stayed */
    case 'p':
        return strcmp(method, "ping") == 0;
    case 'l':
        return strcmp(method, "logging/setLevel") == 0;
    case 'r':
        return strcmp(method, "resources/subscribe") == 0 || strcmp(method, "resources/unsubscribe") == 0;
    case 'i':
        return strcmp(method, "initialize") == 0;
    default:
        return false;
    }
}

/* ---- entry ------------------------------------------------------------------------- */

void mg_dispatch(mg_exchange_t *exchange)
{
    const mg_rpc_message_t *message = &exchange->message;
    if (message->kind != MG_RPC_RESPONSE && !mg_validate_message(exchange))
        return; /* refused: its version's schema does not allow it */
    bool tools_call = message->kind == MG_RPC_REQUEST && strcmp(message->method, "tools/call") == 0;
    if (exchange->modern && message->kind == MG_RPC_REQUEST) {
        if (!tools_call && strcmp(message->method, "server/discover") == 0) {
            handle_discover(exchange);
            return;
        }
        /* the decoder saw every member of params when it recorded _meta: no lookup when it saw none */
        json_t *state = message->meta != NULL && !message->meta->mrtr_members
                            ? NULL
                            : json_object_get(message->params, "requestState");
        if (state != NULL && resume(exchange, state) != 0)
            return; /* answered: refused, or relayed to the parked call */
        if (!tools_call && removed_in_modern(message->method)) {
            char text[160];
            snprintf(text, sizeof(text), "Method not found: %.60s is not part of protocol version %s", message->method,
                     MG_VERSION_MODERN);
            mg_exchange_finish_error(exchange, MG_RPC_METHOD_NOT_FOUND, text, NULL);
            return;
        }
        if (!tools_call && mg_tasks_is_task_method(message->method)) {
            route_task(exchange);
            return;
        }
    }
    if (message->kind == MG_RPC_RESPONSE) {
        handle_client_response(exchange);
        return;
    }
    if (message->kind == MG_RPC_NOTIFICATION) {
        handle_notification(exchange);
        return;
    }
    const char *method = message->method;
    if (tools_call) { /* first: the method nearly every request is */
        route_tool_call(exchange);
    } else if (strcmp(method, "initialize") == 0) {
        handle_initialize(exchange);
    } else if (strcmp(method, "ping") == 0) {
        json_t *out = mg_rpc_make_result(message->id, json_object());
        mg_exchange_finish(exchange, out);
        json_decref(out);
    } else if (strcmp(method, "tools/list") == 0) {
        fan_out_list(exchange, "tools");
    } else if (strcmp(method, "prompts/list") == 0) {
        fan_out_list(exchange, "prompts");
    } else if (strcmp(method, "resources/list") == 0 || strcmp(method, "resources/templates/list") == 0) {
        fan_out_list(exchange, "resources");
    } else if (strcmp(method, "prompts/get") == 0) {
        route_by_key(exchange, "name", false, MG_RPC_INVALID_PARAMS, "Unknown prompt");
    } else if (strcmp(method, "resources/read") == 0 || strcmp(method, "resources/subscribe") == 0 ||
               strcmp(method, "resources/unsubscribe") == 0) {
        /* 2026-07-28 retired -32002 for an unknown resource in favour of -32602 */
        route_by_key(exchange, "uri", true, exchange->modern ? MG_RPC_INVALID_PARAMS : MG_RPC_RESOURCE_NOT_FOUND,
                     "Resource not found");
    } else if (strcmp(method, "completion/complete") == 0) {
        route_completion(exchange);
    } else if (strcmp(method, "logging/setLevel") == 0) {
        fan_out_set_level(exchange);
    } else if (exchange->scope >= 0 && mg_authorize_forward_unknown(exchange)) {
        route_to(exchange, (size_t)exchange->scope, message->params != NULL ? json_incref(message->params) : NULL);
    } else {
        char text[160];
        snprintf(text, sizeof(text), "Method not found: %.100s", method);
        mg_exchange_finish_error(exchange, MG_RPC_METHOD_NOT_FOUND, text, NULL);
    }
}
