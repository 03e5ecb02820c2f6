/*
 * keys.c - `mcpgate keys create | list | revoke`: API keys in <state_dir>/mcpgate.db.
 *
 * `create` prints the key once, alone on stdout (so `KEY=$(mcpgate keys create ...)` works), and
 * says on stderr that it will not be shown again: only its hash is stored. `list` never shows a
 * key or a hash. Listing and revoking open the database without creating it, so a mistyped -c
 * does not leave an empty state_dir behind.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/apikeys.h"
#include "cli/cli.h"
#include "store/sqlite.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: mcpgate keys create --name NAME --roles ROLE[,ROLE...] [--expires WHEN] [-c FILE]\n"
                 "       mcpgate keys list [--json] [-c FILE]\n"
                 "       mcpgate keys revoke NAME|ID [-c FILE]\n"
                 "\n"
                 "  -c, --config FILE  configuration whose state_dir holds the keys\n"
                 "                     (default: the embedded quickstart configuration, state_dir ./var)\n"
                 "  --name NAME        1 to 64 characters from A-Z a-z 0-9 . _ -; unique among keys not revoked\n"
                 "  --roles LIST       comma-separated role names, at least one\n"
                 "  --expires WHEN     a duration (45s, 90m, 12h, 30d, 2w) or a UTC date (2027-01-01,\n"
                 "                     2027-01-01T12:00:00Z); default: never\n"
                 "  --json             list as a JSON array\n"
                 "\n"
                 "create prints the key on stdout, once: only a hash of it is stored.\n");
}

static int fail(const char *message)
{
    fprintf(stderr, "mcpgate: %s\n", message);
    return 1;
}

/* Opens the store of the configuration the options name. */
static int open_store(const mg_cli_options_t *options, mg_store_mode_t mode, mg_store_t **store, mg_error_t *err)
{
    mg_config_t *config;
    *store = NULL;
    if (mg_cli_load_config(options->config_path, MG_CONFIG_STATE_ONLY, &config, err) != 0)
        return -1;
    int rc = mg_store_open(config->state_dir, mode, store, err);
    if (rc == MG_STORE_NOT_FOUND)
        mg_error_set(err, "%s/%s does not exist (no key was ever created with this state_dir)", config->state_dir,
                     MG_STORE_FILE);
    mg_config_release(config);
    return rc;
}

static int command_create(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_error_t err;
    json_t *roles = NULL;
    int64_t now = (int64_t)time(NULL), expires_at = 0;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_NAME | MG_CLI_ROLES | MG_CLI_EXPIRES, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (options.name == NULL || options.roles == NULL) {
        fprintf(stderr, "mcpgate: keys create needs --name and --roles\n");
        usage(stderr);
        return 2;
    }
    if (!mg_apikeys_name_valid(options.name)) {
        fprintf(stderr, "mcpgate: --name \"%s\": 1 to %d characters from A-Z a-z 0-9 . _ -\n", options.name,
                MG_APIKEY_NAME_MAX);
        return 2;
    }
    if (mg_apikeys_parse_roles(options.roles, &roles, &err) != 0 ||
        (options.expires != NULL && mg_apikeys_parse_expiry(options.expires, now, &expires_at, &err) != 0)) {
        fprintf(stderr, "mcpgate: %s\n", err.message);
        json_decref(roles);
        return 2;
    }
    mg_store_t *store;
    char key[MG_APIKEY_LEN + 1], id[MG_APIKEY_ID_LEN + 1], expires[32];
    if (open_store(&options, MG_STORE_CREATE, &store, &err) != 0 ||
        mg_apikeys_create(store, options.name, roles, expires_at, now, key, id, &err) != 0) {
        mg_store_close(store);
        json_decref(roles);
        return fail(err.message);
    }
    printf("%s\n", key);
    fflush(stdout);
    sodium_memzero(key, sizeof(key));
    mg_cli_format_time(expires_at, "never", expires);
    fprintf(stderr,
            "mcpgate: created API key \"%s\" (id %s, roles %s, expires %s) in %s.\n"
            "mcpgate: this is the only time the key is shown: store it now.\n",
            options.name, id, options.roles, expires, mg_store_path(store));
    mg_store_close(store);
    json_decref(roles);
    return 0;
}

static const char *status_of(const mg_store_key_t *key, int64_t now)
{
    if (key->revoked_at != 0)
        return "revoked";
    return key->expires_at != 0 && now >= key->expires_at ? "expired" : "active";
}

static json_t *time_or_null(int64_t when)
{
    char text[32];
    mg_cli_format_time(when, "", text);
    return when != 0 ? json_string(text) : json_null();
}

static int list_json(const mg_store_key_t *rows, size_t count, int64_t now)
{
    json_t *list = json_array();
    char created[32];
    for (size_t i = 0; list != NULL && i < count; i++) {
        const mg_store_key_t *key = &rows[i];
        json_t *roles = json_loads(key->roles, 0, NULL);
        mg_cli_format_time(key->created_at, "", created);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o}", "name", key->name, "id", key->id, "roles",
                            roles != NULL ? roles : json_array(), "status", status_of(key, now), "created_at", created,
                            "expires_at", time_or_null(key->expires_at), "last_used_at",
                            time_or_null(key->last_used_at), "revoked_at", time_or_null(key->revoked_at)));
    }
    int rc = list != NULL && json_dumpf(list, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
    putchar('\n');
    json_decref(list);
    return rc;
}

/* The roles as "a,b" for the table; the stored JSON is an array of strings. */
static void roles_text(const char *json, char *out, size_t size)
{
    json_t *roles = json_loads(json, 0, NULL);
    size_t i, at = 0;
    json_t *role;
    out[0] = '\0';
    json_array_foreach(roles, i, role)
    {
        int n = snprintf(out + at, size - at, "%s%s", i > 0 ? "," : "", json_string_value(role));
        if (n < 0 || (size_t)n >= size - at)
            break;
        at += (size_t)n;
    }
    json_decref(roles);
}

static void list_table(const mg_store_key_t *rows, size_t count, int64_t now)
{
    static const char *const headers[] = {"NAME",    "ID",      "ROLES",     "STATUS",
                                          "CREATED", "EXPIRES", "LAST USED", "REVOKED"};
    enum { COLUMNS = 8 };
    char cells[COLUMNS][256];
    int widths[COLUMNS];
    for (int pass = 0; pass < 2; pass++) { /* measure, then print */
        for (int c = 0; pass == 0 && c < COLUMNS; c++)
            widths[c] = (int)strlen(headers[c]);
        for (int c = 0; pass == 1 && c < COLUMNS; c++)
            printf("%-*s%s", c + 1 < COLUMNS ? widths[c] : 0, headers[c], c + 1 < COLUMNS ? "  " : "\n");
        for (size_t i = 0; i < count; i++) {
            const mg_store_key_t *key = &rows[i];
            snprintf(cells[0], sizeof(cells[0]), "%s", key->name);
            snprintf(cells[1], sizeof(cells[1]), "%s", key->id);
            roles_text(key->roles, cells[2], sizeof(cells[2]));
            snprintf(cells[3], sizeof(cells[3]), "%s", status_of(key, now));
            mg_cli_format_time(key->created_at, "-", cells[4]);
            mg_cli_format_time(key->expires_at, "never", cells[5]);
            mg_cli_format_time(key->last_used_at, "never", cells[6]);
            mg_cli_format_time(key->revoked_at, "-", cells[7]);
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
    mg_store_key_t *rows = NULL;
    size_t count = 0;
    uint64_t generation;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_JSON, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_store(&options, MG_STORE_EXISTING, &store, &err);
    if (rc != 0 && rc != MG_STORE_NOT_FOUND)
        return fail(err.message);
    if (rc == 0 && mg_store_key_list(store, &rows, &count, &generation, &err) != 0) {
        mg_store_close(store);
        return fail(err.message);
    }
    mg_store_close(store); /* NULL when there is no database: no keys */
    rc = 0;
    int64_t now = (int64_t)time(NULL);
    if (options.json)
        rc = list_json(rows, count, now);
    else if (count > 0)
        list_table(rows, count, now);
    else
        fprintf(stderr, "mcpgate: no API keys\n");
    for (size_t i = 0; i < count; i++)
        sodium_memzero(rows[i].hash, sizeof(rows[i].hash));
    mg_store_key_rows_free(rows, count);
    return rc == 0 ? 0 : fail("cannot write the list");
}

static int command_revoke(int argc, char **argv)
{
    mg_cli_options_t options;
    mg_error_t err;
    mg_store_t *store;
    char *id = NULL;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_POSITIONAL, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (open_store(&options, MG_STORE_EXISTING, &store, &err) != 0 ||
        mg_store_key_revoke(store, options.operand, (int64_t)time(NULL), &id, &err) != 0) {
        mg_store_close(store);
        return fail(err.message);
    }
    fprintf(stderr, "mcpgate: revoked key %s (\"%s\")\n", id, options.operand);
    free(id);
    mg_store_close(store);
    return 0;
}

int mg_cli_keys(int argc, char **argv)
{
    const char *command = argc >= 2 ? argv[1] : NULL;
    if (command == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(command, "create") == 0)
        return command_create(argc - 1, argv + 1);
    if (strcmp(command, "list") == 0)
        return command_list(argc - 1, argv + 1);
    if (strcmp(command, "revoke") == 0)
        return command_revoke(argc - 1, argv + 1);
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mcpgate: unknown keys command %s\n", command);
    usage(stderr);
    return 2;
}
