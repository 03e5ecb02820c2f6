/*
 * admin.c - the admin API on the first worker: identify, the role, the target and the body, then a job
 * for the agent (admin_agent.c) and a ticket that waits for its answer (see admin.h).
 *
 * The order of the checks is the order of what a caller may learn: who it is (401), whether it may use
 * the API at all (403), then whether the target exists (404, 405), then whether the body is usable (415,
 * 400). The store's verdicts (404 for an unknown id or pin, 409 for one decided already) come from the
 * agent.
 */
#include "http/admin.h"

#include <assert.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "http/admin_internal.h"
#include "http/front.h"
#include "obs/log.h"
#include "policy/policy.h"

typedef struct st_ticket_t {
    h2o_linklist_t link; /* in admin->tickets while the answer is awaited */
    uint64_t serial;
    h2o_req_t *req;
} ticket_t;

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 415:
        return "Unsupported Media Type";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static void send_text(h2o_req_t *req, int status, const char *text, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, text, len);
}

static void send_error(h2o_req_t *req, int status, const char *message)
{
    json_t *body = json_pack("{s:s}", "error", message);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    send_text(req, status, text != NULL ? text : "{}", text != NULL ? strlen(text) : 2);
    free(text);
    json_decref(body);
}

static void peer_address(h2o_req_t *req, char out[64])
{
    struct sockaddr_storage address;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&address);
    char host[NI_MAXHOST];
    out[0] = '\0';
    if (len != 0 && h2o_socket_getnumerichost((struct sockaddr *)&address, len, host) != SIZE_MAX)
        snprintf(out, 64, "%.63s", host); /* a numeric address fits */
}

static bool holds_role(mg_worker_t *worker, const mg_principal_t *principal)
{
    const mg_config_admin_t *config = &worker->gateway->config->admin;
    mg_policy_access_t *access = mg_policy_access_for(worker->policy_cache, worker->policy, principal);
    bool found = access != NULL && mg_policy_access_holds_any(access, config->roles, config->roles_len);
    mg_policy_access_release(access);
    return found;
}

static void on_ticket_disposed(void *slot)
{
    ticket_t *ticket = slot;
    if (h2o_linklist_is_linked(&ticket->link))
        h2o_linklist_unlink(&ticket->link);
}

static char *copy_or_null(const char *text)
{
    return text != NULL ? strdup(text) : NULL;
}

/* The request is the caller's to make: hand it to the agent and wait. */
static void submit(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal, const mg_admin_route_t *route,
                   const char *reason)
{
    mg_admin_t *admin = worker->gateway->admin;
    mg_admin_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL || (job->principal = strdup(principal->name)) == NULL ||
        (job->subject = strdup(principal->subject)) == NULL ||
        (principal->issuer != NULL && (job->issuer = copy_or_null(principal->issuer)) == NULL) ||
        (principal->key_id != NULL && (job->key_id = copy_or_null(principal->key_id)) == NULL)) {
        if (job != NULL)
            mg_admin_job_free(job);
        send_error(req, 500, "out of memory");
        return;
    }
    job->route = *route;
    snprintf(job->reason, sizeof(job->reason), "%s", reason);
    job->method = mg_principal_method_name(principal->method);
    peer_address(req, job->client_address);
    ticket_t *ticket = h2o_mem_alloc_shared(&req->pool, sizeof(*ticket), on_ticket_disposed);
    *ticket = (ticket_t){.serial = admin->next_serial++, .req = req};
    h2o_linklist_insert(&admin->tickets, &ticket->link);
    job->serial = ticket->serial;
    mg_admin_submit(admin, job);
}

/* The caller may use the API: read what it asks for. */
static void serve(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal)
{
    mg_admin_route_t route;
    char error[256], reason[MG_ADMIN_REASON_MAX + 1] = "";
    int status = mg_admin_route_parse(req->method.base, req->method.len, req->path.base, req->path.len, &route, error,
                                      sizeof(error));
    if (status == MG_ADMIN_BAD_METHOD)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, route.allow, strlen(route.allow));
    if (status == 0 && req->entity.len > 0) {
        ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
        h2o_iovec_t type = at < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[at].value;
        if (route.action == MG_ADMIN_LIST_APPROVALS || route.action == MG_ADMIN_LIST_TOOLS) {
            status = 400;
            snprintf(error, sizeof(error), "a GET has no body");
        } else if (!mg_admin_is_json_type(type.base, type.len)) {
            status = 415;
            snprintf(error, sizeof(error), "the body must be application/json");
        } else {
            status = mg_admin_body_parse(req->entity.base, req->entity.len, reason, error, sizeof(error));
        }
    }
    if (status != 0) {
        send_error(req, status, error);
        return;
    }
    submit(worker, req, principal, &route, reason);
}

static void on_identified(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal,
                          const mg_auth_refusal_t *refusal)
{
    mg_auth_refusal_t anonymous = {.status = 401};
    if (principal != NULL && principal->method == MG_AUTH_ANONYMOUS) {
        snprintf(anonymous.description, sizeof(anonymous.description), "the admin API needs credentials");
        refusal = &anonymous;
        principal = NULL;
    }
    if (principal == NULL) {
        mg_auth_add_challenge(worker, req, scope, refusal);
        send_error(req, refusal->status, refusal->description);
        return;
    }
    if (!holds_role(worker, principal)) {
        mg_log_fields(MG_LOG_WARN, "admin.forbidden",
                      json_pack("{s:s, s:s%}", "principal", principal->name, "path", req->path.base,
                                req->path.len > 256 ? (size_t)256 : req->path.len),
                      "refused an admin request: %s holds none of admin.roles", principal->name);
        send_error(req, 403, "forbidden: the caller holds none of admin.roles");
        return;
    }
    serve(worker, req, principal);
}

int mg_admin_handle(mg_worker_t *worker, h2o_req_t *req)
{
    assert(worker->index == 0); /* admin.listen is on the first worker only: its tickets are its own */
    mg_principal_t *principal = NULL;
    mg_auth_refusal_t refusal;
    int rc = mg_auth_identify(worker, req, -1, on_identified, &principal, &refusal);
    if (rc == MG_AUTH_PENDING)
        return 0;
    on_identified(worker, req, -1, rc == 0 ? principal : NULL, &refusal);
    mg_principal_release(principal);
    return 0;
}

void mg_admin_on_answer(mg_worker_t *worker, void *arg)
{
    mg_admin_answer_t *answer = arg;
    mg_admin_t *admin = worker->gateway->admin;
    for (h2o_linklist_t *node = admin->tickets.next; node != &admin->tickets; node = node->next) {
        ticket_t *ticket = H2O_STRUCT_FROM_MEMBER(ticket_t, link, node);
        if (ticket->serial != answer->serial)
            continue;
        h2o_linklist_unlink(&ticket->link);
        send_text(ticket->req, answer->status, answer->body != NULL ? answer->body : "{}",
                  answer->body != NULL ? answer->len : 2);
        break;
    }
    /* no ticket: the client left; the decision, if one was made, stands */
    free(answer->body);
    free(answer);
}
