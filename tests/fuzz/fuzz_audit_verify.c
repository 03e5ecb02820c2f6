/*
 * fuzz_audit_verify.c - libFuzzer target for what `mcpgate audit verify` reads: the line parser and
 * the chain verifier (audit/audit_verify.h), on a whole trail.
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
