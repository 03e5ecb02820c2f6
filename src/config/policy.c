/*
 * policy.c - the `roles`, `bindings` and `scopes` sections: who may use which tool, prompt and
 * resource (docs/policy.md).
 *
 * This file only reads and validates; src/policy/ compiles the result into the form requests are
 * decided with. Validation is complete here so that `check-config` and `serve` refuse the same files
 * for the same reasons: an unknown key anywhere, a pattern that is not `<server>/<name>`, a server
 * name that no server has (a typo would otherwise silently allow nothing, or deny nothing), a binding
 * to a role nobody defined, a role that neither allows nor denies. What is merely suspicious (a rule
 * that can never match, a role nobody is bound to) is a warning of mg_policy_lint, never an error.
 *
 * Patterns are split at their first '/' here, once: the server part is a glob over configured server
 * names ([a-z0-9-*]), the rest a glob over the server's own tool or prompt name, or resource URI.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/principal.h"
#include "config/config_internal.h"

static const char *const role_keys[] = {"name", "allow", "deny", NULL};
static const char *const rule_keys[] = {"tools", "prompts", "resources", "when", NULL};
static const char *const binding_keys[] = {"role", "match", NULL};
static const char *const match_keys[] = {"subject", "issuer",      "claim",  "contains",      "equals",
                                         "api_key", "certificate", "method", "authenticated", NULL};
static const char *const scope_keys[] = {"tools", "prompts", "resources", "require", NULL};
static const char *const kind_keys[MG_CONFIG_PATTERN_KINDS] = {"tools", "prompts", "resources"};

void mg_config_patterns_dispose(mg_config_pattern_t *patterns, size_t len)
{
    for (size_t i = 0; patterns != NULL && i < len; i++) {
        free(patterns[i].text);
        free(patterns[i].server);
        free(patterns[i].name);
        free(patterns[i].location);
        free(patterns[i].path);
    }
    free(patterns);
}

static void rule_dispose(mg_config_rule_t *rule)
{
    for (size_t k = 0; k < MG_CONFIG_PATTERN_KINDS; k++)
        mg_config_patterns_dispose(rule->patterns[k], rule->patterns_len[k]);
    for (size_t i = 0; rule->conditions != NULL && i < rule->conditions_len; i++)
        mg_config_condition_dispose(&rule->conditions[i]);
    free(rule->conditions);
    free(rule->location);
    free(rule->path);
}

static void rules_dispose(mg_config_rule_t *rules, size_t len)
{
    for (size_t i = 0; rules != NULL && i < len; i++)
        rule_dispose(&rules[i]);
    free(rules);
}

void mg_config_policy_dispose(mg_config_policy_t *policy)
{
    for (size_t i = 0; policy->roles != NULL && i < policy->roles_len; i++) {
        mg_config_role_t *role = &policy->roles[i];
        free(role->name);
        rules_dispose(role->allow, role->allow_len);
        rules_dispose(role->deny, role->deny_len);
        free(role->location);
        free(role->path);
    }
    free(policy->roles);
    for (size_t i = 0; policy->bindings != NULL && i < policy->bindings_len; i++) {
        mg_config_binding_t *binding = &policy->bindings[i];
        char *fields[] = {binding->role,           binding->subject,      binding->issuer,  binding->claim,
                          binding->claim_contains, binding->claim_equals, binding->api_key, binding->certificate,
                          binding->location,       binding->path};
        for (size_t j = 0; j < sizeof(fields) / sizeof(fields[0]); j++)
            free(fields[j]);
    }
    free(policy->bindings);
    for (size_t i = 0; policy->scopes != NULL && i < policy->scopes_len; i++) {
        mg_config_scope_rule_t *scope = &policy->scopes[i];
        for (size_t k = 0; k < MG_CONFIG_PATTERN_KINDS; k++)
            mg_config_patterns_dispose(scope->patterns[k], scope->patterns_len[k]);
        mg_config_free_string_list(scope->require, scope->require_len);
        free(scope->location);
        free(scope->path);
    }
    free(policy->scopes);
    memset(policy, 0, sizeof(*policy));
}

static int check_mapping(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const char *const *keys)
{
    return mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
                   mg_config_yaml_check_keys(&loader->yaml, node, path, keys) != 0
               ? -1
               : 0;
}

static int set_origin(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, char **location,
                      char **path_copy)
{
    if ((*location = mg_config_yaml_location(&loader->yaml, node)) == NULL)
        return -1;
    if ((*path_copy = strdup(path)) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    return 0;
}

static bool server_glob_valid(const char *text, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '*'))
            return false;
    }
    return true;
}

int mg_config_load_pattern(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           const mg_config_t *config, mg_config_pattern_t *pattern)
{
    if (set_origin(loader, node, path, &pattern->location, &pattern->path) != 0 ||
        mg_config_load_strict_string(loader, node, path, &pattern->text) != 0)
        return -1;
    const char *text = pattern->text;
    const char *slash = strchr(text, '/');
    if (strcmp(text, "*") == 0) {
        pattern->server = strdup("*");
        pattern->name = strdup("*");
    } else if (slash == NULL) {
        return mg_config_yaml_fail(&loader->yaml, node, path,
                                   "\"%s\" must be <server>/<name> (globs with '*'), or \"*\" for everything", text);
    } else {
        if (!server_glob_valid(text, (size_t)(slash - text)))
            return mg_config_yaml_fail(&loader->yaml, node, path,
                                       "\"%s\": the server part (before the first '/') must match [a-z0-9-*]+", text);
        if (slash[1] == '\0')
            return mg_config_yaml_fail(&loader->yaml, node, path,
                                       "\"%s\": nothing after the '/' (use \"%.*s/*\" for everything on the server)",
                                       text, (int)(slash - text), text);
        pattern->server = strndup(text, (size_t)(slash - text));
        pattern->name = strdup(slash + 1);
    }
    if (pattern->server == NULL || pattern->name == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    if (strchr(pattern->server, '*') == NULL && mg_config_find_server(config, pattern->server) == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\": no server named \"%s\" in servers", text,
                                   pattern->server);
    return 0;
}

static int load_patterns(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                         const mg_config_t *config, mg_config_pattern_t **out, size_t *out_len)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must list at least one pattern");
    if ((*out = calloc(count, sizeof(**out))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    *out_len = count;
    for (size_t i = 0; i < count; i++) {
        mg_config_yaml_path_index(child, sizeof(child), path, i);
        if (mg_config_load_pattern(loader, mg_config_yaml_item(&loader->yaml, node, i), child, config, &(*out)[i]) != 0)
            return -1;
    }
    return 0;
}

/* tools / prompts / resources of a rule or a scopes entry; at least one of them. */
static int load_kinds(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const mg_config_t *config,
                      mg_config_pattern_t **patterns, size_t *patterns_len)
{
    char child[MG_CONFIG_PATH_MAX];
    bool any = false;
    for (size_t k = 0; k < MG_CONFIG_PATTERN_KINDS; k++) {
        yaml_node_t *value = mg_config_yaml_get(&loader->yaml, node, kind_keys[k], NULL);
        mg_config_yaml_path_key(child, sizeof(child), path, kind_keys[k]);
        if (value != NULL && load_patterns(loader, value, child, config, &patterns[k], &patterns_len[k]) != 0)
            return -1;
        any = any || value != NULL;
    }
    if (!any)
        return mg_config_yaml_fail(&loader->yaml, node, path, "names nothing: give tools, prompts or resources");
    return 0;
}

static int load_rule(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const mg_config_t *config,
                     mg_config_rule_t *rule)
{
    char child[MG_CONFIG_PATH_MAX];
    if (set_origin(loader, node, path, &rule->location, &rule->path) != 0 ||
        check_mapping(loader, node, path, rule_keys) != 0 ||
        load_kinds(loader, node, path, config, rule->patterns, rule->patterns_len) != 0)
        return -1;
    yaml_node_t *key = NULL, *when = mg_config_yaml_get(&loader->yaml, node, "when", &key);
    if (when == NULL)
        return 0;
    mg_config_yaml_path_key(child, sizeof(child), path, "when");
    if (rule->patterns_len[MG_CONFIG_TOOLS] == 0)
        return mg_config_yaml_fail(&loader->yaml, key, child,
                                   "conditions apply to tool calls only, and this rule names no tools");
    if (rule->patterns_len[MG_CONFIG_PROMPTS] != 0 || rule->patterns_len[MG_CONFIG_RESOURCES] != 0)
        return mg_config_yaml_fail(&loader->yaml, key, child,
                                   "conditions apply to tool calls only: put prompts and resources in a rule of "
                                   "their own");
    return mg_config_load_when(loader, when, child, rule);
}

static int load_rules(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, const mg_config_t *config,
                      mg_config_rule_t **out, size_t *out_len)
{
    char child[MG_CONFIG_PATH_MAX];
    if (node == NULL)
        return 0;
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return 0;
    if ((*out = calloc(count, sizeof(**out))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    *out_len = count;
    for (size_t i = 0; i < count; i++) {
        mg_config_yaml_path_index(child, sizeof(child), path, i);
        if (load_rule(loader, mg_config_yaml_item(&loader->yaml, node, i), child, config, &(*out)[i]) != 0)
            return -1;
    }
    return 0;
}

bool mg_config_name_valid(const char *name)
{
    if (name[0] == '\0' || strlen(name) > 64)
        return false;
    for (const char *c = name; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("._:-", *c) != NULL))
            return false;
    }
    return true;
}

static int load_role(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config,
                     size_t index)
{
    mg_config_role_t *role = &config->policy.roles[index];
    char child[MG_CONFIG_PATH_MAX];
    if (set_origin(loader, node, path, &role->location, &role->path) != 0 ||
        check_mapping(loader, node, path, role_keys) != 0)
        return -1;
    yaml_node_t *name = mg_config_yaml_get(&loader->yaml, node, "name", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "name");
    if (name == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"name\"");
    if (mg_config_load_strict_string(loader, name, child, &role->name) != 0)
        return -1;
    if (!mg_config_name_valid(role->name))
        return mg_config_yaml_fail(&loader->yaml, name, child,
                                   "\"%s\" must be 1 to 64 characters from A-Z a-z 0-9 . _ : -",
                                   mg_config_yaml_raw(name));
    for (size_t j = 0; j < index; j++) {
        if (strcmp(config->policy.roles[j].name, role->name) == 0)
            return mg_config_yaml_fail(&loader->yaml, name, child, "role \"%s\" is already defined in roles[%zu]",
                                       role->name, j);
    }
    mg_config_yaml_path_key(child, sizeof(child), path, "allow");
    if (load_rules(loader, mg_config_yaml_get(&loader->yaml, node, "allow", NULL), child, config, &role->allow,
                   &role->allow_len) != 0)
        return -1;
    mg_config_yaml_path_key(child, sizeof(child), path, "deny");
    if (load_rules(loader, mg_config_yaml_get(&loader->yaml, node, "deny", NULL), child, config, &role->deny,
                   &role->deny_len) != 0)
        return -1;
    if (role->allow_len == 0 && role->deny_len == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "role \"%s\" has neither allow nor deny rules",
                                   role->name);
    return 0;
}

static int load_match_string(mg_config_loader_t *loader, const yaml_node_t *match, const char *path, const char *key,
                             char **out)
{
    char child[MG_CONFIG_PATH_MAX];
    yaml_node_t *value = mg_config_yaml_get(&loader->yaml, match, key, NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, key);
    if (value == NULL)
        return 0;
    if (mg_config_load_strict_string(loader, value, child, out) != 0)
        return -1;
    if ((*out)[0] == '\0')
        return mg_config_yaml_fail(&loader->yaml, value, child, "must not be empty");
    return 0;
}

static int load_method(mg_config_loader_t *loader, const yaml_node_t *match, const char *path,
                       mg_config_binding_t *binding)
{
    char child[MG_CONFIG_PATH_MAX], *text = NULL;
    binding->method = -1;
    if (load_match_string(loader, match, path, "method", &text) != 0) {
        free(text);
        return -1;
    }
    if (text == NULL)
        return 0;
    static const mg_auth_method_t methods[] = {MG_AUTH_ANONYMOUS, MG_AUTH_JWT, MG_AUTH_INTROSPECTION, MG_AUTH_API_KEY,
                                               MG_AUTH_MTLS};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(text, mg_principal_method_name(methods[i])) == 0)
            binding->method = (int)methods[i];
    }
    free(text);
    if (binding->method >= 0)
        return 0;
    yaml_node_t *value = mg_config_yaml_get(&loader->yaml, match, "method", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "method");
    return mg_config_yaml_fail(&loader->yaml, value, child,
                               "\"%s\" must be one of jwt, introspection, api_key, mtls, anonymous",
                               mg_config_yaml_raw(value));
}

static int load_claim(mg_config_loader_t *loader, const yaml_node_t *match, const char *path,
                      mg_config_binding_t *binding)
{
    if (load_match_string(loader, match, path, "claim", &binding->claim) != 0 ||
        load_match_string(loader, match, path, "contains", &binding->claim_contains) != 0 ||
        load_match_string(loader, match, path, "equals", &binding->claim_equals) != 0)
        return -1;
    if (binding->claim == NULL && (binding->claim_contains != NULL || binding->claim_equals != NULL))
        return mg_config_yaml_fail(&loader->yaml, match, path, "contains and equals need claim: NAME");
    if (binding->claim == NULL)
        return 0;
    if ((binding->claim_contains == NULL) == (binding->claim_equals == NULL))
        return mg_config_yaml_fail(&loader->yaml, match, path, "claim \"%s\" needs exactly one of contains or equals",
                                   binding->claim);
    static const char *const lists[] = {"groups", "scope", "scp", "scopes"};
    for (size_t i = 0; binding->claim_equals != NULL && i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (strcmp(binding->claim, lists[i]) == 0)
            return mg_config_yaml_fail(&loader->yaml, match, path, "claim \"%s\" is a list: use contains",
                                       binding->claim);
    }
    return 0;
}

static int load_binding(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config,
                        mg_config_binding_t *binding)
{
    char child[MG_CONFIG_PATH_MAX];
    binding->method = -1;
    binding->authenticated = -1;
    if (set_origin(loader, node, path, &binding->location, &binding->path) != 0 ||
        check_mapping(loader, node, path, binding_keys) != 0)
        return -1;
    yaml_node_t *role = mg_config_yaml_get(&loader->yaml, node, "role", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "role");
    if (role == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"role\"");
    if (mg_config_load_strict_string(loader, role, child, &binding->role) != 0)
        return -1;
    size_t index = 0;
    while (index < config->policy.roles_len && strcmp(config->policy.roles[index].name, binding->role) != 0)
        index++;
    if (index == config->policy.roles_len)
        return mg_config_yaml_fail(&loader->yaml, role, child, "no role named \"%s\" in roles", binding->role);
    binding->role_index = index;
    yaml_node_t *match = mg_config_yaml_get(&loader->yaml, node, "match", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "match");
    if (match == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"match\"");
    if (check_mapping(loader, match, child, match_keys) != 0)
        return -1;
    if (mg_config_yaml_length(match) == 0)
        return mg_config_yaml_fail(&loader->yaml, match, child,
                                   "matches nothing: give subject, issuer, claim, api_key, certificate, method or "
                                   "authenticated");
    if (load_match_string(loader, match, child, "subject", &binding->subject) != 0 ||
        load_match_string(loader, match, child, "issuer", &binding->issuer) != 0 ||
        load_match_string(loader, match, child, "api_key", &binding->api_key) != 0 ||
        load_match_string(loader, match, child, "certificate", &binding->certificate) != 0 ||
        load_claim(loader, match, child, binding) != 0 || load_method(loader, match, child, binding) != 0)
        return -1;
    char authenticated_path[MG_CONFIG_PATH_MAX];
    yaml_node_t *authenticated = mg_config_yaml_get(&loader->yaml, match, "authenticated", NULL);
    mg_config_yaml_path_key(authenticated_path, sizeof(authenticated_path), child, "authenticated");
    bool value = false;
    if (authenticated != NULL) {
        if (mg_config_yaml_bool(&loader->yaml, authenticated, authenticated_path, &value) != 0)
            return -1;
        binding->authenticated = value;
    }
    return 0;
}

static int load_scope_rule(mg_config_loader_t *loader, const yaml_node_t *node, const char *path,
                           const mg_config_t *config, mg_config_scope_rule_t *scope)
{
    char child[MG_CONFIG_PATH_MAX];
    if (set_origin(loader, node, path, &scope->location, &scope->path) != 0 ||
        check_mapping(loader, node, path, scope_keys) != 0 ||
        load_kinds(loader, node, path, config, scope->patterns, scope->patterns_len) != 0)
        return -1;
    yaml_node_t *require = mg_config_yaml_get(&loader->yaml, node, "require", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "require");
    if (require == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "missing required key \"require\"");
    if (mg_config_load_string_list(loader, require, child, &scope->require, &scope->require_len) != 0)
        return -1;
    if (scope->require_len == 0)
        return mg_config_yaml_fail(&loader->yaml, require, child, "must list at least one scope");
    return 0;
}

/* A top-level sequence: its items go to a zeroed array of `size`-byte elements. */
static int load_section(mg_config_loader_t *loader, const yaml_node_t *root, const char *key, size_t size, void **out,
                        size_t *out_len, bool *present)
{
    yaml_node_t *key_node = NULL;
    yaml_node_t *node = root != NULL ? mg_config_yaml_get(&loader->yaml, root, key, &key_node) : NULL;
    *present = *present || key_node != NULL;
    if (node == NULL)
        return 0;
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, key) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count != 0 && (*out = calloc(count, size)) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    *out_len = count;
    return 0;
}

int mg_config_load_policy(mg_config_loader_t *loader, const yaml_node_t *root, mg_config_t *config)
{
    mg_config_policy_t *policy = &config->policy;
    char path[MG_CONFIG_PATH_MAX];
    if (load_section(loader, root, "roles", sizeof(*policy->roles), (void **)&policy->roles, &policy->roles_len,
                     &policy->present) != 0)
        return -1;
    yaml_node_t *roles = policy->roles_len != 0 ? mg_config_yaml_get(&loader->yaml, root, "roles", NULL) : NULL;
    for (size_t i = 0; i < policy->roles_len; i++) {
        mg_config_yaml_path_index(path, sizeof(path), "roles", i);
        if (load_role(loader, mg_config_yaml_item(&loader->yaml, roles, i), path, config, i) != 0)
            return -1;
    }
    if (load_section(loader, root, "bindings", sizeof(*policy->bindings), (void **)&policy->bindings,
                     &policy->bindings_len, &policy->present) != 0)
        return -1;
    yaml_node_t *bindings =
        policy->bindings_len != 0 ? mg_config_yaml_get(&loader->yaml, root, "bindings", NULL) : NULL;
    for (size_t i = 0; i < policy->bindings_len; i++) {
        mg_config_yaml_path_index(path, sizeof(path), "bindings", i);
        if (load_binding(loader, mg_config_yaml_item(&loader->yaml, bindings, i), path, config, &policy->bindings[i]) !=
            0)
            return -1;
    }
    if (load_section(loader, root, "scopes", sizeof(*policy->scopes), (void **)&policy->scopes, &policy->scopes_len,
                     &policy->present) != 0)
        return -1;
    yaml_node_t *scopes = policy->scopes_len != 0 ? mg_config_yaml_get(&loader->yaml, root, "scopes", NULL) : NULL;
    for (size_t i = 0; i < policy->scopes_len; i++) {
        mg_config_yaml_path_index(path, sizeof(path), "scopes", i);
        if (load_scope_rule(loader, mg_config_yaml_item(&loader->yaml, scopes, i), path, config, &policy->scopes[i]) !=
            0)
            return -1;
    }
    return 0;
}
