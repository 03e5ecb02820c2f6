/*
 * asked.c - the ids of servers' requests to clients (asked.h).
 */
#include "mcp/asked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHOD_MAX 64 /* longer than any method the specification defines */

/* A method the id can carry: 1 to METHOD_MAX characters of A-Z a-z 0-9 / _ . - and no ':'. */
static bool plain_method(const char *method)
{
    size_t len = method != NULL ? strlen(method) : 0;
    if (len == 0 || len > METHOD_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = method[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

char *mg_asked_id_make(const char *asker, const char *method, const char *tail)
{
    const char *carried = plain_method(method) ? method : "-";
    size_t size = strlen(MG_ASKED_PREFIX) + strlen(asker) + strlen(carried) + strlen(tail) + 3;
    char *id = malloc(size);
    if (id != NULL)
        snprintf(id, size, MG_ASKED_PREFIX "%s:%s:%s", asker, carried, tail);
    return id;
}

bool mg_asked_id_parse(const char *id, mg_asked_id_t *out)
{
    size_t prefix_len = strlen(MG_ASKED_PREFIX);
    if (id == NULL || strncmp(id, MG_ASKED_PREFIX, prefix_len) != 0)
        return false;
    const char *asker = id + prefix_len;
    const char *asker_end = strchr(asker, ':');
    const char *method = asker_end != NULL ? asker_end + 1 : NULL;
    const char *method_end = method != NULL ? strchr(method, ':') : NULL;
    if (asker_end == NULL || asker_end == asker || method_end == NULL || method_end == method)
        return false;
    *out = (mg_asked_id_t){.asker = asker,
                           .asker_len = (size_t)(asker_end - asker),
                           .method = method,
                           .method_len = (size_t)(method_end - method),
                           .tail = method_end + 1};
    return true;
}

bool mg_asked_id_from(const mg_asked_id_t *parsed, const char *asker)
{
    return strlen(asker) == parsed->asker_len && memcmp(parsed->asker, asker, parsed->asker_len) == 0;
}
