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

/* One queued record, made by mg_audit_record_make. `text` (owned) holds, one after the other:
 * the record's members as JSON text without the braces ([0, body_len)), the bytes whose SHA-256 is
 * the arguments digest ([digest_at, digest_at + digest_len), inside the body in `full` mode). The
 * writer puts `{"seq":N,"prev":"...",` before the body and
 * `,"arguments_sha256":"..."}` after it. */
typedef struct st_mg_audit_entry_t {
    char *text;
    size_t body_len;
    size_t digest_at, digest_len;
    bool has_digest;
} mg_audit_entry_t;

/* Serializes `event` under `mode`. Returns 0, or -1 (out of memory, or a findings / request id
 * value jansson cannot encode). */
int mg_audit_record_make(const mg_audit_event_t *event, mg_audit_arguments_t mode, mg_audit_entry_t *out,
                         mg_error_t *err);
void mg_audit_entry_dispose(mg_audit_entry_t *entry);

/* JSON text of a C string (quotes included); bytes that are not UTF-8 become U+FFFD. */
void mg_audit_append_string(mg_bytes_t *out, const char *text);
/* "2026-05-01T10:00:00.123456Z" */
void mg_audit_format_time(int64_t time_us, char out[32]);
/* A UTC date ("2026-05-01") or date and time ("2026-05-01T10:00:00Z", a fraction of a second
 * allowed) in microseconds since the epoch; -1 when it is neither. (index.c) */
int64_t mg_audit_parse_time(const char *text);
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
/* The rotated files of `path`, oldest first (malloc'd array of malloc'd paths; *len may be 0).
 * Returns -1 when the directory cannot be read. */
int mg_audit_rotated_list(const char *path, char ***out, size_t *len);
void mg_audit_rotated_list_free(char **list, size_t len);

/* --- index.c ---------------------------------------------------------------------------------- */

typedef struct st_mg_audit_index_t mg_audit_index_t;

/* The index's text columns of a record, in mg_audit_row_t's `columns`. */
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

/* One record line as the index stores it. Strings point into the parsed line (NULL: absent). */
typedef struct st_mg_audit_row_t {
    uint64_t seq;
    int64_t time_us;
    int64_t total_us; /* -1: absent */
    const char *decision;
    const char *columns[MG_AUDIT_COLUMNS];
    const char *line; /* without its newline */
    size_t line_len;
} mg_audit_row_t;

/* Where indexing stopped: `seq` the highest record indexed (0: none), and the file and byte offset
 * after the last line read (`trail` "" when no position was recorded). */
typedef struct st_mg_audit_position_t {
    char trail[4096];
    uint64_t device, inode, offset;
    uint64_t seq;
} mg_audit_position_t;

/* Opens (creating, 0600) the index database and its tables. */
int mg_audit_index_open(const char *path, mg_audit_index_t **out, mg_error_t *err);
void mg_audit_index_close(mg_audit_index_t *index);
int mg_audit_index_begin(mg_audit_index_t *index, mg_error_t *err);
/* One record. Re-inserting a seq replaces it. */
int mg_audit_index_add(mg_audit_index_t *index, const mg_audit_row_t *row, mg_error_t *err);
int mg_audit_index_position(mg_audit_index_t *index, mg_audit_position_t *out, mg_error_t *err);
int mg_audit_index_set_position(mg_audit_index_t *index, const mg_audit_position_t *position, mg_error_t *err);
int mg_audit_index_commit(mg_audit_index_t *index, mg_error_t *err);
void mg_audit_index_rollback(mg_audit_index_t *index);

/* Reads one line of a trail (without its newline) for the index: 0 and `row` for a record, 1 for a
 * checkpoint (nothing to index), -1 with `err` for anything else. `*holder` (to json_decref, also
 * after -1) owns the strings of `row`; `row->line` is `line`. */
int mg_audit_row_parse(const char *line, size_t len, mg_audit_row_t *row, json_t **holder, mg_error_t *err);

/* --- indexer.c -------------------------------------------------------------------------------- */

/* Reads a trail's lines from where the index stopped and adds its records to the index. */
typedef struct st_mg_audit_follow_t mg_audit_follow_t;

/* `trail` is the trail's path (its rotated files are found next to it). */
int mg_audit_follow_create(const char *trail, mg_audit_index_t *index, mg_audit_follow_t **out, mg_error_t *err);
void mg_audit_follow_destroy(mg_audit_follow_t *follow);
/* Indexes what the files hold beyond the index, in transactions of at most `batch` records, until
 * the end of the trail or `max_records` (0: no limit). `*caught_up` says whether the end was reached.
 * Lines that are not records are skipped and counted in `*skipped` (may be NULL). */
int mg_audit_follow_run(mg_audit_follow_t *follow, uint64_t max_records, bool *caught_up, uint64_t *skipped,
                        mg_error_t *err);
/* The highest seq indexed so far. */
uint64_t mg_audit_follow_seq(const mg_audit_follow_t *follow);

/* The indexer thread of a running gateway: a mg_audit_follow_t at idle priority (SCHED_IDLE), so
 * that indexing takes only CPU time nothing else wants and never delays a request. The writer pokes
 * it after each batch; it also looks once a second. */
typedef struct st_mg_audit_indexer_t mg_audit_indexer_t;
int mg_audit_indexer_start(const char *sqlite_path, const char *trail, mg_audit_indexer_t **out, mg_error_t *err);
void mg_audit_indexer_poke(mg_audit_indexer_t *indexer);
/* Records indexed by this indexer, the highest seq in the index, and failed transactions. */
void mg_audit_indexer_stats(mg_audit_indexer_t *indexer, uint64_t *indexed, uint64_t *seq, uint64_t *errors);
/* Stops the thread (without catching up: the next start, or `audit query`, does) and frees it. */
void mg_audit_indexer_stop(mg_audit_indexer_t *indexer);

#endif
