/*
 * uri.c - the URI work $id and $ref need (RFC 3986): splitting a reference into its parts,
 * resolving it against a base (section 5.2, with dot segments removed), percent-decoding a fragment,
 * escaping a JSON pointer token; and the grammar check behind the uri / uri-reference / iri formats.
 *
 * URIs are compared as strings after resolution, without further normalization (case of scheme and
 * host, percent-encoding of unreserved characters): schemas in the wild write their identifiers one
 * way, and the test suite does not ask for more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

typedef struct st_uri_parts_t {
    const char *scheme, *authority, *path, *query, *fragment;
    size_t scheme_len, authority_len, path_len, query_len, fragment_len;
    bool has_scheme, has_authority, has_query, has_fragment;
} uri_parts_t;

/* RFC 3986 appendix B: ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))? */
static void uri_parse(const char *s, uri_parts_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = strcspn(s, ":/?#");
    if (i > 0 && s[i] == ':') {
        out->has_scheme = true;
        out->scheme = s;
        out->scheme_len = i;
        s += i + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        out->has_authority = true;
        out->authority = s + 2;
        out->authority_len = strcspn(s + 2, "/?#");
        s += 2 + out->authority_len;
    }
    out->path = s;
    out->path_len = strcspn(s, "?#");
    s += out->path_len;
    if (*s == '?') {
        out->has_query = true;
        out->query = s + 1;
        out->query_len = strcspn(s + 1, "#");
        s += 1 + out->query_len;
    }
    if (*s == '#') {
        out->has_fragment = true;
        out->fragment = s + 1;
        out->fragment_len = strlen(s + 1);
    }
}

typedef struct st_text_t {
    char *base;
    size_t len, cap;
    bool failed;
} text_t;

static void text_add(text_t *t, const char *s, size_t len)
{
    if (t->failed)
        return;
    if (len > SIZE_MAX / 4 - t->len) { /* never for a URI from a schema; says so to the optimizer too */
        t->failed = true;
        return;
    }
    if (t->len + len + 1 > t->cap) {
        size_t cap = (t->len + len + 1) * 2;
        char *grown = realloc(t->base, cap);
        if (grown == NULL) {
            t->failed = true;
            return;
        }
        t->base = grown;
        t->cap = cap;
    }
    memcpy(t->base + t->len, s, len);
    t->len += len;
    t->base[t->len] = '\0';
}

/* Section 5.2.4, on `path` of `len` bytes, appended to out. */
static void remove_dot_segments(text_t *out, const char *path, size_t len)
{
    text_t in = {0};
    text_add(&in, path, len);
    text_add(&in, "", 0);
    if (in.failed) {
        out->failed = true;
        return;
    }
    text_t result = {0};
    text_add(&result, "", 0);
    char *p = in.base;
    while (*p != '\0') {
        if (strncmp(p, "../", 3) == 0)
            p += 3;
        else if (strncmp(p, "./", 2) == 0)
            p += 2;
        else if (strncmp(p, "/./", 3) == 0)
            p += 2;
        else if (strcmp(p, "/.") == 0)
            p[1] = '\0'; /* "/." -> "/" */
        else if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0) {
            if (p[3] == '\0')
                p[1] = '\0'; /* "/.." -> "/" */
            else
                p += 3; /* "/../x" -> "/x" */
            char *slash = result.len > 0 ? memrchr(result.base, '/', result.len) : NULL;
            result.len = slash != NULL ? (size_t)(slash - result.base) : 0;
            if (!result.failed)
                result.base[result.len] = '\0';
        } else if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
            p += strlen(p);
        else {
            size_t segment = strcspn(p + 1, "/") + 1;
            text_add(&result, p, segment);
            p += segment;
        }
    }
    text_add(out, result.base, result.len);
    out->failed |= result.failed;
    free(in.base);
    free(result.base);
}

char *mg_schema_uri_resolve(const char *base, const char *ref)
{
    uri_parts_t b, r;
    uri_parse(base, &b);
    uri_parse(ref, &r);
    text_t t = {0};
    text_add(&t, "", 0);
    const uri_parts_t *authority_from = &r, *query_from = &r;
    if (r.has_scheme) {
        text_add(&t, r.scheme, r.scheme_len);
        text_add(&t, ":", 1);
    } else if (b.has_scheme) {
        text_add(&t, b.scheme, b.scheme_len);
        text_add(&t, ":", 1);
    }
    if (!r.has_scheme && !r.has_authority)
        authority_from = &b;
    if (authority_from->has_authority) {
        text_add(&t, "//", 2);
        text_add(&t, authority_from->authority, authority_from->authority_len);
    }
    if (r.has_scheme || r.has_authority)
        remove_dot_segments(&t, r.path, r.path_len);
    else if (r.path_len == 0) {
        text_add(&t, b.path, b.path_len);
        if (!r.has_query)
            query_from = &b;
    } else if (r.path[0] == '/')
        remove_dot_segments(&t, r.path, r.path_len);
    else {
        /* section 5.2.3, merge */
        text_t merged = {0};
        if (b.has_authority && b.path_len == 0)
            text_add(&merged, "/", 1);
        else {
            const char *slash = b.path_len > 0 ? memrchr(b.path, '/', b.path_len) : NULL;
            if (slash != NULL)
                text_add(&merged, b.path, (size_t)(slash - b.path) + 1);
        }
        text_add(&merged, r.path, r.path_len);
        text_add(&merged, "", 0);
        if (merged.failed)
            t.failed = true;
        else
            remove_dot_segments(&t, merged.base, merged.len);
        free(merged.base);
    }
    if (query_from->has_query) {
        text_add(&t, "?", 1);
        text_add(&t, query_from->query, query_from->query_len);
    }
    if (r.has_fragment) {
        text_add(&t, "#", 1);
        text_add(&t, r.fragment, r.fragment_len);
    }
    if (t.failed) {
        free(t.base);
        return NULL;
    }
    return t.base;
}

char *mg_schema_uri_split(const char *uri, const char **fragment)
{
    const char *hash = strchr(uri, '#');
    size_t len = hash != NULL ? (size_t)(hash - uri) : strlen(uri);
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, uri, len);
    out[len] = '\0';
    *fragment = hash != NULL ? hash + 1 : NULL;
    return out;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *mg_schema_percent_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[n++] = s[i];
            continue;
        }
        if (i + 2 >= len || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) {
            free(out);
            return NULL;
        }
        out[n++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
        i += 2;
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

size_t mg_schema_pointer_escape(char *buf, size_t size, const char *s, size_t len)
{
    size_t start = size > 0 ? strlen(buf) : 0, need = start;
    for (size_t i = 0; i < len; i++) {
        const char *piece = s[i] == '~' ? "~0" : s[i] == '/' ? "~1" : NULL;
        size_t piece_len = piece != NULL ? 2 : 1;
        if (need + piece_len < size) {
            if (piece != NULL)
                memcpy(buf + need, piece, 2);
            else
                buf[need] = s[i];
            buf[need + piece_len] = '\0';
        }
        need += piece_len;
    }
    return need;
}

/* ---- the uri, uri-reference, iri and iri-reference formats (RFC 3986, RFC 3987) ---- */

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_unreserved(unsigned char c, bool iri)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~' || (iri && c >= 0x80);
}

static bool is_sub_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* Every character is unreserved, a sub-delimiter, one of `extra`, or a valid percent escape. */
static bool chars_ok(const char *s, size_t len, const char *extra, bool iri)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
                return false;
            i += 2;
        } else if (!is_unreserved(c, iri) && !is_sub_delim(c) && (c == '\0' || strchr(extra, c) == NULL))
            return false;
    }
    return true;
}

static bool authority_ok(const char *s, size_t len, bool iri)
{
    const char *at = memrchr(s, '@', len);
    if (at != NULL) {
        if (!chars_ok(s, (size_t)(at - s), ":", iri))
            return false;
        len -= (size_t)(at - s) + 1;
        s = at + 1;
    }
    size_t host_len = len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return false;
        size_t inner = (size_t)(close - s) - 1;
        if (inner == 0 || inner > 64)
            return false;
        char literal[72];
        memcpy(literal, s + 1, inner);
        literal[inner] = '\0';
        if (literal[0] != 'v' && literal[0] != 'V' && !mg_schema_format_check(FORMAT_IPV6, literal, inner))
            return false;
        host_len = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        host_len = colon != NULL ? (size_t)(colon - s) : len;
        if (!chars_ok(s, host_len, "", iri))
            return false;
    }
    if (host_len < len) {
        if (s[host_len] != ':')
            return false;
        for (size_t i = host_len + 1; i < len; i++)
            if (!is_digit((unsigned char)s[i]))
                return false;
    }
    return true;
}

bool mg_schema_valid_uri(const char *s, size_t len, bool reference, bool iri)
{
    if (memchr(s, '\0', len) != NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == '\\' || s[i] == '"' || s[i] == '<' || s[i] == '>' || s[i] == '^' ||
            s[i] == '`' || s[i] == '{' || s[i] == '|' || s[i] == '}' || s[i] == 0x7f)
            return false;
    char *copy = strndup(s, len);
    if (copy == NULL)
        return false;
    uri_parts_t parts;
    uri_parse(copy, &parts);
    bool ok = true;
    if (parts.has_scheme) {
        ok = is_alpha((unsigned char)parts.scheme[0]);
        for (size_t i = 1; ok && i < parts.scheme_len; i++) {
            unsigned char c = (unsigned char)parts.scheme[i];
            ok = is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
        }
    } else if (!reference)
        ok = false;
    else {
        /* a relative reference's first segment has no ':' (it would read as a scheme) */
        size_t first = strcspn(parts.path, "/?#");
        if (!parts.has_authority && memchr(parts.path, ':', first < parts.path_len ? first : parts.path_len))
            ok = false;
    }
    if (ok && parts.has_authority)
        ok = authority_ok(parts.authority, parts.authority_len, iri);
    if (ok)
        ok = chars_ok(parts.path, parts.path_len, ":@/", iri);
    if (ok && parts.has_query)
        ok = chars_ok(parts.query, parts.query_len, ":@/?", iri);
    if (ok && parts.has_fragment)
        ok = chars_ok(parts.fragment, parts.fragment_len, ":@/?", iri);
    free(copy);
    return ok;
}
