/*
 * redact.c - findings replaced by typed markers, in a text and in every string of a JSON value.
 *
 * A marker names the detector ("[REDACTED:aws_access_key]") and never any part of what it replaces, so
 * a client, a log or an audit record learns which guard acted and nothing of the secret. Findings point
 * at whole code points of the original text (the offset map of normalize.c rounds outwards), so cutting
 * there keeps valid UTF-8 valid, and jansson accepts the result as a string again: the JSON keeps its
 * shape, only string values change. Object keys are not rewritten (a key that is a secret would need
 * the object rebuilt; the scan still reports it through mg_guard_scan).
 */
#include <stdlib.h>
#include <string.h>

#include "guard/detect.h"

int mg_guard_redact(const mg_guard_detectors_t *detectors, const char *text, size_t len,
                    const mg_guard_finding_t *findings, size_t count, char **out, size_t *out_len, mg_error_t *err)
{
    size_t capacity = len + 1;
    for (size_t i = 0; i < count; i++)
        capacity += strlen(mg_guard_detector_type(detectors, findings[i].detector)) + sizeof("[REDACTED:]");
    char *result = malloc(capacity);
    if (result == NULL)
        return mg_error_set(err, "out of memory");
    size_t written = 0, copied = 0;
    for (size_t i = 0; i < count;) {
        size_t start = findings[i].offset, end = start + findings[i].length;
        const char *type = mg_guard_detector_type(detectors, findings[i].detector);
        for (i++; i < count && findings[i].offset < end; i++) { /* overlapping findings: one marker */
            size_t next_end = (size_t)findings[i].offset + findings[i].length;
            end = next_end > end ? next_end : end;
        }
        if (start < copied || end > len) {
            free(result);
            return mg_error_set(err, "findings are not sorted or lie outside the text");
        }
        memcpy(result + written, text + copied, start - copied);
        written += start - copied;
        written += (size_t)sprintf(result + written, "[REDACTED:%s]", type);
        copied = end;
    }
    memcpy(result + written, text + copied, len - copied);
    written += len - copied;
    result[written] = '\0';
    *out = result;
    *out_len = written;
    return 0;
}

typedef struct st_redact_walk_t {
    const mg_guard_detectors_t *detectors;
    mg_guard_scratch_t *scratch;
    const mg_guard_scan_options_t *options;
    mg_guard_findings_t findings;
    size_t redacted;
    mg_error_t *err;
} redact_walk_t;

static int redact_string(redact_walk_t *walk, json_t *string)
{
    mg_guard_findings_clear(&walk->findings);
    const char *text = json_string_value(string);
    size_t len = json_string_length(string);
    if (mg_guard_scan(walk->detectors, walk->scratch, text, len, walk->options, &walk->findings, walk->err) != 0)
        return -1;
    if (walk->findings.len == 0)
        return 0;
    char *redacted;
    size_t redacted_len;
    if (mg_guard_redact(walk->detectors, text, len, walk->findings.items, walk->findings.len, &redacted, &redacted_len,
                        walk->err) != 0)
        return -1;
    int rc = json_string_setn(string, redacted, redacted_len);
    free(redacted);
    if (rc != 0)
        return mg_error_set(walk->err, "a redacted string is not valid UTF-8");
    walk->redacted += walk->findings.len;
    return 0;
}

static int redact_value(redact_walk_t *walk, json_t *value)
{
    const char *key;
    json_t *member;
    size_t index;
    switch (json_typeof(value)) {
    case JSON_STRING:
        return redact_string(walk, value);
    case JSON_OBJECT:
        json_object_foreach(value, key, member)
        {
            if (redact_value(walk, member) != 0)
                return -1;
        }
        return 0;
    case JSON_ARRAY:
        json_array_foreach(value, index, member)
        {
            if (redact_value(walk, member) != 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

int mg_guard_redact_json(const mg_guard_detectors_t *detectors, mg_guard_scratch_t *scratch, json_t *value,
                         const mg_guard_scan_options_t *options, size_t *redacted, mg_error_t *err)
{
    redact_walk_t walk = {.detectors = detectors, .scratch = scratch, .options = options, .err = err};
    int rc = value != NULL ? redact_value(&walk, value) : 0;
    mg_guard_findings_dispose(&walk.findings);
    if (redacted != NULL)
        *redacted = walk.redacted;
    return rc;
}
