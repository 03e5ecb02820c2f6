/*
 * expand.c - from the text a user wrote to the value the gateway uses.
 *
 * ${VAR} expansion is a single left-to-right pass that copies the output into a
 * fresh buffer, so a variable whose value contains "${...}" or "$$" is taken
 * literally: expansion can never be re-applied to expanded text, and a secret in
 * the environment cannot smuggle further lookups into the configuration.
 *
 * The syntax is deliberately narrow. A '$' must start "${NAME}", "${secret:NAME}" or
 * "$$"; anything else is an error rather than a literal, because `Bearer $TOKEN`
 * silently sent as written is worse than a refusal to start. `${secret:NAME}` asks the
 * loader's secret resolver (auth/secrets.h); a secret's value is copied like a
 * variable's, so it is never expanded again either. The buffer is wiped whenever it
 * moves or is dropped, so no freed block keeps a copy of a secret.
 *
 * Path resolution is lexical (no realpath): files named in the configuration need
 * not exist when it is loaded, e.g. a state_dir created on first start.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

typedef struct st_mg_config_buffer_t {
    char *data;
    size_t len;
    size_t capacity;
} mg_config_buffer_t;

static void buffer_wipe(mg_config_buffer_t *buffer)
{
    if (buffer->data != NULL)
        sodium_memzero(buffer->data, buffer->capacity);
    free(buffer->data);
    buffer->data = NULL;
}

static int buffer_append(mg_config_buffer_t *buffer, const char *text, size_t len, mg_error_t *err)
{
    if (buffer->len + len + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity * 2;
        if (capacity < buffer->len + len + 1)
            capacity = buffer->len + len + 1;
        char *data = malloc(capacity); /* not realloc: the old block is wiped before it is freed */
        if (data == NULL)
            return mg_error_set(err, "out of memory");
        if (buffer->data != NULL)
            memcpy(data, buffer->data, buffer->len + 1);
        buffer_wipe(buffer);
        buffer->data = data;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->len, text, len);
    buffer->len += len;
    buffer->data[buffer->len] = '\0';
    return 0;
}

static bool is_name_char(char c, bool first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Appends the value of ${secret:NAME}, `name` being the text after "secret:". */
static int expand_secret(const char *name, size_t name_len, mg_secrets_resolver_t *secrets, mg_config_buffer_t *buffer,
                         mg_error_t *err)
{
    char copy[MG_SECRETS_NAME_MAX + 1];
    if (!mg_secrets_name_valid(name, name_len))
        return mg_error_set(err, "invalid secret name \"%.*s\" (expected 1 to %d characters from [A-Za-z0-9_.-])",
                            (int)(name_len > 200 ? 200 : name_len), name, MG_SECRETS_NAME_MAX);
    if (secrets == NULL)
        return mg_error_set(err, "secret references are not allowed here: state_dir and secrets are read before "
                                 "any secret can be resolved");
    memcpy(copy, name, name_len);
    copy[name_len] = '\0';
    char *value;
    size_t value_len;
    if (mg_secrets_resolve(secrets, copy, &value, &value_len, err) != 0)
        return -1;
    int rc = buffer_append(buffer, value, value_len, err);
    mg_secrets_value_free(value, value_len);
    return rc;
}

/* Expands the reference starting at text[*pos] == '$' and advances *pos past it. */
static int expand_reference(const char *text, size_t len, size_t *pos, mg_secrets_resolver_t *secrets,
                            mg_config_buffer_t *buffer, mg_error_t *err)
{
    size_t start = *pos;
    if (start + 1 < len && text[start + 1] == '$') {
        *pos = start + 2;
        return buffer_append(buffer, "$", 1, err);
    }
    if (start + 1 >= len || text[start + 1] != '{')
        return mg_error_set(err, "'$' must start ${NAME} or be doubled as $$ for a literal '$'");
    const char *name = text + start + 2;
    const char *close = memchr(name, '}', len - start - 2);
    if (close == NULL)
        return mg_error_set(err, "unterminated ${ (missing '}')");
    size_t name_len = (size_t)(close - name);
    if (name_len >= 7 && memcmp(name, "secret:", 7) == 0) {
        *pos = (size_t)(close - text) + 1;
        return expand_secret(name + 7, name_len - 7, secrets, buffer, err);
    }
    if (name_len == 0)
        return mg_error_set(err, "empty variable name in ${}");
    for (size_t i = 0; i < name_len; i++) {
        if (!is_name_char(name[i], i == 0))
            return mg_error_set(err, "invalid variable name \"%.*s\" (expected [A-Za-z_][A-Za-z0-9_]*)", (int)name_len,
                                name);
    }
    char variable[256];
    if (name_len >= sizeof(variable))
        return mg_error_set(err, "variable name too long");
    memcpy(variable, name, name_len);
    variable[name_len] = '\0';
    const char *value = getenv(variable);
    if (value == NULL)
        return mg_error_set(err, "environment variable %s is not set", variable);
    *pos = (size_t)(close - text) + 1;
    return buffer_append(buffer, value, strlen(value), err);
}

int mg_config_expand(const char *text, size_t len, mg_secrets_resolver_t *secrets, char **out, mg_error_t *err)
{
    mg_config_buffer_t buffer = {0};
    size_t pos = 0;
    *out = NULL;
    if (buffer_append(&buffer, "", 0, err) != 0)
        return -1;
    while (pos < len) {
        const char *dollar = memchr(text + pos, '$', len - pos);
        size_t literal = dollar == NULL ? len - pos : (size_t)(dollar - (text + pos));
        if (buffer_append(&buffer, text + pos, literal, err) != 0)
            goto fail;
        pos += literal;
        if (pos < len && expand_reference(text, len, &pos, secrets, &buffer, err) != 0)
            goto fail;
    }
    *out = buffer.data;
    return 0;
fail:
    buffer_wipe(&buffer);
    return -1;
}

char *mg_config_resolve_path(const char *base_dir, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (path[0] == '/')
            path++;
    }
    if (path[0] == '\0' || strcmp(path, ".") == 0)
        return strdup(base_dir);
    size_t base_len = strlen(base_dir);
    while (base_len > 1 && base_dir[base_len - 1] == '/')
        base_len--;
    size_t path_len = strlen(path);
    char *joined = malloc(base_len + 1 + path_len + 1);
    if (joined == NULL)
        return NULL;
    memcpy(joined, base_dir, base_len);
    size_t at = base_len;
    if (base_len != 1 || base_dir[0] != '/')
        joined[at++] = '/';
    memcpy(joined + at, path, path_len + 1);
    return joined;
}
