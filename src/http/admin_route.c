/*
 * admin_route.c - see admin_route.h.
 *
 * The target is split and decoded here rather than taken from h2o's normalized path: normalization
 * would turn "a/../b" into "b" and leave %2F encoded, and the admin API wants neither guessing. Only the
 * exact shapes of admin_route.h match; anything else is 404 (405 when the shape matches but the method
 * does not), so that a typo never decides something.
 */
#include "http/admin_route.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "guard/approvals.h"

#define MAX_SEGMENTS 6

typedef struct st_segment_t {
    char text[MG_ADMIN_NAME_MAX];
} segment_t;

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

/* Percent-decodes [from, to) into out; -1 on a malformed escape, an empty, over-long or control-laden
 * result. */
static int decode_segment(const char *from, const char *to, char out[MG_ADMIN_NAME_MAX])
{
    size_t len = 0;
    for (const char *c = from; c < to; c++) {
        unsigned char byte = (unsigned char)*c;
        if (byte == '%') {
            int high = c + 2 < to ? hex_value(c[1]) : -1, low = c + 2 < to ? hex_value(c[2]) : -1;
            if (high < 0 || low < 0)
                return -1;
            byte = (unsigned char)(high * 16 + low);
            c += 2;
        }
        if (byte < 0x20 || byte == 0x7f || len + 1 >= MG_ADMIN_NAME_MAX)
            return -1;
        out[len++] = (char)byte;
    }
    out[len] = '\0';
    return len > 0 ? 0 : -1;
}

static int fail(char *error, size_t size, int status, const char *message)
{
    snprintf(error, size, "%s", message);
    return status;
}

/* The query of GET /admin/approvals: nothing, or state=<a state> once. */
static int parse_state(const char *query, size_t len, mg_admin_route_t *route, char *error, size_t size)
{
    static const char *const states[] = {"pending", "approved", "denied", "expired", "abandoned", NULL};
    static const char key[] = "state=";
    route->state[0] = '\0';
    if (len == 0)
        return 0;
    if (len <= sizeof(key) - 1 || memcmp(query, key, sizeof(key) - 1) != 0)
        return fail(error, size, MG_ADMIN_BAD_REQUEST, "the only query parameter is state");
    const char *value = query + sizeof(key) - 1;
    size_t value_len = len - (sizeof(key) - 1);
    for (size_t i = 0; states[i] != NULL; i++) {
        if (strlen(states[i]) == value_len && memcmp(states[i], value, value_len) == 0) {
            snprintf(route->state, sizeof(route->state), "%s", states[i]);
            return 0;
        }
    }
    return fail(error, size, MG_ADMIN_BAD_REQUEST,
                "state must be one of pending, approved, denied, expired, abandoned");
}

/* Matches the decoded segments (after "admin") against the targets; 0, or 404. */
static int match(segment_t *segments, size_t count, mg_admin_route_t *route)
{
    const char *first = segments[0].text;
    if (strcmp(first, "approvals") == 0) {
        if (count == 1) {
            route->action = MG_ADMIN_LIST_APPROVALS;
            route->allow = "GET";
            return 0;
        }
        const char *verb = segments[count - 1].text;
        if (count != 3 || !mg_approvals_id_valid(segments[1].text) ||
            (strcmp(verb, "approve") != 0 && strcmp(verb, "deny") != 0))
            return MG_ADMIN_NOT_FOUND;
        route->action = MG_ADMIN_DECIDE_APPROVAL;
        route->allow = "POST";
        snprintf(route->id, sizeof(route->id), "%.36s", segments[1].text); /* mg_approvals_id_valid: 36 */
        route->verdict = strcmp(verb, "approve") == 0 ? "approved" : "denied";
        return 0;
    }
    if (strcmp(first, "tools") != 0)
        return MG_ADMIN_NOT_FOUND;
    if (count == 1) {
        route->action = MG_ADMIN_LIST_TOOLS;
        route->allow = "GET";
        return 0;
    }
    if (strcmp(segments[count - 1].text, "approve") != 0)
        return MG_ADMIN_NOT_FOUND;
    if (count == 4) {
        memcpy(route->server, segments[1].text, sizeof(route->server));
        memcpy(route->tool, segments[2].text, sizeof(route->tool));
    } else if (count == 3) { /* "SERVER#instructions" */
        static const char suffix[] = "#instructions";
        const char *name = segments[1].text;
        size_t len = strlen(name), suffix_len = sizeof(suffix) - 1;
        if (len <= suffix_len || strcmp(name + len - suffix_len, suffix) != 0)
            return MG_ADMIN_NOT_FOUND;
        snprintf(route->server, sizeof(route->server), "%.*s", (int)(len - suffix_len), name);
        route->tool[0] = '\0';
    } else {
        return MG_ADMIN_NOT_FOUND;
    }
    route->action = MG_ADMIN_APPROVE_TOOL;
    route->allow = "POST";
    return 0;
}

int mg_admin_route_parse(const char *method, size_t method_len, const char *target, size_t target_len,
                         mg_admin_route_t *route, char *error, size_t error_size)
{
    static const char prefix[] = "/admin/";
    segment_t segments[MAX_SEGMENTS] = {0}; /* 3 KiB cleared per admin request; keeps -Wmaybe-uninitialized quiet */
    memset(route, 0, sizeof(*route));
    const char *query = memchr(target, '?', target_len);
    size_t path_len = query != NULL ? (size_t)(query - target) : target_len;
    size_t query_len = query != NULL ? target_len - path_len - 1 : 0;
    if (path_len <= sizeof(prefix) - 1 || memcmp(target, prefix, sizeof(prefix) - 1) != 0)
        return fail(error, error_size, MG_ADMIN_NOT_FOUND, "not found");
    size_t count = 0;
    const char *at = target + sizeof(prefix) - 1, *end = target + path_len;
    while (at <= end) {
        const char *slash = memchr(at, '/', (size_t)(end - at));
        const char *stop = slash != NULL ? slash : end;
        if (count == MAX_SEGMENTS || decode_segment(at, stop, segments[count].text) != 0)
            return fail(error, error_size, MG_ADMIN_NOT_FOUND, "not found");
        count++;
        at = stop + 1;
    }
    if (match(segments, count, route) != 0)
        return fail(error, error_size, MG_ADMIN_NOT_FOUND, "not found");
    if (strlen(route->allow) != method_len || memcmp(route->allow, method, method_len) != 0)
        return fail(error, error_size, MG_ADMIN_BAD_METHOD, "method not allowed");
    if (route->action == MG_ADMIN_LIST_APPROVALS)
        return parse_state(query != NULL ? query + 1 : "", query_len, route, error, error_size);
    if (query_len > 0)
        return fail(error, error_size, MG_ADMIN_BAD_REQUEST, "this target takes no query");
    return 0;
}

int mg_admin_body_parse(const char *body, size_t len, char *reason, char *error, size_t error_size)
{
    reason[0] = '\0';
    if (len == 0)
        return 0;
    json_error_t json_error;
    json_t *value = json_loadb(body, len, JSON_REJECT_DUPLICATES, &json_error);
    if (value == NULL) {
        snprintf(error, error_size, "the body is not JSON: %s", json_error.text);
        return MG_ADMIN_BAD_REQUEST;
    }
    if (!json_is_object(value)) {
        json_decref(value);
        return fail(error, error_size, MG_ADMIN_BAD_REQUEST, "the body must be a JSON object");
    }
    int rc = 0;
    const char *key;
    json_t *member;
    json_object_foreach(value, key, member)
    {
        if (rc != 0)
            break;
        if (strcmp(key, "reason") != 0)
            rc = fail(error, error_size, MG_ADMIN_BAD_REQUEST, "the body's only member is \"reason\"");
        else if (!json_is_string(member))
            rc = fail(error, error_size, MG_ADMIN_BAD_REQUEST, "reason must be a string");
        else if (json_string_length(member) > MG_ADMIN_REASON_MAX)
            rc = fail(error, error_size, MG_ADMIN_BAD_REQUEST, "reason is longer than 500 bytes");
        else
            snprintf(reason, MG_ADMIN_REASON_MAX + 1, "%s", json_string_value(member));
    }
    json_decref(value);
    return rc;
}

bool mg_admin_is_json_type(const char *value, size_t len)
{
    static const char json[] = "application/json";
    if (len < sizeof(json) - 1 || strncasecmp(value, json, sizeof(json) - 1) != 0)
        return false;
    return len == sizeof(json) - 1 || value[sizeof(json) - 1] == ';' || value[sizeof(json) - 1] == ' ';
}
