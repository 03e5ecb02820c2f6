/*
 * yaml_tree.h - a located, typed view of a libyaml document for the config loader.
 *
 * The loader walks libyaml's node graph (yaml_parser_load) instead of a schema
 * library so that every node keeps its start mark: each accessor here takes the
 * node and its dotted path ("servers[1].name") and, on failure, fills the error
 * with "file:line:col: path: message" (1-based line and column) and returns -1.
 *
 * A scalar written as `~`, `null` or nothing at all (plain style) counts as an
 * absent key, so `env:` with nothing under it means "no env".
 * String values go through ${VAR} and ${secret:NAME} expansion (expand.c) exactly once; keys never do.
 */
#ifndef MG_CONFIG_YAML_TREE_H
#define MG_CONFIG_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "core/error.h"

/* Longest dotted path kept for messages; deeper paths are truncated, not rejected. */
#define MG_CONFIG_PATH_MAX 256

struct st_mg_secrets_resolver_t;

typedef struct st_mg_config_yaml_t {
    yaml_document_t document;
    bool loaded;                              /* document must be deleted */
    const char *name;                         /* file name used as the message prefix; borrowed */
    mg_error_t *err;                          /* may be NULL */
    struct st_mg_secrets_resolver_t *secrets; /* resolves ${secret:NAME}; NULL: such references are refused */
} mg_config_yaml_t;

/* Parses exactly one YAML document from `text`. The root may be NULL (empty input).
 * Always call mg_config_yaml_dispose afterwards, also on failure. */
int mg_config_yaml_load(mg_config_yaml_t *yaml, const char *text, size_t len, const char *name, mg_error_t *err);
void mg_config_yaml_dispose(mg_config_yaml_t *yaml);
/* NULL when the document is empty or only holds a null scalar. */
yaml_node_t *mg_config_yaml_root(mg_config_yaml_t *yaml);

/* Fills the error with "name:line:col: path: message" at `node` and returns -1. */
int mg_config_yaml_fail(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A malloc'd "name:line:col" naming `node` (NULL when out of memory, with the error set). */
char *mg_config_yaml_location(mg_config_yaml_t *yaml, const yaml_node_t *node);

/* Child paths: "" + key -> "key", "a" + key -> "a.key", "a" + 3 -> "a[3]". */
void mg_config_yaml_path_key(char *out, size_t size, const char *parent, const char *key);
void mg_config_yaml_path_index(char *out, size_t size, const char *parent, size_t index);

bool mg_config_yaml_is_null(const yaml_node_t *node);
/* The raw scalar text as written (before expansion), for quoting in messages. */
const char *mg_config_yaml_raw(const yaml_node_t *node);

int mg_config_yaml_expect_mapping(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path);
int mg_config_yaml_expect_sequence(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path);

/* Rejects non-scalar keys, duplicate keys and keys not in `allowed` (NULL-terminated),
 * suggesting the closest allowed key within edit distance 2. */
int mg_config_yaml_check_keys(mg_config_yaml_t *yaml, const yaml_node_t *mapping, const char *path,
                              const char *const *allowed);
/* Value of `key` in a checked mapping, or NULL when absent or null. `key_node` (optional)
 * receives the key's node, for messages about the key itself. */
yaml_node_t *mg_config_yaml_get(mg_config_yaml_t *yaml, const yaml_node_t *mapping, const char *key,
                                yaml_node_t **key_node);

size_t mg_config_yaml_length(const yaml_node_t *node); /* items of a sequence, pairs of a mapping */
yaml_node_t *mg_config_yaml_item(mg_config_yaml_t *yaml, const yaml_node_t *sequence, size_t index);
yaml_node_t *mg_config_yaml_pair_key(mg_config_yaml_t *yaml, const yaml_node_t *mapping, size_t index);
yaml_node_t *mg_config_yaml_pair_value(mg_config_yaml_t *yaml, const yaml_node_t *mapping, size_t index);

/* Scalar accessors. mg_config_yaml_string returns a malloc'd, expanded copy. */
int mg_config_yaml_string(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, char **out);
int mg_config_yaml_int(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, long long min, long long max,
                       long long *out);
int mg_config_yaml_bool(mg_config_yaml_t *yaml, const yaml_node_t *node, const char *path, bool *out);

#endif
