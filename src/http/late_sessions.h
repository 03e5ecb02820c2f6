/*
 * late_sessions.h - upstream sessions the gateway opens after a client's initialize.
 *
 * A client's sealed session id carries the session it holds on each legacy HTTP upstream,
 * opened during its initialize; the id cannot change afterwards. A session the gateway opens
 * later (the upstream was down at initialize, or a modern principal reaches a legacy server
 * through its gateway-held session) is remembered by the worker that opened it, in
 * worker->late_sessions, keyed "<sid>/<server>" (bounded: beyond MG_LATE_SESSIONS_MAX the table
 * starts afresh). Another worker opens its own, so server-initiated messages of that upstream
 * reach the client only on streams of the worker that made the session: a documented limit.
 */
#ifndef MG_HTTP_LATE_SESSIONS_H
#define MG_HTTP_LATE_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/worker.h"
#include "mcp/session.h"

#define MG_LATE_SESSIONS_MAX 10000
#define MG_LATE_SESSIONS_KEY_MAX MG_WORKER_LATE_KEY_MAX

/* The key "<sid>/<server>", not NUL-terminated; its length, or 0 when it would not fit (such a
 * session is not kept). */
size_t mg_late_sessions_key(const char *sid, const char *server, char key[MG_LATE_SESSIONS_KEY_MAX]);

/* The upstream session a client (or a modern principal) holds on a server: from its sealed claims, or
 * opened late on this worker. NULL when none. */
const char *mg_late_sessions_find(mg_worker_t *worker, const mg_session_claims_t *claims, const char *server);

/* The initialize request that opens one (new reference), with the client's own parameters; a modern
 * principal's offers what the gateway can bridge (elicitation, sampling). */
json_t *mg_late_sessions_initialize(const mg_session_claims_t *claims, bool modern);

/* Remembers the session `session_id` that `sid` now holds on `server`, on this worker, unless another
 * request opened one first (while this one was being opened): then that one stays. Returns the session
 * to use (valid until the table changes, i.e. for the current callback). */
const char *mg_late_sessions_remember(mg_worker_t *worker, const char *sid, const char *server,
                                      const char *session_id);

#endif
