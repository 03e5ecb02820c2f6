/*
 * cli.h - the command families of `mcpgate`: `keys` and `secrets` (state), `policy` (explain), `audit` (verify,
 * query), and what they
 * share with main.c (how a configuration is chosen, option parsing, time formatting).
 *
 * Every command exits 0 on success, 1 on a failure it explains on stderr, and 2 on a usage error
 * (unknown option, missing or malformed argument), with the usage on stderr.
 */
#ifndef MG_CLI_CLI_H
#define MG_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

/* `mcpgate keys ...`; argv[0] is "keys". Returns the exit status. */
int mg_cli_keys(int argc, char **argv);
/* `mcpgate secrets ...`; argv[0] is "secrets". Returns the exit status. */
int mg_cli_secrets(int argc, char **argv);
/* `mcpgate policy explain ...`; argv[0] is "policy". Returns the exit status: 0 allowed, 1 not allowed,
 * 2 a usage or configuration error. */
int mg_cli_policy(int argc, char **argv);
/* `mcpgate audit verify | query | pubkey ...`; argv[0] is "audit". Returns the exit status: verify exits 1 at
 * a break in the chain. */
int mg_cli_audit(int argc, char **argv);
/* `mcpgate tools list | approve ...`; argv[0] is "tools". Returns the exit status. */
int mg_cli_tools(int argc, char **argv);
/* `mcpgate approvals list | approve | deny ...`; argv[0] is "approvals". Returns the exit status. */
int mg_cli_approvals(int argc, char **argv);
/* `mcpgate scan ...`; argv[0] is "scan". Returns the exit status: 0 no findings, 1 findings, 2 an error. */
int mg_cli_scan(int argc, char **argv);

/* The configuration `path` names or, when NULL, the embedded quickstart configuration, resolved as
 * if it were ./examples/quickstart.yaml (so its state_dir is ./var), as `serve` does. */
int mg_cli_load_config(const char *path, mg_config_scope_t scope, mg_config_t **config, mg_error_t *err);

/* Options a subcommand may accept; mg_cli_parse refuses the others. */
enum {
    MG_CLI_CONFIG = 1 << 0,     /* -c, --config FILE */
    MG_CLI_JSON = 1 << 1,       /* --json */
    MG_CLI_NAME = 1 << 2,       /* --name NAME */
    MG_CLI_ROLES = 1 << 3,      /* --roles LIST */
    MG_CLI_EXPIRES = 1 << 4,    /* --expires WHEN */
    MG_CLI_POSITIONAL = 1 << 5, /* exactly one operand */
};

typedef struct st_mg_cli_options_t {
    const char *config_path;
    const char *name;
    const char *roles;
    const char *expires;
    const char *operand;
    bool json;
} mg_cli_options_t;

/* Parses argv (argv[0] is the subcommand). Returns 0, -1 when --help was printed to stdout (exit 0),
 * or 2 after printing the problem and the usage to stderr. */
int mg_cli_parse(int argc, char **argv, unsigned allowed, mg_cli_options_t *options, void (*usage)(FILE *));

/* "2026-05-01T10:00:00Z"; `never` for 0. */
void mg_cli_format_time(int64_t when, const char *never, char out[32]);

#endif
