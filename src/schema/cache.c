/*
 * cache.c - see cache.h.
 *
 * A chained hash table on the key's first bytes (SHA-256 output needs no further mixing) and a
 * doubly linked list in order of use, most recent first, for eviction.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/cache.h"
#include "schema/schema_internal.h"

#define KEY_SIZE 32

typedef struct st_cache_entry_t {
    unsigned char key[KEY_SIZE];
    mg_schema_t *schema; /* NULL: the compilation failed */
    int error;
    char *message;
    struct st_cache_entry_t *chain, *newer, *older;
} cache_entry_t;

struct st_mg_schema_cache_t {
    pthread_mutex_t mutex;
    cache_entry_t **buckets;
    size_t buckets_len, max_entries;
    cache_entry_t *newest, *oldest;
    mg_schema_cache_stats_t stats;
};

mg_schema_cache_t *mg_schema_cache_create(size_t max_entries)
{
    mg_schema_cache_t *cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return NULL;
    cache->max_entries = max_entries > 0 ? max_entries : MG_SCHEMA_CACHE_DEFAULT_ENTRIES;
    cache->buckets_len = 64;
    while (cache->buckets_len < cache->max_entries && cache->buckets_len < (SIZE_MAX >> 2))
        cache->buckets_len *= 2;
    if ((cache->buckets = calloc(cache->buckets_len, sizeof(*cache->buckets))) == NULL ||
        pthread_mutex_init(&cache->mutex, NULL) != 0) {
        free(cache->buckets);
        free(cache);
        return NULL;
    }
    return cache;
}

static void entry_free(cache_entry_t *entry)
{
    mg_schema_release(entry->schema);
    free(entry->message);
    free(entry);
}

void mg_schema_cache_destroy(mg_schema_cache_t *cache)
{
    if (cache == NULL)
        return;
    for (cache_entry_t *entry = cache->newest; entry != NULL;) {
        cache_entry_t *older = entry->older;
        entry_free(entry);
        entry = older;
    }
    free(cache->buckets);
    pthread_mutex_destroy(&cache->mutex);
    free(cache);
}

static void put_u64(unsigned char **p, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        *(*p)++ = (unsigned char)(value >> (8 * i));
}

/* SHA-256 over a version tag, the options (field by field: a struct has padding) and the dump. */
static int make_key(const json_t *schema, const mg_schema_options_t *options, unsigned char key[KEY_SIZE])
{
    char *dump = json_dumps(schema, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    if (dump == NULL)
        return -1;
    unsigned char header[128], *p = header;
    memcpy(p, "mcpgate-schema-1", 16);
    p += 16;
    put_u64(&p, (uint64_t)options->default_draft);
    put_u64(&p, (uint64_t)options->validate_formats | (uint64_t)options->strict << 1 |
                    (uint64_t)options->reject_unknown_dialect << 2);
    put_u64(&p, options->max_nodes);
    put_u64(&p, options->max_depth);
    put_u64(&p, options->max_fanout);
    put_u64(&p, options->max_instance_depth);
    put_u64(&p, options->max_steps);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, header, (size_t)(p - header)) == 1 &&
             EVP_DigestUpdate(ctx, dump, strlen(dump)) == 1 && EVP_DigestFinal_ex(ctx, key, &len) == 1 &&
             len == KEY_SIZE;
    EVP_MD_CTX_free(ctx);
    free(dump);
    return ok ? 0 : -1;
}

static size_t bucket_of(const mg_schema_cache_t *cache, const unsigned char key[KEY_SIZE])
{
    uint64_t bits;
    memcpy(&bits, key, sizeof(bits));
    return (size_t)bits & (cache->buckets_len - 1);
}

static cache_entry_t *lookup(mg_schema_cache_t *cache, const unsigned char key[KEY_SIZE])
{
    for (cache_entry_t *entry = cache->buckets[bucket_of(cache, key)]; entry != NULL; entry = entry->chain)
        if (memcmp(entry->key, key, KEY_SIZE) == 0)
            return entry;
    return NULL;
}

static void unlink_use(mg_schema_cache_t *cache, cache_entry_t *entry)
{
    if (entry->newer != NULL)
        entry->newer->older = entry->older;
    else
        cache->newest = entry->older;
    if (entry->older != NULL)
        entry->older->newer = entry->newer;
    else
        cache->oldest = entry->newer;
    entry->newer = entry->older = NULL;
}

static void link_newest(mg_schema_cache_t *cache, cache_entry_t *entry)
{
    entry->older = cache->newest;
    entry->newer = NULL;
    if (cache->newest != NULL)
        cache->newest->newer = entry;
    cache->newest = entry;
    if (cache->oldest == NULL)
        cache->oldest = entry;
}

static void remove_entry(mg_schema_cache_t *cache, cache_entry_t *entry)
{
    cache_entry_t **link = &cache->buckets[bucket_of(cache, entry->key)];
    while (*link != entry)
        link = &(*link)->chain;
    *link = entry->chain;
    unlink_use(cache, entry);
    cache->stats.entries--;
    cache->stats.failures -= entry->schema == NULL;
    cache->stats.evictions++;
    entry_free(entry);
}

static void evict(mg_schema_cache_t *cache)
{
    /* the newest entry is the one just asked for: it stays */
    for (cache_entry_t *entry = cache->oldest;
         entry != NULL && entry != cache->newest && cache->stats.entries > cache->max_entries;) {
        cache_entry_t *newer = entry->newer;
        /* only the cache's reference left: nobody can see it go */
        if (entry->schema == NULL || atomic_load_explicit(&entry->schema->refcount, memory_order_acquire) == 1)
            remove_entry(cache, entry);
        entry = newer;
    }
}

static int answer(const cache_entry_t *entry, mg_schema_t **out, mg_error_t *err)
{
    if (entry->schema != NULL) {
        *out = mg_schema_retain(entry->schema);
        return 0;
    }
    mg_error_set(err, "%s", entry->message);
    return entry->error;
}

int mg_schema_cache_get(mg_schema_cache_t *cache, const json_t *schema, const mg_schema_options_t *opts,
                        mg_schema_t **out, mg_error_t *err)
{
    *out = NULL;
    if (schema == NULL)
        return mg_error_set(err, "no schema"), MG_SCHEMA_ERR_INVALID;
    mg_schema_options_t options;
    mg_schema_options_normalize(opts, &options);
    unsigned char key[KEY_SIZE];
    if (make_key(schema, &options, key) != 0)
        return mg_error_set(err, "out of memory compiling a schema"), MG_SCHEMA_ERR_NOMEM;
    pthread_mutex_lock(&cache->mutex);
    cache_entry_t *entry = lookup(cache, key);
    if (entry != NULL) {
        unlink_use(cache, entry);
        link_newest(cache, entry);
        cache->stats.hits++;
        int rc = answer(entry, out, err);
        pthread_mutex_unlock(&cache->mutex);
        return rc;
    }
    cache->stats.misses++;
    pthread_mutex_unlock(&cache->mutex);

    mg_schema_t *compiled = NULL;
    mg_error_t compile_err = {{0}};
    int rc = mg_schema_compile(schema, &options, &compiled, &compile_err);
    if (rc == MG_SCHEMA_ERR_NOMEM) {
        mg_error_set(err, "%s", compile_err.message);
        return rc;
    }
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL || (rc != 0 && (entry->message = strdup(compile_err.message)) == NULL)) {
        free(entry);
        mg_schema_release(compiled);
        return mg_error_set(err, "out of memory compiling a schema"), MG_SCHEMA_ERR_NOMEM;
    }
    memcpy(entry->key, key, KEY_SIZE);
    entry->schema = compiled;
    entry->error = rc;

    pthread_mutex_lock(&cache->mutex);
    cache_entry_t *raced = lookup(cache, key);
    if (raced != NULL) {
        /* another thread compiled the same schema meanwhile: answer with its entry */
        entry_free(entry);
        entry = raced;
        unlink_use(cache, entry);
    } else {
        size_t bucket = bucket_of(cache, key);
        entry->chain = cache->buckets[bucket];
        cache->buckets[bucket] = entry;
        cache->stats.entries++;
        cache->stats.failures += entry->schema == NULL;
    }
    link_newest(cache, entry);
    rc = answer(entry, out, err); /* retain before evicting, so this one stays */
    evict(cache);
    pthread_mutex_unlock(&cache->mutex);
    return rc;
}

void mg_schema_cache_stats(mg_schema_cache_t *cache, mg_schema_cache_stats_t *out)
{
    pthread_mutex_lock(&cache->mutex);
    *out = cache->stats;
    pthread_mutex_unlock(&cache->mutex);
}
