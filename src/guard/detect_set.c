/*
 * detect_set.c - the compiled detector set (the built-in detectors, detectors_builtin.c, and the
 * configuration's custom ones) and the scratch a scan works in (the scan itself: detect.c).
 *
 * Compiling: the main database holds every expression without a region and ends only; each detector also
 * gets a database of its own expression alone, with leftmost start where a scan needs one (detect.c, steps
 * 2 and 3). A custom pattern vectorscan refuses is reported with its index. Each set has a generation, so
 * that a scratch knows when it must refit (a reload compiles a new set; workers keep their scratch).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect_state.h"

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

/* The error of a detector's expression: which one (a custom one's index in *bad_custom) and why. */
static int compile_failed(const mg_guard_detectors_t *set, size_t detector, size_t builtin_len, size_t *bad_custom,
                          hs_compile_error_t *compile_error, mg_error_t *err)
{
    if (detector != (size_t)-1 && detector >= builtin_len && bad_custom != NULL)
        *bad_custom = detector - builtin_len;
    mg_error_set(err, "pattern %s%s%s: %s", detector != (size_t)-1 ? "of " : "",
                 detector != (size_t)-1 ? set->defs[detector].type : "",
                 detector != (size_t)-1 && detector < builtin_len ? " (built-in)" : "",
                 compile_error != NULL ? compile_error->message : "cannot be compiled");
    hs_free_compile_error(compile_error);
    return -1;
}

/* The main database: every REGION_NONE detector (or its prefilter), ends only. */
static int compile_main(mg_guard_detectors_t *set, size_t builtin_len, size_t *bad_custom, mg_error_t *err)
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
        const mg_guard_detector_def_t *def = &set->defs[d];
        if (def->pattern == NULL || def->region != REGION_NONE)
            continue;
        expressions[count] = def->prefilter != NULL ? def->prefilter : def->pattern;
        flags[count] = def->hs_flags;
        ids[count] = (unsigned)d;
        count++;
    }
    hs_compile_error_t *compile_error = NULL;
    if (count > 0 && hs_compile_multi(expressions, flags, ids, count, HS_MODE_BLOCK, NULL, &set->database,
                                      &compile_error) != HS_SUCCESS) {
        size_t detector =
            compile_error != NULL && compile_error->expression >= 0 ? ids[compile_error->expression] : (size_t)-1;
        compile_failed(set, detector, builtin_len, bad_custom, compile_error, err);
        goto done;
    }
    rc = 0;
done:
    free(expressions);
    free(flags);
    free(ids);
    return rc;
}

/* The database of one detector's expression alone (steps 2 and 3), and the width of its matches. */
static int compile_start(mg_guard_detectors_t *set, size_t detector, size_t builtin_len, size_t *bad_custom,
                         mg_error_t *err)
{
    const mg_guard_detector_def_t *def = &set->defs[detector];
    hs_compile_error_t *compile_error = NULL;
    hs_expr_info_t *info = NULL;
    if (hs_expression_info(def->pattern, def->hs_flags, &info, &compile_error) != HS_SUCCESS)
        return compile_failed(set, detector, builtin_len, bad_custom, compile_error, err);
    set->widths[detector] = info->max_width;
    set->fixed[detector] = info->min_width == info->max_width && info->max_width != UINT32_MAX;
    free(info); /* vectorscan allocates it with the default allocator, malloc */
    set->region_kinds[def->region] |= def->kinds;
    if (def->region == REGION_NONE && set->fixed[detector] && def->start == START_WIDTH)
        return 0; /* on_end knows the start */
    set->leftmost[detector] = def->region == REGION_NONE || (!set->fixed[detector] && def->start == START_WIDTH);
    unsigned flags = def->hs_flags | (set->leftmost[detector] ? HS_FLAG_SOM_LEFTMOST : 0), id = (unsigned)detector;
    if (hs_compile_multi(&def->pattern, &flags, &id, 1, HS_MODE_BLOCK, NULL, &set->starts[detector], &compile_error) !=
        HS_SUCCESS)
        return compile_failed(set, detector, builtin_len, bad_custom, compile_error, err);
    return 0;
}

static int compile(mg_guard_detectors_t *set, size_t builtin_len, size_t *bad_custom, mg_error_t *err)
{
    if (compile_main(set, builtin_len, bad_custom, err) != 0)
        return -1;
    for (size_t d = 0; d < set->len; d++) {
        if (set->defs[d].pattern != NULL && compile_start(set, d, builtin_len, bad_custom, err) != 0)
            return -1;
    }
    return 0;
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
    set->starts = calloc(total, sizeof(*set->starts));
    set->widths = calloc(total, sizeof(*set->widths));
    set->fixed = calloc(total, sizeof(*set->fixed));
    set->leftmost = calloc(total, sizeof(*set->leftmost));
    if (set->defs == NULL || set->actions == NULL || set->owned == NULL || set->starts == NULL || set->widths == NULL ||
        set->fixed == NULL || set->leftmost == NULL) {
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
    for (size_t d = 0; set->starts != NULL && d < set->len; d++)
        hs_free_database(set->starts[d]);
    free(set->leftmost);
    free(set->starts);
    free(set->widths);
    free(set->fixed);
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
    (*out)->windows = malloc(MAX_CANDIDATES * sizeof(*(*out)->windows));
    if ((*out)->candidates == NULL || (*out)->windows == NULL) {
        free((*out)->candidates);
        free((*out)->windows);
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
    free(scratch->windows);
    free(scratch->kept_order);
    free(scratch->stretches.ranges);
    free(scratch->stretches.bytes);
    free(scratch->stretches.at);
    free(scratch->stretches.from);
    free(scratch->accepted);
    free(scratch->last);
    free(scratch->last_window);
    free(scratch);
}

int mg_guard_scratch_fit(mg_guard_scratch_t *scratch, const mg_guard_detectors_t *set, mg_error_t *err)
{
    if (scratch->generation != set->generation) {
        bool fitted = set->database == NULL || hs_alloc_scratch(set->database, &scratch->hs) == HS_SUCCESS;
        for (size_t d = 0; fitted && d < set->len; d++)
            fitted = set->starts[d] == NULL || hs_alloc_scratch(set->starts[d], &scratch->hs) == HS_SUCCESS;

        if (!fitted)
            return mg_error_set(err, "cannot allocate vectorscan scratch space");
        scratch->generation = set->generation;
    }
    if (scratch->last_capacity < set->len) {
        uint32_t *last = realloc(scratch->last, set->len * sizeof(*last));
        if (last == NULL)
            return mg_error_set(err, "out of memory");
        scratch->last = last;
        uint32_t *last_window = realloc(scratch->last_window, set->len * sizeof(*last_window));
        if (last_window == NULL)
            return mg_error_set(err, "out of memory");
        scratch->last_window = last_window;
        scratch->last_capacity = set->len;
    }
    return 0;
}
