/*
 * scan.c - `mcpgate scan`: the guards' detectors over a file or stdin, one JSON line per finding.
 *
 * It is the engine the gateway runs (src/guard/), with the actions a configuration gives (-c FILE; the
 * defaults of docs/guards.md without one), so that an operator can try a custom detector, and the
 * detection report (scripts/detection-report.mjs) can measure the real thing. With --json-input the
 * input is one MCP JSON-RPC message, scanned string by string the way the gateway scans it
 * (guard/message.h), each finding naming its string by JSON pointer. A finding never prints what it
 * matched: offset and length say where, the type says what.
 *
 * Exit status: 0 no findings, 1 findings, 2 a usage, configuration or input error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "guard/actions.h"
#include "guard/detect.h"
#include "guard/message.h"

#define MAX_INPUT_BYTES (256u * 1024 * 1024)
#define MAX_OTHER_TOOLS 1024

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mcpgate scan [--kind KINDS] [-c FILE] [--json-input] [--direction requests|responses]\n"
            "                    [--other-tools NAME,...] [--redact] [FILE|-]\n"
            "\n"
            "  --kind KINDS         secrets, pii, injection, poisoning or all (default), or a comma-separated list\n"
            "  -c, --config FILE    take actions and custom detectors from FILE's `guards` section\n"
            "                       (default: the built-in detectors and the default actions)\n"
            "  --json-input         the input is one MCP JSON-RPC message: scan its strings as the gateway does\n"
            "                       and name each by JSON pointer (\"path\")\n"
            "  --direction DIR      for plain text: which way it travels, for the action (default responses)\n"
            "  --other-tools LIST   poisoning: other servers' tool names whose mention is shadowing\n"
            "  --redact             print the input with the findings replaced by [REDACTED:type] instead\n"
            "\n"
            "Prints one JSON line per finding: {\"kind\",\"type\",\"offset\",\"length\",\"score\",\"action\"}\n"
            "(+ \"path\" with --json-input); offsets and lengths are bytes of the scanned string.\n"
            "Exits 0 without findings, 1 with findings, 2 on a usage, configuration or input error.\n");
}

typedef struct st_scan_t {
    const mg_config_guards_t *guards;
    const mg_guard_detectors_t *detectors;
    mg_guard_scratch_t *scratch;
    mg_guard_scan_options_t options;
    unsigned kinds;
    bool request, redact;
    mg_guard_findings_t findings;
    size_t total;
    mg_error_t err;
} scan_t;

static int parse_kinds(const char *text, unsigned *out)
{
    *out = 0;
    char *copy = strdup(text), *save = NULL;
    if (copy == NULL)
        return -1;
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        unsigned kind = strcmp(item, "all") == 0 ? MG_GUARD_ALL : mg_guard_kind_parse(item);
        if (kind == 0) {
            free(copy);
            return -1;
        }
        *out |= kind;
    }
    free(copy);
    return *out != 0 ? 0 : -1;
}

static int read_input(const char *path, char **out, size_t *out_len)
{
    FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "mcpgate: %s: cannot open\n", path);
        return -1;
    }
    size_t len = 0, capacity = 65536;
    char *text = malloc(capacity);
    while (text != NULL) {
        if (len == capacity) {
            char *grown = capacity < MAX_INPUT_BYTES ? realloc(text, capacity * 2) : NULL;
            if (grown == NULL) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
            capacity *= 2;
        }
        size_t got = fread(text + len, 1, capacity - len, file);
        len += got;
        if (got == 0)
            break;
    }
    bool failed = text == NULL || ferror(file);
    if (file != stdin)
        fclose(file);
    if (failed) {
        free(text);
        fprintf(stderr, "mcpgate: %s: cannot read (or larger than %u bytes)\n", path, MAX_INPUT_BYTES);
        return -1;
    }
    *out = text;
    *out_len = len;
    return 0;
}

static void print_findings(scan_t *scan, const char *pointer, bool request)
{
    for (size_t i = 0; i < scan->findings.len; i++) {
        const mg_guard_finding_t *f = &scan->findings.items[i];
        json_t *line =
            json_pack("{s:s, s:s, s:I, s:I, s:f, s:s}", "kind", mg_guard_kind_name(f->kind), "type",
                      mg_guard_detector_type(scan->detectors, f->detector), "offset", (json_int_t)f->offset, "length",
                      (json_int_t)f->length, "score", (double)f->score, "action",
                      mg_guard_action_name(mg_guard_finding_action(scan->guards, scan->detectors, f, request)));
        if (line == NULL)
            continue;
        if (pointer != NULL)
            json_object_set_new(line, "path", json_string(pointer));
        json_dumpf(line, stdout, JSON_COMPACT | JSON_REAL_PRECISION(3));
        fputc('\n', stdout);
        json_decref(line);
    }
    scan->total += scan->findings.len;
}

static int scan_text(scan_t *scan, const char *text, size_t len, unsigned kinds)
{
    mg_guard_findings_clear(&scan->findings);
    scan->options.kinds = kinds;
    return mg_guard_scan(scan->detectors, scan->scratch, text, len, &scan->options, &scan->findings, &scan->err);
}

static int visit_string(void *context, const mg_guard_message_string_t *string)
{
    scan_t *scan = context;
    unsigned kinds = string->kinds & scan->kinds;
    if (kinds == 0)
        return 0;
    if (scan_text(scan, string->text, string->len, kinds) != 0)
        return -1;
    if (!scan->redact) {
        print_findings(scan, string->pointer, string->request);
        return 0;
    }
    scan->total += scan->findings.len;
    if (scan->findings.len == 0 || string->value == NULL)
        return 0;
    char *redacted;
    size_t redacted_len;
    if (mg_guard_redact(scan->detectors, string->text, string->len, scan->findings.items, scan->findings.len, &redacted,
                        &redacted_len, &scan->err) != 0)
        return -1;
    int rc = json_string_setn(string->value, redacted, redacted_len);
    free(redacted);
    return rc == 0 ? 0 : mg_error_set(&scan->err, "%s: the redacted string is not valid UTF-8", string->pointer);
}

static int scan_message(scan_t *scan, const char *text, size_t len)
{
    json_error_t error;
    json_t *message = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (message == NULL) {
        fprintf(stderr, "mcpgate: input line %d column %d: %s\n", error.line, error.column, error.text);
        return 2;
    }
    int rc = mg_guard_message_walk(message, visit_string, scan, &scan->err);
    if (rc == 0 && scan->redact) {
        json_dumpf(message, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    }
    json_decref(message);
    if (rc != 0) {
        fprintf(stderr, "mcpgate: %s\n", scan->err.message);
        return 2;
    }
    return 0;
}

static int scan_plain(scan_t *scan, const char *text, size_t len)
{
    if (scan_text(scan, text, len, scan->kinds) != 0) {
        fprintf(stderr, "mcpgate: %s\n", scan->err.message);
        return 2;
    }
    if (!scan->redact) {
        print_findings(scan, NULL, scan->request);
        return 0;
    }
    scan->total += scan->findings.len;
    char *redacted;
    size_t redacted_len;
    if (mg_guard_redact(scan->detectors, text, len, scan->findings.items, scan->findings.len, &redacted, &redacted_len,
                        &scan->err) != 0) {
        fprintf(stderr, "mcpgate: %s\n", scan->err.message);
        return 2;
    }
    fwrite(redacted, 1, redacted_len, stdout);
    free(redacted);
    return 0;
}

/* --other-tools a,b,c into a NULL-terminated array of pointers into `list` (modified in place). */
static size_t split_tools(char *list, const char **names)
{
    size_t count = 0;
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item != NULL && count < MAX_OTHER_TOOLS;
         item = strtok_r(NULL, ",", &save))
        names[count++] = item;
    return count;
}

int mg_cli_scan(int argc, char **argv)
{
    static const struct option options[] = {{"kind", required_argument, NULL, 'k'},
                                            {"config", required_argument, NULL, 'c'},
                                            {"json-input", no_argument, NULL, 'j'},
                                            {"direction", required_argument, NULL, 'd'},
                                            {"other-tools", required_argument, NULL, 'o'},
                                            {"redact", no_argument, NULL, 'r'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *input = "-";
    char *other_tools = NULL;
    bool json_input = false;
    scan_t scan = {.kinds = MG_GUARD_ALL};
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (option) {
        case 'k':
            if (parse_kinds(optarg, &scan.kinds) != 0) {
                fprintf(stderr, "mcpgate: --kind: \"%s\" is not secrets, pii, injection, poisoning or all\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'j':
            json_input = true;
            break;
        case 'd':
            if (strcmp(optarg, "requests") != 0 && strcmp(optarg, "responses") != 0) {
                fprintf(stderr, "mcpgate: --direction must be requests or responses\n");
                usage(stderr);
                return 2;
            }
            scan.request = strcmp(optarg, "requests") == 0;
            break;
        case 'o':
            other_tools = optarg;
            break;
        case 'r':
            scan.redact = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "mcpgate: unexpected argument: %s\n", argv[optind + 1]);
        usage(stderr);
        return 2;
    }
    if (optind < argc)
        input = argv[optind];

    mg_config_t *config = NULL;
    mg_config_guards_t defaults = {0};
    mg_guard_detectors_t *own_detectors = NULL;
    const char **names = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = 2;
    if (config_path != NULL && mg_config_load_file(config_path, &config, &scan.err) != 0) {
        fprintf(stderr, "%s\n", scan.err.message);
        return 2;
    }
    if (config != NULL && config->guards.enabled) {
        scan.guards = &config->guards;
        scan.detectors = config->guards.detectors;
    } else {
        mg_config_guards_defaults(&defaults);
        scan.guards = &defaults;
        if (mg_guard_detectors_create(NULL, 0, &own_detectors, NULL, &scan.err) != 0) {
            fprintf(stderr, "mcpgate: %s\n", scan.err.message);
            goto done;
        }
        scan.detectors = own_detectors;
    }
    if (other_tools != NULL) {
        if ((other_tools = strdup(other_tools)) == NULL || (names = calloc(MAX_OTHER_TOOLS, sizeof(*names))) == NULL)
            goto done;
        scan.options.other_tools = names;
        scan.options.other_tools_len = split_tools(other_tools, names);
    }
    if (mg_guard_scratch_create(&scan.scratch, &scan.err) != 0 || read_input(input, &text, &len) != 0)
        goto done;
    rc = json_input ? scan_message(&scan, text, len) : scan_plain(&scan, text, len);
    if (rc == 0 && scan.total > 0)
        rc = 1;
    if (scan.findings.truncated)
        fprintf(stderr, "mcpgate: warning: the input produced more candidates than a scan examines; some may be "
                        "missing\n");
done:
    fflush(stdout);
    free(text);
    free(names);
    free(other_tools);
    mg_guard_findings_dispose(&scan.findings);
    mg_guard_scratch_destroy(scan.scratch);
    mg_guard_detectors_destroy(own_detectors);
    mg_config_release(config);
    return rc;
}
