/*
 * webhook.h - the client of `guards.webhook` (docs/guards.md, "Webhook"): POSTs a description of a call to
 * the configured URL and reports the service's verdict, on the worker's loop, never blocking it.
 *
 * One mg_webhook_t per worker, made on the worker's thread on first use (its connections are that
 * thread's: core/worker.h) and destroyed after the worker's loop has ended. Its keep-alive connections
 * are the gateway's own HTTP client (upstream/http_conn.h), TLS verified against the system's trust
 * store for an https:// URL. Each check is bounded by the configured timeout_ms: a timer on the loop
 * cancels the HTTP request when it fires.
 *
 * The verdict: HTTP 200 with {"action":"allow"} or {"action":"block","reason":"..."}; anything else
 * (another status, a body that is not such an object, an unknown action, the timeout, no connection) is
 * an error, which the caller handles (on_error).
 */
#ifndef MG_GUARD_WEBHOOK_H
#define MG_GUARD_WEBHOOK_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/error.h"

#define MG_WEBHOOK_REASON_MAX 256 /* bytes of a reason kept (cut on a UTF-8 boundary), with its NUL */

typedef enum en_mg_webhook_verdict_t {
    MG_WEBHOOK_ALLOW,
    MG_WEBHOOK_BLOCK,
    MG_WEBHOOK_ERROR,
} mg_webhook_verdict_t;

typedef struct st_mg_webhook_t mg_webhook_t;
typedef struct st_mg_webhook_check_t mg_webhook_check_t;

/* Called once per check, on the worker's thread, with the check already gone: `reason` is the service's
 * reason for a block, or why there is no verdict for an error (NULL for allow; valid during the call). */
typedef void (*mg_webhook_done_fn)(void *data, mg_webhook_verdict_t verdict, const char *reason);

/* A client for `config` (borrowed: it must outlive the client) on `loop`; on the loop's own thread. Returns
 * 0, or -1 with `err` set (a URL h2o cannot parse, a TLS context that cannot be made, no memory). */
int mg_webhook_create(const mg_config_webhook_t *config, h2o_loop_t *loop, h2o_multithread_receiver_t *getaddr_receiver,
                      mg_webhook_t **out, mg_error_t *err);
/* Ends the checks still running without calling them back, then frees the client (NULL is fine). After
 * the loop has ended, or on its thread. */
void mg_webhook_destroy(mg_webhook_t *webhook);

/* Starts a check: POSTs `body` (JSON text, copied) and calls `done` with `data` later, never from inside
 * this call. Returns the check, valid until `done` or mg_webhook_cancel; or NULL with *errstr set when
 * the request failed at once (nothing will be called). */
mg_webhook_check_t *mg_webhook_check(mg_webhook_t *webhook, const char *body, size_t len, mg_webhook_done_fn done,
                                     void *data, const char **errstr);
/* Ends a check without calling it back (the caller no longer wants the verdict). Not from inside `done`. */
void mg_webhook_cancel(mg_webhook_check_t *check);

/* The verdict an answer with `status` and `body` gives; `reason` (MG_WEBHOOK_REASON_MAX bytes) receives
 * the block's reason (a default when the service gave none) or what is wrong with the answer. Control
 * characters in the service's reason become spaces. */
mg_webhook_verdict_t mg_webhook_parse_verdict(int status, const char *body, size_t len,
                                              char reason[MG_WEBHOOK_REASON_MAX]);

#endif
