/*
 * detect.h - the detection engine: secrets, personal data, prompt injection and tool poisoning in text
 * (docs/guards.md, docs/detection.md).
 *
 * Every detector, built-in and custom, is one expression of a single vectorscan (Hyperscan API) database,
 * so a string costs one hs_scan however many detectors there are. A raw match is only a candidate: a
 * validator confirms it (Luhn for cards, mod-97 for IBANs, SSN structure, Shannon entropy, the CRC32 of
 * GitHub's tokens, a JWT's header...) and gives it a score in (0, 1]. Text is normalised before the scan
 * (escapes decoded, compatibility decomposition, marks and invisible characters dropped) and findings
 * point into the ORIGINAL text.
 *
 * Objects and threads:
 *   - mg_guard_detectors_t: the compiled set. Immutable once created; share it between threads freely.
 *     Build it when the configuration snapshot is built (config/guards.c does), destroy it with the
 *     snapshot.
 *   - mg_guard_scratch_t: one per thread (each worker makes one at start and keeps it). It holds the
 *     vectorscan scratch and the buffers a scan reuses, and it fits itself to whatever detector set it
 *     is next used with (a reload's new set costs one hs_alloc_scratch on the worker's next scan, no
 *     lock). Never share a scratch between two threads.
 *
 * Errors: functions return 0 or a negative value and fill `err`; bad input (invalid UTF-8, any bytes
 * at all) is scanned, never refused; only out-of-memory and a text over 4 GiB fail a scan.
 */
#ifndef MG_GUARD_DETECT_H
#define MG_GUARD_DETECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Kinds: a scan takes a mask of them; a finding has exactly one. */
enum {
    MG_GUARD_SECRETS = 1u << 0,
    MG_GUARD_PII = 1u << 1,
    MG_GUARD_INJECTION = 1u << 2,
    MG_GUARD_POISONING = 1u << 3,
    MG_GUARD_ALL = 0xfu,
};

/* How a custom detector confirms its raw matches. */
typedef enum en_mg_guard_validator_t {
    MG_GUARD_VALIDATE_NONE = 0,
    MG_GUARD_VALIDATE_LUHN,    /* the digits of the match pass Luhn (13..19 digits) */
    MG_GUARD_VALIDATE_MOD97,   /* the match is an IBAN whose check digits hold */
    MG_GUARD_VALIDATE_ENTROPY, /* Shannon entropy of the match >= min_entropy bits per character */
} mg_guard_validator_t;

typedef struct st_mg_guard_custom_t {
    const char *name;    /* the finding's type, e.g. "employee_id"; [a-z0-9_]+ */
    const char *pattern; /* vectorscan (PCRE subset) syntax; no back-references or look-around */
    mg_guard_validator_t validator;
    double min_entropy; /* with MG_GUARD_VALIDATE_ENTROPY; bits per character */
    unsigned kind;      /* one MG_GUARD_* bit */
    int action;         /* opaque to the engine: the configuration's action, given back by mg_guard_detector_action */
    bool caseless;
} mg_guard_custom_t;

typedef struct st_mg_guard_detectors_t mg_guard_detectors_t;
typedef struct st_mg_guard_scratch_t mg_guard_scratch_t;

typedef struct st_mg_guard_finding_t {
    uint32_t offset; /* bytes into the original text */
    uint32_t length; /* bytes of the original text; never 0 */
    uint16_t detector;
    uint8_t kind; /* one MG_GUARD_* bit */
    float score;  /* (0, 1]: how sure the validator is */
} mg_guard_finding_t;

/* A growing array the caller owns; mg_guard_scan appends. Zero-initialise, free with _dispose. */
typedef struct st_mg_guard_findings_t {
    mg_guard_finding_t *items;
    size_t len, capacity;
    bool truncated; /* a pathological text produced more candidates than a scan examines */
} mg_guard_findings_t;

/* Compiles the built-in detectors plus `custom` into one database. On a custom pattern vectorscan
 * refuses, *bad_custom (when not NULL) is its index in `custom` and err says why; otherwise it is
 * (size_t)-1. The strings of `custom` are copied. */
int mg_guard_detectors_create(const mg_guard_custom_t *custom, size_t custom_len, mg_guard_detectors_t **out,
                              size_t *bad_custom, mg_error_t *err);
void mg_guard_detectors_destroy(mg_guard_detectors_t *detectors);

size_t mg_guard_detectors_count(const mg_guard_detectors_t *detectors);
/* The type a detector reports ("aws_access_key", "email", a custom detector's name). */
const char *mg_guard_detector_type(const mg_guard_detectors_t *detectors, size_t detector);
/* A custom detector's configured action; -1 for a built-in one (the kind's action applies). */
int mg_guard_detector_action(const mg_guard_detectors_t *detectors, size_t detector);
/* "secrets" | "pii" | "injection" | "poisoning" for one kind bit; NULL otherwise. */
const char *mg_guard_kind_name(unsigned kind);
/* The kind bit of a name above (0 when unknown). */
unsigned mg_guard_kind_parse(const char *name);

int mg_guard_scratch_create(mg_guard_scratch_t **out, mg_error_t *err);
void mg_guard_scratch_destroy(mg_guard_scratch_t *scratch);

typedef struct st_mg_guard_scan_options_t {
    unsigned kinds; /* mask of MG_GUARD_*; 0 scans nothing */
    /* Poisoning: other servers' tool names; a mention of one (whole word, any case) is a "tool_shadowing"
     * finding. Borrowed for the call. */
    const char *const *other_tools;
    size_t other_tools_len;
} mg_guard_scan_options_t;

/* Scans text[0..len) and appends its findings to `out`, sorted by offset. Findings of one kind never
 * overlap; findings of different kinds may (an e-mail address inside a connection string). */
int mg_guard_scan(const mg_guard_detectors_t *detectors, mg_guard_scratch_t *scratch, const char *text, size_t len,
                  const mg_guard_scan_options_t *options, mg_guard_findings_t *out, mg_error_t *err);

void mg_guard_findings_clear(mg_guard_findings_t *findings);
void mg_guard_findings_dispose(mg_guard_findings_t *findings);

/* The text with each finding replaced by "[REDACTED:<type>]" (overlapping findings merge into one marker,
 * named after the first). `findings` must be sorted by offset (as mg_guard_scan leaves them). *out is
 * malloc'd and NUL-terminated; *out_len excludes the NUL. */
int mg_guard_redact(const mg_guard_detectors_t *detectors, const char *text, size_t len,
                    const mg_guard_finding_t *findings, size_t count, char **out, size_t *out_len, mg_error_t *err);

/* Scans every string of `value` (object member values, array items, recursively; keys are left alone)
 * and replaces each string that has findings of `options->kinds` with its redacted text, in place: the
 * value stays valid JSON, every structure keeps its shape. *redacted (when not NULL) counts the findings
 * replaced. For an MCP result, pass the result object: text content, structuredContent and embedded
 * resources are all strings inside it. */
int mg_guard_redact_json(const mg_guard_detectors_t *detectors, mg_guard_scratch_t *scratch, json_t *value,
                         const mg_guard_scan_options_t *options, size_t *redacted, mg_error_t *err);

#endif
