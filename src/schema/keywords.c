/*
 * keywords.c - each keyword of an object schema read into its node, with its value checked: a
 * keyword of the wrong shape ("maxLength": -1, "type": "strin", "required": "a") fails compilation
 * rather than being ignored, because a schema that silently checks less than its author meant is
 * the failure a gateway must not have. Unknown keywords are annotations and ignored.
 *
 * Draft-07 reads `items` in both forms (a schema, or an array followed by `additionalItems`) into
 * the same prefix-plus-rest shape as 2020-12's prefixItems / items, and `dependencies` into the same
 * list as dependentRequired / dependentSchemas. Beside its `$ref`, draft-07 ignores every keyword
 * (section 8.3 of draft-07's core); `definitions` is still compiled, so that pointers into it work.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

static int invalid(mg_schema_compiler_t *c, const mg_schema_node_t *node, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int invalid(mg_schema_compiler_t *c, const mg_schema_node_t *node, const char *keyword, const char *fmt, ...)
{
    char detail[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    mg_error_set(c->err, "invalid schema at %s/%s: %s", node->path, keyword, detail);
    return MG_SCHEMA_ERR_INVALID;
}

static int check_fanout(mg_schema_compiler_t *c, const mg_schema_node_t *node, const char *keyword, size_t count)
{
    if (count <= c->options->max_fanout)
        return 0;
    mg_error_set(c->err, "schema too wide at %s/%s: %zu members, more than %zu (max_fanout)", node->path, keyword,
                 count, c->options->max_fanout);
    return MG_SCHEMA_ERR_LIMIT;
}

static int get_count(mg_schema_compiler_t *c, const mg_schema_node_t *node, const json_t *object, const char *keyword,
                     size_t *out)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *out = (size_t)json_integer_value(value);
        return 1;
    }
    /* 2.0 is an integer too (the suite has "maxLength": 2.0) */
    if (json_is_real(value) && json_real_value(value) >= 0 && mg_schema_is_integral(value)) {
        double real = json_real_value(value);
        *out = real >= 1.8e19 ? SIZE_MAX : (size_t)real;
        return 1;
    }
    return invalid(c, node, keyword, "must be a non-negative integer");
}

static int get_number(mg_schema_compiler_t *c, const mg_schema_node_t *node, const json_t *object, const char *keyword,
                      mg_schema_number_t *out)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    if (!json_is_number(value))
        return invalid(c, node, keyword, "must be a number");
    mg_schema_number_of(value, out);
    return 1;
}

static int compile_member(mg_schema_compiler_t *c, const mg_schema_site_t *site, const char *keyword, const char *key,
                          size_t key_len, const json_t *value, mg_schema_node_t **out)
{
    size_t old = mg_schema_path_push(c, keyword, strlen(keyword));
    if (old == SIZE_MAX)
        return mg_schema_compile_nomem(c);
    int rc = mg_schema_compile_child(c, value, site, key, key_len, out);
    mg_schema_path_pop(c, old);
    return rc;
}

static int compile_index(mg_schema_compiler_t *c, const mg_schema_site_t *site, const char *keyword, size_t index,
                         const json_t *value, mg_schema_node_t **out)
{
    char segment[24];
    int len = snprintf(segment, sizeof(segment), "%zu", index);
    return compile_member(c, site, keyword, segment, (size_t)len, value, out);
}

/* A keyword whose value is one schema; 0 when absent, 1 when compiled into *out. */
static int single(mg_schema_compiler_t *c, const json_t *object, const mg_schema_site_t *site, const char *keyword,
                  const mg_schema_node_t **out)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    mg_schema_node_t *node;
    int rc = mg_schema_compile_child(c, value, site, keyword, strlen(keyword), &node);
    if (rc != 0)
        return rc;
    *out = node;
    return 1;
}

/* A keyword whose value is an array of schemas. */
static int schema_array(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                        const mg_schema_site_t *site, const char *keyword, bool non_empty,
                        const mg_schema_node_t ***out, size_t *out_len)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    if (!json_is_array(value) || (non_empty && json_array_size(value) == 0))
        return invalid(c, node, keyword, "must be %sarray of schemas", non_empty ? "a non-empty " : "an ");
    size_t len = json_array_size(value);
    int rc = check_fanout(c, node, keyword, len);
    if (rc != 0)
        return rc;
    const mg_schema_node_t **nodes = mg_schema_arena_alloc(&c->schema->arena, len * sizeof(*nodes));
    if (nodes == NULL)
        return mg_schema_compile_nomem(c);
    for (size_t i = 0; i < len; i++) {
        mg_schema_node_t *child;
        if ((rc = compile_index(c, site, keyword, i, json_array_get(value, i), &child)) != 0)
            return rc;
        nodes[i] = child;
    }
    *out = nodes;
    *out_len = len;
    return 1;
}

/* $defs / definitions: compiled for their identifiers and as reference targets, not applied. */
static int definitions(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                       const mg_schema_site_t *site, const char *keyword)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    if (!json_is_object(value))
        return invalid(c, node, keyword, "must be an object of schemas");
    for (void *it = json_object_iter((json_t *)value); it != NULL; it = json_object_iter_next((json_t *)value, it)) {
        mg_schema_node_t *child;
        int rc = compile_member(c, site, keyword, json_object_iter_key(it), json_object_iter_key_len(it),
                                json_object_iter_value(it), &child);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int type_keyword(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *value)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    size_t count = json_is_array(value) ? json_array_size(value) : 1;
    int rc = check_fanout(c, node, "type", count);
    if (rc != 0)
        return rc;
    if (!json_is_string(value) && !json_is_array(value))
        return invalid(c, node, "type", "must be a type name or an array of type names");
    for (size_t i = 0; i < count; i++) {
        const json_t *name = json_is_array(value) ? json_array_get(value, i) : value;
        size_t bit = 0;
        while (json_is_string(name) && bit < 7 && strcmp(json_string_value(name), names[bit]) != 0)
            bit++;
        if (!json_is_string(name) || bit == 7)
            return invalid(c, node, "type",
                           "must be null, boolean, object, array, number, string or integer (or an array of them)");
        node->types |= (uint8_t)(1u << bit);
    }
    node->keywords |= KW_TYPE;
    return 0;
}

static int value_keyword(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object, const char *keyword)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    bool is_enum = strcmp(keyword, "enum") == 0;
    if (is_enum && !json_is_array(value))
        return invalid(c, node, keyword, "must be an array");
    int rc = is_enum ? check_fanout(c, node, keyword, json_array_size(value)) : 0;
    if (rc != 0)
        return rc;
    /* comparisons recurse: the nesting of a value is bounded here, once */
    if (mg_schema_value_depth(value, c->options->max_instance_depth) > c->options->max_instance_depth) {
        mg_error_set(c->err, "schema too deep at %s/%s: the value nests more than %zu levels", node->path, keyword,
                     c->options->max_instance_depth);
        return MG_SCHEMA_ERR_LIMIT;
    }
    const json_t *copy;
    if ((rc = mg_schema_keep_value(c, value, &copy)) != 0)
        return rc;
    if (is_enum) {
        node->enum_values = copy;
        node->keywords |= KW_ENUM;
        node->enum_strings = true;
        for (size_t i = 0; i < json_array_size(copy); i++)
            node->enum_strings &= json_is_string(json_array_get(copy, i));
    } else {
        node->const_value = copy;
        node->keywords |= KW_CONST;
    }
    return 0;
}

static int number_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object)
{
    static const struct {
        const char *keyword;
        size_t offset;
        uint64_t bit;
    } limits[] = {
        {"maximum", offsetof(mg_schema_node_t, maximum), KW_MAXIMUM},
        {"minimum", offsetof(mg_schema_node_t, minimum), KW_MINIMUM},
        {"exclusiveMaximum", offsetof(mg_schema_node_t, exclusive_maximum), KW_EXCLUSIVE_MAXIMUM},
        {"exclusiveMinimum", offsetof(mg_schema_node_t, exclusive_minimum), KW_EXCLUSIVE_MINIMUM},
        {"multipleOf", offsetof(mg_schema_node_t, multiple_of), KW_MULTIPLE_OF},
    };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        mg_schema_number_t *number = (mg_schema_number_t *)((char *)node + limits[i].offset);
        int rc = get_number(c, node, object, limits[i].keyword, number);
        if (rc < 0)
            return rc;
        if (rc > 0)
            node->keywords |= limits[i].bit;
    }
    if (node->keywords & KW_MULTIPLE_OF) {
        const mg_schema_number_t *divisor = &node->multiple_of;
        if (divisor->is_integer ? divisor->integer <= 0 : !(divisor->real > 0))
            return invalid(c, node, "multipleOf", "must be a number greater than 0");
        if (divisor->is_integer)
            node->multiple_of_decimal = (mg_schema_decimal_t){(uint64_t)divisor->integer, 0};
        else if (!mg_schema_decimal_of(divisor->real, &node->multiple_of_decimal))
            return invalid(c, node, "multipleOf", "must be a finite number");
    }
    return 0;
}

static int string_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object)
{
    int rc;
    if ((rc = get_count(c, node, object, "maxLength", &node->max_length)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_MAX_LENGTH : 0;
    if ((rc = get_count(c, node, object, "minLength", &node->min_length)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_MIN_LENGTH : 0;
    const json_t *pattern = json_object_get(object, "pattern");
    if (pattern != NULL) {
        if (!json_is_string(pattern))
            return invalid(c, node, "pattern", "must be a string (a regular expression)");
        char where[300];
        snprintf(where, sizeof(where), "%s/pattern", node->path);
        if ((rc = mg_schema_compile_regex(c, json_string_value(pattern), json_string_length(pattern), &node->pattern,
                                          where)) != 0)
            return rc;
        node->keywords |= KW_PATTERN;
    }
    const json_t *format = json_object_get(object, "format");
    if (format != NULL) {
        if (!json_is_string(format))
            return invalid(c, node, "format", "must be a string");
        node->format = (uint8_t)mg_schema_format_of(json_string_value(format));
        if (c->options->validate_formats && node->format != FORMAT_NONE)
            node->keywords |= KW_FORMAT;
    }
    return 0;
}

static int array_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                          const mg_schema_site_t *site)
{
    int rc;
    if (node->draft == MG_SCHEMA_DRAFT_7) {
        const json_t *items = json_object_get(object, "items");
        if (json_is_array(items)) {
            if ((rc = schema_array(c, node, object, site, "items", false, &node->prefix_items,
                                   &node->prefix_items_len)) < 0)
                return rc;
            node->keywords |= KW_PREFIX_ITEMS;
            if ((rc = single(c, object, site, "additionalItems", &node->items)) < 0)
                return rc;
            node->items_keyword = "additionalItems";
        } else {
            const mg_schema_node_t *ignored;
            if ((rc = single(c, object, site, "items", &node->items)) < 0 ||
                (rc = single(c, object, site, "additionalItems", &ignored)) < 0)
                return rc;
            node->items_keyword = "items";
        }
    } else {
        if ((rc = schema_array(c, node, object, site, "prefixItems", false, &node->prefix_items,
                               &node->prefix_items_len)) < 0)
            return rc;
        node->keywords |= rc > 0 ? KW_PREFIX_ITEMS : 0;
        if ((rc = single(c, object, site, "items", &node->items)) < 0)
            return rc;
        node->items_keyword = "items";
    }
    node->keywords |= node->items != NULL ? KW_ITEMS : 0;
    if ((rc = single(c, object, site, "contains", &node->contains)) < 0)
        return rc;
    if (node->contains != NULL) {
        node->keywords |= KW_CONTAINS;
        if (node->draft != MG_SCHEMA_DRAFT_7 &&
            ((rc = get_count(c, node, object, "minContains", &node->min_contains)) < 0 ||
             (rc = get_count(c, node, object, "maxContains", &node->max_contains)) < 0))
            return rc;
    }
    if ((rc = get_count(c, node, object, "maxItems", &node->max_items)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_MAX_ITEMS : 0;
    if ((rc = get_count(c, node, object, "minItems", &node->min_items)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_MIN_ITEMS : 0;
    const json_t *unique = json_object_get(object, "uniqueItems");
    if (unique != NULL && !json_is_boolean(unique))
        return invalid(c, node, "uniqueItems", "must be a boolean");
    node->keywords |= json_is_true(unique) ? KW_UNIQUE_ITEMS : 0;
    return 0;
}

static int compare_properties(const void *a, const void *b)
{
    const mg_schema_property_t *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

static int properties_keyword(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                              const mg_schema_site_t *site)
{
    const json_t *value = json_object_get(object, "properties");
    if (value == NULL)
        return 0;
    if (!json_is_object(value))
        return invalid(c, node, "properties", "must be an object of schemas");
    size_t len = json_object_size(value);
    int rc = check_fanout(c, node, "properties", len);
    if (rc != 0)
        return rc;
    mg_schema_property_t *properties = mg_schema_arena_alloc(&c->schema->arena, len * sizeof(*properties));
    if (properties == NULL)
        return mg_schema_compile_nomem(c);
    size_t i = 0;
    for (void *it = json_object_iter((json_t *)value); it != NULL; it = json_object_iter_next((json_t *)value, it)) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        mg_schema_node_t *child;
        if ((rc = compile_member(c, site, "properties", key, key_len, json_object_iter_value(it), &child)) != 0)
            return rc;
        if ((properties[i].name = mg_schema_arena_strndup(&c->schema->arena, key, key_len)) == NULL)
            return mg_schema_compile_nomem(c);
        properties[i].len = key_len;
        properties[i].node = child;
        i++;
    }
    qsort(properties, len, sizeof(*properties), compare_properties);
    node->properties = properties;
    node->properties_len = len;
    /* a table at most half full, for lookups by member name while validating */
    size_t slots_len = 4;
    while (slots_len < 2 * len)
        slots_len *= 2;
    uint32_t *slots = mg_schema_arena_alloc(&c->schema->arena, slots_len * sizeof(*slots));
    if (slots == NULL)
        return mg_schema_compile_nomem(c);
    for (size_t k = 0; k < len; k++) {
        uint32_t slot = mg_schema_property_hash(properties[k].name, properties[k].len) & (uint32_t)(slots_len - 1);
        while (slots[slot] != 0)
            slot = (slot + 1) & (uint32_t)(slots_len - 1);
        slots[slot] = (uint32_t)k + 1;
    }
    node->property_slots = slots;
    node->property_mask = (uint32_t)(slots_len - 1);
    node->keywords |= KW_PROPERTIES;
    return 0;
}

static int pattern_properties_keyword(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                                      const mg_schema_site_t *site)
{
    const json_t *value = json_object_get(object, "patternProperties");
    if (value == NULL)
        return 0;
    if (!json_is_object(value))
        return invalid(c, node, "patternProperties", "must be an object of schemas");
    size_t len = json_object_size(value);
    int rc = check_fanout(c, node, "patternProperties", len);
    if (rc != 0)
        return rc;
    mg_schema_pattern_property_t *patterns = mg_schema_arena_alloc(&c->schema->arena, len * sizeof(*patterns));
    if (patterns == NULL)
        return mg_schema_compile_nomem(c);
    size_t i = 0;
    for (void *it = json_object_iter((json_t *)value); it != NULL; it = json_object_iter_next((json_t *)value, it)) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        char where[300];
        snprintf(where, sizeof(where), "%s/patternProperties (\"%.100s\")", node->path, key);
        mg_schema_node_t *child;
        if ((rc = mg_schema_compile_regex(c, key, key_len, &patterns[i].regex, where)) != 0 ||
            (rc = compile_member(c, site, "patternProperties", key, key_len, json_object_iter_value(it), &child)) != 0)
            return rc;
        patterns[i++].node = child;
    }
    node->pattern_properties = patterns;
    node->pattern_properties_len = len;
    node->keywords |= KW_PATTERN_PROPERTIES;
    return 0;
}

/* An array of property names (required, dependentRequired's lists, dependencies' lists). */
static int names(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *value, const char *keyword,
                 mg_schema_name_t **out, size_t *out_len)
{
    if (!json_is_array(value))
        return invalid(c, node, keyword, "must be an array of property names");
    size_t len = json_array_size(value);
    int rc = check_fanout(c, node, keyword, len);
    if (rc != 0)
        return rc;
    mg_schema_name_t *list = mg_schema_arena_alloc(&c->schema->arena, len * sizeof(*list));
    if (list == NULL)
        return mg_schema_compile_nomem(c);
    for (size_t i = 0; i < len; i++) {
        const json_t *name = json_array_get(value, i);
        if (!json_is_string(name))
            return invalid(c, node, keyword, "must be an array of property names (strings)");
        list[i].len = json_string_length(name);
        if ((list[i].name = mg_schema_arena_strndup(&c->schema->arena, json_string_value(name), list[i].len)) == NULL)
            return mg_schema_compile_nomem(c);
    }
    *out = list;
    *out_len = len;
    return 0;
}

static mg_schema_property_t *find_property(mg_schema_node_t *node, const char *name, size_t len)
{
    mg_schema_property_t key = {name, len, NULL, false};
    if (node->properties_len == 0)
        return NULL;
    return bsearch(&key, node->properties, node->properties_len, sizeof(key), compare_properties);
}

static int required_keyword(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object)
{
    const json_t *value = json_object_get(object, "required");
    if (value == NULL)
        return 0;
    mg_schema_name_t *required, *other;
    size_t len, other_len = 0;
    int rc = names(c, node, value, "required", &required, &len);
    if (rc != 0)
        return rc;
    if ((other = mg_schema_arena_alloc(&c->schema->arena, len * sizeof(*other))) == NULL)
        return mg_schema_compile_nomem(c);
    for (size_t i = 0; i < len; i++) {
        mg_schema_property_t *property = find_property(node, required[i].name, required[i].len);
        if (property == NULL)
            other[other_len++] = required[i];
        else if (!property->required) {
            property->required = true;
            node->required_in_properties++;
        }
    }
    node->required = required;
    node->required_len = len;
    node->required_other = other;
    node->required_other_len = other_len;
    node->keywords |= len > 0 ? KW_REQUIRED : 0;
    return 0;
}

/* dependentRequired + dependentSchemas (2020-12), or dependencies (draft-07), into node->dependents */
static int dependents_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                               const mg_schema_site_t *site)
{
    static const char *const keywords_2020[] = {"dependentRequired", "dependentSchemas"};
    static const char *const keywords_7[] = {"dependencies"};
    const char *const *keywords = node->draft == MG_SCHEMA_DRAFT_7 ? keywords_7 : keywords_2020;
    size_t keywords_len = node->draft == MG_SCHEMA_DRAFT_7 ? 1 : 2, total = 0;
    for (size_t k = 0; k < keywords_len; k++) {
        const json_t *value = json_object_get(object, keywords[k]);
        if (value != NULL && !json_is_object(value))
            return invalid(c, node, keywords[k], "must be an object");
        int rc = check_fanout(c, node, keywords[k], json_object_size(value));
        if (rc != 0)
            return rc;
        total += json_object_size(value);
    }
    if (total == 0)
        return 0;
    mg_schema_dependent_t *dependents = mg_schema_arena_alloc(&c->schema->arena, total * sizeof(*dependents));
    if (dependents == NULL)
        return mg_schema_compile_nomem(c);
    size_t n = 0;
    for (size_t k = 0; k < keywords_len; k++) {
        const json_t *value = json_object_get(object, keywords[k]);
        for (void *it = value != NULL ? json_object_iter((json_t *)value) : NULL; it != NULL;
             it = json_object_iter_next((json_t *)value, it)) {
            mg_schema_dependent_t *d = &dependents[n++];
            const json_t *member = json_object_iter_value(it);
            d->trigger.len = json_object_iter_key_len(it);
            d->keyword = keywords[k];
            if ((d->trigger.name =
                     mg_schema_arena_strndup(&c->schema->arena, json_object_iter_key(it), d->trigger.len)) == NULL)
                return mg_schema_compile_nomem(c);
            int rc;
            bool list = strcmp(keywords[k], "dependentRequired") == 0 ||
                        (strcmp(keywords[k], "dependencies") == 0 && json_is_array(member));
            if (list) {
                mg_schema_name_t *required;
                if ((rc = names(c, node, member, keywords[k], &required, &d->required_len)) != 0)
                    return rc;
                d->required = required;
            } else {
                mg_schema_node_t *child;
                if ((rc = compile_member(c, site, keywords[k], d->trigger.name, d->trigger.len, member, &child)) != 0)
                    return rc;
                d->node = child;
            }
        }
    }
    node->dependents = dependents;
    node->dependents_len = n;
    node->keywords |= KW_DEPENDENTS;
    return 0;
}

static int object_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                           const mg_schema_site_t *site)
{
    int rc;
    if ((rc = get_count(c, node, object, "maxProperties", &node->max_properties)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_MAX_PROPERTIES : 0;
    if ((rc = get_count(c, node, object, "minProperties", &node->min_properties)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_MIN_PROPERTIES : 0;
    if ((rc = properties_keyword(c, node, object, site)) != 0 ||
        (rc = pattern_properties_keyword(c, node, object, site)) != 0 ||
        (rc = required_keyword(c, node, object)) != 0 || (rc = dependents_keywords(c, node, object, site)) != 0)
        return rc;
    if ((rc = single(c, object, site, "additionalProperties", &node->additional_properties)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_ADDITIONAL_PROPERTIES : 0;
    if ((rc = single(c, object, site, "propertyNames", &node->property_names)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_PROPERTY_NAMES : 0;
    return 0;
}

static int applicator_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                               const mg_schema_site_t *site)
{
    int rc;
    if ((rc = schema_array(c, node, object, site, "allOf", true, &node->all_of, &node->all_of_len)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_ALL_OF : 0;
    if ((rc = schema_array(c, node, object, site, "anyOf", true, &node->any_of, &node->any_of_len)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_ANY_OF : 0;
    if ((rc = schema_array(c, node, object, site, "oneOf", true, &node->one_of, &node->one_of_len)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_ONE_OF : 0;
    if ((rc = single(c, object, site, "not", &node->not_schema)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_NOT : 0;
    /* then / else without if do nothing, but are subschemas all the same (identifiers, targets) */
    if ((rc = single(c, object, site, "if", &node->if_schema)) < 0 ||
        (rc = single(c, object, site, "then", &node->then_schema)) < 0 ||
        (rc = single(c, object, site, "else", &node->else_schema)) < 0)
        return rc;
    if (node->if_schema != NULL)
        node->keywords |= KW_IF;
    else
        node->then_schema = node->else_schema = NULL;
    if (node->draft == MG_SCHEMA_DRAFT_7)
        return 0;
    if ((rc = single(c, object, site, "unevaluatedProperties", &node->unevaluated_properties)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_UNEVALUATED_PROPERTIES : 0;
    if ((rc = single(c, object, site, "unevaluatedItems", &node->unevaluated_items)) < 0)
        return rc;
    node->keywords |= rc > 0 ? KW_UNEVALUATED_ITEMS : 0;
    return 0;
}

static int reference(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                     const mg_schema_site_t *site, const char *keyword)
{
    const json_t *value = json_object_get(object, keyword);
    if (value == NULL)
        return 0;
    if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value))
        return invalid(c, node, keyword, "must be a string (a URI reference)");
    bool dynamic = strcmp(keyword, "$dynamicRef") == 0;
    node->keywords |= dynamic ? KW_DYNAMIC_REF : KW_REF;
    return mg_schema_add_pending(c, node, json_string_value(value), site->base, dynamic);
}

int mg_schema_compile_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                               const mg_schema_site_t *site)
{
    int rc;
    if ((rc = definitions(c, node, object, site, "definitions")) != 0)
        return rc;
    if (node->draft == MG_SCHEMA_DRAFT_7 && json_object_get(object, "$ref") != NULL)
        return reference(c, node, object, site, "$ref");
    if ((node->draft != MG_SCHEMA_DRAFT_7 && (rc = definitions(c, node, object, site, "$defs")) != 0) ||
        (rc = reference(c, node, object, site, "$ref")) != 0 ||
        (node->draft != MG_SCHEMA_DRAFT_7 && (rc = reference(c, node, object, site, "$dynamicRef")) != 0))
        return rc;
    const json_t *type = json_object_get(object, "type");
    if ((type != NULL && (rc = type_keyword(c, node, type)) != 0) ||
        (rc = value_keyword(c, node, object, "enum")) != 0 || (rc = value_keyword(c, node, object, "const")) != 0 ||
        (rc = number_keywords(c, node, object)) != 0 || (rc = string_keywords(c, node, object)) != 0 ||
        (rc = array_keywords(c, node, object, site)) != 0 || (rc = object_keywords(c, node, object, site)) != 0 ||
        (rc = applicator_keywords(c, node, object, site)) != 0)
        return rc;
    return 0;
}
