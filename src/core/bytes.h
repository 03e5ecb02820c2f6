/*
 * bytes.h - a growable byte buffer for output queued while a write is in flight
 * (SSE bodies, stdio pipes, serialized JSON). Growth doubles; allocation failure aborts,
 * because a message path has no sane way to continue without memory.
 */
#ifndef MG_CORE_BYTES_H
#define MG_CORE_BYTES_H

#include <stddef.h>
#include <string.h>

typedef struct st_mg_bytes_t {
    char *base;
    size_t len, cap;
} mg_bytes_t;

/* Grows the buffer to hold `more` bytes after its contents (the slow path of mg_bytes_append). */
void mg_bytes_grow(mg_bytes_t *bytes, size_t more);

/* Inline: serializers append many short pieces, and a call per piece cost more than the copy. */
static inline void mg_bytes_append(mg_bytes_t *bytes, const char *data, size_t len)
{
    if (bytes->len + len > bytes->cap)
        mg_bytes_grow(bytes, len);
    if (len != 0)
        memcpy(bytes->base + bytes->len, data, len);
    bytes->len += len;
}
/* Makes room for `more` bytes after the contents. An empty buffer gets what is asked (at least 64
 * bytes), not the 4 KiB a first append takes: a message is usually far smaller, and glibc serves
 * blocks under 1 KiB from per-thread caches, where a larger one first consolidates its free lists. */
void mg_bytes_reserve(mg_bytes_t *bytes, size_t more);
/* Hands the contents to the caller (free() them) and leaves the buffer empty. */
char *mg_bytes_take(mg_bytes_t *bytes, size_t *len);
void mg_bytes_dispose(mg_bytes_t *bytes);

#endif
