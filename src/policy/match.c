/*
 * match.c - names against globs, and resource URIs that must not be trusted to a glob.
 *
 * A glob's only metacharacter is '*', matching any run of bytes ('/' and nothing included). The
 * matcher is the classic greedy one with a single backtrack point (the last '*'): linear in practice
 * and O(glob * text) at worst, never exponential. Comparison is byte for byte, so "GET_x", a
 * Cyrillic 'е' in "gеt_x" or a full-width letter never match "get_*": whoever wants them must write
 * them.
 *
 * A resource glob like "file:///pub/<star>" is a statement about paths, and a URI such as
 * "file:///pub/../etc/passwd" or "file:///pub/%2e%2e/etc/passwd" matches it textually while naming
 * something else once the server resolves it. Rather than guess how each server normalizes, such
 * URIs fail closed for every rule whose glob is not exactly "*": an allow rule does not match them,
 * a deny rule (and a scopes entry) does. Caught: "." and ".." segments, raw or with any '.'
 * percent-encoded (%2e, %2E, and the double-encoded %252e), encoded '/' and '\' (%2f, %5c, also
 * double-encoded), and a raw backslash, which some servers read as a separator.
 */
#include <string.h>

#include "policy/policy_internal.h"

bool mg_policy_glob_match(const char *glob, size_t glob_len, const char *text, size_t text_len)
{
    size_t g = 0, t = 0;
    size_t star = (size_t)-1, resume = 0; /* after the last '*': where the glob and the text resume */
    while (t < text_len) {
        if (g < glob_len && glob[g] == '*') {
            star = ++g;
            resume = t;
        } else if (g < glob_len && glob[g] == text[t]) {
            g++;
            t++;
        } else if (star != (size_t)-1) {
            g = star;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (g < glob_len && glob[g] == '*')
        g++;
    return g == glob_len;
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

/* The byte a percent-escape at uri[i] stands for, and the escape's length; -1 if there is none. "%25" followed
 * by two hex digits is read as encoded twice ("%252e" is '.'): a server that decodes twice sees that. */
static int escaped_byte(const char *uri, size_t len, size_t i, size_t *escape_len)
{
    if (i + 2 >= len || uri[i] != '%')
        return -1;
    int high = hex_value(uri[i + 1]), low = hex_value(uri[i + 2]);
    if (high < 0 || low < 0)
        return -1;
    *escape_len = 3;
    if (high * 16 + low == '%' && i + 4 < len) {
        int high2 = hex_value(uri[i + 3]), low2 = hex_value(uri[i + 4]);
        if (high2 >= 0 && low2 >= 0) {
            *escape_len = 5;
            return high2 * 16 + low2;
        }
    }
    return high * 16 + low;
}

bool mg_policy_uri_suspicious(const char *uri, size_t len)
{
    size_t segment_start = 0, dots = 0, others = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || uri[i] == '/') {
            if (others == 0 && (dots == 1 || dots == 2) && i > segment_start)
                return true;
            segment_start = i + 1;
            dots = others = 0;
            continue;
        }
        size_t escape_len = 1;
        int byte = escaped_byte(uri, len, i, &escape_len);
        if (byte < 0)
            byte = (unsigned char)uri[i];
        if (uri[i] == '\\' || (escape_len > 1 && (byte == '/' || byte == '\\')))
            return true;
        if (byte == '.')
            dots++;
        else
            others++;
        i += escape_len - 1;
    }
    return false;
}

bool mg_policy_entry_matches(const mg_policy_entry_t *entry, const char *name, size_t name_len, bool suspicious,
                             bool fail_closed_matches)
{
    if (entry->any)
        return true;
    if (suspicious)
        return fail_closed_matches;
    return mg_policy_glob_match(entry->glob, entry->glob_len, name, name_len);
}
