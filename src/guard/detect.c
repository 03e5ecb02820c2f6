/*
 * detect.c - the compiled detector set and the scan.
 *
 * A scan is: normalise (or not, for plain ASCII), one hs_scan of the one database, then candidates to
 * findings. vectorscan reports every end offset at which an expression matches, each with its leftmost
 * start (HS_FLAG_SOM_LEFTMOST); most detectors want the longest match per start, so the callback keeps
 * one candidate per (detector, start) and stretches it, while the few whose true end is not the
 * longest one (a card number followed by more digits, an IBAN followed by a word) keep every end and
 * let the check choose. Candidates are then bounded (no token character may touch them), narrowed to
 * the secret itself (an assignment's value, a URL's password, a whole PEM block), checked, and resolved:
 * within one kind, overlapping findings leave the one with the higher priority, then the longer one.
 *
 * Two detectors are not expressions: whitespace padding (a run long enough to push text out of view)
 * and shadowing (a tool description naming another server's tool) are plain loops over the text.
 *
 * Costs: the scratch holds every buffer a scan needs and grows to the largest text seen; the candidate
 * list is capped (MAX_CANDIDATES) so that a hostile text cannot make a scan allocate or loop without
 * bound; `truncated` says a cap was reached.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "guard/detect_internal.h"

#define MAX_CANDIDATES 8192
#define PADDING_RUN 200 /* whitespace characters in a row that hide what follows */

typedef struct st_mg_guard_candidate_t {
    uint32_t from, to;
    uint32_t detector;
} mg_guard_candidate_t;

typedef struct st_mg_guard_accepted_t {
    uint32_t start, end; /* in the scanned (possibly normalised) text */
    uint16_t detector;
    uint8_t kind, priority;
    float score;
} mg_guard_accepted_t;

struct st_mg_guard_detectors_t {
    hs_database_t *database;
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
    uint32_t *last; /* per detector: index of its latest candidate + 1 (0: none yet) */
    size_t last_capacity;
    bool truncated;
    const mg_guard_detectors_t *detectors;
    unsigned kinds;
};

static _Atomic uint64_t next_generation = 1;

static const char *const kind_names[] = {"secrets", "pii", "injection", "poisoning"};

const char *mg_guard_kind_name(unsigned kind)
{
    for (unsigned k = 0; k < 4; k++) {
        if (kind == 1u << k)
            return kind_names[k];
    }
    return NULL;
}

unsigned mg_guard_kind_parse(const char *name)
{
    for (unsigned k = 0; k < 4; k++) {
        if (strcmp(name, kind_names[k]) == 0)
            return 1u << k;
    }
    return 0;
}

static mg_guard_check_t custom_check(mg_guard_validator_t validator)
{
    switch (validator) {
    case MG_GUARD_VALIDATE_LUHN:
        return CHECK_LUHN_DIGITS;
    case MG_GUARD_VALIDATE_MOD97:
        return CHECK_IBAN;
    case MG_GUARD_VALIDATE_ENTROPY:
        return CHECK_ENTROPY;
    case MG_GUARD_VALIDATE_NONE:
        break;
    }
    return CHECK_NONE;
}

static char *own(mg_guard_detectors_t *set, const char *text)
{
    char *copy = strdup(text);
    if (copy != NULL)
        set->owned[set->owned_len++] = copy;
    return copy;
}

static int add_custom(mg_guard_detectors_t *set, const mg_guard_custom_t *custom, size_t index, mg_error_t *err)
{
    mg_guard_detector_def_t *def = &set->defs[set->len];
    memset(def, 0, sizeof(*def));
    def->type = own(set, custom->name);
    def->pattern = own(set, custom->pattern);
    if (def->type == NULL || def->pattern == NULL)
        return mg_error_set(err, "out of memory");
    if (custom->kind == 0 || (custom->kind & (custom->kind - 1)) != 0 || (custom->kind & ~(unsigned)MG_GUARD_ALL))
        return mg_error_set(err, "custom detector %zu: kind must be exactly one of the four", index);
    def->hs_flags = custom->caseless ? HS_FLAG_CASELESS : 0;
    def->kinds = (uint8_t)custom->kind;
    def->priority = 60;
    def->check = (uint8_t)custom_check(custom->validator);
    def->span = SPAN_MATCH;
    def->score = 0.8f;
    def->min_entropy = custom->min_entropy;
    set->actions[set->len] = custom->action;
    set->len++;
    return 0;
}

static int compile(mg_guard_detectors_t *set, size_t builtin_len, size_t *bad_custom, mg_error_t *err)
{
    const char **expressions = calloc(set->len, sizeof(*expressions));
    unsigned *flags = calloc(set->len, sizeof(*flags)), *ids = calloc(set->len, sizeof(*ids));
    unsigned count = 0;
    int rc = -1;
    if (expressions == NULL || flags == NULL || ids == NULL) {
        mg_error_set(err, "out of memory");
        goto done;
    }
    for (size_t d = 0; d < set->len; d++) {
        if (set->defs[d].pattern == NULL)
            continue;
        expressions[count] = set->defs[d].pattern;
        /* leftmost start for every expression: findings are spans, redaction needs where they begin */
        flags[count] = set->defs[d].hs_flags | HS_FLAG_SOM_LEFTMOST;
        ids[count] = (unsigned)d;
        count++;
    }
    hs_compile_error_t *compile_error = NULL;
    if (hs_compile_multi(expressions, flags, ids, count, HS_MODE_BLOCK, NULL, &set->database, &compile_error) !=
        HS_SUCCESS) {
        size_t detector =
            compile_error != NULL && compile_error->expression >= 0 ? ids[compile_error->expression] : (size_t)-1;
        if (detector != (size_t)-1 && detector >= builtin_len && bad_custom != NULL)
            *bad_custom = detector - builtin_len;
        mg_error_set(err, "pattern %s%s%s: %s", detector != (size_t)-1 ? "of " : "",
                     detector != (size_t)-1 ? set->defs[detector].type : "",
                     detector != (size_t)-1 && detector < builtin_len ? " (built-in)" : "",
                     compile_error != NULL ? compile_error->message : "cannot be compiled");
        hs_free_compile_error(compile_error);
        goto done;
    }
    rc = 0;
done:
    free(expressions);
    free(flags);
    free(ids);
    return rc;
}

int mg_guard_detectors_create(const mg_guard_custom_t *custom, size_t custom_len, mg_guard_detectors_t **out,
                              size_t *bad_custom, mg_error_t *err)
{
    *out = NULL;
    if (bad_custom != NULL)
        *bad_custom = (size_t)-1;
    size_t builtin_len = mg_guard_builtin_detectors_len, total = builtin_len + custom_len;
    if (total > UINT16_MAX)
        return mg_error_set(err, "too many custom detectors (%zu)", custom_len);
    mg_guard_detectors_t *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return mg_error_set(err, "out of memory");
    set->defs = calloc(total, sizeof(*set->defs));
    set->actions = calloc(total, sizeof(*set->actions));
    set->owned = calloc(custom_len * 2 + 1, sizeof(*set->owned));
    if (set->defs == NULL || set->actions == NULL || set->owned == NULL) {
        mg_guard_detectors_destroy(set);
        return mg_error_set(err, "out of memory");
    }
    for (size_t d = 0; d < builtin_len; d++) {
        set->defs[d] = mg_guard_builtin_detectors[d];
        set->actions[d] = -1;
        if (set->defs[d].pattern == NULL && strcmp(set->defs[d].type, "hidden_padding") == 0)
            set->padding = d;
        if (set->defs[d].pattern == NULL && strcmp(set->defs[d].type, "tool_shadowing") == 0)
            set->shadowing = d;
    }
    set->len = builtin_len;
    for (size_t c = 0; c < custom_len; c++) {
        if (add_custom(set, &custom[c], c, err) != 0) {
            if (bad_custom != NULL)
                *bad_custom = c;
            mg_guard_detectors_destroy(set);
            return -1;
        }
    }
    if (compile(set, builtin_len, bad_custom, err) != 0) {
        mg_guard_detectors_destroy(set);
        return -1;
    }
    set->generation = atomic_fetch_add(&next_generation, 1);
    *out = set;
    return 0;
}

void mg_guard_detectors_destroy(mg_guard_detectors_t *set)
{
    if (set == NULL)
        return;
    hs_free_database(set->database);
    for (size_t i = 0; i < set->owned_len; i++)
        free(set->owned[i]);
    free(set->owned);
    free(set->defs);
    free(set->actions);
    free(set);
}

size_t mg_guard_detectors_count(const mg_guard_detectors_t *set)
{
    return set->len;
}

const char *mg_guard_detector_type(const mg_guard_detectors_t *set, size_t detector)
{
    return detector < set->len ? set->defs[detector].type : "unknown";
}

int mg_guard_detector_action(const mg_guard_detectors_t *set, size_t detector)
{
    return detector < set->len ? set->actions[detector] : -1;
}

int mg_guard_scratch_create(mg_guard_scratch_t **out, mg_error_t *err)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return mg_error_set(err, "out of memory");
    (*out)->candidates = malloc(MAX_CANDIDATES * sizeof(*(*out)->candidates));
    if ((*out)->candidates == NULL) {
        free(*out);
        *out = NULL;
        return mg_error_set(err, "out of memory");
    }
    return 0;
}

void mg_guard_scratch_destroy(mg_guard_scratch_t *scratch)
{
    if (scratch == NULL)
        return;
    hs_free_scratch(scratch->hs);
    mg_guard_normalized_dispose(&scratch->normalized);
    free(scratch->candidates);
    free(scratch->accepted);
    free(scratch->last);
    free(scratch);
}

/* Makes the scratch fit `set`: vectorscan's scratch space grows to the largest database it served. */
static int fit(mg_guard_scratch_t *scratch, const mg_guard_detectors_t *set, mg_error_t *err)
{
    if (scratch->generation != set->generation) {
        if (hs_alloc_scratch(set->database, &scratch->hs) != HS_SUCCESS)
            return mg_error_set(err, "cannot allocate vectorscan scratch space");
        scratch->generation = set->generation;
    }
    if (scratch->last_capacity < set->len) {
        uint32_t *last = realloc(scratch->last, set->len * sizeof(*last));
        if (last == NULL)
            return mg_error_set(err, "out of memory");
        scratch->last = last;
        scratch->last_capacity = set->len;
    }
    return 0;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *context)
{
    (void)flags;
    mg_guard_scratch_t *scratch = context;
    const mg_guard_detector_def_t *def = &scratch->detectors->defs[id];
    if ((def->kinds & scratch->kinds) == 0)
        return 0;
    uint32_t last = scratch->last[id];
    if (!def->all_ends && last != 0 && scratch->candidates[last - 1].from == from) {
        scratch->candidates[last - 1].to = (uint32_t)to; /* reports come in order of their end */
        return 0;
    }
    if (scratch->candidates_len == MAX_CANDIDATES) {
        scratch->truncated = true;
        return 0;
    }
    scratch->candidates[scratch->candidates_len] = (mg_guard_candidate_t){(uint32_t)from, (uint32_t)to, id};
    scratch->last[id] = (uint32_t)++scratch->candidates_len;
    return 0;
}

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

static bool bounded(const mg_guard_detector_def_t *def, const char *text, size_t len, size_t start, size_t end)
{
    mg_guard_bound_t bound = def->bound;
    if (start > 0 && in_bound(bound, text[start - 1]))
        return false;
    if (end < len && in_bound(bound, text[end]))
        return false;
    if (bound == BOUND_DIGIT) { /* 1.2.3.4.5 and 12-34-5678-90: a longer number around the candidate */
        if (start >= 2 && (text[start - 1] == '.' || text[start - 1] == '-') && in_bound(bound, text[start - 2]))
            return false;
        if (end + 1 < len && (text[end] == '.' || text[end] == '-') && in_bound(bound, text[end + 1]))
            return false;
    }
    return true;
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

static int padding(mg_guard_scratch_t *scratch, const char *text, size_t len)
{
    size_t detector = scratch->detectors->padding;
    unsigned kinds = scratch->detectors->defs[detector].kinds & scratch->kinds;
    if (kinds == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        if (!is_space(text[i])) {
            i++;
            continue;
        }
        size_t run = i;
        while (run < len && is_space(text[run]))
            run++;
        if (run - i >= PADDING_RUN && run < len && accept(scratch, i, run, detector, kinds, 0.6f) != 0)
            return -1;
        i = run;
    }
    return 0;
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

/* Keeps, within each kind, the findings no better one overlaps, mapped back to the original text. */
static int resolve(mg_guard_scratch_t *scratch, const mg_guard_normalized_t *map, mg_guard_findings_t *out)
{
    if (scratch->accepted_len > 1) /* qsort's base must not be NULL, even for nothing */
        qsort(scratch->accepted, scratch->accepted_len, sizeof(*scratch->accepted), by_precedence);
    size_t kept = 0, first = out->len;
    for (size_t i = 0; i < scratch->accepted_len; i++) {
        mg_guard_accepted_t *a = &scratch->accepted[i];
        bool overlaps = false;
        for (size_t k = 0; k < kept && !overlaps; k++) {
            const mg_guard_accepted_t *b = &scratch->accepted[k];
            overlaps = a->kind == b->kind && a->start < b->end && b->start < a->end;
        }
        if (!overlaps)
            scratch->accepted[kept++] = *a;
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
    if (fit(scratch, set, err) != 0)
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
    memset(scratch->last, 0, set->len * sizeof(*scratch->last));
    if (len > 0 && hs_scan(set->database, text, (unsigned)len, 0, scratch->hs, on_match, scratch) != HS_SUCCESS)
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
