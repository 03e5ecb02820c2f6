/*
 * validate.c - evaluation: a node applied to a value, its in-place applicators, and what
 * unevaluatedProperties / unevaluatedItems and strict mode need.
 *
 * The fast path is the point. With no result asked for, evaluation stops at the first failure. A
 * node tests only the keyword groups its bit mask and the value's type call for. Nothing is
 * formatted until a violation is recorded, and the instance path is a stack of segments, written out
 * only then. Branches whose details would be thrown away (the first pass over anyOf / oneOf, if,
 * not, contains, propertyNames) run quietly; anyOf and oneOf run their branches again, collecting,
 * only once the keyword has failed.
 *
 * Annotations ("which members / items were evaluated") are tracked only under a node that has
 * unevaluated* or where strict mode applies: such a node evaluates with a bit set over the value's
 * members or items, each keyword that evaluates one marks it, in-place subschemas mark the same set
 * (through a copy that is merged only if the subschema passes, where failing is allowed: anyOf,
 * oneOf, if, contains), and what is left unmarked is what unevaluated* applies to. Annotations of a
 * failing keyword inside a node are kept: the node fails anyway, and "x is not allowed" for a member
 * that merely has a wrong value would mislead whoever reads the violations.
 *
 * Bounds: instance depth (options->max_instance_depth), the nesting of evaluation itself (eight
 * subschemas per instance level on average: a reference cycle that never moves into the instance,
 * like {"$ref": "#"}, ends there), and the total number of subschema applications
 * (options->max_steps: nested anyOf over refs can otherwise be exponential). Hitting one stops
 * evaluation with "invalid", whatever branch it happened in.
 *
 * Stack: a few hundred bytes per nesting level, so at most some hundreds of KiB at the limits.
 */
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

static inline bool keep_going(const mg_schema_eval_t *e)
{
    return e->collect && !e->stopped;
}

bool mg_schema_marks_init(mg_schema_marks_t *marks, size_t count)
{
    marks->words = (count + 63) / 64;
    if (marks->words <= sizeof(marks->local) / sizeof(marks->local[0])) {
        marks->bits = marks->local;
        memset(marks->local, 0, sizeof(marks->local));
        return true;
    }
    marks->bits = calloc(marks->words, sizeof(uint64_t));
    return marks->bits != NULL;
}

void mg_schema_marks_dispose(mg_schema_marks_t *marks)
{
    if (marks->bits != marks->local)
        free(marks->bits);
}

void mg_schema_marks_merge(mg_schema_marks_t *into, const mg_schema_marks_t *from)
{
    for (size_t i = 0; i < into->words && i < from->words; i++)
        into->bits[i] |= from->bits[i];
}

static size_t member_count(const json_t *instance)
{
    return json_is_object(instance)  ? json_object_size(instance)
           : json_is_array(instance) ? json_array_size(instance)
                                     : 0;
}

static uint8_t instance_types(const json_t *instance)
{
    switch (json_typeof(instance)) {
    case JSON_OBJECT:
        return TYPE_OBJECT;
    case JSON_ARRAY:
        return TYPE_ARRAY;
    case JSON_STRING:
        return TYPE_STRING;
    case JSON_INTEGER:
        return TYPE_INTEGER | TYPE_NUMBER;
    case JSON_REAL:
        return mg_schema_is_integral(instance) ? TYPE_INTEGER | TYPE_NUMBER : TYPE_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return TYPE_BOOLEAN;
    case JSON_NULL:
        return TYPE_NULL;
    }
    return 0;
}

MG_SCHEMA_COLD static bool type_violation(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    char expected[96] = "";
    size_t count = 0, total = (size_t)__builtin_popcount(node->types);
    for (size_t bit = 0; bit < 7; bit++) {
        if (!(node->types & (1u << bit)))
            continue;
        count++;
        strcat(expected, count == 1 ? "" : count == total ? " or " : ", ");
        strcat(expected, names[bit]);
    }
    return mg_schema_report(e, node, "type", "type", "must be %s%s (is %s)", total > 1 ? "one of " : "", expected,
                            mg_schema_type_name(instance));
}

static bool enum_violation(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance);

static bool check_enum(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance)
{
    size_t size = json_array_size(node->enum_values);
    if (node->enum_strings) {
        if (json_is_string(instance)) {
            const char *s = json_string_value(instance);
            size_t len = json_string_length(instance);
            for (size_t i = 0; i < size; i++) {
                const json_t *value = json_array_get(node->enum_values, i);
                if (json_string_length(value) == len && memcmp(json_string_value(value), s, len) == 0)
                    return true;
            }
        }
    } else {
        for (size_t i = 0; i < size; i++)
            if (mg_schema_equal(instance, json_array_get(node->enum_values, i),
                                e->schema->options.max_instance_depth + 1) == 1)
                return true;
    }
    return e->collect ? enum_violation(e, node, instance) : false;
}

MG_SCHEMA_COLD static bool enum_violation(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance)
{
    size_t size = json_array_size(node->enum_values);
    char list[160] = "", quoted[64], is[72];
    for (size_t i = 0; i < size; i++) {
        mg_schema_quote(json_array_get(node->enum_values, i), quoted, sizeof(quoted));
        if (strlen(list) + strlen(quoted) + 2 >= sizeof(list) - 24) {
            snprintf(list + strlen(list), sizeof(list) - strlen(list), ", ... (%zu values)", size);
            break;
        }
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i > 0 ? ", " : "", quoted);
    }
    return mg_schema_report(e, node, "enum", "enum", "must be one of %s (is %s)", list,
                            mg_schema_quote(instance, is, sizeof(is)));
}

MG_SCHEMA_COLD static bool const_violation(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance)
{
    char expected[96], is[72];
    return mg_schema_report(e, node, "const", "const", "must be %s (is %s)",
                            mg_schema_quote(node->const_value, expected, sizeof(expected)),
                            mg_schema_quote(instance, is, sizeof(is)));
}

static bool check_const(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance)
{
    if (mg_schema_equal(instance, node->const_value, e->schema->options.max_instance_depth + 1) == 1)
        return true;
    return e->collect ? const_violation(e, node, instance) : false;
}

static const mg_schema_node_t *dynamic_target(const mg_schema_eval_t *e, const mg_schema_node_t *node)
{
    const mg_schema_node_t *target = node->dynamic_ref;
    if (node->dynamic_ref_anchor == NULL)
        return target;
    /* the outermost resource of the dynamic scope with a $dynamicAnchor of that name */
    for (const mg_schema_scope_t *scope = e->scope; scope != NULL; scope = scope->outer) {
        const mg_schema_node_t *resource = scope->resource;
        for (size_t i = 0; i < resource->dynamic_anchors_len; i++)
            if (strcmp(resource->dynamic_anchors[i].name, node->dynamic_ref_anchor) == 0)
                target = resource->dynamic_anchors[i].node;
    }
    return target;
}

/* Evaluates `branch` quietly; with marks, into a copy merged only when it passes. */
static bool quiet_branch(mg_schema_eval_t *e, const mg_schema_node_t *branch, const json_t *instance,
                         mg_schema_marks_t *marks)
{
    bool collect = e->collect;
    e->collect = false;
    bool ok;
    if (marks == NULL)
        ok = mg_schema_eval_node(e, branch, instance, NULL);
    else {
        mg_schema_marks_t copy;
        if (!mg_schema_marks_init(&copy, member_count(instance))) {
            e->collect = collect;
            return mg_schema_stop(e, branch, "memory", "out of memory");
        }
        ok = mg_schema_eval_node(e, branch, instance, &copy);
        if (ok)
            mg_schema_marks_merge(marks, &copy);
        mg_schema_marks_dispose(&copy);
    }
    e->collect = collect;
    return ok;
}

static bool any_of(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance, mg_schema_marks_t *marks)
{
    bool any = false;
    for (size_t i = 0; i < node->any_of_len && !e->stopped; i++) {
        if (quiet_branch(e, node->any_of[i], instance, marks)) {
            any = true;
            if (marks == NULL)
                break; /* annotations need every passing branch; the answer needs one */
        }
    }
    if (any || !keep_going(e))
        return any;
    mg_schema_report(e, node, "anyOf", "anyOf", "must match at least one of the %zu schemas in anyOf (matches none)",
                     node->any_of_len);
    for (size_t i = 0; i < node->any_of_len && keep_going(e); i++)
        mg_schema_eval_node(e, node->any_of[i], instance, NULL);
    return false;
}

static bool one_of(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance, mg_schema_marks_t *marks)
{
    size_t passing = 0, first = 0, second = 0;
    for (size_t i = 0; i < node->one_of_len && !e->stopped && passing < 2; i++) {
        if (quiet_branch(e, node->one_of[i], instance, NULL)) {
            if (passing++ == 0)
                first = i;
            else
                second = i;
        }
    }
    if (passing == 1) {
        if (marks != NULL)
            quiet_branch(e, node->one_of[first], instance, marks); /* again, for its annotations */
        return true;
    }
    if (!keep_going(e))
        return false;
    if (passing > 1)
        return mg_schema_report(e, node, "oneOf", "oneOf",
                                "must match exactly one of the %zu schemas in oneOf (matches #%zu and #%zu)",
                                node->one_of_len, first, second);
    mg_schema_report(e, node, "oneOf", "oneOf", "must match exactly one of the %zu schemas in oneOf (matches none)",
                     node->one_of_len);
    for (size_t i = 0; i < node->one_of_len && keep_going(e); i++)
        mg_schema_eval_node(e, node->one_of[i], instance, NULL);
    return false;
}

static bool applicators(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance,
                        mg_schema_marks_t *marks)
{
    uint64_t keywords = node->keywords;
    bool ok = true;
    if (keywords & KW_ALL_OF) {
        for (size_t i = 0; i < node->all_of_len; i++) {
            if (!mg_schema_eval_node(e, node->all_of[i], instance, marks)) {
                ok = false;
                if (!keep_going(e))
                    return false;
            }
        }
    }
    if ((keywords & KW_ANY_OF) && !any_of(e, node, instance, marks)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_ONE_OF) && !one_of(e, node, instance, marks)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_NOT) && quiet_branch(e, node->not_schema, instance, NULL)) {
        ok = mg_schema_report(e, node, "not", "not", "must not match the schema in not");
        if (!keep_going(e))
            return false;
    }
    if (keywords & KW_IF) {
        const mg_schema_node_t *next =
            quiet_branch(e, node->if_schema, instance, marks) ? node->then_schema : node->else_schema;
        if (next != NULL && !mg_schema_eval_node(e, next, instance, marks))
            ok = false;
    }
    return ok;
}

static bool eval_keywords(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance,
                          mg_schema_marks_t *marks)
{
    uint64_t keywords = node->keywords;
    bool ok = true;
    if ((keywords & KW_REF) && !mg_schema_eval_node(e, node->ref, instance, marks)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_DYNAMIC_REF) && !mg_schema_eval_node(e, dynamic_target(e, node), instance, marks)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_TYPE) && !(node->types & instance_types(instance))) {
        ok = type_violation(e, node, instance);
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_ENUM) && !check_enum(e, node, instance)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & KW_CONST) && !check_const(e, node, instance)) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    bool typed = true;
    switch (json_typeof(instance)) {
    case JSON_OBJECT:
        typed = !(keywords & KW_OBJECT_MASK) || mg_schema_eval_object(e, node, instance, marks);
        break;
    case JSON_ARRAY:
        typed = !(keywords & KW_ARRAY_MASK) || mg_schema_eval_array(e, node, instance, marks);
        break;
    case JSON_STRING:
        typed = !(keywords & KW_STRING_MASK) || mg_schema_eval_string(e, node, instance);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        typed = !(keywords & KW_NUMBER_MASK) || mg_schema_eval_number(e, node, instance);
        break;
    default:
        break;
    }
    if (!typed) {
        ok = false;
        if (!keep_going(e))
            return false;
    }
    if ((keywords & (KW_ALL_OF | KW_ANY_OF | KW_ONE_OF | KW_NOT | KW_IF)) && !applicators(e, node, instance, marks))
        ok = false;
    return ok;
}

/* The members (or items) no keyword evaluated, against unevaluatedProperties (unevaluatedItems). */
static bool eval_unevaluated(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance,
                             mg_schema_marks_t *evaluated)
{
    bool ok = true;
    if (json_is_object(instance)) {
        const mg_schema_node_t *rest = node->unevaluated_properties;
        size_t index = 0;
        for (void *it = json_object_iter((json_t *)instance); it != NULL;
             it = json_object_iter_next((json_t *)instance, it), index++) {
            if (mg_schema_marks_test(evaluated, index))
                continue;
            const char *key = json_object_iter_key(it);
            size_t len = json_object_iter_key_len(it);
            bool passed =
                rest->kind == NODE_FALSE
                    ? mg_schema_report_member(e, key, len, rest, "unevaluatedProperties", NULL,
                                              "property %s is not allowed: no keyword of the schema accepts it")
                    : mg_schema_eval_child(e, rest, json_object_iter_value(it), key, len);
            mg_schema_marks_set(evaluated, index);
            if (!passed) {
                ok = false;
                if (!keep_going(e))
                    return false;
            }
        }
    } else {
        const mg_schema_node_t *rest = node->unevaluated_items;
        for (size_t i = 0; i < json_array_size(instance); i++) {
            if (mg_schema_marks_test(evaluated, i))
                continue;
            bool passed = rest->kind == NODE_FALSE
                              ? mg_schema_report_at(e, NULL, i, rest, "unevaluatedItems", NULL,
                                                    "item %zu is not allowed: no keyword of the schema accepts it", i)
                              : mg_schema_eval_child(e, rest, json_array_get(instance, i), NULL, i);
            mg_schema_marks_set(evaluated, i);
            if (!passed) {
                ok = false;
                if (!keep_going(e))
                    return false;
            }
        }
    }
    return ok;
}

MG_SCHEMA_COLD static bool eval_tracked(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance,
                                        mg_schema_marks_t *marks)
{
    mg_schema_marks_t evaluated;
    if (!mg_schema_marks_init(&evaluated, member_count(instance)))
        return mg_schema_stop(e, node, "memory", "out of memory");
    bool ok = eval_keywords(e, node, instance, &evaluated);
    if ((ok || keep_going(e)) && !eval_unevaluated(e, node, instance, &evaluated))
        ok = false;
    if (marks != NULL)
        mg_schema_marks_merge(marks, &evaluated);
    mg_schema_marks_dispose(&evaluated);
    return ok;
}

bool mg_schema_eval_node(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance,
                         mg_schema_marks_t *marks)
{
    if (node->kind == NODE_TRUE)
        return true;
    if (node->kind == NODE_FALSE)
        return mg_schema_report(e, node, "false", NULL, "no value is allowed here (the schema is false)");
    if (e->stopped)
        return false;
    if (++e->steps > e->steps_max)
        return mg_schema_stop(
            e, node, "steps",
            "validation stopped after %zu steps: the schema is too costly to check against this value", e->steps_max);
    if (e->eval_depth >= e->eval_depth_max)
        return mg_schema_stop(e, node, "depth",
                              "subschemas nest more than %zu levels here (a reference cycle that never moves into "
                              "the value?)",
                              e->eval_depth_max);
    e->eval_depth++;
    mg_schema_scope_t scope;
    bool entered = e->dynamic && (e->scope == NULL || e->scope->resource != node->resource);
    if (entered) {
        scope = (mg_schema_scope_t){node->resource, e->scope};
        e->scope = &scope;
    }
    uint64_t keywords = node->keywords;
    bool ok;
    if (((keywords & KW_UNEVALUATED_PROPERTIES) && json_is_object(instance)) ||
        ((keywords & KW_UNEVALUATED_ITEMS) && json_is_array(instance)))
        ok = eval_tracked(e, node, instance, marks);
    else
        ok = keywords == 0 || eval_keywords(e, node, instance, marks);
    if (entered)
        e->scope = scope.outer;
    e->eval_depth--;
    return ok;
}

/* Strict mode at an object: the members no keyword evaluated are not declared by the schema. */
MG_SCHEMA_COLD static bool eval_strict(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object)
{
    mg_schema_marks_t evaluated;
    if (!mg_schema_marks_init(&evaluated, json_object_size(object)))
        return mg_schema_stop(e, node, "memory", "out of memory");
    bool ok = mg_schema_eval_node(e, node, object, &evaluated);
    size_t index = 0;
    for (void *it = json_object_iter((json_t *)object); it != NULL && (ok || keep_going(e));
         it = json_object_iter_next((json_t *)object, it), index++) {
        if (mg_schema_marks_test(&evaluated, index))
            continue;
        ok = mg_schema_report_member(e, json_object_iter_key(it), json_object_iter_key_len(it), node,
                                     "additionalProperties", NULL,
                                     "property %s is not declared by the schema (strict mode)");
    }
    mg_schema_marks_dispose(&evaluated);
    return ok;
}

static inline bool eval_entry(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance)
{
    if (node->strict && json_is_object(instance))
        return eval_strict(e, node, instance);
    return mg_schema_eval_node(e, node, instance, NULL);
}

bool mg_schema_eval_child(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance, const char *key,
                          size_t len_or_index)
{
    if (node->kind == NODE_TRUE)
        return true;
    if (e->depth >= e->depth_max)
        return mg_schema_stop(e, node, "depth",
                              "the value nests more than %zu levels deep; deeper values are not validated",
                              e->depth_max);
    e->segments[e->depth++] = (mg_schema_segment_t){key, len_or_index};
    bool ok = eval_entry(e, node, instance);
    e->depth--;
    return ok;
}

bool mg_schema_validate(const mg_schema_t *schema, const mg_schema_node_t *node, const json_t *instance,
                        mg_schema_result_t *result)
{
    mg_schema_eval_t e;
    e.schema = schema;
    e.result = result;
    e.collect = result != NULL;
    e.stopped = false;
    e.dynamic = schema->dynamic;
    e.steps = 0;
    e.steps_max = schema->options.max_steps;
    e.eval_depth = 0;
    e.depth_max = schema->options.max_instance_depth;
    e.eval_depth_max = 8 * e.depth_max + 64;
    e.scope = NULL;
    e.depth = 0;
    if (result != NULL) {
        result->count = 0;
        result->truncated = false;
    }
    if (node == NULL)
        node = schema->root;
    if (instance == NULL)
        return mg_schema_report(&e, node, "type", NULL, "no value");
    bool ok = eval_entry(&e, node, instance);
    if (e.stopped) {
        ok = false;
        if (result != NULL) {
            if (result->count < MG_SCHEMA_VIOLATIONS_MAX)
                result->count++;
            else
                result->truncated = true;
            result->violations[result->count - 1] = e.stop;
        }
    }
    return ok;
}
