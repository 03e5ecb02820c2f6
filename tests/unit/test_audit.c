/*
 * test_audit.c - the audit trail: its configuration, the writer, the chain across restarts and
 * rotations, backpressure, argument modes, checkpoints, and the verifier's judgement of tampering.
 *
 * Trails are written by the real module into a temporary directory and read back line by line into
 * the verifier, as `mcpgate audit verify` does; tampering is done on the lines in memory.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_load.h"
#include <sodium.h>

#include "audit/audit.h"
#include "audit/audit_internal.h"
#include "audit/audit_verify.h"
#include "config/config.h"
#include "temp_tree.h"

/* --- configuration ---------------------------------------------------------------------------- */

static void test_config_full(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("audit:\n"
                                  "  file: audit/trail.jsonl\n"
                                  "  sqlite: /var/lib/mcpgate/audit.sqlite\n"
                                  "  fsync: 250\n"
                                  "  arguments: digest\n"
                                  "  signing_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                                  "  checkpoint_every: 50\n"
                                  "  rotate: {size: 100MB, interval: 24h}\n"
                                  "  queue: 128\n");
    const mg_config_audit_t *audit = &config->audit;
    assert_true(audit->enabled);
    assert_string_equal(audit->file, "/etc/mcpgate/audit/trail.jsonl");
    assert_string_equal(audit->sqlite, "/var/lib/mcpgate/audit.sqlite");
    assert_int_equal(audit->fsync, MG_AUDIT_FSYNC_INTERVAL);
    assert_int_equal(audit->fsync_interval_ms, 250);
    assert_int_equal(audit->arguments, MG_AUDIT_ARGUMENTS_DIGEST);
    assert_true(audit->has_signing_key);
    for (int i = 0; i < 32; i++)
        assert_int_equal(audit->signing_seed[i], i);
    assert_int_equal(audit->checkpoint_every, 50);
    assert_int_equal(audit->rotate_size, 100ULL * 1024 * 1024);
    assert_int_equal(audit->rotate_interval_s, 86400);
    assert_int_equal(audit->queue, 128);
    mg_config_release(config);
}

static void test_config_defaults(void **state)
{
    (void)state;
    mg_config_t *config = load_ok("log_level: info\n");
    assert_false(config->audit.enabled);
    mg_config_release(config);
    config = load_ok("audit:\n  file: a.jsonl\n  fsync: never\n  rotate: {size: 4096}\n");
    assert_true(config->audit.enabled);
    assert_null(config->audit.sqlite);
    assert_int_equal(config->audit.fsync, MG_AUDIT_FSYNC_NEVER);
    assert_int_equal(config->audit.arguments, MG_AUDIT_ARGUMENTS_REDACTED);
    assert_false(config->audit.has_signing_key);
    assert_int_equal(config->audit.checkpoint_every, 1000);
    assert_int_equal(config->audit.queue, 65536);
    assert_int_equal(config->audit.rotate_size, 4096);
    assert_int_equal(config->audit.rotate_interval_s, 0);
    mg_config_release(config);
    config = load_ok("audit:\n  file: a.jsonl\n");
    assert_int_equal(config->audit.fsync, MG_AUDIT_FSYNC_ALWAYS);
    mg_config_release(config);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("audit:\n  sqlite: a.db\n", "gw.yaml:2:3: audit: missing required key \"file\"");
    expect_error("audit:\n  file: a.jsonl\n  fsnyc: always\n",
                 "gw.yaml:3:3: audit: unknown key \"fsnyc\" (did you mean \"fsync\"?)");
    expect_error("audit:\n  file: a.jsonl\n  fsync: sometimes\n",
                 "gw.yaml:3:10: audit.fsync: \"sometimes\" must be always, never, or milliseconds between syncs "
                 "(1..3600000)");
    expect_error("audit:\n  file: a.jsonl\n  arguments: all\n",
                 "gw.yaml:3:14: audit.arguments: \"all\" must be redacted, digest or full");
    expect_error("audit:\n  file: a.jsonl\n  signing_key: c2hvcnQ=\n",
                 "gw.yaml:3:16: audit.signing_key: must be the base64 text of a 32-byte Ed25519 seed (e.g. `head "
                 "-c32 /dev/urandom | base64`, stored with `mcpgate secrets set`)");
    expect_error("audit:\n  file: a.jsonl\n  rotate: {size: 10XB}\n",
                 "gw.yaml:3:18: audit.rotate.size: \"10XB\" must be a size of at least 4096 bytes, e.g. 100MB (K, M, "
                 "G are 1024-based)");
    expect_error("audit:\n  file: a.jsonl\n  rotate: {interval: 24}\n",
                 "gw.yaml:3:22: audit.rotate.interval: \"24\" must be a duration with a unit (s, m, h, d), e.g. 24h, "
                 "at most 366d");
    expect_error("audit:\n  file: a.jsonl\n  rotate: {every: 1h}\n",
                 "gw.yaml:3:12: audit.rotate: unknown key \"every\"");
    expect_error("audit:\n  file: a.jsonl\n  queue: 0\n", "gw.yaml:3:10: audit.queue: 0 is out of range 1..16777216");
    expect_error("audit:\n  file: a.db\n  sqlite: a.db\n",
                 "gw.yaml:3:11: audit.sqlite: must not be the same file as audit.file");
}

/* --- trails ----------------------------------------------------------------------------------- */

static const char seed_b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

typedef struct st_trail_t {
    char root[128];
    char path[256];
    mg_config_audit_t config;
} trail_t;

static void trail_init(trail_t *trail, const char *name)
{
    assert_int_equal(temp_tree_make(trail->root, sizeof(trail->root), name), 0);
    snprintf(trail->path, sizeof(trail->path), "%s/audit.jsonl", trail->root);
    memset(&trail->config, 0, sizeof(trail->config));
    trail->config.enabled = true;
    trail->config.file = trail->path;
    trail->config.fsync = MG_AUDIT_FSYNC_ALWAYS;
    trail->config.checkpoint_every = 1000;
    trail->config.queue = 1024;
}

static void trail_sign(trail_t *trail, uint64_t every)
{
    for (int i = 0; i < 32; i++)
        trail->config.signing_seed[i] = (unsigned char)i;
    trail->config.has_signing_key = true;
    trail->config.checkpoint_every = every;
}

static mg_audit_t *open_trail(const trail_t *trail)
{
    mg_audit_t *audit = NULL;
    mg_error_t err = {{0}};
    if (mg_audit_create(&trail->config, &audit, &err) != 0 || mg_audit_start(audit, &err) != 0)
        fail_msg("%s", err.message);
    return audit;
}

static void emit(mg_audit_t *audit, int n, const json_t *arguments)
{
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    mg_error_t err = {{0}};
    char item[32];
    snprintf(item, sizeof(item), "tool-%d", n);
    event.principal.subject = "alice";
    event.server = "everything";
    event.item_kind = MG_AUDIT_ITEM_TOOL;
    event.item_name = item;
    event.method = "tools/call";
    event.decision = MG_AUDIT_ALLOW;
    event.arguments = arguments;
    if (mg_audit_emit(audit, &event, &err) != 0)
        fail_msg("%s", err.message);
}

static void write_records(const trail_t *trail, int from, int count)
{
    mg_audit_t *audit = open_trail(trail);
    for (int i = from; i < from + count; i++)
        emit(audit, i, NULL);
    mg_audit_destroy(audit);
}

typedef struct st_lines_t {
    char **text;
    size_t len;
} lines_t;

static void lines_read(lines_t *lines, const char *path)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, file)) > 0) {
        assert_int_equal(line[len - 1], '\n');
        line[len - 1] = '\0';
        lines->text = realloc(lines->text, (lines->len + 1) * sizeof(char *));
        lines->text[lines->len++] = strdup(line);
    }
    free(line);
    fclose(file);
}

static void lines_free(lines_t *lines)
{
    for (size_t i = 0; i < lines->len; i++)
        free(lines->text[i]);
    free(lines->text);
    lines->text = NULL;
    lines->len = 0;
}

/* Runs the verifier over the lines; returns its result. */
static mg_audit_break_t verify(const lines_t *lines, const unsigned char *public_key, mg_audit_verifier_t *out)
{
    mg_audit_verifier_t local;
    mg_audit_verifier_t *v = out != NULL ? out : &local;
    mg_audit_verifier_init(v, public_key, false, 0);
    for (size_t i = 0; i < lines->len; i++) {
        const char *next = i + 1 < lines->len ? lines->text[i + 1] : NULL;
        if (mg_audit_verifier_feed(v, "trail", i + 1, lines->text[i], strlen(lines->text[i]), next,
                                   next != NULL ? strlen(next) : 0) != 0)
            return v->result;
    }
    mg_audit_verifier_finish(v);
    return v->result;
}

static uint64_t seq_of(const char *line)
{
    mg_audit_line_t parsed;
    mg_error_t err;
    assert_int_equal(mg_audit_line_parse(line, strlen(line), &parsed, &err), 0);
    return parsed.seq;
}

static void test_chain_and_restart(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-chain");
    write_records(&trail, 0, 5);
    write_records(&trail, 5, 5); /* a restart continues the chain */
    lines_t lines = {0};
    lines_read(&lines, trail.path);
    assert_int_equal(lines.len, 10);
    assert_non_null(
        strstr(lines.text[0], "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\""));
    for (size_t i = 0; i < lines.len; i++)
        assert_int_equal(seq_of(lines.text[i]), i + 1);
    mg_audit_verifier_t v;
    assert_int_equal(verify(&lines, NULL, &v), MG_AUDIT_INTACT);
    assert_int_equal(v.records, 10);
    lines_free(&lines);
    temp_tree_remove(trail.root);
}

static void test_torn_line_is_cut(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-torn");
    write_records(&trail, 0, 3);
    FILE *file = fopen(trail.path, "ab");
    fputs("{\"seq\":4,\"prev\":\"ab", file); /* a crash in the middle of a write */
    fclose(file);
    write_records(&trail, 3, 2);
    lines_t lines = {0};
    lines_read(&lines, trail.path);
    assert_int_equal(lines.len, 5);
    assert_int_equal(verify(&lines, NULL, NULL), MG_AUDIT_INTACT);
    lines_free(&lines);
    temp_tree_remove(trail.root);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_rotation_keeps_the_chain(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-rotate");
    trail_sign(&trail, 7);
    trail.config.rotate_size = 4096;
    trail.config.fsync = MG_AUDIT_FSYNC_NEVER;
    mg_audit_t *audit = open_trail(&trail);
    for (int i = 0; i < 200; i++)
        emit(audit, i, NULL);
    mg_error_t err;
    assert_int_equal(mg_audit_flush(audit, &err), 0);
    mg_audit_stats_t stats;
    mg_audit_stats(audit, &stats);
    assert_int_equal(stats.written, 200);
    assert_true(stats.rotations >= 10);
    mg_audit_destroy(audit);

    /* the rotated files in name order (which is time order), then the current file */
    DIR *dir = opendir(trail.root);
    struct dirent *entry;
    char *names[512];
    size_t count = 0;
    while ((entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, "audit.jsonl.", 12) == 0)
            names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    qsort(names, count, sizeof(char *), compare_names);
    assert_true(count >= 10);
    lines_t lines = {0};
    char path[512];
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/%s", trail.root, names[i]);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size <= 4096);
        lines_read(&lines, path);
        free(names[i]);
    }
    lines_read(&lines, trail.path);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, trail.config.signing_seed);
    mg_audit_verifier_t v;
    assert_int_equal(verify(&lines, pk, &v), MG_AUDIT_INTACT);
    assert_int_equal(v.records, 200); /* every record once: the verifier refuses gaps and repeats */
    assert_int_equal(v.seq, 200);
    assert_true(v.signed_checkpoints >= count);
    lines_free(&lines);
    temp_tree_remove(trail.root);
}

typedef struct st_emitter_t {
    mg_audit_t *audit;
    int base;
} emitter_t;

static void *emit_many(void *arg)
{
    emitter_t *emitter = arg;
    for (int i = 0; i < 500; i++)
        emit(emitter->audit, emitter->base + i, NULL);
    return NULL;
}

static void test_backpressure(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-backpressure");
    trail.config.queue = 4;
    trail.config.fsync = MG_AUDIT_FSYNC_NEVER;
    mg_audit_t *audit = open_trail(&trail);
    pthread_t threads[4];
    emitter_t emitters[4];
    for (int i = 0; i < 4; i++) {
        emitters[i] = (emitter_t){.audit = audit, .base = i * 1000};
        pthread_create(&threads[i], NULL, emit_many, &emitters[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    mg_error_t err;
    assert_int_equal(mg_audit_flush(audit, &err), 0);
    mg_audit_stats_t stats;
    mg_audit_stats(audit, &stats);
    assert_int_equal(stats.emitted, 2000);
    assert_int_equal(stats.written, 2000);
    assert_int_equal(stats.queue_depth, 0);
    assert_int_equal(stats.queue_capacity, 4);
    assert_true(stats.backpressure_waits > 0);
    mg_audit_destroy(audit);
    lines_t lines = {0};
    lines_read(&lines, trail.path);
    assert_int_equal(lines.len, 2000);
    assert_int_equal(verify(&lines, NULL, NULL), MG_AUDIT_INTACT);
    /* each emitted record is there exactly once */
    static bool seen[4000];
    for (size_t i = 0; i < lines.len; i++) {
        const char *item = strstr(lines.text[i], "\"item\":\"tool-");
        assert_non_null(item);
        int n = atoi(item + 13);
        assert_false(seen[n]);
        seen[n] = true;
    }
    lines_free(&lines);
    temp_tree_remove(trail.root);
}

static void expect_digest(const char *line, const char *canonical)
{
    unsigned char digest[32];
    char hex[65], expected[100];
    crypto_hash_sha256(digest, (const unsigned char *)canonical, strlen(canonical));
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    snprintf(expected, sizeof(expected), "\"arguments_sha256\":\"%s\"", hex);
    assert_non_null(strstr(line, expected));
}

static void test_argument_modes(void **state)
{
    (void)state;
    static const char *const modes[] = {"redacted", "digest", "full"};
    json_t *arguments = json_loads("{\"z\":\"secret\",\"a\":[1,2.5,true,null,{\"k\":\"v\"}],\"n\":7}", 0, NULL);
    const char *canonical = "{\"a\":[1,2.5,true,null,{\"k\":\"v\"}],\"n\":7,\"z\":\"secret\"}";
    for (int mode = 0; mode < 3; mode++) {
        trail_t trail;
        trail_init(&trail, "audit-args");
        trail.config.arguments = (mg_audit_arguments_t)mode;
        mg_audit_t *audit = open_trail(&trail);
        emit(audit, 0, arguments);
        mg_audit_destroy(audit);
        lines_t lines = {0};
        lines_read(&lines, trail.path);
        assert_int_equal(lines.len, 1);
        const char *line = lines.text[0];
        char mode_member[64];
        snprintf(mode_member, sizeof(mode_member), "\"arguments_mode\":\"%s\"", modes[mode]);
        assert_non_null(strstr(line, mode_member));
        expect_digest(line, canonical);
        if (mode == MG_AUDIT_ARGUMENTS_REDACTED) {
            assert_non_null(strstr(
                line, "\"arguments\":{\"a\":[1,2.5,true,null,{\"k\":\"[REDACTED]\"}],\"n\":7,\"z\":\"[REDACTED]\"}"));
            assert_null(strstr(line, "secret"));
        } else if (mode == MG_AUDIT_ARGUMENTS_DIGEST) {
            assert_null(strstr(line, "\"arguments\":"));
            assert_null(strstr(line, "secret"));
        } else {
            char member[200];
            snprintf(member, sizeof(member), "\"arguments\":%s", canonical);
            assert_non_null(strstr(line, member));
        }
        json_t *parsed = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(parsed);
        json_decref(parsed);
        lines_free(&lines);
        temp_tree_remove(trail.root);
    }
    json_decref(arguments);
}

static void test_record_fields(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-fields");
    mg_audit_t *audit = open_trail(&trail);
    json_t *id = json_string("req-1"), *findings = json_loads("[{\"kind\":\"pii\"}]", 0, NULL);
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.time_us = 1800000000123456;
    event.request_id = id;
    event.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    event.principal.subject = "al\"ice\n\xff";
    event.principal.issuer = "https://idp";
    event.principal.client_id = "cli";
    event.protocol_version = "2026-07-28";
    event.decision = MG_AUDIT_RATE_LIMITED;
    event.rule = "rate_limits.per-user";
    event.error_code = -32029;
    event.upstream_us = 10;
    event.total_us = 20;
    event.bytes_in = 30;
    event.bytes_out = 40;
    event.findings = findings;
    mg_error_t err;
    assert_int_equal(mg_audit_emit(audit, &event, &err), 0);
    mg_audit_destroy(audit);
    json_decref(id);
    json_decref(findings);
    lines_t lines = {0};
    lines_read(&lines, trail.path);
    assert_int_equal(lines.len, 1);
    assert_non_null(strstr(
        lines.text[0], "\"time\":\"2027-01-15T08:00:00.123456Z\",\"request_id\":\"req-1\",\"trace_id\":"
                       "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"principal\":{\"subject\":\"al\\\"ice\\n\xef\xbf\xbd\","
                       "\"issuer\":\"https://idp\",\"client_id\":\"cli\"},\"protocol_version\":\"2026-07-28\","
                       "\"era\":\"modern\",\"decision\":\"rate_limited\",\"rule\":\"rate_limits.per-user\","
                       "\"error_code\":-32029,\"upstream_us\":10,\"total_us\":20,\"bytes_in\":30,\"bytes_out\":40,"
                       "\"findings\":[{\"kind\":\"pii\"}]}"));
    lines_free(&lines);
    temp_tree_remove(trail.root);
}

/* A signed trail of 10 records with checkpoints after 4 and 8 and at the end. */
static void signed_trail(trail_t *trail, lines_t *lines, unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    trail_init(trail, "audit-signed");
    trail_sign(trail, 4);
    write_records(trail, 0, 10);
    lines_read(lines, trail->path);
    crypto_sign_seed_keypair(pk, sk, trail->config.signing_seed);
}

static void test_checkpoints(void **state)
{
    (void)state;
    trail_t trail;
    lines_t lines = {0};
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    signed_trail(&trail, &lines, pk);
    assert_int_equal(lines.len, 13);
    assert_non_null(strstr(lines.text[4], "{\"type\":\"checkpoint\",\"seq\":4,"));
    assert_non_null(strstr(lines.text[12], "{\"type\":\"checkpoint\",\"seq\":10,"));
    mg_audit_verifier_t v;
    assert_int_equal(verify(&lines, pk, &v), MG_AUDIT_INTACT);
    assert_int_equal(v.signed_checkpoints, 3);
    assert_int_equal(v.since_checkpoint, 0);

    /* the key the configuration's seed gives is the one checkpoints name */
    char public_text[MG_AUDIT_PUBLIC_KEY_TEXT], key_id[MG_AUDIT_KEY_ID_TEXT];
    mg_audit_public_key(trail.config.signing_seed, public_text, key_id);
    char member[64];
    snprintf(member, sizeof(member), "\"key_id\":\"%s\"", key_id);
    assert_non_null(strstr(lines.text[4], member));
    (void)seed_b64;

    /* another key */
    unsigned char other[crypto_sign_PUBLICKEYBYTES], other_sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(other, other_sk);
    assert_int_equal(verify(&lines, other, &v), MG_AUDIT_SIGNATURE);
    assert_int_equal(v.line_no, 5);

    /* a tampered signature on the last checkpoint: no later line links to it, so only the key tells */
    char *sig = strstr(lines.text[12], "\"sig\":\"") + 7;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(&lines, NULL, NULL), MG_AUDIT_INTACT);
    assert_int_equal(verify(&lines, pk, &v), MG_AUDIT_SIGNATURE);
    assert_int_equal(v.line_no, 13);
    assert_int_equal(v.break_seq, 10);
    lines_free(&lines);
    temp_tree_remove(trail.root);
}

/* Edits, deletions, insertions and swaps in a copy of a 10-record unsigned trail, each named. */
static void test_tampering(void **state)
{
    (void)state;
    trail_t trail;
    trail_init(&trail, "audit-tamper");
    write_records(&trail, 0, 10);
    lines_t original = {0};
    lines_read(&original, trail.path);
    mg_audit_verifier_t v;

    lines_t copy = {.text = calloc(12, sizeof(char *))};
#define RESET()                                                                                                        \
    do {                                                                                                               \
        for (size_t i = 0; i < copy.len; i++)                                                                          \
            free(copy.text[i]);                                                                                        \
        copy.len = original.len;                                                                                       \
        for (size_t i = 0; i < original.len; i++)                                                                      \
            copy.text[i] = strdup(original.text[i]);                                                                   \
    } while (0)

    /* edited: line 4 (seq 4) says tool-X instead of tool-3 */
    RESET();
    *(strstr(copy.text[3], "tool-3") + 5) = 'X';
    assert_int_equal(verify(&copy, NULL, &v), MG_AUDIT_EDITED);
    assert_int_equal(v.line_no, 4);
    assert_int_equal(v.break_seq, 4);

    /* deleted: seq 6 */
    RESET();
    free(copy.text[5]);
    memmove(copy.text + 5, copy.text + 6, 4 * sizeof(char *));
    copy.len--;
    assert_int_equal(verify(&copy, NULL, &v), MG_AUDIT_DELETED);
    assert_int_equal(v.line_no, 6);
    assert_int_equal(v.break_seq, 6);
    copy.text[copy.len] = NULL;

    /* inserted: a copy of seq 3 after it */
    RESET();
    memmove(copy.text + 4, copy.text + 3, 7 * sizeof(char *));
    copy.text[3] = strdup(copy.text[2]);
    copy.len++;
    assert_int_equal(verify(&copy, NULL, &v), MG_AUDIT_INSERTED);
    assert_int_equal(v.line_no, 4);
    assert_int_equal(v.break_seq, 3);

    /* reordered: seq 7 and 8 swapped */
    RESET();
    char *swap = copy.text[6];
    copy.text[6] = copy.text[7];
    copy.text[7] = swap;
    assert_int_equal(verify(&copy, NULL, &v), MG_AUDIT_REORDERED);
    assert_int_equal(v.line_no, 7);
    assert_int_equal(v.break_seq, 8);

    /* a line that is not JSON */
    RESET();
    copy.text[1][0] = '[';
    assert_int_equal(verify(&copy, NULL, &v), MG_AUDIT_EDITED);
    assert_int_equal(v.line_no, 2);

    /* the first record deleted */
    RESET();
    lines_t tail = {.text = copy.text + 1, .len = copy.len - 1};
    assert_int_equal(verify(&tail, NULL, &v), MG_AUDIT_START);
    mg_audit_verifier_init(&v, NULL, true, 0);
    for (size_t i = 0; i < tail.len; i++)
        assert_int_equal(mg_audit_verifier_feed(&v, "t", i + 1, tail.text[i], strlen(tail.text[i]), NULL, 0), 0);
    assert_int_equal(v.records, 9);

    RESET();
    assert_int_equal(verify(&copy, NULL, NULL), MG_AUDIT_INTACT);
#undef RESET
    lines_free(&copy);
    lines_free(&original);
    temp_tree_remove(trail.root);
}

static void test_line_parser(void **state)
{
    (void)state;
    mg_audit_line_t line;
    mg_error_t err;
    const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
    char text[512];
    snprintf(text, sizeof(text), "{\"seq\":1,\"prev\":\"%s\"}", zero);
    assert_int_equal(mg_audit_line_parse(text, strlen(text), &line, &err), 0);
    snprintf(text, sizeof(text), "{\"seq\":1,\"seq\":2,\"prev\":\"%s\"}", zero);
    assert_int_equal(mg_audit_line_parse(text, strlen(text), &line, &err), -1);
    snprintf(text, sizeof(text), "{\"seq\":0,\"prev\":\"%s\"}", zero);
    assert_int_equal(mg_audit_line_parse(text, strlen(text), &line, &err), -1);
    assert_string_equal(err.message, "\"seq\" must be a positive integer");
    snprintf(text, sizeof(text), "{\"seq\":1,\"prev\":\"%.63s\"}", zero);
    assert_int_equal(mg_audit_line_parse(text, strlen(text), &line, &err), -1);
    snprintf(text, sizeof(text), "{\"type\":\"other\",\"seq\":1,\"prev\":\"%s\"}", zero);
    assert_int_equal(mg_audit_line_parse(text, strlen(text), &line, &err), -1);
    snprintf(text, sizeof(text), "{\"type\":\"checkpoint\",\"seq\":1,\"prev\":\"%s\",\"hash\":\"%s\"}", zero, zero);
    assert_int_equal(mg_audit_line_parse(text, strlen(text), &line, &err), -1);
    assert_string_equal(err.message, "\"key_id\" must be 16 lower-case hex digits");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_full),      cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_errors),    cmocka_unit_test(test_chain_and_restart),
        cmocka_unit_test(test_torn_line_is_cut), cmocka_unit_test(test_rotation_keeps_the_chain),
        cmocka_unit_test(test_backpressure),     cmocka_unit_test(test_argument_modes),
        cmocka_unit_test(test_record_fields),    cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_tampering),        cmocka_unit_test(test_line_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
