/*
 * approvals_stage.c - human approval on a worker: the approve stage holds a matching tools/call, and the
 * decision the service posts (approvals.c) lets it go on or refuses it (see approvals.h).
 *
 * A held call is one `held_t` (approvals_internal.h) on its worker's list, pointed to by exchange->wait. It
 * ends exactly once, by whichever comes first: a decision or expiry posted by the service (on_decision), the
 * user's answer or the deadline for a call whose user was asked (approvals_user.c), or the client leaving
 * (cancel_held). Each takes it off the list before acting, and a later post finds nothing and
 * does nothing: that is what makes a decision act at most once.
 *
 * The deadline is an h2o timer per rule (one h2o_timeout_t per distinct timeout_s would do; one per rule
 * is simpler and rules are few). When it fires the call stays held and the service asks the store whether
 * a person decided in the same instant; the store's answer is final. A user's question has no pending row:
 * its deadline ends it on the worker at once.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/principal.h"
#include "core/worker.h"
#include "guard/approvals.h"
#include "guard/approvals_internal.h"
#include "obs/log.h"

typedef struct st_mg_approvals_worker_t {
    h2o_linklist_t held;
    h2o_timeout_t *deadlines; /* one per rule of gateway->config->approvals */
    size_t deadlines_len;
    h2o_timeout_t progress; /* MG_APPROVALS_PROGRESS_MS */
} mg_approvals_worker_t;

typedef mg_approvals_held_t held_t;

void mg_approvals_release(held_t *held)
{
    if (h2o_timeout_is_linked(&held->deadline))
        h2o_timeout_unlink(&held->deadline);
    if (h2o_timeout_is_linked(&held->progress))
        h2o_timeout_unlink(&held->progress);
    h2o_linklist_unlink(&held->link);
    held->exchange->wait.cancel = NULL;
    held->exchange->wait.arg = NULL;
    json_decref(held->progress_token);
    free(held->tool);
    free(held);
}

void mg_approvals_log(const held_t *held, mg_log_level_t level, const char *event, const char *fmt, const char *detail)
{
    json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s}", "approval", held->id, "rule",
                               mg_approvals_rule_of(held)->path, "server", mg_approvals_server_of(held), "tool",
                               held->tool, "approver", held->kind == MG_HELD_ADMIN ? "admin" : "user");
    if (fields != NULL)
        json_object_set_new(fields, "principal", json_string(held->exchange->principal->name));
    mg_log_fields(level, event, fields, fmt, held->id, mg_approvals_server_of(held), held->tool, detail);
}

static void send_progress(held_t *held)
{
    if (held->progress_token == NULL)
        return;
    mg_worker_t *worker = held->exchange->worker;
    uint64_t waited_s = (mg_worker_now(worker) - held->held_at_ms) / 1000;
    char message[200];
    if (held->kind == MG_HELD_ADMIN)
        snprintf(message, sizeof(message),
                 "Waiting for approval %s (%s): an operator runs mcpgate approvals approve|deny", held->id,
                 mg_approvals_rule_of(held)->path);
    else
        snprintf(message, sizeof(message), "Waiting for approval %s (%s): the user is asked to approve the call",
                 held->id, mg_approvals_rule_of(held)->path);
    json_t *note =
        json_pack("{s:s, s:s, s:{s:O, s:I, s:s}}", "jsonrpc", "2.0", "method", "notifications/progress", "params",
                  "progressToken", held->progress_token, "progress", (json_int_t)waited_s, "message", message);
    if (note != NULL)
        mg_exchange_send_message(held->exchange, note);
    json_decref(note);
}

static void on_progress(h2o_timeout_entry_t *entry)
{
    held_t *held = H2O_STRUCT_FROM_MEMBER(held_t, progress, entry);
    send_progress(held);
    mg_worker_t *worker = held->exchange->worker;
    h2o_timeout_link(worker->loop, &worker->approvals->progress, &held->progress);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    held_t *held = H2O_STRUCT_FROM_MEMBER(held_t, deadline, entry);
    if (held->kind == MG_HELD_USER_ASKED) { /* nothing but this worker can decide it: it ends here */
        mg_approvals_user_expired(held);
        return;
    }
    /* still held: the store says whether a person decided first (approvals.c, COMMAND_EXPIRE) */
    mg_approvals_expire(held->exchange->worker->gateway->approvals, held->id);
}

static void cancel_held(mg_exchange_t *exchange, void *arg)
{
    held_t *held = arg;
    assert(held->exchange == exchange);
    switch (held->kind) {
    case MG_HELD_ADMIN:
        mg_approvals_log(held, MG_LOG_INFO, "approvals.abandoned", "approval %s of %s/%s: the caller left%s", "");
        mg_approvals_abandon(exchange->worker->gateway->approvals, held->id);
        break;
    case MG_HELD_USER_ASKED:
        mg_approvals_log(held, MG_LOG_INFO, "approvals.abandoned", "approval %s of %s/%s: the caller left%s", "");
        mg_approvals_record_held(held, "abandoned");
        break;
    case MG_HELD_USER_CONSUME: /* the service records the id all the same: it stays used */
        break;
    }
    mg_approvals_release(held);
}

void mg_approvals_emit_hold(mg_exchange_t *exchange, const held_t *held, const json_t *arguments, const char *reason)
{
    mg_audit_t *audit = exchange->worker->gateway->audit;
    if (audit == NULL)
        return;
    const mg_principal_t *principal = exchange->principal;
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.request_id = exchange->message.id;
    event.principal.subject = principal->subject;
    event.principal.issuer = principal->issuer;
    event.principal.key_id = principal->key_id;
    event.principal.method = mg_principal_method_name(principal->method);
    event.server = mg_approvals_server_of(held);
    event.item_kind = MG_AUDIT_ITEM_TOOL;
    event.item_name = held->tool;
    event.method = exchange->message.method;
    event.decision = MG_AUDIT_HOLD;
    event.rule = mg_approvals_rule_of(held)->path;
    event.reason = reason;
    event.arguments = arguments;
    event.status = "held";
    json_t *findings = json_pack("[{s:s, s:s, s:s, s:s}]", "kind", "approval", "approval", held->id, "arguments_sha256",
                                 held->digest, "approver", held->kind == MG_HELD_ADMIN ? "admin" : "user");
    event.findings = findings;
    mg_error_t err;
    if (mg_audit_emit(audit, &event, &err) != 0)
        mg_log(MG_LOG_ERROR, "approvals.audit_failed", "%s", err.message);
    json_decref(findings);
}

static json_t *progress_token_of(const mg_exchange_t *exchange)
{
    json_t *meta =
        exchange->meta_object != NULL ? exchange->meta_object : json_object_get(exchange->message.params, "_meta");
    json_t *token = json_object_get(meta, "progressToken");
    return json_is_string(token) || json_is_integer(token) ? json_incref(token) : NULL;
}

void mg_approvals_refuse(mg_exchange_t *exchange, int code, const char *message, const char *id, const char *rule,
                         const char *reason)
{
    mg_outcome_decide_copy(exchange, MG_AUDIT_DENY, rule, reason);
    json_t *data = json_pack("{s:s, s:s, s:s}", "guard", "approvals", "approval", id, "rule", rule);
    mg_exchange_finish_error(exchange, code, message, data);
}

held_t *mg_approvals_hold(mg_exchange_t *exchange, mg_held_kind_t kind, size_t rule, const char *tool,
                          const char *digest, const char *id)
{
    mg_worker_t *worker = exchange->worker;
    held_t *held = calloc(1, sizeof(*held));
    if (held == NULL || (held->tool = strdup(tool)) == NULL) {
        free(held);
        return NULL;
    }
    held->exchange = exchange;
    held->kind = kind;
    held->rule = rule;
    held->held_at_ms = mg_worker_now(worker);
    held->created_at = (int64_t)time(NULL);
    snprintf(held->digest, sizeof(held->digest), "%s", digest);
    if (id != NULL)
        snprintf(held->id, sizeof(held->id), "%s", id);
    else
        mg_approvals_new_id(held->id);
    mg_approvals_worker_t *mine = worker->approvals;
    h2o_linklist_insert(&mine->held, &held->link);
    held->deadline.cb = on_deadline;
    held->progress.cb = on_progress;
    if (kind != MG_HELD_USER_CONSUME) {
        h2o_timeout_link(worker->loop, &mine->deadlines[rule], &held->deadline);
        held->progress_token = progress_token_of(exchange);
        if (held->progress_token != NULL)
            h2o_timeout_link(worker->loop, &mine->progress, &held->progress);
    }
    exchange->wait.cancel = cancel_held;
    exchange->wait.arg = held;
    return held;
}

void mg_approvals_record_held(const held_t *held, const char *state)
{
    mg_worker_t *worker = held->exchange->worker;
    mg_approval_record_t record = {.id = held->id,
                                   .state = state,
                                   .principal = held->exchange->principal->name,
                                   .server = mg_approvals_server_of(held),
                                   .tool = held->tool,
                                   .arguments_sha256 = held->digest,
                                   .rule = mg_approvals_rule_of(held)->path,
                                   .created_at = held->created_at,
                                   .expires_at = held->created_at + mg_approvals_rule_of(held)->timeout_s};
    mg_approvals_record(worker->gateway->approvals, &record, false, worker->index);
}

mg_stage_t mg_approval_stage(mg_exchange_t *exchange, size_t server_index, json_t *params)
{
    mg_worker_t *worker = exchange->worker;
    mg_approvals_t *service = worker->gateway->approvals;
    if (service == NULL || worker->approvals == NULL || exchange->message.method == NULL ||
        strcmp(exchange->message.method, "tools/call") != 0)
        return MG_STAGE_GO;
    const mg_config_t *config = worker->gateway->config;
    const char *server = config->servers[server_index].name;
    const char *tool = json_string_value(json_object_get(params, "name")); /* the server's own name by now */
    long rule = tool != NULL ? mg_approvals_match(&config->approvals, server, tool) : -1;
    if (rule < 0)
        return MG_STAGE_GO;
    const mg_config_approval_t *matched = &config->approvals.rules[rule];
    if (matched->approver == MG_APPROVER_USER)
        return mg_approvals_user_stage(exchange, server_index, params, (size_t)rule);
    char *canonical = NULL;
    char digest[MG_APPROVALS_HASH_HEX];
    const json_t *arguments = json_object_get(params, "arguments");
    held_t *held = NULL;
    if (mg_approvals_digest(arguments, digest, &canonical) != 0 ||
        (held = mg_approvals_hold(exchange, MG_HELD_ADMIN, (size_t)rule, tool, digest, NULL)) == NULL) {
        free(canonical);
        mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_DENIED,
                            "The call could not be held for approval (out of memory)", "", matched->path,
                            "out of memory");
        return MG_STAGE_ANSWERED;
    }
    mg_approvals_shorten(canonical, MG_APPROVALS_ARGUMENTS_MAX);
    int64_t now = (int64_t)time(NULL);
    mg_approvals_submit(service, worker->index, held->id, exchange->principal->name, server, tool, held->digest,
                        canonical, matched->path, now, now + matched->timeout_s);
    free(canonical);

    char reason[160];
    snprintf(reason, sizeof(reason), "held for approval %s by an admin (timeout %llds)", held->id, matched->timeout_s);
    mg_outcome_decide_copy(exchange, MG_AUDIT_HOLD, matched->path, reason); /* what the record says if it ends here */
    mg_approvals_emit_hold(exchange, held, arguments, reason);
    mg_approvals_log(held, MG_LOG_WARN, "approvals.held", "approval %s: %s/%s held for an operator%s", "");
    send_progress(held);
    return MG_STAGE_WAITING;
}

held_t *mg_approvals_find(mg_worker_t *worker, const char *id, mg_held_kind_t kind)
{
    if (worker->approvals == NULL)
        return NULL;
    h2o_linklist_t *anchor = &worker->approvals->held;
    for (h2o_linklist_t *node = anchor->next; node != anchor; node = node->next) {
        held_t *held = H2O_STRUCT_FROM_MEMBER(held_t, link, node);
        if (held->kind == kind && strcmp(held->id, id) == 0)
            return held;
    }
    return NULL;
}

/* Whether the row a person decided on is the very call held: same principal, server, tool and arguments. */
static bool binding_matches(const held_t *held, const mg_approval_decision_t *decision)
{
    return strcmp(decision->principal, held->exchange->principal->name) == 0 &&
           strcmp(decision->server, mg_approvals_server_of(held)) == 0 && strcmp(decision->tool, held->tool) == 0 &&
           strcmp(decision->arguments_sha256, held->digest) == 0;
}

void mg_approvals_on_decision(mg_worker_t *worker, void *arg)
{
    mg_approval_decision_t *decision = arg;
    held_t *held = mg_approvals_find(worker, decision->id, MG_HELD_ADMIN);
    if (held == NULL && (held = mg_approvals_find(worker, decision->id, MG_HELD_USER_CONSUME)) != NULL) {
        mg_approvals_user_consumed(held, decision);
        free(decision);
        return;
    }
    if (held == NULL) { /* the caller left, or it was decided already: nothing to act on */
        free(decision);
        return;
    }
    mg_exchange_t *exchange = held->exchange;
    const mg_config_approval_t *rule = mg_approvals_rule_of(held);
    char reason[400], message[400], id[MG_APPROVALS_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", held->id);
    if (decision->verdict == MG_APPROVAL_APPROVED && !binding_matches(held, decision)) {
        mg_approvals_log(held, MG_LOG_ERROR, "approvals.mismatch", "approval %s of %s/%s: the stored row %s",
                         "does not match the held call (principal, server, tool or arguments); refused");
        decision->verdict = MG_APPROVAL_FAILED;
        snprintf(decision->detail, sizeof(decision->detail), "the approval does not match the call");
    }
    switch (decision->verdict) {
    case MG_APPROVAL_APPROVED:
        snprintf(reason, sizeof(reason), "approved by %.120s (%s)", decision->decided_by, id);
        mg_approvals_log(held, MG_LOG_INFO, "approvals.approved", "approval %s: %s/%s approved by %s",
                         decision->decided_by);
        mg_approvals_release(held);
        mg_outcome_decide_copy(exchange, MG_AUDIT_ALLOW, rule->path, reason);
        free(decision);
        mg_dispatch_forward_resume(exchange);
        return;
    case MG_APPROVAL_DENIED:
        snprintf(reason, sizeof(reason), "denied by %.120s (%s)", decision->decided_by, id);
        snprintf(message, sizeof(message), "Call to %s/%.200s denied by an approver (approval %s)",
                 mg_approvals_server_of(held), held->tool, id);
        mg_approvals_log(held, MG_LOG_WARN, "approvals.denied", "approval %s: %s/%s denied by %s",
                         decision->decided_by);
        mg_approvals_release(held);
        mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_DENIED, message, id, rule->path, reason);
        break;
    case MG_APPROVAL_EXPIRED:
        snprintf(reason, sizeof(reason), "approval timed out after %llds (%s)", rule->timeout_s, id);
        snprintf(message, sizeof(message), "Call to %s/%.200s not approved within %llds (approval %s)",
                 mg_approvals_server_of(held), held->tool, rule->timeout_s, id);
        mg_approvals_log(held, MG_LOG_WARN, "approvals.expired", "approval %s: %s/%s expired%s", "");
        mg_approvals_release(held);
        mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_TIMEOUT, message, id, rule->path, reason);
        break;
    case MG_APPROVAL_FAILED:
        snprintf(reason, sizeof(reason), "not held: %.200s (%s)", decision->detail, id);
        snprintf(message, sizeof(message), "Call to %s/%.200s refused: %.100s (approval %s)",
                 mg_approvals_server_of(held), held->tool, decision->detail, id);
        mg_approvals_log(held, MG_LOG_ERROR, "approvals.failed", "approval %s: %s/%s refused: %s", decision->detail);
        mg_approvals_release(held);
        mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_DENIED, message, id, rule->path, reason);
        break;
    }
    free(decision);
}

int mg_approvals_worker_init(mg_worker_t *worker, mg_error_t *err)
{
    const mg_config_approvals_t *rules = &worker->gateway->config->approvals;
    if (rules->rules_len == 0)
        return 0;
    mg_approvals_worker_t *mine = calloc(1, sizeof(*mine));
    if (mine == NULL || (mine->deadlines = calloc(rules->rules_len, sizeof(*mine->deadlines))) == NULL) {
        free(mine);
        return mg_error_set(err, "out of memory");
    }
    h2o_linklist_init_anchor(&mine->held);
    mine->deadlines_len = rules->rules_len;
    for (size_t i = 0; i < rules->rules_len; i++)
        h2o_timeout_init(worker->loop, &mine->deadlines[i], (uint64_t)rules->rules[i].timeout_s * 1000);
    h2o_timeout_init(worker->loop, &mine->progress, MG_APPROVALS_PROGRESS_MS);
    worker->approvals = mine;
    return 0;
}

void mg_approvals_worker_dispose(mg_worker_t *worker)
{
    /* calls still held when the loop ended belong to exchanges left to the process exit (architecture.md) */
    if (worker->approvals == NULL)
        return;
    free(worker->approvals->deadlines);
    free(worker->approvals);
    worker->approvals = NULL;
}
