/*
 * apikeys_table.c - the immutable snapshot of API keys that the request path verifies against.
 *
 * A table is an array of entries sorted by id, built once and never resized, so any number of
 * workers search it at once without locks (binary search on the public id: no scan, no hash of
 * attacker-chosen text into a table). What changes after the build is only each entry's
 * last_used_at, an atomic the verifier raises with a relaxed store (it is bookkeeping, ordered with
 * nothing), and flushed_at, which only the flushing thread touches; the entries' other fields are
 * read-only.
 *
 * Timing. Verification hashes the presented secret and compares with crypto_verify_32 whether or
 * not the id exists (against an all-zero hash when it does not), so the time an answer takes does
 * not tell a wrong secret from an unknown id, and the comparison itself leaks no prefix. Revoked
 * and expired are checked only after the secret matched, so a caller who knows only an id (ids are
 * not secret: they appear in lists and logs) learns nothing about the key's state.
 *
 * Roles are kept as C strings and turned into a jansson array for each principal a thread makes: no
 * json_t is shared between threads. A thread's memo (mg_apikeys_memo_create) keeps the principal it
 * made for a key, so one key is one principal per worker, and what is cached per principal (the
 * policy's resolved roles) is computed once instead of on every request.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/apikeys_internal.h"

typedef struct st_mg_apikeys_entry_t {
    char id[MG_APIKEY_ID_LEN + 1];
    char *name;
    char **roles;
    size_t roles_len;
    unsigned char hash[MG_STORE_HASH_BYTES];
    int64_t expires_at; /* 0: never */
    int64_t revoked_at; /* 0: not revoked */
    _Atomic int64_t last_used_at;
    _Atomic int64_t flushed_at; /* the last_used_at the store is known to have */
} mg_apikeys_entry_t;

struct st_mg_apikeys_table_t {
    _Atomic int refcount;
    uint64_t generation;
    size_t count;
    mg_apikeys_entry_t *entries; /* sorted by id */
};

const char *mg_apikeys_failure_name(mg_apikeys_failure_t failure)
{
    switch (failure) {
    case MG_APIKEYS_OK:
        return "ok";
    case MG_APIKEYS_MALFORMED:
        return "malformed";
    case MG_APIKEYS_UNKNOWN:
        return "unknown";
    case MG_APIKEYS_REVOKED:
        return "revoked";
    case MG_APIKEYS_EXPIRED:
        return "expired";
    case MG_APIKEYS_NO_MEMORY:
        return "no_memory";
    }
    return "unknown";
}

static void table_destroy(mg_apikeys_table_t *table)
{
    for (size_t i = 0; table->entries != NULL && i < table->count; i++) {
        mg_apikeys_entry_t *entry = &table->entries[i];
        for (size_t r = 0; entry->roles != NULL && r < entry->roles_len; r++)
            free(entry->roles[r]);
        free(entry->roles);
        free(entry->name);
        sodium_memzero(entry->hash, sizeof(entry->hash));
    }
    free(table->entries);
    free(table);
}

/* Fills entry from a row; the roles JSON must be an array of strings. */
static int entry_fill(mg_apikeys_entry_t *entry, const mg_store_key_t *row, mg_error_t *err)
{
    if (strlen(row->id) != MG_APIKEY_ID_LEN)
        return mg_error_set(err, "key %s: malformed id in the store", row->id);
    memcpy(entry->id, row->id, MG_APIKEY_ID_LEN + 1);
    memcpy(entry->hash, row->hash, sizeof(entry->hash));
    entry->expires_at = row->expires_at;
    entry->revoked_at = row->revoked_at;
    atomic_init(&entry->last_used_at, row->last_used_at);
    atomic_init(&entry->flushed_at, row->last_used_at);
    if ((entry->name = strdup(row->name)) == NULL)
        return mg_error_set(err, "out of memory");
    json_t *roles = json_loads(row->roles, JSON_REJECT_DUPLICATES, NULL);
    int rc = 0;
    if (!json_is_array(roles)) {
        rc = mg_error_set(err, "key %s: its roles in the store are not a JSON array", row->id);
        goto done;
    }
    entry->roles = calloc(json_array_size(roles) + 1, sizeof(char *));
    if (entry->roles == NULL) {
        rc = mg_error_set(err, "out of memory");
        goto done;
    }
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        if (!json_is_string(role)) {
            rc = mg_error_set(err, "key %s: its roles in the store are not all strings", row->id);
            goto done;
        }
        if ((entry->roles[entry->roles_len] = strdup(json_string_value(role))) == NULL) {
            rc = mg_error_set(err, "out of memory");
            goto done;
        }
        entry->roles_len++;
    }
done:
    json_decref(roles);
    return rc;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const mg_apikeys_entry_t *)a)->id, ((const mg_apikeys_entry_t *)b)->id);
}

mg_apikeys_table_t *mg_apikeys_table_build(const mg_store_key_t *rows, size_t count, uint64_t generation,
                                           mg_error_t *err)
{
    if (sodium_init() < 0) {
        mg_error_set(err, "libsodium failed to initialize");
        return NULL;
    }
    mg_apikeys_table_t *table = calloc(1, sizeof(*table));
    if (table == NULL || (table->entries = calloc(count > 0 ? count : 1, sizeof(*table->entries))) == NULL) {
        free(table);
        mg_error_set(err, "out of memory");
        return NULL;
    }
    atomic_init(&table->refcount, 1);
    table->generation = generation;
    for (; table->count < count; table->count++) {
        if (entry_fill(&table->entries[table->count], &rows[table->count], err) != 0) {
            table->count++; /* the half-filled entry is released too */
            table_destroy(table);
            return NULL;
        }
    }
    qsort(table->entries, table->count, sizeof(*table->entries), compare_entries);
    return table;
}

mg_apikeys_table_t *mg_apikeys_load(mg_store_t *store, mg_error_t *err)
{
    mg_store_key_t *rows;
    size_t count;
    uint64_t generation;
    if (mg_store_key_list(store, &rows, &count, &generation, err) != 0)
        return NULL;
    mg_apikeys_table_t *table = mg_apikeys_table_build(rows, count, generation, err);
    for (size_t i = 0; i < count; i++)
        sodium_memzero(rows[i].hash, sizeof(rows[i].hash));
    mg_store_key_rows_free(rows, count);
    return table;
}

mg_apikeys_table_t *mg_apikeys_retain(mg_apikeys_table_t *table)
{
    if (table != NULL)
        atomic_fetch_add_explicit(&table->refcount, 1, memory_order_relaxed);
    return table;
}

void mg_apikeys_release(mg_apikeys_table_t *table)
{
    if (table != NULL && atomic_fetch_sub_explicit(&table->refcount, 1, memory_order_acq_rel) == 1)
        table_destroy(table);
}

size_t mg_apikeys_count(const mg_apikeys_table_t *table)
{
    return table->count;
}

uint64_t mg_apikeys_generation(const mg_apikeys_table_t *table)
{
    return table->generation;
}

static mg_apikeys_entry_t *find(const mg_apikeys_table_t *table, const char *id)
{
    size_t low = 0, high = table->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(id, table->entries[middle].id);
        if (order == 0)
            return &table->entries[middle];
        if (order < 0)
            high = middle;
        else
            low = middle + 1;
    }
    return NULL;
}

static mg_principal_t *make_principal(const mg_apikeys_entry_t *entry)
{
    mg_principal_t *principal = mg_principal_create(MG_AUTH_API_KEY, entry->name, NULL, entry->id);
    if (principal == NULL)
        return NULL;
    principal->expires_at = entry->expires_at;
    for (size_t i = 0; i < entry->roles_len; i++) {
        if (json_array_append_new(principal->roles, json_string(entry->roles[i])) != 0) {
            mg_principal_release(principal);
            return NULL;
        }
    }
    return principal;
}

mg_principal_t **mg_apikeys_memo_create(const mg_apikeys_table_t *table)
{
    return calloc(table->count > 0 ? table->count : 1, sizeof(mg_principal_t *));
}

void mg_apikeys_memo_destroy(const mg_apikeys_table_t *table, mg_principal_t **memo)
{
    for (size_t i = 0; memo != NULL && i < table->count; i++)
        mg_principal_release(memo[i]);
    free(memo);
}

int mg_apikeys_verify(const mg_apikeys_table_t *table, mg_principal_t **memo, const char *presented, size_t len,
                      int64_t now, mg_principal_t **out, mg_apikeys_failure_t *failure)
{
    static const unsigned char no_hash[MG_STORE_HASH_BYTES]; /* no secret hashes to all zeros */
    char id[MG_APIKEY_ID_LEN + 1];
    unsigned char secret[MG_APIKEY_SECRET_BYTES], hash[MG_STORE_HASH_BYTES];
    *out = NULL;
    if (presented == NULL || mg_apikeys_parse(presented, len, id, secret) != 0) {
        *failure = MG_APIKEYS_MALFORMED;
        return -1;
    }
    mg_apikeys_entry_t *entry = find(table, id);
    mg_apikeys_hash(id, secret, hash);
    sodium_memzero(secret, sizeof(secret));
    int matches = crypto_verify_32(hash, entry != NULL ? entry->hash : no_hash) == 0 && entry != NULL;
    sodium_memzero(hash, sizeof(hash));
    if (!matches) {
        *failure = MG_APIKEYS_UNKNOWN;
        return -1;
    }
    if (entry->revoked_at != 0) {
        *failure = MG_APIKEYS_REVOKED;
        return -1;
    }
    if (entry->expires_at != 0 && now >= entry->expires_at) {
        *failure = MG_APIKEYS_EXPIRED;
        return -1;
    }
    /* Only ever raised, and only written when it changes, so that busy keys do not make every
     * worker write the same cache line on every request. */
    if (atomic_load_explicit(&entry->last_used_at, memory_order_relaxed) < now)
        atomic_store_explicit(&entry->last_used_at, now, memory_order_relaxed);
    mg_principal_t **slot = memo != NULL ? &memo[entry - table->entries] : NULL;
    if (slot != NULL && *slot != NULL) {
        *out = mg_principal_retain(*slot);
    } else if ((*out = make_principal(entry)) == NULL) {
        *failure = MG_APIKEYS_NO_MEMORY;
        return -1;
    } else if (slot != NULL) {
        *slot = mg_principal_retain(*out);
    }
    *failure = MG_APIKEYS_OK;
    return 0;
}

int mg_apikeys_is_stale(mg_store_t *store, const mg_apikeys_table_t *table, bool *stale, mg_error_t *err)
{
    uint64_t generation;
    if (mg_store_key_generation(store, &generation, err) != 0)
        return -1;
    *stale = generation != table->generation;
    return 0;
}

int mg_apikeys_flush_last_used(mg_store_t *store, const mg_apikeys_table_t *table, size_t *written, mg_error_t *err)
{
    if (written != NULL)
        *written = 0;
    if (table->count == 0)
        return 0;
    mg_store_touch_t *touches = calloc(table->count, sizeof(*touches));
    mg_apikeys_entry_t **touched = calloc(table->count, sizeof(*touched));
    size_t count = 0;
    int rc = 0;
    if (touches == NULL || touched == NULL) {
        rc = mg_error_set(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < table->count; i++) {
        mg_apikeys_entry_t *entry = &table->entries[i];
        int64_t used = atomic_load_explicit(&entry->last_used_at, memory_order_relaxed);
        if (used > atomic_load_explicit(&entry->flushed_at, memory_order_relaxed)) {
            touches[count] = (mg_store_touch_t){entry->id, used};
            touched[count++] = entry;
        }
    }
    if (count == 0 || (rc = mg_store_key_touch(store, touches, count, err)) != 0)
        goto done;
    for (size_t i = 0; i < count; i++)
        atomic_store_explicit(&touched[i]->flushed_at, touches[i].last_used_at, memory_order_relaxed);
    if (written != NULL)
        *written = count;
done:
    free(touches);
    free(touched);
    return rc;
}
