/* test_ascii.c - the eight-bytes-at-a-time printable checks (src/core/ascii.h) against the per-byte rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/ascii.h"

static int per_byte(const unsigned char *text, size_t len, unsigned char low)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] < low || text[i] > 0x7e)
            return 0;
    }
    return 1;
}

/* Every byte value at every place of strings of 0 to 24 bytes (three words and a tail), for the two
 * lower bounds the gateway uses (space allowed or not), starting at odd addresses too. */
static void test_every_byte_everywhere(void **state)
{
    (void)state;
    static const unsigned char lows[] = {0x20, 0x21};
    unsigned char buffer[32];
    for (size_t l = 0; l < sizeof(lows); l++) {
        for (size_t offset = 0; offset < 2; offset++) {
            for (size_t len = 0; len <= 24; len++) {
                for (size_t at = 0; at < len; at++) {
                    for (int byte = 0; byte < 256; byte++) {
                        unsigned char *text = buffer + offset;
                        memset(text, 'a', len);
                        text[at] = (unsigned char)byte;
                        assert_int_equal(mg_ascii_all_printable((const char *)text, len, lows[l]),
                                         per_byte(text, len, lows[l]));
                        size_t prefix = mg_ascii_printable_prefix((const char *)text, len, lows[l]);
                        assert_true(prefix % 8 == 0 && prefix <= len);
                        assert_int_equal(per_byte(text, prefix, lows[l]), 1);
                    }
                }
            }
        }
    }
}

/* A whole range of printable bytes goes through the fast loop to its end. */
static void test_printable_runs_are_taken_whole(void **state)
{
    (void)state;
    char text[0x7f - 0x20];
    for (int c = 0x20; c < 0x7f; c++)
        text[c - 0x20] = (char)c;
    assert_int_equal(mg_ascii_printable_prefix(text, sizeof(text), 0x20), sizeof(text) / 8 * 8);
    assert_true(mg_ascii_all_printable(text, sizeof(text), 0x20));
    assert_false(mg_ascii_all_printable(text, sizeof(text), 0x21)); /* the space */
    assert_true(mg_ascii_all_printable(text + 1, sizeof(text) - 1, 0x21));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_everywhere),
        cmocka_unit_test(test_printable_runs_are_taken_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
