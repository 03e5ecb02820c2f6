/*
 * admin_agent.c - the admin API's agent: the thread that alone touches the store for the admin API (see
 * admin.h).
 *
 * Jobs are few (an operator's clicks and scripts), so one thread runs them one at a time, in the order
 * they came, each a store call or two: a list read in one transaction, or a decision made by the store's
 * own compare-and-set (mg_store_approval_decide, mg_store_pin_approve), which is what makes a second
 * decision on the same id a 409 whichever process made the first. A decision is logged and audited here,
 * once it is made, whether or not its caller is still there to read the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/json_write.h"
#include "http/admin_internal.h"
#include "obs/log.h"
#include "store/rows_json.h"

void mg_admin_job_free(mg_admin_job_t *job)
{
    free(job->principal);
    free(job->subject);
    free(job->issuer);
    free(job->key_id);
    free(job);
}

/* ---- answers ------------------------------------------------------------------------------------------- */

static mg_admin_answer_t *answer_json(int status, json_t *body)
{
    mg_admin_answer_t *answer = calloc(1, sizeof(*answer));
    if (answer == NULL)
        abort(); /* the waiting request would never hear back */
    answer->status = status;
    answer->body = body != NULL ? mg_json_write_text(body, JSON_COMPACT, &answer->len) : NULL;
    if (answer->body == NULL) {
        answer->status = 500;
        answer->body = strdup("{\"error\":\"out of memory\"}");
        answer->len = answer->body != NULL ? strlen(answer->body) : 0;
    }
    json_decref(body);
    return answer;
}

static mg_admin_answer_t *answer_error(int status, const char *message)
{
    return answer_json(status, json_pack("{s:s}", "error", message));
}

static mg_admin_answer_t *store_failed(const mg_admin_job_t *job, const mg_error_t *err)
{
    mg_log_fields(MG_LOG_ERROR, "admin.store_failed", json_pack("{s:s}", "principal", job->principal), "%s",
                  err->message);
    return answer_error(500, "the state store failed; see the gateway's log");
}

/* ---- audit --------------------------------------------------------------------------------------------- */

static void emit(mg_admin_t *admin, const mg_admin_job_t *job, const char *method, mg_audit_decision_t decision,
                 const char *server, const char *tool, json_t *findings)
{
    mg_audit_t *audit = admin->gateway->audit;
    if (audit == NULL) {
        json_decref(findings);
        return;
    }
    char reason[MG_ADMIN_REASON_MAX + 64];
    snprintf(reason, sizeof(reason), "%s through the admin API%s%s", decision == MG_AUDIT_DENY ? "denied" : "approved",
             job->reason[0] != '\0' ? ": " : "", job->reason);
    mg_audit_event_t event = MG_AUDIT_EVENT_INIT;
    event.principal.subject = job->subject;
    event.principal.issuer = job->issuer;
    event.principal.key_id = job->key_id;
    event.principal.method = job->method;
    event.client_address = job->client_address[0] != '\0' ? job->client_address : NULL;
    event.server = server;
    event.item_kind = tool[0] != '\0' ? MG_AUDIT_ITEM_TOOL : MG_AUDIT_ITEM_NONE;
    event.item_name = tool[0] != '\0' ? tool : NULL;
    event.method = method;
    event.decision = decision;
    event.rule = "admin.roles";
    event.reason = reason;
    event.status = "ok";
    event.findings = findings;
    mg_error_t err;
    if (mg_audit_emit(audit, &event, &err) != 0)
        mg_log(MG_LOG_ERROR, "admin.audit_failed", "%s", err.message);
    json_decref(findings);
}

/* ---- jobs ---------------------------------------------------------------------------------------------- */

static mg_admin_answer_t *list_approvals(mg_admin_t *admin, const mg_admin_job_t *job)
{
    mg_store_approval_t *rows = NULL;
    size_t count = 0;
    mg_error_t err;
    int64_t now = (int64_t)time(NULL);
    if (mg_store_approval_list(admin->store, now - MG_STORE_APPROVALS_LIST_WINDOW_S, &rows, &count, &err) != 0)
        return store_failed(job, &err);
    size_t kept = 0; /* the ?state filter, on the state people see (a pending row past its deadline is expired) */
    for (size_t i = 0; i < count; i++) {
        if (job->route.state[0] != '\0' && strcmp(mg_store_approval_state(&rows[i], now), job->route.state) != 0) {
            mg_store_approval_dispose(&rows[i]);
            continue;
        }
        rows[kept++] = rows[i];
    }
    json_t *list = mg_store_approvals_json(rows, kept, now);
    mg_store_approval_rows_free(rows, kept);
    return list != NULL ? answer_json(200, list) : answer_error(500, "out of memory");
}

static mg_admin_answer_t *decide_approval(mg_admin_t *admin, const mg_admin_job_t *job)
{
    const mg_admin_route_t *route = &job->route;
    mg_error_t err;
    char prior[16] = "";
    int64_t now = (int64_t)time(NULL);
    int rc = mg_store_approval_decide(admin->store, route->id, route->verdict, job->principal, now, prior, &err);
    if (rc == MG_STORE_NOT_FOUND || rc == MG_STORE_CONFLICT) {
        mg_log_fields(MG_LOG_INFO, "admin.approvals.refused",
                      json_pack("{s:s, s:s, s:s}", "principal", job->principal, "approval", route->id, "state",
                                rc == MG_STORE_CONFLICT ? prior : "unknown"),
                      "%s could not decide %s: %s", job->principal, route->id, err.message);
        return answer_error(rc == MG_STORE_NOT_FOUND ? 404 : 409, err.message);
    }
    if (rc != 0)
        return store_failed(job, &err);
    mg_store_approval_t row;
    if (mg_store_approval_get(admin->store, route->id, &row, &err) != 0)
        return store_failed(job, &err);
    bool approved = strcmp(route->verdict, "approved") == 0;
    mg_log_fields(MG_LOG_WARN, approved ? "admin.approvals.approved" : "admin.approvals.denied",
                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "principal", job->principal, "approval", route->id, "server",
                            row.server, "tool", row.tool, "reason", job->reason),
                  "approval %s (%s/%s) %s by %s through the admin API", route->id, row.server, row.tool, route->verdict,
                  job->principal);
    emit(admin, job, approved ? "admin/approvals/approve" : "admin/approvals/deny",
         approved ? MG_AUDIT_ALLOW : MG_AUDIT_DENY, row.server, row.tool,
         json_pack("[{s:s, s:s, s:s}]", "kind", "approval", "approval", route->id, "arguments_sha256",
                   row.arguments_sha256));
    json_t *body = mg_store_approval_json(&row, now);
    mg_store_approval_dispose(&row);
    return body != NULL ? answer_json(200, body) : answer_error(500, "out of memory");
}

static mg_admin_answer_t *list_tools(mg_admin_t *admin, const mg_admin_job_t *job)
{
    mg_store_pin_t *rows = NULL;
    size_t count = 0;
    uint64_t generation;
    mg_error_t err;
    if (mg_store_pin_list(admin->store, &rows, &count, &generation, &err) != 0)
        return store_failed(job, &err);
    json_t *list = mg_store_pins_json(rows, count, admin->gateway->config->pins.mode);
    mg_store_pin_rows_free(rows, count);
    return list != NULL ? answer_json(200, list) : answer_error(500, "out of memory");
}

/* The pin of (server, tool) as the list shows it, or NULL. */
static json_t *pin_json(mg_admin_t *admin, const char *server, const char *tool)
{
    mg_store_pin_t *rows = NULL;
    size_t count = 0;
    uint64_t generation;
    mg_error_t err;
    json_t *found = NULL;
    if (mg_store_pin_list(admin->store, &rows, &count, &generation, &err) != 0)
        return NULL;
    for (size_t i = 0; i < count && found == NULL; i++) {
        if (strcmp(rows[i].server, server) == 0 && strcmp(rows[i].tool, tool) == 0)
            found = mg_store_pin_json(&rows[i], admin->gateway->config->pins.mode);
    }
    mg_store_pin_rows_free(rows, count);
    return found;
}

static mg_admin_answer_t *approve_tool(mg_admin_t *admin, const mg_admin_job_t *job)
{
    const mg_admin_route_t *route = &job->route;
    char name[2 * MG_ADMIN_NAME_MAX + 16], approved[65] = "";
    snprintf(name, sizeof(name), route->tool[0] != '\0' ? "%s/%s" : "%s#instructions", route->server, route->tool);
    mg_error_t err;
    int rc = mg_store_pin_approve(admin->store, route->server, route->tool, (int64_t)time(NULL), approved, &err);
    if (rc == MG_STORE_NOT_FOUND || rc == MG_STORE_CONFLICT) {
        mg_log_fields(MG_LOG_INFO, "admin.tools.refused",
                      json_pack("{s:s, s:s}", "principal", job->principal, "tool", name), "%s could not approve %s: %s",
                      job->principal, name, err.message);
        char message[sizeof(name) + 64];
        snprintf(message, sizeof(message),
                 rc == MG_STORE_NOT_FOUND ? "no pin is named %s (see GET /admin/tools)"
                                          : "%s has no pending definition to approve",
                 name);
        return answer_error(rc == MG_STORE_NOT_FOUND ? 404 : 409, message);
    }
    if (rc != 0)
        return store_failed(job, &err);
    mg_log_fields(MG_LOG_WARN, "admin.tools.approved",
                  json_pack("{s:s, s:s, s:s, s:s}", "principal", job->principal, "tool", name, "sha256", approved,
                            "reason", job->reason),
                  "%s approved by %s through the admin API: sha256:%s is its pinned definition now", name,
                  job->principal, approved);
    emit(admin, job, "admin/tools/approve", MG_AUDIT_ALLOW, route->server, route->tool[0] != '\0' ? route->tool : "",
         json_pack("[{s:s, s:s, s:s}]", "kind", "pin", "pin", name, "approved_sha256", approved));
    json_t *body = pin_json(admin, route->server, route->tool);
    return body != NULL ? answer_json(200, body)
                        : answer_json(200, json_pack("{s:s, s:s}", "name", name, "approved_sha256", approved));
}

static mg_admin_answer_t *run_job(mg_admin_t *admin, const mg_admin_job_t *job)
{
    switch (job->route.action) {
    case MG_ADMIN_LIST_APPROVALS:
        return list_approvals(admin, job);
    case MG_ADMIN_DECIDE_APPROVAL:
        return decide_approval(admin, job);
    case MG_ADMIN_LIST_TOOLS:
        return list_tools(admin, job);
    case MG_ADMIN_APPROVE_TOOL:
        return approve_tool(admin, job);
    }
    return answer_error(404, "not found");
}

/* ---- the thread ---------------------------------------------------------------------------------------- */

void mg_admin_submit(mg_admin_t *admin, mg_admin_job_t *job)
{
    pthread_mutex_lock(&admin->lock);
    if (admin->tail != NULL)
        admin->tail->next = job;
    else
        admin->head = job;
    admin->tail = job;
    pthread_cond_signal(&admin->wake);
    pthread_mutex_unlock(&admin->lock);
}

static void *agent_main(void *arg)
{
    mg_admin_t *admin = arg;
    pthread_mutex_lock(&admin->lock);
    while (!admin->stopping) {
        mg_admin_job_t *job = admin->head;
        if (job == NULL) {
            pthread_cond_wait(&admin->wake, &admin->lock);
            continue;
        }
        admin->head = job->next;
        if (admin->head == NULL)
            admin->tail = NULL;
        pthread_mutex_unlock(&admin->lock);
        mg_admin_answer_t *answer = run_job(admin, job);
        answer->serial = job->serial;
        mg_admin_job_free(job);
        mg_worker_post(admin->gateway->workers[0], mg_admin_on_answer, answer);
        pthread_mutex_lock(&admin->lock);
    }
    pthread_mutex_unlock(&admin->lock);
    return NULL;
}

int mg_admin_create(mg_gateway_t *gateway, mg_error_t *err)
{
    gateway->admin = NULL;
    if (!gateway->config->admin.enabled)
        return 0;
    mg_admin_t *admin = calloc(1, sizeof(*admin));
    if (admin == NULL)
        return mg_error_set(err, "out of memory");
    if (mg_store_open(gateway->config->state_dir, MG_STORE_CREATE, &admin->store, err) != 0) {
        free(admin);
        return -1;
    }
    admin->gateway = gateway;
    pthread_mutex_init(&admin->lock, NULL);
    pthread_cond_init(&admin->wake, NULL);
    h2o_linklist_init_anchor(&admin->tickets);
    admin->next_serial = 1;
    gateway->admin = admin;
    return 0;
}

int mg_admin_start(mg_gateway_t *gateway, mg_error_t *err)
{
    mg_admin_t *admin = gateway->admin;
    if (admin == NULL)
        return 0;
    if (pthread_create(&admin->thread, NULL, agent_main, admin) != 0)
        return mg_error_set(err, "cannot start the admin agent");
    pthread_setname_np(admin->thread, "mg-admin");
    admin->running = true;
    return 0;
}

void mg_admin_stop(mg_gateway_t *gateway)
{
    mg_admin_t *admin = gateway->admin;
    if (admin == NULL || !admin->running)
        return;
    pthread_mutex_lock(&admin->lock);
    admin->stopping = true;
    pthread_cond_signal(&admin->wake);
    pthread_mutex_unlock(&admin->lock);
    pthread_join(admin->thread, NULL);
    admin->running = false;
}

void mg_admin_destroy(mg_admin_t *admin)
{
    if (admin == NULL)
        return;
    while (admin->head != NULL) {
        mg_admin_job_t *next = admin->head->next;
        mg_admin_job_free(admin->head);
        admin->head = next;
    }
    mg_store_close(admin->store);
    pthread_mutex_destroy(&admin->lock);
    pthread_cond_destroy(&admin->wake);
    free(admin);
}
