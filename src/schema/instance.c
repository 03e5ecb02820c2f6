/*
 * instance.c - the keywords that look at one type of value: an object's members, an array's items,
 * a string's length, pattern and format, a number's bounds.
 *
 * An object is walked once, member by member: each member is looked up in `properties` (a small
 * open-addressing table built at compile time), matched against patternProperties, and otherwise
 * given to additionalProperties. `required` members that `properties` also declares are counted on that walk,
 * so that a complete object costs no lookups for them; only a missing one (or a required name that
 * `properties` does not declare) is looked up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

#define UNIQUE_PAIRWISE_MAX 32

static inline bool keep_going(const mg_schema_eval_t *e)
{
    return e->collect && !e->stopped;
}

/* ---- objects ---- */

static const mg_schema_property_t *find_property(const mg_schema_node_t *node, const char *key, size_t len)
{
    uint32_t mask = node->property_mask;
    for (uint32_t slot = mg_schema_property_hash(key, len) & mask;; slot = (slot + 1) & mask) {
        uint32_t index = node->property_slots[slot];
        if (index == 0)
            return NULL;
        const mg_schema_property_t *p = &node->properties[index - 1];
        if (p->len == len && memcmp(p->name, key, len) == 0)
            return p;
    }
}

/* A member's value against the subschema `child` of `keyword`. */
static bool eval_member(mg_schema_eval_t *e, const mg_schema_node_t *child, const char *keyword, const char *key,
                        size_t len, const json_t *value)
{
    if (child->kind == NODE_FALSE)
        return mg_schema_report_member(e, key, len, child, keyword, NULL,
                                       strcmp(keyword, "additionalProperties") == 0
                                           ? "property %s is not allowed (not declared by the schema)"
                                           : "property %s is not allowed");
    return mg_schema_eval_child(e, child, value, key, len);
}

/* The name again, collecting, to quote the reason; then one violation in its place. */
MG_SCHEMA_COLD static void property_name_violation(mg_schema_eval_t *e, const mg_schema_node_t *names, const char *key,
                                                   size_t len, const json_t *name)
{
    mg_schema_result_t *result = e->result;
    size_t checkpoint = result->count;
    bool truncated = result->truncated;
    mg_schema_eval_node(e, names, name, NULL);
    char reason[200] = "";
    if (result->count > checkpoint)
        memcpy(reason, result->violations[checkpoint].message, sizeof(reason) - 1);
    result->count = checkpoint;
    result->truncated = truncated;
    e->collect = true;
    char quoted[96];
    mg_schema_report(e, names, "propertyNames", NULL, "property name %s is not valid%s%s",
                     mg_schema_quote_string(key, len, quoted, sizeof(quoted)), reason[0] != '\0' ? ": " : "", reason);
}

static bool property_name(mg_schema_eval_t *e, const mg_schema_node_t *node, const char *key, size_t len)
{
    const mg_schema_node_t *names = node->property_names;
    if (names->kind == NODE_TRUE)
        return true;
    json_t *name = json_stringn_nocheck(key, len);
    if (name == NULL)
        return mg_schema_stop(e, node, "memory", "out of memory");
    bool collect = e->collect;
    e->collect = false;
    bool ok = mg_schema_eval_node(e, names, name, NULL);
    e->collect = collect;
    if (!ok && keep_going(e))
        property_name_violation(e, names, key, len, name);
    json_decref(name);
    return ok;
}

MG_SCHEMA_COLD static bool missing_required(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object)
{
    for (size_t i = 0; i < node->required_len && keep_going(e); i++) {
        const mg_schema_name_t *name = &node->required[i];
        if (json_object_getn(object, name->name, name->len) == NULL) {
            char quoted[96];
            mg_schema_report(e, node, "required", "required", "missing required property %s",
                             mg_schema_quote_string(name->name, name->len, quoted, sizeof(quoted)));
        }
    }
    return false;
}

static bool check_required(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object,
                           size_t required_seen)
{
    bool complete = required_seen == node->required_in_properties;
    for (size_t i = 0; complete && i < node->required_other_len; i++)
        complete = json_object_getn(object, node->required_other[i].name, node->required_other[i].len) != NULL;
    return complete || missing_required(e, node, object);
}

MG_SCHEMA_COLD static void dependent_violation(mg_schema_eval_t *e, const mg_schema_node_t *node,
                                               const mg_schema_dependent_t *d, const mg_schema_name_t *missing)
{
    char quoted[96], trigger[96], location[160];
    snprintf(location, sizeof(location), "%s/", d->keyword);
    mg_schema_pointer_escape(location, sizeof(location), d->trigger.name, d->trigger.len);
    mg_schema_report(e, node, d->keyword, location, "property %s is required when %s is present",
                     mg_schema_quote_string(missing->name, missing->len, quoted, sizeof(quoted)),
                     mg_schema_quote_string(d->trigger.name, d->trigger.len, trigger, sizeof(trigger)));
}

static bool check_dependents(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object,
                             mg_schema_marks_t *marks)
{
    bool ok = true;
    for (size_t i = 0; i < node->dependents_len; i++) {
        const mg_schema_dependent_t *d = &node->dependents[i];
        if (json_object_getn(object, d->trigger.name, d->trigger.len) == NULL)
            continue;
        for (size_t j = 0; j < d->required_len; j++) {
            if (json_object_getn(object, d->required[j].name, d->required[j].len) != NULL)
                continue;
            ok = false;
            if (!e->collect)
                return false;
            dependent_violation(e, node, d, &d->required[j]);
        }
        if (d->node != NULL && !mg_schema_eval_node(e, d->node, object, marks)) {
            ok = false;
            if (!keep_going(e))
                return false;
        }
    }
    return ok;
}

MG_SCHEMA_COLD static bool pattern_cost_violation(mg_schema_eval_t *e, const mg_schema_node_t *node, const char *key,
                                                  size_t len, const mg_schema_regex_t *regex)
{
    char quoted[96], source[96];
    return mg_schema_report_at(e, key, len, node, "patternProperties", "patternProperties",
                               "property name %s could not be matched against the pattern %s: it needs too much work",
                               mg_schema_quote_string(key, len, quoted, sizeof(quoted)),
                               mg_schema_quote_string(regex->source, strlen(regex->source), source, sizeof(source)));
}

/* properties, patternProperties, additionalProperties and propertyNames, one walk over the members */
static bool eval_members(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object,
                         mg_schema_marks_t *marks, size_t *required_seen)
{
    uint64_t keywords = node->keywords;
    bool ok = true;
    size_t index = 0;
    for (void *it = json_object_iter((json_t *)object); it != NULL;
         it = json_object_iter_next((json_t *)object, it), index++) {
        const char *key = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it);
        const json_t *value = json_object_iter_value(it);
        bool evaluated = false, passed = true;
        if (keywords & KW_PROPERTIES) {
            const mg_schema_property_t *property = find_property(node, key, len);
            if (property != NULL) {
                evaluated = true;
                *required_seen += property->required;
                passed = eval_member(e, property->node, "properties", key, len, value);
            }
        }
        for (size_t i = 0; i < node->pattern_properties_len && (passed || keep_going(e)); i++) {
            const mg_schema_pattern_property_t *pattern = &node->pattern_properties[i];
            int match = mg_schema_regex_match(e->schema, &pattern->regex, key, len);
            if (match < 0)
                passed = pattern_cost_violation(e, node, key, len, &pattern->regex);
            else if (match > 0) {
                evaluated = true;
                passed &= eval_member(e, pattern->node, "patternProperties", key, len, value);
            }
        }
        if (!evaluated && (keywords & KW_ADDITIONAL_PROPERTIES) && (passed || keep_going(e))) {
            evaluated = true;
            passed &= eval_member(e, node->additional_properties, "additionalProperties", key, len, value);
        }
        if ((keywords & KW_PROPERTY_NAMES) && (passed || keep_going(e)))
            passed &= property_name(e, node, key, len);
        if (marks != NULL && evaluated)
            mg_schema_marks_set(marks, index);
        if (!passed) {
            ok = false;
            if (!keep_going(e))
                return false;
        }
    }
    return ok;
}

bool mg_schema_eval_object(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object,
                           mg_schema_marks_t *marks)
{
    uint64_t keywords = node->keywords;
    bool ok = true;
    size_t size = json_object_size(object);
    if ((keywords & KW_MAX_PROPERTIES) && size > node->max_properties) {
        ok = mg_schema_report(e, node, "maxProperties", "maxProperties", "must have at most %zu properties (has %zu)",
                              node->max_properties, size);
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_MIN_PROPERTIES) && size < node->min_properties) {
        ok = mg_schema_report(e, node, "minProperties", "minProperties", "must have at least %zu %s (has %zu)",
                              node->min_properties, node->min_properties == 1 ? "property" : "properties", size);
        if (!keep_going(e))
            return false;
    }
    size_t required_seen = 0;
    if ((keywords & KW_MEMBERS_MASK) && !eval_members(e, node, object, marks, &required_seen)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_REQUIRED) && !check_required(e, node, object, required_seen)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_DEPENDENTS) && !check_dependents(e, node, object, marks))
        ok = false;
    return ok;
}

/* ---- arrays ---- */

typedef struct st_hashed_item_t {
    uint64_t hash;
    size_t index;
} hashed_item_t;

static int compare_hashed(const void *a, const void *b)
{
    const hashed_item_t *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* 1 unique, 0 not (first, second set), -1 stopped */
static int unique_items(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *array, size_t *first,
                        size_t *second)
{
    size_t size = json_array_size(array), depth = e->depth_max - e->depth;
    if (size <= UNIQUE_PAIRWISE_MAX) {
        for (size_t i = 0; i < size; i++) {
            for (size_t j = i + 1; j < size; j++) {
                int equal = mg_schema_equal(json_array_get(array, i), json_array_get(array, j), depth);
                if (equal < 0)
                    goto too_deep;
                if (equal) {
                    *first = i, *second = j;
                    return 0;
                }
            }
        }
        return 1;
    }
    /* larger arrays: sort by a hash consistent with equality, compare within equal hashes */
    hashed_item_t *items = malloc(size * sizeof(*items));
    if (items == NULL) {
        mg_schema_stop(e, node, "memory", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < size; i++)
        items[i] = (hashed_item_t){mg_schema_value_hash(json_array_get(array, i), depth), i};
    qsort(items, size, sizeof(*items), compare_hashed);
    int unique = 1;
    for (size_t i = 0; i < size && unique == 1; i++) {
        for (size_t j = i + 1; j < size && items[j].hash == items[i].hash; j++) {
            int equal =
                mg_schema_equal(json_array_get(array, items[i].index), json_array_get(array, items[j].index), depth);
            if (equal < 0) {
                free(items);
                goto too_deep;
            }
            if (equal) {
                *first = items[i].index, *second = items[j].index;
                unique = 0;
                break;
            }
        }
    }
    free(items);
    return unique;
too_deep:
    mg_schema_stop(e, node, "depth", "the value nests more than %zu levels deep; deeper values are not validated",
                   e->depth_max);
    return -1;
}

static bool eval_contains(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *array,
                          mg_schema_marks_t *marks)
{
    size_t size = json_array_size(array), count = 0;
    bool collect = e->collect, all = marks != NULL || node->max_contains != SIZE_MAX;
    e->collect = false;
    for (size_t i = 0; i < size && !e->stopped; i++) {
        if (mg_schema_eval_child(e, node->contains, json_array_get(array, i), NULL, i)) {
            count++;
            if (marks != NULL)
                mg_schema_marks_set(marks, i);
            if (!all && count >= node->min_contains)
                break;
        }
    }
    e->collect = collect;
    if (count < node->min_contains)
        return mg_schema_report(e, node, "contains", node->min_contains != 1 ? "minContains" : "contains",
                                "must contain at least %zu %s matching the schema in contains (has %zu)",
                                node->min_contains, node->min_contains == 1 ? "item" : "items", count);
    if (count > node->max_contains)
        return mg_schema_report(e, node, "maxContains", "maxContains",
                                "must contain at most %zu %s matching the schema in contains (has %zu)",
                                node->max_contains, node->max_contains == 1 ? "item" : "items", count);
    return true;
}

bool mg_schema_eval_array(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *array,
                          mg_schema_marks_t *marks)
{
    uint64_t keywords = node->keywords;
    bool ok = true;
    size_t size = json_array_size(array);
    if ((keywords & KW_MAX_ITEMS) && size > node->max_items) {
        ok = mg_schema_report(e, node, "maxItems", "maxItems", "must have at most %zu items (has %zu)", node->max_items,
                              size);
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_MIN_ITEMS) && size < node->min_items) {
        ok = mg_schema_report(e, node, "minItems", "minItems", "must have at least %zu %s (has %zu)", node->min_items,
                              node->min_items == 1 ? "item" : "items", size);
        if (!keep_going(e))
            return false;
    }
    size_t prefix = node->prefix_items_len < size ? node->prefix_items_len : size;
    const char *prefix_keyword = node->draft == MG_SCHEMA_DRAFT_7 ? "items" : "prefixItems";
    for (size_t i = 0; i < prefix; i++) {
        const mg_schema_node_t *child = node->prefix_items[i];
        bool passed = child->kind == NODE_FALSE
                          ? mg_schema_report_at(e, NULL, i, child, prefix_keyword, NULL, "item %zu is not allowed", i)
                          : mg_schema_eval_child(e, child, json_array_get(array, i), NULL, i);
        if (marks != NULL)
            mg_schema_marks_set(marks, i);
        if (!passed) {
            ok = false;
            if (!keep_going(e))
                return false;
        }
    }
    if ((keywords & KW_ITEMS) && size > prefix) {
        const mg_schema_node_t *rest = node->items;
        if (rest->kind == NODE_FALSE) {
            ok = mg_schema_report(e, rest, node->items_keyword, NULL, "must have at most %zu %s (has %zu)", prefix,
                                  prefix == 1 ? "item" : "items", size);
            if (!keep_going(e))
                return false;
        } else {
            for (size_t i = prefix; i < size; i++) {
                if (!mg_schema_eval_child(e, rest, json_array_get(array, i), NULL, i)) {
                    ok = false;
                    if (!keep_going(e))
                        return false;
                }
            }
        }
        for (size_t i = prefix; marks != NULL && i < size; i++)
            mg_schema_marks_set(marks, i);
    }
    if ((keywords & KW_CONTAINS) && !eval_contains(e, node, array, marks)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if (keywords & KW_UNIQUE_ITEMS) {
        size_t first, second;
        int unique = unique_items(e, node, array, &first, &second);
        if (unique == 0)
            ok = mg_schema_report(e, node, "uniqueItems", "uniqueItems",
                                  "must not contain duplicates (items %zu and %zu are equal)", first, second);
        else if (unique < 0)
            ok = false;
    }
    return ok;
}

/* ---- strings and numbers ---- */

static const char *format_hint(mg_schema_format_t format)
{
    switch (format) {
    case FORMAT_DATE_TIME:
        return " (RFC 3339, like 2025-01-31T13:45:00Z)";
    case FORMAT_DATE:
        return " (like 2025-01-31)";
    case FORMAT_TIME:
        return " (like 13:45:00Z or 13:45:00+01:00)";
    case FORMAT_DURATION:
        return " (ISO 8601, like P3DT4H or PT30M)";
    case FORMAT_UUID:
        return " (like 123e4567-e89b-12d3-a456-426614174000)";
    case FORMAT_URI:
    case FORMAT_IRI:
        return " (an absolute URI with a scheme, like https://example.com/x)";
    default:
        return "";
    }
}

MG_SCHEMA_COLD static bool pattern_violation(mg_schema_eval_t *e, const mg_schema_node_t *node, int match)
{
    char source[120];
    mg_schema_quote_string(node->pattern.source, strlen(node->pattern.source), source, sizeof(source));
    if (match == 0)
        return mg_schema_report(e, node, "pattern", "pattern", "must match the pattern %s", source);
    return mg_schema_report(e, node, "pattern", "pattern",
                            "could not be checked against the pattern %s: it needs too much work", source);
}

bool mg_schema_eval_string(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *string)
{
    uint64_t keywords = node->keywords;
    const char *s = json_string_value(string);
    size_t len = json_string_length(string);
    bool ok = true;
    /* a string of n bytes has between n/4 and n code points: count only when that does not decide */
    if ((keywords & KW_MAX_LENGTH) && len > node->max_length) {
        size_t length = mg_schema_utf8_length(s, len);
        if (length > node->max_length) {
            ok = mg_schema_report(e, node, "maxLength", "maxLength", "must be at most %zu %s long (is %zu)",
                                  node->max_length, node->max_length == 1 ? "character" : "characters", length);
            if (!keep_going(e))
                return false;
        }
    }
    if ((keywords & KW_MIN_LENGTH) && len / 4 < node->min_length) {
        size_t length = mg_schema_utf8_length(s, len);
        if (length < node->min_length) {
            ok = mg_schema_report(e, node, "minLength", "minLength", "must be at least %zu %s long (is %zu)",
                                  node->min_length, node->min_length == 1 ? "character" : "characters", length);
            if (!keep_going(e))
                return false;
        }
    }
    if (keywords & KW_PATTERN) {
        int match = mg_schema_regex_match(e->schema, &node->pattern, s, len);
        if (match <= 0) {
            ok = pattern_violation(e, node, match);
            if (!keep_going(e))
                return false;
        }
    }
    if ((keywords & KW_FORMAT) && !mg_schema_format_check(node->format, s, len))
        ok = mg_schema_report(e, node, "format", "format", "must be a valid %s%s", mg_schema_format_name(node->format),
                              format_hint(node->format));
    return ok;
}

bool mg_schema_eval_number(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *value)
{
    static const struct {
        uint64_t bit;
        const char *keyword;
        const char *words;
        int fails_when; /* the comparison of value with the limit that fails */
    } limits[] = {
        {KW_MAXIMUM, "maximum", "at most", 1},
        {KW_EXCLUSIVE_MAXIMUM, "exclusiveMaximum", "less than", 0},
        {KW_MINIMUM, "minimum", "at least", -1},
        {KW_EXCLUSIVE_MINIMUM, "exclusiveMinimum", "greater than", 2},
    };
    const mg_schema_number_t *bounds[] = {&node->maximum, &node->exclusive_maximum, &node->minimum,
                                          &node->exclusive_minimum};
    uint64_t keywords = node->keywords;
    mg_schema_number_t number;
    mg_schema_number_of(value, &number);
    bool ok = true;
    for (size_t i = 0; i < 4; i++) {
        if (!(keywords & limits[i].bit))
            continue;
        int order = mg_schema_number_compare(&number, bounds[i]);
        bool fails = limits[i].fails_when == 1    ? order > 0
                     : limits[i].fails_when == 0  ? order >= 0
                     : limits[i].fails_when == -1 ? order < 0
                                                  : order <= 0;
        if (fails) {
            char limit[40], is[40];
            ok = mg_schema_report(e, node, limits[i].keyword, limits[i].keyword, "must be %s %s (is %s)",
                                  limits[i].words, mg_schema_number_text(bounds[i], limit, sizeof(limit)),
                                  mg_schema_number_text(&number, is, sizeof(is)));
            if (!keep_going(e))
                return false;
        }
    }
    if ((keywords & KW_MULTIPLE_OF) &&
        !mg_schema_multiple_of(&number, &node->multiple_of, &node->multiple_of_decimal)) {
        char divisor[40], is[40];
        ok = mg_schema_report(e, node, "multipleOf", "multipleOf", "must be a multiple of %s (is %s)",
                              mg_schema_number_text(&node->multiple_of, divisor, sizeof(divisor)),
                              mg_schema_number_text(&number, is, sizeof(is)));
    }
    return ok;
}
