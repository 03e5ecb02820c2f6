/*
 * policy_args.c - a rule's `when.args`: JSON pointers into a tool call's arguments and the conditions
 * their values must meet, checked completely at load.
 *
 * Everything a condition could get wrong at run time because of how it was written is refused here
 * with the file, line and column: a pointer that is not RFC 6901, a regular expression PCRE2 will not
 * compile (through mg_policy_check_pattern, so that the policy compiles exactly what was checked), a
 * number where a string belongs (`prefix: 5` is refused rather than read as "5": whoever wrote it
 * meant something else), bounds that cannot hold together. What remains for run time is the caller's
 * arguments, and those fail closed (src/policy/conditions.c).
 *
 * Values of `equals` and `in` become JSON values the way YAML 1.2's core schema reads them: plain
 * `true`, `false`, `null`, integers and decimals are typed; everything else, and anything quoted, is a
 * string (expanded like every other string of the file).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "policy/policy.h"

static const char *const when_keys[] = {"args", NULL};
static const char *const condition_keys[] = {"equals",     "in",     "prefix", "suffix",    "pattern",
                                             "max_length", "min",    "max",    "max_items", "min_items",
                                             "exists",     "absent", NULL};

void mg_config_condition_dispose(mg_config_condition_t *condition)
{
    free(condition->pointer);
    mg_config_free_string_list(condition->tokens, condition->tokens_len);
    free(condition->location);
    free(condition->path);
    json_decref(condition->equals);
    json_decref(condition->in);
    free(condition->prefix);
    free(condition->suffix);
    free(condition->pattern);
}

typedef enum { PLAIN_STRING, PLAIN_NULL, PLAIN_BOOL, PLAIN_INTEGER, PLAIN_REAL } plain_type_t;

/* How YAML's core schema types a plain scalar. */
static plain_type_t plain_type(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return PLAIN_STRING;
    const char *text = (const char *)node->data.scalar.value;
    if (mg_config_yaml_is_null(node))
        return PLAIN_NULL;
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
        return PLAIN_BOOL;
    if (text[0] == '\0' || text[0] == ' ')
        return PLAIN_STRING;
    char *end;
    errno = 0;
    (void)strtoll(text, &end, 10);
    if (*end == '\0' && errno == 0 && text[0] != '+')
        return PLAIN_INTEGER;
    double real = strtod(text, &end);
    if (*end == '\0' && isfinite(real) && strpbrk(text, "0123456789") != NULL && strpbrk(text, "xXnN") == NULL)
        return PLAIN_REAL;
    return PLAIN_STRING;
}

int mg_config_load_strict_string(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **out)
{
    plain_type_t type = plain_type(node);
    if (node->type == YAML_SCALAR_NODE && type != PLAIN_STRING && type != PLAIN_NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "expected a string, got %s (quote it if a string is meant)",
                                   mg_config_yaml_raw(node));
    return mg_config_yaml_string(&loader->yaml, node, path, out);
}

/* At most this many values in one `equals` or `in`: YAML aliases could otherwise expand a small file into
 * an enormous value. */
#define MAX_VALUES 10000

static json_t *to_json(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, size_t *budget);

static json_t *sequence_to_json(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, size_t *budget)
{
    char child[MG_CONFIG_PATH_MAX];
    json_t *array = json_array();
    for (size_t i = 0; array != NULL && i < mg_config_yaml_length(node); i++) {
        mg_config_yaml_path_index(child, sizeof(child), path, i);
        json_t *item = to_json(loader, mg_config_yaml_item(&loader->yaml, node, i), child, budget);
        if (item == NULL || json_array_append_new(array, item) != 0) {
            json_decref(array);
            return NULL;
        }
    }
    if (array == NULL)
        mg_error_set(loader->yaml.err, "out of memory");
    return array;
}

static json_t *mapping_to_json(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, size_t *budget)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_check_keys(&loader->yaml, node, path, NULL) != 0)
        return NULL;
    json_t *object = json_object();
    for (size_t i = 0; object != NULL && i < mg_config_yaml_length(node); i++) {
        const char *key = mg_config_yaml_raw(mg_config_yaml_pair_key(&loader->yaml, node, i));
        mg_config_yaml_path_key(child, sizeof(child), path, key);
        json_t *value = to_json(loader, mg_config_yaml_pair_value(&loader->yaml, node, i), child, budget);
        if (value == NULL || json_object_set_new(object, key, value) != 0) {
            json_decref(object);
            return NULL;
        }
    }
    if (object == NULL)
        mg_error_set(loader->yaml.err, "out of memory");
    return object;
}

static json_t *to_json(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, size_t *budget)
{
    if (*budget == 0) {
        mg_config_yaml_fail(&loader->yaml, node, path, "more than %d values", MAX_VALUES);
        return NULL;
    }
    (*budget)--;
    if (node->type == YAML_SEQUENCE_NODE)
        return sequence_to_json(loader, node, path, budget);
    if (node->type == YAML_MAPPING_NODE)
        return mapping_to_json(loader, node, path, budget);
    const char *raw = mg_config_yaml_raw(node);
    json_t *value = NULL;
    switch (plain_type(node)) {
    case PLAIN_NULL:
        value = json_null();
        break;
    case PLAIN_BOOL:
        value = json_boolean(strcmp(raw, "true") == 0);
        break;
    case PLAIN_INTEGER:
        value = json_integer(strtoll(raw, NULL, 10));
        break;
    case PLAIN_REAL:
        value = json_real(strtod(raw, NULL));
        break;
    case PLAIN_STRING: {
        char *text = NULL;
        if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0) {
            free(text);
            return NULL;
        }
        value = json_string(text);
        free(text);
        if (value == NULL)
            mg_config_yaml_fail(&loader->yaml, node, path, "must be valid UTF-8");
        return value;
    }
    }
    if (value == NULL)
        mg_error_set(loader->yaml.err, "out of memory");
    return value;
}

static int load_number(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, double *out)
{
    plain_type_t type = plain_type(node);
    if (type != PLAIN_INTEGER && type != PLAIN_REAL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "expected a number, got %s",
                                   node->type == YAML_SCALAR_NODE ? mg_config_yaml_raw(node) : "a collection");
    *out = strtod(mg_config_yaml_raw(node), NULL);
    return 0;
}

/* RFC 6901: "/a/b~1c" -> ["a", "b/c"]; the empty pointer (the whole arguments) is refused. */
static int parse_pointer(mg_config_loader_t *loader, const yaml_node_t *key, const char *path,
                         mg_config_condition_t *condition)
{
    const char *text = condition->pointer;
    if (text[0] != '/')
        return mg_config_yaml_fail(&loader->yaml, key, path, "\"%s\" is not a JSON pointer: it must start with '/'",
                                   text);
    size_t count = 0;
    for (const char *c = text; *c != '\0'; c++)
        count += *c == '/';
    if ((condition->tokens = calloc(count + 1, sizeof(char *))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    condition->tokens_len = count;
    const char *start = text + 1;
    for (size_t i = 0; i < count; i++) {
        const char *end = strchr(start, '/');
        size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
        char *token = malloc(len + 1), *out = token;
        if ((condition->tokens[i] = token) == NULL)
            return mg_error_set(loader->yaml.err, "out of memory");
        for (size_t j = 0; j < len; j++) {
            if (start[j] != '~') {
                *out++ = start[j];
            } else if (j + 1 < len && (start[j + 1] == '0' || start[j + 1] == '1')) {
                *out++ = start[++j] == '0' ? '~' : '/';
            } else {
                return mg_config_yaml_fail(&loader->yaml, key, path,
                                           "\"%s\" is not a JSON pointer: '~' must be followed by 0 or 1 (RFC 6901)",
                                           text);
            }
        }
        *out = '\0';
        start += len + 1;
    }
    return 0;
}

/* Values that decide the shape of the rest: exists / absent. */
static int load_presence(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                         mg_config_condition_t *condition)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    bool exists = true, absent = false;
    bool has_exists = false, has_absent = false;
    mg_config_yaml_path_key(child, sizeof(child), path, "exists");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "exists", NULL)) != NULL) {
        if (mg_config_yaml_bool(&loader->yaml, value, child, &exists) != 0)
            return -1;
        has_exists = true;
    }
    mg_config_yaml_path_key(child, sizeof(child), path, "absent");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "absent", NULL)) != NULL) {
        if (mg_config_yaml_bool(&loader->yaml, value, child, &absent) != 0)
            return -1;
        has_absent = true;
    }
    if (has_exists && has_absent && exists == absent)
        return mg_config_yaml_fail(&loader->yaml, node, path, "exists: %s and absent: %s contradict each other",
                                   exists ? "true" : "false", absent ? "true" : "false");
    condition->exists = has_absent ? !absent : has_exists ? exists : -1;
    return 0;
}

static int load_strings(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                        mg_config_condition_t *condition)
{
    static const char *const names[] = {"prefix", "suffix", "pattern"};
    char **targets[] = {&condition->prefix, &condition->suffix, &condition->pattern};
    char child[MG_CONFIG_PATH_MAX];
    for (size_t i = 0; i < 3; i++) {
        yaml_node_t *value = mg_config_yaml_get(&loader->yaml, node, names[i], NULL);
        mg_config_yaml_path_key(child, sizeof(child), path, names[i]);
        if (value != NULL && mg_config_load_strict_string(loader, value, child, targets[i]) != 0)
            return -1;
    }
    char problem[256];
    yaml_node_t *pattern = mg_config_yaml_get(&loader->yaml, node, "pattern", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "pattern");
    if (condition->pattern != NULL && mg_policy_check_pattern(condition->pattern, problem, sizeof(problem)) != 0)
        return mg_config_yaml_fail(&loader->yaml, pattern, child, "%s", problem);
    return 0;
}

static int load_bounds(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                       mg_config_condition_t *condition)
{
    static const char *const counts[] = {"max_length", "min_items", "max_items"};
    long long *count_targets[] = {&condition->max_length, &condition->min_items, &condition->max_items};
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    for (size_t i = 0; i < 3; i++) {
        *count_targets[i] = -1;
        mg_config_yaml_path_key(child, sizeof(child), path, counts[i]);
        if ((value = mg_config_yaml_get(&loader->yaml, node, counts[i], NULL)) != NULL &&
            mg_config_yaml_int(&loader->yaml, value, child, 0, 1000000000, count_targets[i]) != 0)
            return -1;
    }
    if (condition->min_items >= 0 && condition->max_items >= 0 && condition->min_items > condition->max_items)
        return mg_config_yaml_fail(&loader->yaml, node, path, "min_items %lld is greater than max_items %lld",
                                   condition->min_items, condition->max_items);
    mg_config_yaml_path_key(child, sizeof(child), path, "min");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "min", NULL)) != NULL) {
        if (load_number(loader, value, child, &condition->min) != 0)
            return -1;
        condition->has_min = true;
    }
    mg_config_yaml_path_key(child, sizeof(child), path, "max");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "max", NULL)) != NULL) {
        if (load_number(loader, value, child, &condition->max) != 0)
            return -1;
        condition->has_max = true;
    }
    if (condition->has_min && condition->has_max && condition->min > condition->max)
        return mg_config_yaml_fail(&loader->yaml, node, path, "min %g is greater than max %g", condition->min,
                                   condition->max);
    return 0;
}

/* `equals` may be null, which mg_config_yaml_get reads as absent: look at the pair itself. */
static yaml_node_t *raw_value(mg_config_loader_t *loader, const yaml_node_t *mapping, const char *key)
{
    for (size_t i = 0; i < mg_config_yaml_length(mapping); i++) {
        if (strcmp(mg_config_yaml_raw(mg_config_yaml_pair_key(&loader->yaml, mapping, i)), key) == 0)
            return mg_config_yaml_pair_value(&loader->yaml, mapping, i);
    }
    return NULL;
}

static int load_values(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                       mg_config_condition_t *condition)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    size_t budget = MAX_VALUES;
    mg_config_yaml_path_key(child, sizeof(child), path, "equals");
    if ((value = raw_value(loader, node, "equals")) != NULL &&
        (condition->equals = to_json(loader, value, child, &budget)) == NULL)
        return -1;
    mg_config_yaml_path_key(child, sizeof(child), path, "in");
    if ((value = raw_value(loader, node, "in")) != NULL) {
        if (mg_config_yaml_expect_sequence(&loader->yaml, value, child) != 0)
            return -1;
        if (mg_config_yaml_length(value) == 0)
            return mg_config_yaml_fail(&loader->yaml, value, child, "must list at least one value");
        if ((condition->in = to_json(loader, value, child, &budget)) == NULL)
            return -1;
    }
    return 0;
}

static int load_condition(mg_config_loader_t *loader, const yaml_node_t *key, const yaml_node_t *node, const char *path,
                          mg_config_condition_t *condition)
{
    if ((condition->location = mg_config_yaml_location(&loader->yaml, key)) == NULL ||
        (condition->path = strdup(path)) == NULL || (condition->pointer = strdup(mg_config_yaml_raw(key))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    if (parse_pointer(loader, key, path, condition) != 0)
        return -1;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, condition_keys) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "names no condition (%s)",
                                   "equals, in, prefix, suffix, pattern, max_length, min, max, min_items, max_items, "
                                   "exists, absent");
    if (load_presence(loader, node, path, condition) != 0 || load_values(loader, node, path, condition) != 0 ||
        load_strings(loader, node, path, condition) != 0 || load_bounds(loader, node, path, condition) != 0)
        return -1;
    size_t presence_keys = (mg_config_yaml_get(&loader->yaml, node, "exists", NULL) != NULL) +
                           (mg_config_yaml_get(&loader->yaml, node, "absent", NULL) != NULL);
    if (condition->exists == 0 && count > presence_keys)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "an argument required to be absent cannot have other conditions");
    return 0;
}

int mg_config_load_when(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_rule_t *rule)
{
    char args_path[MG_CONFIG_PATH_MAX], child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, when_keys) != 0)
        return -1;
    mg_config_yaml_path_key(args_path, sizeof(args_path), path, "args");
    yaml_node_t *args = mg_config_yaml_get(&loader->yaml, node, "args", NULL);
    if (args == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"args\"");
    if (mg_config_yaml_expect_mapping(&loader->yaml, args, args_path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, args, args_path, NULL) != 0)
        return -1;
    size_t count = mg_config_yaml_length(args);
    if (count == 0)
        return mg_config_yaml_fail(&loader->yaml, args, args_path, "names no argument");
    if ((rule->conditions = calloc(count, sizeof(*rule->conditions))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    rule->conditions_len = count;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = mg_config_yaml_pair_key(&loader->yaml, args, i);
        mg_config_yaml_path_key(child, sizeof(child), args_path, mg_config_yaml_raw(key));
        if (load_condition(loader, key, mg_config_yaml_pair_value(&loader->yaml, args, i), child,
                           &rule->conditions[i]) != 0)
            return -1;
    }
    return 0;
}
