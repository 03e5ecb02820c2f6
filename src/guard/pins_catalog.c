/*
 * pins_catalog.c - tool pinning on a worker: verdicts computed when the worker's tool catalog of a server
 * is (re)filled and kept beside it (mg_upstream_t.held_tools: local name -> why), so that lists are
 * filtered and calls refused by a lookup in the worker's own data (see pins.h).
 *
 * News is reported by the worker that met it first (the store says which: only one observation makes a
 * transition): a log line for every transition, an audit event for a change, and, when a tool is newly
 * held, a tools/list_changed from the server to every worker and client. Other workers still serving
 * their older catalog drop it then and judge again on their next list or call.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "auth/principal.h"
#include "core/worker.h"
#include "guard/pins.h"
#include "guard/poison.h"
#include "http/events.h"
#include "mcp/exchange.h"
#include "mcp/outcome.h"
#include "obs/log.h"
#include "upstream/upstream.h"

static void display_name(const mg_worker_t *worker, size_t server_index, const char *tool, char *out, size_t size)
{
    const char *server = worker->gateway->config->servers[server_index].name;
    if (tool[0] == '\0')
        snprintf(out, size, "%s#instructions", server);
    else
        snprintf(out, size, "%s/%.300s", server, tool);
}

static void audit_change(mg_worker_t *worker, size_t server_index, const char *tool, const mg_pins_judgement_t *j)
{
    mg_audit_t *audit = worker->gateway->audit;
    if (audit == NULL)
        return;
    char reason[400];
    if (j->reason == MG_PINS_REASON_POISONED)
        snprintf(reason, sizeof(reason), "the definition was flagged as poisoned: %s", j->detail);
    else
        snprintf(reason, sizeof(reason), "the definition changed since it was approved%s",
                 j->hold ? "; held for review" : "; served (pins.mode: warn)");
    json_t *finding = json_pack("{s:s, s:s, s:s, s:s}", "kind", "pin", "reason", mg_pins_reason_name(j->reason),
                                "approved_sha256", j->approved, "current_sha256", j->current);
    if (finding != NULL && tool[0] == '\0')
        json_object_set_new(finding, "target", json_string("instructions"));
    json_t *findings = json_pack("[o]", finding);
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.server = worker->gateway->config->servers[server_index].name;
    event.item_kind = tool[0] != '\0' ? MG_AUDIT_ITEM_TOOL : MG_AUDIT_ITEM_NONE;
    event.item_name = tool[0] != '\0' ? tool : NULL;
    event.decision = j->hold ? MG_AUDIT_QUARANTINE : MG_AUDIT_ALLOW;
    event.rule = "pins";
    event.reason = reason;
    event.status = j->hold ? "quarantined" : "changed";
    event.findings = findings;
    mg_error_t err;
    if (mg_audit_emit(audit, &event, &err) != 0)
        mg_log(MG_LOG_ERROR, "pins.audit_failed", "%s", err.message);
    json_decref(findings);
}

static void report(mg_worker_t *worker, size_t server_index, const char *tool, const mg_pins_judgement_t *j)
{
    char name[400];
    display_name(worker, server_index, tool, name, sizeof(name));
    switch (j->event) {
    case MG_PINS_FIRST_SIGHT:
        mg_log(MG_LOG_INFO, "pins.first_sight", "%s pinned at sha256:%s", name, j->current);
        return;
    case MG_PINS_REVERTED:
        mg_log(MG_LOG_INFO, "pins.reverted", "%s serves its approved definition sha256:%s again", name, j->current);
        return;
    case MG_PINS_NEWLY_CHANGED:
        if (j->reason == MG_PINS_REASON_POISONED)
            mg_log(MG_LOG_WARN, "pins.quarantined",
                   "%s: definition sha256:%s flagged as poisoned (%s); held for review", name, j->current, j->detail);
        else
            mg_log(MG_LOG_WARN, j->hold ? "pins.quarantined" : "pins.changed",
                   "%s: definition changed from sha256:%s to sha256:%s; %s", name, j->approved, j->current,
                   j->hold ? "held for review (mcpgate tools approve)" : "served (pins.mode: warn)");
        audit_change(worker, server_index, tool, j);
        return;
    case MG_PINS_NO_NEWS:
        return;
    }
}

/* Judges one definition (`definition`: the listed tool, or the instructions string); returns its judgement
 * (hold false when it could not be hashed: nothing to pin). The guards' poisoning verdict comes first: a
 * flagged definition is held as poisoned until an operator approves exactly it (poison.h). */
static void judge_definition(mg_worker_t *worker, size_t server_index, const char *tool, const char *hash,
                             json_t *definition, mg_pins_judgement_t *j)
{
    mg_pins_t *pins = worker->gateway->pins;
    const char *server = worker->gateway->config->servers[server_index].name;
    int64_t now = (int64_t)time(NULL);
    mg_error_t err;
    char detail[MG_PINS_DETAIL_MAX];
    mg_guard_action_t poisoning = mg_guard_poisoning(worker, server_index, definition, detail, sizeof(detail));
    bool flagged = false;
    if (poisoning == MG_GUARD_ACTION_QUARANTINE &&
        mg_pins_flag(pins, server, tool, hash, MG_PINS_REASON_POISONED, detail, now, &flagged, &err) != 0)
        mg_log(MG_LOG_ERROR, "pins.store_failed", "%s: %s", server, err.message);
    else if (poisoning == MG_GUARD_ACTION_FLAG)
        mg_log(MG_LOG_WARN, "guards.poisoning", "%s/%s: served, but flagged as poisoned: %s", server,
               tool[0] != '\0' ? tool : "#instructions", detail);
    if (mg_pins_observe(pins, server, tool, hash, now, j, &err) != 0)
        mg_log(MG_LOG_ERROR, "pins.store_failed", "%s: %s", server, err.message);
    if (flagged && j->hold)
        j->event = MG_PINS_NEWLY_CHANGED; /* reported and broadcast once, by the worker that flagged it */
    report(worker, server_index, tool, j);
}

static json_t *held_entry(const char *server, const char *tool, const mg_pins_judgement_t *j)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "server", server, "tool", tool, "reason",
                     mg_pins_reason_name(j->reason), "approvedHash", j->approved, "currentHash", j->current, "detail",
                     j->detail);
}

/* Judges `tool` (a definition from the server's list) and records the hold in `held`; true when newly held. */
static bool judge_tool(mg_worker_t *worker, size_t server_index, const char *name, json_t *tool, json_t *held)
{
    char hash[MG_PINS_HASH_HEX];
    if (name[0] == '\0' || mg_pins_hash_tool(tool, hash) != 0)
        return false; /* a nameless tool cannot be called; "" is the instructions' pseudo-entry */
    mg_pins_judgement_t j;
    judge_definition(worker, server_index, name, hash, tool, &j);
    if (!j.hold) {
        json_object_del(held, name);
        return false;
    }
    json_object_set_new(held, name, held_entry(worker->gateway->config->servers[server_index].name, name, &j));
    return j.event == MG_PINS_NEWLY_CHANGED;
}

static void announce(mg_worker_t *worker, size_t server_index)
{
    json_t *changed = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", "notifications/tools/list_changed");
    mg_events_broadcast(worker->gateway, server_index, changed);
    json_decref(changed);
}

void mg_pins_judge_catalog(mg_worker_t *worker, size_t server_index)
{
    mg_upstream_t *upstream = worker->upstreams[server_index];
    json_decref(upstream->held_tools);
    upstream->held_tools = NULL;
    if (worker->gateway->pins == NULL || upstream->tools == NULL)
        return;
    json_t *held = json_object();
    bool newly_held = false;
    const char *name;
    json_t *tool;
    json_object_foreach(upstream->tools, name, tool)
    {
        newly_held = judge_tool(worker, server_index, name, tool, held) || newly_held;
    }
    if (json_object_size(held) > 0)
        upstream->held_tools = held;
    else
        json_decref(held);
    if (newly_held)
        announce(worker, server_index);
}

void mg_pins_judge_page(mg_worker_t *worker, size_t server_index, const json_t *tools)
{
    mg_upstream_t *upstream = worker->upstreams[server_index];
    if (worker->gateway->pins == NULL)
        return;
    json_t *held = upstream->held_tools != NULL ? upstream->held_tools : json_object();
    bool newly_held = false;
    size_t index;
    json_t *tool;
    json_array_foreach(tools, index, tool)
    {
        const char *name = json_string_value(json_object_get(tool, "name"));
        if (name != NULL)
            newly_held = judge_tool(worker, server_index, name, tool, held) || newly_held;
    }
    if (json_object_size(held) > 0) {
        upstream->held_tools = held;
    } else {
        json_decref(held);
        upstream->held_tools = NULL;
    }
    if (newly_held)
        announce(worker, server_index);
}

void mg_pins_filter_list(const mg_worker_t *worker, size_t server_index, json_t *tools)
{
    const json_t *held = worker->upstreams[server_index]->held_tools;
    if (held == NULL || !json_is_array(tools))
        return;
    for (size_t i = json_array_size(tools); i-- > 0;) {
        const char *name = json_string_value(json_object_get(json_array_get(tools, i), "name"));
        if (name != NULL && json_object_get(held, name) != NULL)
            json_array_remove(tools, i);
    }
}

bool mg_pins_refuse_call(mg_exchange_t *exchange, size_t server_index, const char *local_name)
{
    const json_t *held = json_object_get(exchange->worker->upstreams[server_index]->held_tools, local_name);
    if (held == NULL)
        return false;
    const char *server = exchange->config->servers[server_index].name;
    const char *public_name = json_string_value(json_object_get(exchange->message.params, "name"));
    const char *reason = json_string_value(json_object_get(held, "reason"));
    const char *approved = json_string_value(json_object_get(held, "approvedHash"));
    const char *current = json_string_value(json_object_get(held, "currentHash"));
    bool poisoned = reason != NULL && strcmp(reason, "poisoned") == 0;
    char message[1024], why[400];
    if (poisoned)
        snprintf(why, sizeof(why), "its definition (sha256:%.16s) was flagged as poisoned: %.200s", current,
                 json_string_value(json_object_get(held, "detail")));
    else
        snprintf(why, sizeof(why), "its definition changed since it was approved (approved sha256:%.16s, now %.16s)",
                 approved, current);
    snprintf(message, sizeof(message),
             "Tool %.200s is quarantined: %s, and it is held for review until an operator accepts it "
             "(mcpgate tools approve %.100s/%.200s)",
             public_name != NULL ? public_name : local_name, why, server, local_name);
    mg_log_as(MG_LOG_INFO, "pins.refused", exchange->principal->name, "%s/%s: %s", server, local_name, why);
    mg_outcome_decide(exchange, MG_AUDIT_QUARANTINE, "pins", why);
    mg_exchange_finish_error(exchange, MG_PINS_ERROR_QUARANTINED, message, json_deep_copy(held));
    return true;
}

void mg_pins_judge_instructions(mg_worker_t *worker, size_t server_index)
{
    mg_upstream_t *upstream = worker->upstreams[server_index];
    char hash[MG_PINS_HASH_HEX];
    upstream->instructions_held = false;
    if (worker->gateway->pins == NULL || mg_pins_hash_instructions(upstream->initialize_result, hash) != 0)
        return;
    mg_pins_judgement_t j;
    judge_definition(worker, server_index, "", hash, json_object_get(upstream->initialize_result, "instructions"), &j);
    upstream->instructions_held = j.hold;
}
