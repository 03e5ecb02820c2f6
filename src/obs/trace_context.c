/*
 * trace_context.c - W3C Trace Context (https://www.w3.org/TR/trace-context/): traceparent and
 * tracestate as they arrive from clients and leave for upstreams, the ids the gateway makes, and the
 * sampling rule.
 *
 * The parser is strict because its input is anyone's: a value that is not exactly what section 3.2
 * describes is refused, and the caller starts a new trace instead (section 3.2.2.2 says the same:
 * "If the vendor failed to parse traceparent, it MUST NOT attempt to parse tracestate" and restarts).
 * A future version is read the way section 3.2.4 asks, so that a newer client still joins its trace.
 *
 * Ids come from xoshiro256** per thread, seeded from the kernel: ids must be unique, not secret (W3C
 * section 6 warns against putting anything sensitive in them), and the request path cannot afford a
 * system call per id.
 */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "obs/trace.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is invalid in traceparent (section 3.2.2.3) */
}

/* `len` bytes from 2 * len lowercase hex digits; false on anything else. */
static bool parse_hex(const char *text, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int high = hex_value(text[2 * i]), low = hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0)
            return false;
        out[i] = (uint8_t)(high << 4 | low);
    }
    return true;
}

static bool all_zero(const uint8_t *bytes, size_t len)
{
    uint8_t any = 0;
    for (size_t i = 0; i < len; i++)
        any |= bytes[i];
    return any == 0;
}

int mg_traceparent_parse(const char *text, size_t len, mg_trace_context_t *out)
{
    uint8_t version;
    if (text == NULL || len < MG_TRACEPARENT_LEN || !parse_hex(text, &version, 1) || version == 0xff)
        return -1;
    if (version == 0 ? len != MG_TRACEPARENT_LEN : len > MG_TRACEPARENT_LEN && text[MG_TRACEPARENT_LEN] != '-')
        return -1;
    mg_trace_context_t context;
    if (text[2] != '-' || text[35] != '-' || text[52] != '-' ||
        !parse_hex(text + 3, context.trace_id, MG_TRACE_ID_BYTES) ||
        !parse_hex(text + 36, context.span_id, MG_SPAN_ID_BYTES) || !parse_hex(text + 53, &context.flags, 1))
        return -1;
    if (all_zero(context.trace_id, MG_TRACE_ID_BYTES) || all_zero(context.span_id, MG_SPAN_ID_BYTES))
        return -1;
    *out = context;
    return 0;
}

void mg_trace_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void mg_traceparent_format(const uint8_t trace_id[MG_TRACE_ID_BYTES], const uint8_t span_id[MG_SPAN_ID_BYTES],
                           uint8_t flags, char out[MG_TRACEPARENT_LEN + 1])
{
    memcpy(out, "00-", 3);
    mg_trace_hex(trace_id, MG_TRACE_ID_BYTES, out + 3);
    out[35] = '-';
    mg_trace_hex(span_id, MG_SPAN_ID_BYTES, out + 36);
    out[52] = '-';
    mg_trace_hex(&flags, 1, out + 53);
}

/* ---- tracestate (section 3.3) ---- */

static bool is_lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_key_char(char c)
{
    return is_lcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

/* simple-key = lcalpha 0*255(keychar); multi-tenant-key = (lcalpha / DIGIT) 0*240(keychar) "@" lcalpha
 * 0*13(keychar) */
static bool key_valid(const char *key, size_t len)
{
    const char *at = memchr(key, '@', len);
    if (at == NULL) {
        if (len < 1 || len > 256 || !is_lcalpha(key[0]))
            return false;
        for (size_t i = 1; i < len; i++) {
            if (!is_key_char(key[i]))
                return false;
        }
        return true;
    }
    size_t tenant = (size_t)(at - key), system = len - tenant - 1;
    if (tenant < 1 || tenant > 241 || system < 1 || system > 14 ||
        !(is_lcalpha(key[0]) || (key[0] >= '0' && key[0] <= '9')) || !is_lcalpha(at[1]))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (i != tenant && !is_key_char(key[i]))
            return false;
    }
    return true;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static bool value_valid(const char *value, size_t len)
{
    if (len < 1 || len > 256 || value[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return false;
    }
    return true;
}

bool mg_tracestate_valid(const char *text, size_t len)
{
    if (text == NULL || len > MG_TRACESTATE_MAX)
        return false;
    size_t members = 0, start = 0;
    while (start <= len) {
        const char *comma = memchr(text + start, ',', len - start);
        size_t end = comma != NULL ? (size_t)(comma - text) : len;
        size_t a = start, b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t'))
            b--;
        if (a < b) { /* empty members are allowed and do not count */
            const char *equals = memchr(text + a, '=', b - a);
            if (equals == NULL || !key_valid(text + a, (size_t)(equals - (text + a))) ||
                !value_valid(equals + 1, (size_t)(text + b - equals - 1)) || ++members > 32)
                return false;
        }
        if (comma == NULL)
            break;
        start = end + 1;
    }
    return true;
}

/* ---- ids ---- */

static _Thread_local uint64_t generator[4];
static _Thread_local bool seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_random(void)
{
    if (!seeded) {
        if (getrandom(generator, sizeof(generator), 0) != (ssize_t)sizeof(generator)) {
            struct timespec now; /* no entropy from the kernel: ids need to be unique, not secret */
            clock_gettime(CLOCK_REALTIME, &now);
            generator[0] = (uint64_t)now.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
            generator[1] = (uint64_t)now.tv_sec ^ (uint64_t)(uintptr_t)&seeded;
            generator[2] = 0xbf58476d1ce4e5b9ULL;
            generator[3] = 0x94d049bb133111ebULL;
        }
        seeded = true;
    }
    uint64_t *s = generator; /* xoshiro256** */
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void random_bytes(uint8_t *out, size_t len)
{
    do {
        for (size_t i = 0; i < len; i += 8) {
            uint64_t value = next_random();
            memcpy(out + i, &value, len - i < 8 ? len - i : 8);
        }
    } while (all_zero(out, len));
}

void mg_trace_random_trace_id(uint8_t out[MG_TRACE_ID_BYTES])
{
    random_bytes(out, MG_TRACE_ID_BYTES);
}

void mg_trace_random_span_id(uint8_t out[MG_SPAN_ID_BYTES])
{
    random_bytes(out, MG_SPAN_ID_BYTES);
}

/* ---- sampling ---- */

bool mg_trace_should_sample(const mg_trace_context_t *parent, const uint8_t trace_id[MG_TRACE_ID_BYTES], double ratio)
{
    if (parent != NULL)
        return (parent->flags & MG_TRACE_FLAG_SAMPLED) != 0;
    if (ratio >= 1.0)
        return true;
    if (!(ratio > 0.0))
        return false;
    uint64_t low = 0;
    for (int i = 8; i < 16; i++)
        low = low << 8 | trace_id[i];
    /* ratio * 2^64, computed in double: exact enough for a ratio, and below 2^64 since ratio < 1 */
    uint64_t bound = (uint64_t)(ratio * 18446744073709551616.0);
    return low < bound;
}

uint64_t mg_trace_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}
