/*
 * arena.c - the memory a compiled schema owns: an arena that is freed in one go, and a string-keyed
 * hash map (open addressing, linear probing) for the compiler's and the schema's lookups by pointer,
 * URI and anchor.
 *
 * A schema's nodes, arrays and strings never change after compilation and die together, so they are
 * bump-allocated from chunks; nothing is freed on its own.
 */
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

#define CHUNK_SIZE 16384

struct st_mg_schema_arena_chunk_t {
    mg_schema_arena_chunk_t *next;
    max_align_t align[]; /* the memory follows */
};

void *mg_schema_arena_alloc(mg_schema_arena_t *arena, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    if (size > arena->left) {
        size_t want = size > CHUNK_SIZE / 4 ? size : CHUNK_SIZE;
        mg_schema_arena_chunk_t *chunk = malloc(sizeof(*chunk) + 16 + want);
        if (chunk == NULL)
            return NULL;
        chunk->next = arena->chunks;
        arena->chunks = chunk;
        char *start = (char *)(chunk + 1);
        start += (16 - (uintptr_t)start % 16) % 16;
        if (want != CHUNK_SIZE) {
            /* a large block gets a chunk of its own and leaves the current one in use */
            memset(start, 0, size);
            return start;
        }
        arena->next = start;
        arena->left = want;
    }
    void *out = arena->next;
    arena->next += size;
    arena->left -= size;
    memset(out, 0, size);
    return out;
}

char *mg_schema_arena_strndup(mg_schema_arena_t *arena, const char *s, size_t len)
{
    char *out = mg_schema_arena_alloc(arena, len + 1);
    if (out != NULL && len > 0)
        memcpy(out, s, len);
    return out;
}

void mg_schema_arena_dispose(mg_schema_arena_t *arena)
{
    while (arena->chunks != NULL) {
        mg_schema_arena_chunk_t *next = arena->chunks->next;
        free(arena->chunks);
        arena->chunks = next;
    }
    arena->next = NULL;
    arena->left = 0;
}

/* FNV-1a, 64 bits: keys are short paths and URIs, and the map is never keyed by a stranger's input
 * alone (a schema's own keys, bounded by max_nodes), so a keyed hash buys nothing here. */
uint64_t mg_schema_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t hash = 0xcbf29ce484222325u ^ seed;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3u;
    }
    return hash;
}

static mg_schema_map_entry_t *map_slot(mg_schema_map_entry_t *entries, size_t cap, const char *key, size_t len,
                                       uint64_t hash)
{
    size_t i = (size_t)hash & (cap - 1);
    for (;;) {
        mg_schema_map_entry_t *entry = &entries[i];
        if (entry->key == NULL ||
            (entry->hash == hash && entry->len == len && (len == 0 || memcmp(entry->key, key, len) == 0)))
            return entry;
        i = (i + 1) & (cap - 1);
    }
}

void *mg_schema_map_get(const mg_schema_map_t *map, const char *key, size_t len)
{
    if (map->cap == 0)
        return NULL;
    mg_schema_map_entry_t *entry = map_slot(map->entries, map->cap, key, len, mg_schema_hash_bytes(key, len, 0));
    return entry->key != NULL ? entry->value : NULL;
}

static int map_grow(mg_schema_map_t *map)
{
    size_t cap = map->cap == 0 ? 16 : map->cap * 2;
    mg_schema_map_entry_t *entries = calloc(cap, sizeof(*entries));
    if (entries == NULL)
        return -1;
    for (size_t i = 0; i < map->cap; i++) {
        mg_schema_map_entry_t *old = &map->entries[i];
        if (old->key != NULL)
            *map_slot(entries, cap, old->key, old->len, old->hash) = *old;
    }
    free(map->entries);
    map->entries = entries;
    map->cap = cap;
    return 0;
}

int mg_schema_map_put(mg_schema_map_t *map, mg_schema_arena_t *arena, const char *key, size_t len, void *value)
{
    if ((map->len + 1) * 4 > map->cap * 3 && map_grow(map) != 0)
        return -1;
    uint64_t hash = mg_schema_hash_bytes(key, len, 0);
    mg_schema_map_entry_t *entry = map_slot(map->entries, map->cap, key, len, hash);
    if (entry->key == NULL) {
        char *copy = mg_schema_arena_strndup(arena, key, len);
        if (copy == NULL)
            return -1;
        entry->key = copy;
        entry->len = len;
        entry->hash = hash;
        map->len++;
    }
    entry->value = value;
    return 0;
}

void mg_schema_map_dispose(mg_schema_map_t *map)
{
    free(map->entries);
    map->entries = NULL;
    map->cap = map->len = 0;
}
