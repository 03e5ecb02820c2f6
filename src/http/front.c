/*
 * front.c - Streamable HTTP, legacy era: transport rules, sessions, and the exchange's
 * output side.
 *
 * Checks run cheapest first and each answers precisely: Origin (403), method (405),
 * Content-Type (415), Accept (406), body size (h2o's own 413), JSON-RPC decoding (400
 * with -32700/-32600), session (400 missing, 404 unknown or bound to someone else),
 * MCP-Protocol-Version (400). Only then does the dispatcher see the message.
 */
#include "http/front.h"

#include <assert.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/json_write.h"
#include "http/events.h"
#include "http/late_sessions.h"
#include "http/park.h"
#include "http/session_cache.h"
#include "http/stream.h"
#include "limit/limit.h"
#include "mcp/aggregate.h"
#include "mcp/authorize.h"
#include "mcp/exchange.h"
#include "mcp/inspect.h"
#include "mcp/spec_schemas.h"
#include "schema/schema.h"
#include "mcp/mirror.h"
#include "mcp/modern.h"
#include "mcp/outcome.h"
#include "http/front_trace.h"
#include "obs/trace.h"
#include "mcp/versions.h"
#include "obs/log.h"
#include "policy/policy.h"

typedef struct st_front_t {
    h2o_req_t *req; /* NULL once the request is gone */
    mg_stream_t stream;
    bool streaming, finished;
} front_t;

#define FRONT(exchange) ((front_t *)(exchange)->front)

/* ---- plain answers ---------------------------------------------------------------- */

#define ANSWER_RESERVE 512 /* bytes set aside for an answer's text: most fit, and in glibc's per-thread cache */

/* h2o_send_inline copies the text into the request's pool. The length is known, so HTTP/1.1 gets a
 * Content-Length rather than one chunk and its terminator. */
static void send_json_text(h2o_req_t *req, int status, const char *reason, const char *text, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_send_inline(req, text, len);
}

void mg_front_send_json(h2o_req_t *req, int status, const char *reason, const json_t *body)
{
    mg_bytes_t text = {0};
    mg_bytes_reserve(&text, ANSWER_RESERVE);
    (void)mg_json_write(&text, body, JSON_COMPACT); /* nothing to say when it cannot be written: an empty body */
    send_json_text(req, status, reason, text.base, text.len);
    mg_bytes_dispose(&text);
}

void mg_front_send_plain_error(h2o_req_t *req, int status, const char *reason, const char *error)
{
    json_t *body = json_pack("{s:s}", "error", error);
    mg_front_send_json(req, status, reason, body);
    json_decref(body);
}

bool mg_front_get_only(h2o_req_t *req)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return true;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
    mg_front_send_plain_error(req, 405, "Method Not Allowed", "method not allowed");
    return false;
}

void mg_front_send_rpc_error(h2o_req_t *req, int status, json_t *id, int code, const char *message)
{
    json_t *body = mg_rpc_make_error(id, code, message, NULL);
    mg_front_send_json(req, status, status == 200 ? "OK" : "Error", body);
    json_decref(body);
}

static void send_status(h2o_req_t *req, int status, const char *reason)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_send_inline(req, "", 0);
}

static h2o_iovec_t header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t at = h2o_find_header(&req->headers, token, -1);
    return at < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[at].value;
}

static h2o_iovec_t header_value_by_name(h2o_req_t *req, const char *name)
{
    ssize_t at = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return at < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[at].value;
}

/* Does an Accept header list a media type (or a wildcard covering it)? */
static bool accepts(h2o_iovec_t accept, const char *type)
{
    const char *slash = strchr(type, '/');
    size_t major_len = (size_t)(slash - type);
    const char *p = accept.base, *end = accept.base + accept.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *start = p;
        while (p < end && *p != ',' && *p != ';')
            p++;
        size_t len = (size_t)(p - start);
        while (len > 0 && start[len - 1] == ' ')
            len--;
        if ((len == strlen(type) && strncasecmp(start, type, len) == 0) || (len == 3 && memcmp(start, "*/*", 3) == 0) ||
            (len == major_len + 2 && strncasecmp(start, type, major_len + 1) == 0 && start[major_len + 1] == '*'))
            return true;
        while (p < end && *p != ',')
            p++;
    }
    return false;
}

static bool is_json_content_type(h2o_iovec_t value)
{
    static const char json[] = "application/json";
    if (value.len < sizeof(json) - 1 || strncasecmp(value.base, json, sizeof(json) - 1) != 0)
        return false;
    return value.len == sizeof(json) - 1 || value.base[sizeof(json) - 1] == ';' || value.base[sizeof(json) - 1] == ' ';
}

/* ---- audit of requests refused before they become exchanges ----------------------------- */

/* An IPv4 address as h2o_socket_getnumerichost writes it ("%d.%d.%d.%d"), without the sprintf that
 * cost ~1.7k instructions on every audited request; `out` has room for 16 bytes. */
static void format_ipv4(const struct sockaddr_in *address, char *out)
{
    const unsigned char *octets = (const unsigned char *)&address->sin_addr.s_addr; /* network order: a.b.c.d */
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        unsigned octet = octets[i];
        if (i > 0)
            out[n++] = '.';
        if (octet >= 100)
            out[n++] = (char)('0' + octet / 100);
        if (octet >= 10)
            out[n++] = (char)('0' + octet / 10 % 10);
        out[n++] = (char)('0' + octet % 10);
    }
    out[n] = '\0';
}

/* The client's address as text, "" when unknown; `size` at least 64. */
static void peer_address(h2o_req_t *req, char *out, size_t size)
{
    struct sockaddr_storage address;
    socklen_t len = req != NULL ? req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&address) : 0;
    char host[NI_MAXHOST];
    size_t n = 0;
    if (len >= sizeof(struct sockaddr_in) && address.ss_family == AF_INET) {
        format_ipv4((const struct sockaddr_in *)&address, out);
        return;
    }
    if (len != 0 && h2o_socket_getnumerichost((struct sockaddr *)&address, len, host) != SIZE_MAX) {
        n = strnlen(host, size - 1); /* a numeric address fits in 64 */
        memcpy(out, host, n);
    }
    out[n] = '\0';
}

/* The one audit record of a request answered without becoming an exchange (mcp/outcome.h). */
static void record_direct(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal,
                          const mg_rpc_message_t *message, mg_audit_decision_t decision, int code, const char *reason)
{
    if (worker->gateway->audit == NULL && worker->gateway->metrics == NULL)
        return;
    char address[64];
    peer_address(req, address, sizeof(address));
    mg_outcome_record_direct(
        worker, principal, message,
        mg_outcome_time_us(req->timestamps.request_begin_at.tv_sec, req->timestamps.request_begin_at.tv_usec),
        (int64_t)req->entity.len, decision, code, reason, address);
}

/* Answers a request with a JSON-RPC error before it became an exchange, and records the refusal. */
static void refuse(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal,
                   const mg_rpc_message_t *message, int status, json_t *id, int code, const char *text)
{
    record_direct(worker, req, principal, message, status == 403 ? MG_AUDIT_DENY : MG_AUDIT_ERROR, code, text);
    mg_front_send_rpc_error(req, status, id, code, text);
}

/* ---- sessions ---------------------------------------------------------------------- */

/* Opens the request's Mcp-Session-Id. Answers the request itself and returns -1 on failure. */
/* Opens the request's Mcp-Session-Id, which must have been issued to the same principal: a session id
 * is never a credential (DESIGN.md section 7.2), so another caller's id is refused, distinctly from an
 * id that is not one of the gateway's. Answers the request itself and returns -1 on failure. */
static int open_session(mg_worker_t *worker, h2o_req_t *req, const mg_rpc_message_t *message,
                        const mg_principal_t *principal, mg_session_claims_t *claims)
{
    json_t *id = message != NULL ? message->id : NULL;
    h2o_iovec_t token = header_value_by_name(req, "mcp-session-id");
    if (token.base == NULL) {
        refuse(worker, req, principal, message, 400, id, MG_RPC_INVALID_REQUEST,
               "Bad Request: Mcp-Session-Id header is required");
        return -1;
    }
    mg_error_t err;
    if (mg_session_cache_open(worker->session_cache, &worker->gateway->session_key, token.base, token.len, claims,
                              &err) != 0) {
        mg_session_claims_dispose(claims);
        refuse(worker, req, principal, message, 404, id, MG_RPC_INVALID_REQUEST, "Session not found");
        return -1;
    }
    if (strcmp(claims->principal, principal->name) != 0) {
        mg_log_as(MG_LOG_WARN, "session.wrong_principal", principal->name, "session %s of %s presented by %s",
                  claims->sid, claims->principal, principal->name);
        mg_session_claims_dispose(claims);
        refuse(worker, req, principal, message, 403, id, MG_RPC_UNAUTHORIZED,
               "Forbidden: this session was opened by another principal");
        return -1;
    }
    return 0;
}

/* ---- exchange output ------------------------------------------------------------------ */

static void abandon_parts(mg_exchange_t *exchange)
{
    if (exchange->wait.cancel != NULL) { /* a forward stage holds it (exchange.h) */
        mg_exchange_wait_t wait = exchange->wait;
        exchange->wait.cancel = NULL;
        wait.cancel(exchange, wait.arg);
    }
    for (size_t i = 0; i < exchange->parts_len; i++) {
        mg_exchange_part_t *part = &exchange->parts[i];
        if (part->call != 0) {
            mg_upstream_t *upstream = exchange->worker->upstreams[part->server_index];
            upstream->ops->abandon(upstream, part->call);
            part->call = 0;
        }
    }
    exchange->parts_running = 0;
}

static void record(mg_exchange_t *exchange, const json_t *response, int error_code, int64_t bytes_out);

static void exchange_free(mg_exchange_t *exchange)
{
    record(exchange, NULL, 0, -1); /* ended unanswered (the client left) when nothing recorded it before */
    mg_outcome_dispose(&exchange->outcome);
    mg_front_trace_end(exchange);
    for (size_t i = 0; i < exchange->parts_len; i++) {
        json_decref(exchange->parts[i].collected);
        json_decref(exchange->parts[i].deferred);
        json_decref(exchange->parts[i].request);
        free(exchange->parts[i].cursor);
    }
    json_decref(exchange->aggregate);
    json_decref(exchange->forward.params);
    if (exchange->has_session)
        mg_session_claims_dispose(&exchange->claims);
    free(exchange->new_session_token);
    json_decref(exchange->upstream_state);
    free(exchange->approval_state);
    json_decref(exchange->meta_object);
    mg_schema_release(exchange->output_schema);
    if (exchange->limit_hold.len != 0) /* however the call ended: answered, abandoned, upstream gone */
        mg_limit_release(exchange->worker->gateway->limiter, &exchange->limit_hold);
    mg_park_forget(exchange);
    mg_rpc_message_dispose(&exchange->message);
    mg_stream_dispose(&FRONT(exchange)->stream);
    mg_config_release(exchange->config);
    mg_principal_release(exchange->principal);
    if (exchange->access != NULL)
        mg_policy_access_release(exchange->access);
    free(exchange->front);
    free(exchange);
}

/* The request pool is going away (response done, or the client vanished). */
static void on_request_disposed(void *slot)
{
    mg_exchange_t *exchange = *(mg_exchange_t **)slot;
    FRONT(exchange)->req = NULL;
    if (exchange->park != NULL && mg_park_keeps(exchange))
        return; /* its upstream call waits for the client's answers (park.h) */
    abandon_parts(exchange);
    exchange_free(exchange);
}

void mg_front_release(mg_exchange_t *exchange)
{
    abandon_parts(exchange);
    exchange_free(exchange);
}

bool mg_front_attached(const mg_exchange_t *exchange)
{
    return FRONT(exchange)->req != NULL && !FRONT(exchange)->finished;
}

static void on_stream_stopped(mg_stream_t *stream, void *ctx)
{
    (void)stream;
    mg_exchange_t *exchange = ctx;
    FRONT(exchange)->req = NULL;
    FRONT(exchange)->finished = true;
    if (!mg_park_keeps(exchange))
        abandon_parts(exchange); /* closing the response stream cancels the upstream calls */
}

static void add_session_header(mg_exchange_t *exchange, h2o_req_t *req)
{
    if (exchange->new_session_token != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("mcp-session-id"), 0, NULL,
                              h2o_strdup(&req->pool, exchange->new_session_token, SIZE_MAX).base,
                              strlen(exchange->new_session_token));
}

bool mg_exchange_finished(const mg_exchange_t *exchange)
{
    return FRONT(exchange)->finished;
}

void mg_exchange_send_message(mg_exchange_t *exchange, json_t *msg)
{
    front_t *front = FRONT(exchange);
    if (exchange->park != NULL && mg_park_output(exchange, msg, false))
        return;
    if (front->finished || front->req == NULL)
        return;
    if (!front->streaming) {
        front->streaming = true;
        add_session_header(exchange, front->req);
        mg_stream_start(&front->stream, front->req, on_stream_stopped, exchange);
    }
    mg_stream_send_json(&front->stream, msg);
}

/* The text of a final answer (`result` is the response's, or NULL): `response` as it is, but under the
 * client's `id` when one is given (an upstream's response), and for a modern client with its result
 * completed (every result says its resultType, cacheable ones their ttlMs and cacheScope). Both are
 * edits of the text (json_write.h): the response may be shared with an upstream's, and copying it, or
 * changing and restoring it, cost more than writing it as it will be. Returns 0, or -1 when it cannot
 * be written. */
static int write_answer(const mg_exchange_t *exchange, const json_t *response, json_t *result, const json_t *id,
                        mg_bytes_t *out)
{
    mg_json_edit_t completion[MG_MODERN_COMPLETION_EDITS], edits[2];
    size_t edits_len = 0, completion_len = 0;
    if (id != NULL)
        edits[edits_len++] = (mg_json_edit_t){"id", id, NULL, 0, false, NULL};
    if (exchange->modern)
        completion_len =
            mg_modern_completion_edits(result, exchange->message.method, mg_exchange_cache_scope(exchange), completion);
    if (completion_len > 0)
        edits[edits_len++] = (mg_json_edit_t){"result", result, completion, completion_len, false, NULL};
    if (edits_len == 0)
        return mg_json_write(out, response, JSON_COMPACT);
    return mg_json_write_edited(out, response, edits, edits_len, JSON_COMPACT);
}

static void deliver_final(mg_exchange_t *exchange, json_t *response, const json_t *id);

void mg_exchange_finish(mg_exchange_t *exchange, json_t *response)
{
    front_t *front = FRONT(exchange);
    if (exchange->park != NULL && mg_park_output(exchange, response, true))
        return;
    if (front->finished)
        return;
    front->finished = true;
    abandon_parts(exchange); /* a fan-out answered early (an error) leaves nothing running behind it */
    deliver_final(exchange, response, NULL);
}

void mg_exchange_finish_reply(mg_exchange_t *exchange, json_t *response)
{
    front_t *front = FRONT(exchange);
    if (exchange->park != NULL) { /* a parked call's output is relayed as a message of its own */
        json_t *out = json_copy(response);
        json_object_set(out, "id", exchange->message.id);
        mg_exchange_finish(exchange, out);
        json_decref(out);
        return;
    }
    if (front->finished)
        return;
    front->finished = true;
    abandon_parts(exchange);
    deliver_final(exchange, response, exchange->message.id);
}

void mg_front_finish_keep_calls(mg_exchange_t *exchange, json_t *response)
{
    front_t *front = FRONT(exchange);
    if (front->finished)
        return;
    front->finished = true;
    deliver_final(exchange, response, NULL);
}

static void deliver_final(mg_exchange_t *exchange, json_t *response, const json_t *id)
{
    front_t *front = FRONT(exchange);
    if (front->req == NULL) {
        record(exchange, response, 0, -1);
        return;
    }
    json_t *result = json_object_get(response, "result");
    mg_bytes_t text = {0};
    mg_bytes_reserve(&text, ANSWER_RESERVE);
    bool written = write_answer(exchange, response, result, id, &text) == 0;
    record(exchange, response, 0, (int64_t)text.len);
    if (front->streaming) {
        if (written)
            mg_stream_send_json_text(&front->stream, text.base, text.len);
        mg_stream_close(&front->stream);
    } else {
        int status = 200;
        if (exchange->modern && result == NULL) /* a result is a 200; an error's code may say otherwise */
            status = mg_modern_http_status(
                (int)json_integer_value(json_object_get(json_object_get(response, "error"), "code")));
        add_session_header(exchange, front->req);
        send_json_text(front->req, status, status == 200 ? "OK" : "Error", text.base, text.len);
    }
    mg_bytes_dispose(&text);
}

const char *mg_exchange_cache_scope(const mg_exchange_t *exchange)
{
    /* Without authentication every caller is the same anonymous principal and sees the same
     * answers; once callers are told apart, answers depend on who asks and become private. */
    return exchange->config->auth.enabled ? "private" : "public";
}

void mg_exchange_finish_error(mg_exchange_t *exchange, int code, const char *message, json_t *data)
{
    json_t *response = mg_rpc_make_error(exchange->message.id, code, message, data);
    mg_exchange_finish(exchange, response);
    json_decref(response);
}

void mg_exchange_finish_insufficient_scope(mg_exchange_t *exchange, const char *scopes, const char *description)
{
    front_t *front = FRONT(exchange);
    if (exchange->park != NULL || front->finished || front->req == NULL) { /* no HTTP answer of its own */
        char message[320];
        snprintf(message, sizeof(message), "Forbidden: %s", description);
        mg_exchange_finish_error(exchange, MG_RPC_UNAUTHORIZED, message, NULL);
        return;
    }
    front->finished = true;
    abandon_parts(exchange);
    record(exchange, NULL, MG_RPC_UNAUTHORIZED, -1);
    mg_auth_refusal_t refusal = {.status = 403, .error = "insufficient_scope", .needed_scope = scopes};
    snprintf(refusal.description, sizeof(refusal.description), "%s", description);
    mg_auth_send_refusal(exchange->worker, front->req, exchange->scope, &refusal);
}

void mg_exchange_finish_limited(mg_exchange_t *exchange, int code, const char *message, json_t *data,
                                long long retry_after_s)
{
    front_t *front = FRONT(exchange);
    if (exchange->park != NULL || front->finished || front->req == NULL || front->streaming) {
        mg_exchange_finish_error(exchange, code, message, data); /* no HTTP answer of its own */
        return;
    }
    front->finished = true;
    abandon_parts(exchange);
    h2o_req_t *req = front->req;
    char value[24];
    int len = snprintf(value, sizeof(value), "%lld", retry_after_s);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, h2o_strdup(&req->pool, value, len).base,
                   (size_t)len);
    add_session_header(exchange, req);
    json_t *body = mg_rpc_make_error(exchange->message.id, code, message, data);
    record(exchange, body, 0, -1);
    mg_front_send_json(req, 429, "Too Many Requests", body);
    json_decref(body);
}

void mg_exchange_client_address(const mg_exchange_t *exchange, char *out, size_t size)
{
    peer_address(FRONT(exchange)->req, out, size);
}

/* Records the exchange's outcome (mcp/outcome.h) before its answer leaves. */
static void record(mg_exchange_t *exchange, const json_t *response, int error_code, int64_t bytes_out)
{
    mg_front_trace_answer(exchange, response, error_code);
    if (exchange->outcome.recorded || !mg_outcome_wanted(exchange))
        return;
    char address[64] = "";
    if (exchange->worker->gateway->audit != NULL) /* metrics have no use for it, and formatting it costs ~1.5k */
        peer_address(FRONT(exchange)->req, address, sizeof(address));
    mg_outcome_record(exchange, response, error_code, bytes_out, address);
}

void mg_exchange_finish_refused(mg_exchange_t *exchange, int code, const char *message, json_t *data)
{
    front_t *front = FRONT(exchange);
    if (front->finished) {
        json_decref(data);
        return;
    }
    front->finished = true;
    json_t *body = mg_rpc_make_error(NULL, code, message, data);
    record(exchange, body, 0, -1);
    if (front->req != NULL)
        mg_front_send_json(front->req, 400, "Bad Request", body);
    json_decref(body);
}

void mg_exchange_finish_accepted(mg_exchange_t *exchange)
{
    front_t *front = FRONT(exchange);
    if (front->finished)
        return;
    front->finished = true;
    record(exchange, NULL, 0, 0);
    if (front->req != NULL)
        send_status(front->req, 202, "Accepted");
}

/* ---- upstream calls as parts ---------------------------------------------------------- */

/* `msg` is the part's own copy when `owned`: rewritten in place rather than copied. */
static void relay_part_message(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *msg, bool owned)
{
    if (exchange->modern && json_object_get(msg, "id") != NULL && mg_park_server_request(exchange, part, msg))
        return; /* a server-to-client request: a modern client is asked with an InputRequiredResult */
    if (exchange->scope < 0) {
        json_t *copy = owned ? json_incref(msg) : json_deep_copy(msg);
        mg_aggregate_rewrite_notification(exchange->config, part->server_index, copy);
        mg_exchange_send_message(exchange, copy);
        json_decref(copy);
        return;
    }
    mg_exchange_send_message(exchange, msg);
}

static void part_message(void *ctx, json_t *msg)
{
    mg_exchange_part_t *part = ctx;
    mg_exchange_t *exchange = part->exchange;
    mg_aggregate_observe(exchange->worker, part->server_index, msg);
    if (exchange->modern && !mg_modern_log_wanted(exchange->meta.log_level, msg))
        return; /* a legacy server logs by its session's level, not by this request's */
    bool owned;
    json_t *seen = mg_inspect_server_message(exchange, part->server_index, msg, &owned);
    if (seen == NULL) { /* a guard stopped it: a request to the client is refused to its server instead */
        json_t *id = json_object_get(msg, "id");
        if (id != NULL)
            mg_exchange_answer_server(exchange, part->server_index, id,
                                      mg_rpc_make_error(id, MG_INSPECT_ERROR_BLOCKED,
                                                        "Blocked by the gateway's guards: not relayed to the client",
                                                        NULL));
        return;
    }
    relay_part_message(exchange, part, seen, owned);
    if (owned)
        json_decref(seen);
}

static int start_part(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request, bool open);
static void late_session_opened(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                                const char *error_message);

static void part_done(void *ctx, json_t *response, int error_code, const char *error_message)
{
    mg_exchange_part_t *part = ctx;
    mg_exchange_t *exchange = part->exchange;
    part->call = 0;
    exchange->parts_running--;
    mg_outcome_upstream_end(exchange);
    mg_front_trace_upstream_end(exchange, part, response, error_code);
    if (part->deferred != NULL) {
        late_session_opened(exchange, part, response, error_code, error_message);
        return;
    }
    part->on_done(exchange, part, response, error_code, error_message);
}

static const mg_upstream_events_t part_events = {part_message, part_done};

/* The level a legacy client set with logging/setLevel, for a modern server (a legacy one keeps its own). */
static const char *legacy_log_level(const mg_exchange_t *exchange, size_t server_index)
{
    if (exchange->worker->log_levels == NULL || !exchange->has_session ||
        exchange->worker->upstreams[server_index]->era != MG_UPSTREAM_ERA_MODERN)
        return NULL;
    return json_string_value(json_object_get(exchange->worker->log_levels, exchange->claims.sid));
}

void mg_exchange_upstream_session(mg_exchange_t *exchange, size_t server_index, mg_upstream_session_t *out)
{
    memset(out, 0, sizeof(*out));
    out->log_level = exchange->modern ? exchange->meta.log_level : legacy_log_level(exchange, server_index);
    if (!exchange->has_session) {
        out->sid = "";
        return;
    }
    out->sid = exchange->claims.sid;
    out->protocol_version = exchange->claims.protocol_version;
    out->client_capabilities = exchange->claims.client_capabilities;
    const char *server = exchange->config->servers[server_index].name;
    out->upstream_session_id = mg_late_sessions_find(exchange->worker, &exchange->claims, server);
}

void mg_exchange_answer_server(mg_exchange_t *exchange, size_t server_index, json_t *id, json_t *response)
{
    json_object_set(response, "id", id);
    mg_upstream_session_t session;
    mg_exchange_upstream_session(exchange, server_index, &session);
    mg_upstream_t *upstream = exchange->worker->upstreams[server_index];
    upstream->ops->reply(upstream, &session, response);
    json_decref(response);
}

/* ---- late upstream sessions (http/late_sessions.h) ------------------------------------------ */

/* `session` is the exchange's session view for that server (mg_exchange_upstream_session). */
static bool needs_late_session(mg_exchange_t *exchange, size_t server_index, const mg_upstream_session_t *session)
{
    if (!exchange->has_session || exchange->config->servers[server_index].kind != MG_UPSTREAM_HTTP ||
        exchange->worker->upstreams[server_index]->era == MG_UPSTREAM_ERA_MODERN)
        return false; /* a modern server has no sessions */
    return session->upstream_session_id == NULL;
}

static int open_late_session(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request)
{
    json_t *initialize = mg_late_sessions_initialize(&exchange->claims, exchange->modern);
    part->deferred = json_incref(request);
    int rc = start_part(exchange, part, initialize, true);
    json_decref(initialize);
    if (rc != 0) {
        json_decref(part->deferred);
        part->deferred = NULL;
    }
    return rc;
}

static void late_session_opened(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *response, int error_code,
                                const char *error_message)
{
    json_t *request = part->deferred;
    part->deferred = NULL;
    const char *session_id = json_string_value(json_object_get(response, "_mcpgate_session_id"));
    const char *server = exchange->config->servers[part->server_index].name;
    if (session_id != NULL)
        mg_late_sessions_remember(exchange->worker, exchange->claims.sid, server, session_id);
    if (session_id == NULL || start_part(exchange, part, request, false) != 0) {
        char message[256];
        snprintf(message, sizeof(message), "could not open a session on upstream %s: %s", server,
                 error_message != NULL ? error_message : "it refused initialize");
        part->on_done(exchange, part, NULL, error_code != 0 ? error_code : MG_RPC_UPSTREAM_ERROR, message);
    }
    json_decref(request);
}

static mg_exchange_part_t *new_part(mg_exchange_t *exchange, size_t server_index, mg_part_done_fn on_done)
{
    if (exchange->parts_len == exchange->parts_cap)
        return NULL;
    mg_exchange_part_t *part = &exchange->parts[exchange->parts_len++];
    part->exchange = exchange;
    part->server_index = server_index;
    part->on_done = on_done;
    return part;
}

static int start_part(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request, bool open)
{
    mg_upstream_session_t session; /* looked up once: a gateway-held session's lookup formats a key */
    mg_exchange_upstream_session(exchange, part->server_index, &session);
    if (!open && needs_late_session(exchange, part->server_index, &session))
        return open_late_session(exchange, part, request);
    mg_upstream_t *upstream = exchange->worker->upstreams[part->server_index];
    json_t *sent = mg_front_trace_upstream_begin(exchange, part, request, &session); /* with its traceparent */
    part->call = open ? upstream->ops->open_session(upstream, &session, sent, &part_events, part)
                      : upstream->ops->call(upstream, &session, sent, &part_events, part);
    json_decref(sent);
    if (part->call == 0) {
        mg_front_trace_upstream_end(exchange, part, NULL, MG_RPC_UPSTREAM_ERROR);
        return -1;
    }
    exchange->parts_running++;
    mg_outcome_upstream_begin(exchange);
    return 0;
}

mg_exchange_part_t *mg_exchange_call(mg_exchange_t *exchange, size_t server_index, json_t *request,
                                     mg_part_done_fn on_done, const char **error_message)
{
    mg_exchange_part_t *part = new_part(exchange, server_index, on_done);
    *error_message = "too many upstream calls for one request";
    if (part == NULL)
        return NULL;
    *error_message = "upstream is not available";
    if (start_part(exchange, part, request, false) != 0) {
        exchange->parts_len--;
        return NULL;
    }
    return part;
}

int mg_exchange_call_again(mg_exchange_t *exchange, mg_exchange_part_t *part, json_t *request)
{
    return start_part(exchange, part, request, false);
}

mg_exchange_part_t *mg_exchange_open_session(mg_exchange_t *exchange, size_t server_index, json_t *initialize_request,
                                             mg_part_done_fn on_done)
{
    mg_exchange_part_t *part = new_part(exchange, server_index, on_done);
    if (part == NULL)
        return NULL;
    if (start_part(exchange, part, initialize_request, true) != 0) {
        exchange->parts_len--;
        return NULL;
    }
    return part;
}

/* ---- the handler ---------------------------------------------------------------------- */

/* Zeroed memory for a request's exchange, from malloc's per-thread cache. Not calloc, which glibc 2.36
 * serves past that cache, and the memset is out of line so that the compiler does not turn the two
 * back into calloc. */
static __attribute__((noinline)) void zero(void *memory, size_t size)
{
    memset(memory, 0, size);
}

static void *zeroed(size_t size)
{
    void *memory = malloc(size);
    if (memory == NULL)
        abort();
    zero(memory, size);
    return memory;
}

static int check_protocol_version_header(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal,
                                         const mg_rpc_message_t *message)
{
    h2o_iovec_t version = header_value_by_name(req, "mcp-protocol-version");
    if (version.base != NULL && !mg_versions_is_legacy(version.base, version.len)) {
        refuse(worker, req, principal, message, 400, message->id, MG_RPC_INVALID_REQUEST,
               "Bad Request: unsupported MCP-Protocol-Version");
        return -1;
    }
    return 0;
}

/* ---- the modern era: metadata, mirrored headers, the principal's gateway-held session ---- */

#define MAX_PARAM_HEADERS 32

static mg_mirror_value_t mirror_value(h2o_iovec_t v)
{
    return (mg_mirror_value_t){v.base, v.len};
}

/* The request's MCP headers, in one walk over them: MCP-Protocol-Version, Mcp-Method and Mcp-Name (the
 * first of each, as h2o_find_header_by_str finds it) and the Mcp-Param-* ones (at most max of them; more
 * is a mismatch the caller reports). */
static void mirror_headers(h2o_req_t *req, mg_mirror_headers_t *out, mg_mirror_param_t *params, size_t max,
                           bool *too_many)
{
    static const char prefix[] = "mcp-param-";
    memset(out, 0, sizeof(*out));
    out->params = params;
    *too_many = false;
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        /* h2o gives names in lower case; most are not ours, and one comparison tells */
        if (h->name->len < sizeof("mcp-name") - 1 || (h->name->base[0] | 0x20) != 'm')
            continue;
        mg_mirror_value_t *named = h2o_memis(h->name->base, h->name->len, H2O_STRLIT("mcp-protocol-version"))
                                       ? &out->protocol_version
                                   : h2o_memis(h->name->base, h->name->len, H2O_STRLIT("mcp-method")) ? &out->method
                                   : h2o_memis(h->name->base, h->name->len, H2O_STRLIT("mcp-name"))   ? &out->name
                                                                                                      : NULL;
        if (named != NULL) {
            if (named->base == NULL)
                *named = mirror_value(h->value);
            continue;
        }
        if (h->name->len <= sizeof(prefix) - 1 || strncasecmp(h->name->base, prefix, sizeof(prefix) - 1) != 0)
            continue;
        if (out->params_len == max) {
            *too_many = true;
            continue;
        }
        params[out->params_len].name =
            (mg_mirror_value_t){h->name->base + sizeof(prefix) - 1, h->name->len - (sizeof(prefix) - 1)};
        params[out->params_len].value = mirror_value(h->value);
        out->params_len++;
    }
}

/* What a refusal of a modern request is recorded with. */
typedef struct st_refusal_context_t {
    mg_worker_t *worker;
    const mg_principal_t *principal;
} refusal_context_t;

static void send_modern_error(const refusal_context_t *context, h2o_req_t *req, const mg_rpc_message_t *request,
                              int code, const char *message, json_t *data /* stolen */)
{
    record_direct(context->worker, req, context->principal, request, MG_AUDIT_ERROR, code, message);
    json_t *body = mg_rpc_make_error(request->id, code, message, data);
    mg_front_send_json(req, 400, "Bad Request", body);
    json_decref(body);
}

/* Checks a modern request before anything routes it: _meta (-32602 / -32022) and the headers that
 * mirror the body (-32020). Answers the request itself and returns -1 on failure. */
static int check_modern(const refusal_context_t *context, h2o_req_t *req, const mg_rpc_message_t *message,
                        const mg_mirror_headers_t *mirrored, bool too_many, mg_modern_meta_t *meta)
{
    if (message->kind == MG_RPC_RESPONSE) {
        send_modern_error(context, req, message, MG_RPC_INVALID_REQUEST,
                          "Bad Request: a 2026-07-28 client sends no JSON-RPC responses", NULL);
        return -1;
    }
    /* the header must mirror the body before the version it names is judged: _meta is read first,
     * and its verdict given after */
    mg_modern_error_t err;
    int meta_rc = mg_modern_read_meta(message, meta, &err);
    const char *body_version = meta->protocol_version;
    mg_mirror_value_t header_version = mirrored->protocol_version;
    if (body_version != NULL && (header_version.base == NULL || meta->protocol_version_len != header_version.len ||
                                 memcmp(body_version, header_version.base, header_version.len) != 0)) {
        if (meta_rc != 0)
            json_decref(err.data);
        send_modern_error(context, req, message, MG_RPC_HEADER_MISMATCH,
                          header_version.base == NULL
                              ? "Header mismatch: required header MCP-Protocol-Version is missing"
                              : "Header mismatch: MCP-Protocol-Version header does not match "
                                "params._meta[\"" MG_META_PROTOCOL_VERSION "\"]",
                          NULL);
        return -1;
    }
    if (meta_rc != 0) {
        send_modern_error(context, req, message, err.code, err.message, err.data);
        return -1;
    }
    char why[512];
    if (too_many) {
        send_modern_error(context, req, message, MG_RPC_HEADER_MISMATCH,
                          "Header mismatch: too many Mcp-Param-* headers", NULL);
        return -1;
    }
    /* Mcp-Param-* need the tool's inputSchema: the dispatcher checks them against its catalog. The version
     * header is the body's version byte for byte (compared above) and one the gateway supports (meta_rc). */
    assert(body_version != NULL);
    mg_mirror_value_t method = {message->method, strlen(message->method)};
    if (mg_mirror_check_method_and_name(mirrored, method, message->params, message->name, why, sizeof(why)) != 0) {
        send_modern_error(context, req, message, MG_RPC_HEADER_MISMATCH, why, NULL);
        return -1;
    }
    return 0;
}

/* A modern request carries no session: its upstream sessions (legacy servers) are the gateway's own,
 * one per principal and server, named by a sid derived from the principal (a keyed hash of its name).
 * The fixed part of the claims is the same for every request of a principal, so each thread keeps the
 * last one made (until authentication exists, every caller is "anonymous"). */
static void modern_claims(const mg_modern_meta_t *meta, const char *principal, mg_session_claims_t *claims)
{
    static _Thread_local mg_session_claims_t last; /* json members always NULL */
    size_t len = strlen(principal);
    if (len >= sizeof(last.principal) || memcmp(last.principal, principal, len + 1) != 0 || last.sid[0] == '\0') {
        memset(&last, 0, sizeof(last));
        unsigned char digest[16];
        crypto_generichash(digest, sizeof(digest), (const unsigned char *)principal, len,
                           (const unsigned char *)"mcpgate-principal", 17);
        static_assert(sizeof(last.sid) == 33, "32 hex digits and a NUL");
        sodium_bin2hex(last.sid, sizeof(last.sid), digest, sizeof(digest));
        memcpy(last.principal, principal, len < sizeof(last.principal) ? len : sizeof(last.principal) - 1);
        static_assert(sizeof(MG_VERSION_LATEST_LEGACY) <= sizeof(last.protocol_version), "the version fits");
        memcpy(last.protocol_version, MG_VERSION_LATEST_LEGACY, sizeof(MG_VERSION_LATEST_LEGACY));
    }
    *claims = last;
    claims->client_info = json_incref(meta->client_info);
    claims->client_capabilities = json_incref(meta->client_capabilities);
}

/* The exchange keeps its own copy of the mirrored headers: the dispatcher checks the Mcp-Param-*
 * ones once it knows the tool's inputSchema, possibly after the request's memory is gone. */
static mg_mirror_value_t copy_value(mg_mirror_value_t v, char **text)
{
    if (v.base == NULL)
        return v;
    memcpy(*text, v.base, v.len);
    mg_mirror_value_t copy = {*text, v.len};
    *text += v.len;
    return copy;
}

/* The room the copy takes (keep_mirror_headers), a multiple of the alignment of anything. */
static size_t mirror_headers_size(const mg_mirror_headers_t *headers)
{
    const mg_mirror_param_t *params = headers->params;
    size_t bytes = headers->params_len * sizeof(mg_mirror_param_t) + headers->protocol_version.len +
                   headers->method.len + headers->name.len + 1;
    for (size_t i = 0; i < headers->params_len; i++)
        bytes += params[i].name.len + params[i].value.len;
    return (bytes + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
}

/* Copies the headers into `room` (mirror_headers_size bytes, aligned, which the front's own
 * allocation has room for: no allocation of its own; it lives as long as the exchange). */
static void keep_mirror_headers(mg_exchange_t *exchange, const mg_mirror_headers_t *headers, const json_t *checked_root,
                                void *room)
{
    const mg_mirror_param_t *params = headers->params;
    mg_mirror_param_t *block = room;
    char *text = (char *)(block + headers->params_len);
    exchange->mirror.protocol_version = copy_value(headers->protocol_version, &text);
    exchange->mirror.method = copy_value(headers->method, &text);
    exchange->mirror.name = copy_value(headers->name, &text);
    for (size_t i = 0; i < headers->params_len; i++) {
        block[i].name = copy_value(params[i].name, &text);
        block[i].value = copy_value(params[i].value, &text);
    }
    exchange->mirror.params = block;
    exchange->mirror.params_len = headers->params_len;
    exchange->mirror.checked_root = checked_root; /* check_modern did: the dispatcher checks Mcp-Param-* only */
}

/* A modern request's _meta, once read, leaves its params for the exchange: what a legacy server may see
 * of it is put back in its place when the request is copied for one (mg_modern_legacy_params), which
 * leaves the params as they are otherwise, instead of copying them every time. */
static void take_meta(mg_exchange_t *exchange)
{
    if (exchange->meta.object == NULL)
        return; /* the decoder read it and left it out of params: nothing of it goes back */
    json_t *params = exchange->message.params;
    size_t position = 0;
    for (void *iter = json_object_iter(params); iter != NULL; iter = json_object_iter_next(params, iter), position++) {
        if (json_object_iter_value(iter) == exchange->meta.object)
            break;
    }
    exchange->meta_object = json_incref(exchange->meta.object);
    exchange->meta_position = position;
    json_object_del(params, "_meta");
}

/* subscriptions/listen: the POST's response is a long-lived stream of what the client opted in to. */
static void open_subscription(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_rpc_message_t *message,
                              const mg_modern_meta_t *meta, const mg_principal_t *principal)
{
    json_t *filter = json_object_get(message->params, "notifications");
    if (!json_is_object(filter)) {
        static const char text[] = "params.notifications must be an object";
        record_direct(worker, req, principal, message, MG_AUDIT_ERROR, MG_RPC_INVALID_PARAMS, text);
        json_t *response = mg_rpc_make_error(message->id, MG_RPC_INVALID_PARAMS, text, NULL);
        mg_front_send_json(req, 200, "OK", response);
        json_decref(response);
        return;
    }
    mg_session_claims_t claims;
    modern_claims(meta, principal->name, &claims);
    /* a resource the caller may not read is not watched for it either */
    mg_policy_access_t *access = mg_policy_access_for(worker->policy_cache, worker->policy, principal);
    json_t *allowed = mg_authorize_subscription_filter(access, worker->gateway->config, scope, principal, filter);
    if (access != NULL)
        mg_policy_access_release(access);
    record_direct(worker, req, principal, message, MG_AUDIT_ALLOW, 0, NULL); /* the stream opens */
    mg_events_listen(worker, req, scope, &claims, message->id, allowed);
    json_decref(allowed);
}

static bool is_modern_request(h2o_req_t *req, const mg_rpc_message_t *message)
{
    if (mg_modern_declared(message))
        return true; /* even an initialize: 2026-07-28 has none, so it is an unknown method there */
    if (message->kind == MG_RPC_REQUEST && strcmp(message->method, "initialize") == 0)
        return false; /* an initialize opens a legacy session */
    h2o_iovec_t version = header_value_by_name(req, "mcp-protocol-version");
    return version.base != NULL && mg_versions_is_modern(version.base, version.len);
}

/* subscriptions/listen against the 2026-07-28 schema, as the dispatcher checks every other message
 * (mcp/validate.h); a refusal names the first violation. */
static bool listen_valid(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal,
                         const mg_rpc_message_t *message)
{
    const mg_spec_schemas_t *schemas = worker->gateway->spec_schemas;
    if (schemas == NULL || mg_spec_schemas_check(schemas, MG_VERSION_MODERN, message, NULL, NULL) == MG_SPEC_VALID)
        return true;
    mg_schema_result_t result;
    mg_spec_schemas_check(schemas, MG_VERSION_MODERN, message, NULL, &result);
    char text[600];
    const mg_schema_violation_t *first = result.count > 0 ? &result.violations[0] : NULL;
    snprintf(text, sizeof(text), "Invalid params: %s: %s: %s",
             first != NULL && first->instance_path[0] != '\0' ? first->instance_path : "(root)",
             first != NULL ? first->keyword : "schema", first != NULL ? first->message : "not allowed");
    refuse(worker, req, principal, message, 400, message->id, MG_RPC_INVALID_PARAMS, text);
    return false;
}

/* Tracing: when the identify stage of the request this thread is routing began and ended (0: no tracer).
 * Routing follows identify on the same thread without a pause, so thread-locals carry them to handle_post
 * without widening every signature on the way. */
static _Thread_local uint64_t identify_began_ns, identified_ns;

static int handle_post(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal)
{
    mg_config_t *config = worker->gateway->config;
    if (!is_json_content_type(header_value(req, H2O_TOKEN_CONTENT_TYPE))) {
        refuse(worker, req, principal, NULL, 415, NULL, MG_RPC_INVALID_REQUEST,
               "Unsupported Media Type: Content-Type must be application/json");
        return 0;
    }
    h2o_iovec_t accept = header_value(req, H2O_TOKEN_ACCEPT);
    if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream")) {
        refuse(worker, req, principal, NULL, 406, NULL, MG_RPC_INVALID_REQUEST,
               "Not Acceptable: Accept must list application/json and text/event-stream");
        return 0;
    }
    mg_rpc_message_t message;
    mg_rpc_error_t decode_error;
    if (mg_rpc_decode_client(req->entity.base, req->entity.len, config->limits.max_json_depth, &message,
                             &decode_error) != 0) {
        refuse(worker, req, principal, NULL, 400, decode_error.id, decode_error.code, decode_error.message);
        mg_rpc_error_dispose(&decode_error);
        return 0;
    }
    bool modern = is_modern_request(req, &message);
    if (modern && message.kind == MG_RPC_NOTIFICATION) {
        /* 2026-07-28 defines no client notifications (nor their headers) over HTTP: closing a stream cancels */
        mg_rpc_message_dispose(&message);
        send_status(req, 202, "Accepted");
        return 0;
    }
    mg_modern_meta_t meta = {0};
    mg_mirror_param_t params[MAX_PARAM_HEADERS]; /* modern: the request's mirrored headers, read once */
    mg_mirror_headers_t mirrored = {0};
    bool too_many = false;
    if (modern)
        mirror_headers(req, &mirrored, params, MAX_PARAM_HEADERS, &too_many);
    refusal_context_t context = {worker, principal};
    if (modern ? check_modern(&context, req, &message, &mirrored, too_many, &meta) != 0
               : check_protocol_version_header(worker, req, principal, &message) != 0) {
        mg_rpc_message_dispose(&message);
        return 0;
    }
    if (modern && strcmp(message.method, "subscriptions/listen") == 0) { /* a stream, not an exchange */
        if (listen_valid(worker, req, principal, &message))
            open_subscription(worker, req, scope, &message, &meta, principal);
        mg_rpc_message_dispose(&message);
        return 0;
    }
    size_t parts_cap =
        config->servers_len + 2 < MG_EXCHANGE_MAX_PARTS ? config->servers_len + 2 : MG_EXCHANGE_MAX_PARTS;
    size_t exchange_size = sizeof(mg_exchange_t) + parts_cap * sizeof(mg_exchange_part_t);
    exchange_size = (exchange_size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    /* the mirrored headers' copy goes after the front's state, in the same block: the exchange's block,
     * with one server's parts, is as large as glibc's per-thread cache takes */
    size_t front_size = (sizeof(front_t) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    size_t mirror_size = modern ? mirror_headers_size(&mirrored) : 0;
    mg_exchange_t *exchange = zeroed(exchange_size);
    front_t *front = zeroed(front_size + mirror_size);
    exchange->front = front;
    exchange->parts_cap = parts_cap;
    exchange->worker = worker;
    exchange->config = mg_config_retain(config);
    exchange->scope = scope;
    exchange->principal = mg_principal_retain(principal);
    exchange->access = mg_policy_access_for(worker->policy_cache, worker->policy, principal);
    exchange->message = message;
    exchange->outcome.server = -1;
    exchange->outcome.start_us =
        mg_outcome_time_us(req->timestamps.request_begin_at.tv_sec, req->timestamps.request_begin_at.tv_usec);
    exchange->outcome.bytes_in = (int64_t)req->entity.len;
    front->req = req;
    bool is_initialize = message.kind == MG_RPC_REQUEST && strcmp(message.method, "initialize") == 0;
    if (modern) {
        exchange->modern = true;
        exchange->meta = meta;
        take_meta(exchange);
        modern_claims(&meta, principal->name, &exchange->claims);
        exchange->has_session = true;
        keep_mirror_headers(exchange, &mirrored, message.root, (char *)front + front_size);
    } else if (!is_initialize) {
        if (open_session(worker, req, &exchange->message, principal, &exchange->claims) != 0) {
            front->req = NULL;
            exchange->outcome.recorded = true; /* open_session recorded its refusal */
            exchange_free(exchange);
            return 0;
        }
        exchange->has_session = true;
    }
    mg_front_trace_begin(exchange, req, identify_began_ns, identified_ns);
    mg_exchange_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_request_disposed);
    *slot = exchange;
    mg_dispatch(exchange);
    return 0;
}

static int handle_get(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_principal_t *principal)
{
    if (!accepts(header_value(req, H2O_TOKEN_ACCEPT), "text/event-stream")) {
        refuse(worker, req, principal, NULL, 406, NULL, MG_RPC_INVALID_REQUEST,
               "Not Acceptable: Accept must list text/event-stream");
        return 0;
    }
    mg_session_claims_t claims = {0};
    if (open_session(worker, req, NULL, principal, &claims) != 0)
        return 0;
    mg_events_open(worker, req, scope, &claims); /* takes the claims */
    return 0;
}

static int handle_delete(mg_worker_t *worker, h2o_req_t *req, const mg_principal_t *principal)
{
    mg_session_claims_t claims = {0};
    if (open_session(worker, req, NULL, principal, &claims) != 0)
        return 0;
    /* Sealed sessions hold no server-side state to drop; the client forgets the id. */
    mg_log_as(MG_LOG_DEBUG, "session.delete", principal->name, "client ended session %s", claims.sid);
    mg_session_claims_dispose(&claims);
    send_status(req, 204, "No Content");
    return 0;
}

static int route_method(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal);

/* A request the identify stage refused (no credential, a bad one, the identity provider unreachable). */
static void refuse_identity(mg_worker_t *worker, h2o_req_t *req, long scope, const mg_auth_refusal_t *refusal)
{
    record_direct(worker, req, NULL, NULL, refusal->status == 503 ? MG_AUDIT_ERROR : MG_AUDIT_DENY, MG_RPC_UNAUTHORIZED,
                  refusal->description);
    mg_auth_send_refusal(worker, req, scope, refusal);
}

static void on_identified(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal,
                          const mg_auth_refusal_t *refusal);

int mg_front_handle(mg_worker_t *worker, h2o_req_t *req, long scope)
{
    identify_began_ns = worker->gateway->tracer != NULL ? mg_trace_now_ns() : 0;
    h2o_iovec_t origin = header_value_by_name(req, "origin");
    if (origin.base != NULL && !mg_config_origin_allowed(worker->gateway->config, origin.base, origin.len)) {
        refuse(worker, req, NULL, NULL, 403, NULL, MG_RPC_INVALID_REQUEST, "Forbidden: Origin is not allowed");
        return 0;
    }
    mg_principal_t *principal;
    mg_auth_refusal_t refusal;
    int rc = mg_auth_identify(worker, req, scope, on_identified, &principal, &refusal);
    if (rc == MG_AUTH_PENDING)
        return 0;
    if (rc != 0) {
        refuse_identity(worker, req, scope, &refusal);
        return 0;
    }
    identified_ns = identify_began_ns != 0 ? mg_trace_now_ns() : 0;
    rc = route_method(worker, req, scope, principal);
    mg_principal_release(principal);
    return rc;
}

/* The identify stage waited for the identity provider (auth.h): the request goes on from here. */
static void on_identified(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal,
                          const mg_auth_refusal_t *refusal)
{
    identify_began_ns = 0; /* it waited: the span starts when h2o began processing the request */
    identified_ns = worker->gateway->tracer != NULL ? mg_trace_now_ns() : 0;
    if (principal == NULL)
        refuse_identity(worker, req, scope, refusal);
    else
        route_method(worker, req, scope, principal);
}

static int route_method(mg_worker_t *worker, h2o_req_t *req, long scope, mg_principal_t *principal)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
        return handle_post(worker, req, scope, principal);
    h2o_iovec_t version = header_value_by_name(req, "mcp-protocol-version");
    if (version.base != NULL && mg_versions_is_modern(version.base, version.len)) {
        /* 2026-07-28 has no GET stream and no sessions to delete */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        refuse(worker, req, principal, NULL, 405, NULL, MG_RPC_INVALID_REQUEST,
               "Method Not Allowed: 2026-07-28 clients use POST only (subscriptions/listen for notifications)");
        return 0;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return handle_get(worker, req, scope, principal);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE")))
        return handle_delete(worker, req, principal);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, POST, DELETE"));
    refuse(worker, req, principal, NULL, 405, NULL, MG_RPC_INVALID_REQUEST, "Method Not Allowed");
    return 0;
}
