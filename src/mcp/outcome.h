/*
 * outcome.h - what became of one client message: the decision the gateway took on it and how it ended,
 * turned into exactly one audit record (audit/audit.h) when the exchange ends.
 *
 * The stages that decide write into the exchange's outcome as they go: the dispatcher names the server
 * and item, authorize the policy's verdict and the rule behind it, the limit stage a refusal (or what
 * observe mode let through), validate a refused argument list. The front end records the outcome once,
 * when it answers (before the answer leaves, so that with `audit.fsync: always` no acknowledged call
 * lacks its record), or when the exchange ends unanswered (the client left). Requests are always
 * recorded; notifications and client responses only when the gateway refused them.
 *
 * Everything here costs one branch when neither an audit trail nor metrics are configured.
 */
#ifndef MG_MCP_OUTCOME_H
#define MG_MCP_OUTCOME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"

struct st_mg_exchange_t;
struct st_mg_worker_t;
struct st_mg_principal_t;
struct st_mg_rpc_message_t;

typedef struct st_mg_outcome_t {
    int64_t start_us;          /* the request's arrival, microseconds since the epoch */
    int64_t upstream_begin_us; /* monotonic: the first upstream call's start, 0 when none ran */
    int64_t upstream_end_us;   /* monotonic: the last upstream call's end */
    const char *item_name;     /* the server's own name or URI (borrowed from the message) */
    const char *rule;          /* what decided (borrowed from the policy, or in `text`); NULL: nothing named */
    const char *reason;        /* static, or in `text` */
    char *text;                /* owned: copies of a rule or reason that would not outlive the exchange */
    json_t *findings;        /* owned: the guards' findings (mcp/inspect.h), an array; NULL: none */
    size_t findings_omitted; /* findings beyond those in `findings` */
    int64_t bytes_in;
    int32_t server;         /* configured server index, -1 when none */
    uint8_t item_kind;      /* mg_audit_item_kind_t */
    uint8_t decision;       /* mg_audit_decision_t */
    bool decided;           /* a stage set the decision (else it follows from the answer) */
    bool item_known;        /* the item is in its server's list or the configuration (a metrics label) */
    bool upstream_answered; /* the answer is the upstream's (an error in it is not the gateway's) */
    bool recorded;
} mg_outcome_t;

/* Whether the exchange's outcome is recorded at all (an audit trail or metrics are configured). */
bool mg_outcome_wanted(const struct st_mg_exchange_t *exchange);

/* The server and item a message is about (`name` borrowed for the exchange's life). */
void mg_outcome_item(struct st_mg_exchange_t *exchange, mg_audit_item_kind_t kind, size_t server_index,
                     const char *name);
/* A stage's decision: `rule` must live as long as the exchange's access (the policy's own strings) or be
 * NULL; `reason` is copied. Neither may hold a credential or an argument value (audit.h). */
void mg_outcome_decide(struct st_mg_exchange_t *exchange, mg_audit_decision_t decision, const char *rule,
                       const char *reason);
/* The same, with a rule name that is copied (rate-limit rules may be replaced by a reload meanwhile). */
void mg_outcome_decide_copy(struct st_mg_exchange_t *exchange, mg_audit_decision_t decision, const char *rule,
                            const char *reason);
/* An upstream call started / ended (times for upstream latency). */
void mg_outcome_upstream_begin(struct st_mg_exchange_t *exchange);
void mg_outcome_upstream_end(struct st_mg_exchange_t *exchange);

/* Records the outcome once: `response` is the answer (NULL when the exchange ends unanswered, or is
 * answered without a JSON-RPC body of its own); `error_code` the error answered when `response` is NULL
 * (0: none); `bytes_out` the answer's size (-1: unknown); `client_address` as the listener saw it (may
 * be ""). Later calls do nothing. */
void mg_outcome_record(struct st_mg_exchange_t *exchange, const json_t *response, int error_code, int64_t bytes_out,
                       const char *client_address);
/* Frees what the outcome owns. */
void mg_outcome_dispose(mg_outcome_t *outcome);

/* The one record of a request answered without becoming an exchange: refused early (a bad header, an
 * undecodable body, a failed authentication), or a subscription stream opened. `principal` and `message`
 * may be NULL (not known yet); `error_code` 0 means it was served. */
void mg_outcome_record_direct(struct st_mg_worker_t *worker, const struct st_mg_principal_t *principal,
                              const struct st_mg_rpc_message_t *message, int64_t start_us, int64_t bytes_in,
                              mg_audit_decision_t decision, int error_code, const char *reason,
                              const char *client_address);

/* Microseconds since the epoch of a struct timeval (h2o's request timestamps). */
int64_t mg_outcome_time_us(long seconds, long microseconds);

#endif
