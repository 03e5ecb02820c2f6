/*
 * verify.c - the line parser and the chain verifier (audit_verify.h).
 *
 * Lines are parsed with jansson, duplicate keys refused: a line with two `seq` members would mean
 * one thing to this verifier and another to a tool that keeps the last one. Only the chain's own
 * members are read; the record's other fields are the record's business, covered by the hash.
 *
 * Classification works from what each kind of tampering leaves behind:
 *   edited    the line itself still looks right; its successor's `prev` no longer matches. The
 *             break is reported at the edited line, i.e. the line before the mismatch;
 *   deleted   a seq gap (a missing first record shows as a zero `prev` on a seq above 1);
 *   inserted  a repeated seq, or a line whose successor links to the line before it;
 *   reordered a seq ahead of the expected one, followed by the expected one.
 * The verifier reports the first break only: after it, every later judgement would depend on a
 * guess about what the tampering was.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "audit/audit_verify.h"

static const unsigned char zero_hash[32];

const char *mg_audit_break_name(mg_audit_break_t result)
{
    static const char *const names[] = {"intact", "edited", "deleted", "inserted", "reordered", "signature", "start"};
    return (unsigned)result < sizeof(names) / sizeof(names[0]) ? names[result] : "unknown";
}

static int hex_member(const json_t *object, const char *key, unsigned char out[32], mg_error_t *err)
{
    const char *text = json_string_value(json_object_get(object, key));
    if (text == NULL || mg_audit_unhex(text, out) != 0)
        return mg_error_set(err, "\"%s\" must be 64 lower-case hex digits", key);
    return 0;
}

static int parse_checkpoint(const json_t *object, mg_audit_line_t *out, mg_error_t *err)
{
    if (hex_member(object, "hash", out->hash, err) != 0)
        return -1;
    const char *key_id = json_string_value(json_object_get(object, "key_id"));
    if (key_id == NULL || strlen(key_id) != 16 || strspn(key_id, "0123456789abcdef") != 16)
        return mg_error_set(err, "\"key_id\" must be 16 lower-case hex digits");
    memcpy(out->key_id, key_id, 17);
    const char *sig = json_string_value(json_object_get(object, "sig"));
    size_t len = 0;
    if (sig == NULL ||
        sodium_base642bin(out->sig, sizeof(out->sig), sig, strlen(sig), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != sizeof(out->sig))
        return mg_error_set(err, "\"sig\" must be the base64 text of a 64-byte Ed25519 signature");
    return 0;
}

int mg_audit_line_parse(const char *line, size_t len, mg_audit_line_t *out, mg_error_t *err)
{
    json_error_t error;
    memset(out, 0, sizeof(*out));
    json_t *object = json_loadb(line, len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(object)) {
        json_decref(object);
        return mg_error_set(err, "not a JSON object%s%s", object == NULL ? ": " : "", object == NULL ? error.text : "");
    }
    int rc = 0;
    const json_t *seq = json_object_get(object, "seq"), *type = json_object_get(object, "type");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        rc = mg_error_set(err, "\"seq\" must be a positive integer");
    else if (hex_member(object, "prev", out->prev, err) != 0)
        rc = -1;
    else if (type != NULL && (!json_is_string(type) || strcmp(json_string_value(type), "checkpoint") != 0))
        rc = mg_error_set(err, "\"type\" must be \"checkpoint\" when present");
    else if (type != NULL) {
        out->kind = MG_AUDIT_LINE_CHECKPOINT;
        rc = parse_checkpoint(object, out, err);
    }
    if (rc == 0)
        out->seq = (uint64_t)json_integer_value(seq);
    json_decref(object);
    return rc;
}

void mg_audit_verifier_init(mg_audit_verifier_t *verifier, const unsigned char *public_key, bool partial,
                            uint64_t max_unsigned)
{
    memset(verifier, 0, sizeof(*verifier));
    verifier->partial = partial;
    verifier->max_unsigned = max_unsigned;
    if (public_key != NULL) {
        verifier->has_key = true;
        memcpy(verifier->public_key, public_key, sizeof(verifier->public_key));
        mg_audit_key_id(verifier->public_key, verifier->key_id);
    }
}

static int fail(mg_audit_verifier_t *v, mg_audit_break_t result, const char *file, uint64_t line_no, uint64_t seq,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(mg_audit_verifier_t *v, mg_audit_break_t result, const char *file, uint64_t line_no, uint64_t seq,
                const char *fmt, ...)
{
    va_list ap;
    v->result = result;
    v->file = file;
    v->line_no = line_no;
    v->break_seq = seq;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* Parses the look-ahead line; false when there is none or it does not parse. */
static bool peek(const char *next, size_t next_len, mg_audit_line_t *out)
{
    mg_error_t ignored;
    return next != NULL && mg_audit_line_parse(next, next_len, out, &ignored) == 0;
}

static int check_seq(mg_audit_verifier_t *v, const char *file, uint64_t line_no, const mg_audit_line_t *line,
                     const unsigned char line_hash[32], const char *next, size_t next_len)
{
    mg_audit_line_t after;
    bool has_after = peek(next, next_len, &after);
    unsigned long long expected = v->seq + 1, seq = line->seq;
    if (line->kind == MG_AUDIT_LINE_CHECKPOINT) {
        if (line->seq == v->seq)
            return 0;
        if (line->seq > v->seq)
            return fail(v, MG_AUDIT_DELETED, file, line_no, v->seq + 1,
                        "records deleted: the checkpoint at line %llu certifies seq %llu, but the last record before "
                        "it is seq %llu",
                        (unsigned long long)line_no, seq, (unsigned long long)v->seq);
        return fail(v, MG_AUDIT_REORDERED, file, line_no, seq,
                    "checkpoint out of place: line %llu certifies seq %llu after record seq %llu",
                    (unsigned long long)line_no, seq, (unsigned long long)v->seq);
    }
    if (seq == expected)
        return 0;
    if (seq > expected) {
        if (has_after && after.kind == MG_AUDIT_LINE_RECORD && after.seq == expected)
            return fail(v, MG_AUDIT_REORDERED, file, line_no, seq,
                        "records reordered: seq %llu at line %llu comes before seq %llu at line %llu", seq,
                        (unsigned long long)line_no, expected, (unsigned long long)line_no + 1);
        if (has_after && after.kind == MG_AUDIT_LINE_RECORD && after.seq == expected + 1)
            return fail(v, MG_AUDIT_EDITED, file, line_no, expected,
                        "record edited: line %llu should be seq %llu but says seq %llu", (unsigned long long)line_no,
                        expected, seq);
        if (seq == expected + 1)
            return fail(v, MG_AUDIT_DELETED, file, line_no, expected,
                        "record deleted: seq %llu is missing before line %llu (seq %llu)", expected,
                        (unsigned long long)line_no, seq);
        return fail(v, MG_AUDIT_DELETED, file, line_no, expected,
                    "records deleted: seq %llu to %llu are missing before line %llu", expected, seq - 1,
                    (unsigned long long)line_no);
    }
    if (seq == v->seq && sodium_memcmp(line_hash, v->last_record, 32) == 0)
        return fail(v, MG_AUDIT_INSERTED, file, line_no, seq,
                    "record inserted: line %llu repeats the record seq %llu before it", (unsigned long long)line_no,
                    seq);
    return fail(v, MG_AUDIT_INSERTED, file, line_no, seq,
                "record inserted or moved: line %llu has seq %llu, which already appeared (expected seq %llu)",
                (unsigned long long)line_no, seq, expected);
}

static int check_prev(mg_audit_verifier_t *v, const char *file, uint64_t line_no, const mg_audit_line_t *line,
                      const char *next, size_t next_len)
{
    if (sodium_memcmp(line->prev, v->last_line, 32) == 0)
        return 0;
    mg_audit_line_t after;
    if (peek(next, next_len, &after) && sodium_memcmp(after.prev, v->last_line, 32) == 0)
        return fail(v, MG_AUDIT_INSERTED, file, line_no, line->seq,
                    "record inserted: line %llu (seq %llu) does not belong between the lines around it",
                    (unsigned long long)line_no, (unsigned long long)line->seq);
    return fail(v, MG_AUDIT_EDITED, v->last_file, v->last_line_no, v->seq,
                "record edited: line %llu of %s (seq %llu) no longer matches the hash that line %llu of %s "
                "records for it",
                (unsigned long long)v->last_line_no, v->last_file, (unsigned long long)v->seq,
                (unsigned long long)line_no, file);
}

static int check_checkpoint(mg_audit_verifier_t *v, const char *file, uint64_t line_no, const mg_audit_line_t *line)
{
    if (sodium_memcmp(line->hash, v->last_record, 32) != 0)
        return fail(v, MG_AUDIT_EDITED, file, line_no, line->seq,
                    "checkpoint edited: line %llu does not certify the record seq %llu before it",
                    (unsigned long long)line_no, (unsigned long long)line->seq);
    v->checkpoints++;
    if (!v->has_key)
        return 0;
    if (strcmp(line->key_id, v->key_id) != 0)
        return fail(v, MG_AUDIT_SIGNATURE, file, line_no, line->seq,
                    "checkpoint at line %llu is signed by key %s, not by the given key (%s)",
                    (unsigned long long)line_no, line->key_id, v->key_id);
    char message[MG_AUDIT_SIGNED_MAX];
    size_t len = mg_audit_checkpoint_message(line->seq, line->hash, message);
    if (crypto_sign_verify_detached(line->sig, (const unsigned char *)message, len, v->public_key) != 0)
        return fail(v, MG_AUDIT_SIGNATURE, file, line_no, line->seq,
                    "checkpoint at line %llu (seq %llu): the signature does not verify", (unsigned long long)line_no,
                    (unsigned long long)line->seq);
    v->signed_checkpoints++;
    v->since_checkpoint = 0;
    return 0;
}

static int start(mg_audit_verifier_t *v, const char *file, uint64_t line_no, const mg_audit_line_t *line)
{
    bool zero = sodium_memcmp(line->prev, zero_hash, 32) == 0;
    v->started = true;
    if (zero && line->kind == MG_AUDIT_LINE_RECORD && line->seq == 1)
        return 0; /* the beginning of a trail: the usual checks apply */
    if (zero)
        return fail(v, MG_AUDIT_DELETED, file, line_no, 1,
                    "records deleted: the trail begins at line %llu with seq %llu instead of seq 1",
                    (unsigned long long)line_no, (unsigned long long)line->seq);
    if (!v->partial)
        return fail(v, MG_AUDIT_START, file, line_no, line->seq,
                    "line %llu (seq %llu) continues an earlier trail: give every file, oldest first, or --partial to "
                    "verify from here",
                    (unsigned long long)line_no, (unsigned long long)line->seq);
    /* take the line as the anchor: whatever came before is not here to check */
    memcpy(v->last_line, line->prev, 32);
    v->seq = line->kind == MG_AUDIT_LINE_RECORD ? line->seq - 1 : line->seq;
    if (line->kind == MG_AUDIT_LINE_CHECKPOINT)
        memcpy(v->last_record, line->hash, 32);
    return 0;
}

int mg_audit_verifier_feed(mg_audit_verifier_t *v, const char *file, uint64_t line_no, const char *text, size_t len,
                           const char *next, size_t next_len)
{
    mg_audit_line_t line;
    mg_error_t err;
    unsigned char line_hash[32];
    if (v->result != MG_AUDIT_INTACT)
        return -1;
    if (mg_audit_line_parse(text, len, &line, &err) != 0)
        return fail(v, MG_AUDIT_EDITED, file, line_no, 0, "record edited: line %llu is not an audit line (%s)",
                    (unsigned long long)line_no, err.message);
    mg_audit_hash(text, len, line_hash);
    if (!v->started) {
        if (start(v, file, line_no, &line) != 0)
            return -1;
        v->first_seq = line.seq;
    }
    if (check_seq(v, file, line_no, &line, line_hash, next, next_len) != 0 ||
        check_prev(v, file, line_no, &line, next, next_len) != 0)
        return -1;
    if (line.kind == MG_AUDIT_LINE_CHECKPOINT) {
        if (check_checkpoint(v, file, line_no, &line) != 0)
            return -1;
    } else {
        v->seq = line.seq;
        memcpy(v->last_record, line_hash, 32);
        v->records++;
        v->since_checkpoint++;
    }
    memcpy(v->last_line, line_hash, 32);
    v->last_file = file;
    v->last_line_no = line_no;
    return 0;
}

int mg_audit_verifier_finish(mg_audit_verifier_t *v)
{
    if (v->result != MG_AUDIT_INTACT)
        return -1;
    if (v->has_key && v->max_unsigned > 0 && v->since_checkpoint > v->max_unsigned)
        return fail(v, MG_AUDIT_SIGNATURE, v->last_file, v->last_line_no, v->seq,
                    "%llu records after the last signed checkpoint, more than the %llu allowed",
                    (unsigned long long)v->since_checkpoint, (unsigned long long)v->max_unsigned);
    return 0;
}
