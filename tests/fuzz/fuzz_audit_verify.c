/*
 * fuzz_audit_verify.c - libFuzzer target for what reads a trail back: the line parser and the chain
 * verifier (audit/audit_verify.h) of `mcpgate audit verify`, and the index's row parser
 * (mg_audit_row_parse, which the indexer and `audit query` run on every line), on a whole trail.
 *
 * The first byte of an input picks the verifier's settings (bit 0: with the public key of the seed
 * 0, 1, ..., 31, which signed the seed corpus; bit 1: --partial); the rest is the trail, split
 * into lines at '\n' and fed with one line of look-ahead, as the command does. Nothing may crash or
 * leak, and the verdict must be consistent: an intact trail has parsed every line, counted every
 * record line once, and with a key verified the signature of every checkpoint.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "audit/audit_verify.h"

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    static int ready;
    if (!ready) {
        unsigned char seed[32], secret_key[crypto_sign_SECRETKEYBYTES];
        if (sodium_init() < 0)
            abort();
        for (int i = 0; i < 32; i++)
            seed[i] = (unsigned char)i;
        crypto_sign_seed_keypair(public_key, secret_key, seed);
        ready = 1;
    }
    if (size == 0)
        return 0;
    bool with_key = (data[0] & 1) != 0, partial = (data[0] & 2) != 0;
    const char *text = (const char *)data + 1, *end = (const char *)data + size;
    mg_audit_verifier_t verifier;
    mg_audit_verifier_init(&verifier, with_key ? public_key : NULL, partial, 0);
    uint64_t line_no = 0, records = 0, checkpoints = 0;
    int rc = 0;
    while (text < end && rc == 0) {
        const char *newline = memchr(text, '\n', (size_t)(end - text));
        const char *line_end = newline != NULL ? newline : end;
        const char *next = newline != NULL && newline + 1 < end ? newline + 1 : NULL;
        const char *next_end = next != NULL ? memchr(next, '\n', (size_t)(end - next)) : NULL;
        if (next != NULL && next_end == NULL)
            next_end = end;
        mg_audit_line_t parsed;
        mg_error_t err;
        bool parses = mg_audit_line_parse(text, (size_t)(line_end - text), &parsed, &err) == 0;
        mg_audit_row_t row;
        json_t *holder;
        int kind = mg_audit_row_parse(text, (size_t)(line_end - text), &row, &holder, &err);
        if (kind == 0) { /* a record for the index: what it stores is whole */
            check(row.seq >= 1 && row.decision != NULL && mg_audit_decision_parse(row.decision) >= 0);
            check(row.line == text && row.line_len == (size_t)(line_end - text));
            check(!parses || parsed.kind == MG_AUDIT_LINE_RECORD);
        }
        if (parses && parsed.kind == MG_AUDIT_LINE_CHECKPOINT)
            check(kind == 1); /* checkpoints are never indexed */
        json_decref(holder);
        rc = mg_audit_verifier_feed(&verifier, "fuzz", ++line_no, text, (size_t)(line_end - text), next,
                                    next != NULL ? (size_t)(next_end - next) : 0);
        if (rc == 0) {
            check(parses);
            check(parsed.seq >= 1);
            if (parsed.kind == MG_AUDIT_LINE_RECORD)
                records++;
            else
                checkpoints++;
        }
        text = line_end + 1;
    }
    if (rc == 0)
        rc = mg_audit_verifier_finish(&verifier);
    if (rc == 0) {
        check(verifier.result == MG_AUDIT_INTACT);
        check(verifier.records == records && verifier.checkpoints == checkpoints);
        check(!with_key || verifier.signed_checkpoints == checkpoints);
    } else {
        check(verifier.result != MG_AUDIT_INTACT && verifier.message[0] != '\0');
    }
    return 0;
}
