/*
 * admin_internal.h - what admin.c (the worker's side) and admin_agent.c (the agent thread) share.
 */
#ifndef MG_HTTP_ADMIN_INTERNAL_H
#define MG_HTTP_ADMIN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/admin.h"
#include "http/admin_route.h"
#include "store/sqlite.h"

/* One request for the agent: what to do and who asked (copies: the job crosses threads). */
typedef struct st_mg_admin_job_t {
    struct st_mg_admin_job_t *next;
    uint64_t serial; /* the ticket waiting on the first worker */
    mg_admin_route_t route;
    char reason[MG_ADMIN_REASON_MAX + 1];
    char *principal; /* the principal's name, "api_key:ops": the decider recorded */
    char *subject;
    char *issuer;       /* NULL for API keys */
    char *key_id;       /* NULL but for API keys */
    const char *method; /* mg_principal_method_name(): a static string */
    char client_address[64];
} mg_admin_job_t;

/* The agent's answer to a job, posted to the first worker (which frees it). */
typedef struct st_mg_admin_answer_t {
    uint64_t serial;
    int status;
    char *body; /* JSON text (malloc'd) */
    size_t len;
} mg_admin_answer_t;

struct st_mg_admin_t {
    mg_gateway_t *gateway;
    mg_store_t *store;    /* the agent's own connection */
    pthread_mutex_t lock; /* guards the queue, running and stopping */
    pthread_cond_t wake;
    mg_admin_job_t *head, *tail;
    pthread_t thread;
    bool running, stopping;
    /* the first worker's: tickets of requests waiting for their answer; only its thread touches these */
    h2o_linklist_t tickets;
    uint64_t next_serial;
};

/* Queues `job` (owned) for the agent. Thread-safe. */
void mg_admin_submit(mg_admin_t *admin, mg_admin_job_t *job);
void mg_admin_job_free(mg_admin_job_t *job);
/* Runs on the first worker: the agent's answer (owned). */
void mg_admin_on_answer(mg_worker_t *worker, void *answer);

#endif
