/*
 * guards.c - the `guards` section's detection keys: what the gateway does with secrets, personal data,
 * injection and poisoning it finds, and the operator's own detectors (docs/guards.md).
 *
 * The detector set is compiled here, while the snapshot is built, so that a custom pattern vectorscan
 * refuses is a configuration error with its file, line and column, never a surprise on the first
 * request; the compiled set lives and dies with the snapshot. Without a `guards` key nothing is
 * compiled and every action is off; `guards:` alone (or any part of it) starts from the defaults below,
 * chosen so that turning guards on never silently rewrites what a client sends: secrets are blocked on
 * the way in and redacted on the way out, personal data only flagged on the way in.
 *
 * `webhook` is read by webhook.c. Other keys of `guards` (approvals) belong to features not built here
 * and are refused like any unknown key until they exist.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "guard/detect.h"

static const char *const guards_keys[] = {"secrets", "pii", "injection", "poisoning", "custom", "webhook", NULL};
static const char *const custom_keys[] = {"name", "pattern", "validator", "min_entropy", "kind", "action", NULL};

#define MAX_CUSTOM 256
#define DEFAULT_MIN_ENTROPY 3.5

static const struct {
    const char *name;
    mg_guard_action_t action;
} action_names[] = {
    {"off", MG_GUARD_ACTION_OFF},     {"flag", MG_GUARD_ACTION_FLAG}, {"redact", MG_GUARD_ACTION_REDACT},
    {"block", MG_GUARD_ACTION_BLOCK}, {"wrap", MG_GUARD_ACTION_WRAP}, {"quarantine", MG_GUARD_ACTION_QUARANTINE},
};

static const struct {
    const char *name;
    unsigned bit;
} pii_type_names[] = {
    {"email", MG_GUARD_PII_EMAIL}, {"card", MG_GUARD_PII_CARD}, {"ssn", MG_GUARD_PII_SSN},
    {"phone", MG_GUARD_PII_PHONE}, {"iban", MG_GUARD_PII_IBAN}, {"ip", MG_GUARD_PII_IP},
};

void mg_config_guards_defaults(mg_config_guards_t *guards)
{
    guards->secrets_requests = MG_GUARD_ACTION_BLOCK;
    guards->secrets_responses = MG_GUARD_ACTION_REDACT;
    guards->pii_requests = MG_GUARD_ACTION_FLAG;
    guards->pii_responses = MG_GUARD_ACTION_REDACT;
    guards->pii_types = MG_GUARD_PII_EMAIL | MG_GUARD_PII_CARD | MG_GUARD_PII_SSN | MG_GUARD_PII_IBAN;
    guards->injection_responses = MG_GUARD_ACTION_FLAG;
    guards->poisoning_tools = MG_GUARD_ACTION_QUARANTINE;
}

void mg_config_guards_dispose(mg_config_guards_t *guards)
{
    for (size_t i = 0; guards->custom != NULL && i < guards->custom_len; i++) {
        free(guards->custom[i].name);
        free(guards->custom[i].pattern);
    }
    free(guards->custom);
    mg_guard_detectors_destroy(guards->detectors);
    mg_config_webhook_dispose(&guards->webhook);
    memset(guards, 0, sizeof(*guards));
}

/* One of `allowed` (a NULL-terminated list of action names). */
static int load_action(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                       const char *const *allowed, const char *choices, mg_guard_action_t *out)
{
    char *text = NULL;
    if (mg_config_load_strict_string(loader, node, path, &text) != 0) {
        free(text);
        return -1;
    }
    bool found = false;
    for (size_t a = 0; allowed[a] != NULL && !found; a++) {
        if (strcmp(text, allowed[a]) != 0)
            continue;
        for (size_t n = 0; n < sizeof(action_names) / sizeof(action_names[0]); n++) {
            if (strcmp(text, action_names[n].name) == 0) {
                *out = action_names[n].action;
                found = true;
            }
        }
    }
    free(text);
    if (!found)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be %s", mg_config_yaml_raw(node), choices);
    return 0;
}

static int load_section_action(mg_config_loader_t *loader, const yaml_node_t *section, const char *path,
                               const char *key, const char *const *allowed, const char *choices, mg_guard_action_t *out)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value = mg_config_yaml_get(&loader->yaml, section, key, NULL);
    if (value == NULL)
        return 0;
    mg_config_yaml_path_key(child, sizeof(child), path, key);
    return load_action(loader, value, child, allowed, choices, out);
}

static const char *const dlp_actions[] = {"block", "redact", "flag", "off", NULL};
#define DLP_CHOICES "block, redact, flag or off"

/* A mapping section (secrets, pii, injection, poisoning): absent or null keeps the defaults. */
static yaml_node_t *section(mg_config_loader_t *loader, const yaml_node_t *node, const char *key,
                            const char *const *keys, char path[MG_CONFIG_PATH_MAX], int *rc)
{
    *rc = 0;
    mg_config_yaml_path_key(path, MG_CONFIG_PATH_MAX, "guards", key);
    yaml_node_t *value = mg_config_yaml_get(&loader->yaml, node, key, NULL);
    if (value != NULL && (mg_config_yaml_expect_mapping(&loader->yaml, value, path) != 0 ||
                          mg_config_yaml_check_keys(&loader->yaml, value, path, keys) != 0)) {
        *rc = -1;
        return NULL;
    }
    return value;
}

static int load_pii_types(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, unsigned *out)
{
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
        return -1;
    *out = 0;
    for (size_t i = 0; i < mg_config_yaml_length(node); i++) {
        char item_path[MG_CONFIG_PATH_MAX], *text = NULL;
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(item_path, sizeof(item_path), path, i);
        if (mg_config_load_strict_string(loader, item, item_path, &text) != 0) {
            free(text);
            return -1;
        }
        unsigned bit = 0;
        for (size_t t = 0; t < sizeof(pii_type_names) / sizeof(pii_type_names[0]); t++) {
            if (strcmp(text, pii_type_names[t].name) == 0)
                bit = pii_type_names[t].bit;
        }
        free(text);
        if (bit == 0)
            return mg_config_yaml_fail(&loader->yaml, item, item_path,
                                       "\"%s\" is not a personal-data type: email, card, ssn, phone, iban, ip",
                                       mg_config_yaml_raw(item));
        *out |= bit;
    }
    return 0;
}

static int load_detection(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_guards_t *guards)
{
    static const char *const secrets_keys[] = {"requests", "responses", NULL};
    static const char *const pii_keys[] = {"requests", "responses", "types", NULL};
    static const char *const injection_keys[] = {"responses", NULL};
    static const char *const poisoning_keys[] = {"tools", NULL};
    static const char *const injection_actions[] = {"flag", "block", "wrap", "off", NULL};
    static const char *const poisoning_actions[] = {"quarantine", "flag", "off", NULL};
    char path[MG_CONFIG_PATH_MAX], child[MG_CONFIG_PATH_MAX];
    int rc;
    yaml_node_t *secrets = section(loader, node, "secrets", secrets_keys, path, &rc);
    if (rc != 0 || (secrets != NULL && (load_section_action(loader, secrets, path, "requests", dlp_actions, DLP_CHOICES,
                                                            &guards->secrets_requests) != 0 ||
                                        load_section_action(loader, secrets, path, "responses", dlp_actions,
                                                            DLP_CHOICES, &guards->secrets_responses) != 0)))
        return -1;
    yaml_node_t *pii = section(loader, node, "pii", pii_keys, path, &rc);
    if (rc != 0 ||
        (pii != NULL &&
         (load_section_action(loader, pii, path, "requests", dlp_actions, DLP_CHOICES, &guards->pii_requests) != 0 ||
          load_section_action(loader, pii, path, "responses", dlp_actions, DLP_CHOICES, &guards->pii_responses) != 0)))
        return -1;
    yaml_node_t *types = pii != NULL ? mg_config_yaml_get(&loader->yaml, pii, "types", NULL) : NULL;
    mg_config_yaml_path_key(child, sizeof(child), path, "types");
    if (types != NULL && load_pii_types(loader, types, child, &guards->pii_types) != 0)
        return -1;
    yaml_node_t *injection = section(loader, node, "injection", injection_keys, path, &rc);
    if (rc != 0 ||
        (injection != NULL && load_section_action(loader, injection, path, "responses", injection_actions,
                                                  "flag, block, wrap or off", &guards->injection_responses) != 0))
        return -1;
    yaml_node_t *poisoning = section(loader, node, "poisoning", poisoning_keys, path, &rc);
    if (rc != 0 || (poisoning != NULL && load_section_action(loader, poisoning, path, "tools", poisoning_actions,
                                                             "quarantine, flag or off", &guards->poisoning_tools) != 0))
        return -1;
    return 0;
}

static bool custom_name_valid(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

static int load_min_entropy(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, double *out)
{
    char *text;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    char *end = NULL;
    errno = 0;
    double value = (text[0] >= '0' && text[0] <= '9') || text[0] == '.' ? strtod(text, &end) : NAN;
    bool ok = end != NULL && *end == '\0' && errno == 0 && value >= 0.0 && value <= 8.0;
    free(text);
    if (!ok)
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" must be a number from 0 to 8 (bits per character)",
                                   mg_config_yaml_raw(node));
    *out = value;
    return 0;
}

static int load_custom_one(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           mg_config_guard_custom_t *custom)
{
    static const char *const validators[] = {"none", "luhn", "mod97", "entropy"};
    static const char *const custom_actions[] = {"block", "redact", "flag", "off", NULL};
    char child[MG_CONFIG_PATH_MAX], *text = NULL;
    yaml_node_t *value;
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, custom_keys) != 0)
        return -1;
    if ((value = mg_config_yaml_get(&loader->yaml, node, "name", NULL)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"name\"");
    mg_config_yaml_path_key(child, sizeof(child), path, "name");
    if (mg_config_load_strict_string(loader, value, child, &custom->name) != 0)
        return -1;
    if (!custom_name_valid(custom->name))
        return mg_config_yaml_fail(&loader->yaml, value, child, "\"%s\" must match [a-z0-9_]{1,64}",
                                   mg_config_yaml_raw(value));
    if ((value = mg_config_yaml_get(&loader->yaml, node, "pattern", NULL)) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"pattern\"");
    mg_config_yaml_path_key(child, sizeof(child), path, "pattern");
    if (mg_config_load_nonempty(loader, value, child, &custom->pattern) != 0)
        return -1;
    custom->validator = MG_GUARD_VALIDATE_NONE;
    if ((value = mg_config_yaml_get(&loader->yaml, node, "validator", NULL)) != NULL) {
        mg_config_yaml_path_key(child, sizeof(child), path, "validator");
        if (mg_config_load_strict_string(loader, value, child, &text) != 0) {
            free(text);
            return -1;
        }
        int found = -1;
        for (size_t v = 0; v < sizeof(validators) / sizeof(validators[0]); v++) {
            if (strcmp(text, validators[v]) == 0)
                found = (int)v;
        }
        free(text);
        if (found < 0)
            return mg_config_yaml_fail(&loader->yaml, value, child, "\"%s\" must be luhn, mod97, entropy or none",
                                       mg_config_yaml_raw(value));
        custom->validator = found; /* the order of `validators` is mg_guard_validator_t's */
    }
    custom->min_entropy = DEFAULT_MIN_ENTROPY;
    if ((value = mg_config_yaml_get(&loader->yaml, node, "min_entropy", NULL)) != NULL) {
        mg_config_yaml_path_key(child, sizeof(child), path, "min_entropy");
        if (custom->validator != MG_GUARD_VALIDATE_ENTROPY)
            return mg_config_yaml_fail(&loader->yaml, value, child, "only means something with validator: entropy");
        if (load_min_entropy(loader, value, child, &custom->min_entropy) != 0)
            return -1;
    }
    custom->kind = MG_GUARD_SECRETS;
    if ((value = mg_config_yaml_get(&loader->yaml, node, "kind", NULL)) != NULL) {
        mg_config_yaml_path_key(child, sizeof(child), path, "kind");
        if (mg_config_load_strict_string(loader, value, child, &text) != 0) {
            free(text);
            return -1;
        }
        custom->kind = mg_guard_kind_parse(text);
        free(text);
        if (custom->kind == 0)
            return mg_config_yaml_fail(&loader->yaml, value, child,
                                       "\"%s\" must be secrets, pii, injection or poisoning",
                                       mg_config_yaml_raw(value));
    }
    custom->action = MG_GUARD_ACTION_FLAG;
    mg_config_yaml_path_key(child, sizeof(child), path, "action");
    if ((value = mg_config_yaml_get(&loader->yaml, node, "action", NULL)) != NULL &&
        load_action(loader, value, child, custom_actions, DLP_CHOICES, &custom->action) != 0)
        return -1;
    return 0;
}

static int load_custom(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_guards_t *guards,
                       yaml_node_t ***pattern_nodes)
{
    const char *path = "guards.custom";
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count > MAX_CUSTOM)
        return mg_config_yaml_fail(&loader->yaml, node, path, "at most %d custom detectors", MAX_CUSTOM);
    if (count == 0)
        return 0;
    guards->custom = calloc(count, sizeof(*guards->custom));
    *pattern_nodes = calloc(count, sizeof(**pattern_nodes));
    if (guards->custom == NULL || *pattern_nodes == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    guards->custom_len = count;
    for (size_t i = 0; i < count; i++) {
        char item_path[MG_CONFIG_PATH_MAX];
        yaml_node_t *item = mg_config_yaml_item(&loader->yaml, node, i);
        mg_config_yaml_path_index(item_path, sizeof(item_path), path, i);
        if (load_custom_one(loader, item, item_path, &guards->custom[i]) != 0)
            return -1;
        (*pattern_nodes)[i] = mg_config_yaml_get(&loader->yaml, item, "pattern", NULL);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(guards->custom[j].name, guards->custom[i].name) == 0)
                return mg_config_yaml_fail(&loader->yaml, item, item_path, "a second detector named \"%s\"",
                                           guards->custom[i].name);
        }
    }
    return 0;
}

static int compile(mg_config_loader_t *loader, mg_config_guards_t *guards, yaml_node_t **pattern_nodes)
{
    mg_guard_custom_t *custom = guards->custom_len > 0 ? calloc(guards->custom_len, sizeof(*custom)) : NULL;
    if (guards->custom_len > 0 && custom == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    for (size_t i = 0; i < guards->custom_len; i++) {
        custom[i] = (mg_guard_custom_t){.name = guards->custom[i].name,
                                        .pattern = guards->custom[i].pattern,
                                        .validator = (mg_guard_validator_t)guards->custom[i].validator,
                                        .min_entropy = guards->custom[i].min_entropy,
                                        .kind = guards->custom[i].kind,
                                        .action = (int)guards->custom[i].action};
    }
    size_t bad = (size_t)-1;
    mg_error_t why;
    int rc = mg_guard_detectors_create(custom, guards->custom_len, &guards->detectors, &bad, &why);
    free(custom);
    if (rc == 0)
        return 0;
    if (bad != (size_t)-1) {
        char path[MG_CONFIG_PATH_MAX];
        snprintf(path, sizeof(path), "guards.custom[%zu].pattern", bad);
        return mg_config_yaml_fail(&loader->yaml, pattern_nodes[bad], path, "%s", why.message);
    }
    return mg_error_set(loader->yaml.err, "guards: %s", why.message);
}

int mg_config_load_guards(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_guards_t *guards)
{
    mg_config_guards_defaults(guards);
    guards->enabled = true;
    if (node != NULL && (mg_config_yaml_expect_mapping(&loader->yaml, node, "guards") != 0 ||
                         mg_config_yaml_check_keys(&loader->yaml, node, "guards", guards_keys) != 0))
        return -1;
    yaml_node_t **pattern_nodes = NULL;
    yaml_node_t *custom = node != NULL ? mg_config_yaml_get(&loader->yaml, node, "custom", NULL) : NULL;
    yaml_node_t *webhook = node != NULL ? mg_config_yaml_get(&loader->yaml, node, "webhook", NULL) : NULL;
    int rc = -1;
    if ((node == NULL || load_detection(loader, node, guards) == 0) &&
        (custom == NULL || load_custom(loader, custom, guards, &pattern_nodes) == 0) &&
        (webhook == NULL || mg_config_load_webhook(loader, webhook, &guards->webhook) == 0))
        rc = compile(loader, guards, pattern_nodes);
    free(pattern_nodes);
    return rc;
}
