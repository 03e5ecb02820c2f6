/*
 * approvals.c - `mcpgate approvals list | approve ID | deny ID`: calls held for a person's decision, in
 * <state_dir>/mcpgate.db (docs/guards.md, "Human approval").
 *
 * `list` shows the calls of the last day, newest first, with their state (a pending call whose deadline
 * passed shows as expired: nothing can approve it any more) and, while pending, the arguments the caller
 * sent. `approve` and `deny` decide one pending call; the running gateway that holds it acts within
 * MG_APPROVALS_POLL_MS (guard/approvals.h). A decision is recorded once: deciding an id again, or one that
 * expired or whose caller left, fails with exit status 1. The decision is signed with the login of the
 * user who ran the command ("operator:<login>"), which the audit record carries.
 *
 * The admin API (http/admin.h) makes the same decisions over HTTP, with the caller's principal as the
 * decider.
 */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "guard/approvals.h"
#include "store/rows_json.h"
#include "store/sqlite.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: mcpgate approvals list [--json] [-c FILE]\n"
                 "       mcpgate approvals approve ID [-c FILE]\n"
                 "       mcpgate approvals deny ID [-c FILE]\n"
                 "\n"
                 "  -c, --config FILE  configuration whose state_dir holds the approvals\n"
                 "                     (default: the embedded quickstart configuration, state_dir ./var)\n"
                 "  --json             list as a JSON array\n"
                 "\n"
                 "list shows the calls held in the last 24 hours; approve lets a pending call go on to its\n"
                 "server, deny refuses it. The gateway holding the call acts within a second.\n");
}

static int fail(const char *message)
{
    fprintf(stderr, "mcpgate: %s\n", message);
    return 1;
}

static int open_store(const mg_cli_options_t *options, mg_store_t **store, mg_error_t *err)
{
    mg_config_t *config;
    *store = NULL;
    if (mg_cli_load_config(options->config_path, MG_CONFIG_STATE_ONLY, &config, err) != 0)
        return -1;
    int rc = mg_store_open(config->state_dir, MG_STORE_EXISTING, store, err);
    if (rc == MG_STORE_NOT_FOUND)
        mg_error_set(err, "%s/%s does not exist (the gateway never ran with this state_dir)", config->state_dir,
                     MG_STORE_FILE);
    mg_config_release(config);
    return rc;
}

static int list_json(const mg_store_approval_t *rows, size_t count, int64_t now)
{
    json_t *list = mg_store_approvals_json(rows, count, now);
    int rc = list != NULL && json_dumpf(list, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
    putchar('\n');
    json_decref(list);
    return rc;
}

static void list_table(const mg_store_approval_t *rows, size_t count, int64_t now)
{
    static const char *const headers[] = {"ID", "STATE", "PRINCIPAL", "TOOL", "CREATED", "EXPIRES", "BY", "ARGUMENTS"};
    enum { COLUMNS = 8 };
    char cells[COLUMNS][400];
    int widths[COLUMNS];
    for (int pass = 0; pass < 2; pass++) { /* measure, then print */
        for (int c = 0; pass == 0 && c < COLUMNS; c++)
            widths[c] = (int)strlen(headers[c]);
        for (int c = 0; pass == 1 && c < COLUMNS; c++)
            printf("%-*s%s", c + 1 < COLUMNS ? widths[c] : 0, headers[c], c + 1 < COLUMNS ? "  " : "\n");
        for (size_t i = 0; i < count; i++) {
            const mg_store_approval_t *row = &rows[i];
            snprintf(cells[0], sizeof(cells[0]), "%s", row->id);
            snprintf(cells[1], sizeof(cells[1]), "%s", mg_store_approval_state(row, now));
            snprintf(cells[2], sizeof(cells[2]), "%.200s", row->principal);
            snprintf(cells[3], sizeof(cells[3]), "%.100s/%.200s", row->server, row->tool);
            mg_cli_format_time(row->created_at, "-", cells[4]);
            mg_cli_format_time(row->expires_at, "-", cells[5]);
            snprintf(cells[6], sizeof(cells[6]), "%.200s", row->decided_by[0] != '\0' ? row->decided_by : "-");
            /* the whole text is in --json; a table line stays readable */
            snprintf(cells[7], sizeof(cells[7]), "%.120s%s", row->arguments[0] != '\0' ? row->arguments : "-",
                     strlen(row->arguments) > 120 ? "..." : "");
            for (int c = 0; c < COLUMNS; c++) {
                if (pass == 0 && (int)strlen(cells[c]) > widths[c])
                    widths[c] = (int)strlen(cells[c]);
                if (pass == 1)
                    printf("%-*s%s", c + 1 < COLUMNS ? widths[c] : 0, cells[c], c + 1 < COLUMNS ? "  " : "\n");
            }
        }
    }
}

static int command_list(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_error_t err;
    mg_store_t *store;
    mg_store_approval_t *rows = NULL;
    size_t count = 0;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_JSON, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_store(&options, &store, &err);
    if (rc != 0 && rc != MG_STORE_NOT_FOUND)
        return fail(err.message);
    int64_t now = (int64_t)time(NULL);
    if (rc == 0 && mg_store_approval_list(store, now - MG_STORE_APPROVALS_LIST_WINDOW_S, &rows, &count, &err) != 0) {
        mg_store_close(store);
        return fail(err.message);
    }
    mg_store_close(store); /* NULL when there is no database: nothing held */
    rc = 0;
    if (options.json)
        rc = list_json(rows, count, now);
    else if (count > 0)
        list_table(rows, count, now);
    else
        fprintf(stderr, "mcpgate: no calls held for approval\n");
    mg_store_approval_rows_free(rows, count);
    return rc == 0 ? 0 : fail("cannot write the list");
}

/* "operator:<login>" of whoever runs the command. */
static void operator_name(char *out, size_t size)
{
    const struct passwd *user = getpwuid(getuid());
    if (user != NULL && user->pw_name != NULL)
        snprintf(out, size, "operator:%.100s", user->pw_name);
    else
        snprintf(out, size, "operator:uid-%lu", (unsigned long)getuid());
}

static int command_decide(int argc, char **argv, const char *state)
{
    mg_cli_options_t options;
    mg_error_t err;
    mg_store_t *store;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_POSITIONAL, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!mg_approvals_id_valid(options.operand)) {
        fprintf(stderr, "mcpgate: \"%s\" is not an approval id (apr_ and 32 hex digits; see mcpgate approvals list)\n",
                options.operand);
        usage(stderr);
        return 2;
    }
    char by[128], prior[16] = "";
    operator_name(by, sizeof(by));
    if (open_store(&options, &store, &err) != 0 ||
        mg_store_approval_decide(store, options.operand, state, by, (int64_t)time(NULL), prior, &err) != 0) {
        mg_store_close(store);
        return fail(err.message);
    }
    mg_store_close(store);
    fprintf(stderr, "mcpgate: %s %s; the gateway holding the call acts on it within a second\n", state,
            options.operand);
    return 0;
}

int mg_cli_approvals(int argc, char **argv)
{
    const char *command = argc >= 2 ? argv[1] : NULL;
    if (command == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(command, "list") == 0)
        return command_list(argc - 1, argv + 1);
    if (strcmp(command, "approve") == 0)
        return command_decide(argc - 1, argv + 1, "approved");
    if (strcmp(command, "deny") == 0)
        return command_decide(argc - 1, argv + 1, "denied");
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mcpgate: unknown approvals command %s\n", command);
    usage(stderr);
    return 2;
}
