/* error.c - see error.h. */
#include "core/error.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

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

const char *mg_error_openssl(char *buf, size_t size)
{
    unsigned long code = ERR_get_error();
    const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;
    ERR_clear_error();
    if (reason != NULL)
        return reason;
    if (code != 0 && ERR_GET_LIB(code) == ERR_LIB_SYS)
        return strerror(ERR_GET_REASON(code));
    snprintf(buf, size, "OpenSSL error %lx", code);
    return buf;
}
