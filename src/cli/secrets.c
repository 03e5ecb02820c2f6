/*
 * secrets.c - `mcpgate secrets set | list | delete | init-key`: the encrypted secret store.
 *
 * A value is read from standard input, never from the command line, where `ps` and shell history
 * would show it. From a pipe or a file the whole input is the value, one trailing newline removed
 * (so `echo "$TOKEN" | mcpgate secrets set X` and a multi-line PEM both work); from a terminal it
 * is one line typed without echo. Nothing a command prints contains a value.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/secrets.h"
#include "cli/cli.h"
#include "store/sqlite.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: mcpgate secrets set NAME [-c FILE]      value from standard input\n"
                 "       mcpgate secrets list [--json] [-c FILE]\n"
                 "       mcpgate secrets delete NAME [-c FILE]\n"
                 "       mcpgate secrets init-key FILE            write a new random master key to FILE (mode 0600)\n"
                 "\n"
                 "  -c, --config FILE  configuration whose state_dir holds the store and whose\n"
                 "                     secrets.master_key_file may name the master key\n"
                 "                     (default: the embedded quickstart configuration, state_dir ./var)\n"
                 "  --json             list as a JSON array\n"
                 "\n"
                 "The master key comes from MCPGATE_MASTER_KEY (64 hex digits or base64), else the file\n"
                 "named by MCPGATE_MASTER_KEY_FILE, else secrets.master_key_file. NAME is 1 to 128\n"
                 "characters from A-Z a-z 0-9 _ . -; the configuration refers to it as ${secret:NAME}.\n");
}

static int fail(const char *message)
{
    fprintf(stderr, "mcpgate: %s\n", message);
    return 1;
}

static int check_name(const char *name)
{
    if (mg_secrets_name_valid(name, strlen(name)))
        return 0;
    fprintf(stderr, "mcpgate: secret name \"%s\": 1 to %d characters from A-Z a-z 0-9 _ . - (not . or ..)\n", name,
            MG_SECRETS_NAME_MAX);
    return 2;
}

/* One line typed at the terminal, not echoed. */
static ssize_t read_hidden_line(const char *name, char *buffer, size_t size)
{
    struct termios saved, quiet;
    bool restore = tcgetattr(STDIN_FILENO, &saved) == 0;
    fprintf(stderr, "value of secret %s (not echoed): ", name);
    if (restore) {
        quiet = saved;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(buffer, (int)size, stdin);
    if (restore)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    fputc('\n', stderr);
    return line != NULL ? (ssize_t)strlen(buffer) : 0;
}

/* The value from standard input, one trailing "\n" or "\r\n" removed; -1 on a read error. */
static ssize_t read_value(const char *name, char *buffer, size_t size)
{
    size_t got = 0;
    if (isatty(STDIN_FILENO)) {
        got = (size_t)read_hidden_line(name, buffer, size);
    } else {
        while (got < size) {
            size_t n = fread(buffer + got, 1, size - got, stdin);
            if (n == 0)
                break;
            got += n;
        }
        if (ferror(stdin))
            return -1;
    }
    if (got > 0 && buffer[got - 1] == '\n')
        got -= got > 1 && buffer[got - 2] == '\r' ? 2 : 1;
    return (ssize_t)got;
}

static int load_config(const mg_cli_options_t *options, mg_config_t **config)
{
    mg_error_t err;
    if (mg_cli_load_config(options->config_path, MG_CONFIG_STATE_ONLY, config, &err) == 0)
        return 0;
    return fail(err.message);
}

static int command_set(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_config_t *config;
    mg_secrets_key_t key;
    mg_store_t *store = NULL;
    mg_error_t err;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_POSITIONAL, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = check_name(options.operand)) != 0 || (rc = load_config(&options, &config)) != 0)
        return rc;
    /* The key first: nobody should type a value only to learn there is nowhere to keep it. */
    if (mg_secrets_key_load(config->secrets.master_key_file, &key, &err) != 0) {
        mg_config_release(config);
        return fail(err.message);
    }
    const size_t size = MG_SECRETS_VALUE_MAX + 3; /* a maximal value, "\r\n", one byte to see "too long" */
    char *value = malloc(size);
    ssize_t len = value != NULL ? read_value(options.operand, value, size) : -1;
    if (len < 0)
        rc = fail(value == NULL ? "out of memory" : "cannot read the value from standard input");
    else if (mg_store_open(config->state_dir, MG_STORE_CREATE, &store, &err) != 0 ||
             mg_secrets_put(store, &key, options.operand, value, (size_t)len, (int64_t)time(NULL), &err) != 0)
        rc = fail(err.message);
    else
        fprintf(stderr, "mcpgate: stored secret %s in %s\n", options.operand, mg_store_path(store));
    mg_secrets_value_free(value, size);
    mg_secrets_key_dispose(&key);
    mg_store_close(store);
    mg_config_release(config);
    return rc;
}

/* The store of the configuration, or *store NULL (and 0) when it was never created. */
static int open_existing(const mg_cli_options_t *options, mg_store_t **store)
{
    mg_config_t *config;
    mg_error_t err;
    int rc = load_config(options, &config);
    if (rc != 0)
        return rc;
    rc = mg_store_open(config->state_dir, MG_STORE_EXISTING, store, &err);
    mg_config_release(config);
    if (rc == MG_STORE_NOT_FOUND) {
        *store = NULL;
        return 0;
    }
    return rc == 0 ? 0 : fail(err.message);
}

static int command_list(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_store_t *store;
    mg_store_secret_t *rows = NULL;
    size_t count = 0;
    mg_error_t err;
    char updated[32];
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_JSON, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = open_existing(&options, &store)) != 0)
        return rc;
    if (store != NULL && mg_store_secret_list(store, &rows, &count, &err) != 0)
        rc = fail(err.message);
    mg_store_close(store);
    if (rc != 0)
        return rc;
    json_t *list = options.json ? json_array() : NULL;
    int width = 4; /* "NAME" */
    for (size_t i = 0; i < count; i++)
        width = (int)strlen(rows[i].name) > width ? (int)strlen(rows[i].name) : width;
    if (!options.json && count > 0)
        printf("%-*s  UPDATED\n", width, "NAME");
    for (size_t i = 0; i < count; i++) {
        mg_cli_format_time(rows[i].updated_at, "-", updated);
        if (list != NULL)
            json_array_append_new(list, json_pack("{s:s, s:s}", "name", rows[i].name, "updated_at", updated));
        else if (!options.json)
            printf("%-*s  %s\n", width, rows[i].name, updated);
    }
    if (options.json) {
        rc = list != NULL && json_dumpf(list, stdout, JSON_INDENT(2)) == 0 ? 0 : fail("cannot write the list");
        putchar('\n');
    } else if (count == 0) {
        fprintf(stderr, "mcpgate: no secrets in the encrypted store\n");
    }
    json_decref(list);
    mg_store_secret_rows_free(rows, count);
    return rc;
}

static int command_delete(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_store_t *store;
    mg_error_t err;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_POSITIONAL, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = check_name(options.operand)) != 0 || (rc = open_existing(&options, &store)) != 0)
        return rc;
    if (store == NULL) {
        fprintf(stderr, "mcpgate: no secret named \"%s\" (the store does not exist)\n", options.operand);
        return 1;
    }
    if (mg_store_secret_delete(store, options.operand, &err) != 0)
        rc = fail(err.message);
    else
        fprintf(stderr, "mcpgate: deleted secret %s from %s\n", options.operand, mg_store_path(store));
    mg_store_close(store);
    return rc;
}

static int command_init_key(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_secrets_key_t key;
    mg_error_t err;
    char fingerprint[17];
    int rc = mg_cli_parse(argc, argv, MG_CLI_POSITIONAL, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (mg_secrets_key_create(options.operand, &key, &err) != 0)
        return fail(err.message);
    mg_secrets_key_fingerprint(&key, fingerprint);
    mg_secrets_key_dispose(&key);
    fprintf(stderr,
            "mcpgate: wrote a new master key to %s (mode 0600, fingerprint %s).\n"
            "mcpgate: point MCPGATE_MASTER_KEY_FILE or secrets.master_key_file at it, and keep it apart from\n"
            "mcpgate: backups of state_dir: whoever holds both can read every stored secret.\n",
            options.operand, fingerprint);
    return 0;
}

int mg_cli_secrets(int argc, char **argv)
{
    const char *command = argc >= 2 ? argv[1] : NULL;
    if (command == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(command, "set") == 0)
        return command_set(argc - 1, argv + 1);
    if (strcmp(command, "list") == 0)
        return command_list(argc - 1, argv + 1);
    if (strcmp(command, "delete") == 0)
        return command_delete(argc - 1, argv + 1);
    if (strcmp(command, "init-key") == 0)
        return command_init_key(argc - 1, argv + 1);
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mcpgate: unknown secrets command %s\n", command);
    usage(stderr);
    return 2;
}
