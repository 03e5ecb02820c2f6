/*
 * approvals_user.c - `approver: user`: the caller's own user approves the call (see approvals.h).
 *
 * Legacy client (a session). The call is held like an admin's (mg_approvals_hold, kind USER_ASKED, the rule's
 * deadline) and an elicitation/create goes out on the call's own stream, under
 * "mcpgate:user_approval:elicitation/create:<worker>:<approval id>" (mcp/asked.h). The client answers on a
 * POST of its own, which any worker may receive: mg_approvals_user_answer reads the answer there and posts it
 * to the worker named in the id, which acts only when it still holds that id and the answer came from the
 * session asked. First of answer, deadline and departure wins; the others find nothing held.
 *
 * Modern client (2026-07-28). Nothing is held between requests: the call is answered with an
 * InputRequiredResult whose requestState is sealed (mcp/mrtr.h, kind approve) and bound to the principal, the
 * public tool name, the server, the server's own tool name, the arguments' digest and the rule, and expires
 * with the rule's timeout_s. The retry brings the state back with inputResponses: the state must match the
 * call exactly (a retry with other arguments is refused), and an approval is then handed to the service,
 * which inserts the id as an approved row; only the first insert of an id succeeds (the table's primary key),
 * so a replayed state finds its id used and is refused, across workers and restarts. The retry waits for that
 * answer held as kind USER_CONSUME; it takes a few milliseconds.
 *
 * Why rows and not an in-memory set of used ids: the state's key (state_dir/session.key) outlives the process,
 * so a set would forget its ids on a restart while the states stay valid; and the rows make a user's decisions
 * visible in `mcpgate approvals list` next to the operators'. The service thread owns the disk, as for
 * admin approvals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/principal.h"
#include "guard/approvals_internal.h"
#include "mcp/asked.h"

#define METHOD "elicitation/create"

typedef struct st_user_answer_t {
    char id[MG_APPROVALS_ID_LEN + 1];
    char sid[sizeof(((mg_session_claims_t *)0)->sid)];
    mg_approval_answer_t answer;
    char detail[200]; /* the client's error message, when it answered with an error */
} user_answer_t;

static const char *server_name(const mg_exchange_t *exchange, size_t server_index)
{
    return exchange->worker->gateway->config->servers[server_index].name;
}

/* Refuses a call whose user cannot be asked or has said no: -32042, and a log line. */
static void refuse_user(mg_exchange_t *exchange, const char *event, const char *id, const mg_config_approval_t *rule,
                        const char *server, const char *tool, const char *why, const char *reason)
{
    char message[600];
    snprintf(message, sizeof(message), "Call to %s/%.200s refused: %s%s%s%s", server, tool, why,
             id[0] != '\0' ? " (approval " : "", id, id[0] != '\0' ? ")" : "");
    json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "approval", id, "rule", rule->path, "server", server,
                               "tool", tool, "approver", "user", "principal", exchange->principal->name);
    mg_log_fields(MG_LOG_WARN, event, fields, "approval %s of %s/%s: %s", id[0] != '\0' ? id : "-", server, tool, why);
    mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_DENIED, message, id, rule->path, reason);
}

/* Whether a legacy session's client declared form elicitation (an empty object means form, 2025-06-18). */
static bool legacy_can_ask(const mg_exchange_t *exchange)
{
    if (!exchange->has_session)
        return false;
    json_t *elicitation = json_object_get(exchange->claims.client_capabilities, "elicitation");
    if (!json_is_object(elicitation))
        return false;
    return json_object_size(elicitation) == 0 || json_object_get(elicitation, "form") != NULL;
}

static const char *answer_reason(mg_approval_answer_t answer)
{
    switch (answer) {
    case MG_APPROVAL_ANSWER_APPROVED:
        return "approved by the caller's user";
    case MG_APPROVAL_ANSWER_CANCELLED:
        return "dismissed by the caller's user";
    case MG_APPROVAL_ANSWER_INVALID:
        return "no valid answer from the caller's user";
    case MG_APPROVAL_ANSWER_DECLINED:
        break;
    }
    return "declined by the caller's user";
}

/* ---- legacy: a question on the call's stream ---------------------------------------------------------- */

static mg_stage_t ask_legacy(mg_exchange_t *exchange, size_t server_index, const char *tool, size_t rule,
                             const json_t *arguments, const char *digest, const char *canonical)
{
    const mg_config_approval_t *matched = &exchange->worker->gateway->config->approvals.rules[rule];
    const char *server = server_name(exchange, server_index);
    mg_approvals_held_t *held = mg_approvals_hold(exchange, MG_HELD_USER_ASKED, rule, tool, digest, NULL);
    json_t *question =
        held != NULL ? mg_approvals_question(held->id, server, tool, canonical, matched->timeout_s) : NULL;
    char tail[64];
    snprintf(tail, sizeof(tail), "%zu:%s", exchange->worker->index, held != NULL ? held->id : "");
    char *asked_id = question != NULL ? mg_asked_id_make(MG_ASKED_APPROVAL, METHOD, tail) : NULL;
    if (asked_id == NULL) {
        if (held != NULL)
            mg_approvals_release(held);
        json_decref(question);
        refuse_user(exchange, "approvals.failed", "", matched, server, tool,
                    "the user could not be asked (out of memory)", "out of memory");
        return MG_STAGE_ANSWERED;
    }
    char reason[200];
    snprintf(reason, sizeof(reason), "held for approval %s by the caller's user (timeout %llds)", held->id,
             matched->timeout_s);
    mg_outcome_decide_copy(exchange, MG_AUDIT_HOLD, matched->path, reason); /* what the record says if it ends here */
    mg_approvals_emit_hold(exchange, held, arguments, reason);
    mg_approvals_log(held, MG_LOG_WARN, "approvals.asked", "approval %s: %s/%s held, the caller's user is asked%s", "");
    json_t *request_id = json_string(asked_id);
    free(asked_id);
    json_t *request = mg_rpc_make_request(request_id, METHOD, question); /* takes question */
    json_decref(request_id);
    if (request != NULL)
        mg_exchange_send_message(exchange, request);
    json_decref(request);
    return MG_STAGE_WAITING;
}

/* On the worker holding the call: the user's answer, once, from the session asked. */
static void on_user_answer(mg_worker_t *worker, void *arg)
{
    user_answer_t *answer = arg;
    mg_approvals_held_t *held = mg_approvals_find(worker, answer->id, MG_HELD_USER_ASKED);
    if (held == NULL || strcmp(held->exchange->claims.sid, answer->sid) != 0) {
        free(answer); /* decided, expired, the caller left, or another session: nothing to act on */
        return;
    }
    mg_exchange_t *exchange = held->exchange;
    const mg_config_approval_t *rule = mg_approvals_rule_of(held);
    char id[MG_APPROVALS_ID_LEN + 1], reason[300];
    snprintf(id, sizeof(id), "%s", held->id);
    snprintf(reason, sizeof(reason), "%s (%s)", answer_reason(answer->answer), id);
    if (answer->answer == MG_APPROVAL_ANSWER_APPROVED) {
        mg_approvals_log(held, MG_LOG_INFO, "approvals.approved", "approval %s: %s/%s approved by %s",
                         "the caller's user");
        mg_approvals_record_held(held, "approved");
        mg_approvals_release(held);
        mg_outcome_decide_copy(exchange, MG_AUDIT_ALLOW, rule->path, reason);
        free(answer);
        mg_dispatch_forward_resume(exchange);
        return;
    }
    char why[300], server[128], tool[256];
    snprintf(server, sizeof(server), "%s", mg_approvals_server_of(held));
    snprintf(tool, sizeof(tool), "%s", held->tool);
    if (answer->detail[0] != '\0')
        snprintf(why, sizeof(why), "the user's client answered with an error: %s", answer->detail);
    else
        snprintf(why, sizeof(why), "%s", answer_reason(answer->answer));
    mg_approvals_record_held(held, "denied");
    mg_approvals_release(held);
    refuse_user(exchange, "approvals.denied", id, rule, server, tool, why, reason);
    free(answer);
}

void mg_approvals_user_answer(mg_exchange_t *exchange, const char *tail, const json_t *response)
{
    size_t worker_index;
    char id[MG_APPROVALS_ID_LEN + 1];
    if (!exchange->has_session ||
        !mg_approvals_parse_tail(tail, exchange->worker->gateway->workers_len, &worker_index, id))
        return; /* not an id the gateway made: dropped like any unknown answer */
    user_answer_t *answer = calloc(1, sizeof(*answer));
    if (answer == NULL)
        return; /* the question stays open until its deadline */
    memcpy(answer->id, id, sizeof(answer->id));
    snprintf(answer->sid, sizeof(answer->sid), "%s", exchange->claims.sid);
    json_t *error = json_object_get(response, "error");
    if (error != NULL) {
        const char *message = json_string_value(json_object_get(error, "message"));
        answer->answer = MG_APPROVAL_ANSWER_INVALID;
        snprintf(answer->detail, sizeof(answer->detail), "%.180s", message != NULL ? message : "(no message)");
    } else {
        answer->answer = mg_approvals_read_answer(json_object_get(response, "result"));
    }
    mg_worker_post(exchange->worker->gateway->workers[worker_index], on_user_answer, answer);
}

void mg_approvals_user_expired(mg_approvals_held_t *held)
{
    mg_exchange_t *exchange = held->exchange;
    const mg_config_approval_t *rule = mg_approvals_rule_of(held);
    char reason[200], message[500], id[MG_APPROVALS_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", held->id);
    snprintf(reason, sizeof(reason), "the caller's user did not answer within %llds (%s)", rule->timeout_s, id);
    snprintf(message, sizeof(message), "Call to %s/%.200s not approved by the user within %llds (approval %s)",
             mg_approvals_server_of(held), held->tool, rule->timeout_s, id);
    mg_approvals_log(held, MG_LOG_WARN, "approvals.expired", "approval %s: %s/%s expired%s",
                     ": the caller's user did not answer");
    mg_approvals_record_held(held, "expired");
    mg_approvals_release(held);
    mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_TIMEOUT, message, id, rule->path, reason);
}

/* ---- modern: an input-required result, and the retry ---------------------------------------------------- */

static mg_stage_t ask_modern(mg_exchange_t *exchange, size_t server_index, const char *tool, size_t rule,
                             const json_t *arguments, const char *digest, const char *canonical)
{
    const mg_config_approval_t *matched = &exchange->worker->gateway->config->approvals.rules[rule];
    const char *server = server_name(exchange, server_index);
    mg_mrtr_approval_t approval = {.rule = rule};
    mg_approvals_new_id(approval.id);
    snprintf(approval.tool, sizeof(approval.tool), "%s", tool);
    snprintf(approval.digest, sizeof(approval.digest), "%s", digest);
    int64_t now = (int64_t)time(NULL);
    mg_mrtr_request_t request = {exchange->claims.principal, exchange->message.method,
                                 mg_mrtr_target(exchange->message.params)};
    char *state = strlen(tool) < sizeof(approval.tool)
                      ? mg_mrtr_seal_approval(&exchange->worker->gateway->session_key, &request, server, &approval,
                                              now + matched->timeout_s)
                      : NULL;
    json_t *question =
        state != NULL ? mg_approvals_question(approval.id, server, tool, canonical, matched->timeout_s) : NULL;
    if (question == NULL) {
        free(state);
        refuse_user(exchange, "approvals.failed", "", matched, server, tool, "the user could not be asked",
                    "the question could not be made");
        return MG_STAGE_ANSWERED;
    }
    json_t *result = json_pack("{s:s, s:{s:{s:s, s:o}}, s:s}", "resultType", "input_required", "inputRequests",
                               MG_APPROVALS_INPUT_KEY, "method", METHOD, "params", question, "requestState", state);
    free(state);
    /* the audit and the log speak of a held call: it is the same question, only the waiting is the client's */
    mg_approvals_held_t shown = {.exchange = exchange, .kind = MG_HELD_USER_ASKED, .rule = rule, .tool = (char *)tool};
    memcpy(shown.id, approval.id, MG_APPROVALS_ID_LEN); /* new ids have that length exactly */
    shown.id[MG_APPROVALS_ID_LEN] = '\0';
    snprintf(shown.digest, sizeof(shown.digest), "%s", digest);
    char reason[200];
    snprintf(reason, sizeof(reason), "asked the caller's user to approve %s (input required, timeout %llds)",
             approval.id, matched->timeout_s);
    mg_outcome_decide_copy(exchange, MG_AUDIT_HOLD, matched->path, reason);
    mg_approvals_emit_hold(exchange, &shown, arguments, reason);
    mg_approvals_log(&shown, MG_LOG_WARN, "approvals.asked",
                     "approval %s: %s/%s answered input-required, the caller's user is asked%s", "");
    json_t *response = mg_rpc_make_result(exchange->message.id, result);
    mg_exchange_finish(exchange, response);
    json_decref(response);
    return MG_STAGE_ANSWERED;
}

/* A retry with an approve state: it must be the very call asked about, and approved; then the id is spent. */
static mg_stage_t answered_modern(mg_exchange_t *exchange, size_t server_index, const char *tool, size_t rule,
                                  const char *digest, const json_t *response)
{
    const mg_config_approval_t *matched = &exchange->worker->gateway->config->approvals.rules[rule];
    const char *server = server_name(exchange, server_index);
    const mg_mrtr_state_t *state = exchange->approval_state;
    const char *id = state->approval.id;
    if (strcmp(state->server, server) != 0 || strcmp(state->approval.tool, tool) != 0 ||
        strcmp(state->approval.digest, digest) != 0 || state->approval.rule != rule || !mg_approvals_id_valid(id)) {
        refuse_user(exchange, "approvals.mismatch", id, matched, server, tool,
                    "the approval was given for another call (server, tool or arguments differ)",
                    "the approval does not match the call");
        return MG_STAGE_ANSWERED;
    }
    mg_approval_answer_t answer = mg_approvals_read_answer(response);
    int64_t now = (int64_t)time(NULL);
    mg_approval_record_t record = {.id = id,
                                   .state = state->expired                          ? "expired"
                                            : answer == MG_APPROVAL_ANSWER_APPROVED ? "approved"
                                                                                    : "denied",
                                   .principal = exchange->principal->name,
                                   .server = server,
                                   .tool = tool,
                                   .arguments_sha256 = digest,
                                   .rule = matched->path,
                                   .created_at = now,
                                   .expires_at = now};
    mg_approvals_t *service = exchange->worker->gateway->approvals;
    if (state->expired) { /* whatever the user said: too late, as for a legacy client (mg_approvals_user_expired) */
        char reason[200], message[500];
        snprintf(reason, sizeof(reason), "the caller's user did not answer within %llds (%s)", matched->timeout_s, id);
        snprintf(message, sizeof(message), "Call to %s/%.200s not approved by the user within %llds (approval %s)",
                 server, tool, matched->timeout_s, id);
        json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "approval", id, "rule", matched->path, "server",
                                   server, "tool", tool, "approver", "user", "principal", exchange->principal->name);
        mg_log_fields(MG_LOG_WARN, "approvals.expired", fields,
                      "approval %s: %s/%s expired: the answer came after %llds", id, server, tool, matched->timeout_s);
        mg_approvals_record(service, &record, false, exchange->worker->index);
        mg_approvals_refuse(exchange, MG_APPROVALS_ERROR_TIMEOUT, message, id, matched->path, reason);
        return MG_STAGE_ANSWERED;
    }
    if (answer != MG_APPROVAL_ANSWER_APPROVED) {
        char reason[200];
        snprintf(reason, sizeof(reason), "%s (%s)", answer_reason(answer), id);
        mg_approvals_record(service, &record, false, exchange->worker->index); /* spent: a no is final too */
        refuse_user(exchange, "approvals.denied", id, matched, server, tool, answer_reason(answer), reason);
        return MG_STAGE_ANSWERED;
    }
    mg_approvals_held_t *held = mg_approvals_hold(exchange, MG_HELD_USER_CONSUME, rule, tool, digest, id);
    if (held == NULL) {
        refuse_user(exchange, "approvals.failed", id, matched, server, tool, "out of memory", "out of memory");
        return MG_STAGE_ANSWERED;
    }
    mg_approvals_record(service, &record, true, exchange->worker->index);
    return MG_STAGE_WAITING;
}

void mg_approvals_user_consumed(mg_approvals_held_t *held, const mg_approval_decision_t *decision)
{
    mg_exchange_t *exchange = held->exchange;
    const mg_config_approval_t *rule = mg_approvals_rule_of(held);
    char id[MG_APPROVALS_ID_LEN + 1], reason[300], server[128], tool[256];
    snprintf(id, sizeof(id), "%s", held->id);
    snprintf(server, sizeof(server), "%s", mg_approvals_server_of(held));
    snprintf(tool, sizeof(tool), "%s", held->tool);
    if (decision->verdict == MG_APPROVAL_APPROVED) {
        snprintf(reason, sizeof(reason), "approved by the caller's user (%s)", id);
        mg_approvals_log(held, MG_LOG_INFO, "approvals.approved", "approval %s: %s/%s approved by %s",
                         "the caller's user");
        mg_approvals_release(held);
        mg_outcome_decide_copy(exchange, MG_AUDIT_ALLOW, rule->path, reason);
        mg_dispatch_forward_resume(exchange);
        return;
    }
    snprintf(reason, sizeof(reason), "not approved: %.200s (%s)", decision->detail, id);
    mg_approvals_release(held);
    refuse_user(exchange, "approvals.replayed", id, rule, server, tool, decision->detail, reason);
}

/* A retry answering the server's own question about a call its user approved (the approval travels in the
 * gateway's wrap state, mcp/mrtr.h): it goes on if it is still that call, and is not asked again. */
static mg_stage_t continued_modern(mg_exchange_t *exchange, size_t server_index, const char *tool, size_t rule,
                                   const json_t *arguments)
{
    const mg_config_approval_t *matched = &exchange->worker->gateway->config->approvals.rules[rule];
    const char *server = server_name(exchange, server_index);
    const mg_mrtr_state_t *state = exchange->approval_state;
    char digest[MG_APPROVALS_HASH_HEX], reason[200];
    if (mg_approvals_digest(arguments, digest, NULL) != 0) {
        refuse_user(exchange, "approvals.failed", "", matched, server, tool, "out of memory", "out of memory");
        return MG_STAGE_ANSWERED;
    }
    if (strcmp(state->server, server) != 0 || strcmp(state->approval.tool, tool) != 0 ||
        strcmp(state->approval.digest, digest) != 0 || state->approval.rule != rule) {
        refuse_user(exchange, "approvals.mismatch", state->approval.id, matched, server, tool,
                    "the approval was given for another call (server, tool or arguments differ)",
                    "the approval does not match the call");
        return MG_STAGE_ANSWERED;
    }
    snprintf(reason, sizeof(reason), "approved by the caller's user (%s), continued", state->approval.id);
    mg_outcome_decide_copy(exchange, MG_AUDIT_ALLOW, matched->path, reason);
    return MG_STAGE_GO;
}

/* ---- the stage ---------------------------------------------------------------------------------------- */

mg_stage_t mg_approvals_user_stage(mg_exchange_t *exchange, size_t server_index, json_t *params, size_t rule)
{
    const mg_config_approval_t *matched = &exchange->worker->gateway->config->approvals.rules[rule];
    const char *server = server_name(exchange, server_index);
    const char *tool = json_string_value(json_object_get(params, "name"));
    const json_t *arguments = json_object_get(params, "arguments");
    const mg_mrtr_state_t *state = exchange->approval_state;
    if (state != NULL && state->kind == MG_MRTR_WRAP)
        return continued_modern(exchange, server_index, tool, rule, arguments);
    json_t *response = state != NULL ? json_object_get(json_object_get(exchange->message.params, "inputResponses"),
                                                       MG_APPROVALS_INPUT_KEY)
                                     : NULL;
    bool can_ask = exchange->modern ? mg_modern_client_can(&exchange->meta, "elicitation") : legacy_can_ask(exchange);
    if (response == NULL && !can_ask) {
        refuse_user(exchange, "approvals.unaskable", "", matched, server, tool,
                    exchange->modern || exchange->has_session
                        ? "the call needs the user's approval and this client cannot be asked (it did not declare "
                          "the elicitation capability)"
                        : "the call needs the user's approval and a client without a session cannot be asked",
                    "the caller's user cannot be asked");
        return MG_STAGE_ANSWERED;
    }
    char digest[MG_APPROVALS_HASH_HEX];
    char *canonical = NULL;
    if (mg_approvals_digest(arguments, digest, &canonical) != 0) {
        refuse_user(exchange, "approvals.failed", "", matched, server, tool, "out of memory", "out of memory");
        return MG_STAGE_ANSWERED;
    }
    mg_stage_t verdict;
    if (!exchange->modern)
        verdict = ask_legacy(exchange, server_index, tool, rule, arguments, digest, canonical);
    else if (response != NULL)
        verdict = answered_modern(exchange, server_index, tool, rule, digest, response);
    else /* a first call, or a retry without the answer: asked (again, under a new id) */
        verdict = ask_modern(exchange, server_index, tool, rule, arguments, digest, canonical);
    free(canonical);
    return verdict;
}
