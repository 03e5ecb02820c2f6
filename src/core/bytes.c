/* bytes.c - see bytes.h. */
#include "core/bytes.h"

#include <stdlib.h>
#include <string.h>

void mg_bytes_grow(mg_bytes_t *bytes, size_t more)
{
    size_t cap = bytes->cap == 0 ? 4096 : bytes->cap;
    while (cap < bytes->len + more)
        cap *= 2;
    char *grown = realloc(bytes->base, cap);
    if (grown == NULL)
        abort();
    bytes->base = grown;
    bytes->cap = cap;
}

void mg_bytes_reserve(mg_bytes_t *bytes, size_t more)
{
    if (bytes->cap - bytes->len >= more)
        return;
    size_t cap = bytes->cap * 2;
    if (cap < bytes->len + more)
        cap = bytes->len + more;
    if (cap < 64)
        cap = 64;
    char *grown = realloc(bytes->base, cap);
    if (grown == NULL)
        abort();
    bytes->base = grown;
    bytes->cap = cap;
}

char *mg_bytes_take(mg_bytes_t *bytes, size_t *len)
{
    char *base = bytes->base;
    *len = bytes->len;
    bytes->base = NULL;
    bytes->len = bytes->cap = 0;
    return base;
}

void mg_bytes_dispose(mg_bytes_t *bytes)
{
    free(bytes->base);
    bytes->base = NULL;
    bytes->len = bytes->cap = 0;
}
