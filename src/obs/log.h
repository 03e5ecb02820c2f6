/*
 * log.h - structured logs: one JSON object per line on stderr.
 *
 * Every line has "ts" (RFC 3339, UTC, milliseconds), "level", "event" (a stable
 * dotted name such as "upstream.exit" that operators can grep and alert on) and
 * "msg". Extra fields come as a jansson object whose reference is stolen. Lines are
 * written with one write(2) so lines from worker threads never interleave.
 * Secrets must never be passed here (DESIGN.md invariant 5).
 */
#ifndef MG_OBS_LOG_H
#define MG_OBS_LOG_H

#include <jansson.h>

typedef enum en_mg_log_level_t {
    MG_LOG_DEBUG = 0,
    MG_LOG_INFO = 1,
    MG_LOG_WARN = 2,
    MG_LOG_ERROR = 3,
} mg_log_level_t;

/* Parses "debug" | "info" | "warn" | "error"; returns -1 on anything else. */
int mg_log_parse_level(const char *name, mg_log_level_t *out);
void mg_log_set_level(mg_log_level_t level);
int mg_log_enabled(mg_log_level_t level);

/* Logs a printf-style message. */
void mg_log(mg_log_level_t level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Logs a message about a caller's request: the line carries "principal" (auth/principal.h's name;
 * NULL: none). */
void mg_log_as(mg_log_level_t level, const char *event, const char *principal, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Logs a message with extra fields; `fields` may be NULL and is always released. */
void mg_log_fields(mg_log_level_t level, const char *event, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
