/*
 * resolve.c - identifiers and references: where each subschema's base URI comes from, what each $ref
 * and $dynamicRef points to, and the metaschemas compiled in.
 *
 * Registration happens during the walk: a document root is a resource under its base URI; $id
 * (draft-07: unless a $ref sits beside it, whose siblings that draft ignores) resolves against the
 * enclosing base and starts a resource; $anchor, $dynamicAnchor and draft-07's "#name" $id name a
 * node within its resource. References wait for the walk to end, then resolve against what was
 * registered: an absolute URI names a resource, and its fragment is empty, a JSON pointer from the
 * resource's root (percent-decoded, then ~1 and ~0), or an anchor. A pointer may end where the walk
 * never went (inside an unknown keyword); that value is compiled then, as its resource's member.
 *
 * Nothing is fetched, ever: a schema's references come from whoever wrote the schema, and a gateway
 * that followed them would send requests wherever a tool description says (server-side request
 * forgery). A reference to an unregistered resource fails with MG_SCHEMA_ERR_REMOTE, unless it names
 * a metaschema of draft 2020-12 or draft-07, which are compiled from copies embedded in the binary
 * (src/schema/metaschemas/, https://json-schema.org), on first use by a schema.
 *
 * $dynamicRef resolves like $ref; when its target carries a $dynamicAnchor of the fragment's name
 * (the "bookend"), evaluation looks the name up in the dynamic scope instead (validate.c), so each
 * resource root lists its dynamic anchors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

extern const char mg_schema_meta_draft_07[], mg_schema_meta_2020_12_schema[], mg_schema_meta_2020_12_core[],
    mg_schema_meta_2020_12_applicator[], mg_schema_meta_2020_12_unevaluated[], mg_schema_meta_2020_12_validation[],
    mg_schema_meta_2020_12_meta_data[], mg_schema_meta_2020_12_format_annotation[], mg_schema_meta_2020_12_content[];
extern const size_t mg_schema_meta_draft_07_len, mg_schema_meta_2020_12_schema_len, mg_schema_meta_2020_12_core_len,
    mg_schema_meta_2020_12_applicator_len, mg_schema_meta_2020_12_unevaluated_len,
    mg_schema_meta_2020_12_validation_len, mg_schema_meta_2020_12_meta_data_len,
    mg_schema_meta_2020_12_format_annotation_len, mg_schema_meta_2020_12_content_len;

/* URIs without their scheme: http and https name the same metaschema */
static const struct {
    const char *uri;
    const char *text;
    const size_t *len;
} embedded[] = {
    {"json-schema.org/draft-07/schema", mg_schema_meta_draft_07, &mg_schema_meta_draft_07_len},
    {"json-schema.org/draft/2020-12/schema", mg_schema_meta_2020_12_schema, &mg_schema_meta_2020_12_schema_len},
    {"json-schema.org/draft/2020-12/meta/core", mg_schema_meta_2020_12_core, &mg_schema_meta_2020_12_core_len},
    {"json-schema.org/draft/2020-12/meta/applicator", mg_schema_meta_2020_12_applicator,
     &mg_schema_meta_2020_12_applicator_len},
    {"json-schema.org/draft/2020-12/meta/unevaluated", mg_schema_meta_2020_12_unevaluated,
     &mg_schema_meta_2020_12_unevaluated_len},
    {"json-schema.org/draft/2020-12/meta/validation", mg_schema_meta_2020_12_validation,
     &mg_schema_meta_2020_12_validation_len},
    {"json-schema.org/draft/2020-12/meta/meta-data", mg_schema_meta_2020_12_meta_data,
     &mg_schema_meta_2020_12_meta_data_len},
    {"json-schema.org/draft/2020-12/meta/format-annotation", mg_schema_meta_2020_12_format_annotation,
     &mg_schema_meta_2020_12_format_annotation_len},
    {"json-schema.org/draft/2020-12/meta/content", mg_schema_meta_2020_12_content, &mg_schema_meta_2020_12_content_len},
};

static const char *without_scheme(const char *uri)
{
    if (strncmp(uri, "https://", 8) == 0)
        return uri + 8;
    if (strncmp(uri, "http://", 7) == 0)
        return uri + 7;
    return NULL;
}

bool mg_schema_known_dialect(const char *uri, mg_schema_draft_t *draft)
{
    const char *rest = without_scheme(uri);
    if (rest == NULL)
        return false;
    size_t len = strlen(rest);
    if (len > 0 && rest[len - 1] == '#')
        len--;
    if (len == strlen(embedded[0].uri) && memcmp(rest, embedded[0].uri, len) == 0) {
        *draft = MG_SCHEMA_DRAFT_7;
        return true;
    }
    if (len == strlen(embedded[1].uri) && memcmp(rest, embedded[1].uri, len) == 0) {
        *draft = MG_SCHEMA_DRAFT_2020_12;
        return true;
    }
    return false;
}

static int register_resource(mg_schema_compiler_t *c, const char *uri, mg_schema_node_t *node)
{
    mg_schema_node_t *existing = mg_schema_map_get(&c->resources, uri, strlen(uri));
    if (existing != NULL && existing != node) {
        mg_error_set(c->err, "invalid schema at %s/$id: \"%.200s\" identifies %s already", node->path, uri,
                     existing->path[0] != '\0' ? existing->path : "the root");
        return MG_SCHEMA_ERR_INVALID;
    }
    if (mg_schema_map_put(&c->resources, &c->schema->arena, uri, strlen(uri), node) != 0)
        return mg_schema_compile_nomem(c);
    return 0;
}

static int register_anchor(mg_schema_compiler_t *c, const char *base, const char *name, mg_schema_node_t *node,
                           const char *keyword)
{
    size_t base_len = strlen(base), name_len = strlen(name);
    char *key = malloc(base_len + 1 + name_len + 1);
    if (key == NULL)
        return mg_schema_compile_nomem(c);
    memcpy(key, base, base_len);
    key[base_len] = '#';
    memcpy(key + base_len + 1, name, name_len + 1);
    const mg_schema_node_t *existing = mg_schema_map_get(&c->schema->anchors, key, base_len + 1 + name_len);
    int rc = 0;
    if (existing != NULL && existing != node) {
        mg_error_set(c->err, "invalid schema at %s/%s: the anchor \"%.100s\" is defined twice in one resource",
                     node->path, keyword, name);
        rc = MG_SCHEMA_ERR_INVALID;
    } else if (mg_schema_map_put(&c->schema->anchors, &c->schema->arena, key, base_len + 1 + name_len, node) != 0)
        rc = mg_schema_compile_nomem(c);
    free(key);
    return rc;
}

static bool anchor_syntax(const char *name)
{
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (const char *p = name + 1; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.' || *p == '_'))
            return false;
    return true;
}

static int string_keyword(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object, const char *keyword,
                          const char **out)
{
    const json_t *value = json_object_get(object, keyword);
    *out = NULL;
    if (value == NULL)
        return 0;
    if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value)) {
        mg_error_set(c->err, "invalid schema at %s/%s: must be a string", node->path, keyword);
        return MG_SCHEMA_ERR_INVALID;
    }
    *out = json_string_value(value);
    return 0;
}

static int register_id(mg_schema_compiler_t *c, mg_schema_node_t *node, const char *id, mg_schema_site_t *site)
{
    char *resolved = mg_schema_uri_resolve(site->base, id);
    const char *fragment = NULL;
    char *uri = resolved != NULL ? mg_schema_uri_split(resolved, &fragment) : NULL;
    int rc = 0;
    if (uri == NULL)
        rc = mg_schema_compile_nomem(c);
    else if (fragment != NULL && fragment[0] != '\0' && node->draft != MG_SCHEMA_DRAFT_7) {
        mg_error_set(c->err, "invalid schema at %s/$id: \"%.200s\" has a fragment (name a location with $anchor)",
                     node->path, id);
        rc = MG_SCHEMA_ERR_INVALID;
    } else if (strcmp(uri, site->base) != 0) {
        const char *base = mg_schema_arena_strndup(&c->schema->arena, uri, strlen(uri));
        if (base == NULL)
            rc = mg_schema_compile_nomem(c);
        else if ((rc = register_resource(c, base, node)) == 0) {
            site->base = base;
            site->resource = node;
        }
    }
    /* draft-07's location-independent identifier: "$id": "#name" */
    if (rc == 0 && fragment != NULL && fragment[0] != '\0')
        rc = register_anchor(c, site->base, fragment, node, "$id");
    free(uri);
    free(resolved);
    return rc;
}

static int add_dynamic_anchor(mg_schema_compiler_t *c, mg_schema_node_t *resource, const char *name,
                              mg_schema_node_t *node)
{
    if (c->dynamic_anchors_len == c->dynamic_anchors_cap) {
        size_t cap = c->dynamic_anchors_cap == 0 ? 16 : c->dynamic_anchors_cap * 2;
        mg_schema_dynamic_anchor_t *grown = realloc(c->dynamic_anchors, cap * sizeof(*grown));
        if (grown == NULL)
            return mg_schema_compile_nomem(c);
        c->dynamic_anchors = grown;
        c->dynamic_anchors_cap = cap;
    }
    c->dynamic_anchors[c->dynamic_anchors_len++] = (mg_schema_dynamic_anchor_t){resource, name, node};
    return 0;
}

int mg_schema_register_identifiers(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                                   mg_schema_site_t *site)
{
    int rc;
    if (site->resource == NULL) {
        site->resource = node;
        if ((rc = register_resource(c, site->base, node)) != 0)
            return rc;
    }
    if (!json_is_object(object))
        return 0;
    const char *id, *anchor, *dynamic_anchor;
    bool draft7 = node->draft == MG_SCHEMA_DRAFT_7;
    if (!(draft7 && json_object_get(object, "$ref") != NULL)) {
        if ((rc = string_keyword(c, node, object, "$id", &id)) != 0)
            return rc;
        if (id != NULL && (rc = register_id(c, node, id, site)) != 0)
            return rc;
    }
    if (draft7)
        return 0;
    if ((rc = string_keyword(c, node, object, "$anchor", &anchor)) != 0 ||
        (rc = string_keyword(c, node, object, "$dynamicAnchor", &dynamic_anchor)) != 0)
        return rc;
    const char *names[2] = {anchor, dynamic_anchor}, *keywords[2] = {"$anchor", "$dynamicAnchor"};
    for (int i = 0; i < 2; i++) {
        if (names[i] == NULL)
            continue;
        if (!anchor_syntax(names[i])) {
            mg_error_set(c->err, "invalid schema at %s/%s: \"%.100s\" is not a valid anchor name", node->path,
                         keywords[i], names[i]);
            return MG_SCHEMA_ERR_INVALID;
        }
        if ((rc = register_anchor(c, site->base, names[i], node, keywords[i])) != 0)
            return rc;
    }
    if (dynamic_anchor != NULL) {
        if ((node->dynamic_anchor =
                 mg_schema_arena_strndup(&c->schema->arena, dynamic_anchor, strlen(dynamic_anchor))) == NULL)
            return mg_schema_compile_nomem(c);
        return add_dynamic_anchor(c, site->resource, node->dynamic_anchor, node);
    }
    return 0;
}

int mg_schema_add_pending(mg_schema_compiler_t *c, mg_schema_node_t *node, const char *ref, const char *base,
                          bool dynamic)
{
    mg_schema_pending_ref_t *pending = malloc(sizeof(*pending));
    if (pending == NULL)
        return mg_schema_compile_nomem(c);
    *pending = (mg_schema_pending_ref_t){node, ref, base, dynamic, c->pending};
    c->pending = pending;
    return 0;
}

/* Compiles an embedded metaschema named `uri` (no fragment), if there is one; sets *canonical to the
 * URI it registered under. 0 with *canonical NULL: not a metaschema. */
static int load_embedded(mg_schema_compiler_t *c, const char *uri, const char **canonical)
{
    *canonical = NULL;
    const char *rest = without_scheme(uri);
    size_t i = 0, count = sizeof(embedded) / sizeof(embedded[0]);
    while (rest != NULL && i < count && strcmp(rest, embedded[i].uri) != 0)
        i++;
    if (rest == NULL || i == count)
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb(embedded[i].text, *embedded[i].len, 0, &jerr);
    mg_schema_document_t *doc = root != NULL ? calloc(1, sizeof(*doc)) : NULL;
    char *label = malloc(strlen(embedded[i].uri) + 9);
    if (doc == NULL || label == NULL) {
        json_decref(root);
        free(doc);
        free(label);
        return mg_schema_compile_nomem(c);
    }
    sprintf(label, "https://%s", embedded[i].uri);
    doc->label = mg_schema_arena_strndup(&c->schema->arena, label, strlen(label));
    free(label);
    if (doc->label == NULL) {
        json_decref(root);
        free(doc);
        return mg_schema_compile_nomem(c);
    }
    doc->root = doc->owned = root;
    doc->next = c->documents->next;
    c->documents->next = doc;
    const json_t *dialect = json_object_get(root, "$schema");
    if (!mg_schema_known_dialect(json_string_value(dialect) != NULL ? json_string_value(dialect) : "", &doc->draft))
        doc->draft = MG_SCHEMA_DRAFT_2020_12;
    mg_schema_site_t site = {doc, doc->label, NULL, 0};
    mg_schema_path_set(c, ""); /* never grows */
    mg_schema_node_t *node;
    int rc = mg_schema_compile_value(c, root, &site, &node);
    *canonical = doc->label;
    return rc;
}

/* The node at `pointer` (percent-decoded, from '/') below the resource root `resource`. */
static int resolve_pointer(mg_schema_compiler_t *c, const mg_schema_pending_ref_t *p, mg_schema_node_t *resource,
                           const char *pointer, size_t len, mg_schema_node_t **out)
{
    const mg_schema_node_info_t *info = &c->nodes[resource->index];
    const json_t *value = info->source;
    if (mg_schema_path_set(c, resource->path) != 0)
        return mg_schema_compile_nomem(c);
    char *token = malloc(len + 1);
    if (token == NULL)
        return mg_schema_compile_nomem(c);
    for (size_t at = 1; at <= len && value != NULL;) {
        size_t end = at;
        while (end < len && pointer[end] != '/')
            end++;
        size_t token_len = 0;
        for (size_t i = at; i < end; i++) {
            if (pointer[i] == '~' && i + 1 < end && (pointer[i + 1] == '0' || pointer[i + 1] == '1'))
                token[token_len++] = pointer[++i] == '0' ? '~' : '/';
            else
                token[token_len++] = pointer[i];
        }
        if (json_is_object(value))
            value = json_object_getn(value, token, token_len);
        else if (json_is_array(value)) {
            size_t index = 0;
            bool digits = token_len > 0 && (token_len == 1 || token[0] != '0');
            for (size_t i = 0; digits && i < token_len; i++) {
                digits = token[i] >= '0' && token[i] <= '9' && index < SIZE_MAX / 10;
                index = index * 10 + (size_t)(token[i] - '0');
            }
            value = digits ? json_array_get(value, index) : NULL;
        } else
            value = NULL;
        if (mg_schema_path_push(c, token, token_len) == SIZE_MAX) {
            free(token);
            return mg_schema_compile_nomem(c);
        }
        at = end + 1;
    }
    free(token);
    if (value == NULL) {
        mg_error_set(c->err, "invalid schema at %s/%s: \"%.200s\" points to no location of the document", p->node->path,
                     p->dynamic ? "$dynamicRef" : "$ref", p->ref);
        return MG_SCHEMA_ERR_INVALID;
    }
    mg_schema_site_t site = {info->document, info->base, resource, info->depth + 1};
    return mg_schema_compile_value(c, value, &site, out);
}

static int resolve_one(mg_schema_compiler_t *c, const mg_schema_pending_ref_t *p)
{
    const char *keyword = p->dynamic ? "$dynamicRef" : "$ref";
    char *absolute = mg_schema_uri_resolve(p->base, p->ref);
    const char *fragment = NULL;
    char *uri = absolute != NULL ? mg_schema_uri_split(absolute, &fragment) : NULL;
    char *decoded = NULL;
    size_t decoded_len = 0;
    int rc = 0;
    if (uri == NULL) {
        rc = mg_schema_compile_nomem(c);
        goto done;
    }
    mg_schema_node_t *resource = mg_schema_map_get(&c->resources, uri, strlen(uri)), *target = NULL;
    if (resource == NULL) {
        const char *canonical;
        if ((rc = load_embedded(c, uri, &canonical)) != 0)
            goto done;
        if (canonical != NULL)
            resource = mg_schema_map_get(&c->resources, canonical, strlen(canonical));
    }
    if (resource == NULL) {
        /* relative to a document without $id: show it relative, not under the made-up base */
        size_t prefix = strlen(MG_SCHEMA_DEFAULT_BASE_PREFIX);
        const char *shown = strncmp(uri, MG_SCHEMA_DEFAULT_BASE_PREFIX, prefix) == 0 ? uri + prefix : uri;
        mg_error_set(c->err,
                     "remote reference: %s \"%.200s\" at %s resolves to \"%.200s\", outside the schema document; "
                     "remote references are never fetched",
                     keyword, p->ref, p->node->path[0] != '\0' ? p->node->path : "the root", shown);
        rc = MG_SCHEMA_ERR_REMOTE;
        goto done;
    }
    if (fragment != NULL && (decoded = mg_schema_percent_decode(fragment, strlen(fragment), &decoded_len)) == NULL) {
        mg_error_set(c->err, "invalid schema at %s/%s: \"%.200s\" has a bad percent-escape", p->node->path, keyword,
                     p->ref);
        rc = MG_SCHEMA_ERR_INVALID;
        goto done;
    }
    if (decoded == NULL || decoded_len == 0)
        target = resource;
    else if (decoded[0] == '/')
        rc = resolve_pointer(c, p, resource, decoded, decoded_len, &target);
    else {
        const char *base = c->nodes[resource->index].base;
        size_t base_len = strlen(base);
        char *key = malloc(base_len + 1 + decoded_len + 1);
        if (key == NULL) {
            rc = mg_schema_compile_nomem(c);
            goto done;
        }
        memcpy(key, base, base_len);
        key[base_len] = '#';
        memcpy(key + base_len + 1, decoded, decoded_len + 1);
        target = mg_schema_map_get(&c->schema->anchors, key, base_len + 1 + decoded_len);
        free(key);
        if (target == NULL) {
            mg_error_set(c->err, "invalid schema at %s/%s: \"%.200s\": no anchor \"%.100s\" in \"%.200s\"",
                         p->node->path, keyword, p->ref, decoded, uri);
            rc = MG_SCHEMA_ERR_INVALID;
        }
    }
    if (rc != 0)
        goto done;
    if (!p->dynamic)
        p->node->ref = target;
    else {
        p->node->dynamic_ref = target;
        if (decoded != NULL && decoded_len > 0 && decoded[0] != '/' && target->dynamic_anchor != NULL &&
            strcmp(target->dynamic_anchor, decoded) == 0) {
            p->node->dynamic_ref_anchor = target->dynamic_anchor;
            c->schema->dynamic = true;
        }
    }
done:
    free(decoded);
    free(uri);
    free(absolute);
    return rc;
}

/* Each resource root gets the array of its dynamic anchors. */
static int list_dynamic_anchors(mg_schema_compiler_t *c)
{
    for (size_t i = 0; i < c->dynamic_anchors_len; i++)
        c->dynamic_anchors[i].resource->dynamic_anchors_len++;
    for (size_t i = 0; i < c->dynamic_anchors_len; i++) {
        mg_schema_node_t *resource = c->dynamic_anchors[i].resource;
        if (resource->dynamic_anchors == NULL) {
            resource->dynamic_anchors =
                mg_schema_arena_alloc(&c->schema->arena, resource->dynamic_anchors_len * sizeof(mg_schema_anchor_t));
            if (resource->dynamic_anchors == NULL)
                return mg_schema_compile_nomem(c);
            resource->dynamic_anchors_len = 0;
        }
        mg_schema_anchor_t *slot = (mg_schema_anchor_t *)&resource->dynamic_anchors[resource->dynamic_anchors_len++];
        slot->name = c->dynamic_anchors[i].name;
        slot->node = c->dynamic_anchors[i].node;
    }
    return 0;
}

int mg_schema_resolve_pending(mg_schema_compiler_t *c)
{
    while (c->pending != NULL) {
        mg_schema_pending_ref_t *p = c->pending;
        c->pending = p->next;
        int rc = resolve_one(c, p);
        free(p);
        if (rc != 0)
            return rc;
    }
    return list_dynamic_anchors(c);
}

/* ---- strict mode ---- */

enum { DECLARES = 1, SAYS = 2 };

static uint8_t own_flags(const mg_schema_node_t *node)
{
    uint8_t flags = 0;
    if (node->keywords & (KW_PROPERTIES | KW_PATTERN_PROPERTIES))
        flags |= DECLARES;
    if (node->keywords & (KW_ADDITIONAL_PROPERTIES | KW_UNEVALUATED_PROPERTIES))
        flags |= SAYS;
    return flags;
}

static uint8_t in_place_flags(const mg_schema_node_t *node, const uint8_t *flags)
{
    uint8_t out = flags[node->index];
    const mg_schema_node_t *single[] = {node->ref, node->dynamic_ref, node->if_schema, node->then_schema,
                                        node->else_schema};
    for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
        if (single[i] != NULL)
            out |= flags[single[i]->index];
    for (size_t i = 0; i < node->all_of_len; i++)
        out |= flags[node->all_of[i]->index];
    for (size_t i = 0; i < node->any_of_len; i++)
        out |= flags[node->any_of[i]->index];
    for (size_t i = 0; i < node->one_of_len; i++)
        out |= flags[node->one_of[i]->index];
    for (size_t i = 0; i < node->dependents_len; i++)
        if (node->dependents[i].node != NULL)
            out |= flags[node->dependents[i].node->index];
    return out;
}

int mg_schema_derive_flags(mg_schema_compiler_t *c)
{
    if (!c->options->strict)
        return 0;
    uint8_t *flags = calloc(c->nodes_len, 1);
    if (flags == NULL)
        return mg_schema_compile_nomem(c);
    for (size_t i = 0; i < c->nodes_len; i++)
        flags[i] = own_flags(c->nodes[i].node);
    /* a fixed point over the in-place graph, cycles included; children usually come after their
     * parents, so walking backwards settles most graphs in one or two rounds */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = c->nodes_len; i-- > 0;) {
            uint8_t updated = in_place_flags(c->nodes[i].node, flags);
            if (updated != flags[i]) {
                flags[i] = updated;
                changed = true;
            }
        }
    }
    for (size_t i = 0; i < c->nodes_len; i++)
        c->nodes[i].node->strict = flags[i] == DECLARES;
    free(flags);
    return 0;
}
