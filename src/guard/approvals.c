/*
 * approvals.c - human approval's gateway-wide half: ids, argument digests, rule matching, and the service
 * thread between the workers and the state store (see approvals.h).
 *
 * The thread owns every disk access. Workers hand it commands through a queue under one mutex (a new
 * row, an expiry, a departure) and never wait for them: a held call is already waiting for a person, and a
 * few milliseconds of SQLite change nothing for it. While this process holds calls, the thread reads the
 * approvals generation every MG_APPROVALS_POLL_MS; when it moved, it reads the row of each call it watches
 * and posts a decision to the worker holding it. With nothing held it sleeps until a command arrives, so
 * an idle gateway never touches the database. The caller's users' decisions (`approver: user`) come as
 * rows decided already (COMMAND_RECORD); for a modern approval the worker waits for the answer, whether
 * the id was still unspent, which the table's primary key decides.
 */
#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json_write.h"
#include "core/worker.h"
#include "guard/approvals.h"
#include "obs/log.h"
#include "policy/policy.h"
#include "store/sqlite.h"

#define PRUNE_AFTER_S (7 * 24 * 3600)

typedef enum en_command_kind_t {
    COMMAND_SUBMIT,
    COMMAND_EXPIRE,
    COMMAND_ABANDON,
    COMMAND_RECORD, /* a user's decision: a row decided already; `answer`: post whether it was new */
} command_kind_t;

typedef struct st_command_t {
    struct st_command_t *next;
    command_kind_t kind;
    size_t worker_index;
    bool answer;             /* RECORD */
    mg_store_approval_t row; /* SUBMIT, RECORD: the row (owned strings); else only id */
} command_t;

typedef struct st_watched_t {
    char id[MG_APPROVALS_ID_LEN + 1];
    size_t worker_index;
} watched_t;

struct st_mg_approvals_t {
    mg_store_t *store;
    struct st_mg_gateway_t *gateway;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    command_t *head, *tail;
    watched_t *watched; /* calls this process holds whose row is pending */
    size_t watched_len, watched_cap;
    pthread_t thread;
    bool running, stopping;
    uint64_t generation; /* the thread's own: the counter when it last read the watched rows */
};

/* ---- ids, digests, rules ------------------------------------------------------------------------------- */

void mg_approvals_new_id(char out[MG_APPROVALS_ID_LEN + 1])
{
    unsigned char bytes[16];
    randombytes_buf(bytes, sizeof(bytes));
    memcpy(out, MG_APPROVALS_ID_PREFIX, 4);
    sodium_bin2hex(out + 4, 33, bytes, sizeof(bytes));
}

bool mg_approvals_id_valid(const char *text)
{
    if (strlen(text) != MG_APPROVALS_ID_LEN || strncmp(text, MG_APPROVALS_ID_PREFIX, 4) != 0)
        return false;
    for (const char *c = text + 4; *c != '\0'; c++) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    }
    return true;
}

int mg_approvals_digest(const json_t *arguments, char hash[MG_APPROVALS_HASH_HEX], char **canonical)
{
    json_t *empty = NULL;
    if (arguments == NULL)
        arguments = empty = json_object();
    size_t len = 0;
    /* the audit record's canonical text (audit/record.c), so a digest in the trail names the same call */
    char *text = mg_json_write_text(arguments, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY, &len);
    json_decref(empty);
    if (text == NULL)
        return -1;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)text, len);
    sodium_bin2hex(hash, MG_APPROVALS_HASH_HEX, digest, sizeof(digest));
    if (canonical != NULL)
        *canonical = text;
    else
        free(text);
    return 0;
}

long mg_approvals_match(const mg_config_approvals_t *approvals, const char *server, const char *tool)
{
    size_t server_len = strlen(server), tool_len = strlen(tool);
    for (size_t r = 0; r < approvals->rules_len; r++) {
        const mg_config_approval_t *rule = &approvals->rules[r];
        for (size_t p = 0; p < rule->tools_len; p++) {
            const mg_config_pattern_t *pattern = &rule->tools[p];
            if (mg_policy_glob_match(pattern->server, strlen(pattern->server), server, server_len) &&
                mg_policy_glob_match(pattern->name, strlen(pattern->name), tool, tool_len))
                return (long)r;
        }
    }
    return -1;
}

void mg_approvals_shorten(char *text, size_t max)
{
    assert(max > 3);
    size_t len = strlen(text);
    if (len <= max)
        return;
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(text + cut, "...", 4);
}

/* ---- the caller's user's question and answer ----------------------------------------------------------- */

bool mg_approvals_parse_tail(const char *tail, size_t workers_len, size_t *worker, char id[MG_APPROVALS_ID_LEN + 1])
{
    size_t index = 0, digits = 0;
    for (; tail[digits] >= '0' && tail[digits] <= '9'; digits++) {
        if (digits == 6) /* far more workers than anyone runs: not an id the gateway made */
            return false;
        index = index * 10 + (size_t)(tail[digits] - '0');
    }
    if (digits == 0 || tail[digits] != ':' || index >= workers_len || !mg_approvals_id_valid(tail + digits + 1))
        return false;
    *worker = index;
    memcpy(id, tail + digits + 1, MG_APPROVALS_ID_LEN + 1);
    return true;
}

mg_approval_answer_t mg_approvals_read_answer(const json_t *result)
{
    const char *action = json_string_value(json_object_get(result, "action"));
    if (action == NULL)
        return MG_APPROVAL_ANSWER_INVALID;
    if (strcmp(action, "accept") == 0)
        return json_is_true(json_object_get(json_object_get(result, "content"), "approve"))
                   ? MG_APPROVAL_ANSWER_APPROVED
                   : MG_APPROVAL_ANSWER_DECLINED;
    if (strcmp(action, "decline") == 0)
        return MG_APPROVAL_ANSWER_DECLINED;
    if (strcmp(action, "cancel") == 0)
        return MG_APPROVAL_ANSWER_CANCELLED;
    return MG_APPROVAL_ANSWER_INVALID;
}

json_t *mg_approvals_question(const char *id, const char *server, const char *tool, const char *arguments,
                              long long timeout_s)
{
    char *shown = strdup(arguments != NULL ? arguments : "{}");
    if (shown == NULL)
        return NULL;
    mg_approvals_shorten(shown, MG_APPROVALS_QUESTION_ARGUMENTS_MAX);
    size_t size = strlen(shown) + strlen(server) + strlen(tool) + 400;
    char *message = malloc(size);
    if (message != NULL)
        snprintf(message, size,
                 "The gateway holds a call to tool \"%s\" on server \"%s\" until you approve it.\n"
                 "Arguments: %s\n"
                 "Approve this call? (approval %s; refused after %llds without an answer)",
                 tool, server, shown, id, timeout_s);
    free(shown);
    if (message == NULL)
        return NULL;
    /* one required boolean: the form every elicitation-capable client can show; only true approves */
    json_t *params =
        json_pack("{s:s, s:{s:s, s:{s:{s:s, s:s, s:s, s:b}}, s:[s]}}", "message", message, "requestedSchema", "type",
                  "object", "properties", "approve", "type", "boolean", "title", "Approve this call", "description",
                  "Let the gateway send this call to the server", "default", 0, "required", "approve");
    free(message);
    return params;
}

/* ---- the service ------------------------------------------------------------------------------------- */

int mg_approvals_open(const char *state_dir, mg_approvals_t **out, mg_error_t *err)
{
    *out = NULL;
    mg_approvals_t *approvals = calloc(1, sizeof(*approvals));
    if (approvals == NULL)
        return mg_error_set(err, "out of memory");
    if (mg_store_open(state_dir, MG_STORE_CREATE, &approvals->store, err) != 0 ||
        mg_store_approval_generation(approvals->store, &approvals->generation, err) != 0) {
        mg_store_close(approvals->store);
        free(approvals);
        return -1;
    }
    pthread_mutex_init(&approvals->lock, NULL);
    pthread_cond_init(&approvals->wake, NULL);
    size_t pruned = 0;
    mg_error_t prune_err;
    if (mg_store_approval_prune(approvals->store, (int64_t)time(NULL) - PRUNE_AFTER_S, &pruned, &prune_err) != 0)
        mg_log(MG_LOG_WARN, "approvals.prune_failed", "%s", prune_err.message);
    *out = approvals;
    return 0;
}

static char *copy(const char *text)
{
    return strdup(text != NULL ? text : "");
}

static void command_free(command_t *command)
{
    mg_store_approval_dispose(&command->row);
    free(command);
}

static void enqueue(mg_approvals_t *approvals, command_t *command)
{
    pthread_mutex_lock(&approvals->lock);
    if (approvals->tail != NULL)
        approvals->tail->next = command;
    else
        approvals->head = command;
    approvals->tail = command;
    pthread_cond_signal(&approvals->wake);
    pthread_mutex_unlock(&approvals->lock);
}

/* Under the lock. */
static void unwatch(mg_approvals_t *approvals, const char *id)
{
    for (size_t i = 0; i < approvals->watched_len; i++) {
        if (strcmp(approvals->watched[i].id, id) == 0) {
            approvals->watched[i] = approvals->watched[--approvals->watched_len];
            return;
        }
    }
}

void mg_approvals_submit(mg_approvals_t *approvals, size_t worker_index, const char *id, const char *principal,
                         const char *server, const char *tool, const char *arguments_sha256, const char *arguments,
                         const char *rule, int64_t created_at, int64_t expires_at)
{
    command_t *command = calloc(1, sizeof(*command));
    if (command == NULL)
        abort(); /* the worker's held call would otherwise wait for an answer that never comes */
    command->kind = COMMAND_SUBMIT;
    command->worker_index = worker_index;
    mg_store_approval_t *row = &command->row;
    row->id = copy(id);
    row->principal = copy(principal);
    row->server = copy(server);
    row->tool = copy(tool);
    row->arguments_sha256 = copy(arguments_sha256);
    row->arguments = copy(arguments);
    row->rule = copy(rule);
    row->approver = copy("admin");
    row->created_at = created_at;
    row->expires_at = expires_at;
    pthread_mutex_lock(&approvals->lock);
    if (approvals->watched_len == approvals->watched_cap) {
        size_t grown = approvals->watched_cap == 0 ? 16 : approvals->watched_cap * 2;
        watched_t *more = realloc(approvals->watched, grown * sizeof(*more));
        if (more == NULL)
            abort();
        approvals->watched = more;
        approvals->watched_cap = grown;
    }
    watched_t *entry = &approvals->watched[approvals->watched_len++];
    snprintf(entry->id, sizeof(entry->id), "%s", id);
    entry->worker_index = worker_index;
    pthread_mutex_unlock(&approvals->lock);
    enqueue(approvals, command);
}

void mg_approvals_record(mg_approvals_t *approvals, const mg_approval_record_t *record, bool answer,
                         size_t worker_index)
{
    command_t *command = calloc(1, sizeof(*command));
    if (command == NULL)
        abort(); /* a modern approval would otherwise wait for an answer that never comes */
    command->kind = COMMAND_RECORD;
    command->worker_index = worker_index;
    command->answer = answer;
    mg_store_approval_t *row = &command->row;
    row->id = copy(record->id);
    row->state = copy(record->state);
    row->principal = copy(record->principal);
    row->server = copy(record->server);
    row->tool = copy(record->tool);
    row->arguments_sha256 = copy(record->arguments_sha256);
    row->arguments = copy("");
    row->rule = copy(record->rule);
    row->approver = copy("user");
    row->decided_by = copy("user");
    row->created_at = record->created_at;
    row->expires_at = record->expires_at;
    row->decided_at = (int64_t)time(NULL);
    enqueue(approvals, command);
}

static void enqueue_id(mg_approvals_t *approvals, command_kind_t kind, const char *id)
{
    command_t *command = calloc(1, sizeof(*command));
    if (command == NULL || (command->row.id = strdup(id)) == NULL)
        abort();
    command->kind = kind;
    enqueue(approvals, command);
}

void mg_approvals_expire(mg_approvals_t *approvals, const char *id)
{
    enqueue_id(approvals, COMMAND_EXPIRE, id);
}

void mg_approvals_abandon(mg_approvals_t *approvals, const char *id)
{
    enqueue_id(approvals, COMMAND_ABANDON, id);
}

/* Posts `verdict` about call `id` to its worker, with the row's binding when `row` is given. */
static void post(mg_approvals_t *approvals, size_t worker_index, const char *id, mg_approval_verdict_t verdict,
                 const mg_store_approval_t *row, const char *detail)
{
    mg_approval_decision_t *decision = calloc(1, sizeof(*decision));
    if (decision == NULL)
        abort();
    snprintf(decision->id, sizeof(decision->id), "%s", id);
    decision->verdict = verdict;
    if (row != NULL) {
        snprintf(decision->decided_by, sizeof(decision->decided_by), "%s", row->decided_by);
        snprintf(decision->principal, sizeof(decision->principal), "%s", row->principal);
        snprintf(decision->server, sizeof(decision->server), "%s", row->server);
        snprintf(decision->tool, sizeof(decision->tool), "%s", row->tool);
        snprintf(decision->arguments_sha256, sizeof(decision->arguments_sha256), "%s", row->arguments_sha256);
    }
    if (detail != NULL)
        snprintf(decision->detail, sizeof(decision->detail), "%s", detail);
    mg_worker_post(approvals->gateway->workers[worker_index], mg_approvals_on_decision, decision);
}

/* The worker that holds `id`, taken off the watch list; false when none does any more. */
static bool take_watched(mg_approvals_t *approvals, const char *id, size_t *worker_index)
{
    bool found = false;
    pthread_mutex_lock(&approvals->lock);
    for (size_t i = 0; i < approvals->watched_len; i++) {
        if (strcmp(approvals->watched[i].id, id) == 0) {
            *worker_index = approvals->watched[i].worker_index;
            found = true;
            break;
        }
    }
    unwatch(approvals, id);
    pthread_mutex_unlock(&approvals->lock);
    return found;
}

static mg_approval_verdict_t verdict_of(const char *state)
{
    return strcmp(state, "approved") == 0 ? MG_APPROVAL_APPROVED
           : strcmp(state, "denied") == 0 ? MG_APPROVAL_DENIED
                                          : MG_APPROVAL_EXPIRED;
}

static void run_command(mg_approvals_t *approvals, command_t *command)
{
    mg_error_t err;
    const char *id = command->row.id;
    size_t worker_index;
    switch (command->kind) {
    case COMMAND_SUBMIT:
        if (mg_store_approval_insert(approvals->store, &command->row, &err) != 0) {
            mg_log(MG_LOG_ERROR, "approvals.store_failed", "cannot record approval %s: %s", id, err.message);
            if (take_watched(approvals, id, &worker_index))
                post(approvals, worker_index, id, MG_APPROVAL_FAILED, NULL, "the approval could not be recorded");
        }
        break;
    case COMMAND_EXPIRE: {
        if (!take_watched(approvals, id, &worker_index))
            break; /* already decided and posted */
        mg_store_approval_t decided;
        int rc = mg_store_approval_close(approvals->store, id, "expired", (int64_t)time(NULL), &decided, &err);
        if (rc == MG_STORE_CONFLICT) { /* a person was first: that decision stands */
            post(approvals, worker_index, id, verdict_of(decided.state), &decided, NULL);
            mg_store_approval_dispose(&decided);
            break;
        }
        if (rc != 0) /* fail closed: the call is refused either way, and its row expires at its deadline */
            mg_log(MG_LOG_ERROR, "approvals.store_failed", "cannot close approval %s: %s", id, err.message);
        post(approvals, worker_index, id, MG_APPROVAL_EXPIRED, NULL, NULL);
        break;
    }
    case COMMAND_RECORD: {
        int rc = mg_store_approval_record(approvals->store, &command->row, &err);
        if (rc == MG_STORE_CONFLICT)
            mg_log(MG_LOG_WARN, "approvals.replayed", "approval %s was decided already: not recorded again", id);
        else if (rc != 0)
            mg_log(MG_LOG_ERROR, "approvals.store_failed", "cannot record approval %s: %s", id, err.message);
        if (command->answer)
            post(approvals, command->worker_index, id, rc == 0 ? MG_APPROVAL_APPROVED : MG_APPROVAL_FAILED,
                 rc == 0 ? &command->row : NULL,
                 rc == 0                   ? NULL
                 : rc == MG_STORE_CONFLICT ? "the approval was used already"
                                           : "the approval could not be recorded");
        break;
    }
    case COMMAND_ABANDON:
        take_watched(approvals, id, &worker_index);
        if (mg_store_approval_close(approvals->store, id, "abandoned", (int64_t)time(NULL), NULL, &err) < 0 &&
            strstr(err.message, "already") == NULL)
            mg_log(MG_LOG_ERROR, "approvals.store_failed", "cannot close approval %s: %s", id, err.message);
        break;
    }
}

/* Another process may have decided: read the rows of the calls this process holds. */
static void poll_decisions(mg_approvals_t *approvals)
{
    mg_error_t err;
    uint64_t generation;
    if (mg_store_approval_generation(approvals->store, &generation, &err) != 0) {
        mg_log(MG_LOG_ERROR, "approvals.store_failed", "%s", err.message);
        return;
    }
    if (generation == approvals->generation)
        return;
    approvals->generation = generation;
    pthread_mutex_lock(&approvals->lock);
    size_t count = approvals->watched_len;
    watched_t *ids = count > 0 ? malloc(count * sizeof(*ids)) : NULL;
    if (ids != NULL)
        memcpy(ids, approvals->watched, count * sizeof(*ids));
    pthread_mutex_unlock(&approvals->lock);
    for (size_t i = 0; ids != NULL && i < count; i++) {
        mg_store_approval_t row;
        if (mg_store_approval_get(approvals->store, ids[i].id, &row, &err) != 0)
            continue; /* not written yet (its SUBMIT is queued), or the store failed: the next round reads it */
        bool decided = strcmp(row.state, "approved") == 0 || strcmp(row.state, "denied") == 0;
        size_t worker_index;
        if (decided && take_watched(approvals, ids[i].id, &worker_index))
            post(approvals, worker_index, ids[i].id, verdict_of(row.state), &row, NULL);
        mg_store_approval_dispose(&row);
    }
    free(ids);
}

static void *service_main(void *arg)
{
    mg_approvals_t *approvals = arg;
    pthread_mutex_lock(&approvals->lock);
    while (!approvals->stopping) {
        command_t *command = approvals->head;
        if (command != NULL) {
            approvals->head = command->next;
            if (approvals->head == NULL)
                approvals->tail = NULL;
            pthread_mutex_unlock(&approvals->lock);
            run_command(approvals, command);
            command_free(command);
            pthread_mutex_lock(&approvals->lock);
            continue;
        }
        if (approvals->watched_len == 0) {
            pthread_cond_wait(&approvals->wake, &approvals->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)MG_APPROVALS_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        int waited = pthread_cond_timedwait(&approvals->wake, &approvals->lock, &until);
        if (approvals->stopping || (waited != ETIMEDOUT && approvals->head != NULL))
            continue;
        pthread_mutex_unlock(&approvals->lock);
        poll_decisions(approvals);
        pthread_mutex_lock(&approvals->lock);
    }
    pthread_mutex_unlock(&approvals->lock);
    return NULL;
}

int mg_approvals_start(struct st_mg_gateway_t *gateway, mg_error_t *err)
{
    mg_approvals_t *approvals = gateway->approvals;
    if (approvals == NULL)
        return 0;
    approvals->gateway = gateway;
    if (pthread_create(&approvals->thread, NULL, service_main, approvals) != 0)
        return mg_error_set(err, "cannot start the approvals thread");
    pthread_setname_np(approvals->thread, "mg-approvals");
    approvals->running = true;
    return 0;
}

void mg_approvals_stop(struct st_mg_gateway_t *gateway)
{
    mg_approvals_t *approvals = gateway->approvals;
    if (approvals == NULL || !approvals->running)
        return;
    pthread_mutex_lock(&approvals->lock);
    approvals->stopping = true;
    pthread_cond_signal(&approvals->wake);
    pthread_mutex_unlock(&approvals->lock);
    pthread_join(approvals->thread, NULL);
    approvals->running = false;
    /* the calls still held die with the process: their rows must never be approvable afterwards */
    mg_error_t err;
    for (command_t *command = approvals->head; command != NULL; command = command->next) {
        if (command->kind == COMMAND_SUBMIT)
            continue;                          /* never written: nothing to close */
        if (command->kind == COMMAND_RECORD) { /* a used id stays used across a restart */
            (void)mg_store_approval_record(approvals->store, &command->row, &err);
            continue;
        }
        (void)mg_store_approval_close(approvals->store, command->row.id, "abandoned", (int64_t)time(NULL), NULL, &err);
    }
    for (size_t i = 0; i < approvals->watched_len; i++)
        (void)mg_store_approval_close(approvals->store, approvals->watched[i].id, "abandoned", (int64_t)time(NULL),
                                      NULL, &err);
    approvals->watched_len = 0;
}

void mg_approvals_close(mg_approvals_t *approvals)
{
    if (approvals == NULL)
        return;
    assert(!approvals->running);
    while (approvals->head != NULL) {
        command_t *next = approvals->head->next;
        command_free(approvals->head);
        approvals->head = next;
    }
    free(approvals->watched);
    mg_store_close(approvals->store);
    pthread_mutex_destroy(&approvals->lock);
    pthread_cond_destroy(&approvals->wake);
    free(approvals);
}
