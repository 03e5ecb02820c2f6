/*
 * worker.c - closures posted between worker threads (see worker.h).
 *
 * Built on h2o's multithread queue: a message is a malloc'ed link plus fn/arg,
 * delivered in batches on the target loop. Ordering between two posts from the same
 * thread to the same target is preserved, which the stdio transport relies on (a
 * call's messages arrive before its final response).
 */
#include "core/worker.h"

#include <assert.h>
#include <stdlib.h>

typedef struct st_posted_t {
    h2o_multithread_message_t super;
    mg_worker_fn fn;
    void *arg;
} posted_t;

void mg_worker_post(mg_worker_t *target, mg_worker_fn fn, void *arg)
{
    posted_t *posted = calloc(1, sizeof(*posted));
    if (posted == NULL)
        abort(); /* out of memory: nothing sane to do on a message path */
    posted->fn = fn;
    posted->arg = arg;
    h2o_multithread_send_message(&target->receiver, &posted->super);
}

void mg_worker_on_posted(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    mg_worker_t *worker = H2O_STRUCT_FROM_MEMBER(mg_worker_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        posted_t *posted = H2O_STRUCT_FROM_MEMBER(posted_t, super.link, messages->next);
        h2o_linklist_unlink(&posted->super.link);
        posted->fn(worker, posted->arg);
        free(posted);
    }
}

void mg_worker_post_json_to_all(mg_gateway_t *gateway, mg_worker_fn fn, size_t server_index, const json_t *msg)
{
    for (size_t i = 0; i < gateway->workers_len; i++) {
        mg_json_note_t *note = malloc(sizeof(*note));
        if (note == NULL)
            abort();
        note->server_index = server_index;
        note->msg = json_deep_copy(msg);
        mg_worker_post(gateway->workers[i], fn, note);
    }
}

static _Thread_local const mg_worker_t *current_worker; /* NULL on the main thread */

void mg_worker_enter_thread(mg_worker_t *worker)
{
    assert(current_worker == NULL);
    current_worker = worker;
}

bool mg_worker_on_own_thread(const mg_worker_t *worker)
{
    return current_worker == worker;
}

const char *mg_worker_upstream_token(const mg_worker_t *worker, size_t server_index)
{
    return worker->upstream_tokens != NULL ? worker->upstream_tokens[server_index] : NULL;
}

uint64_t mg_worker_now(mg_worker_t *worker)
{
    return h2o_now(worker->loop);
}
