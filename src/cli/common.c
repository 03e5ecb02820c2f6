/* common.c - what the command families share (see cli.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/rows_json.h"

extern const char mg_embedded_config[];
extern const size_t mg_embedded_config_len;

int mg_cli_load_config(const char *path, mg_config_scope_t scope, mg_config_t **config, mg_error_t *err)
{
    if (path != NULL)
        return mg_config_load_file_scoped(path, scope, config, err);
    char cwd[4096], base[4200];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return mg_error_set(err, "cannot read the current directory");
    snprintf(base, sizeof(base), "%s/examples", cwd); /* as if the file were examples/quickstart.yaml */
    return mg_config_load_string_scoped(mg_embedded_config, mg_embedded_config_len, "<embedded quickstart>", base,
                                        scope, config, err);
}

static int refuse(const char *problem, const char *what, void (*usage)(FILE *))
{
    fprintf(stderr, "mcpgate: %s%s\n", problem, what);
    usage(stderr);
    return 2;
}

int mg_cli_parse(int argc, char **argv, unsigned allowed, mg_cli_options_t *options, void (*usage)(FILE *))
{
    static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                                 {"json", no_argument, NULL, 'j'},
                                                 {"name", required_argument, NULL, 'n'},
                                                 {"roles", required_argument, NULL, 'r'},
                                                 {"expires", required_argument, NULL, 'e'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    static const struct { /* in the order of long_options, whose names the messages use */
        int option;
        unsigned flag;
    } flags[] = {
        {'c', MG_CLI_CONFIG}, {'j', MG_CLI_JSON}, {'n', MG_CLI_NAME}, {'r', MG_CLI_ROLES}, {'e', MG_CLI_EXPIRES}};
    int option;
    memset(options, 0, sizeof(*options));
    optind = 1;
    opterr = 0;
    while ((option = getopt_long(argc, argv, "c:h", long_options, NULL)) != -1) {
        if (option == 'h') {
            usage(stdout);
            return -1;
        }
        if (option == '?' || option == ':')
            return refuse("unknown option or missing value: ", argv[optind - 1], usage);
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
            if (flags[i].option == option && (allowed & flags[i].flag) == 0)
                return refuse("this command does not take --", long_options[i].name, usage);
        }
        switch (option) {
        case 'c':
            options->config_path = optarg;
            break;
        case 'j':
            options->json = true;
            break;
        case 'n':
            options->name = optarg;
            break;
        case 'r':
            options->roles = optarg;
            break;
        case 'e':
            options->expires = optarg;
            break;
        }
    }
    int operands = argc - optind;
    if ((allowed & MG_CLI_POSITIONAL) != 0 && operands == 1)
        options->operand = argv[optind];
    else if ((allowed & MG_CLI_POSITIONAL) != 0 && operands == 0)
        return refuse("missing argument", "", usage);
    else if (operands > 0)
        return refuse("unexpected argument: ", argv[(allowed & MG_CLI_POSITIONAL) != 0 ? optind + 1 : optind], usage);
    return 0;
}

void mg_cli_format_time(int64_t when, const char *never, char out[32])
{
    mg_store_format_time(when, never, out);
}
