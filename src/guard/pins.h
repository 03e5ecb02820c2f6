/*
 * pins.h - tool pinning: a tool whose definition changes after the gateway first saw it ("rug pull") is
 * held for review until an operator approves the new version (docs/guards.md, "Tool pinning").
 *
 * What is pinned. The SHA-256 of a tool's canonical definition: the members name, title, description,
 * inputSchema, outputSchema and annotations that the tool has, written as compact JSON with sorted keys
 * at every depth (mg_pins_hash_tool). Key order and whitespace therefore never make a change; any other
 * difference does. Each server's `instructions` is pinned the same way as a pseudo-tool named ""
 * (shown as SERVER#instructions).
 *
 * Two halves.
 *   - The pin store (mg_pins_t, pins.c) is shared by all workers: an in-memory copy of the pins table of
 *     <state_dir>/mcpgate.db behind one mutex, written through to SQLite only on a transition (first
 *     sight, a new change, a revert, a flag). Definitions are judged when a tool list arrives, never per
 *     call, so the request path neither waits on disk nor takes this lock in the steady state.
 *   - The worker side (pins_catalog.c) stores each verdict with the worker's tool catalog
 *     (mg_upstream_t.held_tools), so that a tools/call asks one hash lookup of the worker's own data.
 *
 * Transitions of one (server, tool), decided by mg_pins_observe:
 *   unknown          -> pinned (trust on first use: approved_by "first-sight")
 *   hash = approved  -> pinned (a pending change the server took back is forgotten)
 *   hash = pending   -> as before: held (enforce, or reason poisoned) or served (warn)
 *   any other hash   -> pending = hash, reason "changed": reported once (audit event, log line)
 * `mcpgate tools approve SERVER/TOOL` turns the pending hash into the approved one; the gateway's watcher
 * (pins_watch.c) notices within MG_PINS_WATCH_INTERVAL_MS and makes every worker list the server again.
 *
 * A second reason, "poisoned" (a detector's verdict on a definition, with its words), enters through
 * mg_pins_flag: call it for the definition's hash before mg_pins_observe judges that definition (in
 * pins_catalog.c's judge_tool, where the hook is marked). The flagged definition is then held in every
 * mode but off until an operator approves exactly that hash.
 *
 * Functions return 0 or a negative value with `err` filled; none aborts on bad input.
 */
#ifndef MG_GUARD_PINS_H
#define MG_GUARD_PINS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"

#define MG_PINS_HASH_HEX 65 /* 64 hex digits and NUL */
#define MG_PINS_DETAIL_MAX 256
/* The JSON-RPC error a call to a held tool gets (the gateway's own range, next to -32029). */
#define MG_PINS_ERROR_QUARANTINED (-32040)
/* How often the running gateway looks for approvals made by another process. */
#define MG_PINS_WATCH_INTERVAL_MS 1000

typedef struct st_mg_pins_t mg_pins_t;

typedef enum en_mg_pins_reason_t {
    MG_PINS_REASON_NONE = 0, /* the definition is the approved one */
    MG_PINS_REASON_CHANGED,  /* it differs from the approved one */
    MG_PINS_REASON_POISONED, /* a detector flagged it (mg_pins_flag) */
} mg_pins_reason_t;

/* What an observation changed in the store: the caller reports it (log, audit) exactly once. */
typedef enum en_mg_pins_event_t {
    MG_PINS_NO_NEWS = 0,
    MG_PINS_FIRST_SIGHT,   /* pinned now */
    MG_PINS_NEWLY_CHANGED, /* a definition neither approved nor pending before */
    MG_PINS_REVERTED,      /* the server serves the approved definition again; the pending one is forgotten */
} mg_pins_event_t;

typedef struct st_mg_pins_judgement_t {
    bool hold;               /* quarantined: hidden from lists, calls refused */
    mg_pins_reason_t reason; /* why the definition is not the approved one */
    mg_pins_event_t event;
    char approved[MG_PINS_HASH_HEX]; /* "" when nothing was approved */
    char current[MG_PINS_HASH_HEX];
    char detail[MG_PINS_DETAIL_MAX]; /* a poisoning detector's words, or "" */
} mg_pins_judgement_t;

/* "changed", "poisoned" or "" */
const char *mg_pins_reason_name(mg_pins_reason_t reason);

/* Opens (creating when missing) <state_dir>/mcpgate.db and loads every pin. `mode` decides what a change
 * meets (MG_PINS_OFF is not opened: the caller has no store then). */
int mg_pins_open(const char *state_dir, mg_pins_mode_t mode, mg_pins_t **out, mg_error_t *err);
/* NULL is ignored. */
void mg_pins_close(mg_pins_t *pins);
mg_pins_mode_t mg_pins_mode(const mg_pins_t *pins);

/* The hex SHA-256 of a tool's canonical definition (see above). -1 when `tool` is not an object. */
int mg_pins_hash_tool(const json_t *tool, char hash[MG_PINS_HASH_HEX]);
/* The same for a server's instructions (an initialize or discover result; a missing or non-string
 * `instructions` hashes as absent). -1 when `result` is not an object. */
int mg_pins_hash_instructions(const json_t *result, char hash[MG_PINS_HASH_HEX]);

/* Judges the definition `hash` of (server, tool) seen now, updating the store on a transition (above).
 * Thread-safe. `out` is always filled; -1 means the transition could not be written to disk (the
 * in-memory verdict holds for this process, `err` says why, and the next observation writes again). */
int mg_pins_observe(mg_pins_t *pins, const char *server, const char *tool, const char *hash, int64_t now,
                    mg_pins_judgement_t *out, mg_error_t *err);

/* Holds the definition `hash` of (server, tool) for `reason` (MG_PINS_REASON_POISONED), with `detail`
 * (truncated to MG_PINS_DETAIL_MAX - 1 bytes; never put a secret in it). A definition an operator approved
 * (approved_by "operator") is not flagged again: the operator accepted exactly it. Thread-safe; writes
 * through. *changed (optional) is set when the store changed. */
int mg_pins_flag(mg_pins_t *pins, const char *server, const char *tool, const char *hash, mg_pins_reason_t reason,
                 const char *detail, int64_t now, bool *changed, mg_error_t *err);

/* Reloads the pins when another process changed them (the generation moved). Returns 1 with `*servers`
 * (new reference) the array of server names whose pins differ from before, 0 when nothing changed, -1 on
 * error. Thread-safe; reads the disk, so never call it on the request path. */
int mg_pins_refresh(mg_pins_t *pins, json_t **servers, mg_error_t *err);

/* ---- the worker side (pins_catalog.c); every function runs on `worker`'s own thread --------------- */

struct st_mg_worker_t;
struct st_mg_exchange_t;
struct st_mg_gateway_t;

/* Judges every tool of the worker's catalog of server `server_index` (upstream->tools, just filled) and
 * stores the held ones in upstream->held_tools; reports news (audit event, log line) and, when a tool is
 * newly held, tells every worker and client that the server's list changed. No-op without pins. */
void mg_pins_judge_catalog(struct st_mg_worker_t *worker, size_t server_index);
/* The same for one page of a tools/list that does not make a catalog (a later page on /servers/NAME/mcp):
 * holds are added and lifted by name, nothing else is forgotten. */
void mg_pins_judge_page(struct st_mg_worker_t *worker, size_t server_index, const json_t *tools);
/* Removes the held tools from a list of tools in the server's own names, in place. */
void mg_pins_filter_list(const struct st_mg_worker_t *worker, size_t server_index, json_t *tools);
/* When the tool is held: answers the exchange with MG_PINS_ERROR_QUARANTINED and records the decision
 * (audit decision "quarantine"), and returns true. One lookup when nothing is held. */
bool mg_pins_refuse_call(struct st_mg_exchange_t *exchange, size_t server_index, const char *local_name);
/* Judges the server's instructions (upstream->initialize_result, just set); a held one is left out of
 * the initialize / discover result on /servers/NAME/mcp (upstream->instructions_held). */
void mg_pins_judge_instructions(struct st_mg_worker_t *worker, size_t server_index);

/* ---- the watcher (pins_watch.c): approvals made by `mcpgate tools approve` reach the workers ------- */

/* Starts a thread that calls mg_pins_refresh every MG_PINS_WATCH_INTERVAL_MS and, for each server whose
 * pins changed, broadcasts a notifications/tools/list_changed from it (every worker drops its catalog of
 * the server, so the next list or call judges again; clients' GET streams hear it too). No-op without
 * gateway->pins. */
int mg_pins_watch_start(struct st_mg_gateway_t *gateway, mg_error_t *err);
/* Stops and joins it (before the workers stop); safe when it never started. */
void mg_pins_watch_stop(struct st_mg_gateway_t *gateway);

#endif
