/*
 * access.c - from a principal to its roles, and from a role set to one shared view of the policy.
 *
 * Resolving roles walks every binding, so it is done once per principal and remembered in the
 * worker's cache (which retains the principal, so its address cannot be reused while it is a key).
 * Principals with the same role set share one access: its merged rule lists and its memo of name
 * matching (decide.c) serve all of them, so a thousand callers bound to `viewer` match a tool name
 * against the globs once. Both tables are bounded (MAX_PRINCIPALS) and simply emptied when full:
 * emptying costs a few re-resolutions, whereas an eviction order would cost bookkeeping on every call.
 *
 * A cache belongs to one worker thread; an access too, even though its reference count is atomic (a
 * request may release it on the same thread after the cache has dropped it). When memory runs out,
 * the caller gets the shared deny-everything access: failing closed is the only safe answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

#define PRINCIPAL_BUCKETS 1024
#define SET_BUCKETS 256
#define MAX_PRINCIPALS 4096

typedef struct st_principal_entry_t {
    struct st_principal_entry_t *next;
    mg_principal_t *principal; /* retained */
    mg_policy_access_t *access;
} principal_entry_t;

typedef struct st_set_entry_t {
    struct st_set_entry_t *next;
    uint64_t hash;
    mg_policy_access_t *access;
} set_entry_t;

struct st_mg_policy_cache_t {
    mg_policy_t *policy; /* retained: the policy the entries were made with */
    principal_entry_t *principals[PRINCIPAL_BUCKETS];
    size_t principals_len;
    set_entry_t *sets[SET_BUCKETS];
};

static mg_policy_access_t deny_everything = {.roles_text = ""};

/* ---- roles ---- */

static bool array_contains(const json_t *array, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
            return true;
    }
    return false;
}

static bool claim_matches(const mg_config_binding_t *binding, const mg_principal_t *principal)
{
    const char *name = binding->claim;
    const char *wanted = binding->claim_contains != NULL ? binding->claim_contains : binding->claim_equals;
    if (strcmp(name, "groups") == 0)
        return array_contains(principal->groups, wanted);
    if (strcmp(name, "scope") == 0 || strcmp(name, "scp") == 0 || strcmp(name, "scopes") == 0)
        return array_contains(principal->scopes, wanted);
    const json_t *claim = json_object_get(principal->claims, name);
    if (json_is_string(claim))
        return strcmp(json_string_value(claim), wanted) == 0;
    return binding->claim_contains != NULL && json_is_array(claim) && array_contains(claim, wanted);
}

bool mg_policy_binding_matches(const mg_config_binding_t *binding, const mg_principal_t *principal)
{
    bool anonymous = principal->method == MG_AUTH_ANONYMOUS;
    if (binding->authenticated >= 0 && (binding->authenticated == 1) == anonymous)
        return false;
    if (binding->method >= 0 && binding->method != (int)principal->method)
        return false;
    if (binding->subject != NULL && (anonymous || strcmp(principal->subject, binding->subject) != 0))
        return false;
    if (binding->issuer != NULL && (principal->issuer == NULL || strcmp(principal->issuer, binding->issuer) != 0))
        return false;
    if (binding->api_key != NULL &&
        (principal->method != MG_AUTH_API_KEY || strcmp(principal->subject, binding->api_key) != 0))
        return false;
    if (binding->certificate != NULL &&
        (principal->method != MG_AUTH_MTLS || strcmp(principal->subject, binding->certificate) != 0))
        return false;
    return binding->claim == NULL || claim_matches(binding, principal);
}

void mg_policy_resolve_roles(const mg_policy_t *policy, const mg_principal_t *principal, uint64_t *bits,
                             void (*granted)(void *ctx, size_t role, const mg_config_binding_t *binding),
                             void (*ignored)(void *ctx, const char *role), void *ctx)
{
    const mg_config_policy_t *config = &policy->config->policy;
    memset(bits, 0, ((policy->roles_len + 63) / 64) * sizeof(uint64_t));
    for (size_t i = 0; i < config->bindings_len; i++) {
        const mg_config_binding_t *binding = &config->bindings[i];
        if (!mg_policy_binding_matches(binding, principal))
            continue;
        bits[binding->role_index / 64] |= UINT64_C(1) << (binding->role_index % 64);
        if (granted != NULL)
            granted(ctx, binding->role_index, binding);
    }
    size_t i;
    json_t *item;
    json_array_foreach(principal->roles, i, item)
    {
        const char *name = json_string_value(item);
        size_t role = 0;
        while (name != NULL && role < policy->roles_len && strcmp(config->roles[role].name, name) != 0)
            role++;
        if (name != NULL && role < policy->roles_len) {
            bits[role / 64] |= UINT64_C(1) << (role % 64);
            if (granted != NULL)
                granted(ctx, role, NULL);
        } else if (name != NULL && ignored != NULL) {
            ignored(ctx, name);
        }
    }
}

/* ---- accesses ---- */

static bool has_role(const uint64_t *bits, size_t role)
{
    return (bits[role / 64] >> (role % 64)) & 1;
}

static int merge_lists(mg_policy_access_t *access)
{
    const mg_policy_t *policy = access->policy;
    size_t lists_len = MG_POLICY_LISTS * policy->servers_len * 2;
    if ((access->lists = calloc(lists_len + 1, sizeof(*access->lists))) == NULL ||
        (access->uses = calloc(MG_POLICY_LISTS * policy->servers_len + 1, sizeof(*access->uses))) == NULL)
        return -1;
    for (size_t list = 0; list < lists_len; list++) {
        size_t total = 0;
        for (size_t role = 0; role < policy->roles_len; role++)
            total += has_role(access->roles, role) ? policy->roles[role].lists[list].len : 0;
        if (total == 0)
            continue;
        mg_policy_list_t *merged = &access->lists[list];
        if ((merged->entries = malloc(total * sizeof(*merged->entries))) == NULL)
            return -1;
        for (size_t role = 0; role < policy->roles_len; role++) {
            const mg_policy_list_t *own = &policy->roles[role].lists[list];
            if (!has_role(access->roles, role) || own->len == 0)
                continue;
            memcpy(merged->entries + merged->len, own->entries, own->len * sizeof(*own->entries));
            merged->len += own->len;
        }
        if (list % 2 == 0) /* an allow list */
            access->uses[list / 2] = true;
    }
    return 0;
}

static int name_roles(mg_policy_access_t *access)
{
    const mg_policy_t *policy = access->policy;
    size_t len = 1;
    for (size_t role = 0; role < policy->roles_len; role++)
        len += has_role(access->roles, role) ? strlen(policy->roles[role].config->name) + 1 : 0;
    if ((access->roles_text = malloc(len)) == NULL)
        return -1;
    char *out = access->roles_text;
    for (size_t role = 0; role < policy->roles_len; role++) {
        if (has_role(access->roles, role))
            out += sprintf(out, "%s%s", out == access->roles_text ? "" : ",", policy->roles[role].config->name);
    }
    *out = '\0';
    return 0;
}

void mg_policy_access_release(mg_policy_access_t *access)
{
    if (access == NULL || access == &deny_everything ||
        atomic_fetch_sub_explicit(&access->refcount, 1, memory_order_acq_rel) != 1)
        return;
    mg_policy_memo_clear(access);
    free(access->memo);
    pcre2_match_data_free(access->match_data);
    for (size_t i = 0; access->lists != NULL && i < MG_POLICY_LISTS * access->policy->servers_len * 2; i++)
        free(access->lists[i].entries);
    free(access->lists);
    free(access->uses);
    free(access->roles);
    free(access->roles_text);
    mg_policy_release(access->policy);
    free(access);
}

static mg_policy_access_t *retain_access(mg_policy_access_t *access)
{
    if (access != &deny_everything)
        atomic_fetch_add_explicit(&access->refcount, 1, memory_order_relaxed);
    return access;
}

/* A new access for the role set `bits` (copied); NULL when out of memory. */
static mg_policy_access_t *access_create(mg_policy_t *policy, const uint64_t *bits, size_t words)
{
    mg_policy_access_t *access = calloc(1, sizeof(*access));
    if (access == NULL)
        return NULL;
    atomic_init(&access->refcount, 1);
    access->policy = mg_policy_retain(policy);
    if ((access->roles = malloc(words * sizeof(uint64_t))) == NULL) {
        mg_policy_access_release(access);
        return NULL;
    }
    memcpy(access->roles, bits, words * sizeof(uint64_t));
    if (merge_lists(access) != 0 || name_roles(access) != 0) {
        mg_policy_access_release(access);
        return NULL;
    }
    return access;
}

const char *mg_policy_access_roles(const mg_policy_access_t *access)
{
    return access != NULL ? access->roles_text : "";
}

bool mg_policy_access_holds_any(const mg_policy_access_t *access, char *const *roles, size_t roles_len)
{
    const char *held = mg_policy_access_roles(access);
    for (size_t i = 0; i < roles_len; i++) {
        size_t len = strlen(roles[i]);
        for (const char *at = held; *at != '\0';) {
            const char *comma = strchr(at, ',');
            size_t item = comma != NULL ? (size_t)(comma - at) : strlen(at);
            if (item == len && memcmp(at, roles[i], len) == 0)
                return true;
            at += item + (comma != NULL);
        }
    }
    return false;
}

bool mg_policy_uses_kind(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server_index)
{
    if (access == NULL)
        return true;
    if (access->policy == NULL || server_index >= access->policy->servers_len)
        return false;
    return access->uses[mg_policy_list_of(kind) * access->policy->servers_len + server_index];
}

/* ---- the per-worker cache ---- */

mg_policy_cache_t *mg_policy_cache_create(void)
{
    return calloc(1, sizeof(mg_policy_cache_t));
}

static void cache_clear(mg_policy_cache_t *cache)
{
    for (size_t i = 0; i < PRINCIPAL_BUCKETS; i++) {
        for (principal_entry_t *entry = cache->principals[i], *next; entry != NULL; entry = next) {
            next = entry->next;
            mg_principal_release(entry->principal);
            mg_policy_access_release(entry->access);
            free(entry);
        }
        cache->principals[i] = NULL;
    }
    for (size_t i = 0; i < SET_BUCKETS; i++) {
        for (set_entry_t *entry = cache->sets[i], *next; entry != NULL; entry = next) {
            next = entry->next;
            mg_policy_access_release(entry->access);
            free(entry);
        }
        cache->sets[i] = NULL;
    }
    cache->principals_len = 0;
}

void mg_policy_cache_destroy(mg_policy_cache_t *cache)
{
    if (cache == NULL)
        return;
    cache_clear(cache);
    mg_policy_release(cache->policy);
    free(cache);
}

static size_t pointer_bucket(const void *pointer)
{
    uint64_t value = (uint64_t)(uintptr_t)pointer;
    return (size_t)((value * UINT64_C(0x9E3779B97F4A7C15)) >> 54) % PRINCIPAL_BUCKETS;
}

static uint64_t set_hash(const uint64_t *bits, size_t words)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < words; i++)
        hash = (hash ^ bits[i]) * UINT64_C(0x100000001b3);
    return hash;
}

/* The access for a role set: the cache's shared one, or a new one it keeps. NULL when out of memory. */
static mg_policy_access_t *access_for_set(mg_policy_cache_t *cache, const uint64_t *bits, size_t words)
{
    uint64_t hash = set_hash(bits, words);
    set_entry_t **bucket = &cache->sets[hash % SET_BUCKETS];
    for (set_entry_t *entry = *bucket; entry != NULL; entry = entry->next) {
        if (entry->hash == hash && memcmp(entry->access->roles, bits, words * sizeof(uint64_t)) == 0)
            return entry->access;
    }
    set_entry_t *entry = malloc(sizeof(*entry));
    mg_policy_access_t *access = entry != NULL ? access_create(cache->policy, bits, words) : NULL;
    if (access == NULL) {
        free(entry);
        return NULL;
    }
    *entry = (set_entry_t){.next = *bucket, .hash = hash, .access = access};
    *bucket = entry;
    return access;
}

mg_policy_access_t *mg_policy_access_for(mg_policy_cache_t *cache, mg_policy_t *policy, const mg_principal_t *principal)
{
    if (policy == NULL)
        return NULL;
    if (cache == NULL)
        return &deny_everything;
    if (cache->policy != policy) { /* a reload: nothing made with the old policy may be used again */
        cache_clear(cache);
        mg_policy_release(cache->policy);
        cache->policy = mg_policy_retain(policy);
    }
    principal_entry_t **bucket = &cache->principals[pointer_bucket(principal)];
    for (principal_entry_t *entry = *bucket; entry != NULL; entry = entry->next) {
        if (entry->principal == principal)
            return retain_access(entry->access);
    }
    if (cache->principals_len >= MAX_PRINCIPALS) {
        cache_clear(cache);
        bucket = &cache->principals[pointer_bucket(principal)];
    }
    size_t words = (policy->roles_len + 63) / 64 + 1;
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    principal_entry_t *entry = malloc(sizeof(*entry));
    mg_policy_access_t *access = NULL;
    if (bits != NULL && entry != NULL) {
        mg_policy_resolve_roles(policy, principal, bits, NULL, NULL, NULL);
        access = access_for_set(cache, bits, words);
    }
    free(bits);
    if (access == NULL) {
        free(entry);
        return &deny_everything;
    }
    /* the principal is immutable; the cache only holds a reference to keep its address from being reused */
    *entry = (principal_entry_t){.next = *bucket,
                                 .principal = mg_principal_retain((mg_principal_t *)principal),
                                 .access = retain_access(access)};
    *bucket = entry;
    cache->principals_len++;
    return retain_access(access);
}
