/*
 * conditions.c - a rule's argument conditions: JSON pointers into a tool call's arguments, and the
 * checks their values must pass.
 *
 * Three answers, not two. A check holds, fails, or cannot be told: the value is missing, has the
 * wrong type for the check (a number where `prefix` needs a string), or the regular expression hit
 * its match or depth limit. "Cannot be told" fails closed: an allow rule's condition does not hold,
 * a deny rule's does. `exists` and `absent` are the exception, because a missing value is exactly what
 * they answer about. A rule's conditions are ANDed: one failing check decides, whatever the others
 * say, and then one unknown.
 *
 * Regular expressions are PCRE2, anchored at both ends (PCRE2_ANCHORED | PCRE2_ENDANCHORED), in UTF
 * mode, with a match limit and a depth limit so that a pattern like (a+)+$ against a long argument
 * costs a bounded amount of work and then fails closed ("pattern too costly"). jansson strings are
 * valid UTF-8, and PCRE2_MATCH_INVALID_UTF keeps that from being a precondition anyway.
 *
 * Reasons quote at most 64 bytes of a caller's value, JSON-encoded in ASCII, so that they are safe to
 * log and to return.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

#define REGEX_OPTIONS (PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)
#define REGEX_MATCH_LIMIT 100000
#define REGEX_DEPTH_LIMIT 2000
#define QUOTE_MAX 64

static pcre2_code *regex_compile(const char *pattern, char *message, size_t size)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *regex = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, REGEX_OPTIONS, &code, &offset, NULL);
    if (regex == NULL && message != NULL) {
        PCRE2_UCHAR text[200];
        if (pcre2_get_error_message(code, text, sizeof(text)) < 0)
            snprintf((char *)text, sizeof(text), "error %d", code);
        snprintf(message, size, "%s at offset %zu", (const char *)text, (size_t)offset);
    }
    return regex;
}

int mg_policy_check_pattern(const char *pattern, char *message, size_t size)
{
    pcre2_code *regex = regex_compile(pattern, message, size);
    if (regex == NULL)
        return -1;
    pcre2_code_free(regex);
    return 0;
}

int mg_policy_condition_compile(const mg_config_condition_t *config, mg_policy_condition_t *out, mg_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->config = config;
    out->prefix_len = config->prefix != NULL ? strlen(config->prefix) : 0;
    out->suffix_len = config->suffix != NULL ? strlen(config->suffix) : 0;
    out->checks =
        (config->equals != NULL ? MG_POLICY_CHECK_EQUALS : 0) | (config->in != NULL ? MG_POLICY_CHECK_IN : 0) |
        (config->prefix != NULL || config->suffix != NULL || config->pattern != NULL || config->max_length >= 0
             ? MG_POLICY_CHECK_STRING
             : 0) |
        (config->has_min || config->has_max ? MG_POLICY_CHECK_NUMBER : 0) |
        (config->min_items >= 0 || config->max_items >= 0 ? MG_POLICY_CHECK_ITEMS : 0);
    out->prefix_only = out->checks == MG_POLICY_CHECK_STRING && config->prefix != NULL && config->suffix == NULL &&
                       config->pattern == NULL && config->max_length < 0 && config->exists != 0;
    if (config->pattern == NULL)
        return 0;
    char message[256];
    if ((out->regex = regex_compile(config->pattern, message, sizeof(message))) == NULL)
        return mg_error_set(err, "%s: %s.pattern: %s", config->location, config->path, message);
    if ((out->match_context = pcre2_match_context_create(NULL)) == NULL)
        return mg_error_set(err, "out of memory");
    pcre2_set_match_limit(out->match_context, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(out->match_context, REGEX_DEPTH_LIMIT);
    /* Several times faster where the JIT is available; the match limit still bounds its work, and its
     * stack limit, like the depth limit, ends in "too costly". Without it the interpreter runs. */
    out->jit = pcre2_jit_compile(out->regex, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

void mg_policy_condition_dispose(mg_policy_condition_t *condition)
{
    pcre2_match_context_free(condition->match_context);
    pcre2_code_free(condition->regex);
}

/* RFC 6901 evaluation; NULL when the value does not exist. Array indexes are digits without leading
 * zeros; "-" (past the end) never exists. */
static const json_t *evaluate_pointer(const mg_config_condition_t *config, const json_t *arguments)
{
    const json_t *value = json_is_object(arguments) ? arguments : NULL;
    for (size_t i = 0; value != NULL && i < config->tokens_len; i++) {
        const char *token = config->tokens[i];
        if (json_is_object(value)) {
            value = json_object_get(value, token);
        } else if (json_is_array(value)) {
            size_t len = strlen(token), index = 0;
            if (len == 0 || len > 9 || (len > 1 && token[0] == '0') || strspn(token, "0123456789") != len)
                return NULL;
            for (size_t j = 0; j < len; j++)
                index = index * 10 + (size_t)(token[j] - '0');
            value = json_array_get(value, index);
        } else {
            return NULL;
        }
    }
    return value;
}

/* The condition's value in this call, looked up once per pointer. */
/* A pointer no condition of this call looked up yet: resolved now, remembered while there is room. */
static __attribute__((noinline)) const mg_policy_resolved_t *
resolve_new(const mg_policy_condition_t *condition, mg_policy_args_t *args, mg_policy_resolved_t *scratch)
{
    mg_policy_resolved_t *slot =
        args->resolved_len < MG_POLICY_RESOLVED_MAX ? &args->resolved[args->resolved_len++] : scratch;
    slot->pointer_id = condition->pointer_id;
    slot->value = evaluate_pointer(condition->config, args->arguments);
    slot->text = json_is_string(slot->value) ? json_string_value(slot->value) : NULL;
    slot->len = slot->text != NULL ? json_string_length(slot->value) : 0;
    return slot;
}

/* Inline: every condition of every call asks, and nearly always for a pointer already resolved. */
static inline const mg_policy_resolved_t *resolve(const mg_policy_condition_t *condition, mg_policy_args_t *args,
                                                  mg_policy_resolved_t *scratch)
{
    for (size_t i = 0; i < args->resolved_len; i++) {
        if (args->resolved[i].pointer_id == condition->pointer_id)
            return &args->resolved[i];
    }
    return resolve_new(condition, args, scratch);
}

static const char *type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* At most QUOTE_MAX bytes of the value (strings cut at a character boundary), JSON-encoded in ASCII. */
static void quote(const json_t *value, char *out, size_t size)
{
    json_t *shown = NULL;
    bool cut = false;
    if (json_is_string(value)) {
        size_t len = json_string_length(value);
        const char *text = json_string_value(value);
        if (len > QUOTE_MAX) {
            len = QUOTE_MAX;
            while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
                len--;
            cut = true;
        }
        shown = json_stringn(text, len);
    }
    char *text = json_dumps(shown != NULL ? shown : value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(shown);
    if (text == NULL) {
        snprintf(out, size, "(value)");
        return;
    }
    if (strlen(text) > QUOTE_MAX + 16) {
        text[QUOTE_MAX + 16] = '\0';
        cut = true;
    }
    snprintf(out, size, "%s%s", text, cut ? "..." : "");
    free(text);
}

/* JSON equality where numbers compare by value (1 == 1.0). */
static bool same_value(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (!same_value(json_array_get(a, i), json_array_get(b, i)))
                return false;
        }
        return true;
    }
    if (json_is_object(a)) {
        const char *key;
        json_t *value;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, key, value)
        {
            const json_t *other = json_object_get(b, key);
            if (other == NULL || !same_value(value, other))
                return false;
        }
        return true;
    }
    return json_equal(a, b) != 0;
}

static size_t code_points(const char *text, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += ((unsigned char)text[i] & 0xc0) != 0x80;
    return count;
}

typedef struct st_verdict_t {
    mg_policy_truth_t truth;
    char *reason; /* NULL: no reason wanted (nothing is quoted then) */
    size_t size;
    const char *pointer;
    const json_t *value;
    char shown[QUOTE_MAX + 32]; /* the value quoted, made on first use */
} verdict_t;

static const char *shown(verdict_t *verdict)
{
    if (verdict->reason == NULL)
        return "";
    if (verdict->shown[0] == '\0')
        quote(verdict->value, verdict->shown, sizeof(verdict->shown));
    return verdict->shown;
}

/* The reason's text, for the first check that does not hold. */
static void note_text(verdict_t *verdict, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_text(verdict_t *verdict, const char *fmt, ...)
{
    int used = snprintf(verdict->reason, verdict->size, "%s ", verdict->pointer);
    va_list ap;
    va_start(ap, fmt);
    if (used > 0 && (size_t)used < verdict->size)
        vsnprintf(verdict->reason + used, verdict->size - (size_t)used, fmt, ap);
    va_end(ap);
}

/* Records one check's outcome: the first one that does not hold is the one the reason names. A macro
 * so that the arguments of the text (a quoted value) are only computed when a reason is wanted: the
 * calls the gateway decides want none, and evaluate every condition of every rule that applies. */
#define note(verdict, outcome, ...)                                                                                    \
    do {                                                                                                               \
        mg_policy_truth_t note_truth_ = (outcome);                                                                     \
        if (note_truth_ > (verdict)->truth) {                                                                          \
            (verdict)->truth = note_truth_;                                                                            \
            if ((verdict)->reason != NULL)                                                                             \
                note_text((verdict), __VA_ARGS__);                                                                     \
        }                                                                                                              \
    } while (0)

static int regex_match(const mg_policy_condition_t *condition, const char *text, size_t len, mg_policy_args_t *args)
{
    pcre2_match_data *kept = args->match_data != NULL ? *args->match_data : NULL;
    pcre2_match_data *match = kept != NULL ? kept : pcre2_match_data_create(1, NULL);
    if (match == NULL)
        return PCRE2_ERROR_NOMEMORY;
    /* The subject is a jansson string, valid UTF-8, and the pattern was compiled with
     * PCRE2_MATCH_INVALID_UTF besides: pcre2_match's checks before it calls the JIT add nothing. */
    int rc = condition->jit
                 ? pcre2_jit_match(condition->regex, (PCRE2_SPTR)text, len, 0, 0, match, condition->match_context)
                 : pcre2_match(condition->regex, (PCRE2_SPTR)text, len, 0, 0, match, condition->match_context);
    if (args->match_data != NULL)
        *args->match_data = match;
    else
        pcre2_match_data_free(match);
    return rc;
}

/* The first byte is compared inline: most prefixes a call is tested against are other callers' and
 * differ there, which spares the call to memcmp. */
static inline bool has_prefix(const mg_policy_condition_t *condition, const char *text, size_t len)
{
    const char *prefix = condition->config->prefix;
    return len >= condition->prefix_len &&
           (condition->prefix_len == 0 || (text[0] == prefix[0] && memcmp(text, prefix, condition->prefix_len) == 0));
}

static void check_string(const mg_policy_condition_t *condition, const mg_policy_resolved_t *value,
                         mg_policy_args_t *args, verdict_t *verdict)
{
    const mg_config_condition_t *config = condition->config;
    const char *text = value->text;
    size_t len = value->len;
    if (config->prefix != NULL && !has_prefix(condition, text, len))
        note(verdict, MG_POLICY_FAILS, "is %s, which does not start with \"%s\"", shown(verdict), config->prefix);
    if (config->suffix != NULL && (len < condition->suffix_len || memcmp(text + len - condition->suffix_len,
                                                                         config->suffix, condition->suffix_len) != 0))
        note(verdict, MG_POLICY_FAILS, "is %s, which does not end with \"%s\"", shown(verdict), config->suffix);
    if (config->max_length >= 0 && code_points(text, len) > (size_t)config->max_length)
        note(verdict, MG_POLICY_FAILS, "is %zu characters long, more than max_length %lld", code_points(text, len),
             config->max_length);
    if (condition->regex != NULL) {
        int rc = regex_match(condition, text, len, args);
        if (rc == PCRE2_ERROR_NOMATCH)
            note(verdict, MG_POLICY_FAILS, "is %s, which does not match pattern \"%s\"", shown(verdict),
                 config->pattern);
        else if (rc < 0)
            note(verdict, MG_POLICY_UNKNOWN, "is %s: pattern too costly", shown(verdict));
    }
}

static void check_present(const mg_policy_condition_t *condition, const mg_policy_resolved_t *resolved,
                          mg_policy_args_t *args, verdict_t *verdict)
{
    const json_t *value = resolved->value;
    const mg_config_condition_t *config = condition->config;
    unsigned checks = condition->checks;
    if ((checks & MG_POLICY_CHECK_EQUALS) && !same_value(value, config->equals)) {
        char expected[QUOTE_MAX + 32] = "";
        if (verdict->reason != NULL)
            quote(config->equals, expected, sizeof(expected));
        note(verdict, MG_POLICY_FAILS, "is %s, not %s", shown(verdict), expected);
    }
    if (checks & MG_POLICY_CHECK_IN) {
        bool found = false;
        for (size_t i = 0; i < json_array_size(config->in) && !found; i++)
            found = same_value(value, json_array_get(config->in, i));
        if (!found)
            note(verdict, MG_POLICY_FAILS, "is %s, not one of the values of `in`", shown(verdict));
    }
    if ((checks & MG_POLICY_CHECK_STRING) && resolved->text == NULL)
        note(verdict, MG_POLICY_UNKNOWN, "is %s, and prefix, suffix, pattern and max_length need a string",
             type_name(value));
    else if (checks & MG_POLICY_CHECK_STRING)
        check_string(condition, resolved, args, verdict);
    if (checks & MG_POLICY_CHECK_NUMBER) {
        double number = json_number_value(value);
        if (!json_is_number(value))
            note(verdict, MG_POLICY_UNKNOWN, "is %s, and min and max need a number", type_name(value));
        else if (config->has_min && number < config->min)
            note(verdict, MG_POLICY_FAILS, "is %s, less than min %g", shown(verdict), config->min);
        else if (config->has_max && number > config->max)
            note(verdict, MG_POLICY_FAILS, "is %s, more than max %g", shown(verdict), config->max);
    }
    if (checks & MG_POLICY_CHECK_ITEMS) {
        size_t items = json_array_size(value);
        if (!json_is_array(value))
            note(verdict, MG_POLICY_UNKNOWN, "is %s, and min_items and max_items need an array", type_name(value));
        else if (config->max_items >= 0 && items > (size_t)config->max_items)
            note(verdict, MG_POLICY_FAILS, "has %zu items, more than max_items %lld", items, config->max_items);
        else if (config->min_items >= 0 && items < (size_t)config->min_items)
            note(verdict, MG_POLICY_FAILS, "has %zu items, fewer than min_items %lld", items, config->min_items);
    }
}

static mg_policy_truth_t evaluate(const mg_policy_condition_t *condition, mg_policy_args_t *args, char *reason,
                                  size_t size)
{
    const mg_config_condition_t *config = condition->config;
    mg_policy_resolved_t scratch;
    const mg_policy_resolved_t *resolved = resolve(condition, args, &scratch);
    const json_t *value = resolved->value;
    verdict_t verdict; /* not zero-filled: this runs for every condition of every call */
    verdict.truth = MG_POLICY_HOLDS;
    verdict.reason = reason;
    verdict.size = size;
    verdict.pointer = config->pointer;
    verdict.value = value;
    verdict.shown[0] = '\0';
    if (value == NULL) {
        if (config->exists == 0)
            return MG_POLICY_HOLDS;
        note(&verdict, config->exists == 1 ? MG_POLICY_FAILS : MG_POLICY_UNKNOWN, "is missing");
        return verdict.truth;
    }
    if (config->exists == 0) {
        note(&verdict, MG_POLICY_FAILS, "is present, and must be absent");
        return verdict.truth;
    }
    check_present(condition, resolved, args, &verdict);
    return verdict.truth;
}

/* A rule's conditions when no reason is wanted, which is how every call is decided: a prefix-only
 * condition on a string is decided here, anything else by evaluate(). */
static inline mg_policy_truth_t rule_truth(const mg_policy_rule_t *rule, mg_policy_args_t *args)
{
    mg_policy_truth_t result = MG_POLICY_HOLDS;
    for (size_t i = 0; i < rule->conditions_len && result != MG_POLICY_FAILS; i++) {
        const mg_policy_condition_t *condition = &rule->conditions[i];
        const mg_policy_resolved_t *value;
        mg_policy_resolved_t scratch;
        mg_policy_truth_t truth;
        if (condition->prefix_only && (value = resolve(condition, args, &scratch))->text != NULL)
            truth = has_prefix(condition, value->text, value->len) ? MG_POLICY_HOLDS : MG_POLICY_FAILS;
        else
            truth = evaluate(condition, args, NULL, 0);
        if (truth > result)
            result = truth;
    }
    return result;
}

size_t mg_policy_first_applying(const mg_policy_rule_t *const *rules, size_t len, bool denies, mg_policy_args_t *args)
{
    for (size_t i = 0; i < len; i++) {
        mg_policy_truth_t truth = rule_truth(rules[i], args);
        if (denies ? truth != MG_POLICY_FAILS : truth == MG_POLICY_HOLDS)
            return i;
    }
    return len;
}

mg_policy_truth_t mg_policy_rule_conditions(const mg_policy_rule_t *rule, mg_policy_args_t *args, char *reason,
                                            size_t reason_size)
{
    if (reason == NULL || reason_size == 0)
        return rule_truth(rule, args);
    mg_policy_truth_t result = MG_POLICY_HOLDS;
    char detail[320];
    reason[0] = '\0';
    for (size_t i = 0; i < rule->conditions_len && result != MG_POLICY_FAILS; i++) {
        mg_policy_truth_t truth = evaluate(&rule->conditions[i], args, detail, sizeof(detail));
        if (truth > result) {
            result = truth;
            snprintf(reason, reason_size, "%s", detail);
        }
    }
    if (result == MG_POLICY_HOLDS && rule->conditions_len > 0)
        snprintf(reason, reason_size, "the conditions on %s%s hold", rule->conditions[0].config->pointer,
                 rule->conditions_len > 1 ? " and the other arguments" : "");
    return result;
}

/* Appends "<len>:<text>", or "~" for NULL (not set), so that no text can imitate a separator or an
 * unset check; false when out of memory. */
static bool key_text(char **key, size_t *len, const char *text)
{
    size_t add = (text != NULL ? strlen(text) : 0) + 24;
    char *grown = realloc(*key, *len + add);
    if (grown == NULL)
        return false;
    *key = grown;
    if (text == NULL)
        *len += (size_t)snprintf(grown + *len, add, "~");
    else
        *len += (size_t)snprintf(grown + *len, add, "%zu:%s", strlen(text), text);
    return true;
}

static bool key_json(char **key, size_t *len, const json_t *value)
{
    if (value == NULL)
        return key_text(key, len, NULL);
    char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    bool ok = text != NULL && key_text(key, len, text);
    free(text);
    return ok;
}

char *mg_policy_conditions_key(const mg_policy_rule_t *rule)
{
    char *key = calloc(1, 1), numbers[160];
    size_t len = 0;
    for (size_t i = 0; key != NULL && i < rule->conditions_len; i++) {
        const mg_config_condition_t *c = rule->conditions[i].config;
        snprintf(numbers, sizeof(numbers), "%lld %d%d %.17g %.17g %lld %lld %d", c->max_length, c->has_min, c->has_max,
                 c->has_min ? c->min : 0.0, c->has_max ? c->max : 0.0, c->min_items, c->max_items, c->exists);
        if (!key_text(&key, &len, c->pointer) || !key_json(&key, &len, c->equals) || !key_json(&key, &len, c->in) ||
            !key_text(&key, &len, c->prefix) || !key_text(&key, &len, c->suffix) || !key_text(&key, &len, c->pattern) ||
            !key_text(&key, &len, numbers)) {
            free(key);
            return NULL;
        }
    }
    return key;
}
