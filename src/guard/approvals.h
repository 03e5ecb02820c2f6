/*
 * approvals.h - human approval: a tools/call that an `approvals` rule matches is held until a person
 * approves or denies it, or its time runs out (docs/guards.md, "Human approval").
 *
 * The call. After the inspect stage, the approve stage (mg_approval_stage, a forward stage of
 * mcp/exchange.h) matches "<server>/<tool>" against the rules' patterns; the first rule that matches holds
 * the exchange: the caller's request stays open (a notifications/progress every
 * MG_APPROVALS_PROGRESS_MS when it sent a progressToken), an approval id is made, and a pending row goes to
 * the state store. `mcpgate approvals approve ID` lets the call go on to the server, unchanged;
 * `deny ID` refuses it (MG_APPROVALS_ERROR_DENIED); the rule's timeout_s refuses it too
 * (MG_APPROVALS_ERROR_TIMEOUT). A client that leaves takes its call with it: the row becomes "abandoned".
 *
 * The id. "apr_" and 32 hex digits: 128 bits from the operating system's generator (libsodium), so
 * holding one call tells nothing about another's. It is single-use and bound: the row records the
 * caller's principal, the server, the tool and the SHA-256 of the canonical arguments (the audit
 * record's digest: compact JSON, keys sorted), and the gateway checks all four against the call it holds
 * before a decision acts on it. A row leaves "pending" once (sqlite_approvals.c), and the worker forgets
 * its held call at the first decision, expiry or departure, so nothing ever acts twice.
 *
 * Threads. Workers never touch the disk. A gateway-wide service (mg_approvals_t) owns its own store
 * connection and one thread: workers queue what they need written (a new row, an expiry, a departure);
 * the thread writes it, and while calls are held it reads the approvals generation counter every
 * MG_APPROVALS_POLL_MS (another process's decision raises it, like `tools approve` raises the pins'),
 * reads the rows of the calls this process holds, and posts each decision to the worker holding the call
 * (mg_worker_post). Expiry is a timer on that worker; the store arbitrates between an expiry and a
 * decision made at the same moment: whichever leaves "pending" first is what happens.
 *
 * The caller's user (`approver: user`, approvals_user.c). The rule asks the user of the client that made the
 * call, with the same id, binding and audit. A legacy client with a session gets an `elicitation/create` on
 * the held call's own stream, under an id of MG_ASKED_APPROVAL (mcp/asked.h) that names the holding worker;
 * its answer, on whichever worker it lands, is posted there and acts once, from that session only. A
 * 2026-07-28 client gets an InputRequiredResult asking the same question and a sealed requestState (mcp/mrtr.h,
 * kind approve) bound to the principal, the server, the tool, the arguments' digest and the rule, expiring
 * with the rule's timeout_s; its retry is checked against all of them, and an approval acts once: the service
 * records the id as a row decided by the user before the call goes on, and a second use of the id finds the
 * row (INSERT of an existing id), so a replayed state is refused, also after a restart. A client that cannot
 * be asked (no elicitation capability, no session) is refused at once. No pending row is written for a user's
 * question: an operator's `mcpgate approvals` cannot decide for the user.
 *
 * The rules are the configuration's at start: a SIGHUP does not change them.
 */
#ifndef MG_GUARD_APPROVALS_H
#define MG_GUARD_APPROVALS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "mcp/exchange.h"

/* The JSON-RPC errors of a held call (the gateway's range, next to the guards' -32040 and -32041). */
#define MG_APPROVALS_ERROR_DENIED (-32042)  /* a person denied it, or it could not be held */
#define MG_APPROVALS_ERROR_TIMEOUT (-32043) /* nobody decided within the rule's timeout_s */

#define MG_APPROVALS_ID_PREFIX "apr_"
#define MG_APPROVALS_ID_LEN 36   /* "apr_" and 32 hex digits */
#define MG_APPROVALS_HASH_HEX 65 /* 64 hex digits and NUL */
/* The canonical arguments kept in a pending row for the approver to read are cut at this many bytes. */
#define MG_APPROVALS_ARGUMENTS_MAX 4096
/* How often the service looks for decisions made by another process while calls are held. */
#define MG_APPROVALS_POLL_MS 200
/* How often a held call with a progressToken hears that it still waits. */
#define MG_APPROVALS_PROGRESS_MS 5000
/* The key of the question in an InputRequiredResult's inputRequests (and of its answer in inputResponses). */
#define MG_APPROVALS_INPUT_KEY "mcpgate-approval"
/* The canonical arguments shown in the question to the user are cut at this many bytes. */
#define MG_APPROVALS_QUESTION_ARGUMENTS_MAX 1000

typedef struct st_mg_approvals_t mg_approvals_t;

/* A new id into `out` (MG_APPROVALS_ID_LEN + 1 bytes). */
void mg_approvals_new_id(char out[MG_APPROVALS_ID_LEN + 1]);
/* Whether `text` has the shape of an id (the CLI checks before it opens the store). */
bool mg_approvals_id_valid(const char *text);
/* The hex SHA-256 of `arguments`' canonical text (NULL hashes as {}); `canonical` (optional) receives that
 * text (free it). -1 when out of memory. */
int mg_approvals_digest(const json_t *arguments, char hash[MG_APPROVALS_HASH_HEX], char **canonical);
/* Index of the first rule of `approvals` that holds a call of `tool` on `server`, or -1. */
long mg_approvals_match(const mg_config_approvals_t *approvals, const char *server, const char *tool);
/* `text` cut to `max` bytes at a character boundary, "..." in the last three, in place. */
void mg_approvals_shorten(char *text, size_t max);

/* What the caller's user said to the question (an ElicitResult). */
typedef enum en_mg_approval_answer_t {
    MG_APPROVAL_ANSWER_APPROVED = 0, /* action "accept" with content.approve true */
    MG_APPROVAL_ANSWER_DECLINED,     /* "decline", or "accept" with anything but approve: true */
    MG_APPROVAL_ANSWER_CANCELLED,    /* "cancel": dismissed without a choice */
    MG_APPROVAL_ANSWER_INVALID,      /* not an ElicitResult */
} mg_approval_answer_t;

/* The tail of a question's id (mcp/asked.h, MG_ASKED_APPROVAL): "<worker>:<approval id>" as the gateway made
 * it, a worker below `workers_len` and a valid id. False for anything else (a client's answer comes with
 * whatever id it likes). */
bool mg_approvals_parse_tail(const char *tail, size_t workers_len, size_t *worker, char id[MG_APPROVALS_ID_LEN + 1]);
/* Reads an ElicitResult (NULL: invalid). Only an explicit approve: true approves. */
mg_approval_answer_t mg_approvals_read_answer(const json_t *result);
/* The params of the elicitation/create that asks the user to approve call `id` of `tool` on `server` with
 * `arguments` (canonical text, cut at MG_APPROVALS_QUESTION_ARGUMENTS_MAX here), within `timeout_s`. NULL when
 * out of memory. */
json_t *mg_approvals_question(const char *id, const char *server, const char *tool, const char *arguments,
                              long long timeout_s);

/* ---- the service (approvals.c) ------------------------------------------------------------------------ */

struct st_mg_gateway_t;
struct st_mg_worker_t;

/* Opens the store in `state_dir` and prunes rows decided more than a week ago. Without rules the gateway
 * has no service (gateway->approvals stays NULL). */
int mg_approvals_open(const char *state_dir, mg_approvals_t **out, mg_error_t *err);
/* Starts the thread (once the workers' queues exist: it posts to them). */
int mg_approvals_start(struct st_mg_gateway_t *gateway, mg_error_t *err);
/* Stops and joins it (before the workers stop); safe when it never started. */
void mg_approvals_stop(struct st_mg_gateway_t *gateway);
/* NULL is ignored. After mg_approvals_stop. */
void mg_approvals_close(mg_approvals_t *approvals);

/* ---- the worker side (approvals_stage.c) ------------------------------------------------------------- */

/* The forward stage (mcp/exchange.h): holds a tools/call a rule matches (MG_STAGE_WAITING), refuses one
 * it cannot hold (MG_STAGE_ANSWERED), lets everything else go (MG_STAGE_GO). `params` is what the server
 * will get. */
mg_stage_t mg_approval_stage(mg_exchange_t *exchange, size_t server_index, json_t *params);
/* Per worker: its held calls and timers (the rules of gateway->config). From worker_init. */
int mg_approvals_worker_init(struct st_mg_worker_t *worker, mg_error_t *err);
/* After the worker's loop ended. */
void mg_approvals_worker_dispose(struct st_mg_worker_t *worker);

/* ---- between the two (approvals.c <-> approvals_stage.c) --------------------------------------------- */

typedef enum en_mg_approval_verdict_t {
    MG_APPROVAL_APPROVED = 0,
    MG_APPROVAL_DENIED,
    MG_APPROVAL_EXPIRED,
    MG_APPROVAL_FAILED, /* the store could not record the hold: the call is refused */
} mg_approval_verdict_t;

/* What the service posts to the worker holding call `id` (the worker frees it with free()). */
typedef struct st_mg_approval_decision_t {
    char id[MG_APPROVALS_ID_LEN + 1];
    mg_approval_verdict_t verdict;
    char decided_by[128];
    /* the row's binding, checked against the held call before an approval acts */
    char principal[256];
    char server[128];
    char tool[256];
    char arguments_sha256[MG_APPROVALS_HASH_HEX];
    char detail[256]; /* MG_APPROVAL_FAILED: why */
} mg_approval_decision_t;

/* A held call's row (the service copies it); `worker_index` is where decisions go. Thread-safe. */
void mg_approvals_submit(mg_approvals_t *approvals, size_t worker_index, const char *id, const char *principal,
                         const char *server, const char *tool, const char *arguments_sha256, const char *arguments,
                         const char *rule, int64_t created_at, int64_t expires_at);
/* The worker's deadline passed: the service closes the row as expired unless a person decided first, and
 * posts what happened (MG_APPROVAL_EXPIRED, or the decision). Thread-safe. */
void mg_approvals_expire(mg_approvals_t *approvals, const char *id);
/* The caller left: the row is closed as abandoned; nothing is posted. Thread-safe. */
void mg_approvals_abandon(mg_approvals_t *approvals, const char *id);
/* Runs on the worker: the decision about one of its held calls (`decision` owned). */
void mg_approvals_on_decision(struct st_mg_worker_t *worker, void *decision);

/* A user's decision, recorded as a row decided already (approver "user", decided_by "user"): `state`
 * "approved", "denied", "expired" or "abandoned". With `answer`, the service posts to `worker_index` whether
 * the id was new (MG_APPROVAL_APPROVED) or not (MG_APPROVAL_FAILED: used already, or the store failed): that
 * is how a modern approval acts once. Thread-safe. */
typedef struct st_mg_approval_record_t {
    const char *id, *state, *principal, *server, *tool, *arguments_sha256, *rule;
    int64_t created_at, expires_at;
} mg_approval_record_t;
void mg_approvals_record(mg_approvals_t *approvals, const mg_approval_record_t *record, bool answer,
                         size_t worker_index);

/* A legacy client's answer to an `approver: user` question (dispatch.c): `tail` is its id's tail (mcp/asked.h),
 * `response` (borrowed) the client's JSON-RPC response, or the error the gateway put in its place. */
void mg_approvals_user_answer(mg_exchange_t *exchange, const char *tail, const json_t *response);

#endif
