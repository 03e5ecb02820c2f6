/*
 * audit_verify.h - reading an audit trail back: the line parser and the chain verifier.
 *
 * The verifier is fed the trail's lines in order (across rotated files, oldest first) and stops at
 * the first break, saying where and what it looks like. It keeps one line of look-ahead, which is
 * what tells a swap of two neighbours (reordered) from a missing record (deleted), and an inserted
 * line from an edited one. A record moved further than one position shows as the records missing
 * at its old place. What the chain cannot show without signatures: a rewrite of everything from
 * some point on (hashes recomputed), and records cut off the end; checkpoints signed with the
 * key (`--key`) bound both to what follows the last checkpoint.
 */
#ifndef MG_AUDIT_AUDIT_VERIFY_H
#define MG_AUDIT_AUDIT_VERIFY_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"

typedef enum en_mg_audit_line_kind_t {
    MG_AUDIT_LINE_RECORD = 0,
    MG_AUDIT_LINE_CHECKPOINT,
} mg_audit_line_kind_t;

/* What the chain needs of one line. */
typedef struct st_mg_audit_line_t {
    mg_audit_line_kind_t kind;
    uint64_t seq; /* >= 1; a checkpoint's is the record it certifies */
    unsigned char prev[32];
    unsigned char hash[32];               /* checkpoint only */
    unsigned char sig[crypto_sign_BYTES]; /* checkpoint only */
    char key_id[MG_AUDIT_KEY_ID_TEXT];    /* checkpoint only */
} mg_audit_line_t;

/* Parses one line (without its newline): a JSON object with a positive integer `seq`, a 64-digit
 * lower-case hex `prev`, and for `"type":"checkpoint"` also `hash`, `key_id` (16 hex digits) and
 * `sig` (base64 of 64 bytes). Any other `type` is refused. Returns 0, or -1 with `err` saying why. */
int mg_audit_line_parse(const char *line, size_t len, mg_audit_line_t *out, mg_error_t *err);

typedef enum en_mg_audit_break_t {
    MG_AUDIT_INTACT = 0,
    MG_AUDIT_EDITED,    /* a line's bytes changed (its successor's prev no longer matches), or it is unreadable */
    MG_AUDIT_DELETED,   /* seq numbers are missing */
    MG_AUDIT_INSERTED,  /* a line that does not belong: a repeated seq, or a line its successor skips */
    MG_AUDIT_REORDERED, /* two neighbours swapped, or a seq out of order */
    MG_AUDIT_SIGNATURE, /* a checkpoint's signature does not verify, names another key, or too many unsigned records */
    MG_AUDIT_START,     /* the files do not start at the beginning of the trail (seq 1, zero prev) */
} mg_audit_break_t;

typedef struct st_mg_audit_verifier_t {
    /* settings */
    bool has_key;
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    char key_id[MG_AUDIT_KEY_ID_TEXT];
    bool partial;          /* the first line may continue an older trail (its prev is taken as given) */
    uint64_t max_unsigned; /* with a key: most records allowed after the last checkpoint; 0: no limit */
    /* progress */
    bool started;
    uint64_t seq;                  /* last record's seq */
    unsigned char last_line[32];   /* hash of the last line */
    unsigned char last_record[32]; /* hash of the last record line */
    const char *last_file;         /* where the last line was (borrowed) */
    uint64_t last_line_no;
    uint64_t first_seq;
    uint64_t records, checkpoints, signed_checkpoints;
    uint64_t since_checkpoint; /* records after the last checkpoint (verified one, with a key) */
    /* the first break */
    mg_audit_break_t result;
    const char *file; /* borrowed */
    uint64_t line_no;
    uint64_t break_seq; /* seq of the record named, 0 when unknown */
    char message[512];
} mg_audit_verifier_t;

/* `public_key` may be NULL (checkpoints are then checked for their place in the chain only). */
void mg_audit_verifier_init(mg_audit_verifier_t *verifier, const unsigned char *public_key, bool partial,
                            uint64_t max_unsigned);
/* Feeds line `line_no` (1-based) of `file`; `next` is the line after it (maybe in the next file) or
 * NULL at the end. Returns 0 while the trail is intact, -1 at the first break (result, file,
 * line_no, break_seq and message say which). `file` must outlive the verifier. */
int mg_audit_verifier_feed(mg_audit_verifier_t *verifier, const char *file, uint64_t line_no, const char *line,
                           size_t len, const char *next, size_t next_len);
/* After the last line: -1 when the unsigned tail is longer than max_unsigned. */
int mg_audit_verifier_finish(mg_audit_verifier_t *verifier);

const char *mg_audit_break_name(mg_audit_break_t result);

#endif
