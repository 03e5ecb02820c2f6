/*
 * metrics_endpoint.c - see metrics_endpoint.h.
 *
 * Protection reuses the identify stage as it is for /mcp (scope -1: the same audience, the same
 * challenge), so a scraper holds the kind of credential any other caller holds: an API key with a
 * role, or a token from the identity provider. The anonymous principal (auth.required: false and no
 * credential) is refused: `require: authenticated` means someone the gateway can name.
 *
 * The families collected here read other modules' counters at scrape time; they are cheap enough
 * (a lock per limiter shard, the audit writer's mutex once) at Prometheus' scrape intervals.
 */
#include "http/metrics_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "http/front.h"
#include "limit/limit.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "policy/policy.h"
#include "upstream/upstream.h"

#define MAX_RULES 256

bool mg_metrics_endpoint_on_main(const mg_gateway_t *gateway, h2o_iovec_t path)
{
    const mg_config_metrics_t *metrics = &gateway->config->metrics;
    return metrics->enabled && metrics->listen.address == NULL &&
           h2o_memis(path.base, path.len, metrics->path, strlen(metrics->path));
}

/* ---- scrape-time families ----------------------------------------------------------------------- */

static void render_upstreams(mg_gateway_t *gateway, mg_bytes_t *out)
{
    const mg_config_t *config = gateway->config;
    mg_metrics_write_family(out, "mcpgate_upstream_up", "gauge",
                            "1 when every worker can use the upstream (as /readyz reports it), else 0.");
    for (size_t i = 0; i < config->servers_len; i++) {
        bool up = true;
        for (size_t w = 0; w < gateway->workers_len; w++) {
            mg_upstream_t *upstream = gateway->workers[w]->upstreams[i];
            up = up && upstream->ops->ready(upstream);
        }
        const char *labels[] = {"server", config->servers[i].name, NULL};
        mg_metrics_write_sample(out, "mcpgate_upstream_up", labels, up);
    }
}

static void render_audit(mg_gateway_t *gateway, mg_bytes_t *out)
{
    if (gateway->audit == NULL)
        return;
    mg_audit_stats_t stats;
    mg_audit_stats(gateway->audit, &stats);
    static const char *const names[] = {"mcpgate_audit_records_emitted_total", "mcpgate_audit_records_written_total",
                                        "mcpgate_audit_backpressure_waits_total", "mcpgate_audit_write_errors_total",
                                        "mcpgate_audit_index_errors_total", "mcpgate_audit_records_indexed_total"};
    static const char *const helps[] = {
        "Audit records handed to the writer.",
        "Audit records written to the trail (and synced, with fsync: always).",
        "Emits that waited for room in the full audit queue (the trail never drops a record; this is its cost).",
        "Failed writes, syncs or rotations of the trail (each retried).",
        "Failed transactions of the SQLite index (the file still holds the records; each retried).",
        "Audit records this process added to the SQLite index (filled from the trail at idle priority).",
    };
    const uint64_t values[] = {stats.emitted, stats.written, stats.backpressure_waits, stats.write_errors,
                               stats.index_errors, stats.indexed};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        mg_metrics_write_family(out, names[i], "counter", helps[i]);
        mg_metrics_write_sample(out, names[i], NULL, values[i]);
    }
    mg_metrics_write_family(out, "mcpgate_audit_queue_depth", "gauge", "Audit records waiting for the writer.");
    mg_metrics_write_sample(out, "mcpgate_audit_queue_depth", NULL, stats.queue_depth);
    mg_metrics_write_family(out, "mcpgate_audit_queue_capacity", "gauge",
                            "Records the audit queue holds (audit.queue).");
    mg_metrics_write_sample(out, "mcpgate_audit_queue_capacity", NULL, stats.queue_capacity);
    if (gateway->config->audit.sqlite != NULL) {
        mg_metrics_write_family(out, "mcpgate_audit_index_lag", "gauge",
                                "Records written to the trail but not yet in the SQLite index.");
        mg_metrics_write_sample(out, "mcpgate_audit_index_lag", NULL,
                                stats.last_seq > stats.index_seq ? stats.last_seq - stats.index_seq : 0);
    }
}

static void add_cost(void *ctx, const char *principal, uint64_t calls, uint64_t cost)
{
    (void)principal;
    uint64_t *totals = ctx;
    totals[0] += calls;
    totals[1] += cost;
}

/* Per rule, never per key: a rule's keys are principals, tools or client addresses, which are not
 * bounded. Costs are summed over principals for the same reason (their per-principal sums are in the
 * audit trail and the limiter's table, not in label values). */
static void render_limits(mg_gateway_t *gateway, mg_bytes_t *out)
{
    if (gateway->limiter == NULL)
        return;
    mg_limit_rule_stats_t *rules = calloc(MAX_RULES, sizeof(*rules));
    if (rules == NULL)
        return;
    size_t len = mg_limit_rule_stats(gateway->limiter, rules, MAX_RULES);
    if (len > MAX_RULES)
        len = MAX_RULES;
    static const char *const kinds[] = {"", "rate", "quota", "concurrency"};
    mg_metrics_write_family(out, "mcpgate_rate_limit_decisions_total", "counter",
                            "Calls each rate-limit rule applied to, by result: allowed, limited (refused), observed "
                            "(would have been refused, observe mode), untracked (admitted: the table was full).");
    for (size_t i = 0; i < len; i++) {
        const char *kind = (unsigned)rules[i].kind < 4 ? kinds[rules[i].kind] : "";
        const char *results[] = {"allowed", "limited", "observed", "untracked"};
        const uint64_t values[] = {rules[i].allowed, rules[i].limited, rules[i].observed, rules[i].untracked};
        for (size_t r = 0; r < 4; r++) {
            const char *labels[] = {"rule", rules[i].rule, "kind", kind, "result", results[r], NULL};
            mg_metrics_write_sample(out, "mcpgate_rate_limit_decisions_total", labels, values[r]);
        }
    }
    free(rules);
    uint64_t totals[2] = {0, 0};
    mg_limit_costs(gateway->limiter, add_cost, totals);
    mg_metrics_write_family(out, "mcpgate_cost_calls_total", "counter", "Calls charged a cost (servers[].cost).");
    mg_metrics_write_sample(out, "mcpgate_cost_calls_total", NULL, totals[0]);
    mg_metrics_write_family(out, "mcpgate_cost_total", "counter",
                            "Summed cost weights of the calls, over every principal.");
    mg_metrics_write_sample(out, "mcpgate_cost_total", NULL, totals[1]);
}

void mg_metrics_endpoint_render(mg_gateway_t *gateway, mg_bytes_t *out)
{
    mg_metrics_render(gateway->metrics, out);
    render_upstreams(gateway, out);
    render_audit(gateway, out);
    render_limits(gateway, out);
}

/* ---- serving ------------------------------------------------------------------------------------ */

static void serve(mg_worker_t *worker, h2o_req_t *req)
{
    mg_bytes_t text = {0};
    mg_metrics_endpoint_render(worker->gateway, &text);
    h2o_iovec_t body = h2o_strdup(&req->pool, text.base != NULL ? text.base : "", text.len);
    mg_bytes_dispose(&text);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body.base, body.len);
}

/* Whether `principal` holds one of metrics.roles under the worker's policy. */
static bool holds_role(mg_worker_t *worker, const mg_principal_t *principal)
{
    const mg_config_metrics_t *config = &worker->gateway->config->metrics;
    mg_policy_access_t *access = mg_policy_access_for(worker->policy_cache, worker->policy, principal);
    bool found = access != NULL && mg_policy_access_holds_any(access, config->roles, config->roles_len);
    mg_policy_access_release(access);
    return found;
}

static void on_identified(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal,
                          const mg_auth_refusal_t *refusal)
{
    const mg_config_metrics_t *config = &worker->gateway->config->metrics;
    if (principal == NULL) {
        mg_auth_send_refusal(worker, req, scope, refusal);
        return;
    }
    if (principal->method == MG_AUTH_ANONYMOUS) {
        mg_auth_refusal_t anonymous = {.status = 401};
        snprintf(anonymous.description, sizeof(anonymous.description), "the metrics endpoint needs credentials");
        mg_auth_send_refusal(worker, req, scope, &anonymous);
    } else if (config->roles_len != 0 && !holds_role(worker, principal)) {
        mg_log_as(MG_LOG_INFO, "metrics.forbidden", principal->name,
                  "refused a scrape: the caller holds none of "
                  "metrics.roles");
        json_t *body = json_pack("{s:s}", "error", "forbidden: the caller holds none of metrics.roles");
        mg_front_send_json(req, 403, "Forbidden", body);
        json_decref(body);
    } else {
        serve(worker, req);
    }
}

int mg_metrics_endpoint_handle(mg_worker_t *worker, h2o_req_t *req)
{
    const mg_config_metrics_t *config = &worker->gateway->config->metrics;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, config->path, strlen(config->path))) {
        mg_front_send_plain_error(req, 404, "Not Found", "not found");
        return 0;
    }
    if (!mg_front_get_only(req))
        return 0;
    if (config->require == MG_METRICS_REQUIRE_NONE) {
        serve(worker, req);
        return 0;
    }
    mg_principal_t *principal = NULL;
    mg_auth_refusal_t refusal;
    int rc = mg_auth_identify(worker, req, -1, on_identified, &principal, &refusal);
    if (rc == MG_AUTH_PENDING)
        return 0;
    on_identified(worker, req, -1, rc == 0 ? principal : NULL, &refusal);
    mg_principal_release(principal);
    return 0;
}
