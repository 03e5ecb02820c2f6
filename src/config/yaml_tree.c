/*
 * yaml_tree.c - located, typed access to a libyaml document (see yaml_tree.h).
 *
 * libyaml's document API keeps a start mark (0-based line and column) on every
 * node, which is all a precise message needs; we add 1 to both when printing.
 * libyaml itself accepts duplicate mapping keys, so check_keys rejects them: the
 * second `name:` silently winning is how a reviewed config ends up not being the
 * one that runs.
 *
 * Messages quote what the user wrote (the raw scalar), never the expanded value,
 * so an error about `Authorization: "Bearer ${TOKEN}"` cannot leak the token into
 * logs.
 */
#include "config/yaml_tree.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

static void offset_to_position(const char *text, size_t len, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

static int syntax_error(mg_config_yaml_t *yaml, yaml_parser_t *parser, const char *text, size_t len)
{
    const char *problem = parser->problem != NULL ? parser->problem : "invalid YAML";
    if (parser->error == YAML_MEMORY_ERROR)
        return mg_error_set(yaml->err, "%s: out of memory while parsing", yaml->name);
    if (parser->error == YAML_READER_ERROR) {
        size_t line, column;
        offset_to_position(text, len, parser->problem_offset, &line, &column);
        return mg_error_set(yaml->err, "%s:%zu:%zu: %s", yaml->name, line, column, problem);
    }
    if (parser->context != NULL)
        return mg_error_set(yaml->err, "%s:%zu:%zu: %s (%s started at line %zu, column %zu)", yaml->name,
                            parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem, parser->context,
                            parser->context_mark.line + 1, parser->context_mark.column + 1);
    return mg_error_set(yaml->err, "%s:%zu:%zu: %s", yaml->name, parser->problem_mark.line + 1,
                        parser->problem_mark.column + 1, problem);
}

int mg_config_yaml_load(mg_config_yaml_t *yaml, const char *text, size_t len, const char *name, mg_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = -1;

    memset(yaml, 0, sizeof(*yaml));
    yaml->name = name;
    yaml->err = err;
    if (!yaml_parser_initialize(&parser))
        return mg_error_set(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &yaml->document)) {
        syntax_error(yaml, &parser, text, len);
        goto done;
    }
    yaml->loaded = true;
    /* A second document would be ignored by yaml_parser_load; refuse it instead. */
    if (!yaml_parser_load(&parser, &extra)) {
        syntax_error(yaml, &parser, text, len);
        goto done;
    }
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    if (extra_root != NULL) {
        mg_config_yaml_fail(yaml, extra_root, "", "only one YAML document is allowed");
        yaml_document_delete(&extra);
        goto done;
    }
    yaml_document_delete(&extra);
    rc = 0;
done:
    yaml_parser_delete(&parser);
    return rc;
}

void mg_config_yaml_dispose(mg_config_yaml_t *yaml)
{
    if (yaml->loaded)
        yaml_document_delete(&yaml->document);
    yaml->loaded = false;
}

yaml_node_t *mg_config_yaml_root(mg_config_yaml_t *yaml)
{
    yaml_node_t *root = yaml->loaded ? yaml_document_get_root_node(&yaml->document) : NULL;
    return root == NULL || mg_config_yaml_is_null(root) ? NULL : root;
}

int mg_config_yaml_fail(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
    char message[sizeof(((mg_error_t *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return mg_error_set(yaml->err, "%s:%zu:%zu: %s%s%s", yaml->name, node->start_mark.line + 1,
                        node->start_mark.column + 1, path, path[0] != '\0' ? ": " : "", message);
}

char *mg_config_yaml_location(mg_config_yaml_t *yaml, const yaml_node_t *node)
{
    char *location = NULL;
    if (asprintf(&location, "%s:%zu:%zu", yaml->name, node->start_mark.line + 1, node->start_mark.column + 1) < 0) {
        mg_error_set(yaml->err, "out of memory");
        return NULL;
    }
    return location;
}

void mg_config_yaml_path_key(char *out, size_t size, const char *parent, const char *key)
{
    snprintf(out, size, "%s%s%s", parent, parent[0] != '\0' ? "." : "", key);
}

void mg_config_yaml_path_index(char *out, size_t size, const char *parent, size_t index)
{
    snprintf(out, size, "%s[%zu]", parent, index);
}

bool mg_config_yaml_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *value = (const char *)node->data.scalar.value;
    return value[0] == '\0' || strcmp(value, "~") == 0 || strcmp(value, "null") == 0 || strcmp(value, "Null") == 0 ||
           strcmp(value, "NULL") == 0;
}

const char *mg_config_yaml_raw(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : "";
}

static const char *describe(const yaml_node_t *node)
{
    if (node->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a list";
    return mg_config_yaml_is_null(node) ? "null" : "a scalar";
}

static int expect(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, yaml_node_type_t type,
                  const char *expected)
{
    if (node->type == type)
        return 0;
    if (node->type == YAML_SCALAR_NODE && !mg_config_yaml_is_null(node))
        return mg_config_yaml_fail(yaml, node, path, "expected %s, got \"%s\"", expected, mg_config_yaml_raw(node));
    return mg_config_yaml_fail(yaml, node, path, "expected %s, got %s", expected, describe(node));
}

int mg_config_yaml_expect_mapping(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path)
{
    return expect(yaml, node, path, YAML_MAPPING_NODE, "a mapping");
}

int mg_config_yaml_expect_sequence(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path)
{
    return expect(yaml, node, path, YAML_SEQUENCE_NODE, "a list");
}

size_t mg_config_yaml_length(const yaml_node_t *node)
{
    if (node->type == YAML_SEQUENCE_NODE)
        return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (node->type == YAML_MAPPING_NODE)
        return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    return 0;
}

yaml_node_t *mg_config_yaml_item(mg_config_yaml_t *yaml, const yaml_node_t *sequence, size_t index)
{
    assert(sequence->type == YAML_SEQUENCE_NODE && index < mg_config_yaml_length(sequence));
    return yaml_document_get_node(&yaml->document, sequence->data.sequence.items.start[index]);
}

yaml_node_t *mg_config_yaml_pair_key(mg_config_yaml_t *yaml, const yaml_node_t *mapping, size_t index)
{
    assert(mapping->type == YAML_MAPPING_NODE && index < mg_config_yaml_length(mapping));
    return yaml_document_get_node(&yaml->document, mapping->data.mapping.pairs.start[index].key);
}

yaml_node_t *mg_config_yaml_pair_value(mg_config_yaml_t *yaml, const yaml_node_t *mapping, size_t index)
{
    assert(mapping->type == YAML_MAPPING_NODE && index < mg_config_yaml_length(mapping));
    return yaml_document_get_node(&yaml->document, mapping->data.mapping.pairs.start[index].value);
}

/* Levenshtein distance, for "did you mean"; keys are short, so a single row suffices. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t a_len = strlen(a), b_len = strlen(b);
    size_t row[65];
    if (a_len > 64 || b_len > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= b_len; j++)
        row[j] = j;
    for (size_t i = 1; i <= a_len; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b_len; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[b_len];
}

static int unknown_key(mg_config_yaml_t *yaml, const yaml_node_t *key, const char *path, const char *const *allowed)
{
    const char *name = mg_config_yaml_raw(key);
    const char *suggestion = NULL;
    size_t best = 3;
    for (size_t i = 0; allowed[i] != NULL; i++) {
        size_t distance = edit_distance(name, allowed[i]);
        if (distance < best) {
            best = distance;
            suggestion = allowed[i];
        }
    }
    if (suggestion != NULL)
        return mg_config_yaml_fail(yaml, key, path, "unknown key \"%s\" (did you mean \"%s\"?)", name, suggestion);
    return mg_config_yaml_fail(yaml, key, path, "unknown key \"%s\"", name);
}

int mg_config_yaml_check_keys(mg_config_yaml_t *yaml, const yaml_node_t *mapping, const char *path,
                              const char *const *allowed)
{
    size_t count = mg_config_yaml_length(mapping);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *key = mg_config_yaml_pair_key(yaml, mapping, i);
        if (key->type != YAML_SCALAR_NODE)
            return mg_config_yaml_fail(yaml, key, path, "keys must be plain strings, got %s", describe(key));
        const char *name = mg_config_yaml_raw(key);
        for (size_t j = 0; j < i; j++) {
            yaml_node_t *earlier = mg_config_yaml_pair_key(yaml, mapping, j);
            if (strcmp(mg_config_yaml_raw(earlier), name) == 0)
                return mg_config_yaml_fail(yaml, key, path, "duplicate key \"%s\" (first at line %zu)", name,
                                           earlier->start_mark.line + 1);
        }
        if (allowed == NULL)
            continue;
        bool known = false;
        for (size_t k = 0; allowed[k] != NULL && !known; k++)
            known = strcmp(allowed[k], name) == 0;
        if (!known)
            return unknown_key(yaml, key, path, allowed);
    }
    return 0;
}

yaml_node_t *mg_config_yaml_get(mg_config_yaml_t *yaml, const yaml_node_t *mapping, const char *key,
                                yaml_node_t **key_node)
{
    size_t count = mg_config_yaml_length(mapping);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *candidate = mg_config_yaml_pair_key(yaml, mapping, i);
        if (candidate->type != YAML_SCALAR_NODE || strcmp(mg_config_yaml_raw(candidate), key) != 0)
            continue;
        yaml_node_t *value = mg_config_yaml_pair_value(yaml, mapping, i);
        if (key_node != NULL)
            *key_node = candidate;
        return mg_config_yaml_is_null(value) ? NULL : value;
    }
    return NULL;
}

/* The expanded text of a non-null scalar; `expected` names the type for messages. */
static int scalar_text(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, const char *expected,
                       char **out)
{
    *out = NULL;
    if (node->type != YAML_SCALAR_NODE || mg_config_yaml_is_null(node))
        return mg_config_yaml_fail(yaml, node, path, "expected %s, got %s", expected, describe(node));
    const char *value = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    if (memchr(value, '\0', len) != NULL)
        return mg_config_yaml_fail(yaml, node, path, "must not contain a NUL character");
    mg_error_t detail;
    if (mg_config_expand(value, len, yaml->secrets, out, &detail) != 0)
        return mg_config_yaml_fail(yaml, node, path, "%s", detail.message);
    return 0;
}

int mg_config_yaml_string(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, char **out)
{
    return scalar_text(yaml, node, path, "a string", out);
}

int mg_config_yaml_int(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, long long min, long long max,
                       long long *out)
{
    char *text;
    if (scalar_text(yaml, node, path, "an integer", &text) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    bool digits = text[0] != '\0' && text[0] != '+' && text[0] != ' ' && text[0] != '\t' && text[0] != '\n';
    bool parsed = digits && end != text && *end == '\0';
    bool overflow = errno == ERANGE;
    free(text);
    if (!parsed)
        return mg_config_yaml_fail(yaml, node, path, "expected an integer, got \"%s\"", mg_config_yaml_raw(node));
    if (overflow || value < min || value > max)
        return mg_config_yaml_fail(yaml, node, path, "%s is out of range %lld..%lld", mg_config_yaml_raw(node), min,
                                   max);
    *out = value;
    return 0;
}

int mg_config_yaml_bool(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, bool *out)
{
    char *text;
    if (scalar_text(yaml, node, path, "true or false", &text) != 0)
        return -1;
    bool is_true = strcmp(text, "true") == 0, is_false = strcmp(text, "false") == 0;
    free(text);
    if (!is_true && !is_false)
        return mg_config_yaml_fail(yaml, node, path, "expected true or false, got \"%s\"", mg_config_yaml_raw(node));
    *out = is_true;
    return 0;
}
