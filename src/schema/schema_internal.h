/*
 * schema_internal.h - what the files of src/schema share.
 *
 * compile.c walks the document and makes one node per subschema; keywords.c reads each keyword's
 * value into its node; resolve.c registers base URIs and anchors, resolves $ref / $dynamicRef to node
 * pointers (uri.c does RFC 3986), brings in the embedded metaschemas and derives strict mode's flags;
 * validate.c and instance.c evaluate; values.c compares and measures JSON values; format.c checks
 * formats; result.c records violations and renders them.
 *
 * A node is laid out for evaluation: a bit per keyword present (so a node tests one mask per
 * instance type), children as pointers, properties in a small hash table for one probe per
 * instance member, patterns compiled (and JIT-compiled) once. Everything a compiled schema owns sits
 * in its arena, apart from PCRE2's codes and the copied enum / const values, which it lists.
 */
#ifndef MG_SCHEMA_INTERNAL_H
#define MG_SCHEMA_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>

#include "schema/schema.h"

/* ---- keywords ---- */

enum {
    KW_TYPE = 1u << 0,
    KW_ENUM = 1u << 1,
    KW_CONST = 1u << 2,
    KW_MULTIPLE_OF = 1u << 3,
    KW_MAXIMUM = 1u << 4,
    KW_MINIMUM = 1u << 5,
    KW_EXCLUSIVE_MAXIMUM = 1u << 6,
    KW_EXCLUSIVE_MINIMUM = 1u << 7,
    KW_MAX_LENGTH = 1u << 8,
    KW_MIN_LENGTH = 1u << 9,
    KW_PATTERN = 1u << 10,
    KW_FORMAT = 1u << 11, /* only when formats are validated and the format is one this engine checks */
    KW_PREFIX_ITEMS = 1u << 12,
    KW_ITEMS = 1u << 13, /* the schema for items after prefixItems (draft-07: items or additionalItems) */
    KW_CONTAINS = 1u << 14,
    KW_MAX_ITEMS = 1u << 15,
    KW_MIN_ITEMS = 1u << 16,
    KW_UNIQUE_ITEMS = 1u << 17,
    KW_MAX_PROPERTIES = 1u << 18,
    KW_MIN_PROPERTIES = 1u << 19,
    KW_REQUIRED = 1u << 20,
    KW_PROPERTIES = 1u << 21,
    KW_PATTERN_PROPERTIES = 1u << 22,
    KW_ADDITIONAL_PROPERTIES = 1u << 23,
    KW_PROPERTY_NAMES = 1u << 24,
    KW_DEPENDENTS = 1u << 25, /* dependentRequired, dependentSchemas, dependencies */
    KW_REF = 1u << 26,
    KW_DYNAMIC_REF = 1u << 27,
    KW_ALL_OF = 1u << 28,
    KW_ANY_OF = 1u << 29,
    KW_ONE_OF = 1u << 30,
    KW_NOT = 1u << 31,
};
#define KW_IF (UINT64_C(1) << 32) /* with then and/or else */
#define KW_UNEVALUATED_PROPERTIES (UINT64_C(1) << 33)
#define KW_UNEVALUATED_ITEMS (UINT64_C(1) << 34)

#define KW_NUMBER_MASK (KW_MULTIPLE_OF | KW_MAXIMUM | KW_MINIMUM | KW_EXCLUSIVE_MAXIMUM | KW_EXCLUSIVE_MINIMUM)
#define KW_STRING_MASK (KW_MAX_LENGTH | KW_MIN_LENGTH | KW_PATTERN | KW_FORMAT)
#define KW_ARRAY_MASK (KW_PREFIX_ITEMS | KW_ITEMS | KW_CONTAINS | KW_MAX_ITEMS | KW_MIN_ITEMS | KW_UNIQUE_ITEMS)
#define KW_OBJECT_MASK                                                                                                 \
    (KW_MAX_PROPERTIES | KW_MIN_PROPERTIES | KW_REQUIRED | KW_PROPERTIES | KW_PATTERN_PROPERTIES |                     \
     KW_ADDITIONAL_PROPERTIES | KW_PROPERTY_NAMES | KW_DEPENDENTS)
/* keywords that look at each member of an object */
#define KW_MEMBERS_MASK (KW_PROPERTIES | KW_PATTERN_PROPERTIES | KW_ADDITIONAL_PROPERTIES | KW_PROPERTY_NAMES)
#define KW_IN_PLACE_MASK (KW_REF | KW_DYNAMIC_REF | KW_ALL_OF | KW_ANY_OF | KW_ONE_OF | KW_NOT | KW_IF)

/* type bits */
enum {
    TYPE_NULL = 1 << 0,
    TYPE_BOOLEAN = 1 << 1,
    TYPE_OBJECT = 1 << 2,
    TYPE_ARRAY = 1 << 3,
    TYPE_NUMBER = 1 << 4,
    TYPE_STRING = 1 << 5,
    TYPE_INTEGER = 1 << 6,
};

typedef enum en_mg_schema_format_t {
    FORMAT_NONE = 0,
    FORMAT_DATE_TIME,
    FORMAT_DATE,
    FORMAT_TIME,
    FORMAT_DURATION,
    FORMAT_EMAIL,
    FORMAT_IDN_EMAIL,
    FORMAT_HOSTNAME,
    FORMAT_IDN_HOSTNAME,
    FORMAT_IPV4,
    FORMAT_IPV6,
    FORMAT_URI,
    FORMAT_URI_REFERENCE,
    FORMAT_IRI,
    FORMAT_IRI_REFERENCE,
    FORMAT_UUID,
    FORMAT_JSON_POINTER,
    FORMAT_RELATIVE_JSON_POINTER,
    FORMAT_REGEX,
} mg_schema_format_t;

typedef enum en_mg_schema_kind_t {
    NODE_SCHEMA, /* an object schema */
    NODE_TRUE,
    NODE_FALSE,
} mg_schema_kind_t;

/* A number as JSON wrote it: jansson's integer or real. */
typedef struct st_mg_schema_number_t {
    bool is_integer;
    json_int_t integer;
    double real;
} mg_schema_number_t;

/* A finite number as mantissa * 10^exponent, from its shortest decimal form (multipleOf). */
typedef struct st_mg_schema_decimal_t {
    uint64_t mantissa;
    int exponent;
} mg_schema_decimal_t;

typedef struct st_mg_schema_name_t {
    const char *name;
    size_t len;
} mg_schema_name_t;

typedef struct st_mg_schema_regex_t {
    pcre2_code *code;
    const char *source; /* the pattern as written, NUL-terminated (for messages) */
    bool jit;
} mg_schema_regex_t;

typedef struct st_mg_schema_property_t {
    const char *name;
    size_t len;
    const mg_schema_node_t *node;
    bool required; /* also listed by the node's `required` */
} mg_schema_property_t;

typedef struct st_mg_schema_pattern_property_t {
    mg_schema_regex_t regex;
    const mg_schema_node_t *node;
} mg_schema_pattern_property_t;

/* dependentRequired / dependentSchemas / dependencies: when `trigger` is present */
typedef struct st_mg_schema_dependent_t {
    mg_schema_name_t trigger;
    const mg_schema_name_t *required; /* these must be present too */
    size_t required_len;
    const mg_schema_node_t *node; /* and the object must be valid against this (NULL: none) */
    const char *keyword;          /* "dependentRequired", "dependentSchemas" or "dependencies" */
} mg_schema_dependent_t;

typedef struct st_mg_schema_anchor_t {
    const char *name;
    const mg_schema_node_t *node;
} mg_schema_anchor_t;

struct st_mg_schema_node_t {
    uint64_t keywords;
    uint8_t kind;      /* mg_schema_kind_t */
    uint8_t types;     /* TYPE_* for `type` */
    uint8_t format;    /* mg_schema_format_t */
    uint8_t draft;     /* mg_schema_draft_t of its document */
    bool strict;       /* strict mode applies where this node is entered at an instance location */
    uint32_t index;    /* in the compiler's node list */
    bool enum_strings; /* every enum value is a string: compared without jansson's equality */

    const char *path;                 /* JSON pointer in its document */
    const char *document;             /* NULL: the compiled document; else an embedded metaschema's URI */
    const mg_schema_node_t *resource; /* the schema resource (nearest $id, or the document root) */
    const char *dynamic_anchor;       /* this node's $dynamicAnchor, or NULL */
    /* a resource root's $dynamicAnchor names and their nodes */
    const mg_schema_anchor_t *dynamic_anchors;
    size_t dynamic_anchors_len;

    const mg_schema_node_t *ref;
    const mg_schema_node_t *dynamic_ref; /* the static target */
    const char *dynamic_ref_anchor;      /* non-NULL: resolve through the dynamic scope */

    const json_t *const_value;
    const json_t *enum_values; /* an array */

    mg_schema_number_t maximum, minimum, exclusive_maximum, exclusive_minimum, multiple_of;
    mg_schema_decimal_t multiple_of_decimal;
    size_t max_length, min_length;
    mg_schema_regex_t pattern;

    const mg_schema_node_t **prefix_items;
    size_t prefix_items_len;
    const mg_schema_node_t *items;
    const char *items_keyword; /* "items" or "additionalItems" */
    const mg_schema_node_t *contains;
    size_t min_contains, max_contains; /* max_contains SIZE_MAX: none */
    size_t max_items, min_items;

    size_t max_properties, min_properties;
    const mg_schema_property_t *properties; /* sorted by (len, bytes) */
    size_t properties_len;
    /* open addressing over `properties`: index + 1 (0: empty), at mg_schema_property_hash & mask */
    const uint32_t *property_slots;
    uint32_t property_mask;
    size_t required_in_properties;    /* how many of `properties` are required */
    const mg_schema_name_t *required; /* in the schema's order */
    size_t required_len;
    const mg_schema_name_t *required_other; /* those not among `properties` */
    size_t required_other_len;
    const mg_schema_pattern_property_t *pattern_properties;
    size_t pattern_properties_len;
    const mg_schema_node_t *additional_properties;
    const mg_schema_node_t *property_names;
    const mg_schema_dependent_t *dependents;
    size_t dependents_len;

    const mg_schema_node_t **all_of, **any_of, **one_of;
    size_t all_of_len, any_of_len, one_of_len;
    const mg_schema_node_t *not_schema, *if_schema, *then_schema, *else_schema;
    const mg_schema_node_t *unevaluated_properties, *unevaluated_items;
};

/* A cheap hash of a member name for node->property_slots: length and three bytes, mixed. Schemas
 * declare few properties, so this only needs to spread them, not to resist anyone. */
static inline uint32_t mg_schema_property_hash(const char *key, size_t len)
{
    uint32_t h = (uint32_t)len * 0x9E3779B1u;
    if (len > 0)
        h ^= (uint32_t)(unsigned char)key[0] << 8 ^ (uint32_t)(unsigned char)key[len - 1] ^
             (uint32_t)(unsigned char)key[len / 2] << 16;
    h *= 0x85EBCA6Bu;
    return h ^ (h >> 15);
}

/* ---- arena and maps ---- */

typedef struct st_mg_schema_arena_chunk_t mg_schema_arena_chunk_t;
typedef struct st_mg_schema_arena_t {
    mg_schema_arena_chunk_t *chunks;
    char *next;
    size_t left;
} mg_schema_arena_t;

void *mg_schema_arena_alloc(mg_schema_arena_t *arena, size_t size); /* zeroed, 16-byte aligned; NULL: no memory */
char *mg_schema_arena_strndup(mg_schema_arena_t *arena, const char *s, size_t len);
void mg_schema_arena_dispose(mg_schema_arena_t *arena);

/* Open addressing, string keys (copied into the arena) to pointers. */
typedef struct st_mg_schema_map_entry_t {
    const char *key;
    size_t len;
    uint64_t hash;
    void *value;
} mg_schema_map_entry_t;
typedef struct st_mg_schema_map_t {
    mg_schema_map_entry_t *entries;
    size_t cap, len;
} mg_schema_map_t;

void *mg_schema_map_get(const mg_schema_map_t *map, const char *key, size_t len);
/* 0, or -1 when out of memory. Replaces an existing value. */
int mg_schema_map_put(mg_schema_map_t *map, mg_schema_arena_t *arena, const char *key, size_t len, void *value);
void mg_schema_map_dispose(mg_schema_map_t *map);
uint64_t mg_schema_hash_bytes(const void *data, size_t len, uint64_t seed);

/* ---- the compiled schema ---- */

struct st_mg_schema_t {
    _Atomic size_t refcount;
    mg_schema_options_t options;
    mg_schema_draft_t draft;
    const mg_schema_node_t *root;
    bool dynamic; /* some $dynamicRef resolves through the dynamic scope: track it */
    mg_schema_arena_t arena;
    mg_schema_map_t nodes;   /* the compiled document's pointer -> node */
    mg_schema_map_t anchors; /* "<absolute uri>#<name>" -> node, every document */
    const char *root_uri;    /* the root resource's absolute URI */
    pcre2_match_context *match_context;
    pcre2_code **codes;
    size_t codes_len, codes_cap;
    json_t **values; /* copied enum / const values */
    size_t values_len, values_cap;
};

/* ---- compiling (compile.c, keywords.c, resolve.c) ---- */

/* The base URI of a document without $id: relative references resolve against it, and so resolve
 * to nothing registered, which is how they are reported as leaving the document. */
#define MG_SCHEMA_DEFAULT_BASE_PREFIX "mcpgate:/"
#define MG_SCHEMA_DEFAULT_BASE MG_SCHEMA_DEFAULT_BASE_PREFIX "schema"

typedef struct st_mg_schema_document_t {
    const json_t *root;
    json_t *owned; /* embedded metaschemas: parsed here, released after compilation */
    mg_schema_draft_t draft;
    const char *label; /* NULL for the compiled document, else the metaschema's URI */
    mg_schema_map_t nodes;
    struct st_mg_schema_document_t *next;
} mg_schema_document_t;

/* Where a subschema sits while it is compiled. */
typedef struct st_mg_schema_site_t {
    mg_schema_document_t *document;
    const char *base; /* absolute base URI */
    mg_schema_node_t *resource;
    size_t depth;
} mg_schema_site_t;

typedef struct st_mg_schema_pending_ref_t {
    mg_schema_node_t *node;
    const char *ref; /* as written */
    const char *base;
    bool dynamic;
    struct st_mg_schema_pending_ref_t *next;
} mg_schema_pending_ref_t;

/* What compilation knows of a node and forgets afterwards. */
typedef struct st_mg_schema_node_info_t {
    mg_schema_node_t *node;
    const json_t *source; /* its JSON value, borrowed */
    const char *base;     /* its base URI */
    size_t depth;
    mg_schema_document_t *document;
} mg_schema_node_info_t;

typedef struct st_mg_schema_dynamic_anchor_t {
    mg_schema_node_t *resource;
    const char *name;
    mg_schema_node_t *node;
} mg_schema_dynamic_anchor_t;

typedef struct st_mg_schema_compiler_t {
    mg_schema_t *schema;
    const mg_schema_options_t *options;
    mg_error_t *err;
    mg_schema_document_t *documents; /* the compiled one first */
    mg_schema_node_info_t *nodes;    /* every node, in creation order */
    size_t nodes_len, nodes_cap;
    mg_schema_dynamic_anchor_t *dynamic_anchors;
    size_t dynamic_anchors_len, dynamic_anchors_cap;
    mg_schema_map_t resources; /* absolute URI -> resource root node */
    mg_schema_pending_ref_t *pending;
    /* the path being compiled, a JSON pointer */
    char *path;
    size_t path_len, path_cap;
    pcre2_compile_context *compile_context;
} mg_schema_compiler_t;

/* compile.c */
/* opts (NULL: the defaults) with each 0 limit replaced by its default and max_instance_depth capped */
void mg_schema_options_normalize(const mg_schema_options_t *opts, mg_schema_options_t *out);
int mg_schema_compile_value(mg_schema_compiler_t *c, const json_t *value, const mg_schema_site_t *site,
                            mg_schema_node_t **out);
/* Compiles the subschema `value` found at <current path>/<segment> (segment unescaped). */
int mg_schema_compile_child(mg_schema_compiler_t *c, const json_t *value, const mg_schema_site_t *site,
                            const char *segment, size_t segment_len, mg_schema_node_t **out);
int mg_schema_compile_nomem(mg_schema_compiler_t *c);
size_t mg_schema_path_push(mg_schema_compiler_t *c, const char *segment, size_t len); /* returns the old length */
void mg_schema_path_pop(mg_schema_compiler_t *c, size_t old_len);
int mg_schema_path_set(mg_schema_compiler_t *c, const char *path); /* -1: out of memory */
int mg_schema_keep_value(mg_schema_compiler_t *c, const json_t *value, const json_t **out);
int mg_schema_keep_code(mg_schema_compiler_t *c, pcre2_code *code);

/* keywords.c: reads the keywords of an object schema into node. */
int mg_schema_compile_keywords(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                               const mg_schema_site_t *site);

/* regex.c */
/* Compiles an ECMA-262 pattern (`where` names it in errors), JIT-compiled when possible, kept by the schema. */
int mg_schema_compile_regex(mg_schema_compiler_t *c, const char *source, size_t len, mg_schema_regex_t *out,
                            const char *where);
/* The compilation alone (format "regex" uses it too); NULL with `message` set on failure. */
pcre2_code *mg_schema_regex_compile(const char *source, size_t len, pcre2_compile_context *context, char *message,
                                    size_t size);

/* resolve.c */
int mg_schema_register_identifiers(mg_schema_compiler_t *c, mg_schema_node_t *node, const json_t *object,
                                   mg_schema_site_t *site);
int mg_schema_resolve_pending(mg_schema_compiler_t *c);
int mg_schema_derive_flags(mg_schema_compiler_t *c);
int mg_schema_add_pending(mg_schema_compiler_t *c, mg_schema_node_t *node, const char *ref, const char *base,
                          bool dynamic);
/* A known dialect's metaschema URI: sets *draft. */
bool mg_schema_known_dialect(const char *uri, mg_schema_draft_t *draft);

/* uri.c: RFC 3986. Results are malloc'd (NULL: out of memory). */
char *mg_schema_uri_resolve(const char *base, const char *ref);
/* The URI without its fragment (a copy), and the fragment (pointer into uri, after '#', or NULL). */
char *mg_schema_uri_split(const char *uri, const char **fragment);
/* Percent-decodes into a malloc'd string of *len bytes; NULL on a bad escape or no memory. */
char *mg_schema_percent_decode(const char *s, size_t len, size_t *out_len);
/* Appends s, escaped as a JSON pointer token (~0, ~1), to buf (size bytes, keeps it terminated);
 * returns the length it needs. */
size_t mg_schema_pointer_escape(char *buf, size_t size, const char *s, size_t len);
bool mg_schema_valid_uri(const char *s, size_t len, bool reference, bool iri);

/* ---- evaluation (validate.c, instance.c) ---- */

typedef struct st_mg_schema_marks_t {
    uint64_t *bits;
    size_t words;
    uint64_t local[4];
} mg_schema_marks_t;

typedef struct st_mg_schema_segment_t {
    const char *key; /* NULL: an array index */
    size_t len_or_index;
} mg_schema_segment_t;

typedef struct st_mg_schema_scope_t {
    const mg_schema_node_t *resource;
    const struct st_mg_schema_scope_t *outer;
} mg_schema_scope_t;

typedef struct st_mg_schema_eval_t {
    const mg_schema_t *schema;
    mg_schema_result_t *result;
    bool collect; /* record violations (a result was given and this branch's details are wanted) */
    bool stopped; /* a limit was hit: the answer is "invalid", stop working */
    bool dynamic; /* the schema's: track the dynamic scope */
    size_t steps, steps_max, eval_depth, eval_depth_max, depth_max;
    const mg_schema_scope_t *scope;
    mg_schema_violation_t stop; /* why evaluation stopped, when it did */
    size_t depth;               /* instance depth = segments in use */
    mg_schema_segment_t segments[MG_SCHEMA_INSTANCE_DEPTH_LIMIT + 1];
} mg_schema_eval_t;

bool mg_schema_marks_init(mg_schema_marks_t *marks, size_t count);
void mg_schema_marks_dispose(mg_schema_marks_t *marks);
static inline void mg_schema_marks_set(mg_schema_marks_t *marks, size_t index)
{
    marks->bits[index / 64] |= UINT64_C(1) << (index % 64);
}
static inline bool mg_schema_marks_test(const mg_schema_marks_t *marks, size_t index)
{
    return (marks->bits[index / 64] >> (index % 64)) & 1;
}
void mg_schema_marks_merge(mg_schema_marks_t *into, const mg_schema_marks_t *from);

/* validate.c */
bool mg_schema_eval_node(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance,
                         mg_schema_marks_t *marks);
/* Evaluates node against a child of the current instance (a member key, or an array index when key
 * is NULL), entering a new instance location: depth limit, path, strict mode. */
bool mg_schema_eval_child(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *instance, const char *key,
                          size_t len_or_index);

/* instance.c */
bool mg_schema_eval_object(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *object,
                           mg_schema_marks_t *marks);
bool mg_schema_eval_array(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *array,
                          mg_schema_marks_t *marks);
bool mg_schema_eval_string(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *string);
bool mg_schema_eval_number(mg_schema_eval_t *e, const mg_schema_node_t *node, const json_t *number);
/* regex.c: 1 match, 0 no match, -1 could not tell (match limit, depth limit, out of memory) */
int mg_schema_regex_match(const mg_schema_t *schema, const mg_schema_regex_t *regex, const char *subject, size_t len);

/* Message making, kept out of the recursive evaluators' frames: evaluation nests a frame per
 * subschema, and a buffer inlined there would be paid at every level. */
#define MG_SCHEMA_COLD __attribute__((noinline, cold))

/* result.c: recording, when e->collect. `keyword` is a static string; the schema path is node's
 * path followed by "/" and `location` (escaped pointer segments; NULL: node's path alone). Returns
 * false, for `return mg_schema_report(...)`. */
bool mg_schema_report(mg_schema_eval_t *e, const mg_schema_node_t *node, const char *keyword, const char *location,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same, at a child of the current instance location (a member key, or an index when key is NULL). */
bool mg_schema_report_at(mg_schema_eval_t *e, const char *key, size_t len_or_index, const mg_schema_node_t *node,
                         const char *keyword, const char *location, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* mg_schema_report_at at member `key`, with the member's name quoted into fmt's one "%s". */
bool mg_schema_report_member(mg_schema_eval_t *e, const char *key, size_t len, const mg_schema_node_t *node,
                             const char *keyword, const char *location, const char *fmt);
/* A limit was hit: evaluation stops, the answer is "invalid" whatever branch it happened in, and this
 * violation is reported (whether or not details were being collected). Returns false. */
bool mg_schema_stop(mg_schema_eval_t *e, const mg_schema_node_t *node, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Quotes a JSON value for a message: ASCII JSON, cut to about `size` bytes with "...". */
const char *mg_schema_quote(const json_t *value, char *buf, size_t size);
const char *mg_schema_quote_string(const char *s, size_t len, char *buf, size_t size);
const char *mg_schema_number_text(const mg_schema_number_t *number, char *buf, size_t size);
const char *mg_schema_type_name(const json_t *value); /* by jansson's type: 1.0 is "number" */

/* values.c */
void mg_schema_number_of(const json_t *value, mg_schema_number_t *out);
int mg_schema_number_compare(const mg_schema_number_t *a, const mg_schema_number_t *b);
bool mg_schema_is_integral(const json_t *value);
bool mg_schema_decimal_of(double value, mg_schema_decimal_t *out);
bool mg_schema_multiple_of(const mg_schema_number_t *value, const mg_schema_number_t *divisor,
                           const mg_schema_decimal_t *divisor_decimal);
/* JSON equality where 1 == 1.0 and members compare unordered: 1 equal, 0 not, -1 nested deeper than depth_left */
int mg_schema_equal(const json_t *a, const json_t *b, size_t depth_left);
uint64_t mg_schema_value_hash(const json_t *value, size_t depth_left);
size_t mg_schema_utf8_length(const char *s, size_t len);
size_t mg_schema_value_depth(const json_t *value, size_t limit); /* nesting of value, counted up to limit+1 */

/* format.c */
mg_schema_format_t mg_schema_format_of(const char *name);
const char *mg_schema_format_name(mg_schema_format_t format);
bool mg_schema_format_check(mg_schema_format_t format, const char *s, size_t len);

#endif
