/* limit_stage.c - see limit_stage.h. */
#include "mcp/limit_stage.h"

#include <stdio.h>
#include <string.h>

#include "auth/principal.h"
#include "limit/limit.h"
#include "mcp/jsonrpc.h"
#include "obs/log.h"
#include "obs/trace.h"

static const char *kind_name(mg_config_limit_kind_t kind)
{
    return kind == MG_LIMIT_QUOTA ? "quota" : kind == MG_LIMIT_CONCURRENCY ? "concurrency" : "rate";
}

static void log_verdict(const mg_exchange_t *exchange, const char *event, size_t server_index, const char *item,
                        const mg_limit_verdict_t *verdict)
{
    if (!mg_log_enabled(MG_LOG_INFO))
        return;
    const char *server = exchange->config->servers[server_index].name;
    json_t *fields =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "principal", exchange->principal->name, "rule", verdict->rule,
                  "limit", kind_name(verdict->kind), "server", server, "item", item, "method", exchange->message.method,
                  "retryAfterMs", (json_int_t)((verdict->retry_after_ns + 999999) / 1000000));
    mg_log_fields(MG_LOG_INFO, event, fields, "%s %s/%s: rule %s", event, server, item, verdict->rule);
}

/* The audit record names the rule as rate_limits.<name>. */
static void note_outcome(mg_exchange_t *exchange, mg_audit_decision_t decision, const mg_limit_verdict_t *verdict,
                         const char *reason)
{
    if (!mg_outcome_wanted(exchange))
        return;
    char rule[160];
    snprintf(rule, sizeof(rule), "rate_limits.%s", verdict->rule);
    mg_outcome_decide_copy(exchange, decision, rule, reason);
}

static void answer_limited(mg_exchange_t *exchange, const mg_limit_verdict_t *verdict)
{
    long long seconds = (verdict->retry_after_ns + 999999999LL) / 1000000000LL;
    if (seconds < 1)
        seconds = 1;
    char message[160];
    snprintf(message, sizeof(message), "%s: rule %s",
             verdict->kind == MG_LIMIT_QUOTA         ? "Quota exhausted"
             : verdict->kind == MG_LIMIT_CONCURRENCY ? "Too many calls in flight"
                                                     : "Rate limit exceeded",
             verdict->rule);
    json_t *data =
        json_pack("{s:s,s:s,s:I,s:I}", "rule", verdict->rule, "limit", kind_name(verdict->kind), "retryAfterSeconds",
                  (json_int_t)seconds, "retryAfterMs", (json_int_t)((verdict->retry_after_ns + 999999) / 1000000));
    mg_exchange_finish_limited(exchange, MG_RPC_RATE_LIMITED, message, data, seconds);
}

static bool admit(mg_exchange_t *exchange, size_t server_index, mg_config_pattern_kind_t kind, const char *item)
{
    mg_limit_rules_t *rules = exchange->worker->limit_rules;
    mg_limit_t *limit = exchange->worker->gateway->limiter;
    unsigned method = mg_config_limit_method_bit(exchange->message.method);
    if (rules == NULL || limit == NULL || method == 0 || exchange->resumed)
        return true;
    if (mg_limit_rules_cover(rules, method)) {
        char client_ip[64] = "";
        if (mg_limit_rules_need_client_ip(rules))
            mg_exchange_client_address(exchange, client_ip, sizeof(client_ip));
        mg_limit_call_t call = {.method = method,
                                .principal = exchange->principal->name,
                                .client_ip = client_ip,
                                .server_index = server_index,
                                .item_kind = kind,
                                .item = item};
        mg_limit_verdict_t verdict;
        mg_limit_check(limit, rules, &call, &exchange->limit_hold, &verdict);
        if (verdict.limited) {
            log_verdict(exchange, "rate_limit.limited", server_index, item, &verdict);
            note_outcome(exchange, MG_AUDIT_RATE_LIMITED, &verdict, kind_name(verdict.kind));
            answer_limited(exchange, &verdict);
            return false;
        }
        if (verdict.observed) {
            log_verdict(exchange, "rate_limit.observed", server_index, item, &verdict);
            /* observe mode: allowed, and the record says which rule would have refused it */
            note_outcome(exchange, MG_AUDIT_ALLOW, &verdict, "observed: over the limit, not enforced");
            exchange->outcome.decided = false; /* still allowed: what happens next decides */
        }
    }
    mg_limit_charge(limit, exchange->principal->name, mg_limit_rules_cost(rules, server_index, method, item));
    return true;
}

bool mg_limit_stage_admit(mg_exchange_t *exchange, size_t server_index, mg_config_pattern_kind_t kind, const char *item)
{
    uint64_t began = mg_trace_stage_start(exchange->trace);
    bool admitted = admit(exchange, server_index, kind, item);
    mg_trace_stage_end(exchange->trace, MG_TRACE_RATE_LIMIT, began, admitted ? NULL : "rate_limited");
    return admitted;
}
