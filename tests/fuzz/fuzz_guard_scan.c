/*
 * fuzz_guard_scan.c - libFuzzer target for the detection engine (guard/detect.h).
 *
 * Input: any bytes, as an upstream or a client could send them in a string. The scan must accept them
 * all (invalid UTF-8, escapes cut in half, NULs), and its findings must be in bounds of the ORIGINAL
 * text, non-empty, sorted, of one kind each and never overlapping within a kind; redaction must then
 * produce text whose length adds up. The first byte chooses the kinds, so each kind is also scanned
 * alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect.h"

static mg_guard_detectors_t *detectors;
static mg_guard_scratch_t *scratch;

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_error_t err;
    if (detectors == NULL) {
        check(mg_guard_detectors_create(NULL, 0, &detectors, NULL, &err) == 0);
        check(mg_guard_scratch_create(&scratch, &err) == 0);
    }
    if (size == 0)
        return 0;
    unsigned kinds = data[0] & MG_GUARD_ALL;
    const char *other_tools[] = {"send_email", "read_file"};
    mg_guard_scan_options_t options = {
        .kinds = kinds != 0 ? kinds : MG_GUARD_ALL, .other_tools = other_tools, .other_tools_len = 2};
    size -= 1;
    char *text = malloc(size > 0 ? size : 1); /* exact size: AddressSanitizer sees a read past the end */
    check(text != NULL);
    memcpy(text, data + 1, size);
    mg_guard_findings_t findings = {0};
    check(mg_guard_scan(detectors, scratch, text, size, &options, &findings, &err) == 0);
    for (size_t i = 0; i < findings.len; i++) {
        const mg_guard_finding_t *f = &findings.items[i];
        check(f->length > 0 && (size_t)f->offset + f->length <= size);
        check((f->kind & options.kinds) != 0 && (f->kind & (f->kind - 1)) == 0);
        check(f->score > 0 && f->score <= 1);
        check(f->detector < mg_guard_detectors_count(detectors));
        if (i > 0)
            check(findings.items[i - 1].offset <= f->offset);
        for (size_t j = 0; j < i; j++) {
            const mg_guard_finding_t *g = &findings.items[j];
            check(g->kind != f->kind || (size_t)g->offset + g->length <= f->offset);
        }
    }
    char *redacted;
    size_t redacted_len;
    check(mg_guard_redact(detectors, text, size, findings.items, findings.len, &redacted, &redacted_len, &err) == 0);
    check(findings.len > 0 || (redacted_len == size && memcmp(redacted, text, size) == 0));
    free(redacted);
    mg_guard_findings_dispose(&findings);
    free(text);
    return 0;
}
