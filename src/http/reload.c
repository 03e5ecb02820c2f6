/* reload.c - see reload.h. */
#include "http/reload.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "obs/log.h"
#include "policy/policy.h"

static void log_warning(void *ctx, const char *warning)
{
    (void)ctx;
    mg_log(MG_LOG_WARN, "policy.warning", "%s", warning);
}

int mg_reload_init(mg_gateway_t *gateway, mg_error_t *err)
{
    if (mg_policy_create(gateway->config, &gateway->policy, err) != 0)
        return -1;
    if (gateway->policy != NULL)
        mg_policy_lint(gateway->policy, gateway->config, log_warning, NULL);
    for (size_t i = 0; i < gateway->workers_len; i++) {
        mg_worker_t *worker = gateway->workers[i];
        worker->policy = gateway->policy != NULL ? mg_policy_retain(gateway->policy) : NULL;
        if ((worker->policy_cache = mg_policy_cache_create()) == NULL) {
            mg_error_set(err, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* On the worker's thread: the new policy (arg, a reference, NULL for none) replaces the old. */
static void swap_policy(mg_worker_t *worker, void *arg)
{
    mg_policy_t *old = worker->policy;
    worker->policy = arg;
    mg_policy_cache_destroy(worker->policy_cache); /* accesses still held by requests outlive it */
    worker->policy_cache = mg_policy_cache_create();
    if (old != NULL)
        mg_policy_release(old);
}

static bool same_servers(const mg_config_t *a, const mg_config_t *b)
{
    if (a->servers_len != b->servers_len)
        return false;
    for (size_t i = 0; i < a->servers_len; i++) {
        if (strcmp(a->servers[i].name, b->servers[i].name) != 0)
            return false;
    }
    return true;
}

void mg_reload_policy(mg_gateway_t *gateway)
{
    const mg_config_t *running = gateway->config;
    /* the embedded quickstart has no file; reloading it rebuilds the same policy, harmlessly */
    const char *path = running->source[0] == '<' ? NULL : running->source;
    mg_config_t *config;
    mg_error_t err;
    if (mg_cli_load_config(path, MG_CONFIG_FULL, &config, &err) != 0) {
        mg_log(MG_LOG_ERROR, "policy.reload_failed", "reload refused, the running policy stays: %s", err.message);
        return;
    }
    if (!same_servers(running, config)) {
        mg_log(MG_LOG_ERROR, "policy.reload_failed",
               "reload refused, the running policy stays: the servers (names or order) differ from the running "
               "ones; that needs a restart");
        mg_config_release(config);
        return;
    }
    mg_policy_t *policy;
    if (mg_policy_create(config, &policy, &err) != 0) {
        mg_log(MG_LOG_ERROR, "policy.reload_failed", "reload refused, the running policy stays: %s", err.message);
        mg_config_release(config);
        return;
    }
    if (policy != NULL)
        mg_policy_lint(policy, config, log_warning, NULL);
    mg_config_release(config);
    for (size_t i = 0; i < gateway->workers_len; i++)
        mg_worker_post(gateway->workers[i], swap_policy, policy != NULL ? mg_policy_retain(policy) : NULL);
    if (gateway->policy != NULL)
        mg_policy_release(gateway->policy);
    gateway->policy = policy;
    mg_log(MG_LOG_INFO, "policy.reloaded",
           "roles, bindings and scopes reloaded from %s (other sections need a restart to change)",
           path != NULL ? path : "the embedded configuration");
}

void mg_reload_worker_dispose(mg_worker_t *worker)
{
    mg_policy_cache_destroy(worker->policy_cache);
    worker->policy_cache = NULL;
    if (worker->policy != NULL)
        mg_policy_release(worker->policy);
    worker->policy = NULL;
}

void mg_reload_dispose(mg_gateway_t *gateway)
{
    if (gateway->policy != NULL)
        mg_policy_release(gateway->policy);
    gateway->policy = NULL;
}
