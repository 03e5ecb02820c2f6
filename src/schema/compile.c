/*
 * compile.c - a JSON Schema document turned into nodes: one per subschema, reached through the
 * keywords that take schemas, plus the targets of JSON-pointer references that sit elsewhere.
 *
 * Compilation is one walk of the document, then a loop over the references it met (resolve.c): a
 * reference may point to a location not yet compiled (a pointer into an unknown keyword) or to an
 * embedded metaschema, whose compilation may add references of its own. Base URIs and anchors are
 * registered during the walk, which is why references wait for its end. Then the flags strict mode
 * needs are derived over the whole graph (cycles included), and what only compilation needed (the
 * borrowed JSON values, the per-document maps of the metaschemas) is dropped: the compiled schema
 * does not refer to the caller's document.
 *
 * The limits are checked as the walk goes: a subschema deeper than max_depth, the node count past
 * max_nodes, and (keywords.c) an array or object keyword wider than max_fanout each stop
 * compilation with the location where it happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

#define REGEX_MATCH_LIMIT 100000
#define REGEX_DEPTH_LIMIT 2000
#define REGEX_HEAP_LIMIT_KIB 4096

void mg_schema_options_default(mg_schema_options_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->default_draft = MG_SCHEMA_DRAFT_2020_12;
    opts->max_nodes = MG_SCHEMA_DEFAULT_MAX_NODES;
    opts->max_depth = MG_SCHEMA_DEFAULT_MAX_DEPTH;
    opts->max_fanout = MG_SCHEMA_DEFAULT_MAX_FANOUT;
    opts->max_instance_depth = MG_SCHEMA_DEFAULT_MAX_INSTANCE_DEPTH;
    opts->max_steps = MG_SCHEMA_DEFAULT_MAX_STEPS;
}

const char *mg_schema_draft_name(mg_schema_draft_t draft)
{
    return draft == MG_SCHEMA_DRAFT_7 ? "draft7" : "draft2020-12";
}

int mg_schema_compile_nomem(mg_schema_compiler_t *c)
{
    mg_error_set(c->err, "out of memory compiling a schema");
    return MG_SCHEMA_ERR_NOMEM;
}

size_t mg_schema_path_push(mg_schema_compiler_t *c, const char *segment, size_t len)
{
    size_t old = c->path_len;
    size_t need = old + 1 + 2 * len + 1;
    if (need > c->path_cap) {
        size_t cap = need * 2;
        char *grown = realloc(c->path, cap);
        if (grown == NULL)
            return SIZE_MAX;
        c->path = grown;
        c->path_cap = cap;
    }
    c->path[old] = '/';
    c->path[old + 1] = '\0';
    c->path_len = mg_schema_pointer_escape(c->path, c->path_cap, segment, len);
    return old;
}

int mg_schema_path_set(mg_schema_compiler_t *c, const char *path)
{
    size_t len = strlen(path);
    if (len + 1 > c->path_cap) {
        char *grown = realloc(c->path, len + 1);
        if (grown == NULL)
            return -1;
        c->path = grown;
        c->path_cap = len + 1;
    }
    memcpy(c->path, path, len + 1);
    c->path_len = len;
    return 0;
}

void mg_schema_path_pop(mg_schema_compiler_t *c, size_t old_len)
{
    c->path_len = old_len;
    c->path[old_len] = '\0';
}

int mg_schema_keep_value(mg_schema_compiler_t *c, const json_t *value, const json_t **out)
{
    mg_schema_t *schema = c->schema;
    if (schema->values_len == schema->values_cap) {
        size_t cap = schema->values_cap == 0 ? 8 : schema->values_cap * 2;
        json_t **grown = realloc(schema->values, cap * sizeof(*grown));
        if (grown == NULL)
            return mg_schema_compile_nomem(c);
        schema->values = grown;
        schema->values_cap = cap;
    }
    /* a copy: the caller's document may change or go once compile returns */
    json_t *copy = json_deep_copy(value);
    if (copy == NULL)
        return mg_schema_compile_nomem(c);
    schema->values[schema->values_len++] = copy;
    *out = copy;
    return 0;
}

int mg_schema_keep_code(mg_schema_compiler_t *c, pcre2_code *code)
{
    mg_schema_t *schema = c->schema;
    if (schema->codes_len == schema->codes_cap) {
        size_t cap = schema->codes_cap == 0 ? 8 : schema->codes_cap * 2;
        pcre2_code **grown = realloc(schema->codes, cap * sizeof(*grown));
        if (grown == NULL) {
            pcre2_code_free(code);
            return mg_schema_compile_nomem(c);
        }
        schema->codes = grown;
        schema->codes_cap = cap;
    }
    schema->codes[schema->codes_len++] = code;
    return 0;
}

static const char *json_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static int add_node(mg_schema_compiler_t *c, const json_t *value, const mg_schema_site_t *site, mg_schema_node_t **out)
{
    if (c->nodes_len == c->nodes_cap) {
        size_t cap = c->nodes_cap == 0 ? 64 : c->nodes_cap * 2;
        mg_schema_node_info_t *grown = realloc(c->nodes, cap * sizeof(*grown));
        if (grown == NULL)
            return mg_schema_compile_nomem(c);
        c->nodes = grown;
        c->nodes_cap = cap;
    }
    mg_schema_node_t *node = mg_schema_arena_alloc(&c->schema->arena, sizeof(*node));
    if (node == NULL || (node->path = mg_schema_arena_strndup(&c->schema->arena, c->path, c->path_len)) == NULL)
        return mg_schema_compile_nomem(c);
    node->index = (uint32_t)c->nodes_len;
    node->document = site->document->label;
    node->draft = (uint8_t)site->document->draft;
    node->max_contains = SIZE_MAX;
    node->min_contains = 1;
    node->max_length = node->max_items = node->max_properties = SIZE_MAX;
    c->nodes[c->nodes_len++] = (mg_schema_node_info_t){node, value, site->base, site->depth, site->document};
    if (mg_schema_map_put(&site->document->nodes, &c->schema->arena, c->path, c->path_len, node) != 0)
        return mg_schema_compile_nomem(c);
    *out = node;
    return 0;
}

int mg_schema_compile_value(mg_schema_compiler_t *c, const json_t *value, const mg_schema_site_t *site,
                            mg_schema_node_t **out)
{
    mg_schema_node_t *existing = mg_schema_map_get(&site->document->nodes, c->path, c->path_len);
    if (existing != NULL) {
        *out = existing;
        return 0;
    }
    const char *where = c->path_len > 0 ? c->path : "the root";
    if (site->depth > c->options->max_depth) {
        mg_error_set(c->err, "schema too deep: more than %zu levels at %s", c->options->max_depth, where);
        return MG_SCHEMA_ERR_LIMIT;
    }
    if (c->nodes_len >= c->options->max_nodes) {
        mg_error_set(c->err, "schema too large: more than %zu subschemas (at %s)", c->options->max_nodes, where);
        return MG_SCHEMA_ERR_LIMIT;
    }
    if (!json_is_object(value) && !json_is_boolean(value)) {
        mg_error_set(c->err, "invalid schema at %s: a schema must be an object or a boolean, not %s", where,
                     json_type_name(value));
        return MG_SCHEMA_ERR_INVALID;
    }
    mg_schema_node_t *node = NULL;
    int rc = add_node(c, value, site, &node);
    if (rc != 0)
        return rc;
    *out = node;
    mg_schema_site_t here = *site;
    if ((rc = mg_schema_register_identifiers(c, node, value, &here)) != 0)
        return rc;
    node->resource = here.resource;
    c->nodes[node->index].base = here.base;
    if (json_is_boolean(value)) {
        node->kind = json_is_true(value) ? NODE_TRUE : NODE_FALSE;
        return 0;
    }
    node->kind = NODE_SCHEMA;
    return mg_schema_compile_keywords(c, node, value, &here);
}

int mg_schema_compile_child(mg_schema_compiler_t *c, const json_t *value, const mg_schema_site_t *site,
                            const char *segment, size_t segment_len, mg_schema_node_t **out)
{
    size_t old = mg_schema_path_push(c, segment, segment_len);
    if (old == SIZE_MAX)
        return mg_schema_compile_nomem(c);
    mg_schema_site_t child = *site;
    child.depth++;
    int rc = mg_schema_compile_value(c, value, &child, out);
    mg_schema_path_pop(c, old);
    return rc;
}

static void schema_destroy(mg_schema_t *schema)
{
    for (size_t i = 0; i < schema->codes_len; i++)
        pcre2_code_free(schema->codes[i]);
    free(schema->codes);
    for (size_t i = 0; i < schema->values_len; i++)
        json_decref(schema->values[i]);
    free(schema->values);
    pcre2_match_context_free(schema->match_context);
    mg_schema_map_dispose(&schema->nodes);
    mg_schema_map_dispose(&schema->anchors);
    mg_schema_arena_dispose(&schema->arena);
    free(schema);
}

mg_schema_t *mg_schema_retain(mg_schema_t *schema)
{
    if (schema != NULL)
        atomic_fetch_add_explicit(&schema->refcount, 1, memory_order_relaxed);
    return schema;
}

void mg_schema_release(mg_schema_t *schema)
{
    if (schema != NULL && atomic_fetch_sub_explicit(&schema->refcount, 1, memory_order_acq_rel) == 1)
        schema_destroy(schema);
}

static void compiler_dispose(mg_schema_compiler_t *c)
{
    mg_schema_document_t *doc = c->documents;
    while (doc != NULL) {
        mg_schema_document_t *next = doc->next;
        mg_schema_map_dispose(&doc->nodes);
        json_decref(doc->owned);
        free(doc);
        doc = next;
    }
    free(c->nodes);
    free(c->dynamic_anchors);
    mg_schema_map_dispose(&c->resources);
    while (c->pending != NULL) {
        mg_schema_pending_ref_t *next = c->pending->next;
        free(c->pending);
        c->pending = next;
    }
    free(c->path);
    pcre2_compile_context_free(c->compile_context);
}

/* The root's draft: its $schema if this engine knows it, else the default. */
static int document_draft(mg_schema_compiler_t *c, const json_t *root, mg_schema_draft_t *draft)
{
    *draft = c->options->default_draft;
    const json_t *dialect = json_is_object(root) ? json_object_get(root, "$schema") : NULL;
    if (dialect == NULL)
        return 0;
    if (!json_is_string(dialect)) {
        mg_error_set(c->err, "invalid schema at /$schema: must be a string (a metaschema URI)");
        return MG_SCHEMA_ERR_INVALID;
    }
    if (mg_schema_known_dialect(json_string_value(dialect), draft))
        return 0;
    if (c->options->reject_unknown_dialect) {
        mg_error_set(c->err,
                     "remote reference: $schema \"%.200s\" is not a metaschema this engine knows (draft 2020-12 or "
                     "draft-07), and metaschemas are never fetched",
                     json_string_value(dialect));
        return MG_SCHEMA_ERR_REMOTE;
    }
    return 0;
}

static int compiler_init(mg_schema_compiler_t *c, mg_schema_t *schema, const mg_schema_options_t *options,
                         mg_error_t *err)
{
    memset(c, 0, sizeof(*c));
    c->schema = schema;
    c->options = options;
    c->err = err;
    c->path_cap = 256;
    if ((c->path = malloc(c->path_cap)) == NULL)
        return mg_schema_compile_nomem(c);
    c->path[0] = '\0';
    if ((c->compile_context = pcre2_compile_context_create(NULL)) == NULL ||
        (schema->match_context = pcre2_match_context_create(NULL)) == NULL)
        return mg_schema_compile_nomem(c);
    /* ECMA-262's \uXXXX and \u{...} escapes, which patterns written for JavaScript use */
    pcre2_set_compile_extra_options(c->compile_context, PCRE2_EXTRA_ALT_BSUX);
    pcre2_set_match_limit(schema->match_context, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(schema->match_context, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(schema->match_context, REGEX_HEAP_LIMIT_KIB);
    return 0;
}

void mg_schema_options_normalize(const mg_schema_options_t *in, mg_schema_options_t *out)
{
    mg_schema_options_default(out);
    if (in == NULL)
        return;
    *out = *in;
    mg_schema_options_t defaults;
    mg_schema_options_default(&defaults);
    /* 0 means "the default", so that a zeroed struct with only some fields set is usable */
    if (out->max_nodes == 0)
        out->max_nodes = defaults.max_nodes;
    if (out->max_depth == 0)
        out->max_depth = defaults.max_depth;
    if (out->max_fanout == 0)
        out->max_fanout = defaults.max_fanout;
    if (out->max_instance_depth == 0)
        out->max_instance_depth = defaults.max_instance_depth;
    if (out->max_instance_depth > MG_SCHEMA_INSTANCE_DEPTH_LIMIT)
        out->max_instance_depth = MG_SCHEMA_INSTANCE_DEPTH_LIMIT;
    if (out->max_steps == 0)
        out->max_steps = defaults.max_steps;
    if (out->default_draft != MG_SCHEMA_DRAFT_7)
        out->default_draft = MG_SCHEMA_DRAFT_2020_12;
}

int mg_schema_compile(const json_t *json, const mg_schema_options_t *opts, mg_schema_t **out, mg_error_t *err)
{
    *out = NULL;
    if (json == NULL)
        return mg_error_set(err, "no schema"), MG_SCHEMA_ERR_INVALID;
    mg_schema_t *schema = calloc(1, sizeof(*schema));
    if (schema == NULL)
        return mg_error_set(err, "out of memory compiling a schema"), MG_SCHEMA_ERR_NOMEM;
    atomic_init(&schema->refcount, 1);
    mg_schema_options_normalize(opts, &schema->options);
    mg_schema_compiler_t c;
    int rc = compiler_init(&c, schema, &schema->options, err);
    mg_schema_document_t *doc = rc == 0 ? calloc(1, sizeof(*doc)) : NULL;
    if (rc == 0 && doc == NULL)
        rc = mg_schema_compile_nomem(&c);
    if (rc == 0) {
        c.documents = doc;
        doc->root = json;
        rc = document_draft(&c, json, &doc->draft);
    }
    mg_schema_node_t *root = NULL;
    if (rc == 0) {
        mg_schema_site_t site = {doc, MG_SCHEMA_DEFAULT_BASE, NULL, 0};
        rc = mg_schema_compile_value(&c, json, &site, &root);
    }
    if (rc == 0)
        rc = mg_schema_resolve_pending(&c);
    if (rc == 0)
        rc = mg_schema_derive_flags(&c);
    if (rc == 0) {
        schema->root = root;
        schema->draft = doc->draft;
        schema->root_uri = c.nodes[root->index].base; /* in the arena, or MG_SCHEMA_DEFAULT_BASE */
        /* the compiled document's map stays, for mg_schema_find */
        schema->nodes = doc->nodes;
        memset(&doc->nodes, 0, sizeof(doc->nodes));
        *out = schema;
    }
    compiler_dispose(&c);
    if (rc != 0) {
        schema_destroy(schema);
        *out = NULL;
    }
    return rc;
}

const mg_schema_node_t *mg_schema_root(const mg_schema_t *schema)
{
    return schema->root;
}

const char *mg_schema_node_path(const mg_schema_node_t *node)
{
    return node->path;
}

mg_schema_draft_t mg_schema_draft(const mg_schema_t *schema)
{
    return schema->draft;
}

const mg_schema_node_t *mg_schema_find(const mg_schema_t *schema, const char *fragment)
{
    if (fragment == NULL)
        return NULL;
    if (fragment[0] == '#')
        fragment++;
    if (fragment[0] == '\0')
        return schema->root;
    size_t len;
    char *decoded = mg_schema_percent_decode(fragment, strlen(fragment), &len);
    if (decoded == NULL)
        return NULL;
    const mg_schema_node_t *found = NULL;
    if (strlen(decoded) != len) { /* a NUL byte: no location is named so */
        free(decoded);
        return NULL;
    }
    if (decoded[0] == '/') {
        /* re-escape each token the way compilation wrote paths */
        size_t cap = 2 * len + 2;
        char *path = malloc(cap), *token = malloc(len + 1);
        if (path != NULL && token != NULL) {
            path[0] = '\0';
            for (size_t at = 1; at <= len;) {
                size_t end = at + strcspn(decoded + at, "/"), token_len = 0;
                for (size_t i = at; i < end; i++) {
                    if (decoded[i] == '~' && i + 1 < end && (decoded[i + 1] == '0' || decoded[i + 1] == '1'))
                        token[token_len++] = decoded[++i] == '0' ? '~' : '/';
                    else
                        token[token_len++] = decoded[i];
                }
                size_t path_len = strlen(path);
                path[path_len] = '/';
                path[path_len + 1] = '\0';
                mg_schema_pointer_escape(path, cap, token, token_len);
                at = end + 1;
            }
            found = mg_schema_map_get(&schema->nodes, path, strlen(path));
        }
        free(path);
        free(token);
    } else {
        size_t uri_len = strlen(schema->root_uri);
        char *key = malloc(uri_len + 1 + len + 1);
        if (key != NULL) {
            memcpy(key, schema->root_uri, uri_len);
            key[uri_len] = '#';
            memcpy(key + uri_len + 1, decoded, len + 1);
            found = mg_schema_map_get(&schema->anchors, key, uri_len + 1 + len);
            free(key);
        }
    }
    free(decoded);
    return found;
}
