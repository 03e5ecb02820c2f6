/*
 * stdio.h - MCP servers as child processes speaking newline-delimited JSON-RPC.
 *
 * One child per configured server, shared by every client (as with any stdio MCP
 * host). Its pipes live in one worker's event loop (the owner: server index modulo
 * the number of workers); every other worker reaches it through an mg_upstream_t
 * handle that posts to the owner. The owner rewrites request ids and progress tokens
 * so that answers find their way back to the right worker and call, and routes
 * server-to-client requests (sampling, elicitation, roots) to the client whose call
 * is the most recent one in flight that declared the needed capability: over stdio
 * nothing else tells which call such a request belongs to.
 *
 * Each new child is asked its era first (server/discover; 3 s of silence or any
 * non-modern error means legacy, which is then initialized). A modern child gets
 * every request with this gateway's _meta and no notification but cancellations.
 *
 * Children run sandboxed: own session and process group, no new privileges, no
 * core dumps, a scrubbed environment (PATH, HOME, LANG, TERM, TMPDIR, USER plus the
 * configured env), killed when the gateway dies. A child that exits is restarted with
 * exponential backoff (0.5 s doubling to 30 s, reset after a minute of good health).
 * Stopping closes stdin, then sends SIGTERM after 2 s, then SIGKILL after 4 s.
 */
#ifndef MG_UPSTREAM_STDIO_H
#define MG_UPSTREAM_STDIO_H

#include <stdbool.h>

#include "core/error.h"
#include "core/worker.h"
#include "upstream/upstream.h"

mg_upstream_t *mg_upstream_stdio_create(mg_worker_t *worker, const mg_config_server_t *server, size_t server_index,
                                        mg_error_t *err);
void mg_stdio_stop_owned(mg_worker_t *worker);
bool mg_stdio_owned_stopped(mg_worker_t *worker);

#endif
