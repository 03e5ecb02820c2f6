/*
 * regex.c - `pattern` and `patternProperties`: ECMA-262 regular expressions, as JSON Schema says,
 * run by PCRE2.
 *
 * The two dialects agree on what schemas use, given these options: UTF mode (code points, not
 * bytes), '$' at the very end only (PCRE2_DOLLAR_ENDONLY: ECMA's '$' does not match before a final
 * newline), \uXXXX and \u{...} escapes (PCRE2_ALT_BSUX, PCRE2_EXTRA_ALT_BSUX), "[]" and "[^]"
 * (PCRE2_ALLOW_EMPTY_CLASS). \d and \w stay ASCII in both. One more difference is translated before
 * compiling: ECMA writes Unicode general categories by their long names (\p{Letter},
 * \p{General_Category=Uppercase_Letter}), which PCRE2 10.42 knows only as L and Lu.
 *
 * Patterns are compiled once per schema, JIT-compiled when PCRE2 can, and run with the schema's
 * match context: a match limit, a depth limit and a heap limit, so that a pattern like ^(a+)+$
 * against "aaaa...!" costs a bounded amount of work and then fails the value with a violation
 * saying so (fail closed), rather than holding a worker. The match block is per thread, made on
 * first use and freed when the thread ends.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

#define REGEX_OPTIONS                                                                                                  \
    (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS)
#define REGEX_MAX_LENGTH 32768

/* ECMA-262's General_Category values (table-nonbinary-unicode-properties), long name to short */
static const char *const categories[][2] = {
    {"Cased_Letter", "LC"},
    {"Close_Punctuation", "Pe"},
    {"Connector_Punctuation", "Pc"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Currency_Symbol", "Sc"},
    {"Dash_Punctuation", "Pd"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Enclosing_Mark", "Me"},
    {"Final_Punctuation", "Pf"},
    {"Format", "Cf"},
    {"Initial_Punctuation", "Pi"},
    {"Letter", "L"},
    {"Letter_Number", "Nl"},
    {"Line_Separator", "Zl"},
    {"Lowercase_Letter", "Ll"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Math_Symbol", "Sm"},
    {"Modifier_Letter", "Lm"},
    {"Modifier_Symbol", "Sk"},
    {"Nonspacing_Mark", "Mn"},
    {"Number", "N"},
    {"Open_Punctuation", "Ps"},
    {"Other", "C"},
    {"Other_Letter", "Lo"},
    {"Other_Number", "No"},
    {"Other_Punctuation", "Po"},
    {"punct", "P"},
    {"Other_Symbol", "So"},
    {"Paragraph_Separator", "Zp"},
    {"Private_Use", "Co"},
    {"Punctuation", "P"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Spacing_Mark", "Mc"},
    {"Surrogate", "Cs"},
    {"Symbol", "S"},
    {"Titlecase_Letter", "Lt"},
    {"Unassigned", "Cn"},
    {"Uppercase_Letter", "Lu"},
};

static const char *short_category(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
        if (strlen(categories[i][0]) == len && memcmp(categories[i][0], name, len) == 0)
            return categories[i][1];
    return NULL;
}

/* The pattern with \p{Long_Name} / \P{gc=Long_Name} written the PCRE2 way; malloc'd. Short names
 * never get longer, so the result fits the source's length. */
static char *translate(const char *source, size_t len, size_t *out_len)
{
    static const char *const prefixes[] = {"General_Category=", "gc="};
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] != '\\' || i + 1 == len) {
            out[n++] = source[i];
            continue;
        }
        char kind = source[i + 1];
        const char *close = NULL;
        if ((kind == 'p' || kind == 'P') && i + 2 < len && source[i + 2] == '{')
            close = memchr(source + i + 3, '}', len - i - 3);
        const char *category = NULL;
        if (close != NULL) {
            const char *name = source + i + 3;
            size_t name_len = (size_t)(close - name);
            for (size_t k = 0; k < 2; k++) {
                size_t prefix_len = strlen(prefixes[k]);
                if (name_len > prefix_len && memcmp(name, prefixes[k], prefix_len) == 0) {
                    name += prefix_len;
                    name_len -= prefix_len;
                    break;
                }
            }
            category = short_category(name, name_len);
        }
        if (category != NULL) {
            n += (size_t)sprintf(out + n, "\\%c{%s}", kind, category);
            i = (size_t)(close - source);
        } else {
            out[n++] = source[i];
            out[n++] = source[++i]; /* the escaped character, whatever it is */
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

pcre2_code *mg_schema_regex_compile(const char *source, size_t len, pcre2_compile_context *context, char *message,
                                    size_t size)
{
    size_t translated_len;
    char *translated = translate(source, len, &translated_len);
    if (translated == NULL) {
        snprintf(message, size, "out of memory");
        return NULL;
    }
    int code;
    PCRE2_SIZE offset;
    pcre2_code *regex = pcre2_compile((PCRE2_SPTR)translated, translated_len, REGEX_OPTIONS, &code, &offset, context);
    free(translated);
    if (regex == NULL) {
        PCRE2_UCHAR text[200];
        if (pcre2_get_error_message(code, text, sizeof(text)) < 0)
            snprintf((char *)text, sizeof(text), "error %d", code);
        snprintf(message, size, "%s at offset %zu", (const char *)text, (size_t)offset);
    }
    return regex;
}

int mg_schema_compile_regex(mg_schema_compiler_t *c, const char *source, size_t len, mg_schema_regex_t *out,
                            const char *where)
{
    if (len > REGEX_MAX_LENGTH) {
        mg_error_set(c->err, "schema too large at %s: a pattern of %zu bytes, more than %d", where, len,
                     REGEX_MAX_LENGTH);
        return MG_SCHEMA_ERR_LIMIT;
    }
    char message[256];
    pcre2_code *regex = mg_schema_regex_compile(source, len, c->compile_context, message, sizeof(message));
    if (regex == NULL) {
        mg_error_set(c->err, "invalid schema at %s: the regular expression does not compile: %s", where, message);
        return MG_SCHEMA_ERR_INVALID;
    }
    int rc = mg_schema_keep_code(c, regex);
    if (rc != 0)
        return rc;
    out->code = regex;
    out->jit = pcre2_jit_compile(regex, PCRE2_JIT_COMPLETE) == 0;
    if ((out->source = mg_schema_arena_strndup(&c->schema->arena, source, len)) == NULL)
        return mg_schema_compile_nomem(c);
    return 0;
}

static pthread_key_t match_key;
static pthread_once_t match_once = PTHREAD_ONCE_INIT;
static _Thread_local pcre2_match_data *match_data;

static void match_data_free(void *data)
{
    pcre2_match_data_free(data);
}

static void match_key_create(void)
{
    pthread_key_create(&match_key, match_data_free);
}

int mg_schema_regex_match(const mg_schema_t *schema, const mg_schema_regex_t *regex, const char *subject, size_t len)
{
    if (match_data == NULL) {
        pthread_once(&match_once, match_key_create);
        if ((match_data = pcre2_match_data_create(1, NULL)) == NULL)
            return -1;
        pthread_setspecific(match_key, match_data);
    }
    int rc = regex->jit
                 ? pcre2_jit_match(regex->code, (PCRE2_SPTR)subject, len, 0, 0, match_data, schema->match_context)
                 : pcre2_match(regex->code, (PCRE2_SPTR)subject, len, 0, 0, match_data, schema->match_context);
    if (rc >= 0)
        return 1; /* 0: matched, with more groups than the match block holds */
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}
