/*
 * scrub.h - upstream text made safe to show: terminal escape sequences and invisible Unicode removed.
 *
 * DESIGN.md security invariant 6. An MCP server is not trusted to write what ends up in a terminal or
 * in front of a model: a tool description can carry ESC[2J, an OSC 52 clipboard write, an OSC 8 link
 * whose visible text lies about its target, or instructions spelled in Unicode tag characters that no
 * screen shows but every tokenizer reads. Every string of every message an upstream sends is passed
 * through here where the transport first parses it (upstream/stdio.c on_line, upstream/http.c
 * parse_upstream), before anything is cached, aggregated, validated or forwarded.
 *
 * What is removed (docs/guards.md, "Scrubbing upstream text"):
 *   escape sequences, whole: CSI (ESC [ or U+009B, parameter and intermediate bytes, final byte),
 *     OSC (ESC ] or U+009D, up to BEL or ST), DCS / SOS / PM / APC (ESC P X ^ _ or U+0090 U+0098
 *     U+009E U+009F, up to ST), other two-byte and nF ESC sequences; a sequence that does not end
 *     before its string does is dropped to the end of the string;
 *   OSC 8 hyperlinks: their escapes (counted as links), while the link's visible text stays;
 *   controls: C0 other than tab, LF and CR; DEL; C1 U+0080-U+009F;
 *   tags: U+E0000-U+E007F;
 *   invisible: U+180E, U+200B-U+200D (zero-width space, non-joiner and joiner, including inside emoji
 *     sequences: an emoji family shows as its members, a cosmetic loss, and no exception is left to hide
 *     things in), U+2060-U+2065 and U+206A-U+206F (word joiner, invisible operators, deprecated format
 *     characters), U+FEFF, U+FFF9-U+FFFB;
 *   bidi: U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069 (marks, embeddings, overrides,
 *     isolates: the Trojan Source characters; right-to-left text still shows by the default algorithm);
 *   bytes that do not begin a valid UTF-8 character, from the first removal on (jansson strings are
 *     always valid UTF-8; the clean check decodes only the characters that begin with a byte that can
 *     begin something removed, so elsewhere such bytes stand: robustness, not repair).
 * Nothing is ever added or replaced, so the result is never longer than the text.
 */
#ifndef MG_GUARD_SCRUB_H
#define MG_GUARD_SCRUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What was removed, by category; callers add up over a message (zero the struct first). */
typedef struct st_mg_scrub_counts_t {
    size_t escapes;      /* escape sequences, 7-bit and 8-bit, other than OSC 8 */
    size_t links;        /* OSC 8 hyperlink escapes (a link's opening and closing count one each) */
    size_t controls;     /* lone C0 controls, DEL, C1 controls */
    size_t tags;         /* Unicode tag characters */
    size_t invisible;    /* zero-width and other invisible format characters */
    size_t bidi;         /* bidirectional formatting characters */
    size_t invalid;      /* bytes that were not UTF-8 */
    size_t strings;      /* strings (values and object keys) that changed */
    size_t dropped_keys; /* object members dropped: their scrubbed key was an earlier member's */
} mg_scrub_counts_t;

enum {
    MG_SCRUB_NO_MEMORY = -1,
    MG_SCRUB_TOO_DEEP = -2, /* nested deeper than MG_SCRUB_MAX_DEPTH */
};

/* jansson's own parser stops at 2048 levels: whatever the gateway parsed can be scrubbed. */
#define MG_SCRUB_MAX_DEPTH 2048

/* True when `text` has nothing to remove. A tight byte loop, eight printable ASCII bytes at a time; the
 * few characters that begin with a suspect byte are decoded one by one. Never allocates. */
bool mg_scrub_is_clean(const char *text, size_t len);

/* True when no string (value or key) of the JSON text `json` has anything to remove, judged on the text
 * as it is, before it is parsed: raw characters as mg_scrub_is_clean does, \uXXXX escapes (and
 * surrogate pairs) decoded, \b and \f as the controls they are. One pass over bytes that the parser
 * reads anyway, where walking the parsed value costs a call into jansson per member; when it says
 * true, mg_scrub_json on the parsed value would remove nothing. For text that is not JSON the answer
 * means nothing. */
bool mg_scrub_json_text_is_clean(const char *json, size_t len);

/* Scrubs `len` bytes of `text`. Returns false when nothing must go: then nothing is written (the
 * common case costs the clean check only). Otherwise writes the cleaned text to `out` (room for `len`
 * bytes; `out` is `text` itself, for scrubbing in place, or does not overlap it), its length to
 * *out_len (no NUL is added), adds what went to *counts (may be NULL) and returns true. */
bool mg_scrub_text(const char *text, size_t len, char *out, size_t *out_len, mg_scrub_counts_t *counts);

/* Scrubs every string of `value` in place: string values, and object keys (an object whose keys change
 * is refilled in the same order, keeping its identity; a member whose scrubbed key repeats an earlier
 * member's is dropped). Adds what went to *counts (may be NULL). Returns 0, or MG_SCRUB_NO_MEMORY /
 * MG_SCRUB_TOO_DEEP; then `value` may be half scrubbed and must not be shown to anyone. */
int mg_scrub_json(json_t *value, mg_scrub_counts_t *counts);

/* mg_scrub_json for a JSON-RPC message, except its top-level "id": ids are correlation tokens the
 * gateway maps (a response's to the caller's, a server request's to an "mcpgate:" id whose tail the
 * HTTP transport writes in ASCII), and changing one would misroute its answer. */
int mg_scrub_message(json_t *message, mg_scrub_counts_t *counts);

/* How many things were removed in all (strings and dropped keys are not added in). */
size_t mg_scrub_counts_total(const mg_scrub_counts_t *counts);

/* Logs `upstream.scrubbed` (info) for a message of `server` when anything was removed. */
void mg_scrub_log(const char *server, const mg_scrub_counts_t *counts);

#endif
