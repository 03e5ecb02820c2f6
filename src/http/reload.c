/* reload.c - see reload.h. */
#include "http/reload.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "limit/limit.h"
#include "obs/log.h"
#include "policy/policy.h"

static void log_warning(void *ctx, const char *warning)
{
    (void)ctx;
    mg_log(MG_LOG_WARN, "policy.warning", "%s", warning);
}

#define DEFAULT_MAX_KEYS 100000 /* config/limits.c's default, when there is no rate_limits section */

int mg_reload_init(mg_gateway_t *gateway, mg_error_t *err)
{
    if (mg_policy_create(gateway->config, &gateway->policy, err) != 0)
        return -1;
    long long max_keys =
        gateway->config->rate_limits.present ? gateway->config->rate_limits.max_keys : DEFAULT_MAX_KEYS;
    if (mg_limit_create((size_t)max_keys, NULL, NULL, &gateway->limiter, err) != 0 ||
        mg_limit_rules_create(gateway->limiter, gateway->config, &gateway->limit_rules, err) != 0)
        return -1;
    if (gateway->policy != NULL)
        mg_policy_lint(gateway->policy, gateway->config, log_warning, NULL);
    for (size_t i = 0; i < gateway->workers_len; i++) {
        mg_worker_t *worker = gateway->workers[i];
        worker->policy = gateway->policy != NULL ? mg_policy_retain(gateway->policy) : NULL;
        worker->limit_rules = mg_limit_rules_retain(gateway->limit_rules);
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

/* On the worker's thread: the new rate limit rules (arg, a reference) replace the old; the counters,
 * shared, stay. */
static void swap_limit_rules(mg_worker_t *worker, void *arg)
{
    mg_limit_rules_t *old = worker->limit_rules;
    worker->limit_rules = arg;
    mg_limit_rules_release(old);
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
    mg_limit_rules_t *limit_rules;
    if (mg_limit_rules_create(gateway->limiter, config, &limit_rules, &err) != 0) {
        mg_log(MG_LOG_ERROR, "policy.reload_failed", "reload refused, the running policy stays: %s", err.message);
        if (policy != NULL)
            mg_policy_release(policy);
        mg_config_release(config);
        return;
    }
    if (policy != NULL)
        mg_policy_lint(policy, config, log_warning, NULL);
    mg_config_release(config);
    for (size_t i = 0; i < gateway->workers_len; i++) {
        mg_worker_post(gateway->workers[i], swap_policy, policy != NULL ? mg_policy_retain(policy) : NULL);
        mg_worker_post(gateway->workers[i], swap_limit_rules, mg_limit_rules_retain(limit_rules));
    }
    mg_limit_rules_release(gateway->limit_rules);
    gateway->limit_rules = limit_rules;
    if (gateway->policy != NULL)
        mg_policy_release(gateway->policy);
    gateway->policy = policy;
    mg_log(MG_LOG_INFO, "policy.reloaded",
           "roles, bindings, scopes, rate_limits and costs reloaded from %s (other sections need a restart to "
           "change)",
           path != NULL ? path : "the embedded configuration");
}

void mg_reload_worker_dispose(mg_worker_t *worker)
{
    mg_policy_cache_destroy(worker->policy_cache);
    worker->policy_cache = NULL;
    if (worker->policy != NULL)
        mg_policy_release(worker->policy);
    worker->policy = NULL;
    mg_limit_rules_release(worker->limit_rules);
    worker->limit_rules = NULL;
}

void mg_reload_dispose(mg_gateway_t *gateway)
{
    if (gateway->policy != NULL)
        mg_policy_release(gateway->policy);
    gateway->policy = NULL;
    mg_limit_rules_release(gateway->limit_rules);
    gateway->limit_rules = NULL;
    mg_limit_destroy(gateway->limiter); /* after every worker: their exchanges' holds point into it */
    gateway->limiter = NULL;
}
