/*
 * poison.c - tool poisoning verdicts (poison.h).
 */
#include "guard/poison.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/worker.h"
#include "guard/actions.h"
#include "guard/message.h"
#include "obs/log.h"
#include "upstream/upstream.h"

mg_guard_scratch_t *mg_guard_worker_scratch(mg_worker_t *worker)
{
    if (worker->guard_scratch == NULL) {
        mg_error_t err;
        if (mg_guard_scratch_create(&worker->guard_scratch, &err) != 0)
            mg_log(MG_LOG_ERROR, "guards.scratch_failed", "%s", err.message);
    }
    return worker->guard_scratch;
}

typedef struct st_judgement_t {
    const mg_config_guards_t *guards;
    mg_guard_scratch_t *scratch;
    mg_guard_scan_options_t options;
    mg_guard_findings_t found;
    mg_guard_action_t worst;
    char *detail;
    size_t detail_size, detail_len;
    bool failed;
} judgement_t;

static int visit(void *context, const mg_guard_message_string_t *string)
{
    judgement_t *j = context;
    mg_error_t err;
    mg_guard_findings_clear(&j->found);
    if (string->len == 0)
        return 0;
    if (mg_guard_scan(j->guards->detectors, j->scratch, string->text, string->len, &j->options, &j->found, &err) != 0) {
        j->failed = true;
        return 1;
    }
    for (size_t f = 0; f < j->found.len; f++) {
        mg_guard_action_t action = mg_guard_finding_action(j->guards, j->guards->detectors, &j->found.items[f], false);
        if (action == MG_GUARD_ACTION_OFF)
            continue;
        if (action == MG_GUARD_ACTION_QUARANTINE || j->worst == MG_GUARD_ACTION_OFF)
            j->worst = action;
        if (j->detail_len + 1 < j->detail_size) {
            int n = snprintf(j->detail + j->detail_len, j->detail_size - j->detail_len, "%s%s at %s",
                             j->detail_len > 0 ? ", " : "",
                             mg_guard_detector_type(j->guards->detectors, j->found.items[f].detector),
                             string->pointer[0] != '\0' ? string->pointer : "/");
            j->detail_len = n > 0 ? j->detail_len + (size_t)n : j->detail_len;
            if (j->detail_len >= j->detail_size)
                j->detail_len = j->detail_size - 1;
        }
    }
    return 0;
}

/* A name that reads as an identifier (search_issues, createTicket, fs-write, s3ls): a mention of it in
 * another server's definition is a reference to that tool, not a word of the language ("search"). */
static bool identifier_like(const char *name)
{
    for (size_t i = 0; name[i] != '\0'; i++) {
        char c = name[i];
        if (c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (i > 0 && c >= 'A' && c <= 'Z'))
            return true;
    }
    return false;
}

/* The other servers' tool names this worker knows (its catalogs), for shadowing; *len names. */
static const char **other_tools(mg_worker_t *worker, size_t server_index, size_t *len)
{
    size_t total = 0;
    for (size_t s = 0; s < worker->gateway->config->servers_len; s++) {
        if (s != server_index && worker->upstreams[s]->tools != NULL)
            total += json_object_size(worker->upstreams[s]->tools);
    }
    *len = 0;
    if (total == 0)
        return NULL;
    const char **names = malloc(total * sizeof(*names));
    if (names == NULL)
        return NULL;
    for (size_t s = 0; s < worker->gateway->config->servers_len; s++) {
        const char *name;
        json_t *tool;
        if (s == server_index || worker->upstreams[s]->tools == NULL)
            continue;
        json_object_foreach(worker->upstreams[s]->tools, name, tool)
        {
            (void)tool;
            if (identifier_like(name))
                names[(*len)++] = name;
        }
    }
    return names;
}

mg_guard_action_t mg_guard_poisoning(mg_worker_t *worker, size_t server_index, json_t *definition, char *detail,
                                     size_t detail_size)
{
    const mg_config_guards_t *guards = &worker->gateway->config->guards;
    if (detail_size > 0)
        detail[0] = '\0';
    if (!guards->enabled || guards->detectors == NULL || definition == NULL)
        return MG_GUARD_ACTION_OFF;
    judgement_t j = {
        .guards = guards, .scratch = mg_guard_worker_scratch(worker), .detail = detail, .detail_size = detail_size};
    if (j.scratch == NULL)
        return MG_GUARD_ACTION_OFF;
    j.options.kinds = MG_GUARD_POISONING;
    const char **names = other_tools(worker, server_index, &j.options.other_tools_len);
    j.options.other_tools = names;
    mg_error_t err;
    if (mg_guard_definition_walk(definition, visit, &j, &err) < 0 || j.failed)
        mg_log(MG_LOG_ERROR, "guards.poisoning_failed", "%s: a definition could not be scanned",
               worker->gateway->config->servers[server_index].name);
    mg_guard_findings_dispose(&j.found);
    free(names);
    return j.worst;
}
