/*
 * policy.c - `mcpgate policy explain`: what the gateway would decide for one caller and one item, and why.
 *
 * The caller is described as JSON (--principal), the way the identify stage would have made it, so
 * that an operator can ask "what may alice do?" without a token. The decision is the engine's own
 * (mg_policy_explain runs mg_policy_decide), printed as text for people or as JSON (--json) for
 * scripts. Exit status: 0 allowed, 1 not allowed (deny, hidden, insufficient scope), 2 a usage or
 * configuration error, so that `mcpgate policy explain ... && echo allowed` reads naturally.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mcp/naming.h"
#include "policy/policy.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: mcpgate policy explain -c FILE --principal JSON (--tool S/NAME | --prompt S/NAME | --resource "
        "S/URI)\n"
        "                              [--args JSON] [--json]\n"
        "\n"
        "  -c, --config FILE   configuration with the roles, bindings and scopes to explain\n"
        "  --principal JSON    the caller: {\"method\":\"jwt\",\"subject\":\"alice\",\"issuer\":\"https://idp\",\n"
        "                      \"groups\":[...],\"scopes\":[...],\"roles\":[...],\"claims\":{...}}, or a shorthand:\n"
        "                      {\"api_key\":\"ci-bot\",\"roles\":[...]}, {\"certificate\":\"spiffe://...\"},\n"
        "                      {\"anonymous\":true}\n"
        "  --tool S/NAME       a tool: server name, '/', the server's own tool name (or the public\n"
        "                      name server__tool)\n"
        "  --prompt S/NAME     a prompt, likewise\n"
        "  --resource S/URI    a resource: server name, '/', the server's own URI\n"
        "  --args JSON         the tool call's arguments (an object)\n"
        "  --json              print the explanation as JSON\n"
        "\n"
        "Exits 0 when the call is allowed, 1 when it is not, 2 on a usage or configuration error.\n");
}

static int refuse(const char *fmt, const char *what)
{
    fprintf(stderr, "mcpgate: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

static int append_strings(json_t *target, const json_t *source, const char *key)
{
    size_t i;
    json_t *value;
    if (source == NULL)
        return 0;
    if (!json_is_array(source))
        return refuse("--principal: \"%s\" must be an array of strings", key);
    json_array_foreach(source, i, value)
    {
        if (!json_is_string(value))
            return refuse("--principal: \"%s\" must be an array of strings", key);
        json_array_append(target, value);
    }
    return 0;
}

static const char *string_of(const json_t *object, const char *key, bool *bad)
{
    const json_t *value = json_object_get(object, key);
    if (value != NULL && !json_is_string(value))
        *bad = true;
    return json_string_value(value);
}

/* The principal the JSON describes; 2 (after saying why) when it describes none. */
static int parse_principal(const char *text, mg_principal_t **out)
{
    static const char *const keys[] = {"method", "subject", "issuer",      "groups",    "scopes", "roles",
                                       "claims", "api_key", "certificate", "anonymous", NULL};
    json_error_t error;
    json_t *object = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    *out = NULL;
    if (!json_is_object(object)) {
        json_decref(object);
        return refuse("--principal: not a JSON object: %s", object == NULL ? error.text : text);
    }
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value)
    {
        size_t known = 0;
        while (keys[known] != NULL && strcmp(keys[known], key) != 0)
            known++;
        if (keys[known] == NULL) {
            int rc = refuse("--principal: unknown key \"%s\" (method, subject, issuer, groups, scopes, roles, claims, "
                            "api_key, certificate, anonymous)",
                            key);
            json_decref(object); /* after the message: `key` is the object's */
            return rc;
        }
    }
    bool bad = false;
    const char *method = string_of(object, "method", &bad), *subject = string_of(object, "subject", &bad);
    const char *issuer = string_of(object, "issuer", &bad), *api_key = string_of(object, "api_key", &bad);
    const char *certificate = string_of(object, "certificate", &bad);
    const json_t *claims = json_object_get(object, "claims");
    if (bad || (claims != NULL && !json_is_object(claims))) {
        json_decref(object);
        return refuse("--principal: %s",
                      "method, subject, issuer, api_key and certificate are strings, claims an object");
    }
    mg_auth_method_t kind = MG_AUTH_JWT;
    if (json_is_true(json_object_get(object, "anonymous")) || (method != NULL && strcmp(method, "anonymous") == 0)) {
        kind = MG_AUTH_ANONYMOUS;
    } else if (api_key != NULL) {
        kind = MG_AUTH_API_KEY;
        subject = api_key;
    } else if (certificate != NULL) {
        kind = MG_AUTH_MTLS;
        subject = certificate;
    } else if (method != NULL) {
        static const mg_auth_method_t methods[] = {MG_AUTH_JWT, MG_AUTH_INTROSPECTION, MG_AUTH_API_KEY, MG_AUTH_MTLS};
        size_t i = 0;
        while (i < 4 && strcmp(mg_principal_method_name(methods[i]), method) != 0)
            i++;
        if (i == 4) {
            int rc =
                refuse("--principal: method \"%s\" must be jwt, introspection, api_key, mtls or anonymous", method);
            json_decref(object);
            return rc;
        }
        kind = methods[i];
    }
    if (kind == MG_AUTH_ANONYMOUS) {
        json_decref(object);
        *out = mg_principal_anonymous();
        return 0;
    }
    if (subject == NULL || subject[0] == '\0') {
        json_decref(object);
        return refuse("--principal: %s", "needs a subject (or api_key, certificate, anonymous)");
    }
    mg_principal_t *principal = mg_principal_create(kind, subject, kind == MG_AUTH_API_KEY ? NULL : issuer,
                                                    kind == MG_AUTH_API_KEY ? "cli" : NULL);
    if (principal == NULL) {
        json_decref(object);
        fprintf(stderr, "mcpgate: out of memory\n");
        return 2;
    }
    if (claims != NULL && (kind == MG_AUTH_JWT || kind == MG_AUTH_INTROSPECTION))
        principal->claims = json_deep_copy(claims);
    int rc = append_strings(principal->groups, json_object_get(object, "groups"), "groups");
    if (rc == 0)
        rc = append_strings(principal->scopes, json_object_get(object, "scopes"), "scopes");
    if (rc == 0)
        rc = append_strings(principal->roles, json_object_get(object, "roles"), "roles");
    json_decref(object);
    if (rc != 0) {
        mg_principal_release(principal);
        return rc;
    }
    *out = principal;
    return 0;
}

/* "server/name" (or the public name) -> server index and local name. */
static int parse_item(const mg_config_t *config, mg_policy_kind_t kind, const char *text, size_t *server,
                      const char **name)
{
    const char *slash = strchr(text, '/');
    if (slash != NULL) {
        for (size_t i = 0; i < config->servers_len; i++) {
            if (strlen(config->servers[i].name) == (size_t)(slash - text) &&
                memcmp(config->servers[i].name, text, (size_t)(slash - text)) == 0) {
                *server = i;
                *name = slash + 1;
                return 0;
            }
        }
    }
    if ((kind == MG_POLICY_RESOURCE ? mg_naming_split_uri(config, text, server, name)
                                    : mg_naming_split_name(config, text, server, name)) == 0)
        return 0;
    fprintf(stderr, "mcpgate: \"%s\" names no configured server: write <server>/<%s>%s\n", text,
            kind == MG_POLICY_RESOURCE ? "uri" : "name",
            kind == MG_POLICY_TOOL ? " or the public name <server>__<tool>" : "");
    return 2;
}

static void print_text(const json_t *out)
{
    const json_t *principal = json_object_get(out, "principal");
    printf("principal  %s %s", json_string_value(json_object_get(principal, "method")),
           json_string_value(json_object_get(principal, "subject")));
    if (json_object_get(principal, "issuer") != NULL)
        printf(" (issuer %s)", json_string_value(json_object_get(principal, "issuer")));
    printf("\n");
    size_t i;
    json_t *item;
    const json_t *roles = json_object_get(out, "roles");
    if (json_array_size(roles) == 0)
        printf("roles      (none)\n");
    json_array_foreach(roles, i, item)
    {
        printf("%s %-12s granted by %s\n", i == 0 ? "roles     " : "          ",
               json_string_value(json_object_get(item, "role")),
               json_string_value(json_object_get(item, "granted_by")));
    }
    json_array_foreach(json_object_get(out, "ignored_roles"), i, item)
    {
        printf("ignored    credential role \"%s\": no role of that name is defined\n", json_string_value(item));
    }
    const json_t *target = json_object_get(out, "item");
    printf("%-10s %s/%s\n", json_string_value(json_object_get(target, "kind")),
           json_string_value(json_object_get(target, "server")), json_string_value(json_object_get(target, "name")));
    printf("decision   %s\n", json_string_value(json_object_get(out, "decision")));
    const char *rule = json_string_value(json_object_get(out, "rule"));
    printf("rule       %s\n", rule != NULL ? rule : "(none: no rule allows it, and the default is deny)");
    const char *reason = json_string_value(json_object_get(out, "reason"));
    if (reason != NULL && reason[0] != '\0')
        printf("why        %s\n", reason);
    const json_t *scopes = json_object_get(out, "scopes");
    json_array_foreach(scopes, i, item)
    {
        printf("%s %s\n", i == 0 ? "scopes    " : "          ", json_string_value(item));
    }
    json_array_foreach(json_object_get(out, "rules"), i, item)
    {
        const char *why = json_string_value(json_object_get(item, "why"));
        const char *note = json_string_value(json_object_get(item, "note"));
        printf("%s %s [%s]: %s%s%s%s%s\n", i == 0 ? "matching  " : "          ",
               json_string_value(json_object_get(item, "rule")), json_string_value(json_object_get(item, "pattern")),
               json_string_value(json_object_get(item, "outcome")), why != NULL ? ": " : "", why != NULL ? why : "",
               note != NULL ? "; " : "", note != NULL ? note : "");
    }
}

typedef struct st_explain_options_t {
    const char *config_path, *principal, *args, *item;
    mg_policy_kind_t kind;
    int items;
    bool json;
} explain_options_t;

static int parse_options(int argc, char **argv, explain_options_t *options)
{
    static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                                 {"principal", required_argument, NULL, 'p'},
                                                 {"tool", required_argument, NULL, 't'},
                                                 {"prompt", required_argument, NULL, 'r'},
                                                 {"resource", required_argument, NULL, 'u'},
                                                 {"args", required_argument, NULL, 'a'},
                                                 {"json", no_argument, NULL, 'j'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    int option;
    optind = 1;
    opterr = 0;
    while ((option = getopt_long(argc, argv, "c:h", long_options, NULL)) != -1) {
        switch (option) {
        case 'c':
            options->config_path = optarg;
            break;
        case 'p':
            options->principal = optarg;
            break;
        case 't':
        case 'r':
        case 'u':
            options->item = optarg;
            options->kind = option == 't' ? MG_POLICY_TOOL : option == 'r' ? MG_POLICY_PROMPT : MG_POLICY_RESOURCE;
            options->items++;
            break;
        case 'a':
            options->args = optarg;
            break;
        case 'j':
            options->json = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return refuse("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return refuse("unexpected argument: %s", argv[optind]);
    if (options->config_path == NULL || options->principal == NULL || options->items != 1)
        return refuse("%s", "policy explain needs -c, --principal and one of --tool, --prompt, --resource");
    if (options->args != NULL && options->kind != MG_POLICY_TOOL)
        return refuse("%s", "--args applies to --tool only");
    return 0;
}

static int explain(int argc, char **argv)
{
    explain_options_t options = {0};
    int rc = parse_options(argc, argv, &options);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    json_t *arguments = NULL;
    if (options.args != NULL) {
        json_error_t error;
        if ((arguments = json_loads(options.args, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error)) == NULL)
            return refuse("--args: not JSON: %s", error.text);
    }
    mg_principal_t *principal = NULL;
    mg_config_t *config = NULL;
    mg_policy_t *policy = NULL;
    mg_error_t err;
    size_t server = 0;
    const char *name = NULL;
    rc = 2;
    if (parse_principal(options.principal, &principal) != 0)
        goto done;
    if (mg_config_load_file(options.config_path, &config, &err) != 0 || mg_policy_create(config, &policy, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        goto done;
    }
    if (parse_item(config, options.kind, options.item, &server, &name) != 0)
        goto done;
    mg_policy_decision_t decision;
    json_t *out = mg_policy_explain(policy, principal, options.kind, server, name, strlen(name), arguments, &decision);
    if (out == NULL) {
        fprintf(stderr, "mcpgate: out of memory\n");
        goto done;
    }
    if (options.json) {
        char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text != NULL ? text : "null");
        free(text);
    } else {
        print_text(out);
    }
    json_decref(out);
    rc = decision.verdict == MG_POLICY_ALLOW ? 0 : 1;
done:
    mg_policy_release(policy);
    mg_config_release(config);
    mg_principal_release(principal);
    json_decref(arguments);
    return rc;
}

int mg_cli_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "explain") == 0)
        return explain(argc - 1, argv + 1);
    fprintf(stderr, "mcpgate: unknown policy command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
