/*
 * main.c - the command line: serve, check-config, version, and the dispatch to the
 * command families in src/cli/ (keys, secrets, policy, audit, tools, approvals).
 *
 * `serve` without -c runs the embedded quickstart configuration (the same file as
 * examples/quickstart.yaml, compiled in), resolved against the current directory;
 * `keys` and `secrets` choose their configuration the same way (mg_cli_load_config).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/json_alloc.h"
#include "http/server.h"
#include "mcpgate_version.h"
#include "obs/log.h"
#include "policy/policy.h"

static void usage_main(FILE *out)
{
    fprintf(out, "usage: mcpgate <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  serve         run the gateway\n"
                 "  check-config  validate a configuration file and exit\n"
                 "  keys          create, list and revoke API keys\n"
                 "  secrets       set, list and delete secrets of the encrypted store; make a master key\n"
                 "  policy        explain what the roles allow a caller (policy explain)\n"
                 "  audit         verify the audit trail's hash chain, query its index, print its public key\n"
                 "  tools         list tool pins, approve a quarantined tool's new definition\n"
                 "  approvals     list calls held for approval, approve or deny one\n"
                 "  scan          run the guards' detectors over text or an MCP message (secrets, pii, injection)\n"
                 "  version       print the version\n"
                 "\n"
                 "Run `mcpgate <command> --help` for the options of a command.\n");
}

static void usage_serve(FILE *out)
{
    fprintf(out, "usage: mcpgate serve [-c FILE] [--log-level LEVEL]\n"
                 "\n"
                 "  -c, --config FILE     configuration file (default: the embedded quickstart configuration)\n"
                 "  -l, --log-level LEVEL debug | info | warn | error (overrides log_level in the file)\n"
                 "  -h, --help            this text\n"
                 "\n"
                 "Logs are JSON lines on stderr. SIGTERM or SIGINT stops the gateway gracefully.\n");
}

static void usage_check(FILE *out)
{
    fprintf(out, "usage: mcpgate check-config -c FILE\n"
                 "\n"
                 "Exits 0 when FILE is a valid configuration; otherwise prints FILE:LINE:COLUMN: problem and exits 1.\n"
                 "Policy rules that are valid but suspicious (they can never match, name no server, ...) are printed\n"
                 "on stderr as \"warning: ...\" and do not change the exit status.\n");
}

static int parse_options(int argc, char **argv, const char **config_path, const char **log_level, void (*usage)(FILE *))
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "c:l:h", options, NULL)) != -1) {
        switch (option) {
        case 'c':
            *config_path = optarg;
            break;
        case 'l':
            if (log_level == NULL) {
                usage(stderr);
                return 2;
            }
            *log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mcpgate: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

static void print_warning(void *ctx, const char *warning)
{
    (void)ctx;
    fprintf(stderr, "warning: %s\n", warning);
}

static int command_check(int argc, char **argv)
{
    const char *path = NULL;
    int rc = parse_options(argc, argv, &path, NULL, usage_check);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (path == NULL) {
        usage_check(stderr);
        return 2;
    }
    mg_config_t *config;
    mg_error_t err;
    if (mg_config_load_file(path, &config, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    mg_policy_t *policy;
    if (mg_policy_create(config, &policy, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        mg_config_release(config);
        return 1;
    }
    mg_policy_lint(policy, config, print_warning, NULL);
    printf("%s: ok (%zu server(s), %zu listener(s))\n", path, config->servers_len, config->listen_len);
    mg_policy_release(policy);
    mg_config_release(config);
    return 0;
}

static int command_serve(int argc, char **argv)
{
    const char *path = NULL, *log_level = NULL;
    int rc = parse_options(argc, argv, &path, &log_level, usage_serve);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    mg_config_t *config;
    mg_error_t err;
    if (mg_cli_load_config(path, MG_CONFIG_FULL, &config, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    mg_log_level_t level;
    if (mg_log_parse_level(log_level != NULL ? log_level : config->log_level, &level) != 0) {
        fprintf(stderr, "mcpgate: unknown log level %s (debug, info, warn, error)\n", log_level);
        mg_config_release(config);
        return 2;
    }
    mg_log_set_level(level);
    rc = mg_server_run(config, &err);
    if (rc != 0)
        mg_log(MG_LOG_ERROR, "server.failed", "%s", err.message);
    mg_config_release(config);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    mg_json_alloc_install();
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    const char *command = argv[1];
    if (strcmp(command, "serve") == 0)
        return command_serve(argc - 1, argv + 1);
    if (strcmp(command, "check-config") == 0)
        return command_check(argc - 1, argv + 1);
    if (strcmp(command, "keys") == 0)
        return mg_cli_keys(argc - 1, argv + 1);
    if (strcmp(command, "secrets") == 0)
        return mg_cli_secrets(argc - 1, argv + 1);
    if (strcmp(command, "policy") == 0)
        return mg_cli_policy(argc - 1, argv + 1);
    if (strcmp(command, "audit") == 0)
        return mg_cli_audit(argc - 1, argv + 1);
    if (strcmp(command, "tools") == 0)
        return mg_cli_tools(argc - 1, argv + 1);
    if (strcmp(command, "approvals") == 0)
        return mg_cli_approvals(argc - 1, argv + 1);
    if (strcmp(command, "scan") == 0)
        return mg_cli_scan(argc - 1, argv + 1);
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("mcpgate %s\n", MCPGATE_VERSION);
        return 0;
    }
    if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
        usage_main(stdout);
        return 0;
    }
    fprintf(stderr, "mcpgate: unknown command %s\n", command);
    usage_main(stderr);
    return 2;
}
