/*
 * approvals.c - the `approvals` section: which tool calls wait for a person (docs/guards.md, "Human
 * approval"; src/guard/approvals.h holds them).
 *
 *   approvals:
 *     - tools: ["fs/write_*", "mail/send_*"]   # the policy's "<server glob>/<tool glob>" patterns
 *       approver: admin                       # admin | user
 *       timeout_s: 300
 *
 * The patterns are the policy's own (mg_config_load_pattern: same syntax, same errors, a named server must
 * exist), so one glob means one thing everywhere in the file. `approver: user` asks the caller's own user
 * (guard/approvals_user.c): through elicitation on a legacy client's call, through an input-required
 * result to a 2026-07-28 client.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

#define DEFAULT_TIMEOUT_S 300
#define MAX_TIMEOUT_S 86400

static const char *const rule_keys[] = {"tools", "approver", "timeout_s", NULL};

static int load_tools(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config,
                      mg_config_approval_t *rule)
{
    char child[MG_CONFIG_PATH_MAX];
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, path) != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return mg_config_yaml_fail(&loader->yaml, node, path, "must list at least one pattern");
    if ((rule->tools = calloc(count, sizeof(*rule->tools))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    rule->tools_len = count;
    for (size_t i = 0; i < count; i++) {
        mg_config_yaml_path_index(child, sizeof(child), path, i);
        if (mg_config_load_pattern(loader, mg_config_yaml_item(&loader->yaml, node, i), child, config,
                                   &rule->tools[i]) != 0)
            return -1;
    }
    return 0;
}

static int load_approver(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_approver_t *out)
{
    char *text;
    *out = MG_APPROVER_ADMIN;
    if (node == NULL)
        return 0;
    if (mg_config_yaml_string(&loader->yaml, node, path, &text) != 0)
        return -1;
    int rc = 0;
    if (strcmp(text, "admin") == 0)
        *out = MG_APPROVER_ADMIN;
    else if (strcmp(text, "user") == 0)
        *out = MG_APPROVER_USER;
    else
        rc = mg_config_yaml_fail(&loader->yaml, node, path, "\"%s\" must be admin or user", text);
    free(text);
    return rc;
}

static int load_rule(mg_config_loader_t *loader, const yaml_node_t *node, const char *path, mg_config_t *config,
                     mg_config_approval_t *rule)
{
    char child[MG_CONFIG_PATH_MAX];
    if ((rule->path = strdup(path)) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    if (mg_config_yaml_expect_mapping(&loader->yaml, node, path) != 0 ||
        mg_config_yaml_check_keys(&loader->yaml, node, path, rule_keys) != 0)
        return -1;
    yaml_node_t *tools = mg_config_yaml_get(&loader->yaml, node, "tools", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "tools");
    if (tools == NULL)
        return mg_config_yaml_fail(&loader->yaml, node, path, "needs tools: the calls it holds");
    if (load_tools(loader, tools, child, config, rule) != 0)
        return -1;
    mg_config_yaml_path_key(child, sizeof(child), path, "approver");
    if (load_approver(loader, mg_config_yaml_get(&loader->yaml, node, "approver", NULL), child, &rule->approver) != 0)
        return -1;
    rule->timeout_s = DEFAULT_TIMEOUT_S;
    yaml_node_t *timeout = mg_config_yaml_get(&loader->yaml, node, "timeout_s", NULL);
    mg_config_yaml_path_key(child, sizeof(child), path, "timeout_s");
    if (timeout != NULL && mg_config_yaml_int(&loader->yaml, timeout, child, 1, MAX_TIMEOUT_S, &rule->timeout_s) != 0)
        return -1;
    return 0;
}

int mg_config_load_approvals(mg_config_loader_t *loader, const yaml_node_t *node, mg_config_t *config)
{
    char child[MG_CONFIG_PATH_MAX];
    mg_config_approvals_t *approvals = &config->approvals;
    if (mg_config_yaml_expect_sequence(&loader->yaml, node, "approvals") != 0)
        return -1;
    size_t count = mg_config_yaml_length(node);
    if (count == 0)
        return 0;
    if ((approvals->rules = calloc(count, sizeof(*approvals->rules))) == NULL)
        return mg_error_set(loader->yaml.err, "out of memory");
    approvals->rules_len = count;
    for (size_t i = 0; i < count; i++) {
        mg_config_yaml_path_index(child, sizeof(child), "approvals", i);
        if (load_rule(loader, mg_config_yaml_item(&loader->yaml, node, i), child, config, &approvals->rules[i]) != 0)
            return -1;
    }
    return 0;
}

void mg_config_approvals_dispose(mg_config_approvals_t *approvals)
{
    for (size_t i = 0; approvals->rules != NULL && i < approvals->rules_len; i++) {
        mg_config_patterns_dispose(approvals->rules[i].tools, approvals->rules[i].tools_len);
        free(approvals->rules[i].path);
    }
    free(approvals->rules);
    approvals->rules = NULL;
    approvals->rules_len = 0;
}
