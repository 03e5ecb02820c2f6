/*
 * log.c - JSON-lines logger. The level is a relaxed atomic so workers can read it
 * without a lock; formatting happens only for enabled levels.
 */
#include "obs/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json_write.h"

static _Atomic int current_level = MG_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int mg_log_parse_level(const char *name, mg_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (mg_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void mg_log_set_level(mg_log_level_t level)
{
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

int mg_log_enabled(mg_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&current_level, memory_order_relaxed);
}

/* Copies `in` to `out` as valid UTF-8: each byte that does not start a well-formed sequence
 * (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF) becomes U+FFFD, so text from
 * an upstream's stderr never makes a log line unencodable. `out` holds at least 3 * strlen(in) + 1. */
static void utf8_sanitize(const unsigned char *in, char *out)
{
    char *o = out;
    while (*in != 0) {
        unsigned char c = in[0];
        size_t len = c < 0x80                   ? 1
                     : (c >= 0xC2 && c <= 0xDF) ? 2
                     : (c >= 0xE0 && c <= 0xEF) ? 3
                     : (c >= 0xF0 && c <= 0xF4) ? 4
                                                : 0;
        bool ok = len != 0;
        for (size_t i = 1; ok && i < len; i++)
            ok = (in[i] & 0xC0) == 0x80;
        if (ok && len == 3)
            ok = !(c == 0xE0 && in[1] < 0xA0) && !(c == 0xED && in[1] >= 0xA0);
        if (ok && len == 4)
            ok = !(c == 0xF0 && in[1] < 0x90) && !(c == 0xF4 && in[1] >= 0x90);
        if (ok) {
            memcpy(o, in, len);
            o += len;
            in += len;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            in += 1;
        }
    }
    *o = '\0';
}

static void log_emit(mg_log_level_t level, const char *event, json_t *fields, const char *fmt, va_list ap)
{
    char message[3 * 2048 + 1], stamp[40];
    struct timespec now;
    struct tm tm;

    char raw[2048];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    utf8_sanitize((const unsigned char *)raw, message);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", now.tv_nsec / 1000000);

    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(stamp));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "event", json_string(event));
    json_object_set_new(line, "msg", json_string(message));
    if (fields != NULL)
        json_object_update_missing(line, fields);
    size_t len;
    char *text = mg_json_write_text(line, JSON_COMPACT | JSON_ENSURE_ASCII, &len);
    json_decref(line);
    if (text == NULL)
        return;
    text[len] = '\n'; /* the text has room for its NUL, which becomes the newline */
    ssize_t written = write(STDERR_FILENO, text, len + 1);
    (void)written;
    free(text);
}

void mg_log(mg_log_level_t level, const char *event, const char *fmt, ...)
{
    if (!mg_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, event, NULL, fmt, ap);
    va_end(ap);
}

void mg_log_as(mg_log_level_t level, const char *event, const char *principal, const char *fmt, ...)
{
    if (!mg_log_enabled(level))
        return;
    json_t *fields = principal != NULL ? json_pack("{s:s}", "principal", principal) : NULL;
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, event, fields, fmt, ap);
    va_end(ap);
    json_decref(fields);
}

void mg_log_fields(mg_log_level_t level, const char *event, json_t *fields, const char *fmt, ...)
{
    if (mg_log_enabled(level)) {
        va_list ap;
        va_start(ap, fmt);
        log_emit(level, event, fields, fmt, ap);
        va_end(ap);
    }
    json_decref(fields);
}
