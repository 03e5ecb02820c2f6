/*
 * bytes.h - a growable byte buffer for output queued while a write is in flight
 * (SSE bodies, stdio pipes). Growth doubles; allocation failure aborts, because a
 * message path has no sane way to continue without memory.
 */
#ifndef MG_CORE_BYTES_H
#define MG_CORE_BYTES_H

#include <stddef.h>

typedef struct st_mg_bytes_t {
    char *base;
    size_t len, cap;
} mg_bytes_t;

void mg_bytes_append(mg_bytes_t *bytes, const char *data, size_t len);
/* Hands the contents to the caller (free() them) and leaves the buffer empty. */
char *mg_bytes_take(mg_bytes_t *bytes, size_t *len);
void mg_bytes_dispose(mg_bytes_t *bytes);

#endif
