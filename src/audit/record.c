/*
 * record.c - an event becomes a queue entry: the record's JSON text, made on the caller's thread.
 *
 * Why here and not on the writer: the event borrows the caller's strings and jansson values, and
 * jansson's reference counts are not atomic, so nothing of the event may cross to another thread.
 * One heap buffer per record is the whole cost on the request path; hashing, numbering and I/O are
 * the writer's.
 *
 * Strings are escaped by hand rather than through json_t values: building a jansson object per
 * record would cost a dozen allocations for text that is written once. Bytes that are not UTF-8
 * (a caller passing raw header text) become U+FFFD, so a line is always valid JSON.
 *
 * Arguments. Their digest is the SHA-256 of their canonical text: jansson's compact form with keys
 * sorted (mg_json_write with JSON_COMPACT | JSON_SORT_KEYS), the same bytes for the same value
 * whichever order the client sent the members in. The copy kept besides depends on `arguments`:
 *   full      the canonical text itself;
 *   redacted  the same shape, every key, number, boolean and null kept, every string replaced by
 *             "[REDACTED]". Strings are where credentials, personal data and free text live;
 *             numbers and the structure are what an investigator needs to tell calls apart
 *             ("which repository id, how many rows"), and are rarely secret. A number that is a
 *             secret (a PIN) needs `digest`;
 *   digest    nothing but the digest.
 * The canonical text travels with the entry (after the body) so the writer can hash it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit_internal.h"
#include "core/json_write.h"

#define REDACTED "\"[REDACTED]\""
#define MAX_DEPTH 512
#define SORT_ON_STACK 16 /* members of a redacted object sorted without an allocation */

static const char *const decision_names[MG_AUDIT_DECISIONS] = {"allow", "deny",         "hidden", "redact",
                                                               "hold",  "rate_limited", "error",  "quarantine"};
static const char *const item_kinds[] = {"", "tool", "prompt", "resource"};

const char *mg_audit_decision_name(mg_audit_decision_t decision)
{
    return (unsigned)decision < MG_AUDIT_DECISIONS ? decision_names[decision] : "error";
}

int mg_audit_decision_parse(const char *name)
{
    for (int i = 0; i < MG_AUDIT_DECISIONS; i++) {
        if (strcmp(decision_names[i], name) == 0)
            return i;
    }
    return -1;
}

int64_t mg_audit_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Writes `value` as `digits` decimal digits, zero-padded, at `out`. */
static void put_digits(char *out, unsigned long long value, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

void mg_audit_format_time(int64_t time_us, char out[32])
{
    /* the date and time of day change once a second: each thread keeps the last second's text */
    static _Thread_local int64_t cached_second = -1;
    static _Thread_local char stamp[20]; /* "2026-05-01T10:00:00" */
    int64_t second = time_us / 1000000;
    if (second != cached_second) {
        time_t seconds = (time_t)second;
        struct tm tm;
        char text[24];
        gmtime_r(&seconds, &tm);
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
        memcpy(stamp, text, sizeof(stamp) - 1);
        cached_second = second;
    }
    memcpy(out, stamp, sizeof(stamp) - 1);
    out[19] = '.';
    put_digits(out + 20, (unsigned long long)(time_us % 1000000), 6);
    out[26] = 'Z';
    out[27] = '\0';
}

/* Length of the UTF-8 sequence at `s` (1..4), or 0 when it is not a valid one. */
static size_t utf8_length(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) /* overlong, surrogate */
        return 0;
    if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) /* overlong, > U+10FFFF */
        return 0;
    return len;
}

/* Bytes a JSON string holds as they are: printable ASCII (and DEL) but '"' (0x22) and '\\' (0x5c). */
static const bool plain_byte[256] = {[0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7f] = true};

/* Appends the text of the one byte or sequence at `s` that is not plain; returns what follows it. */
static const unsigned char *append_escaped(mg_bytes_t *out, const unsigned char *s)
{
    if (*s == '"' || *s == '\\') {
        char escaped[2] = {'\\', (char)*s};
        mg_bytes_append(out, escaped, 2);
        return s + 1;
    }
    if (*s < 0x20) {
        static const char short_escapes[] = "btn?fr"; /* \b \t \n (\v has none) \f \r */
        char escaped[8];
        if (*s >= '\b' && *s <= '\r' && *s != '\v')
            snprintf(escaped, sizeof(escaped), "\\%c", short_escapes[*s - '\b']);
        else
            snprintf(escaped, sizeof(escaped), "\\u%04X", *s);
        mg_bytes_append(out, escaped, strlen(escaped));
        return s + 1;
    }
    size_t len = utf8_length(s);
    if (len == 0) {
        mg_bytes_append(out, "\xef\xbf\xbd", 3);
        return s + 1;
    }
    mg_bytes_append(out, (const char *)s, len);
    return s + len;
}

void mg_audit_append_string(mg_bytes_t *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    mg_bytes_append(out, "\"", 1);
    for (;;) {
        const unsigned char *run = s;
        while (plain_byte[*s])
            s++;
        mg_bytes_append(out, (const char *)run, (size_t)(s - run));
        if (*s == '\0')
            break;
        s = append_escaped(out, s);
    }
    mg_bytes_append(out, "\"", 1);
}

/* The text that opens a member after another, `,"key":`, for a literal key: one copy of known length. */
#define MEMBER(key) ",\"" key "\":", sizeof(key) + 3

static void string_member(mg_bytes_t *out, const char *member, size_t member_len, const char *value)
{
    if (value == NULL)
        return;
    mg_bytes_append(out, member, member_len);
    mg_audit_append_string(out, value);
}

/* A value of this file's own tables ("allow", "tool", "legacy", ...): plain ASCII, nothing to escape. */
static void plain_member(mg_bytes_t *out, const char *member, size_t member_len, const char *value)
{
    size_t len = strlen(value);
    mg_bytes_append(out, member, member_len);
    mg_bytes_append(out, "\"", 1);
    mg_bytes_append(out, value, len);
    mg_bytes_append(out, "\"", 1);
}

static void append_integer(mg_bytes_t *out, int64_t value)
{
    char text[24];
    unsigned long long magnitude = value < 0 ? 0 - (unsigned long long)value : (unsigned long long)value;
    size_t at = sizeof(text);
    do {
        text[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0)
        text[--at] = '-';
    mg_bytes_append(out, text + at, sizeof(text) - at);
}

static void signed_member(mg_bytes_t *out, const char *member, size_t member_len, int64_t value)
{
    mg_bytes_append(out, member, member_len);
    append_integer(out, value);
}

static void integer_member(mg_bytes_t *out, const char *member, size_t member_len, int64_t value)
{
    if (value >= 0)
        signed_member(out, member, member_len, value);
}

typedef struct st_object_member_t {
    const char *key;
    const json_t *value;
} object_member_t;

static int compare_members(const void *a, const void *b)
{
    return strcmp(((const object_member_t *)a)->key, ((const object_member_t *)b)->key);
}

/* Members sorted as in the canonical text: by insertion for the few an object usually has, without an
 * allocation; qsort for more, where insertion's n^2 would start to tell. */
static void sort_members(object_member_t *members, size_t count)
{
    if (count > SORT_ON_STACK) {
        qsort(members, count, sizeof(*members), compare_members);
        return;
    }
    for (size_t i = 1; i < count; i++) {
        object_member_t next = members[i];
        size_t at = i;
        for (; at > 0 && strcmp(members[at - 1].key, next.key) > 0; at--)
            members[at] = members[at - 1];
        members[at] = next;
    }
}

/* The redacted copy: see the file comment. */
static int write_redacted(mg_bytes_t *out, const json_t *value, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    if (json_is_string(value)) {
        mg_bytes_append(out, REDACTED, sizeof(REDACTED) - 1);
        return 0;
    }
    if (json_is_array(value)) {
        mg_bytes_append(out, "[", 1);
        for (size_t i = 0; i < json_array_size(value); i++) {
            if (i > 0)
                mg_bytes_append(out, ",", 1);
            if (write_redacted(out, json_array_get(value, i), depth + 1) != 0)
                return -1;
        }
        mg_bytes_append(out, "]", 1);
        return 0;
    }
    if (json_is_object(value)) {
        size_t count = json_object_size(value), i = 0;
        object_member_t on_stack[SORT_ON_STACK];
        object_member_t *members = count <= SORT_ON_STACK ? on_stack : malloc(count * sizeof(*members));
        if (members == NULL)
            return -1;
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)value, key, child) members[i++] = (object_member_t){key, child};
        sort_members(members, count);
        mg_bytes_append(out, "{", 1);
        int rc = 0;
        for (i = 0; i < count && rc == 0; i++) {
            if (i > 0)
                mg_bytes_append(out, ",", 1);
            mg_audit_append_string(out, members[i].key);
            mg_bytes_append(out, ":", 1);
            rc = write_redacted(out, members[i].value, depth + 1);
        }
        if (members != on_stack)
            free(members);
        mg_bytes_append(out, "}", 1);
        return rc;
    }
    return mg_json_write(out, value, JSON_COMPACT | JSON_ENCODE_ANY); /* number, true, false, null */
}

/* "principal":{...} with the members the event has, or nothing when it has none. */
static void write_principal(mg_bytes_t *out, const mg_audit_event_t *event)
{
    static const char opening[] = ",\"principal\":{";
    const struct {
        const char *member; /* "key": after the comma that separates it from the one before */
        size_t member_len;
        const char *value;
    } members[] = {
        {MEMBER("subject"), event->principal.subject}, {MEMBER("issuer"), event->principal.issuer},
        {MEMBER("key_id"), event->principal.key_id},   {MEMBER("client_id"), event->principal.client_id},
        {MEMBER("method"), event->principal.method},
    };
    bool opened = false;
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (members[i].value == NULL)
            continue;
        size_t skip = 0;
        if (!opened) {
            mg_bytes_append(out, opening, sizeof(opening) - 1);
            skip = 1; /* the first member inside the braces has no comma before it */
        }
        string_member(out, members[i].member + skip, members[i].member_len - skip, members[i].value);
        opened = true;
    }
    if (opened)
        mg_bytes_append(out, "}", 1);
}

static int write_json_member(mg_bytes_t *out, const char *member, size_t member_len, const json_t *value)
{
    if (value == NULL)
        return 0;
    mg_bytes_append(out, member, member_len);
    if (json_is_integer(value)) { /* the usual request id: the text jansson writes for it */
        append_integer(out, json_integer_value(value));
        return 0;
    }
    return mg_json_write(out, value, JSON_COMPACT | JSON_ENCODE_ANY);
}

static const char *era_of(const char *version)
{
    if (version == NULL)
        return NULL;
    return strcmp(version, "2026-07-28") >= 0 ? "modern" : "legacy";
}

static const char *const mode_names[] = {"redacted", "digest", "full"};

int mg_audit_record_make(const mg_audit_event_t *event, mg_audit_arguments_t mode, mg_audit_entry_t *out,
                         mg_error_t *err)
{
    mg_bytes_t text = {0};
    memset(out, 0, sizeof(*out));
    int64_t time_us = event->time_us > 0 ? event->time_us : mg_audit_now_us();
    mg_bytes_reserve(&text, 512);
    char time_member[48] = "\"time\":\""; /* the first member: no comma before it */
    size_t time_at = strlen(time_member);
    mg_audit_format_time(time_us, time_member + time_at);
    size_t time_len = strlen(time_member);
    time_member[time_len++] = '"';
    mg_bytes_append(&text, time_member, time_len);
    if (write_json_member(&text, MEMBER("request_id"), event->request_id) != 0)
        goto unencodable;
    string_member(&text, MEMBER("trace_id"), event->trace_id);
    write_principal(&text, event);
    string_member(&text, MEMBER("client_address"), event->client_address);
    string_member(&text, MEMBER("protocol_version"), event->protocol_version);
    const char *era = era_of(event->protocol_version);
    if (era != NULL)
        plain_member(&text, MEMBER("era"), era);
    string_member(&text, MEMBER("server"), event->server);
    const char *item_kind =
        event->item_kind != MG_AUDIT_ITEM_NONE && (unsigned)event->item_kind < 4 ? item_kinds[event->item_kind] : NULL;
    if (item_kind != NULL)
        plain_member(&text, MEMBER("item_kind"), item_kind);
    string_member(&text, MEMBER("item"), event->item_name);
    string_member(&text, MEMBER("method"), event->method);
    plain_member(&text, MEMBER("decision"), mg_audit_decision_name(event->decision));
    string_member(&text, MEMBER("rule"), event->rule);
    string_member(&text, MEMBER("reason"), event->reason);
    size_t canonical_at = 0, canonical_len = 0;
    if (event->arguments != NULL) {
        plain_member(&text, MEMBER("arguments_mode"), mode_names[mode]);
        if (mode == MG_AUDIT_ARGUMENTS_FULL) {
            mg_bytes_append(&text, MEMBER("arguments"));
            canonical_at = text.len;
            if (mg_json_write(&text, event->arguments, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) != 0)
                goto unencodable;
            canonical_len = text.len - canonical_at;
        } else if (mode == MG_AUDIT_ARGUMENTS_REDACTED) {
            mg_bytes_append(&text, MEMBER("arguments"));
            if (write_redacted(&text, event->arguments, 0) != 0)
                goto unencodable;
        }
    }
    string_member(&text, MEMBER("status"), event->status);
    if (event->error_code != 0) /* JSON-RPC error codes are negative: 0 is "none" */
        signed_member(&text, MEMBER("error_code"), event->error_code);
    integer_member(&text, MEMBER("upstream_us"), event->upstream_us);
    integer_member(&text, MEMBER("total_us"), event->total_us);
    integer_member(&text, MEMBER("bytes_in"), event->bytes_in);
    integer_member(&text, MEMBER("bytes_out"), event->bytes_out);
    if (event->findings != NULL && !json_is_array(event->findings))
        goto unencodable;
    if (write_json_member(&text, MEMBER("findings"), event->findings) != 0)
        goto unencodable;
    out->body_len = text.len;
    if (event->arguments != NULL) {
        out->has_digest = true;
        if (mode == MG_AUDIT_ARGUMENTS_FULL) {
            out->digest_at = canonical_at;
            out->digest_len = canonical_len;
        } else {
            out->digest_at = text.len;
            if (mg_json_write(&text, event->arguments, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) != 0)
                goto unencodable;
            out->digest_len = text.len - out->digest_at;
        }
    }
    size_t total;
    out->text = mg_bytes_take(&text, &total);
    return 0;
unencodable:
    mg_bytes_dispose(&text);
    return mg_error_set(err, "audit: the event holds a value that cannot be written as JSON (request_id, arguments "
                             "or findings)");
}

void mg_audit_entry_dispose(mg_audit_entry_t *entry)
{
    free(entry->text);
    entry->text = NULL;
}
