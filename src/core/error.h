/*
 * error.h - the one way a function reports what went wrong.
 *
 * Functions that can fail return 0 on success or a negative value on failure and,
 * when the caller passed a non-NULL mg_error_t, fill it with a human-readable message
 * precise enough to act on ("quickstart.yaml:12:5: servers[0].name: must match
 * [a-z0-9-]+"). Nothing in the gateway exits or aborts on bad input.
 */
#ifndef MG_CORE_ERROR_H
#define MG_CORE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef struct st_mg_error_t {
    char message[512];
} mg_error_t;

/* Formats into err (if not NULL) and returns -1, so callers can `return mg_error_set(err, ...)`. */
int mg_error_set(mg_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mg_error_setv(mg_error_t *err, const char *fmt, va_list ap);

/* The reason for OpenSSL's last failure, taken off its error queue; never NULL (a missing file
 * has no reason string of its own, so the system error is used). `buf` may hold the text. */
const char *mg_error_openssl(char *buf, size_t size);

#endif
