/*
 * webhook_stage.c - the webhook stage (webhook_stage.h) over the worker's webhook client (guard/webhook.h).
 *
 * The worker's client is made on first use, on the worker's thread (its sockets are that thread's), and
 * destroyed by the server after the worker's loop has ended. The check's context is the exchange itself:
 * while the check runs, exchange->wait holds it, so either the verdict arrives (and clears the wait first)
 * or the client leaves (and the front end cancels the check), never both.
 */
#include "mcp/webhook_stage.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/principal.h"
#include "guard/webhook.h"
#include "mcp/inspect.h"
#include "obs/log.h"

static const char *server_name(const mg_exchange_t *exchange)
{
    return exchange->config->servers[exchange->forward.server_index].name;
}

/* Refuses the request, or withholds the answer (`response`): the service blocked it (`failed` false), or gave
 * no verdict under on_error: block. */
static void refuse(mg_exchange_t *exchange, const char *reason, bool failed, bool response)
{
    char message[400];
    if (failed)
        snprintf(message, sizeof(message), "The webhook guard gave no verdict (%s); the %s", reason,
                 response ? "answer was not delivered" : "request was not sent");
    else
        snprintf(message, sizeof(message), "Blocked by the webhook guard: %s", reason);
    mg_outcome_decide_copy(exchange, MG_AUDIT_DENY, "guards.webhook", message);
    json_t *data = json_pack("{s:s, s:s, s:s}", "guard", "webhook", "direction", response ? "response" : "request",
                             "reason", reason);
    mg_exchange_finish_error(exchange, MG_INSPECT_ERROR_BLOCKED, message, data);
}

static mg_stage_t apply(mg_exchange_t *exchange, mg_webhook_verdict_t verdict, const char *reason, bool response)
{
    const char *principal = exchange->principal->name;
    const char *what = response ? " (answer)" : "";
    switch (verdict) {
    case MG_WEBHOOK_ALLOW:
        return MG_STAGE_GO;
    case MG_WEBHOOK_BLOCK:
        mg_log_as(MG_LOG_WARN, "guards.webhook_blocked", principal, "%s %s%s: %s", server_name(exchange),
                  exchange->message.method, what, reason);
        refuse(exchange, reason, false, response);
        return MG_STAGE_ANSWERED;
    case MG_WEBHOOK_ERROR:
        break;
    }
    bool allow = exchange->config->guards.webhook.on_error_allow;
    mg_log_as(MG_LOG_WARN, "guards.webhook_error", principal, "%s %s%s: %s; %s", server_name(exchange),
              exchange->message.method, what, reason,
              allow ? "let through (on_error: allow)" : "refused (on_error: block)");
    if (allow)
        return MG_STAGE_GO;
    refuse(exchange, reason, true, response);
    return MG_STAGE_ANSWERED;
}

static void on_client_gone(mg_exchange_t *exchange, void *arg)
{
    (void)exchange;
    mg_webhook_cancel(arg);
}

static void on_verdict(void *data, mg_webhook_verdict_t verdict, const char *reason)
{
    mg_exchange_t *exchange = data;
    assert(exchange->wait.cancel == on_client_gone);
    exchange->wait = (mg_exchange_wait_t){0};
    if (apply(exchange, verdict, reason, false) == MG_STAGE_GO)
        mg_dispatch_forward_resume(exchange);
}

/* The worker's client, made on first use; NULL (logged) when it cannot be made. */
static mg_webhook_t *worker_webhook(mg_worker_t *worker)
{
    if (worker->webhook == NULL) {
        mg_error_t err;
        if (mg_webhook_create(&worker->gateway->config->guards.webhook, worker->client_context.loop,
                              worker->client_context.getaddr_receiver, &worker->webhook, &err) != 0)
            mg_log(MG_LOG_ERROR, "guards.webhook_error", "%s", err.message);
    }
    return worker->webhook;
}

/* What the service is told: never a credential (webhook_stage.h). `params` is the request's; `answer`, for
 * the response direction, the server's JSON-RPC answer (its result or error goes along). */
static char *describe(const mg_exchange_t *exchange, size_t server_index, json_t *params, const json_t *answer,
                      size_t *len)
{
    const char *method = exchange->message.method;
    json_t *tool = strcmp(method, "tools/call") == 0 ? json_object_get(params, "name") : NULL;
    const mg_principal_t *principal = exchange->principal;
    json_t *description =
        json_pack("{s:s, s:s, s:s, s:O, s:{s:s, s:s}, s:O}", "direction", answer != NULL ? "response" : "request",
                  "server", exchange->config->servers[server_index].name, "method", method, "tool",
                  json_is_string(tool) ? tool : json_null(), "principal", "subject", principal->subject, "method",
                  mg_principal_method_name(principal->method), "params", params != NULL ? params : json_null());
    if (description != NULL && answer != NULL) {
        json_t *result = json_object_get(answer, "result");
        if (result != NULL)
            json_object_set(description, "result", result);
        else
            json_object_set(description, "error", json_object_get(answer, "error"));
    }
    char *text = description != NULL ? mg_rpc_encode(description, len) : NULL;
    json_decref(description);
    return text;
}

/* Starts a check of `body`'s description; NULL (and *reason) when it cannot start. */
static mg_webhook_check_t *start_check(mg_exchange_t *exchange, char *body /* freed */, size_t len,
                                       mg_webhook_done_fn done, void *data, char reason[MG_WEBHOOK_REASON_MAX])
{
    mg_webhook_t *webhook = worker_webhook(exchange->worker);
    if (webhook == NULL || body == NULL) {
        snprintf(reason, MG_WEBHOOK_REASON_MAX, "%s",
                 webhook == NULL ? "the webhook client could not be made"
                                 : "the call could not be described (out of memory)");
        free(body);
        return NULL;
    }
    const char *errstr = NULL;
    mg_webhook_check_t *check = mg_webhook_check(webhook, body, len, done, data, &errstr);
    free(body);
    if (check == NULL)
        snprintf(reason, MG_WEBHOOK_REASON_MAX, "cannot reach the webhook: %s", errstr);
    return check;
}

mg_stage_t mg_webhook_stage(mg_exchange_t *exchange, size_t server_index, json_t *params)
{
    const mg_config_webhook_t *config = &exchange->config->guards.webhook;
    if (config->url == NULL || !config->requests)
        return MG_STAGE_GO;
    assert(exchange->wait.cancel == NULL);
    size_t len = 0;
    char *body = describe(exchange, server_index, params, NULL, &len);
    char reason[MG_WEBHOOK_REASON_MAX];
    mg_webhook_check_t *check = start_check(exchange, body, len, on_verdict, exchange, reason);
    if (check == NULL)
        return apply(exchange, MG_WEBHOOK_ERROR, reason, false);
    exchange->wait = (mg_exchange_wait_t){.cancel = on_client_gone, .arg = check};
    return MG_STAGE_WAITING;
}

/* ---- answers ---------------------------------------------------------------------------------------- */

typedef struct st_held_answer_t { /* an answer waiting for its verdict: exchange->wait.arg */
    mg_exchange_t *exchange;
    mg_exchange_part_t *part;
    json_t *answer; /* owned */
    mg_webhook_answer_fn send;
    mg_webhook_check_t *check;
} held_answer_t;

static void release_answer(held_answer_t *held)
{
    json_decref(held->answer);
    free(held);
}

static void on_answer_client_gone(mg_exchange_t *exchange, void *arg)
{
    (void)exchange;
    held_answer_t *held = arg;
    mg_webhook_cancel(held->check);
    release_answer(held);
}

static void on_answer_verdict(void *data, mg_webhook_verdict_t verdict, const char *reason)
{
    held_answer_t *held = data;
    mg_exchange_t *exchange = held->exchange;
    assert(exchange->wait.cancel == on_answer_client_gone && exchange->wait.arg == held);
    exchange->wait = (mg_exchange_wait_t){0};
    if (apply(exchange, verdict, reason, true) == MG_STAGE_GO)
        held->send(exchange, held->part, held->answer);
    release_answer(held);
}

mg_stage_t mg_webhook_answer_stage(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *answer,
                                   mg_webhook_answer_fn send)
{
    const mg_config_webhook_t *config = &exchange->config->guards.webhook;
    if (config->url == NULL || !config->responses)
        return MG_STAGE_GO;
    assert(exchange->wait.cancel == NULL);
    held_answer_t *held = calloc(1, sizeof(*held));
    if (held == NULL)
        return apply(exchange, MG_WEBHOOK_ERROR, "out of memory", true);
    *held = (held_answer_t){.exchange = exchange, .part = part, .answer = json_incref(answer), .send = send};
    size_t len = 0;
    char *body = describe(exchange, part->server_index, json_object_get(part->request, "params"), answer, &len);
    char reason[MG_WEBHOOK_REASON_MAX];
    held->check = start_check(exchange, body, len, on_answer_verdict, held, reason);
    if (held->check == NULL) {
        release_answer(held);
        return apply(exchange, MG_WEBHOOK_ERROR, reason, true);
    }
    exchange->wait = (mg_exchange_wait_t){.cancel = on_answer_client_gone, .arg = held};
    return MG_STAGE_WAITING;
}
