/*
 * detect_state.h - the layout of the compiled detector set and of a scan's scratch, shared by the code that
 * makes them (detect_set.c) and the scan that uses them (detect.c). Private to src/guard/.
 */
#ifndef MG_GUARD_DETECT_STATE_H
#define MG_GUARD_DETECT_STATE_H

#include <hs/hs.h>

#include "guard/detect_internal.h"

#define MAX_CANDIDATES 8192 /* windows and candidates a scan keeps at most (`truncated` beyond) */

typedef struct st_mg_guard_candidate_t {
    uint32_t from, to;
    uint32_t detector;
} mg_guard_candidate_t;

/* Step 3: the stretches, copied one after the other, region by region and in order of offset within one,
 * each followed by a newline (which no region's alphabet has, so no match reaches from one into the next),
 * then TAIL_SLACK newlines. Each region's databases scan its part only: two hs_scan calls a region at most,
 * however many stretches. */
typedef struct st_mg_guard_stretches_t {
    uint32_t *ranges; /* (region, from, to) triples in the text, as the hand-written passes found them */
    size_t ranges_len, ranges_capacity;
    char *bytes;
    size_t len, capacity;
    uint32_t *at, *from; /* per stretch: its offset in `bytes` and in the text */
    size_t count, count_capacity;
    size_t part_end; /* the end in `bytes` of the region being scanned */
} mg_guard_stretches_t;

/* Step 1's ends of one detector and where step 2 scans for their starts. */
typedef struct st_mg_guard_window_t {
    uint32_t lo, hi;      /* scan text[lo..hi) */
    uint32_t first, last; /* the ends step 1 reported lie in [first, last] */
    uint32_t detector;
} mg_guard_window_t;

typedef struct st_mg_guard_accepted_t {
    uint32_t start, end; /* in the scanned (possibly normalised) text */
    uint16_t detector;
    uint8_t kind, priority;
    float score;
} mg_guard_accepted_t;

struct st_mg_guard_detectors_t {
    hs_database_t *database; /* step 1: every REGION_NONE expression, ends only */
    /* per detector, its expression alone: step 2's, with leftmost start (none for a fixed width); step 3's,
     * with leftmost start when `leftmost`, else ends only (a fixed width, or a start parsed by hand). One
     * expression a database: vectorscan 5.4.9 misses matches of some small multi-expression databases
     * depending on where the buffer lies in memory (the IPv4 and SSN expressions together did) */
    hs_database_t **starts;
    bool *leftmost;
    uint32_t *widths; /* per detector: the widest match, UINT32_MAX when unbounded */
    bool *fixed;      /* per detector: every match is `widths` wide (its start needs no step 2) */
    unsigned region_kinds[REGION_COUNT];
    uint64_t generation; /* tells a scratch whether it was fitted to this database */
    mg_guard_detector_def_t *defs;
    int *actions; /* per detector; -1 for built-ins */
    char **owned; /* custom types and patterns */
    size_t len, owned_len;
    size_t padding, shadowing; /* indexes of the detectors without an expression */
};

struct st_mg_guard_scratch_t {
    hs_scratch_t *hs;
    uint64_t generation;
    mg_guard_normalized_t normalized;
    mg_guard_candidate_t *candidates;
    size_t candidates_len;
    mg_guard_accepted_t *accepted;
    size_t accepted_len, accepted_capacity;
    uint32_t *last;        /* per detector: index of its latest candidate + 1 (0: none yet) */
    uint32_t *last_window; /* per detector: index of its latest window + 1 (0: none yet) */
    size_t last_capacity;
    mg_guard_window_t *windows;
    size_t windows_len;
    mg_guard_start_memo_t memos[START_ASSIGNMENT + 1];
    bool truncated;
    const mg_guard_detectors_t *detectors;
    unsigned kinds;
    const char *text; /* the text being scanned, and the stretch of it vectorscan is looking at */
    size_t len, base;
    const mg_guard_window_t *window;
    bool fooled; /* step 2 saw a start on a window's first byte */
    mg_guard_stretches_t stretches;
    uint32_t *kept_order; /* resolve's */
    size_t kept_order_capacity;
};

/* Makes the scratch fit `set`: vectorscan's scratch space grows to the largest database it served, and the
 * per-detector arrays to the set's size. 0, or -1 with err set. */
int mg_guard_scratch_fit(mg_guard_scratch_t *scratch, const mg_guard_detectors_t *set, mg_error_t *err);

#endif
