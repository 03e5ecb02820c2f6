/*
 * wait.c - requests that wait for the identity provider (see auth.h, MG_AUTH_PENDING).
 *
 * Two things make a request wait rather than be answered at once: an opaque token that only the
 * authorization server can judge (introspection), and a JWT whose key id the worker does not know
 * yet, while a fresh key set is being fetched (a rotation). The worker never blocks: the request is
 * put on its list of waiters, the agent or the introspector does the network work on its own thread
 * and posts the outcome back, and the waiters it concerns are settled and resumed.
 *
 * A waiter lives in its request's memory pool: a client that goes away takes its waiter off the list
 * (the pool's dispose callback), so nothing is resumed for a request that no longer exists. A waiter
 * that nobody settles within MG_AUTH_WAIT_MS is refused with 503; a worker holds at most
 * MG_AUTH_WAITERS_MAX of them.
 */
#include <string.h>

#include "auth/auth_internal.h"

static void finish(mg_auth_waiter_t *waiter, mg_principal_t *principal, const mg_auth_refusal_t *refusal)
{
    waiter->resume(waiter->worker, waiter->req, waiter->scope, principal, refusal);
    mg_principal_release(principal);
}

/* Off whatever list it is on: the worker's waiters, or mg_auth_wake's chosen ones. */
static void unlink_waiter(mg_auth_waiter_t *waiter)
{
    if (h2o_linklist_is_linked(&waiter->link))
        h2o_linklist_unlink(&waiter->link);
    if (h2o_timeout_is_linked(&waiter->expiry))
        h2o_timeout_unlink(&waiter->expiry);
    if (waiter->waiting) {
        waiter->waiting = false;
        ((mg_auth_view_t *)waiter->worker->auth_view)->waiters_len--;
    }
}

static void on_request_disposed(void *slot)
{
    unlink_waiter(slot);
}

static void on_expired(h2o_timeout_entry_t *entry)
{
    mg_auth_waiter_t *waiter = H2O_STRUCT_FROM_MEMBER(mg_auth_waiter_t, expiry, entry);
    unlink_waiter(waiter);
    mg_auth_refusal_t refusal;
    mg_auth_refuse(&refusal, 503, NULL, "the identity provider did not answer within %d ms", MG_AUTH_WAIT_MS);
    finish(waiter, NULL, &refusal);
}

void mg_auth_waiters_init(mg_worker_t *worker)
{
    mg_auth_view_t *view = worker->auth_view;
    h2o_linklist_init_anchor(&view->waiters);
    h2o_timeout_init(worker->loop, &view->wait_timeout, MG_AUTH_WAIT_MS);
}

int mg_auth_wait(mg_worker_t *worker, h2o_req_t *req, long scope, mg_auth_resume_fn resume, mg_auth_wait_kind_t kind,
                 uint64_t key, h2o_iovec_t credential, mg_auth_refusal_t *refusal)
{
    mg_auth_view_t *view = worker->auth_view;
    if (view->waiters_len >= MG_AUTH_WAITERS_MAX)
        return mg_auth_refuse(refusal, 503, NULL, "too many requests are waiting for the identity provider");
    mg_auth_waiter_t *waiter = h2o_mem_alloc_shared(&req->pool, sizeof(*waiter), on_request_disposed);
    *waiter = (mg_auth_waiter_t){.worker = worker,
                                 .req = req,
                                 .scope = scope,
                                 .resume = resume,
                                 .kind = kind,
                                 .key = key,
                                 .credential = credential,
                                 .expiry = {.cb = on_expired},
                                 .waiting = true};
    h2o_linklist_insert(&view->waiters, &waiter->link);
    view->waiters_len++;
    h2o_timeout_link(worker->loop, &view->wait_timeout, &waiter->expiry);
    return MG_AUTH_PENDING;
}

mg_auth_waiter_t *mg_auth_find_waiter(mg_worker_t *worker, mg_auth_wait_kind_t kind, h2o_iovec_t credential)
{
    mg_auth_view_t *view = worker->auth_view;
    for (h2o_linklist_t *node = view->waiters.next; node != &view->waiters; node = node->next) {
        mg_auth_waiter_t *waiter = H2O_STRUCT_FROM_MEMBER(mg_auth_waiter_t, link, node);
        if (waiter->kind == kind && h2o_memis(waiter->credential.base, waiter->credential.len, credential.base,
                                              credential.len))
            return waiter;
    }
    return NULL;
}

void mg_auth_wake(mg_worker_t *worker, mg_auth_wait_kind_t kind, uint64_t key, mg_auth_settle_fn settle, void *arg)
{
    mg_auth_view_t *view = worker->auth_view;
    /* the chosen ones leave the list first: resuming one may add new waiters */
    h2o_linklist_t chosen;
    h2o_linklist_init_anchor(&chosen);
    for (h2o_linklist_t *node = view->waiters.next, *next; node != &view->waiters; node = next) {
        next = node->next;
        mg_auth_waiter_t *waiter = H2O_STRUCT_FROM_MEMBER(mg_auth_waiter_t, link, node);
        if (waiter->kind != kind || waiter->key != key)
            continue;
        unlink_waiter(waiter);
        h2o_linklist_insert(&chosen, &waiter->link);
    }
    while (!h2o_linklist_is_empty(&chosen)) {
        mg_auth_waiter_t *waiter = H2O_STRUCT_FROM_MEMBER(mg_auth_waiter_t, link, chosen.next);
        h2o_linklist_unlink(&waiter->link);
        mg_principal_t *principal = NULL;
        mg_auth_refusal_t refusal;
        if (settle(waiter, arg, &principal, &refusal) != 0)
            principal = NULL;
        finish(waiter, principal, principal != NULL ? NULL : &refusal);
    }
}
