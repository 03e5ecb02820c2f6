/*
 * tools.c - `mcpgate tools list | approve`: the tool pins in <state_dir>/mcpgate.db (docs/guards.md,
 * "Tool pinning").
 *
 * `list` shows every pin with its state: pinned (the server serves the approved definition, or did when
 * last seen), quarantined (a changed or flagged definition held for review) or changed (a change served
 * because pins.mode is warn). `approve SERVER/TOOL` (or SERVER#instructions) accepts the pending
 * definition; a running gateway picks the approval up within MG_PINS_WATCH_INTERVAL_MS (guard/pins.h).
 * Both open the database without creating it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "guard/pins.h"
#include "store/rows_json.h"
#include "store/sqlite.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: mcpgate tools list [--json] [-c FILE]\n"
                 "       mcpgate tools approve SERVER/TOOL|SERVER#instructions [-c FILE]\n"
                 "\n"
                 "  -c, --config FILE  configuration whose state_dir holds the pins\n"
                 "                     (default: the embedded quickstart configuration, state_dir ./var)\n"
                 "  --json             list as a JSON array\n"
                 "\n"
                 "approve accepts the definition a server now serves for a quarantined tool; a running\n"
                 "gateway serves it again within a second.\n");
}

static int fail(const char *message)
{
    fprintf(stderr, "mcpgate: %s\n", message);
    return 1;
}

static int open_store(const mg_cli_options_t *options, mg_store_t **store, mg_pins_mode_t *mode, mg_error_t *err)
{
    mg_config_t *config;
    *store = NULL;
    if (mg_cli_load_config(options->config_path, MG_CONFIG_STATE_ONLY, &config, err) != 0)
        return -1;
    *mode = config->pins.mode;
    int rc = mg_store_open(config->state_dir, MG_STORE_EXISTING, store, err);
    if (rc == MG_STORE_NOT_FOUND)
        mg_error_set(err, "%s/%s does not exist (the gateway never ran with this state_dir)", config->state_dir,
                     MG_STORE_FILE);
    mg_config_release(config);
    return rc;
}

static int list_json(const mg_store_pin_t *rows, size_t count, mg_pins_mode_t mode)
{
    json_t *list = mg_store_pins_json(rows, count, mode);
    int rc = list != NULL && json_dumpf(list, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
    putchar('\n');
    json_decref(list);
    return rc;
}

static void list_table(const mg_store_pin_t *rows, size_t count, mg_pins_mode_t mode)
{
    static const char *const headers[] = {"TOOL",     "STATE",   "REASON", "FIRST SEEN",
                                          "APPROVED", "PENDING", "BY",     "DETAIL"};
    enum { COLUMNS = 8 };
    char cells[COLUMNS][600];
    int widths[COLUMNS];
    for (int pass = 0; pass < 2; pass++) { /* measure, then print */
        for (int c = 0; pass == 0 && c < COLUMNS; c++)
            widths[c] = (int)strlen(headers[c]);
        for (int c = 0; pass == 1 && c < COLUMNS; c++)
            printf("%-*s%s", c + 1 < COLUMNS ? widths[c] : 0, headers[c], c + 1 < COLUMNS ? "  " : "\n");
        for (size_t i = 0; i < count; i++) {
            const mg_store_pin_t *pin = &rows[i];
            mg_store_pin_name(pin, cells[0], sizeof(cells[0]));
            snprintf(cells[1], sizeof(cells[1]), "%s", mg_store_pin_state(pin, mode));
            snprintf(cells[2], sizeof(cells[2]), "%s", pin->reason[0] != '\0' ? pin->reason : "-");
            mg_cli_format_time(pin->first_seen, "-", cells[3]);
            /* 16 hex digits name a definition well enough for people; --json has all 64 */
            snprintf(cells[4], sizeof(cells[4]), "%.16s", pin->approved_hash[0] != '\0' ? pin->approved_hash : "-");
            snprintf(cells[5], sizeof(cells[5]), "%.16s", pin->pending_hash[0] != '\0' ? pin->pending_hash : "-");
            snprintf(cells[6], sizeof(cells[6]), "%s", pin->approved_by[0] != '\0' ? pin->approved_by : "-");
            snprintf(cells[7], sizeof(cells[7]), "%.200s", pin->detail[0] != '\0' ? pin->detail : "-");
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
    mg_store_pin_t *rows = NULL;
    size_t count = 0;
    uint64_t generation;
    mg_pins_mode_t mode = MG_PINS_ENFORCE;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_JSON, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_store(&options, &store, &mode, &err);
    if (rc != 0 && rc != MG_STORE_NOT_FOUND)
        return fail(err.message);
    if (rc == 0 && mg_store_pin_list(store, &rows, &count, &generation, &err) != 0) {
        mg_store_close(store);
        return fail(err.message);
    }
    mg_store_close(store); /* NULL when there is no database: no pins */
    rc = 0;
    if (options.json)
        rc = list_json(rows, count, mode);
    else if (count > 0)
        list_table(rows, count, mode);
    else
        fprintf(stderr, "mcpgate: no tool pins\n");
    mg_store_pin_rows_free(rows, count);
    return rc == 0 ? 0 : fail("cannot write the list");
}

static int command_approve(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_error_t err;
    mg_store_t *store;
    mg_pins_mode_t mode;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_POSITIONAL, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *operand = options.operand;
    const char *slash = strchr(operand, '/'), *hash_sign = strchr(operand, '#');
    char server[256];
    const char *tool;
    if (slash != NULL && slash != operand && slash[1] != '\0' && (hash_sign == NULL || hash_sign > slash)) {
        snprintf(server, sizeof(server), "%.*s", (int)(slash - operand), operand);
        tool = slash + 1;
    } else if (slash == NULL && hash_sign != NULL && hash_sign != operand && strcmp(hash_sign, "#instructions") == 0) {
        snprintf(server, sizeof(server), "%.*s", (int)(hash_sign - operand), operand);
        tool = "";
    } else {
        fprintf(stderr,
                "mcpgate: \"%s\": name a tool as SERVER/TOOL, or a server's instructions as "
                "SERVER#instructions\n",
                operand);
        usage(stderr);
        return 2;
    }
    char approved[MG_PINS_HASH_HEX];
    if (open_store(&options, &store, &mode, &err) != 0 ||
        mg_store_pin_approve(store, server, tool, (int64_t)time(NULL), approved, &err) != 0) {
        mg_store_close(store);
        return fail(err.message);
    }
    mg_store_close(store);
    fprintf(stderr,
            "mcpgate: approved %s: sha256:%s is its pinned definition now; a running gateway serves it within "
            "%d ms\n",
            operand, approved, MG_PINS_WATCH_INTERVAL_MS);
    return 0;
}

int mg_cli_tools(int argc, char **argv)
{
    const char *command = argc >= 2 ? argv[1] : NULL;
    if (command == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(command, "list") == 0)
        return command_list(argc - 1, argv + 1);
    if (strcmp(command, "approve") == 0)
        return command_approve(argc - 1, argv + 1);
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mcpgate: unknown tools command %s\n", command);
    usage(stderr);
    return 2;
}
