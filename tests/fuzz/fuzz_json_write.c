/*
 * fuzz_json_write.c - differential libFuzzer target for the gateway's JSON writer (core/json_write.h):
 * for every value and every flag set the gateway uses (and a few it does not), mg_json_write must give
 * exactly what jansson's json_dumpb gives -- the same bytes, or a failure both.
 *
 * Values come from the input three ways:
 *   1. parsed by jansson (with JSON_DECODE_ANY and JSON_ALLOW_NUL, so scalars and strings holding
 *      "\u0000" reach the writer);
 *   2. built from raw input bytes with jansson's *_nocheck calls: strings and object keys that are not
 *      valid UTF-8 (a value fails the whole text; a key, in jansson, only its own output), reals from
 *      raw bit patterns, integers from raw bytes;
 *   3. the parsed value with edits (mg_json_write_edited): keys of its own and new ones, replaced, set when absent,
 *      appended or left out, compared with json_dumpb of a copy changed by json_object_set/del.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_write.h"

static const size_t flag_sets[] = {
    JSON_COMPACT,
    JSON_COMPACT | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_ENSURE_ASCII,
    JSON_COMPACT | JSON_SORT_KEYS,
    JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_REAL_PRECISION(3) | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY,
    JSON_INDENT(2) | JSON_ENCODE_ANY, /* handed to jansson: must still agree */
};

/* json_dumpb's text (malloc'ed), or NULL when it fails. */
static char *jansson_text(const json_t *value, size_t flags, size_t *len)
{
    char small[256];
    size_t need = json_dumpb(value, small, sizeof(small), flags);
    if (need == 0)
        return NULL;
    char *text = malloc(need);
    if (text == NULL)
        abort();
    if (need <= sizeof(small))
        memcpy(text, small, need);
    else if (json_dumpb(value, text, need, flags) != need)
        abort();
    *len = need;
    return text;
}

static void same_text(const char *expected, size_t expected_len, const mg_bytes_t *got, int rc, size_t before)
{
    if ((expected == NULL) != (rc != 0))
        abort();
    if (expected == NULL) {
        if (got->len != before) /* a failure leaves the buffer as it was */
            abort();
        return;
    }
    if (got->len - before != expected_len || memcmp(got->base + before, expected, expected_len) != 0)
        abort();
}

static void same_as_jansson(const json_t *value)
{
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
        size_t expected_len = 0;
        char *expected = jansson_text(value, flag_sets[i], &expected_len);
        mg_bytes_t out = {0};
        mg_bytes_append(&out, "x", 1); /* appends after what is there */
        int rc = mg_json_write(&out, value, flag_sets[i]);
        same_text(expected, expected_len, &out, rc, 1);
        size_t text_len = 0;
        char *text = mg_json_write_text(value, flag_sets[i], &text_len);
        if ((text == NULL) != (expected == NULL) ||
            (text != NULL &&
             (text_len != expected_len || memcmp(text, expected, text_len) != 0 || text[text_len] != '\0')))
            abort();
        free(text);
        mg_bytes_dispose(&out);
        free(expected);
    }
}

/* ---- 2: values no parser makes ---- */

typedef struct st_reader_t {
    const uint8_t *p;
    size_t left;
} reader_t;

static size_t take(reader_t *in, size_t max, const uint8_t **bytes)
{
    size_t len = in->left == 0 ? 0 : in->p[0] % (max + 1);
    if (in->left > 0)
        in->p++, in->left--;
    if (len > in->left)
        len = in->left;
    *bytes = in->p;
    in->p += len;
    in->left -= len;
    return len;
}

static json_t *raw_value(reader_t *in, int depth)
{
    const uint8_t *bytes;
    uint8_t kind = in->left > 0 ? in->p[0] % 7 : 0;
    if (in->left > 0)
        in->p++, in->left--;
    switch (kind) {
    case 0: {
        size_t len = take(in, 24, &bytes);
        return json_stringn_nocheck((const char *)bytes, len);
    }
    case 1: {
        double real = 0;
        size_t len = take(in, 8, &bytes);
        memcpy(&real, bytes, len);
        return isfinite(real) ? json_real(real) : json_real((double)len / 3.0);
    }
    case 2: {
        json_int_t integer = 0;
        size_t len = take(in, 8, &bytes);
        memcpy(&integer, bytes, len);
        return json_integer(integer);
    }
    case 3:
        if (depth < 4) {
            json_t *array = json_array();
            for (int i = 0; i < 3 && in->left > 0; i++)
                json_array_append_new(array, raw_value(in, depth + 1));
            return array;
        }
        return json_null();
    case 4:
        if (depth < 4) {
            json_t *object = json_object();
            for (int i = 0; i < 3 && in->left > 0; i++) {
                size_t len = take(in, 12, &bytes);
                json_object_setn_new_nocheck(object, (const char *)bytes, len, raw_value(in, depth + 1));
            }
            return object;
        }
        return json_true();
    case 5:
        return json_false();
    default:
        return json_null();
    }
}

/* ---- 3: edits ---- */

static void same_edited(const json_t *object, reader_t *in)
{
    static json_t *constants[4];
    if (constants[0] == NULL) {
        constants[0] = json_string("complete");
        constants[1] = json_integer(0);
        constants[2] = json_pack("{s:i}", "n", 1);
        constants[3] = json_string("caf\xc3\xa9/");
    }
    char keys[3][16];
    mg_json_edit_t edits[3], inner[2];
    size_t edits_len = 0, inner_len = 0;
    json_t *copy = json_deep_copy(object);
    const char *existing[8];
    size_t existing_len = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value)
    {
        if (existing_len < 8 && strlen(key) < sizeof(keys[0]))
            existing[existing_len++] = key;
    }
    while (edits_len < 3 && in->left >= 2) {
        uint8_t pick = in->p[0], what = in->p[1];
        in->p += 2, in->left -= 2;
        if (existing_len > 0 && pick % 2 == 0)
            snprintf(keys[edits_len], sizeof(keys[0]), "%s", existing[pick / 2 % existing_len]);
        else
            snprintf(keys[edits_len], sizeof(keys[0]), "new%u", (unsigned)(pick % 5));
        bool repeated = false;
        for (size_t i = 0; i < edits_len; i++)
            repeated |= strcmp(keys[i], keys[edits_len]) == 0;
        if (repeated)
            continue;
        json_t *new_value = what % 5 == 4 ? NULL : constants[what % 4];
        mg_json_edit_t edit = {keys[edits_len], new_value, NULL, 0, false, NULL};
        json_t *target = json_object_get(copy, keys[edits_len]);
        if (what % 5 == 3 && inner_len == 0 && json_is_object(json_object_get(object, keys[edits_len]))) {
            /* edits inside an object member: its "n" replaced and "new" appended */
            edit.value = json_object_get(object, keys[edits_len]);
            inner[inner_len++] = (mg_json_edit_t){"n", constants[1], NULL, 0, false, NULL};
            inner[inner_len++] = (mg_json_edit_t){"new", constants[0], NULL, 0, false, NULL};
            edit.inner = inner;
            edit.inner_len = inner_len;
            json_object_set(target, "n", constants[1]);
            json_object_set(target, "new", constants[0]);
        } else if (new_value == NULL) {
            json_object_del(copy, keys[edits_len]);
        } else if (what / 5 % 2 == 1) { /* set only when the object has no such member */
            edit.keep_existing = true;
            if (target == NULL)
                json_object_set(copy, keys[edits_len], new_value);
        } else {
            json_object_set(copy, keys[edits_len], new_value);
        }
        edits[edits_len++] = edit;
    }
    size_t expected_len = 0;
    char *expected = jansson_text(copy, JSON_COMPACT, &expected_len);
    mg_bytes_t out = {0};
    int rc = mg_json_write_edited(&out, object, edits, edits_len, JSON_COMPACT);
    same_text(expected, expected_len, &out, rc, 0);
    mg_bytes_dispose(&out);
    free(expected);
    json_decref(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *parsed = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (parsed != NULL) {
        same_as_jansson(parsed);
        if (json_is_object(parsed)) {
            reader_t edits = {data, size};
            same_edited(parsed, &edits);
        }
        json_decref(parsed);
    }
    reader_t in = {data, size};
    json_t *raw = raw_value(&in, 0);
    same_as_jansson(raw);
    json_decref(raw);
    return 0;
}
