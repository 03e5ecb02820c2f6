/*
 * schema.h - JSON Schema, compiled once and validated many times: the engine behind the gateway's
 * checks of tool arguments and of MCP messages (docs/validation.md).
 *
 * Drafts: 2020-12 and draft-07, chosen by the root's `$schema` (the URIs with or without a trailing
 * '#', over http or https). A root without `$schema`, or with one this engine does not know (draft
 * 2019-09, draft-06, draft-04, a custom metaschema), is compiled as options->default_draft; the
 * option reject_unknown_dialect turns that case into MG_SCHEMA_ERR_REMOTE instead.
 *
 * References: `$ref` and `$dynamicRef` are resolved at compile time, within the document only (JSON
 * pointers, `$id` base URIs, `$anchor`, `$dynamicAnchor`). Nothing is ever fetched: a reference that
 * leaves the document fails compilation with MG_SCHEMA_ERR_REMOTE, except the metaschemas of draft
 * 2020-12 and draft-07, which are embedded in the binary. Reference cycles compile (recursive schemas
 * are legal); evaluation is bounded (options below), so `{"$ref": "#"}` ends in a violation, not a hang.
 *
 * Ownership: mg_schema_compile borrows `schema` only for the call; the compiled schema copies what
 * it keeps. A compiled schema is immutable and reference-counted (atomic); nodes (mg_schema_node_t)
 * belong to their schema and live as long as it does.
 *
 * Threads: compilation may run on any thread (it only reads `schema`, which nobody may change
 * meanwhile); any number of threads may validate against one compiled schema at the same time.
 * Validation allocates nothing on the path of a valid instance, except: the first `pattern` matched
 * on a thread makes that thread's PCRE2 match block (kept until the thread ends); `propertyNames`
 * makes a string per member; `uniqueItems` on more than 32 items sorts a hash per item; format
 * "regex" compiles the value; unevaluatedProperties / unevaluatedItems / strict mode on more than
 * 256 members or items make a bit set. Stack: at most some 300 KiB at the default limits.
 */
#ifndef MG_SCHEMA_SCHEMA_H
#define MG_SCHEMA_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct st_mg_schema_t mg_schema_t;           /* compiled, immutable, atomic refcount; shared by threads */
typedef struct st_mg_schema_node_t mg_schema_node_t; /* one subschema of a compiled schema */

typedef enum en_mg_schema_draft_t {
    MG_SCHEMA_DRAFT_2020_12,
    MG_SCHEMA_DRAFT_7,
} mg_schema_draft_t;

/* What mg_schema_compile (and mg_schema_cache_get) return on failure; err says where and why.
 * INVALID: not a valid schema (a keyword's value has the wrong shape, a pattern that does not
 * compile, a $ref to a location or anchor that does not exist). REMOTE: a $ref resolves outside the
 * document (never fetched); or, with reject_unknown_dialect, a `$schema` this engine does not know.
 * LIMIT: max_nodes, max_depth or max_fanout exceeded. */
#define MG_SCHEMA_ERR_INVALID (-1)
#define MG_SCHEMA_ERR_REMOTE (-2)
#define MG_SCHEMA_ERR_LIMIT (-3)
#define MG_SCHEMA_ERR_NOMEM (-4)

/* Defaults of mg_schema_options_default. */
#define MG_SCHEMA_DEFAULT_MAX_NODES 10000
#define MG_SCHEMA_DEFAULT_MAX_DEPTH 64
#define MG_SCHEMA_DEFAULT_MAX_FANOUT 1024
#define MG_SCHEMA_DEFAULT_MAX_INSTANCE_DEPTH 128
#define MG_SCHEMA_DEFAULT_MAX_STEPS 1000000
#define MG_SCHEMA_INSTANCE_DEPTH_LIMIT 512 /* max_instance_depth is capped at this */

typedef struct st_mg_schema_options_t {
    mg_schema_draft_t default_draft; /* when the root has no (known) $schema; default 2020-12, the MCP default */
    /* false (default): `format` is an annotation only, as both drafts say. true: email, idn-email (ASCII
     * part), uri, uri-reference, iri, iri-reference, date-time, date, time, duration, uuid, ipv4, ipv6,
     * hostname, idn-hostname (ASCII part), json-pointer, relative-json-pointer and regex are checked;
     * other formats stay annotations. */
    bool validate_formats;
    /* At each instance location that is an object, when the schema applying there (with its in-place
     * subschemas: allOf, anyOf, oneOf, $ref, $dynamicRef's static target, if, then, else,
     * dependentSchemas / dependencies) declares `properties` or `patternProperties` and none of them
     * says `additionalProperties` or `unevaluatedProperties`, validate as if `unevaluatedProperties:
     * false` were there: an undeclared member is a violation with keyword "additionalProperties". A
     * free-form {"type": "object"} stays free-form. */
    bool strict;
    bool reject_unknown_dialect; /* an unknown root $schema fails with MG_SCHEMA_ERR_REMOTE (default false) */
    size_t max_nodes;            /* subschemas compiled, embedded metaschemas included */
    size_t max_depth;            /* subschema nesting (the root is level 0) */
    /* members of one keyword: allOf / anyOf / oneOf / prefixItems / items (array form), enum, type,
     * required, dependentRequired's lists, properties, patternProperties, dependentSchemas,
     * dependencies; and the nesting of an enum or const value (at most max_instance_depth) */
    size_t max_fanout;
    size_t max_instance_depth; /* validation: deeper instance values are a violation ("depth") */
    size_t max_steps;          /* validation: subschema applications per call; more is a violation ("steps") */
} mg_schema_options_t;

void mg_schema_options_default(mg_schema_options_t *opts);

/* Compiles `schema` (an object or a boolean). opts NULL: the defaults. On success returns 0 and *out
 * holds a new reference. On failure returns one of MG_SCHEMA_ERR_*, *out is NULL and err (when not
 * NULL) says what and where: "schema too deep: more than 64 levels at /properties/a/...". */
int mg_schema_compile(const json_t *schema, const mg_schema_options_t *opts, mg_schema_t **out, mg_error_t *err);
mg_schema_t *mg_schema_retain(mg_schema_t *schema); /* returns schema; NULL is fine */
void mg_schema_release(mg_schema_t *schema);        /* NULL is fine */

/* The root node. */
const mg_schema_node_t *mg_schema_root(const mg_schema_t *schema);
/* The subschema at a location of the compiled document: "#/definitions/CallToolRequest" (a JSON
 * pointer, percent-encoded as in a URI fragment, ~0 / ~1 escaped), "#anchor" (an $anchor or
 * $dynamicAnchor of the root resource), or "#" / "" for the root. A bare pointer without '#' is
 * accepted too. NULL when no subschema was compiled there: only locations that are subschemas (under
 * a keyword that takes schemas, $defs and definitions included) or targets of a $ref exist. */
const mg_schema_node_t *mg_schema_find(const mg_schema_t *schema, const char *fragment);
/* The node's JSON pointer in the document ("" for the root); for the embedded metaschemas the
 * metaschema's URI, '#' and the pointer. */
const char *mg_schema_node_path(const mg_schema_node_t *node);
/* The draft the root was compiled with. */
mg_schema_draft_t mg_schema_draft(const mg_schema_t *schema);
/* "draft2020-12" or "draft7". */
const char *mg_schema_draft_name(mg_schema_draft_t draft);

#define MG_SCHEMA_VIOLATIONS_MAX 16

typedef struct st_mg_schema_violation_t {
    /* RFC 6901 pointer into the instance, "" = the root. Longer than the buffer: cut at a character
     * boundary and ended with "/..." */
    char instance_path[256];
    /* pointer into the schema document of the failing keyword, "/properties/path/maxLength"; through a
     * $ref it is the referenced location ("/$defs/Name/type"). Strict mode: the object schema's own
     * location. */
    char schema_path[256];
    const char *keyword; /* static string: "maxLength", or "false" for a false schema, "depth", "steps" */
    char message[256];   /* for a model to act on: "must be at most 40 characters long (is 52)"; ASCII */
} mg_schema_violation_t;

typedef struct st_mg_schema_result_t {
    size_t count;   /* violations recorded, at most MG_SCHEMA_VIOLATIONS_MAX */
    bool truncated; /* more violations existed than were recorded */
    mg_schema_violation_t violations[MG_SCHEMA_VIOLATIONS_MAX];
} mg_schema_result_t;

/* Whether `instance` is valid against `node` (NULL: the root) of `schema`; `node` must belong to
 * `schema`. result NULL: only the answer, stopping at the first violation (fastest). Otherwise result
 * is overwritten with the violations, in document order of discovery. anyOf / oneOf failures are one
 * violation for the keyword followed by each branch's violations. Thread-safe on a shared schema. */
bool mg_schema_validate(const mg_schema_t *schema, const mg_schema_node_t *node, const json_t *instance,
                        mg_schema_result_t *result);

/* [{"instancePath", "schemaPath", "keyword", "message"}, ...] in order; NULL when out of memory.
 * result->truncated is not in the array: the caller says it if it matters. */
json_t *mg_schema_result_json(const mg_schema_result_t *result);
/* One line per violation, "<instance pointer>: <keyword>: <message>\n", the root written "(root)",
 * then "(more violations not shown)\n" when truncated. Writes at most size bytes, always terminated
 * when size > 0, cutting at a line boundary; returns the length of the whole text (as snprintf). */
size_t mg_schema_result_text(const mg_schema_result_t *result, char *buf, size_t size);

#endif
