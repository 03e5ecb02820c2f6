/*
 * fuzz_scrub.c - libFuzzer target for upstream text scrubbing (guard/scrub.h).
 *
 * Input: any bytes, as text and, when they parse, as a JSON value. Whatever comes in, the cleaned
 * text holds none of what is removed, checked against the byte patterns written out here (not against
 * scrub.c's own tables): no C0 control but tab, LF and CR, no DEL, no UTF-8 encoding of a C1 control,
 * a bidi, zero-width or other invisible format character, or a tag character. Scrubbing again changes
 * nothing (idempotent), the result is made only of the input's bytes in their order (nothing added),
 * valid UTF-8 stays valid, in place gives the same bytes as a copy, and a text the clean check passes
 * is one mg_scrub_text leaves alone. A JSON value's strings and keys all come out clean, a second
 * scrub removes nothing, and when mg_scrub_json_text_is_clean called the text clean the walk removed
 * nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/scrub.h"

static void check(int condition)
{
    if (!condition)
        abort();
}

/* Does a removed thing's encoding begin at p[i]? */
static int forbidden_at(const uint8_t *p, size_t len, size_t i)
{
    uint8_t c = p[i];
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
        return 1;
    uint8_t b1 = i + 1 < len ? p[i + 1] : 0, b2 = i + 2 < len ? p[i + 2] : 0;
    switch (c) {
    case 0xc2: /* C1 U+0080-U+009F */
        return b1 >= 0x80 && b1 <= 0x9f;
    case 0xd8: /* U+061C */
        return b1 == 0x9c;
    case 0xe1: /* U+180E */
        return b1 == 0xa0 && b2 == 0x8e;
    case 0xe2: /* U+200B-U+200F, U+202A-U+202E, U+2060-U+206F */
        return (b1 == 0x80 && ((b2 >= 0x8b && b2 <= 0x8f) || (b2 >= 0xaa && b2 <= 0xae))) ||
               (b1 == 0x81 && b2 >= 0xa0 && b2 <= 0xaf);
    case 0xef: /* U+FEFF, U+FFF9-U+FFFB */
        return (b1 == 0xbb && b2 == 0xbf) || (b1 == 0xbf && b2 >= 0xb9 && b2 <= 0xbb);
    case 0xf3: /* tags U+E0000-U+E007F */
        return b1 == 0xa0 && (b2 == 0x80 || b2 == 0x81);
    default:
        return 0;
    }
}

static int utf8_valid(const uint8_t *p, size_t len)
{
    json_t *string = json_stringn((const char *)p, len); /* jansson checks UTF-8 */
    json_decref(string);
    return string != NULL;
}

static void check_clean_text(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        check(!forbidden_at(p, len, i));
    check(mg_scrub_is_clean((const char *)p, len));
}

static void check_text(const uint8_t *data, size_t size)
{
    char *out = malloc(size + 1), *again = malloc(size + 1), *in_place = malloc(size + 1);
    if (out == NULL || again == NULL || in_place == NULL)
        goto done;
    mg_scrub_counts_t counts = {0};
    size_t out_len = 0;
    int changed = mg_scrub_text((const char *)data, size, out, &out_len, &counts);
    check(changed == !mg_scrub_is_clean((const char *)data, size));
    if (!changed) {
        memcpy(out, data, size);
        out_len = size;
        check(counts.strings == 0 && mg_scrub_counts_total(&counts) == 0);
    } else {
        check(out_len < size && counts.strings == 1 && mg_scrub_counts_total(&counts) > 0);
    }
    check_clean_text((const uint8_t *)out, out_len);
    /* nothing added: the output is a subsequence of the input */
    size_t j = 0;
    for (size_t i = 0; i < size && j < out_len; i++)
        j += data[i] == (uint8_t)out[j];
    check(j == out_len);
    if (utf8_valid(data, size))
        check(utf8_valid((const uint8_t *)out, out_len));
    /* idempotent */
    size_t again_len = 0;
    check(!mg_scrub_text(out, out_len, again, &again_len, NULL));
    /* in place */
    memcpy(in_place, data, size);
    size_t in_place_len = size;
    if (mg_scrub_text(in_place, size, in_place, &in_place_len, NULL))
        check(in_place_len == out_len);
    check(in_place_len == out_len && memcmp(in_place, out, out_len) == 0);
done:
    free(in_place);
    free(again);
    free(out);
}

static void check_json_clean(json_t *value)
{
    if (json_is_string(value)) {
        check_clean_text((const uint8_t *)json_string_value(value), json_string_length(value));
    } else if (json_is_array(value)) {
        for (size_t i = 0; i < json_array_size(value); i++)
            check_json_clean(json_array_get(value, i));
    } else if (json_is_object(value)) {
        for (void *it = json_object_iter(value); it != NULL; it = json_object_iter_next(value, it)) {
            check_clean_text((const uint8_t *)json_object_iter_key(it), json_object_iter_key_len(it));
            check_json_clean(json_object_iter_value(it));
        }
    }
}

static void check_json(const uint8_t *data, size_t size)
{
    json_t *value =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (value == NULL)
        return;
    mg_scrub_counts_t counts = {0};
    int rc = mg_scrub_json(value, &counts);
    check(rc == 0 || rc == MG_SCRUB_TOO_DEEP || rc == MG_SCRUB_NO_MEMORY);
    if (rc == 0) {
        /* the check on the text before parsing never calls clean what the walk of the value changes (the
         * other way round it may err: jansson stops reading at a NUL after a value, say) */
        if (mg_scrub_json_text_is_clean((const char *)data, size))
            check(counts.strings == 0);
        check_json_clean(value);
        json_t *copy = json_deep_copy(value);
        mg_scrub_counts_t second = {0};
        check(mg_scrub_json(value, &second) == 0);
        check(second.strings == 0 && second.dropped_keys == 0 && mg_scrub_counts_total(&second) == 0);
        check(copy == NULL || json_equal(copy, value));
        json_decref(copy);
    }
    json_decref(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_text(data, size);
    check_json(data, size);
    return 0;
}
