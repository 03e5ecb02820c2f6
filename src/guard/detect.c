/*
 * detect.c - the scan (the detector set it runs is compiled in detect_set.c).
 *
 * A scan is: normalise (or not, for plain ASCII), find raw matches, then candidates to findings.
 *
 * Raw matches. Asking vectorscan where each match starts (HS_FLAG_SOM_LEFTMOST) makes a database of
 * these expressions about six times slower, and expressions that are runs of character classes (digits,
 * base64) make it slower again. So a scan works in three steps, each exact:
 *   1. The main database, without start of match and without the class-heavy detectors, runs over the
 *      whole text and reports where matches end. An expression whose matches all have one width (most
 *      token formats) has its start right there. For the others each end gives a window that must hold
 *      the start: the expression's maximum width (vectorscan computes it), a bound from its shape
 *      (generic_secret: detect_regions.c), or else the text's start. Windows of one detector that touch
 *      merge. A few phrase detectors give the main database a cheaper prefilter whose ends include theirs.
 *   2. Each window is scanned again by the detector's own expression compiled with leftmost start,
 *      with one byte of context on either side, so that \b, ^ and $ see what they would in the whole
 *      text; of its reports only those ending where step 1 saw ends count. (A report starting at the
 *      very first byte of a window could only come from an assertion that byte fools; it sends the
 *      detector's window back to the text's start.)
 *   3. Card, SSN, phone, IPv4, IBAN, IPv6, e-mail and high-entropy detectors are not in the main
 *      database: hand-written passes pick the few stretches of text that could hold one of their
 *      findings (detect_regions.c), the stretches are copied one after the other, and each detector's
 *      own database scans its region's copies: for its ends when the start is known (one width) or
 *      parsed backwards by hand (card, phone, IBAN, e-mail, NAME=base64), else with leftmost start.
 * The reports are what one database with leftmost start over the whole text would give: for each end,
 * the leftmost start. Most detectors want the longest match per start, so one candidate is kept per
 * (detector, start) and stretched, while the few whose true end is not the longest one (a card number
 * followed by more digits, an IBAN followed by a word) keep every end and let the check choose.
 *
 * vectorscan 5.4.9 on AVX-512 misses some matches near the end of the buffer it is given and, in some
 * small databases of several expressions, depending on where the buffer lies in memory. Hence the slack
 * scanned past every window and stretch (TAIL_SLACK), one expression per database in steps 2 and 3, and
 * 64-byte aligned copies (test_positions and the differential checks in bench/RESULTS.md pin this).
 *
 * Candidates are then bounded (no token character may touch them), narrowed to the secret itself (an
 * assignment's value, a URL's password, a whole PEM block), checked, and resolved: within one kind,
 * overlapping findings leave the one with the higher priority, then the longer one.
 *
 * Two detectors are not expressions: whitespace padding (a run long enough to push text out of view)
 * and shadowing (a tool description naming another server's tool) are plain loops over the text.
 *
 * Costs: the scratch holds every buffer a scan needs and grows to the largest text seen; the window and
 * candidate lists are capped (MAX_CANDIDATES) so that a hostile text cannot make a scan allocate or loop
 * without bound; `truncated` says a cap was reached. A detector whose window goes back to the text's
 * start costs one more pass over the text at most, however many matches it has.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect_state.h"

#define PADDING_RUN 200 /* whitespace characters in a row that hide what follows */
/* Bytes scanned past the last end a window or a stretch must report. vectorscan 5.4.9 on AVX-512 misses
 * some matches that end within a few dozen bytes of the end of the buffer it is given (depending on the
 * buffer's alignment; measured with the e-mail expression); matches that far from the end are safe. */
#define TAIL_SLACK 64

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool in_bound(mg_guard_bound_t bound, char c)
{
    switch (bound) {
    case BOUND_NONE:
        return false;
    case BOUND_ALNUM:
        return is_alnum(c);
    case BOUND_TOKEN:
        return is_alnum(c) || c == '_' || c == '-';
    case BOUND_BASE64:
        return is_alnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
    case BOUND_DIGIT:
        return c >= '0' && c <= '9';
    }
    return false;
}

/* No character of the bound touches the candidate's end; for BOUND_DIGIT, nor does '.' or '-' before a digit
 * (1.2.3.4.5 and 12-34-5678-90: a longer number around the candidate). */
static bool bounded_end(mg_guard_bound_t bound, const char *text, size_t len, size_t end)
{
    if (end < len && in_bound(bound, text[end]))
        return false;
    return bound != BOUND_DIGIT || end + 1 >= len || (text[end] != '.' && text[end] != '-') ||
           !in_bound(bound, text[end + 1]);
}

static bool bounded(const mg_guard_detector_def_t *def, const char *text, size_t len, size_t start, size_t end)
{
    mg_guard_bound_t bound = def->bound;
    if (start > 0 && in_bound(bound, text[start - 1]))
        return false;
    if (bound == BOUND_DIGIT && start >= 2 && (text[start - 1] == '.' || text[start - 1] == '-') &&
        in_bound(bound, text[start - 2]))
        return false;
    return bounded_end(bound, text, len, end);
}

/* False when every start examine would try with this end fails bounded(): a candidate for nothing. (With
 * one candidate per start, stretched to the longest end, a later end may replace this one: only for
 * detectors that keep every end.) */
static bool end_may_yield(const mg_guard_scratch_t *scratch, const mg_guard_detector_def_t *def, size_t end)
{
    return !def->all_ends || def->span != SPAN_MATCH || bounded_end(def->bound, scratch->text, scratch->len, end);
}

/* A raw match with its leftmost start, from step 2 or 3, in order of its end within each detector. */
static void add_candidate(mg_guard_scratch_t *scratch, unsigned id, size_t from, size_t to)
{
    const mg_guard_detector_def_t *def = &scratch->detectors->defs[id];
    if (!end_may_yield(scratch, def, to))
        return;
    uint32_t last = scratch->last[id];
    if (!def->all_ends && last != 0 && scratch->candidates[last - 1].from == from) {
        scratch->candidates[last - 1].to = (uint32_t)to; /* reports come in order of their end */
        return;
    }
    if (scratch->candidates_len == MAX_CANDIDATES) {
        scratch->truncated = true;
        return;
    }
    scratch->candidates[scratch->candidates_len] = (mg_guard_candidate_t){(uint32_t)from, (uint32_t)to, id};
    scratch->last[id] = (uint32_t)++scratch->candidates_len;
}

/* The lowest offset at which a match of `detector` ending at `end` can start. */
static size_t start_bound(mg_guard_scratch_t *scratch, unsigned detector, size_t end)
{
    const mg_guard_detector_def_t *def = &scratch->detectors->defs[detector];
    if (def->start != START_WIDTH)
        return mg_guard_start_bound((mg_guard_start_t)def->start, scratch->text, end, &scratch->memos[def->start]);
    uint32_t width = scratch->detectors->widths[detector];
    return width == UINT32_MAX || width >= end ? 0 : end - width;
}

/* Step 1: an end; it joins the detector's latest window when their bytes touch. An expression whose
 * matches all have one width (most token formats) has its start right there. */
static int on_end(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *context)
{
    (void)from;
    (void)flags;
    mg_guard_scratch_t *scratch = context;
    const mg_guard_detectors_t *set = scratch->detectors;
    if ((set->defs[id].kinds & scratch->kinds) == 0)
        return 0;
    if (set->fixed[id] && set->defs[id].start == START_WIDTH) {
        add_candidate(scratch, id, (size_t)to - set->widths[id], (size_t)to);
        return 0;
    }
    size_t bound = start_bound(scratch, id, (size_t)to);
    uint32_t lo = bound > 0 ? (uint32_t)bound - 1 : 0;
    uint32_t hi = scratch->len - to > 1 + TAIL_SLACK ? (uint32_t)to + 1 + TAIL_SLACK : (uint32_t)scratch->len;
    uint32_t last = scratch->last_window[id];
    if (last != 0) {
        mg_guard_window_t *window = &scratch->windows[last - 1];
        if (lo <= window->hi && to >= window->last) {
            window->lo = lo < window->lo ? lo : window->lo;
            window->hi = hi;
            window->last = (uint32_t)to;
            return 0;
        }
    }
    if (scratch->windows_len == MAX_CANDIDATES) {
        scratch->truncated = true;
        return 0;
    }
    scratch->windows[scratch->windows_len] = (mg_guard_window_t){lo, hi, (uint32_t)to, (uint32_t)to, id};
    scratch->last_window[id] = (uint32_t)++scratch->windows_len;
    return 0;
}

static int by_detector(const void *a, const void *b)
{
    const mg_guard_window_t *x = a, *y = b;
    if (x->detector != y->detector)
        return x->detector < y->detector ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Vectorscan may report ends out of order: windows that touch merge whatever their order was. */
static void merge_windows(mg_guard_scratch_t *scratch)
{
    if (scratch->windows_len < 2)
        return;
    qsort(scratch->windows, scratch->windows_len, sizeof(*scratch->windows), by_detector);
    size_t kept = 0;
    for (size_t w = 1; w < scratch->windows_len; w++) {
        mg_guard_window_t *into = &scratch->windows[kept], *next = &scratch->windows[w];
        if (next->detector != into->detector || next->lo > into->hi) {
            scratch->windows[++kept] = *next;
            continue;
        }
        into->hi = next->hi > into->hi ? next->hi : into->hi;
        into->first = next->first < into->first ? next->first : into->first;
        into->last = next->last > into->last ? next->last : into->last;
    }
    scratch->windows_len = kept + 1;
}

/* Step 2: a start. Only ends step 1 saw count; a start on the window's first byte may be an assertion
 * fooled by the missing byte before it (no real match starts there: the window begins before the bound). */
static int on_start(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *context)
{
    (void)id; /* 0: the database has one expression, the window's detector */
    (void)flags;
    mg_guard_scratch_t *scratch = context;
    const mg_guard_window_t *window = scratch->window;
    from += scratch->base;
    to += scratch->base;
    if (to < window->first || to > window->last)
        return 0;
    if (from == scratch->base && scratch->base > 0) {
        scratch->fooled = true;
        return 1; /* stops the scan */
    }
    add_candidate(scratch, window->detector, (size_t)from, (size_t)to);
    return 0;
}

static int scan_window(mg_guard_scratch_t *scratch, const mg_guard_window_t *window)
{
    const hs_database_t *database = scratch->detectors->starts[window->detector];
    size_t mark = scratch->candidates_len;
    uint32_t last = scratch->last[window->detector];
    scratch->window = window;
    scratch->base = window->lo;
    scratch->fooled = false;
    hs_error_t rc =
        hs_scan(database, scratch->text + window->lo, window->hi - window->lo, 0, scratch->hs, on_start, scratch);
    if (scratch->fooled) {
        scratch->candidates_len = mark;
        scratch->last[window->detector] = last;
        scratch->base = 0;
        scratch->fooled = false;
        rc = hs_scan(database, scratch->text, window->hi, 0, scratch->hs, on_start, scratch);
    }
    return rc == HS_SUCCESS ? 0 : -1;
}

/* The stretch that holds byte `at` of the copies: the last one starting at or before it. */
static size_t stretch_at(const mg_guard_stretches_t *stretches, size_t at)
{
    size_t low = 0, high = stretches->count;
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (stretches->at[middle] <= at)
            low = middle;
        else
            high = middle;
    }
    return low;
}

/* An offset in the copies of the stretches, as an offset in the text. */
static size_t in_text(const mg_guard_stretches_t *stretches, size_t stretch, size_t at)
{
    assert(at >= stretches->at[stretch]);
    return stretches->from[stretch] + (at - stretches->at[stretch]);
}

/* Step 3: a raw match inside one of the stretches, mapped back to the text. */
static int on_region_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
                           void *context)
{
    (void)flags;
    mg_guard_scratch_t *scratch = context;
    const mg_guard_stretches_t *stretches = &scratch->stretches;
    from += scratch->base;
    to += scratch->base;
    if ((scratch->detectors->defs[id].kinds & scratch->kinds) == 0 || to > stretches->part_end)
        return 0; /* past the part: the next region's stretches, read only as slack */
    size_t stretch = stretch_at(stretches, (size_t)from);
    add_candidate(scratch, id, in_text(stretches, stretch, (size_t)from), in_text(stretches, stretch, (size_t)to));
    return 0;
}

/* Step 3: the end of a match of a detector whose start is parsed backwards within its stretch. */
static int on_region_end(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
                         void *context)
{
    (void)from;
    (void)flags;
    mg_guard_scratch_t *scratch = context;
    const mg_guard_stretches_t *stretches = &scratch->stretches;
    const mg_guard_detector_def_t *def = &scratch->detectors->defs[id];
    to += scratch->base;
    if ((def->kinds & scratch->kinds) == 0 || to > stretches->part_end)
        return 0;
    size_t stretch = stretch_at(stretches, (size_t)to - 1);
    size_t end = in_text(stretches, stretch, (size_t)to);
    if (!end_may_yield(scratch, def, end))
        return 0; /* before the parse, which costs more */
    size_t (*parse)(const char *, size_t, size_t) = NULL;
    switch ((mg_guard_start_t)def->start) {
    case START_CARD:
        parse = mg_guard_card_start;
        break;
    case START_PHONE:
        parse = mg_guard_phone_start;
        break;
    case START_IBAN:
        parse = mg_guard_iban_start;
        break;
    case START_EMAIL:
        parse = mg_guard_email_start;
        break;
    case START_KEY_VALUE:
        parse = mg_guard_key_value_start;
        break;
    case START_WIDTH:
    case START_ASSIGNMENT:
        break;
    }
    size_t start;
    if (scratch->detectors->fixed[id]) {
        start = (size_t)to - scratch->detectors->widths[id];
    } else {
        assert(parse != NULL); /* compile_start: the others are scanned with leftmost start */
        start = parse != NULL ? parse(stretches->bytes, stretches->at[stretch], (size_t)to) : SIZE_MAX;
    }
    assert(start != SIZE_MAX); /* vectorscan reported a match ending there */
    if (start == SIZE_MAX)
        return 0;
    add_candidate(scratch, id, in_text(stretches, stretch, start), end);
    return 0;
}

static bool reserve(void **buffer, size_t *capacity, size_t needed, size_t size)
{
    if (needed <= *capacity)
        return true;
    size_t grown_capacity = needed * 2;
    void *grown = realloc(*buffer, grown_capacity * size);
    if (grown == NULL)
        return false;
    *buffer = grown;
    *capacity = grown_capacity;
    return true;
}

static int collect_range(void *context, mg_guard_region_t region, size_t from, size_t to)
{
    mg_guard_stretches_t *stretches = &((mg_guard_scratch_t *)context)->stretches;
    if (!reserve((void **)&stretches->ranges, &stretches->ranges_capacity, stretches->ranges_len + 3, sizeof(uint32_t)))
        return -1;
    stretches->ranges[stretches->ranges_len++] = (uint32_t)region;
    stretches->ranges[stretches->ranges_len++] = (uint32_t)from;
    stretches->ranges[stretches->ranges_len++] = (uint32_t)to;
    return 0;
}

/* By region, then offset (the stretches of one region never overlap). */
static int by_region(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* The copies live at an address that is a multiple of 64, so that what vectorscan finds in them depends
 * on their content only, never on where the allocator put them (see `starts`). */
static bool reserve_bytes(mg_guard_stretches_t *stretches, size_t needed)
{
    if (needed <= stretches->capacity)
        return true;
    size_t capacity = (needed * 2 + 63) / 64 * 64;
    char *grown = aligned_alloc(64, capacity);
    if (grown == NULL)
        return false;
    if (stretches->len > 0)
        memcpy(grown, stretches->bytes, stretches->len);
    free(stretches->bytes);
    stretches->bytes = grown;
    stretches->capacity = capacity;
    return true;
}

static int append_stretch(mg_guard_stretches_t *stretches, const char *text, size_t from, size_t to)
{
    size_t count_capacity = stretches->count_capacity; /* `at` and `from` grow together */
    if (stretches->len + (to - from) + 1 + TAIL_SLACK >= UINT32_MAX)
        return -1; /* vectorscan takes an unsigned length */
    if (!reserve_bytes(stretches, stretches->len + (to - from) + 1 + TAIL_SLACK) ||
        !reserve((void **)&stretches->at, &count_capacity, stretches->count + 1, sizeof(uint32_t)) ||
        !reserve((void **)&stretches->from, &stretches->count_capacity, stretches->count + 1, sizeof(uint32_t)))
        return -1;
    stretches->at[stretches->count] = (uint32_t)stretches->len;
    stretches->from[stretches->count] = (uint32_t)from;
    stretches->count++;
    memcpy(stretches->bytes + stretches->len, text + from, to - from);
    stretches->len += to - from;
    stretches->bytes[stretches->len++] = '\n';
    return 0;
}

/* Scans the part [start, end) of the copies with a region's database, and TAIL_SLACK bytes past it. */
static int scan_part(mg_guard_scratch_t *scratch, const hs_database_t *database, size_t start, size_t end,
                     match_event_handler on_match)
{
    mg_guard_stretches_t *stretches = &scratch->stretches;
    if (database == NULL)
        return 0;
    size_t stop = end + TAIL_SLACK < stretches->len + TAIL_SLACK ? end + TAIL_SLACK : stretches->len + TAIL_SLACK;
    stretches->part_end = end;
    scratch->base = start;
    return hs_scan(database, stretches->bytes + start, (unsigned)(stop - start), 0, scratch->hs, on_match, scratch) ==
                   HS_SUCCESS
               ? 0
               : -1;
}

/* The stretches of the regions the scan's kinds need, copied, then each region's part scanned. */
static int scan_regions(mg_guard_scratch_t *scratch)
{
    const mg_guard_detectors_t *set = scratch->detectors;
    mg_guard_stretches_t *stretches = &scratch->stretches;
    unsigned regions = 0;
    for (unsigned region = REGION_NONE + 1; region < REGION_COUNT; region++) {
        if ((set->region_kinds[region] & scratch->kinds) != 0)
            regions |= 1u << region;
    }
    stretches->ranges_len = stretches->len = stretches->count = 0;
    if (regions == 0)
        return 0;
    if (mg_guard_find_regions(scratch->text, scratch->len, regions, collect_range, scratch) != 0)
        return -1;
    size_t ranges = stretches->ranges_len / 3;
    if (ranges == 0)
        return 0;
    qsort(stretches->ranges, ranges, 3 * sizeof(uint32_t), by_region);
    size_t part_start[REGION_COUNT] = {0}, part_end[REGION_COUNT] = {0};
    for (size_t r = 0; r < ranges; r++) {
        const uint32_t *range = &stretches->ranges[3 * r];
        if (r == 0 || range[0] != range[-3])
            part_start[range[0]] = stretches->len;
        if (append_stretch(stretches, scratch->text, range[1], range[2]) != 0)
            return -1;
        part_end[range[0]] = stretches->len;
    }
    memset(stretches->bytes + stretches->len, '\n', TAIL_SLACK);
    for (size_t d = 0; d < set->len; d++) {
        unsigned region = set->defs[d].region;
        if (region == REGION_NONE || set->starts[d] == NULL || part_end[region] == part_start[region] ||
            (set->defs[d].kinds & scratch->kinds) == 0)
            continue;
        if (scan_part(scratch, set->starts[d], part_start[region], part_end[region],
                      set->leftmost[d] ? on_region_match : on_region_end) != 0)
            return -1;
    }
    return 0;
}

/* Steps 1 to 3: every raw match of the detectors of the scan's kinds, as candidates. */
static int find_candidates(mg_guard_scratch_t *scratch)
{
    const mg_guard_detectors_t *set = scratch->detectors;
    if (set->database != NULL &&
        hs_scan(set->database, scratch->text, (unsigned)scratch->len, 0, scratch->hs, on_end, scratch) != HS_SUCCESS)
        return -1;
    merge_windows(scratch);
    for (size_t w = 0; w < scratch->windows_len; w++) {
        if (scan_window(scratch, &scratch->windows[w]) != 0)
            return -1;
    }
    return scan_regions(scratch);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Narrows [*start, *end) to the secret inside the match; false when nothing is left. */
static bool locate(const mg_guard_detector_def_t *def, const char *text, size_t len, size_t *start, size_t *end)
{
    size_t s = *start, e = *end;
    switch ((mg_guard_span_t)def->span) {
    case SPAN_MATCH:
        break;
    case SPAN_EXTEND_TOKEN:
        while (e < len && (is_alnum(text[e]) || text[e] == '_' || text[e] == '-'))
            e++;
        break;
    case SPAN_VALUE: {
        if (text[s] == '"' || text[s] == '\'') {
            s++;
        } else {
            while (s < e && text[s] != '=' && text[s] != ':')
                s++;
            while (s < e && (text[s] == '=' || text[s] == ':' || text[s] == '>'))
                s++;
        }
        while (s < e && (is_space(text[s]) || text[s] == '"' || text[s] == '\''))
            s++;
        size_t v = s;
        while (v < e && text[v] != '"' && text[v] != '\'' && !is_space(text[v]))
            v++;
        e = v;
        break;
    }
    case SPAN_URL_PASSWORD: {
        const char *scheme_end = memmem(text + s, e - s, "://", 3);
        if (scheme_end == NULL)
            return false;
        s = (size_t)(scheme_end - text) + 3;
        while (s < e && text[s] != ':')
            s++;
        s++;
        e--; /* the match ends with '@' and the host's first character */
        while (e > s && text[e] != '@')
            e--;
        break;
    }
    case SPAN_PEM_BLOCK: {
        const char *begin = memmem(text + s, e - s, "-----BEGIN", 10);
        s = begin != NULL ? (size_t)(begin - text) : s;
        const char *end_line = memmem(text + e, len - e, "-----END", 8);
        if (end_line != NULL) {
            const char *close = memmem(end_line + 8, len - (size_t)(end_line + 8 - text), "-----", 5);
            e = close != NULL ? (size_t)(close - text) + 5 : (size_t)(end_line - text) + 8;
        } else { /* truncated: the base64 body that follows */
            while (e < len && (is_alnum(text[e]) || text[e] == '+' || text[e] == '/' || text[e] == '=' ||
                               is_space(text[e]) || text[e] == '\\'))
                e++;
        }
        break;
    }
    }
    if (e <= s || e > len)
        return false;
    *start = s;
    *end = e;
    return true;
}

static int accept(mg_guard_scratch_t *scratch, size_t start, size_t end, size_t detector, unsigned kinds, float score)
{
    if (scratch->accepted_len == scratch->accepted_capacity) {
        size_t capacity = scratch->accepted_capacity == 0 ? 64 : scratch->accepted_capacity * 2;
        mg_guard_accepted_t *grown = realloc(scratch->accepted, capacity * sizeof(*grown));
        if (grown == NULL)
            return -1;
        scratch->accepted = grown;
        scratch->accepted_capacity = capacity;
    }
    const mg_guard_detector_def_t *def = &scratch->detectors->defs[detector];
    scratch->accepted[scratch->accepted_len++] = (mg_guard_accepted_t){
        (uint32_t)start, (uint32_t)end, (uint16_t)detector, (uint8_t)(kinds & (0u - kinds)), def->priority, score};
    return 0;
}

/* One candidate: its start, or for detectors that keep every end, any later start at a word boundary
 * inside it (vectorscan's leftmost start may have swallowed a number in front of the card). */
static int examine(mg_guard_scratch_t *scratch, const char *text, size_t len, const mg_guard_candidate_t *candidate)
{
    const mg_guard_detector_def_t *def = &scratch->detectors->defs[candidate->detector];
    unsigned kinds = def->kinds & scratch->kinds;
    for (size_t from = candidate->from; from < candidate->to; from++) {
        if (from != candidate->from && (!def->all_ends || is_alnum(text[from - 1]) || !is_alnum(text[from])))
            continue;
        size_t start = from, end = candidate->to;
        if (def->span == SPAN_EXTEND_TOKEN && !locate(def, text, len, &start, &end))
            continue; /* a token's pattern says its shortest length: the boundary is after the rest of it */
        if (!bounded(def, text, len, start, end) || !locate(def, text, len, &start, &end))
            continue;
        if (def->max_length != 0 && end - start > def->max_length)
            continue;
        float score = mg_guard_check(def, text, len, start, end);
        if (score > 0)
            return accept(scratch, start, end, candidate->detector, kinds, score);
        if (!def->all_ends)
            break;
    }
    return 0;
}

static int accept_padding(void *context, size_t from, size_t to)
{
    mg_guard_scratch_t *scratch = context;
    size_t detector = scratch->detectors->padding;
    return accept(scratch, from, to, detector, scratch->detectors->defs[detector].kinds & scratch->kinds, 0.6f);
}

static int padding(mg_guard_scratch_t *scratch, const char *text, size_t len)
{
    if ((scratch->detectors->defs[scratch->detectors->padding].kinds & scratch->kinds) == 0)
        return 0;
    return mg_guard_find_padding(text, len, PADDING_RUN, accept_padding, scratch);
}

static bool is_name_char(char c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int shadowing(mg_guard_scratch_t *scratch, const char *text, size_t len, const mg_guard_scan_options_t *options)
{
    size_t detector = scratch->detectors->shadowing;
    if ((scratch->kinds & MG_GUARD_POISONING) == 0)
        return 0;
    for (size_t n = 0; n < options->other_tools_len; n++) {
        const char *name = options->other_tools[n];
        size_t name_len = name != NULL ? strlen(name) : 0;
        if (name_len < 3 || name_len > len)
            continue;
        for (size_t i = 0; i + name_len <= len; i++) {
            size_t k = 0;
            while (k < name_len && lower(text[i + k]) == lower(name[k]))
                k++;
            if (k != name_len || (i > 0 && is_name_char(text[i - 1])) ||
                (i + name_len < len && is_name_char(text[i + name_len])))
                continue;
            if (accept(scratch, i, i + name_len, detector, MG_GUARD_POISONING, 0.7f) != 0)
                return -1;
            break; /* one mention of a name is enough */
        }
    }
    return 0;
}

static int by_precedence(const void *a, const void *b)
{
    const mg_guard_accepted_t *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    uint32_t xl = x->end - x->start, yl = y->end - y->start;
    if (xl != yl)
        return xl > yl ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int by_offset(const void *a, const void *b)
{
    const mg_guard_finding_t *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->length > y->length ? -1 : x->length < y->length;
}

static int append(mg_guard_findings_t *out, const mg_guard_finding_t *finding)
{
    if (out->len == out->capacity) {
        size_t capacity = out->capacity == 0 ? 16 : out->capacity * 2;
        mg_guard_finding_t *grown = realloc(out->items, capacity * sizeof(*grown));
        if (grown == NULL)
            return -1;
        out->items = grown;
        out->capacity = capacity;
    }
    out->items[out->len++] = *finding;
    return 0;
}

/* Keeps, within each kind, the findings no better one overlaps, mapped back to the original text. The
 * kept ones of a kind never overlap, so in order of (kind, start) the only one that can overlap a newcomer
 * is the last that starts before it ends. */
static int resolve(mg_guard_scratch_t *scratch, const mg_guard_normalized_t *map, mg_guard_findings_t *out)
{
    if (scratch->accepted_len > 1) /* qsort's base must not be NULL, even for nothing */
        qsort(scratch->accepted, scratch->accepted_len, sizeof(*scratch->accepted), by_precedence);
    if (!reserve((void **)&scratch->kept_order, &scratch->kept_order_capacity, scratch->accepted_len,
                 sizeof(*scratch->kept_order)))
        return -1;
    uint32_t *order = scratch->kept_order; /* indexes of the kept ones, by (kind, start) */
    size_t kept = 0, first = out->len;
    for (size_t i = 0; i < scratch->accepted_len; i++) {
        mg_guard_accepted_t a = scratch->accepted[i];
        size_t low = 0, high = kept;
        while (low < high) {
            size_t middle = low + (high - low) / 2;
            const mg_guard_accepted_t *b = &scratch->accepted[order[middle]];
            if (b->kind < a.kind || (b->kind == a.kind && b->start < a.end))
                low = middle + 1;
            else
                high = middle;
        }
        const mg_guard_accepted_t *before = low > 0 ? &scratch->accepted[order[low - 1]] : NULL;
        if (before != NULL && before->kind == a.kind && before->end > a.start)
            continue;
        memmove(order + low + 1, order + low, (kept - low) * sizeof(*order));
        order[low] = (uint32_t)kept;
        scratch->accepted[kept++] = a;
    }
    for (size_t k = 0; k < kept; k++) {
        const mg_guard_accepted_t *a = &scratch->accepted[k];
        uint32_t start = map != NULL ? map->start[a->start] : a->start;
        uint32_t end = map != NULL ? map->end[a->end - 1] : a->end;
        mg_guard_finding_t finding = {start, end - start, a->detector, a->kind, a->score};
        if (append(out, &finding) != 0)
            return -1;
    }
    if (out->len - first > 1)
        qsort(out->items + first, out->len - first, sizeof(*out->items), by_offset);
    return 0;
}

int mg_guard_scan(const mg_guard_detectors_t *set, mg_guard_scratch_t *scratch, const char *text, size_t len,
                  const mg_guard_scan_options_t *options, mg_guard_findings_t *out, mg_error_t *err)
{
    if (len >= UINT32_MAX)
        return mg_error_set(err, "text too long to scan (%zu bytes)", len);
    if (options->kinds == 0 || len == 0)
        return 0;
    if (mg_guard_scratch_fit(scratch, set, err) != 0)
        return -1;
    const mg_guard_normalized_t *map = NULL;
    if (mg_guard_needs_normalizing(text, len)) {
        if (mg_guard_normalize(text, len, &scratch->normalized) != 0)
            return mg_error_set(err, "out of memory");
        map = &scratch->normalized;
        text = map->text;
        len = map->len;
        if (len >= UINT32_MAX)
            return mg_error_set(err, "text too long to scan once normalised");
    }
    scratch->detectors = set;
    scratch->kinds = options->kinds;
    scratch->candidates_len = 0;
    scratch->accepted_len = 0;
    scratch->truncated = false;
    scratch->windows_len = 0;
    memset(scratch->last, 0, set->len * sizeof(*scratch->last));
    memset(scratch->last_window, 0, set->len * sizeof(*scratch->last_window));
    memset(scratch->memos, 0, sizeof(scratch->memos));
    scratch->text = text;
    scratch->len = len;
    if (len > 0 && find_candidates(scratch) != 0)
        return mg_error_set(err, "vectorscan failed to scan");
    for (size_t c = 0; c < scratch->candidates_len; c++) {
        if (examine(scratch, text, len, &scratch->candidates[c]) != 0)
            return mg_error_set(err, "out of memory");
    }
    if (padding(scratch, text, len) != 0 || shadowing(scratch, text, len, options) != 0 ||
        resolve(scratch, map, out) != 0)
        return mg_error_set(err, "out of memory");
    out->truncated |= scratch->truncated;
    return 0;
}

void mg_guard_findings_clear(mg_guard_findings_t *findings)
{
    findings->len = 0;
    findings->truncated = false;
}

void mg_guard_findings_dispose(mg_guard_findings_t *findings)
{
    free(findings->items);
    memset(findings, 0, sizeof(*findings));
}
