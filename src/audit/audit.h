/*
 * audit.h - the tamper-evident audit trail: one record per decision, written off the request path.
 *
 * A request-path caller fills an mg_audit_event_t on its stack with borrowed pointers and calls
 * mg_audit_emit. Emit serializes the event into one heap buffer (the JSON body of the record and,
 * for the digest, the canonical text of the arguments) on the caller's thread, because the
 * caller's jansson values are not safe to read from another thread, and hands the buffer to a
 * bounded queue. A background writer thread numbers the records (`seq`), links each to the one
 * before (`prev`, the SHA-256 of the previous line), hashes the arguments, signs checkpoints,
 * writes batches to the JSON-lines file, syncs as configured and rotates. An indexer thread at idle
 * priority reads the file back into the SQLite index. The request path never touches the disk; when the queue is full,
 * emit waits for room (records are never dropped) and counts the wait.
 *
 * Secrets. The event has no field for a token, key or password, and the arguments are redacted by
 * default. Callers must not put credentials, tokens or argument values into `reason`, `rule` or
 * any other free text: the trail is meant to be read by people who must not learn them.
 *
 * Format, chain and checkpoints: docs/observability.md. Verification: audit_verify.h.
 */
#ifndef MG_AUDIT_AUDIT_H
#define MG_AUDIT_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"

typedef enum en_mg_audit_decision_t {
    MG_AUDIT_ALLOW = 0,
    MG_AUDIT_DENY,
    MG_AUDIT_HIDDEN, /* denied and answered as unknown */
    MG_AUDIT_REDACT, /* allowed with parts of the request or result redacted */
    MG_AUDIT_HOLD,   /* held for approval */
    MG_AUDIT_RATE_LIMITED,
    MG_AUDIT_ERROR,      /* the gateway or the upstream failed; `reason` says how */
    MG_AUDIT_QUARANTINE, /* a tool held for review: its definition changed or was flagged (guard/pins.h) */
} mg_audit_decision_t;
#define MG_AUDIT_DECISIONS 8

typedef enum en_mg_audit_item_kind_t {
    MG_AUDIT_ITEM_NONE = 0, /* the method names no item (tools/list, initialize, ...) */
    MG_AUDIT_ITEM_TOOL,
    MG_AUDIT_ITEM_PROMPT,
    MG_AUDIT_ITEM_RESOURCE,
} mg_audit_item_kind_t;

/* One decision. Every pointer is borrowed for the duration of mg_audit_emit only, and may be NULL
 * (the field is then left out of the record). Integers set to -1 are left out too, and an error_code
 * of 0. */
typedef struct st_mg_audit_event_t {
    int64_t time_us;          /* microseconds since the Unix epoch; 0: now */
    const json_t *request_id; /* the JSON-RPC id (string or number) */
    const char *trace_id;     /* W3C trace id, 32 hex digits */
    struct {
        const char *subject;
        const char *issuer;
        const char *key_id;    /* the API key's id */
        const char *client_id; /* the OAuth client (azp / client_id claim) */
        const char *method;    /* mg_principal_method_name(): "jwt", "api_key", "anonymous", ... */
    } principal;
    const char *client_address;   /* "203.0.113.9" or "[2001:db8::1]:51234", as the listener saw it */
    const char *protocol_version; /* "2026-07-28", "2025-06-18", ... (the era follows from it) */
    const char *server;           /* the upstream's configured name */
    mg_audit_item_kind_t item_kind;
    const char *item_name; /* the server's own tool or prompt name, or resource URI */
    const char *method;    /* "tools/call", ... */
    mg_audit_decision_t decision;
    const char *rule;        /* what decided: "roles[1].allow[0]", "rate_limits.per-user", ... */
    const char *reason;      /* short text for people; never a credential or an argument value */
    const json_t *arguments; /* tools/call arguments, prompts/get arguments; NULL: none */
    const char *status;      /* the result: "ok", "error" (JSON-RPC error), "tool_error" (isError), ... */
    int64_t error_code;      /* the JSON-RPC error code answered (codes are negative), or 0: none */
    int64_t upstream_us;     /* time spent waiting for the upstream, or -1 */
    int64_t total_us;        /* time from the request's arrival to its answer, or -1 */
    int64_t bytes_in;        /* request body bytes, or -1 */
    int64_t bytes_out;       /* response bytes, or -1 */
    const json_t *findings;  /* a JSON array from later stages (DLP, injection), or NULL */
} mg_audit_event_t;

/* An event with every optional integer at -1 and everything else zero: start from this. */
#define MG_AUDIT_EVENT_INIT                                                                                            \
    {                                                                                                                  \
        .upstream_us = -1, .total_us = -1, .bytes_in = -1, .bytes_out = -1                                             \
    }

typedef struct st_mg_audit_t mg_audit_t;

typedef struct st_mg_audit_stats_t {
    uint64_t emitted;            /* records handed to mg_audit_emit */
    uint64_t written;            /* records written to the file (and synced, with fsync: always) */
    uint64_t queue_depth;        /* records waiting for the writer now */
    uint64_t queue_capacity;     /* audit.queue */
    uint64_t backpressure_waits; /* emits that had to wait for room in the queue */
    uint64_t write_errors;       /* failed writes, syncs or rotations (each retried; nothing is dropped) */
    uint64_t index_errors;       /* failed SQLite index transactions (the file still holds the records) */
    uint64_t indexed;            /* records this process added to the SQLite index */
    uint64_t index_seq;          /* the highest seq in the index (0 without one) */
    uint64_t checkpoints;        /* signed checkpoints written */
    uint64_t rotations;          /* files rotated */
    uint64_t last_seq;           /* seq of the last record written */
} mg_audit_stats_t;

/* Prepares the trail for `config` (copied; the snapshot may be released afterwards): opens or
 * creates the file (0600) and the index, and finds the end of an existing chain (the file's last
 * line, or the last rotated file's when the file is missing or empty) so that numbering and
 * linking continue. A torn last line (a crash in the middle of a write) is cut off and logged.
 * Fails on an unreadable file or a last line that is not a record of this format. No thread runs
 * until mg_audit_start. */
int mg_audit_create(const mg_config_audit_t *config, mg_audit_t **out, mg_error_t *err);
/* Starts the writer thread, and with audit.sqlite the indexer thread (which opens, or creates, the
 * index and begins with what the file holds beyond it). */
int mg_audit_start(mg_audit_t *audit, mg_error_t *err);
/* Queues one record. Safe from any thread; never touches the disk; waits only while the queue is
 * full. Returns 0, or -1 when the event cannot be serialized (out of memory, a `findings` value
 * that is not JSON-encodable) or the trail is being destroyed. */
int mg_audit_emit(mg_audit_t *audit, const mg_audit_event_t *event, mg_error_t *err);
/* Waits until every record emitted before the call is written and synced to disk (whatever the
 * fsync mode); the index follows later, on its own. For tests, shutdown, and callers that must not answer before
 * their record is durable. Returns -1 when the writer is not running. */
int mg_audit_flush(mg_audit_t *audit, mg_error_t *err);
/* A consistent copy of the counters; safe from any thread. */
void mg_audit_stats(mg_audit_t *audit, mg_audit_stats_t *out);
/* Writes what is queued, a final signed checkpoint (with a signing key, when records follow the last
 * one), syncs, joins the thread and frees everything. Emits still waiting fail. NULL is ignored. */
void mg_audit_destroy(mg_audit_t *audit);

/* The Ed25519 public key of a seed, as the base64 text `audit verify --key` takes, and its key id
 * (the first 8 bytes of SHA-256 of the public key, in hex), as checkpoints name it. */
#define MG_AUDIT_PUBLIC_KEY_TEXT 45 /* 44 base64 characters and NUL */
#define MG_AUDIT_KEY_ID_TEXT 17
void mg_audit_public_key(const unsigned char seed[MG_AUDIT_SEED_BYTES], char public_key[MG_AUDIT_PUBLIC_KEY_TEXT],
                         char key_id[MG_AUDIT_KEY_ID_TEXT]);

const char *mg_audit_decision_name(mg_audit_decision_t decision);
/* The decision named `name`; -1 when none. */
int mg_audit_decision_parse(const char *name);

#endif
