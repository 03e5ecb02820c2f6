/*
 * audit.c - `mcpgate audit verify | query | pubkey`: reading the audit trail back.
 *
 * verify walks the hash chain of one file or of rotated files given oldest first (audit_verify.h)
 * and exits 0 when it is intact, 1 at the first break, printed as "FILE:LINE: KIND: what" on
 * stdout, 2 on a usage error. With --key (the public key `audit pubkey` prints) every checkpoint's
 * signature is checked too; the key is given on the command line rather than read from the
 * configuration so that an auditor can verify a copy of the trail without the gateway's secrets.
 *
 * query first catches the SQLite index (audit.sqlite of -c CONFIG, or --db PATH) up with the trail
 * (audit.file, or the trail the index names), as the gateway's own indexer would, so that it sees
 * every record written before it started; then it reads. Both can run while the gateway writes.
 */
#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "audit/audit_verify.h"
#include "cli/cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mcpgate audit verify FILE [FILE...] [--key PUBLIC_KEY] [--partial] [--max-unsigned N]\n"
            "       mcpgate audit query (-c FILE | --db PATH) [--since TIME] [--until TIME] [--principal SUBJECT]\n"
            "                           [--tool NAME] [--server NAME] [--method METHOD] [--decision DECISION]\n"
            "                           [--limit N] [--json] [--no-catch-up]\n"
            "       mcpgate audit pubkey -c FILE [--json]\n"
            "\n"
            "verify   checks the hash chain of the audit file, or of rotated files given oldest first; exits 0\n"
            "         when intact, 1 at the first edited, deleted, inserted or reordered line (printed as\n"
            "         FILE:LINE: KIND: ...), 2 on a usage error\n"
            "  --key PUBLIC_KEY   base64 Ed25519 public key (from `audit pubkey`): checkpoint signatures are checked\n"
            "  --partial          the first file continues an older trail that is not given\n"
            "  --max-unsigned N   with --key: fail when more than N records follow the last signed checkpoint\n"
            "query    prints the records of the SQLite index (audit.sqlite) that match every filter given, after\n"
            "         adding what the trail holds beyond the index (--no-catch-up: read the index as it is)\n"
            "  --since, --until TIME  2026-05-01, 2026-05-01T10:00:00Z, or a time ago: 90s, 15m, 2h, 7d\n"
            "  --principal SUBJECT    the principal's subject\n"
            "  --tool NAME            a tool: its name, or SERVER/NAME\n"
            "  --decision DECISION    allow, deny, hidden, redact, hold, rate_limited, error\n"
            "  --limit N              the N most recent matches (default 100), oldest first\n"
            "  --json                 the records' JSON lines as written in the file\n"
            "pubkey   prints the public key of audit.signing_key, for verify --key\n");
}

static int refuse(const char *problem, const char *what)
{
    fprintf(stderr, "mcpgate audit: %s%s\n", problem, what);
    usage(stderr);
    return 2;
}

/* --- verify ----------------------------------------------------------------------------------- */

typedef struct st_line_reader_t {
    char **files;
    size_t files_len, file_index;
    FILE *current;
    uint64_t line_no;
    char *text;
    size_t cap;
    ssize_t len; /* -1: nothing (end) */
} line_reader_t;

/* Reads the next line of the sequence of files into reader->text; -1 at the end or on error. */
static int reader_next(line_reader_t *reader, const char **file, uint64_t *line_no)
{
    for (;;) {
        if (reader->current == NULL) {
            if (reader->file_index == reader->files_len)
                return reader->len = -1;
            if ((reader->current = fopen(reader->files[reader->file_index], "rb")) == NULL) {
                fprintf(stderr, "mcpgate audit: %s: %s\n", reader->files[reader->file_index], strerror(errno));
                return reader->len = -2;
            }
            reader->line_no = 0;
        }
        reader->len = getline(&reader->text, &reader->cap, reader->current);
        if (reader->len >= 0) {
            if (reader->len > 0 && reader->text[reader->len - 1] == '\n')
                reader->text[--reader->len] = '\0';
            *file = reader->files[reader->file_index];
            *line_no = ++reader->line_no;
            return 0;
        }
        fclose(reader->current);
        reader->current = NULL;
        reader->file_index++;
    }
}

static int decode_key(const char *text, unsigned char key[crypto_sign_PUBLICKEYBYTES])
{
    size_t len = 0;
    return sodium_base642bin(key, crypto_sign_PUBLICKEYBYTES, text, strlen(text), NULL, &len, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
                   len == crypto_sign_PUBLICKEYBYTES
               ? 0
               : -1;
}

static int run_verify(mg_audit_verifier_t *verifier, line_reader_t *current, line_reader_t *ahead)
{
    const char *file = NULL, *next_file;
    uint64_t line_no = 0, next_line_no;
    int rc = reader_next(ahead, &next_file, &next_line_no);
    while (rc == 0) {
        /* the look-ahead becomes the current line */
        char *swap_text = current->text;
        size_t swap_cap = current->cap;
        current->text = ahead->text;
        current->cap = ahead->cap;
        current->len = ahead->len;
        ahead->text = swap_text;
        ahead->cap = swap_cap;
        file = next_file;
        line_no = next_line_no;
        rc = reader_next(ahead, &next_file, &next_line_no);
        if (rc == -2)
            return 2;
        if (mg_audit_verifier_feed(verifier, file, line_no, current->text, (size_t)current->len,
                                   rc == 0 ? ahead->text : NULL, rc == 0 ? (size_t)ahead->len : 0) != 0)
            return 1;
    }
    if (rc == -2)
        return 2;
    return mg_audit_verifier_finish(verifier) == 0 ? 0 : 1;
}

static int command_verify(int argc, char **argv)
{
    static const struct option options[] = {{"key", required_argument, NULL, 'k'},
                                            {"partial", no_argument, NULL, 'p'},
                                            {"max-unsigned", required_argument, NULL, 'm'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *key_text = NULL;
    bool partial = false;
    unsigned long long max_unsigned = 0;
    int option;
    optind = 1;
    opterr = 0;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end;
        switch (option) {
        case 'k':
            key_text = optarg;
            break;
        case 'p':
            partial = true;
            break;
        case 'm':
            errno = 0;
            max_unsigned = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] < '0' || optarg[0] > '9')
                return refuse("--max-unsigned must be a number: ", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return refuse("unknown option or missing value: ", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return refuse("verify needs at least one FILE", "");
    unsigned char key[crypto_sign_PUBLICKEYBYTES];
    if (key_text != NULL && decode_key(key_text, key) != 0)
        return refuse("--key must be the base64 text of a 32-byte Ed25519 public key: ", key_text);
    if (sodium_init() < 0)
        return 1;
    mg_audit_verifier_t verifier;
    mg_audit_verifier_init(&verifier, key_text != NULL ? key : NULL, partial, max_unsigned);
    line_reader_t current = {0}, ahead = {.files = argv + optind, .files_len = (size_t)(argc - optind)};
    int rc = run_verify(&verifier, &current, &ahead);
    if (ahead.current != NULL)
        fclose(ahead.current);
    free(current.text);
    free(ahead.text);
    if (rc == 2)
        return 1;
    if (rc != 0) {
        printf("%s:%llu: %s: %s\n", verifier.file != NULL ? verifier.file : argv[optind],
               (unsigned long long)verifier.line_no, mg_audit_break_name(verifier.result), verifier.message);
        return 1;
    }
    if (verifier.records == 0 && verifier.checkpoints == 0) {
        printf("intact: no records\n");
        return 0;
    }
    printf("intact: %llu records (seq %llu to %llu), %llu checkpoints", (unsigned long long)verifier.records,
           (unsigned long long)verifier.first_seq, (unsigned long long)verifier.seq,
           (unsigned long long)verifier.checkpoints);
    if (verifier.has_key)
        printf(", %llu signatures verified with key %s", (unsigned long long)verifier.signed_checkpoints,
               verifier.key_id);
    printf("\n");
    if (verifier.has_key && verifier.since_checkpoint > 0)
        printf("warning: the last %llu records follow the last signed checkpoint: their removal from the end "
               "would not show\n",
               (unsigned long long)verifier.since_checkpoint);
    if (!verifier.has_key && verifier.checkpoints > 0)
        printf("note: checkpoint signatures were not checked (no --key)\n");
    return 0;
}

/* --- query ------------------------------------------------------------------------------------ */

/* TIME as microseconds since the epoch; -1 when it is none of the accepted forms. */
static int64_t parse_time(const char *text)
{
    size_t digits = strspn(text, "0123456789");
    if (digits > 0 && digits < 10 && text[digits] != '\0' && text[digits + 1] == '\0') {
        int64_t unit = text[digits] == 's'   ? 1
                       : text[digits] == 'm' ? 60
                       : text[digits] == 'h' ? 3600
                       : text[digits] == 'd' ? 86400
                                             : 0;
        if (unit == 0)
            return -1;
        return mg_audit_now_us() - (int64_t)strtoll(text, NULL, 10) * unit * 1000000;
    }
    return mg_audit_parse_time(text);
}

typedef struct st_query_t {
    const char *config_path, *db_path, *since, *until, *principal, *tool, *server, *method, *decision;
    long limit;
    bool json, no_catch_up;
} query_t;

static int parse_query(int argc, char **argv, query_t *query)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"db", required_argument, NULL, 'd'},
                                            {"since", required_argument, NULL, 's'},
                                            {"until", required_argument, NULL, 'u'},
                                            {"principal", required_argument, NULL, 'p'},
                                            {"tool", required_argument, NULL, 't'},
                                            {"server", required_argument, NULL, 'S'},
                                            {"method", required_argument, NULL, 'M'},
                                            {"decision", required_argument, NULL, 'D'},
                                            {"limit", required_argument, NULL, 'l'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"no-catch-up", no_argument, NULL, 'n'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int option;
    char *end;
    memset(query, 0, sizeof(*query));
    query->limit = 100;
    optind = 1;
    opterr = 0;
    while ((option = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (option) {
        case 'c':
            query->config_path = optarg;
            break;
        case 'd':
            query->db_path = optarg;
            break;
        case 's':
            query->since = optarg;
            break;
        case 'u':
            query->until = optarg;
            break;
        case 'p':
            query->principal = optarg;
            break;
        case 't':
            query->tool = optarg;
            break;
        case 'S':
            query->server = optarg;
            break;
        case 'M':
            query->method = optarg;
            break;
        case 'D':
            query->decision = optarg;
            break;
        case 'j':
            query->json = true;
            break;
        case 'n':
            query->no_catch_up = true;
            break;
        case 'l':
            query->limit = strtol(optarg, &end, 10);
            if (*end != '\0' || query->limit < 1)
                return refuse("--limit must be a positive number: ", optarg);
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return refuse("unknown option or missing value: ", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return refuse("unexpected argument: ", argv[optind]);
    if ((query->config_path == NULL) == (query->db_path == NULL))
        return refuse("query needs exactly one of -c FILE and --db PATH", "");
    if (query->decision != NULL && mg_audit_decision_parse(query->decision) < 0)
        return refuse("--decision must be allow, deny, hidden, redact, hold, rate_limited or error: ", query->decision);
    if (query->since != NULL && parse_time(query->since) < 0)
        return refuse("--since: not a time (2026-05-01, 2026-05-01T10:00:00Z, 15m, 2h, 7d): ", query->since);
    if (query->until != NULL && parse_time(query->until) < 0)
        return refuse("--until: not a time (2026-05-01, 2026-05-01T10:00:00Z, 15m, 2h, 7d): ", query->until);
    return 0;
}

static void print_row(sqlite3_stmt *stmt)
{
    char time_text[32];
    mg_audit_format_time(sqlite3_column_int64(stmt, 1), time_text);
#define COLUMN(i) (sqlite3_column_text(stmt, i) != NULL ? (const char *)sqlite3_column_text(stmt, i) : "-")
    printf("%s seq=%lld %s principal=%s method=%s server=%s item=%s rule=%s status=%s", time_text,
           (long long)sqlite3_column_int64(stmt, 0), COLUMN(7), COLUMN(2), COLUMN(6), COLUMN(3), COLUMN(5), COLUMN(8),
           COLUMN(9));
    if (sqlite3_column_type(stmt, 10) != SQLITE_NULL)
        printf(" total_us=%lld", (long long)sqlite3_column_int64(stmt, 10));
    printf("\n");
#undef COLUMN
}

static int run_query(const query_t *query, const char *db_path)
{
    char sql[1024] = "SELECT seq, time_us, subject, server, item_kind, item, method, decision, rule, status, "
                     "total_us, line FROM audit WHERE 1=1";
    const char *values[8];
    int64_t times[2];
    size_t values_len = 0, times_len = 0;
    const char *tool = query->tool, *tool_server = NULL;
    char server_part[256];
    if (tool != NULL && strchr(tool, '/') != NULL && (size_t)(strchr(tool, '/') - tool) < sizeof(server_part)) {
        snprintf(server_part, sizeof(server_part), "%.*s", (int)(strchr(tool, '/') - tool), tool);
        tool_server = server_part;
        tool = strchr(tool, '/') + 1;
    }
#define FILTER(value, clause)                                                                                          \
    if ((value) != NULL) {                                                                                             \
        strcat(sql, clause);                                                                                           \
        values[values_len++] = (value);                                                                                \
    }
    FILTER(query->principal, " AND subject = ?")
    FILTER(tool, " AND item_kind = 'tool' AND item = ?")
    FILTER(tool_server, " AND server = ?")
    FILTER(query->server, " AND server = ?")
    FILTER(query->method, " AND method = ?")
    FILTER(query->decision, " AND decision = ?")
#undef FILTER
    if (query->since != NULL) {
        strcat(sql, " AND time_us >= ?");
        times[times_len++] = parse_time(query->since);
    }
    if (query->until != NULL) {
        strcat(sql, " AND time_us <= ?");
        times[times_len++] = parse_time(query->until);
    }
    char wrapped[1400];
    snprintf(wrapped, sizeof(wrapped), "SELECT * FROM (%s ORDER BY seq DESC LIMIT ?) ORDER BY seq", sql);
    sqlite3 *db;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 5000) != SQLITE_OK || sqlite3_prepare_v2(db, wrapped, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "mcpgate audit: %s: %s\n", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    int at = 1;
    for (size_t i = 0; i < values_len; i++)
        sqlite3_bind_text(stmt, at++, values[i], -1, SQLITE_STATIC);
    for (size_t i = 0; i < times_len; i++)
        sqlite3_bind_int64(stmt, at++, times[i]);
    sqlite3_bind_int64(stmt, at, query->limit);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (query->json)
            printf("%s\n", (const char *)sqlite3_column_text(stmt, 11));
        else
            print_row(stmt);
    }
    int status = rc == SQLITE_DONE ? 0 : 1;
    if (status != 0)
        fprintf(stderr, "mcpgate audit: %s: %s\n", db_path, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return status;
}

/* Adds to the index what the trail holds beyond it. `trail` NULL: the one the index names (and no
 * index: nothing to do); given, a missing index is built from the whole trail. A failure is
 * reported and the query goes on with the index as it is. */
static void catch_up(const char *db_path, const char *trail)
{
    mg_audit_index_t *index;
    mg_audit_follow_t *follow = NULL;
    mg_audit_position_t position;
    mg_error_t err;
    bool caught_up;
    uint64_t skipped = 0;
    if (trail == NULL && access(db_path, F_OK) != 0)
        return; /* the query says there is no index */
    if (mg_audit_index_open(db_path, &index, &err) != 0) {
        fprintf(stderr, "mcpgate audit: cannot catch the index up with the trail (it may lack recent records): %s\n",
                err.message);
        return;
    }
    if (trail == NULL && mg_audit_index_position(index, &position, &err) == 0 && position.trail[0] != '\0') {
        trail = position.trail;
        if (access(trail, F_OK) != 0) { /* moved or deleted: say so rather than answer from a stale index */
            fprintf(stderr,
                    "mcpgate audit: the index follows %s, which is not there (%s): the answer may lack its latest "
                    "records; query with -c CONFIG to name the trail\n",
                    trail, strerror(errno));
            mg_audit_index_close(index);
            return;
        }
    }
    if (trail != NULL && (mg_audit_follow_create(trail, index, &follow, &err) != 0 ||
                          mg_audit_follow_run(follow, 0, &caught_up, &skipped, &err) != 0))
        fprintf(stderr, "mcpgate audit: cannot catch the index up with the trail (it may lack recent records): %s\n",
                err.message);
    if (skipped > 0)
        fprintf(stderr,
                "mcpgate audit: %llu line(s) of %s are not records and were not indexed (audit verify says more)\n",
                (unsigned long long)skipped, trail);
    mg_audit_follow_destroy(follow);
    mg_audit_index_close(index);
}

static int command_query(int argc, char **argv)
{
    query_t query;
    int rc = parse_query(argc, argv, &query);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (query.db_path != NULL) {
        if (!query.no_catch_up)
            catch_up(query.db_path, NULL);
        return run_query(&query, query.db_path);
    }
    mg_config_t *config;
    mg_error_t err;
    if (mg_cli_load_config(query.config_path, MG_CONFIG_FULL, &config, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    if (config->audit.sqlite == NULL) {
        fprintf(stderr, "mcpgate audit: %s has no audit.sqlite index to query\n", query.config_path);
        mg_config_release(config);
        return 1;
    }
    if (!query.no_catch_up)
        catch_up(config->audit.sqlite, config->audit.file);
    rc = run_query(&query, config->audit.sqlite);
    mg_config_release(config);
    return rc;
}

/* --- pubkey ----------------------------------------------------------------------------------- */

static int command_pubkey(int argc, char **argv)
{
    mg_cli_options_t options;
    int rc = mg_cli_parse(argc, argv, MG_CLI_CONFIG | MG_CLI_JSON, &options, usage);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (options.config_path == NULL)
        return refuse("pubkey needs -c FILE", "");
    mg_config_t *config;
    mg_error_t err;
    if (sodium_init() < 0 || mg_cli_load_config(options.config_path, MG_CONFIG_FULL, &config, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    if (!config->audit.has_signing_key) {
        fprintf(stderr, "mcpgate audit: %s has no audit.signing_key\n", options.config_path);
        mg_config_release(config);
        return 1;
    }
    char public_key[MG_AUDIT_PUBLIC_KEY_TEXT], key_id[MG_AUDIT_KEY_ID_TEXT];
    mg_audit_public_key(config->audit.signing_seed, public_key, key_id);
    mg_config_release(config);
    if (options.json)
        printf("{\"public_key\":\"%s\",\"key_id\":\"%s\"}\n", public_key, key_id);
    else
        printf("%s\n", public_key);
    return 0;
}

int mg_cli_audit(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "verify") == 0)
        return command_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "query") == 0)
        return command_query(argc - 1, argv + 1);
    if (strcmp(argv[1], "pubkey") == 0)
        return command_pubkey(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    return refuse("unknown audit command: ", argv[1]);
}
