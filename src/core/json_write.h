/*
 * json_write.h - the gateway's one JSON writer: byte for byte what jansson's json_dumps writes.
 *
 * Every message the gateway sends (to clients, to upstreams, in sealed tokens, in logs) is
 * serialized here. jansson's own writer goes through a callback per token, formats each
 * container's address with snprintf into a hash table to detect cycles, and copies its result
 * once more at the end; on a tools/call that was the largest single cost in the gateway. This
 * writer appends straight into an mg_bytes_t and produces the same bytes: the same escapes
 * (\" \\ \b \f \n \r \t, other control characters as \u00XX in upper-case hex, "/" only with
 * JSON_ESCAPE_SLASH), the same integers, reals as "%.17g" with jansson's ".0" and exponent
 * clean-up, members in insertion order (or sorted by jansson's comparison with JSON_SORT_KEYS),
 * and the same failures: NULL for a value holding a string that is not valid UTF-8, for a cycle,
 * and for a root that is neither object nor array without JSON_ENCODE_ANY. One quirk is kept on
 * purpose: jansson ignores the failure of an object *key* that is not valid UTF-8 and goes on
 * after writing what it had of it, and so does this writer. The differential fuzz target
 * tests/fuzz/fuzz_json_write.c holds it to that.
 *
 * Flags: JSON_COMPACT, with any of JSON_ENSURE_ASCII, JSON_SORT_KEYS, JSON_ENCODE_ANY,
 * JSON_ESCAPE_SLASH, JSON_REAL_PRECISION(n) and JSON_PRESERVE_ORDER (a no-op in jansson). Other
 * layouts (indentation, JSON_EMBED) are handed to jansson itself.
 */
#ifndef MG_CORE_JSON_WRITE_H
#define MG_CORE_JSON_WRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/bytes.h"

/* Appends the text of `value` to `out`. Returns 0, or -1 when jansson would fail (see above); then
 * `out` holds what it held before. */
int mg_json_write(mg_bytes_t *out, const json_t *value, size_t flags);

/* As json_dumps: a malloc'ed, NUL-terminated text (free() it), or NULL. `len` (may be NULL) gets
 * its length. */
char *mg_json_write_text(const json_t *value, size_t flags, size_t *len);

/* One change to an object, made in its text only: the object itself is not touched, so a value
 * shared with someone else (an upstream's response) can be answered with changes without a copy. */
typedef struct st_mg_json_edit_t {
    const char *key;                       /* NUL-terminated; distinct within one list of edits */
    const json_t *value;                   /* the member's new value, or NULL: the member is left out */
    const struct st_mg_json_edit_t *inner; /* edits of `value` (an object) in turn, or NULL */
    size_t inner_len;
    bool keep_existing; /* set `key` only when the object has no such member (then its own stays as it is) */
    /* NULL, or the member's whole text as the writer would make it from key and value ("\"key\":value"),
     * written as is: an edit the gateway makes on every answer costs one copy instead of two escapings */
    const char *text;
} mg_json_edit_t;

/* Appends the text jansson would write for `object` (JSON_COMPACT, `flags` without JSON_SORT_KEYS)
 * after json_object_set() of each edit's key to its value in order -- so a member that exists keeps
 * its place and a new one is appended -- or json_object_del() for a NULL value, or nothing for a
 * keep_existing edit whose key the object has; the same applies to each edit's `inner` edits on its
 * value. Returns 0, or -1 as mg_json_write (then `out` is as before). */
int mg_json_write_edited(mg_bytes_t *out, const json_t *object, const mg_json_edit_t *edits, size_t edits_len,
                         size_t flags);

#endif
