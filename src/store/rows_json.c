/*
 * rows_json.c - see rows_json.h.
 */
#include "store/rows_json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void mg_store_format_time(int64_t when, const char *never, char out[32])
{
    struct tm tm;
    time_t t = (time_t)when;
    if (when == 0 || gmtime_r(&t, &tm) == NULL)
        snprintf(out, 32, "%s", never);
    else
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *time_or_null(int64_t when)
{
    char text[32];
    mg_store_format_time(when, "", text);
    return when != 0 ? json_string(text) : json_null();
}

static json_t *text_or_null(const char *text)
{
    return text[0] != '\0' ? json_string(text) : json_null();
}

const char *mg_store_approval_state(const mg_store_approval_t *row, int64_t now)
{
    if (strcmp(row->state, "pending") == 0 && row->expires_at <= now)
        return "expired";
    return row->state;
}

json_t *mg_store_approval_json(const mg_store_approval_t *row, int64_t now)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "id", row->id, "state",
                     mg_store_approval_state(row, now), "principal", row->principal, "server", row->server, "tool",
                     row->tool, "arguments_sha256", row->arguments_sha256, "arguments", text_or_null(row->arguments),
                     "rule", row->rule, "approver", row->approver, "created_at", time_or_null(row->created_at),
                     "expires_at", time_or_null(row->expires_at), "decided_at", time_or_null(row->decided_at),
                     "decided_by", text_or_null(row->decided_by));
}

json_t *mg_store_approvals_json(const mg_store_approval_t *rows, size_t count, int64_t now)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < count; i++) {
        json_t *item = mg_store_approval_json(&rows[i], now);
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

const char *mg_store_pin_state(const mg_store_pin_t *pin, mg_pins_mode_t mode)
{
    if (pin->pending_hash[0] == '\0')
        return "pinned";
    if (strcmp(pin->reason, "poisoned") == 0 || mode == MG_PINS_ENFORCE)
        return "quarantined";
    return "changed"; /* served: pins.mode is warn (or off) */
}

void mg_store_pin_name(const mg_store_pin_t *pin, char *out, size_t size)
{
    if (pin->tool[0] == '\0')
        snprintf(out, size, "%s#instructions", pin->server);
    else
        snprintf(out, size, "%s/%s", pin->server, pin->tool);
}

json_t *mg_store_pin_json(const mg_store_pin_t *pin, mg_pins_mode_t mode)
{
    char name[600];
    mg_store_pin_name(pin, name, sizeof(name));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", name, "server",
                     pin->server, "tool", pin->tool, "state", mg_store_pin_state(pin, mode), "reason",
                     text_or_null(pin->reason), "detail", text_or_null(pin->detail), "approved_sha256",
                     text_or_null(pin->approved_hash), "pending_sha256", text_or_null(pin->pending_hash), "approved_by",
                     text_or_null(pin->approved_by), "first_seen", time_or_null(pin->first_seen), "changed_at",
                     time_or_null(pin->changed_at), "approved_at", time_or_null(pin->approved_at));
}

json_t *mg_store_pins_json(const mg_store_pin_t *rows, size_t count, mg_pins_mode_t mode)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < count; i++) {
        json_t *item = mg_store_pin_json(&rows[i], mode);
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}
