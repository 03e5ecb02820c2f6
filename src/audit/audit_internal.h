/*
 * audit_internal.h - what the files of src/audit share and nobody else needs.
 *
 * record.c turns an event into a queue entry on the caller's thread; chain.c holds the hash chain's
 * arithmetic (line hashes, checkpoint lines and signatures, finding the end of an existing trail,
 * naming rotated files); writer.c owns the queue, the thread and the file; index.c the SQLite
 * index; verify.c reads a trail back (audit_verify.h).
 */
#ifndef MG_AUDIT_INTERNAL_H
#define MG_AUDIT_INTERNAL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/bytes.h"

#define MG_AUDIT_HASH_BYTES 32
#define MG_AUDIT_HASH_HEX 65 /* 64 hex digits and NUL */

/* Index columns carried by an entry after its body, as NUL-terminated strings in this order. */
enum {
    MG_AUDIT_COLUMN_SUBJECT = 0,
    MG_AUDIT_COLUMN_SERVER,
    MG_AUDIT_COLUMN_ITEM_KIND,
    MG_AUDIT_COLUMN_ITEM,
    MG_AUDIT_COLUMN_METHOD,
    MG_AUDIT_COLUMN_RULE,
    MG_AUDIT_COLUMN_STATUS,
    MG_AUDIT_COLUMNS
};

/* One queued record, made by mg_audit_record_make. `text` (owned) holds, one after the other:
 * the record's members as JSON text without the braces ([0, body_len)), the bytes whose SHA-256 is
 * the arguments digest ([digest_at, digest_at + digest_len), inside the body in `full` mode), and
 * the index columns. The writer puts `{"seq":N,"prev":"...",` before the body and
 * `,"arguments_sha256":"..."}` after it. */
typedef struct st_mg_audit_entry_t {
    char *text;
    size_t body_len;
    size_t digest_at, digest_len;
    bool has_digest;
    size_t columns_at;
    int64_t time_us;
    int64_t total_us;
    mg_audit_decision_t decision;
} mg_audit_entry_t;

/* Serializes `event` under `mode`. Returns 0, or -1 (out of memory, or a findings / request id
 * value jansson cannot encode). */
int mg_audit_record_make(const mg_audit_event_t *event, mg_audit_arguments_t mode, mg_audit_entry_t *out,
                         mg_error_t *err);
/* The i-th index column of an entry ("" when the event had none). */
const char *mg_audit_record_column(const mg_audit_entry_t *entry, int column);
void mg_audit_entry_dispose(mg_audit_entry_t *entry);

/* JSON text of a C string (quotes included); bytes that are not UTF-8 become U+FFFD. */
void mg_audit_append_string(mg_bytes_t *out, const char *text);
/* "2026-05-01T10:00:00.123456Z" */
void mg_audit_format_time(int64_t time_us, char out[32]);
int64_t mg_audit_now_us(void);

/* --- chain.c ---------------------------------------------------------------------------------- */

/* Where a trail stands: what the next line must link to and number. */
typedef struct st_mg_audit_chain_t {
    uint64_t seq;                                   /* seq of the last record; 0: none yet */
    unsigned char last_line[MG_AUDIT_HASH_BYTES];   /* SHA-256 of the last line; zeros for a new trail */
    unsigned char last_record[MG_AUDIT_HASH_BYTES]; /* SHA-256 of the last record line */
    bool last_is_checkpoint;                        /* the last line is a checkpoint */
    uint64_t since_checkpoint;                      /* records after the last checkpoint */
} mg_audit_chain_t;

void mg_audit_hash(const void *data, size_t len, unsigned char out[MG_AUDIT_HASH_BYTES]);
void mg_audit_hex(const unsigned char hash[MG_AUDIT_HASH_BYTES], char out[MG_AUDIT_HASH_HEX]);
/* 0, or -1 when `hex` is not 64 lower-case hex digits. */
int mg_audit_unhex(const char *hex, unsigned char out[MG_AUDIT_HASH_BYTES]);

/* What a checkpoint signs: "mcpgate-audit-checkpoint-v1:<seq>:<hash hex>". */
#define MG_AUDIT_SIGNED_MAX 128
size_t mg_audit_checkpoint_message(uint64_t seq, const unsigned char hash[MG_AUDIT_HASH_BYTES],
                                   char out[MG_AUDIT_SIGNED_MAX]);
/* The key id of a public key: hex of the first 8 bytes of its SHA-256. */
void mg_audit_key_id(const unsigned char public_key[crypto_sign_PUBLICKEYBYTES], char out[MG_AUDIT_KEY_ID_TEXT]);

/* Appends a checkpoint line (with its newline) certifying chain->last_record at chain->seq, and
 * advances the chain over it. */
void mg_audit_checkpoint_append(mg_bytes_t *out, mg_audit_chain_t *chain, int64_t time_us,
                                const unsigned char secret_key[crypto_sign_SECRETKEYBYTES], const char *key_id);

/* Finds where the trail at `path` ends: the last line of `path` or, when it is missing or empty,
 * of the newest rotated file. A torn last line of `path` is cut off (`torn` receives its length).
 * A new trail gives the zero chain. */
int mg_audit_chain_recover(const char *path, mg_audit_chain_t *chain, size_t *torn, mg_error_t *err);

/* "<path>.<YYYYMMDDTHHMMSSZ>" for the time given; the writer adds ".<n>" when it is taken. */
void mg_audit_rotated_name(const char *path, int64_t time_us, unsigned n, char *out, size_t size);

/* --- index.c ---------------------------------------------------------------------------------- */

typedef struct st_mg_audit_index_t mg_audit_index_t;

/* Opens (creating, 0600) the index database and its table. */
int mg_audit_index_open(const char *path, mg_audit_index_t **out, mg_error_t *err);
void mg_audit_index_close(mg_audit_index_t *index);
int mg_audit_index_begin(mg_audit_index_t *index, mg_error_t *err);
/* One record: `line` without its newline. Re-inserting a seq replaces it (a retried batch). */
int mg_audit_index_add(mg_audit_index_t *index, uint64_t seq, const mg_audit_entry_t *entry, const char *line,
                       size_t line_len, mg_error_t *err);
int mg_audit_index_commit(mg_audit_index_t *index, mg_error_t *err);
void mg_audit_index_rollback(mg_audit_index_t *index);

#endif
