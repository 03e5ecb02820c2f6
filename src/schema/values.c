/*
 * values.c - JSON values as JSON Schema sees them: numbers by value, not by jansson type (1 == 1.0,
 * and 1.0 is an integer), equality that ignores member order, string length in code points.
 *
 * Numbers compare exactly: an integer against a real is decided without converting the integer to
 * a double (9007199254740993 is greater than 9007199254740992.0). multipleOf works on decimals: each
 * number is taken as its shortest decimal form (the digits a person wrote: 0.075, not
 * 0.07499999999999999722), and divisibility of mantissa * 10^exponent is exact integer arithmetic.
 * So 0.3 is a multiple of 0.1, 0.075 is not a multiple of 0.01, and 1e308 is not a multiple of
 * 0.123456789, where floating-point division gives each of these the other answer or overflows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

void mg_schema_number_of(const json_t *value, mg_schema_number_t *out)
{
    if (json_is_integer(value)) {
        out->is_integer = true;
        out->integer = json_integer_value(value);
        out->real = (double)out->integer;
    } else {
        out->is_integer = false;
        out->integer = 0;
        out->real = json_real_value(value);
    }
}

/* The sign of integer - real, exactly. */
static int compare_integer_real(json_int_t integer, double real)
{
    if (real >= 9223372036854775808.0) /* 2^63 */
        return -1;
    if (real < -9223372036854775808.0)
        return 1;
    double whole = trunc(real);
    json_int_t truncated = (json_int_t)whole; /* exact: |whole| < 2^63 */
    if (integer != truncated)
        return integer < truncated ? -1 : 1;
    return real > whole ? -1 : real < whole ? 1 : 0;
}

int mg_schema_number_compare(const mg_schema_number_t *a, const mg_schema_number_t *b)
{
    if (a->is_integer && b->is_integer)
        return (a->integer > b->integer) - (a->integer < b->integer);
    if (!a->is_integer && !b->is_integer)
        return (a->real > b->real) - (a->real < b->real);
    if (a->is_integer)
        return compare_integer_real(a->integer, b->real);
    return -compare_integer_real(b->integer, a->real);
}

bool mg_schema_is_integral(const json_t *value)
{
    if (json_is_integer(value))
        return true;
    if (!json_is_real(value))
        return false;
    double real = json_real_value(value);
    return isfinite(real) && floor(real) == real;
}

bool mg_schema_decimal_of(double value, mg_schema_decimal_t *out)
{
    if (!isfinite(value))
        return false;
    value = fabs(value);
    if (value == 0) {
        *out = (mg_schema_decimal_t){0, 0};
        return true;
    }
    char text[48];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*e", precision - 1, value);
        if (strtod(text, NULL) == value)
            break;
    }
    uint64_t mantissa = 0;
    int decimals = 0;
    bool after_point = false;
    const char *p = text;
    for (; *p != '\0' && *p != 'e'; p++) {
        if (*p < '0' || *p > '9') {
            after_point = true; /* the decimal point, whatever the locale writes */
            continue;
        }
        mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        decimals += after_point;
    }
    int exponent = (*p == 'e' ? atoi(p + 1) : 0) - decimals;
    while (mantissa != 0 && mantissa % 10 == 0) {
        mantissa /= 10;
        exponent++;
    }
    *out = (mg_schema_decimal_t){mantissa, exponent};
    return true;
}

bool mg_schema_multiple_of(const mg_schema_number_t *value, const mg_schema_number_t *divisor,
                           const mg_schema_decimal_t *divisor_decimal)
{
    if (value->is_integer && divisor->is_integer)
        return value->integer % divisor->integer == 0; /* divisor > 0, checked at compile time */
    mg_schema_decimal_t x;
    if (value->is_integer)
        x = (mg_schema_decimal_t){value->integer < 0 ? (uint64_t)(-(value->integer + 1)) + 1 : (uint64_t)value->integer,
                                  0};
    else if (!mg_schema_decimal_of(value->real, &x))
        return false;
    if (x.mantissa == 0)
        return true;
    const mg_schema_decimal_t *d = divisor_decimal;
    long shift = (long)x.exponent - (long)d->exponent;
    if (shift >= 0) {
        /* d.mantissa divides x.mantissa * 10^shift */
        unsigned __int128 rest = x.mantissa % d->mantissa;
        for (long i = 0; i < shift && rest != 0; i++)
            rest = (rest * 10) % d->mantissa;
        return rest == 0;
    }
    /* d.mantissa * 10^-shift divides x.mantissa (< 2^64 < 10^20) */
    if (-shift >= 20)
        return false;
    unsigned __int128 big = d->mantissa;
    for (long i = 0; i < -shift; i++)
        big *= 10;
    return (unsigned __int128)x.mantissa % big == 0;
}

int mg_schema_equal(const json_t *a, const json_t *b, size_t depth_left)
{
    if (a == b)
        return 1;
    if (json_is_number(a) && json_is_number(b)) {
        mg_schema_number_t x, y;
        mg_schema_number_of(a, &x);
        mg_schema_number_of(b, &y);
        return mg_schema_number_compare(&x, &y) == 0;
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t size = json_array_size(a);
        if (size != json_array_size(b))
            return 0;
        if (size > 0 && depth_left == 0)
            return -1;
        for (size_t i = 0; i < size; i++) {
            int equal = mg_schema_equal(json_array_get(a, i), json_array_get(b, i), depth_left - 1);
            if (equal != 1)
                return equal;
        }
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        if (json_object_size(a) > 0 && depth_left == 0)
            return -1;
        for (void *it = json_object_iter((json_t *)a); it != NULL; it = json_object_iter_next((json_t *)a, it)) {
            const json_t *other = json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
            if (other == NULL)
                return 0;
            int equal = mg_schema_equal(json_object_iter_value(it), other, depth_left - 1);
            if (equal != 1)
                return equal;
        }
        return 1;
    }
    default: /* true, false, null: the same type is the same value */
        return 1;
    }
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    x ^= x >> 33;
    return x;
}

/* Consistent with mg_schema_equal: equal values hash alike (1 and 1.0, members in any order). */
uint64_t mg_schema_value_hash(const json_t *value, size_t depth_left)
{
    switch (json_typeof(value)) {
    case JSON_INTEGER:
        return mix((uint64_t)json_integer_value(value));
    case JSON_REAL: {
        double real = json_real_value(value);
        if (floor(real) == real && real >= -9223372036854775808.0 && real < 9223372036854775808.0)
            return mix((uint64_t)(json_int_t)real);
        uint64_t bits;
        memcpy(&bits, &real, sizeof(bits));
        return mix(bits);
    }
    case JSON_STRING:
        return mg_schema_hash_bytes(json_string_value(value), json_string_length(value), 1);
    case JSON_TRUE:
        return 2;
    case JSON_FALSE:
        return 3;
    case JSON_NULL:
        return 4;
    case JSON_ARRAY: {
        uint64_t hash = 5;
        for (size_t i = 0; depth_left > 0 && i < json_array_size(value); i++)
            hash = mix(hash * 31 + mg_schema_value_hash(json_array_get(value, i), depth_left - 1));
        return hash;
    }
    case JSON_OBJECT: {
        uint64_t hash = 6;
        for (void *it = json_object_iter((json_t *)value); depth_left > 0 && it != NULL;
             it = json_object_iter_next((json_t *)value, it))
            hash += mix(mg_schema_hash_bytes(json_object_iter_key(it), json_object_iter_key_len(it), 7) ^
                        mg_schema_value_hash(json_object_iter_value(it), depth_left - 1));
        return hash;
    }
    }
    return 0;
}

size_t mg_schema_utf8_length(const char *s, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

size_t mg_schema_value_depth(const json_t *value, size_t limit)
{
    if (!json_is_array(value) && !json_is_object(value))
        return 0;
    if (limit == 0)
        return 1;
    size_t deepest = 0;
    if (json_is_array(value)) {
        for (size_t i = 0; i < json_array_size(value) && deepest < limit; i++) {
            size_t depth = mg_schema_value_depth(json_array_get(value, i), limit - 1);
            deepest = depth > deepest ? depth : deepest;
        }
    } else {
        for (void *it = json_object_iter((json_t *)value); it != NULL && deepest < limit;
             it = json_object_iter_next((json_t *)value, it)) {
            size_t depth = mg_schema_value_depth(json_object_iter_value(it), limit - 1);
            deepest = depth > deepest ? depth : deepest;
        }
    }
    return deepest + 1;
}
