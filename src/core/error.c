/* error.c - see error.h. */
#include "core/error.h"

#include <stdio.h>

int mg_error_setv(mg_error_t *err, const char *fmt, va_list ap)
{
    if (err != NULL)
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return -1;
}

int mg_error_set(mg_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_error_setv(err, fmt, ap);
    va_end(ap);
    return -1;
}
