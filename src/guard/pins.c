/*
 * pins.c - the pin store shared by all workers (see pins.h for the model and the transitions).
 *
 * The map is the whole pins table in memory, as jansson objects that never leave this file and are only
 * touched under pins->lock (jansson's reference counts are not atomic): callers get verdicts copied into
 * their own buffers. A transition is written through at once, inside the lock, with the generation the
 * map was read at; when another process (`mcpgate tools approve`) moved the generation meanwhile, the map
 * is reloaded and the definition judged again, so an approval is never overwritten by a stale decision.
 * Writes happen on a worker's thread while it fills a catalog: rare (first sight, a change), and never
 * for a tools/call.
 */
#include "guard/pins.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"
#include "guard/pins_internal.h"

#define BY_FIRST_SIGHT "first-sight"
#define BY_OPERATOR "operator"

static const char *const pinned_members[] = {"name",        "title",        "description",
                                             "inputSchema", "outputSchema", "annotations"};

const char *mg_pins_reason_name(mg_pins_reason_t reason)
{
    switch (reason) {
    case MG_PINS_REASON_CHANGED:
        return "changed";
    case MG_PINS_REASON_POISONED:
        return "poisoned";
    default:
        return "";
    }
}

static mg_pins_reason_t reason_parse(const char *name)
{
    if (strcmp(name, "changed") == 0)
        return MG_PINS_REASON_CHANGED;
    if (strcmp(name, "poisoned") == 0)
        return MG_PINS_REASON_POISONED;
    return MG_PINS_REASON_NONE;
}

/* ---- hashing ------------------------------------------------------------------------------------ */

static int hash_canonical(const json_t *value, char hash[MG_PINS_HASH_HEX])
{
    size_t len;
    /* sorted keys at every depth, no whitespace: the same definition always gives the same bytes */
    char *text = mg_json_write_text(value, JSON_COMPACT | JSON_SORT_KEYS, &len);
    if (text == NULL)
        return -1;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)text, len);
    free(text);
    sodium_bin2hex(hash, MG_PINS_HASH_HEX, digest, sizeof(digest));
    return 0;
}

int mg_pins_hash_tool(const json_t *tool, char hash[MG_PINS_HASH_HEX])
{
    hash[0] = '\0';
    if (!json_is_object(tool))
        return -1;
    json_t *canonical = json_object();
    for (size_t i = 0; i < sizeof(pinned_members) / sizeof(pinned_members[0]); i++) {
        json_t *member = json_object_get(tool, pinned_members[i]);
        if (member != NULL)
            json_object_set(canonical, pinned_members[i], member); /* borrowed: only written, never changed */
    }
    int rc = hash_canonical(canonical, hash);
    json_decref(canonical);
    return rc;
}

int mg_pins_hash_instructions(const json_t *result, char hash[MG_PINS_HASH_HEX])
{
    hash[0] = '\0';
    if (!json_is_object(result))
        return -1;
    json_t *canonical = json_object();
    json_t *instructions = json_object_get(result, "instructions");
    if (json_is_string(instructions))
        json_object_set(canonical, "instructions", instructions);
    int rc = hash_canonical(canonical, hash);
    json_decref(canonical);
    return rc;
}

/* ---- the map ------------------------------------------------------------------------------------ */

static const char *text_of(const json_t *entry, const char *key)
{
    const char *text = json_string_value(json_object_get(entry, key));
    return text != NULL ? text : "";
}

static json_t *entry_from_row(const mg_store_pin_t *row)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "approved", row->approved_hash, "by", row->approved_by,
                     "pending", row->pending_hash, "reason", row->reason, "detail", row->detail, "first",
                     (json_int_t)row->first_seen, "changed", (json_int_t)row->changed_at, "approved_at",
                     (json_int_t)row->approved_at);
}

static char *map_key(const char *server, const char *tool)
{
    size_t len = strlen(server) + 1 + strlen(tool) + 1;
    char *key = malloc(len);
    if (key != NULL)
        snprintf(key, len, "%s/%s", server, tool);
    return key;
}

/* Replaces the map with the table's rows; `servers` (optional, an array) gets the servers whose pins differ. */
static int reload_locked(mg_pins_t *pins, json_t *servers, mg_error_t *err)
{
    mg_store_pin_t *rows;
    size_t count;
    uint64_t generation;
    if (mg_store_pin_list(pins->store, &rows, &count, &generation, err) != 0)
        return -1;
    json_t *map = json_object();
    json_t *touched = json_object(); /* server name -> true */
    for (size_t i = 0; i < count; i++) {
        char *key = map_key(rows[i].server, rows[i].tool);
        json_t *entry = entry_from_row(&rows[i]);
        if (key == NULL || entry == NULL) {
            free(key);
            json_decref(entry);
            continue;
        }
        if (!json_equal(entry, json_object_get(pins->map, key)))
            json_object_set_new(touched, rows[i].server, json_true());
        json_object_set_new(map, key, entry);
        free(key);
    }
    const char *key;
    json_t *entry;
    json_object_foreach(pins->map, key, entry)
    {
        if (json_object_get(map, key) == NULL) { /* a pin deleted by hand */
            const char *slash = strchr(key, '/');
            if (slash != NULL) {
                char server[256];
                snprintf(server, sizeof(server), "%.*s", (int)(slash - key), key);
                json_object_set_new(touched, server, json_true());
            }
        }
    }
    if (servers != NULL) {
        json_object_foreach(touched, key, entry)
        {
            json_array_append_new(servers, json_string(key));
        }
    }
    json_decref(touched);
    json_decref(pins->map);
    pins->map = map;
    pins->generation = generation;
    mg_store_pin_rows_free(rows, count);
    return 0;
}

/* Writes `entry` as the pin of (server, tool). MG_STORE_CONFLICT when the table moved since the map was read. */
static int persist_locked(mg_pins_t *pins, const char *server, const char *tool, const json_t *entry, mg_error_t *err)
{
    mg_store_pin_t row = {
        .server = (char *)server,
        .tool = (char *)tool,
        .approved_hash = (char *)text_of(entry, "approved"),
        .approved_by = (char *)text_of(entry, "by"),
        .pending_hash = (char *)text_of(entry, "pending"),
        .reason = (char *)text_of(entry, "reason"),
        .detail = (char *)text_of(entry, "detail"),
        .first_seen = json_integer_value(json_object_get(entry, "first")),
        .changed_at = json_integer_value(json_object_get(entry, "changed")),
        .approved_at = json_integer_value(json_object_get(entry, "approved_at")),
    };
    uint64_t generation;
    int rc = mg_store_pin_put(pins->store, &row, pins->generation, &generation, err);
    if (rc == 0)
        pins->generation = generation;
    return rc;
}

/* ---- judging ------------------------------------------------------------------------------------ */

/* The verdict on `hash` given the pin `entry` (NULL: none); `*update` (new reference) is the entry to store
 * when this observation is a transition, else NULL. */
static void judge(const mg_pins_t *pins, const json_t *entry, const char *hash, int64_t now, json_t **update,
                  mg_pins_judgement_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->current, sizeof(out->current), "%s", hash);
    *update = NULL;
    if (entry == NULL) {
        *update = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "approved", hash, "by", BY_FIRST_SIGHT,
                            "pending", "", "reason", "", "detail", "", "first", (json_int_t)now, "changed",
                            (json_int_t)0, "approved_at", (json_int_t)now);
        snprintf(out->approved, sizeof(out->approved), "%s", hash);
        out->event = MG_PINS_FIRST_SIGHT;
        return;
    }
    const char *approved = text_of(entry, "approved"), *pending = text_of(entry, "pending");
    snprintf(out->approved, sizeof(out->approved), "%s", approved);
    if (pending[0] != '\0' && strcmp(pending, hash) == 0) { /* known already: decided, and reported, before */
        out->reason = reason_parse(text_of(entry, "reason"));
        if (out->reason == MG_PINS_REASON_NONE)
            out->reason = MG_PINS_REASON_CHANGED;
        snprintf(out->detail, sizeof(out->detail), "%s", text_of(entry, "detail"));
        out->hold = out->reason == MG_PINS_REASON_POISONED || pins->mode == MG_PINS_ENFORCE;
        return;
    }
    if (strcmp(approved, hash) == 0) {
        if (pending[0] != '\0') {
            *update = json_deep_copy(entry);
            json_object_set_new(*update, "pending", json_string(""));
            json_object_set_new(*update, "reason", json_string(""));
            json_object_set_new(*update, "detail", json_string(""));
            out->event = MG_PINS_REVERTED;
        }
        return;
    }
    *update = json_deep_copy(entry);
    json_object_set_new(*update, "pending", json_string(hash));
    json_object_set_new(*update, "reason", json_string("changed"));
    json_object_set_new(*update, "detail", json_string(""));
    json_object_set_new(*update, "changed", json_integer(now));
    out->reason = MG_PINS_REASON_CHANGED;
    out->hold = pins->mode == MG_PINS_ENFORCE;
    out->event = MG_PINS_NEWLY_CHANGED;
}

int mg_pins_observe(mg_pins_t *pins, const char *server, const char *tool, const char *hash, int64_t now,
                    mg_pins_judgement_t *out, mg_error_t *err)
{
    char *key = map_key(server, tool);
    if (key == NULL) {
        memset(out, 0, sizeof(*out));
        return mg_error_set(err, "out of memory");
    }
    int rc = 0;
    pthread_mutex_lock(&pins->lock);
    for (int attempt = 0; attempt < 2; attempt++) {
        json_t *update;
        judge(pins, json_object_get(pins->map, key), hash, now, &update, out);
        if (update == NULL) {
            rc = 0;
            break;
        }
        rc = persist_locked(pins, server, tool, update, err);
        if (rc == MG_STORE_CONFLICT && attempt == 0 && reload_locked(pins, NULL, err) == 0) {
            json_decref(update);
            continue; /* an approval landed meanwhile: judge again against it */
        }
        /* written, or not writable: either way this process holds to the verdict */
        json_object_set_new(pins->map, key, update);
        rc = rc == 0 ? 0 : -1;
        break;
    }
    pthread_mutex_unlock(&pins->lock);
    free(key);
    return rc;
}

int mg_pins_flag(mg_pins_t *pins, const char *server, const char *tool, const char *hash, mg_pins_reason_t reason,
                 const char *detail, int64_t now, bool *changed, mg_error_t *err)
{
    if (changed != NULL)
        *changed = false;
    if (reason != MG_PINS_REASON_POISONED)
        return mg_error_set(err, "only a poisoning verdict can be flagged");
    char *key = map_key(server, tool);
    if (key == NULL)
        return mg_error_set(err, "out of memory");
    char words[MG_PINS_DETAIL_MAX];
    snprintf(words, sizeof(words), "%s", detail != NULL ? detail : "");
    int rc = 0;
    pthread_mutex_lock(&pins->lock);
    for (int attempt = 0; attempt < 2; attempt++) {
        const json_t *entry = json_object_get(pins->map, key);
        if (entry != NULL && strcmp(text_of(entry, "approved"), hash) == 0 &&
            strcmp(text_of(entry, "by"), BY_OPERATOR) == 0)
            break; /* accepted by a person, exactly this definition */
        if (entry != NULL && strcmp(text_of(entry, "pending"), hash) == 0 &&
            strcmp(text_of(entry, "reason"), "poisoned") == 0 && strcmp(text_of(entry, "detail"), words) == 0)
            break; /* flagged already */
        json_t *update = entry != NULL ? json_deep_copy(entry)
                                       : json_pack("{s:s, s:s, s:I, s:I}", "approved", "", "by", "", "first",
                                                   (json_int_t)now, "approved_at", (json_int_t)0);
        json_object_set_new(update, "pending", json_string(hash));
        json_object_set_new(update, "reason", json_string("poisoned"));
        json_object_set_new(update, "detail", json_string(words));
        json_object_set_new(update, "changed", json_integer(now));
        rc = persist_locked(pins, server, tool, update, err);
        if (rc == MG_STORE_CONFLICT && attempt == 0 && reload_locked(pins, NULL, err) == 0) {
            json_decref(update);
            continue;
        }
        json_object_set_new(pins->map, key, update);
        if (changed != NULL)
            *changed = true;
        rc = rc == 0 ? 0 : -1;
        break;
    }
    pthread_mutex_unlock(&pins->lock);
    free(key);
    return rc;
}

int mg_pins_refresh(mg_pins_t *pins, json_t **servers, mg_error_t *err)
{
    uint64_t generation;
    *servers = NULL;
    pthread_mutex_lock(&pins->lock);
    int rc = mg_store_pin_generation(pins->store, &generation, err);
    if (rc == 0 && generation != pins->generation) {
        json_t *changed = json_array();
        rc = reload_locked(pins, changed, err);
        if (rc == 0 && json_array_size(changed) > 0) {
            *servers = changed;
            rc = 1;
        } else {
            json_decref(changed);
        }
    }
    pthread_mutex_unlock(&pins->lock);
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

int mg_pins_open(const char *state_dir, mg_pins_mode_t mode, mg_pins_t **out, mg_error_t *err)
{
    *out = NULL;
    mg_pins_t *pins = calloc(1, sizeof(*pins));
    if (pins == NULL)
        return mg_error_set(err, "out of memory");
    pthread_mutex_init(&pins->lock, NULL);
    pthread_mutex_init(&pins->watch.lock, NULL);
    pthread_cond_init(&pins->watch.wake, NULL);
    pins->mode = mode;
    pins->map = json_object();
    if (mg_store_open(state_dir, MG_STORE_CREATE, &pins->store, err) != 0 || reload_locked(pins, NULL, err) != 0) {
        mg_pins_close(pins);
        return -1;
    }
    *out = pins;
    return 0;
}

void mg_pins_close(mg_pins_t *pins)
{
    if (pins == NULL)
        return;
    mg_store_close(pins->store);
    json_decref(pins->map);
    pthread_cond_destroy(&pins->watch.wake);
    pthread_mutex_destroy(&pins->watch.lock);
    pthread_mutex_destroy(&pins->lock);
    free(pins);
}

mg_pins_mode_t mg_pins_mode(const mg_pins_t *pins)
{
    return pins->mode;
}
