/*
 * approvals_internal.h - what the worker's two halves of human approval share: the held call
 * (approvals_stage.c: the operator's decisions, the list and timers) and the caller's user
 * (approvals_user.c: questions by elicitation or input-required result).
 */
#ifndef MG_GUARD_APPROVALS_INTERNAL_H
#define MG_GUARD_APPROVALS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/worker.h"
#include "guard/approvals.h"
#include "obs/log.h"

typedef enum en_mg_held_kind_t {
    MG_HELD_ADMIN,        /* a pending row waits for `mcpgate approvals approve|deny` */
    MG_HELD_USER_ASKED,   /* a legacy client's user was asked on the call's stream */
    MG_HELD_USER_CONSUME, /* a modern retry approved by its user: the service records the id once */
} mg_held_kind_t;

/* A call the approve stage holds: on its worker's list, pointed to by exchange->wait. */
typedef struct st_mg_approvals_held_t {
    h2o_linklist_t link;
    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t progress;
    mg_exchange_t *exchange;
    mg_held_kind_t kind;
    size_t rule;
    uint64_t held_at_ms;
    int64_t created_at;     /* Unix seconds: when the question was first asked */
    json_t *progress_token; /* the client's, retained; NULL: it sent none */
    char *tool;             /* the server's own tool name */
    char id[MG_APPROVALS_ID_LEN + 1];
    char digest[MG_APPROVALS_HASH_HEX];
} mg_approvals_held_t;

static inline const mg_config_approval_t *mg_approvals_rule_of(const mg_approvals_held_t *held)
{
    return &held->exchange->worker->gateway->config->approvals.rules[held->rule];
}

static inline const char *mg_approvals_server_of(const mg_approvals_held_t *held)
{
    return held->exchange->worker->gateway->config->servers[held->exchange->forward.server_index].name;
}

/* Holds `exchange` (exchange->wait set, on the worker's list): the deadline of rule `rule` runs unless the
 * kind is MG_HELD_USER_CONSUME, progress too when the client sent a token. `id` NULL: a new one. NULL when out
 * of memory (nothing held then). */
mg_approvals_held_t *mg_approvals_hold(mg_exchange_t *exchange, mg_held_kind_t kind, size_t rule, const char *tool,
                                       const char *digest, const char *id);
/* Takes the call off its worker and out of the exchange; the caller acts on the exchange next. */
void mg_approvals_release(mg_approvals_held_t *held);
/* The held call `id` of kind `kind` on `worker`, or NULL. */
mg_approvals_held_t *mg_approvals_find(mg_worker_t *worker, const char *id, mg_held_kind_t kind);
/* A log line about a held call: `fmt` takes the id, server, tool and `detail`. */
void mg_approvals_log(const mg_approvals_held_t *held, mg_log_level_t level, const char *event, const char *fmt,
                      const char *detail);
/* The `hold` audit event of a call held or asked about. */
void mg_approvals_emit_hold(mg_exchange_t *exchange, const mg_approvals_held_t *held, const json_t *arguments,
                            const char *reason);
/* Answers the call with error `code` (data: guard, approval, rule) and records decision deny with `reason`. */
void mg_approvals_refuse(mg_exchange_t *exchange, int code, const char *message, const char *id, const char *rule,
                         const char *reason);
/* Records a user's decision about `held` (mg_approvals_record), without an answer. */
void mg_approvals_record_held(const mg_approvals_held_t *held, const char *state);

/* approvals_user.c */
mg_stage_t mg_approvals_user_stage(mg_exchange_t *exchange, size_t server_index, json_t *params, size_t rule);
/* The deadline of a user's question passed: -32043. */
void mg_approvals_user_expired(mg_approvals_held_t *held);
/* The service recorded (or refused) a modern approval's id. `decision` stays the caller's. */
void mg_approvals_user_consumed(mg_approvals_held_t *held, const mg_approval_decision_t *decision);

#endif
