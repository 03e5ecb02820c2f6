/*
 * ascii.h - is a string made of printable ASCII? Eight bytes at a time.
 *
 * Credentials (a bearer token is a kilobyte or more) and mirrored headers are checked byte by byte on
 * every request; a table or two comparisons per byte made that check cost more than hashing the
 * token. Here eight bytes are tested at once with the word tricks of "Bit Twiddling Hacks" (has a byte
 * below n, has a zero byte): any word that may hold a byte outside the range stops the fast loop, and
 * the caller's own per-byte rule decides from there, so the answer is always the per-byte one.
 */
#ifndef MG_CORE_ASCII_H
#define MG_CORE_ASCII_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* How many leading bytes of `text` lie in [low, 0x7e], counted in whole words of eight: the bytes from
 * the returned offset on are still to be checked one at a time (there may be none left, or the first
 * may well be in range too). `low` is at most 0x80. */
static inline size_t mg_ascii_printable_prefix(const char *text, size_t len, unsigned char low)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t word, del;
        memcpy(&word, text + i, sizeof(word));
        del = word ^ (0x7f * ones); /* a zero byte where the word has 0x7f */
        if (((word | ((word - low * ones) & ~word) | ((del - ones) & ~del)) & highs) != 0)
            break;
    }
    return i;
}

/* Is every byte of `text` in [low, 0x7e]? */
static inline int mg_ascii_all_printable(const char *text, size_t len, unsigned char low)
{
    for (size_t i = mg_ascii_printable_prefix(text, len, low); i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < low || c > 0x7e)
            return 0;
    }
    return 1;
}

#endif
