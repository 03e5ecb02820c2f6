/*
 * audit.c - the `audit` section: where the tamper-evident audit trail goes and how it is kept.
 *
 * Everything the writer (src/audit/) needs is decided here, so that a snapshot never holds a trail
 * it cannot write: sizes and intervals are parsed into numbers ("100MB", "24h"), the signing key is
 * decoded into its 32-byte Ed25519 seed at load time (a key that does not decode stops the gateway
 * from starting, instead of it running for a day without checkpoints), and paths are absolute.
 *
 * Sizes take the binary multiples K, M, G (1024-based, with or without a trailing B or iB), because
 * that is what `ls -lh` shows operators. Intervals need a unit (s, m, h, d): a bare "24" could be
 * read as hours or as seconds, and a wrong guess here means a file that never rotates.
 *
 * The signing key is a secret: messages never quote its value, only its path.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config/config_internal.h"

static const char *const audit_keys[] = {"file",   "sqlite",           "fsync", "arguments", "signing_key",
                                         "rotate", "checkpoint_every", "queue", NULL};
static const char *const rotate_keys[] = {"size", "interval", NULL};

#define DEFAULT_CHECKPOINT_EVERY 1000
#define DEFAULT_QUEUE 65536
#define MAX_QUEUE (16 * 1024 * 1024)

void mg_config_audit_dispose(mg_config_audit_t *audit)
{
    free(audit->file);
    free(audit->sqlite);
    sodium_memzero(audit, sizeof(*audit));
}

static yaml_node_t *field(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *key,
                          char child[MG_CONFIG_PATH_MAX])
{
    mg_config_yaml_path_key(child, MG_CONFIG_PATH_MAX, path, key);
    return mg_config_yaml_get(&loader->yaml, node, key, NULL);
}

static int load_fsync(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_audit_t *audit)
{
    char *text;
    audit->fsync = MG_AUDIT_FSYNC_ALWAYS;
    if (node == NULL)
        return 0;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    int rc = 0;
    if (strcmp(text, "always") == 0) {
        audit->fsync = MG_AUDIT_FSYNC_ALWAYS;
    } else if (strcmp(text, "never") == 0) {
        audit->fsync = MG_AUDIT_FSYNC_NEVER;
    } else {
        char *end;
        errno = 0;
        long long ms = text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : -1;
        if (ms < 1 || ms > 3600000 || errno != 0 || *end != '\0')
            rc = mg_config_yaml_fail(&loader->yaml, node, path,
                                     "\"%s\" must be always, never, or milliseconds between syncs (1..3600000)",
                                     mg_config_yaml_raw(node));
        audit->fsync = MG_AUDIT_FSYNC_INTERVAL;
        audit->fsync_interval_ms = (int)ms;
    }
    free(text);
    return rc;
}

static int load_arguments(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                          mg_config_audit_t *audit)
{
    static const char *const names[] = {"redacted", "digest", "full", NULL};
    char *text;
    audit->arguments = MG_AUDIT_ARGUMENTS_REDACTED;
    if (node == NULL)
        return 0;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    for (size_t i = 0; names[i] != NULL; i++) {
        if (strcmp(text, names[i]) == 0) {
            audit->arguments = (mg_audit_arguments_t)i;
            free(text);
            return 0;
        }
    }
    free(text);
    return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be redacted, digest or full",
                               mg_config_yaml_raw(node));
}

/* A base64 (standard or URL-safe, padded or not) Ed25519 seed of exactly 32 bytes. */
static int load_signing_key(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                            mg_config_audit_t *audit)
{
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    char *text;
    if (mg_config_load_nonempty(loader, node, path, &text) != 0) {
        free(text);
        return -1;
    }
    size_t len = strlen(text), decoded = 0;
    bool ok = false;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]) && !ok; i++) {
        ok = sodium_base642bin(audit->signing_seed, sizeof(audit->signing_seed), text, len, NULL, &decoded, NULL,
                               variants[i]) == 0 &&
             decoded == MG_AUDIT_SEED_BYTES;
    }
    sodium_memzero(text, len);
    free(text);
    if (!ok) {
        sodium_memzero(audit->signing_seed, sizeof(audit->signing_seed));
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "must be the base64 text of a 32-byte Ed25519 seed (e.g. `head -c32 /dev/urandom "
                                   "| base64`, stored with `mcpgate secrets set`)");
    }
    audit->has_signing_key = true;
    return 0;
}

/* "100MB", "512K", "1GiB", "4096": bytes, 1024-based multiples. */
static int load_size(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, uint64_t *out)
{
    char *text;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    bool ok = end != NULL && errno == 0;
    uint64_t multiple = 1;
    if (ok) {
        const char *unit = end;
        if (*unit == 'K' || *unit == 'k')
            multiple = 1024ULL, unit++;
        else if (*unit == 'M')
            multiple = 1024ULL * 1024, unit++;
        else if (*unit == 'G')
            multiple = 1024ULL * 1024 * 1024, unit++;
        if (multiple > 1 && *unit == 'i')
            unit++;
        if (*unit == 'B')
            unit++;
        ok = *unit == '\0' && value >= 1 && value <= UINT64_MAX / multiple;
    }
    free(text);
    if (!ok || value * multiple < 4096)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" must be a size of at least 4096 bytes, e.g. 100MB (K, M, G are 1024-based)",
                                   mg_config_yaml_raw(node));
    *out = value * multiple;
    return 0;
}

/* "24h", "30m", "3600s", "7d": seconds. */
static int load_interval(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, uint64_t *out)
{
    char *text;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    uint64_t unit = 0;
    if (end != NULL && errno == 0 && end[0] != '\0' && end[1] == '\0') {
        unit = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : end[0] == 'd' ? 86400 : 0;
    }
    free(text);
    if (unit == 0 || value < 1 || value > 366ULL * 86400 / unit)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" must be a duration with a unit (s, m, h, d), e.g. 24h, at most 366d",
                                   mg_config_yaml_raw(node));
    *out = value * unit;
    return 0;
}

static int load_rotate(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_audit_t *audit)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, rotate_keys) != 0)
        return -1;
    if ((value = field(loader, node, path, "size", child)) != NULL &&
        load_size(loader, value, child, &audit->rotate_size) != 0)
        return -1;
    if ((value = field(loader, node, path, "interval", child)) != NULL &&
        load_interval(loader, value, child, &audit->rotate_interval_s) != 0)
        return -1;
    return 0;
}

int mg_config_load_audit(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_audit_t *audit)
{
    const char *path = "audit";
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, audit_keys) != 0)
        return -1;
    if ((value = field(loader, node, path, "file", child)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"file\"");
    if (mg_config_load_path(loader, value, child, &audit->file) != 0)
        return -1;
    if ((value = field(loader, node, path, "sqlite", child)) != NULL &&
        mg_config_load_path(loader, value, child, &audit->sqlite) != 0)
        return -1;
    if (audit->sqlite != NULL && strcmp(audit->sqlite, audit->file) == 0)
        return mg_config_yaml_fail(&loader->yaml, value, child, "must not be the same file as audit.file");
    if (load_fsync(loader, field(loader, node, path, "fsync", child), child, audit) != 0 ||
        load_arguments(loader, field(loader, node, path, "arguments", child), child, audit) != 0)
        return -1;
    if ((value = field(loader, node, path, "signing_key", child)) != NULL &&
        load_signing_key(loader, value, child, audit) != 0)
        return -1;
    long long number = DEFAULT_CHECKPOINT_EVERY;
    if ((value = field(loader, node, path, "checkpoint_every", child)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 1, 100000000, &number) != 0)
        return -1;
    audit->checkpoint_every = (uint64_t)number;
    number = DEFAULT_QUEUE;
    if ((value = field(loader, node, path, "queue", child)) != NULL &&
        mg_config_yaml_int(&loader->yaml, value, child, 1, MAX_QUEUE, &number) != 0)
        return -1;
    audit->queue = (size_t)number;
    if ((value = field(loader, node, path, "rotate", child)) != NULL && load_rotate(loader, value, child, audit) != 0)
        return -1;
    audit->enabled = true;
    return 0;
}
