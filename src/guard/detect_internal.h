/*
 * detect_internal.h - what the files of the detection engine share and nobody else needs.
 *
 * detect_set.c owns the compiled set and the scratch (their layout: detect_state.h), detect.c the scan,
 * detect_regions.c the hand-written passes and start parsers, detectors_builtin.c the table of built-in detectors,
 * validators.c the checks that confirm a raw match, normalize.c the text the scan actually sees,
 * redact.c the replacement of findings by markers.
 */
#ifndef MG_GUARD_DETECT_INTERNAL_H
#define MG_GUARD_DETECT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard/detect.h"

/* What a validator is given: the candidate span of the normalised text, and the whole of it (some
 * validators look at the neighbours). Returns a score in [0, 1]; 0 rejects the candidate. */
typedef enum en_mg_guard_check_t {
    CHECK_NONE = 0,
    CHECK_LUHN_CARD,      /* payment card: digits 13..19, Luhn, a known issuer prefix */
    CHECK_LUHN_DIGITS,    /* custom: digits pass Luhn */
    CHECK_IBAN,           /* country length + mod 97 */
    CHECK_SSN,            /* area / group / serial rules, consistent separators */
    CHECK_ENTROPY,        /* Shannon entropy >= min_entropy */
    CHECK_GENERIC_SECRET, /* entropy of the value plus placeholder rejection */
    CHECK_AWS_KEY_ID,     /* base32 body */
    CHECK_GITHUB_CRC,     /* CRC32 (base62) of the token's random part */
    CHECK_JWT,            /* base64url header that decodes to a JSON object with "alg" */
    CHECK_URL_PASSWORD,   /* the password is not a placeholder */
    CHECK_PHONE,          /* 7..15 digits, separators, not a date or version */
    CHECK_IPV4,           /* not part of a dotted version number */
    CHECK_IPV6,           /* inet_pton, and enough hex to be an address rather than code */
    CHECK_OPENAI_KEY,     /* not another provider's "sk-" key, mixed characters */
    CHECK_EMAIL,          /* local part and domain lengths */
} mg_guard_check_t;

/* Where, inside a raw match, the secret itself lies (what a finding covers and redaction replaces). */
typedef enum en_mg_guard_span_t {
    SPAN_MATCH = 0,    /* the match as vectorscan reported it */
    SPAN_VALUE,        /* after the first ':' or '=' (and spaces, quotes), up to a closing quote */
    SPAN_URL_PASSWORD, /* scheme://user:PASSWORD@host */
    SPAN_PEM_BLOCK,    /* from BEGIN to the matching END line (or the end of the base64 body) */
    SPAN_EXTEND_TOKEN, /* the match extended over token characters [A-Za-z0-9_-] */
} mg_guard_span_t;

/* Characters that may not touch a candidate on either side (checked on the normalised text). */
typedef enum en_mg_guard_bound_t {
    BOUND_NONE = 0,
    BOUND_ALNUM,  /* [A-Za-z0-9] */
    BOUND_TOKEN,  /* [A-Za-z0-9_-] */
    BOUND_BASE64, /* [A-Za-z0-9+/=_-] */
    BOUND_DIGIT,  /* [0-9], and '.' or '-' followed by a digit */
} mg_guard_bound_t;

/* Where the scan looks for a detector's matches. Expressions made of character classes with no literal to
 * anchor on (digit runs, base64 runs) cost vectorscan most; a hand-written pass finds the few short
 * stretches of text such a detector could match in (every match is a string over the detector's alphabet,
 * so it lies inside one maximal run of it) and vectorscan scans only those. The expressions of a region
 * have no assertions (\b, ^, $), so a stretch scanned alone gives exactly the matches it holds. A run is
 * skipped when no finding can come out of it (detect_regions.c says what each region asks for). */
typedef enum en_mg_guard_region_t {
    REGION_NONE = 0, /* the main database, over the whole text */
    REGION_NUMBER,   /* runs of [0-9 .()+-] (and x, e, t of an extension) a card, SSN, phone or IPv4 fits */
    REGION_IBAN,     /* runs of [A-Z0-9 ] holding [A-Z]{2}[0-9]{2} and 15 letters or digits */
    REGION_IPV6,     /* runs of [0-9A-Za-z:%] holding "::" or seven colons */
    REGION_BASE64,   /* runs of [A-Za-z0-9+/_=\"'-] holding 20 characters of [A-Za-z0-9+/_-] in a row */
    REGION_EMAIL,    /* runs of [A-Za-z0-9._%+@-] holding an '@' */
    REGION_COUNT,
} mg_guard_region_t;

/* How the scan finds where a match starts: vectorscan reports only where matches end unless asked for
 * starts (HS_FLAG_SOM_LEFTMOST), which costs several times more on class-heavy expressions. */
typedef enum en_mg_guard_start_t {
    START_WIDTH = 0,  /* main database: no match is wider than vectorscan says; else the text's start.
                       * A region: vectorscan reports starts */
    START_ASSIGNMENT, /* main database: at most START_ASSIGNMENT_KEY bytes before the run of value characters */
    START_CARD,       /* a region: mg_guard_card_start parses the card expression backwards */
    START_PHONE,      /* a region: mg_guard_phone_start parses the phone expression backwards */
    START_IBAN,       /* a region: mg_guard_iban_start */
    START_EMAIL,      /* a region: mg_guard_email_start */
    START_KEY_VALUE,  /* a region: mg_guard_key_value_start (high_entropy_string's NAME=base64) */
} mg_guard_start_t;

/* More than the widest keyword, suffix, quote, spaces and operator generic_secret puts before its value
 * (13 + 24 + 1 + 4 + 2 + 4 + 1 = 49; the value is a run of [^\s"',;]). */
#define START_ASSIGNMENT_KEY 64

typedef struct st_mg_guard_detector_def_t {
    const char *type;
    const char *pattern;
    unsigned hs_flags; /* beyond HS_FLAG_SOM_LEFTMOST, which the scan adds where it wants starts */
    uint8_t kinds;     /* MG_GUARD_* bits it reports under; injection markers are also poisoning */
    uint8_t priority;  /* overlapping findings of one kind: the higher priority wins */
    uint8_t check, span, bound;
    bool all_ends; /* validate every end vectorscan reports, not only the longest per start */
    float score;   /* the score of a candidate the check accepts without an opinion of its own */
    double min_entropy;
    uint32_t max_length; /* candidates longer than this (after bounding) are dropped; 0: no limit */
    uint8_t region;      /* mg_guard_region_t */
    uint8_t start;       /* mg_guard_start_t, for REGION_NONE */
    /* For REGION_NONE: a cheaper expression for the main database whose matches end wherever the
     * pattern's do (a superset); only for patterns of unbounded width. NULL: the pattern itself. */
    const char *prefilter;
} mg_guard_detector_def_t;

extern const mg_guard_detector_def_t mg_guard_builtin_detectors[];
extern const size_t mg_guard_builtin_detectors_len;

/* Returns the score the check gives text[start..end) (0: rejected). `text` is the normalised text. */
float mg_guard_check(const mg_guard_detector_def_t *def, const char *text, size_t text_len, size_t start, size_t end);
/* Shannon entropy of s[0..len) in bits per byte. */
double mg_guard_entropy(const char *s, size_t len);
bool mg_guard_luhn(const char *s, size_t len, size_t *digits);
bool mg_guard_iban_valid(const char *s, size_t len);
bool mg_guard_github_checksum(const char *token, size_t len);

/* A stretch [from, to) of the text where the detectors of `region` may match. Returns nonzero to stop. */
typedef int (*mg_guard_region_fn)(void *context, mg_guard_region_t region, size_t from, size_t to);
/* Calls `found` for each stretch of text[0..len) that the expressions of a region (of the mask `regions`,
 * bit 1 << region) need to scan, in order of offset within each region; stops at and returns the first
 * nonzero value `found` returns. */
int mg_guard_find_regions(const char *text, size_t len, unsigned regions, mg_guard_region_fn found, void *context);

/* What the start finders remember between two ends of one scan, so that a long run is walked once. */
typedef struct st_mg_guard_start_memo_t {
    size_t end, run; /* the last end asked about and the start of the run it found (end 0: nothing yet) */
} mg_guard_start_memo_t;

/* The lowest offset at which a match of the detector ending at `end` may start (START_ASSIGNMENT). */
size_t mg_guard_start_bound(mg_guard_start_t start, const char *text, size_t end, mg_guard_start_memo_t *memo);

/* The leftmost start of a match ending at `end` of the card_number expression [2-6](?:[ -]?[0-9]){12,18}
 * (START_CARD) or of the phone expression (START_PHONE, detectors_builtin.c), not below `floor`; SIZE_MAX
 * when none matches there. What vectorscan reports with HS_FLAG_SOM_LEFTMOST, found by parsing backwards. */
size_t mg_guard_card_start(const char *text, size_t floor, size_t end);
size_t mg_guard_phone_start(const char *text, size_t floor, size_t end);
/* The same for the iban, email and [A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9+/]{20,}={0,2} expressions. */
size_t mg_guard_iban_start(const char *text, size_t floor, size_t end);
size_t mg_guard_email_start(const char *text, size_t floor, size_t end);
size_t mg_guard_key_value_start(const char *text, size_t floor, size_t end);

/* Whitespace runs of at least `run` bytes that something follows (hidden padding); `found` as above. */
int mg_guard_find_padding(const char *text, size_t len, size_t run, int (*found)(void *context, size_t from, size_t to),
                          void *context);

/* Normalised text and, for each of its bytes, the original bytes [start, end) it came from. */
typedef struct st_mg_guard_normalized_t {
    char *text;
    uint32_t *start, *end;
    size_t len, capacity;
} mg_guard_normalized_t;

/* True when `text` needs normalising: a non-ASCII byte or something that decodes (\u, \x, %XX, &...;).
 * When false the scan runs on the original bytes without a copy. */
bool mg_guard_needs_normalizing(const char *text, size_t len);
/* Normalises text into `out` (reusing its buffers); -1 when out of memory. */
int mg_guard_normalize(const char *text, size_t len, mg_guard_normalized_t *out);
void mg_guard_normalized_dispose(mg_guard_normalized_t *normalized);

#endif
