/*
 * secrets_resolve.c - where a ${secret:NAME} reference finds its value (see secrets.h).
 *
 * Order: environment, then secrets.dir, then the encrypted store. The environment comes first so
 * that a deployment can override any stored value without touching the database, and files come
 * before the store because orchestrators (Docker and Kubernetes secrets) deliver them as files.
 *
 * Files in secrets.dir are refused when others (not the owner, not the group) may read or write
 * them. That is stricter than a warning and looser than the 0600 asked of key files: the group
 * bit stays allowed because mounted secrets are commonly 0440 with a group of the container's
 * user, and both Docker (0444) and Kubernetes (0644) default to modes that need one line of
 * configuration (`mode: 0440`, `defaultMode: 0440`) to fix.
 *
 * The store and the master key are opened lazily, on the first reference the environment and the
 * files do not satisfy, and at most once per load: a configuration whose secrets all come from
 * the environment works without a database or a key, and one whose store lacks a master key says
 * so only when a stored secret is needed. The database is opened MG_STORE_EXISTING, so resolving
 * (e.g. `check-config`) never creates state_dir.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/secrets.h"

typedef enum en_mg_lazy_t {
    LAZY_UNTRIED = 0,
    LAZY_READY,
    LAZY_ABSENT, /* no database, no master key configured */
    LAZY_FAILED,
} mg_lazy_t;

struct st_mg_secrets_resolver_t {
    char *state_dir;
    char *dir;             /* NULL: no secrets.dir */
    char *master_key_file; /* NULL: not in the configuration */
    mg_lazy_t store_state;
    mg_store_t *store;
    mg_error_t store_error;
    mg_lazy_t key_state;
    mg_secrets_key_t key;
    mg_error_t key_error;
};

static char *copy_or_null(const char *text, bool *failed)
{
    char *copy = text != NULL ? strdup(text) : NULL;
    if (text != NULL && copy == NULL)
        *failed = true;
    return copy;
}

mg_secrets_resolver_t *mg_secrets_resolver_create(const char *state_dir, const char *dir, const char *master_key_file)
{
    mg_secrets_resolver_t *resolver = calloc(1, sizeof(*resolver));
    bool failed = false;
    if (resolver == NULL)
        return NULL;
    resolver->state_dir = copy_or_null(state_dir, &failed);
    resolver->dir = copy_or_null(dir, &failed);
    resolver->master_key_file = copy_or_null(master_key_file, &failed);
    if (failed || resolver->state_dir == NULL) {
        mg_secrets_resolver_destroy(resolver);
        return NULL;
    }
    return resolver;
}

void mg_secrets_resolver_destroy(mg_secrets_resolver_t *resolver)
{
    if (resolver == NULL)
        return;
    mg_store_close(resolver->store);
    mg_secrets_key_dispose(&resolver->key);
    free(resolver->state_dir);
    free(resolver->dir);
    free(resolver->master_key_file);
    free(resolver);
}

static int copy_value(const char *text, size_t len, char **value, size_t *value_len, mg_error_t *err)
{
    if ((*value = malloc(len + 1)) == NULL)
        return mg_error_set(err, "out of memory");
    memcpy(*value, text, len);
    (*value)[len] = '\0';
    *value_len = len;
    return 0;
}

/* Reads at most `size` bytes; the number read, or -1. */
static ssize_t read_up_to(int fd, char *buffer, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buffer + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Checks the opened file and reads its value, one trailing newline ("\n" or "\r\n") removed. */
static int read_secret_file(int fd, const char *path, const char *name, char **value, size_t *len, mg_error_t *err)
{
    const size_t size = MG_SECRETS_VALUE_MAX + 3; /* a maximal value, "\r\n", and one byte to see "too long" */
    struct stat st;
    if (fstat(fd, &st) != 0)
        return mg_error_set(err, "secret %s: %s: %s", name, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mg_error_set(err, "secret %s: %s is not a regular file", name, path);
    if ((st.st_mode & 006) != 0)
        return mg_error_set(err, "secret %s: %s has mode %04o, which lets others read or write it; run chmod o-rw %s",
                            name, path, (unsigned)(st.st_mode & 07777), path);
    char *buffer = malloc(size);
    if (buffer == NULL)
        return mg_error_set(err, "out of memory");
    ssize_t got = read_up_to(fd, buffer, size);
    int rc = -1;
    if (got < 0) {
        mg_error_set(err, "secret %s: cannot read %s: %s", name, path, strerror(errno));
    } else {
        size_t used = (size_t)got;
        if (used > 0 && buffer[used - 1] == '\n')
            used -= used > 1 && buffer[used - 2] == '\r' ? 2 : 1;
        if (used > MG_SECRETS_VALUE_MAX)
            mg_error_set(err, "secret %s: %s is longer than %d bytes", name, path, MG_SECRETS_VALUE_MAX);
        else if (memchr(buffer, '\0', used) != NULL)
            mg_error_set(err, "secret %s: %s contains a NUL byte", name, path);
        else
            rc = copy_value(buffer, used, value, len, err);
    }
    mg_secrets_value_free(buffer, size);
    return rc;
}

/* 0 with the value, 1 when there is no such file, -1 on error. */
static int from_file(const char *path, const char *name, char **value, size_t *len, mg_error_t *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* O_NONBLOCK: a FIFO cannot hang the load */
    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0)
        return mg_error_set(err, "secret %s: cannot open %s: %s", name, path, strerror(errno));
    int rc = read_secret_file(fd, path, name, value, len, err);
    close(fd);
    return rc;
}

static int open_store(mg_secrets_resolver_t *resolver)
{
    if (resolver->store_state == LAZY_UNTRIED) {
        int rc = mg_store_open(resolver->state_dir, MG_STORE_EXISTING, &resolver->store, &resolver->store_error);
        resolver->store_state = rc == 0 ? LAZY_READY : rc == MG_STORE_NOT_FOUND ? LAZY_ABSENT : LAZY_FAILED;
    }
    return resolver->store_state;
}

static int load_key(mg_secrets_resolver_t *resolver)
{
    if (resolver->key_state == LAZY_UNTRIED) {
        int rc = mg_secrets_key_load(resolver->master_key_file, &resolver->key, &resolver->key_error);
        resolver->key_state = rc == 0 ? LAZY_READY : rc == MG_SECRETS_NO_MASTER_KEY ? LAZY_ABSENT : LAZY_FAILED;
    }
    return resolver->key_state;
}

/* 0 with the value, 1 when the store has no such secret (or there is no store), -1 on error. */
static int from_store(mg_secrets_resolver_t *resolver, const char *name, char **value, size_t *len, mg_error_t *err)
{
    mg_store_secret_t row;
    mg_error_t detail;
    int state = open_store(resolver);
    if (state == LAZY_ABSENT)
        return 1;
    if (state == LAZY_FAILED)
        return mg_error_set(err, "secret %s: encrypted store: %s", name, resolver->store_error.message);
    /* Is it there at all? Only then does a missing master key matter. */
    int rc = mg_store_secret_get(resolver->store, name, &row, &detail);
    mg_store_secret_dispose(&row);
    if (rc == MG_STORE_NOT_FOUND)
        return 1;
    if (rc != 0)
        return mg_error_set(err, "secret %s: %s", name, detail.message);
    state = load_key(resolver);
    if (state == LAZY_ABSENT)
        return mg_error_set(err, "secret %s is in the encrypted store %s, but there is %s", name,
                            mg_store_path(resolver->store), resolver->key_error.message);
    if (state == LAZY_FAILED)
        return mg_error_set(err, "secret %s is in the encrypted store %s, but the master key cannot be loaded: %s",
                            name, mg_store_path(resolver->store), resolver->key_error.message);
    rc = mg_secrets_get(resolver->store, &resolver->key, name, value, len, &detail);
    return rc == 0 ? 0 : mg_error_set(err, "%s", detail.message);
}

int mg_secrets_resolve(mg_secrets_resolver_t *resolver, const char *name, char **value, size_t *len, mg_error_t *err)
{
    char variable[sizeof(MG_SECRETS_ENV_PREFIX) + MG_SECRETS_NAME_MAX], path[4096], store_path[4200];
    *value = NULL;
    *len = 0;
    if (!mg_secrets_name_valid(name, strlen(name)))
        return mg_error_set(err, "invalid secret name \"%s\"", name);
    mg_secrets_env_name(name, variable, sizeof(variable));
    const char *from_env = getenv(variable);
    if (from_env != NULL)
        return copy_value(from_env, strlen(from_env), value, len, err);
    int rc = 1;
    if (resolver->dir != NULL) {
        if (snprintf(path, sizeof(path), "%s/%s", resolver->dir, name) >= (int)sizeof(path))
            return mg_error_set(err, "secret %s: secrets.dir path too long", name);
        if ((rc = from_file(path, name, value, len, err)) <= 0)
            return rc;
    }
    if ((rc = from_store(resolver, name, value, len, err)) <= 0)
        return rc;
    snprintf(store_path, sizeof(store_path), "%s/" MG_STORE_FILE "%s", resolver->state_dir,
             resolver->store_state == LAZY_ABSENT ? ", which does not exist" : "");
    if (resolver->dir == NULL)
        return mg_error_set(err,
                            "secret %s not found (looked in: environment variable %s; no secrets.dir set; "
                            "encrypted store %s)",
                            name, variable, store_path);
    return mg_error_set(err, "secret %s not found (looked in: environment variable %s; file %s; encrypted store %s)",
                        name, variable, path, store_path);
}
