/*
 * cache.h - compiled schemas shared by content: the same schema (the same canonical JSON and the
 * same options) compiles once, whichever server, session or reconnect brings it.
 *
 * The key is the SHA-256 of the options and of the schema dumped canonically (sorted keys, compact).
 * A failed compilation is cached too, so that an invalid tool schema is not compiled again on each
 * call, and every get reports the same error code and message.
 *
 * Size: at most max_entries entries are kept when possible. Past that, the least recently used
 * entries nobody else holds (the cache has the only reference) and failed entries are evicted; an
 * entry still in use elsewhere is never evicted, so a cache may hold more while they all are.
 *
 * Threads: every function may be called from any thread; a mutex guards the table, and compilation
 * runs outside it (two threads missing on the same schema at once both compile; one result is kept).
 * Cost of a get: a canonical dump and a SHA-256 of the schema, then a lookup. Get a tool's schema
 * when its definition arrives, not on each call.
 */
#ifndef MG_SCHEMA_CACHE_H
#define MG_SCHEMA_CACHE_H

#include "schema/schema.h"

typedef struct st_mg_schema_cache_t mg_schema_cache_t;

#define MG_SCHEMA_CACHE_DEFAULT_ENTRIES 1024

typedef struct st_mg_schema_cache_stats_t {
    size_t hits, misses; /* gets answered from the cache, gets that compiled */
    size_t entries;      /* now, failed compilations included */
    size_t failures;     /* entries now that hold a failed compilation */
    size_t evictions;
} mg_schema_cache_stats_t;

/* max_entries 0: MG_SCHEMA_CACHE_DEFAULT_ENTRIES. NULL when out of memory. */
mg_schema_cache_t *mg_schema_cache_create(size_t max_entries);
/* Releases the cache's references; schemas handed out stay valid until their holders release them. */
void mg_schema_cache_destroy(mg_schema_cache_t *cache);

/* The compiled `schema` under `opts` (NULL: the defaults), as mg_schema_compile returns it: 0 and a
 * new reference in *out, or one of MG_SCHEMA_ERR_* with err filled (the same each time for the same
 * schema and options; MG_SCHEMA_ERR_NOMEM is never cached). */
int mg_schema_cache_get(mg_schema_cache_t *cache, const json_t *schema, const mg_schema_options_t *opts,
                        mg_schema_t **out, mg_error_t *err);
void mg_schema_cache_stats(mg_schema_cache_t *cache, mg_schema_cache_stats_t *out);

#endif
