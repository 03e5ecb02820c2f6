/*
 * http.c - Streamable HTTP upstream transport (see http.h).
 *
 * Every operation is a `call`: one logical exchange with the upstream made of one or
 * two HTTP requests (open_session: initialize, then notifications/initialized; the
 * probe: initialize, then DELETE). A call's HTTP requests go over the upstream's own
 * keep-alive connections (http_conn.c), and a call ends in exactly one of:
 * events->done, a log line (fire-and-forget POSTs), or a probe verdict.
 *
 * Response bodies are read as they arrive: application/json is collected (bounded)
 * and parsed at the end; text/event-stream goes through the SSE parser and each
 * message is acted on as soon as its event is complete. After the awaited response
 * a call reports done at once and keeps draining the stream only so the connection
 * can go back to the idle list.
 *
 * Re-entrancy: a connection must not be cancelled from inside one of its own
 * callbacks, yet our callbacks call the front end, which may abandon() the very call
 * being served. So a call notes when it is inside a connection callback; abandon()
 * then only marks it, and the callback has the connection closed on its way out.
 *
 * Era (streamable-http.mdx, "Backward Compatibility"): the probe first POSTs
 * server/discover as a modern request. A DiscoverResult makes the server modern (no
 * initialize, no DELETE, no sessions: each call carries its own _meta and mirrored
 * headers, and closing its connection is its cancellation); an answer without a
 * DiscoverResult or a recognized modern error makes it legacy, and the same probe goes
 * on with initialize. A legacy verdict is kept across probes until initialize itself
 * is refused; a modern one is confirmed by every probe, since discover is the probe.
 */
#include "upstream/http.h"

#include "core/bytes.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/upstream_oauth.h"
#include "core/json_write.h"
#include "guard/pins.h"
#include "guard/scrub.h"
#include "mcp/asked.h"
#include "mcp/jsonrpc.h"
#include "mcp/sse.h"
#include "mcp/versions.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "upstream/http_conn.h"
#include "upstream/modern.h"

#define MAX_MESSAGE_BYTES ((size_t)16 << 20) /* one JSON body or one SSE event */
#define MAX_SESSION_ID_BYTES 1024
#define POOL_IDLE_MS 2000 /* below common server keep-alive timeouts (Node, uvicorn: 5 s) */
#define POOL_MAX_IDLE 64
#define LISTEN_IDLE_MS (15 * 60 * 1000)
#define PROBE_BACKOFF_MAX_S 30
#define PROBE_PROTOCOL_VERSION "2025-11-25"
#define ID_PREFIX MG_ASKED_PREFIX /* the gateway's own ids */

typedef struct st_http_upstream_t http_upstream_t;

typedef enum en_call_kind_t {
    CALL_REQUEST,      /* call(): a request answered by one response */
    CALL_OPEN_SESSION, /* initialize, then notifications/initialized */
    CALL_LISTEN,       /* GET event stream */
    CALL_PROBE,        /* health probe: server/discover; for a legacy server initialize, then DELETE */
    CALL_POST,         /* fire-and-forget: notification, reply, cancellation */
} call_kind_t;

typedef enum en_body_mode_t {
    BODY_DISCARD,
    BODY_JSON,
    BODY_SSE,
} body_mode_t;

typedef struct st_http_call_t {
    http_upstream_t *upstream;
    h2o_linklist_t link; /* upstream->calls */
    uint64_t handle;
    call_kind_t kind;
    int phase; /* 0: first HTTP request; 1: second (open_session, probe) */
    const mg_upstream_events_t *events;
    void *ctx;

    mg_http_conn_t *conn; /* non-NULL while an HTTP request is in flight */
    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t next_phase; /* starts phase 1 on the next loop turn */

    /* the request being sent */
    h2o_iovec_t request[2];    /* head, body (malloc'ed) */
    json_t *request_id;        /* the id awaited in the response; NULL when none */
    char *session_id;          /* Mcp-Session-Id sent, or NULL */
    char *protocol_version;    /* MCP-Protocol-Version sent */
    mg_bytes_t mirror_headers; /* modern requests: Mcp-Method, Mcp-Name, Mcp-Param-* lines */
    bool modern;               /* to a modern server: stateless, cancelled by closing the connection */
    char sid[33];              /* modern requests: the client session, so its notifications/cancelled finds it */
    bool discovering;          /* a probe waiting for the answer to server/discover */
    bool asked;                /* the server asked the client something: the deadline is the answer's */
    bool sent_token;           /* the request carries the gateway's OAuth token (credentials.oauth) */

    /* the response being read */
    int status;
    body_mode_t body_mode;
    char *body;
    size_t body_len, body_cap;
    mg_sse_parser_t sse;
    char *response_session_id; /* Mcp-Session-Id the upstream returned */
    json_t *initialize_response;

    bool finished; /* done delivered, or abandoned: no more events */
    bool abandoned;
    bool in_conn_callback;
    bool stop_reading; /* close the connection when the current callback returns */
    char sync_error[160];
} http_call_t;

struct st_http_upstream_t {
    mg_upstream_t super;
    char *host; /* as for getaddrinfo: no brackets */
    char *authority;
    char *path;
    bool is_tls;
    SSL_CTX *ssl_ctx;
    uint16_t port;
    h2o_loop_t *loop;
    mg_http_conn_pool_t conn_pool;
    h2o_timeout_t io_timeout;          /* requests: server->timeout_ms + 1 s */
    h2o_timeout_t stream_idle_timeout; /* GET streams: LISTEN_IDLE_MS */
    h2o_timeout_t deadline_timeout, zero_timeout, probe_tick_timeout;
    h2o_timeout_t answer_timeout; /* a call whose server asked the client: MG_UPSTREAM_ANSWER_TIMEOUT_MS */
    h2o_linklist_t calls;
    uint64_t next_handle;
    /* health: atomic because /readyz on any worker reads every worker's view */
    atomic_bool ready;
    bool state_logged;
    http_call_t *probe;
    h2o_timeout_entry_t probe_tick;
    int probe_backoff_s, probe_wait_s;
};

static void call_start_phase(http_call_t *call);
static void probe_start(http_upstream_t *self);
static void probe_schedule(http_upstream_t *self);

/* ---------------------------------------------------------------- small helpers */

/* Header values we write: no control characters (CR/LF would split the header). */
static bool header_value_ok(const char *value, bool visible_only)
{
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; ++p) {
        if (*p == 0x7f || (*p < 0x20 && *p != '\t') || (visible_only && (*p <= 0x20 || *p >= 0x7f)))
            return false;
    }
    return true;
}

static bool header_name_ok(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *p = name; *p != '\0'; ++p) {
        if (strchr("!#$%&'*+-.^_`|~", *p) == NULL && !(*p >= '0' && *p <= '9') && !(*p >= 'a' && *p <= 'z') &&
            !(*p >= 'A' && *p <= 'Z'))
            return false;
    }
    return true;
}

static const char *session_protocol_version(const mg_upstream_session_t *session)
{
    if (session != NULL && session->protocol_version != NULL && session->protocol_version[0] != '\0')
        return session->protocol_version;
    return PROBE_PROTOCOL_VERSION;
}

static const char *result_protocol_version(const json_t *response, const char *fallback)
{
    const char *version = json_string_value(json_object_get(json_object_get(response, "result"), "protocolVersion"));
    return version != NULL && version[0] != '\0' && strlen(version) < 64 && header_value_ok(version, true) ? version
                                                                                                           : fallback;
}

/* ---------------------------------------------------------------- call lifecycle */

/* Not calloc, which glibc 2.36 serves past malloc's per-thread cache (a call is made for every request
 * forwarded); out of line, so that the compiler does not turn malloc and memset back into calloc. */
static __attribute__((noinline)) void zero(void *memory, size_t size)
{
    memset(memory, 0, size);
}

static http_call_t *call_new(http_upstream_t *self, call_kind_t kind, const mg_upstream_events_t *events, void *ctx)
{
    http_call_t *call = malloc(sizeof(*call));
    if (call == NULL)
        return NULL;
    zero(call, sizeof(*call));
    call->upstream = self;
    call->kind = kind;
    call->handle = ++self->next_handle;
    call->events = events;
    call->ctx = ctx;
    h2o_linklist_insert(&self->calls, &call->link);
    return call;
}

static void call_reset_response(http_call_t *call)
{
    free(call->body);
    call->body = NULL;
    call->body_len = call->body_cap = 0;
    mg_sse_parser_dispose(&call->sse);
    call->status = 0;
    call->body_mode = BODY_DISCARD;
}

static void call_reset_request(http_call_t *call)
{
    free(call->request[0].base);
    free(call->request[1].base);
    call->request[0] = call->request[1] = h2o_iovec_init(NULL, 0);
}

static void call_cancel_conn(http_call_t *call)
{
    if (call->conn == NULL)
        return;
    assert(!call->in_conn_callback);
    mg_http_conn_cancel(call->conn);
    call->conn = NULL;
}

static void call_free(http_call_t *call)
{
    call_cancel_conn(call);
    h2o_timeout_unlink(&call->deadline);
    h2o_timeout_unlink(&call->next_phase);
    if (call->upstream->probe == call)
        call->upstream->probe = NULL;
    h2o_linklist_unlink(&call->link);
    call_reset_request(call);
    call_reset_response(call);
    json_decref(call->request_id);
    json_decref(call->initialize_response);
    mg_bytes_dispose(&call->mirror_headers);
    free(call->session_id);
    free(call->protocol_version);
    free(call->response_session_id);
    free(call);
}

/* Frees the call once nothing can reach it any more. */
static void call_settle(http_call_t *call)
{
    if (call->in_conn_callback || call->conn != NULL || h2o_timeout_is_linked(&call->next_phase))
        return;
    call_free(call);
}

static http_call_t *call_find(http_upstream_t *self, uint64_t handle)
{
    for (h2o_linklist_t *node = self->calls.next; node != &self->calls; node = node->next) {
        http_call_t *call = H2O_STRUCT_FROM_MEMBER(http_call_t, link, node);
        if (call->handle == handle)
            return call;
    }
    return NULL;
}

/* ---------------------------------------------------------------- requests */

/* Builds the request bytes. `body` (may be NULL) is serialized; `accept` names what we take back. */
static void append_str(mg_bytes_t *bytes, const char *text)
{
    mg_bytes_append(bytes, text, strlen(text));
}

static void append_header(mg_bytes_t *bytes, const char *name, const char *value)
{
    append_str(bytes, name);
    append_str(bytes, ": ");
    append_str(bytes, value);
    append_str(bytes, "\r\n");
}

/* The gateway's own credential for this upstream (servers[].credentials). Nothing of the client's
 * request is copied into an upstream request's head, so its Authorization, cookies and other
 * token-bearing headers never travel: only what the configuration names is sent. */
static void append_credentials(http_call_t *call, mg_bytes_t *head)
{
    const mg_config_credentials_t *credentials = &call->upstream->super.server->credentials;
    switch (credentials->kind) {
    case MG_CREDENTIALS_NONE:
        return;
    case MG_CREDENTIALS_BEARER:
        append_str(head, "Authorization: Bearer ");
        append_str(head, credentials->bearer);
        append_str(head, "\r\n");
        return;
    case MG_CREDENTIALS_HEADERS:
        for (size_t i = 0; i != credentials->headers_len; ++i)
            append_header(head, credentials->headers[i].key, credentials->headers[i].value);
        return;
    case MG_CREDENTIALS_CLIENT_CREDENTIALS: {
        const char *token = mg_worker_upstream_token(call->upstream->super.worker, call->upstream->super.server_index);
        call->sent_token = token != NULL;
        if (token != NULL) {
            append_str(head, "Authorization: Bearer ");
            append_str(head, token);
            append_str(head, "\r\n");
        }
        return;
    }
    }
}

static int call_prepare(http_call_t *call, const char *method, const char *accept, const char *session_id,
                        const char *protocol_version, const json_t *body)
{
    http_upstream_t *self = call->upstream;
    const mg_config_server_t *server = self->super.server;

    if (session_id != NULL && (strlen(session_id) > MAX_SESSION_ID_BYTES || !header_value_ok(session_id, true)))
        return -1;
    if (protocol_version != NULL && (strlen(protocol_version) > 64 || !header_value_ok(protocol_version, true)))
        return -1;
    call_reset_request(call);
    free(call->session_id);
    free(call->protocol_version);
    call->session_id = session_id != NULL ? strdup(session_id) : NULL;
    call->protocol_version = protocol_version != NULL ? strdup(protocol_version) : NULL;

    size_t body_len = 0;
    if (body != NULL) {
        char *text = mg_rpc_encode(body, &body_len);
        if (text == NULL)
            return -1;
        call->request[1] = h2o_iovec_init(text, body_len);
    }

    /* built by appends, not printf: this runs for every request the gateway forwards */
    mg_bytes_t head = {0};
    mg_bytes_reserve(&head, 256 + call->mirror_headers.len);
    append_str(&head, method);
    append_str(&head, " ");
    append_str(&head, self->path);
    append_str(&head, " HTTP/1.1\r\nHost: ");
    append_str(&head, self->authority);
    append_str(&head, "\r\nAccept: ");
    append_str(&head, accept);
    append_str(&head, "\r\n");
    if (body != NULL) {
        char digits[24], *end = digits + sizeof(digits), *p = end;
        size_t n = body_len;
        do {
            *--p = (char)('0' + n % 10);
            n /= 10;
        } while (n != 0);
        append_str(&head, "Content-Type: application/json\r\nContent-Length: ");
        mg_bytes_append(&head, p, (size_t)(end - p));
        append_str(&head, "\r\n");
    }
    if (protocol_version != NULL)
        append_header(&head, "MCP-Protocol-Version", protocol_version);
    if (session_id != NULL)
        append_header(&head, "Mcp-Session-Id", session_id);
    if (call->mirror_headers.len != 0)
        mg_bytes_append(&head, call->mirror_headers.base, call->mirror_headers.len);
    for (size_t i = 0; i != server->headers_len; ++i)
        append_header(&head, server->headers[i].key, server->headers[i].value);
    append_credentials(call, &head);
    append_str(&head, "\r\n");
    size_t head_len;
    char *head_text = mg_bytes_take(&head, &head_len);
    call->request[0] = h2o_iovec_init(head_text, head_len);
    return 0;
}

static void call_fail(http_call_t *call, int code, const char *message);

static const mg_http_conn_callbacks_t conn_callbacks;

/* Sends the prepared request. Returns -1 when it failed at once (the reason is in
 * call->sync_error and there is no connection). */
static int call_send(http_call_t *call)
{
    http_upstream_t *self = call->upstream;
    assert(mg_worker_on_own_thread(self->super.worker)); /* the connection's socket is this thread's */
    h2o_timeout_t *io_timeout = call->kind == CALL_LISTEN ? &self->stream_idle_timeout : &self->io_timeout;
    const char *errstr = NULL;
    call_reset_response(call);
    call->sync_error[0] = '\0';
    call->conn = mg_http_conn_request(&self->conn_pool, io_timeout, call->request,
                                      call->request[1].base != NULL ? 2 : 1, &conn_callbacks, call, &errstr);
    if (call->conn == NULL) {
        snprintf(call->sync_error, sizeof(call->sync_error), "%s", errstr);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- events */

static void call_finish(http_call_t *call, json_t *response, int code, const char *message)
{
    if (call->finished)
        return;
    call->finished = true;
    h2o_timeout_unlink(&call->deadline);
    if (call->events != NULL && call->events->done != NULL)
        call->events->done(call->ctx, response, code, message);
}

static void post_fire_and_forget(http_upstream_t *self, const char *session_id, const char *protocol_version,
                                 const json_t *message, const char *what);

static void send_cancelled(http_call_t *call, const char *reason)
{
    /* a modern server takes the closed connection as the cancellation (streamable-http.mdx) */
    if (call->kind != CALL_REQUEST || call->request_id == NULL || call->modern)
        return;
    json_t *notification = mg_rpc_make_notification(
        "notifications/cancelled", json_pack("{s:O, s:s}", "requestId", call->request_id, "reason", reason));
    if (notification != NULL)
        post_fire_and_forget(call->upstream, call->session_id, call->protocol_version, notification,
                             "notifications/cancelled");
    json_decref(notification);
}

static void probe_finished(http_upstream_t *self, const json_t *result, const json_t *discover_result,
                           const char *failure);

/* The call cannot go on: tell whoever waits, in the way its kind calls for. */
static void call_fail(http_call_t *call, int code, const char *message)
{
    http_upstream_t *self = call->upstream;
    if (call->kind != CALL_PROBE && !call->finished)
        mg_metrics_upstream_event(self->super.worker->gateway->metrics, self->super.server_index,
                                  MG_METRICS_UPSTREAM_REQUEST);
    switch (call->kind) {
    case CALL_PROBE:
        if (call->phase == 0 && !call->finished) {
            call->finished = true;
            h2o_timeout_unlink(&call->deadline);
            probe_finished(self, NULL, NULL, message);
        }
        break;
    case CALL_POST:
        if (!call->finished) {
            call->finished = true;
            mg_log(MG_LOG_WARN, "upstream.post_failed", "upstream %s: %s", self->super.server->name, message);
        }
        break;
    default:
        call_finish(call, NULL, code, message);
        break;
    }
    call->stop_reading = true;
}

static void call_failf(http_call_t *call, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void call_failf(http_call_t *call, int code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    call_fail(call, code, message);
}

static void call_fail_invalid(http_call_t *call, const char *reason)
{
    const char *name = call->upstream->super.server->name;
    mg_metrics_upstream_event(call->upstream->super.worker->gateway->metrics, call->upstream->super.server_index,
                              MG_METRICS_UPSTREAM_PROTOCOL);
    mg_log(MG_LOG_WARN, "upstream.invalid_message", "upstream %s sent an invalid message: %s", name, reason);
    call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s sent an invalid message", name);
}

/* The upstream's bytes (a JSON body, an SSE event's data) as a value with every string scrubbed: the one
 * way in for what an HTTP server says (security invariant 6), before anything classifies, caches or
 * forwards it (the bytes themselves tell whether there is anything to scrub, without a walk of the values).
 * NULL, with the reason in *parse_error, when it is not JSON or cannot be scrubbed. */
static json_t *parse_upstream(http_upstream_t *self, const char *bytes, size_t len, json_error_t *parse_error)
{
    json_t *root = mg_json_loadb(bytes, len, MG_JSON_DECODE_FLAGS, parse_error);
    if (root == NULL || mg_scrub_json_text_is_clean(bytes, len))
        return root;
    mg_scrub_counts_t scrubbed = {0};
    if (mg_scrub_message(root, &scrubbed) != 0) {
        json_decref(root);
        if (parse_error != NULL)
            snprintf(parse_error->text, sizeof(parse_error->text), "a message that could not be scrubbed");
        return NULL;
    }
    mg_scrub_log(self->super.server->name, &scrubbed);
    return root;
}

/* Rewrites a server-to-client request id to "mcpgate:<server>:<method>:<id as JSON>" (mcp/asked.h). The
 * id is the one string of the message left unscrubbed (the server must get it back as it was); written
 * in ASCII, with DEL as \u007f too, it shows the client nothing but printable ASCII. */
static int rewrite_request_id(http_upstream_t *self, json_t *message)
{
    size_t len;
    char *written =
        mg_json_write_text(json_object_get(message, "id"), JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII, &len);
    if (written == NULL)
        return -1;
    size_t dels = 0;
    for (size_t i = 0; i < len; i++)
        dels += written[i] == 0x7f;
    char *original = written;
    if (dels != 0) { /* only inside a string: \u007f reads back as the same id */
        original = malloc(len + 5 * dels + 1);
        if (original == NULL) {
            free(written);
            return -1;
        }
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (written[i] == 0x7f) {
                memcpy(original + o, "\\u007f", 6);
                o += 6;
            } else {
                original[o++] = written[i];
            }
        }
        original[o] = '\0';
        free(written);
    }
    char *id =
        mg_asked_id_make(self->super.server->name, json_string_value(json_object_get(message, "method")), original);
    free(original);
    if (id == NULL)
        return -1;
    int rc = json_object_set_new(message, "id", json_string(id));
    free(id);
    return rc;
}

static void call_respond(http_call_t *call, json_t *response);

/* One message from the upstream, from a JSON body or an SSE event. Returns nonzero to stop reading. */
/* The server asked the client something in the middle of the call (elicitation, sampling, roots) and
 * waits for the answer, which a person may take a while over: the call's deadline and the connection's
 * idle bound become the answer's. */
static void wait_for_answer(http_call_t *call)
{
    http_upstream_t *self = call->upstream;
    call->asked = true;
    if (h2o_timeout_is_linked(&call->deadline)) {
        h2o_timeout_unlink(&call->deadline);
        h2o_timeout_link(self->loop, &self->answer_timeout, &call->deadline);
    }
    if (call->conn != NULL)
        mg_http_conn_set_io_timeout(call->conn, &self->answer_timeout);
}

static int call_on_message(http_call_t *call, const char *bytes, size_t len)
{
    if (call->finished)
        return call->kind != CALL_REQUEST; /* only a finished request drains its stream */

    json_error_t parse_error;
    json_t *root = parse_upstream(call->upstream, bytes, len, &parse_error);
    if (root == NULL) {
        call_fail_invalid(call, parse_error.text);
        return 1;
    }
    mg_rpc_message_t message;
    mg_rpc_error_t error;
    if (mg_rpc_classify(root, &message, &error) != 0) {
        json_decref(root);
        call_fail_invalid(call, error.message);
        mg_rpc_error_dispose(&error);
        return 1;
    }
    json_decref(root);

    int stop = 0;
    if (message.kind == MG_RPC_RESPONSE) {
        if (call->request_id != NULL && json_equal(message.id, call->request_id)) {
            call_respond(call, message.root);
        } else {
            mg_log(MG_LOG_WARN, "upstream.unexpected_response", "upstream %s sent a response to an unknown request",
                   call->upstream->super.server->name);
        }
    } else if (call->kind != CALL_PROBE && call->kind != CALL_POST) {
        if (message.kind == MG_RPC_REQUEST && rewrite_request_id(call->upstream, message.root) != 0) {
            stop = 1;
            call_fail(call, MG_RPC_UPSTREAM_ERROR, "out of memory");
        } else if (call->events != NULL && call->events->message != NULL) {
            if (message.kind == MG_RPC_REQUEST && call->kind == CALL_REQUEST)
                wait_for_answer(call);
            call->events->message(call->ctx, message.root);
        }
    }
    mg_rpc_message_dispose(&message);
    return stop || call->abandoned || call->stop_reading;
}

static int on_sse_event(void *ctx, const mg_sse_event_t *event)
{
    http_call_t *call = ctx;
    if (event->data_len == 0 || !(event->type_len == 7 && memcmp(event->type, "message", 7) == 0))
        return 0; /* priming events (id only) and other event types carry no message */
    return call_on_message(call, event->data, event->data_len);
}

/* ---------------------------------------------------------------- phases of each kind */

static void open_session_done(http_call_t *call)
{
    json_t *response = call->initialize_response;
    call->initialize_response = NULL;
    if (call->response_session_id != NULL)
        json_object_set_new(response, "_mcpgate_session_id", json_string(call->response_session_id));
    call_finish(call, response, 0, NULL);
    json_decref(response);
}

static void probe_on_discover(http_call_t *call, const json_t *response, const char *how);

/* The awaited JSON-RPC response arrived (`response` borrowed). */
static void call_respond(http_call_t *call, json_t *response)
{
    http_upstream_t *self = call->upstream;
    bool is_result = json_object_get(response, "result") != NULL;
    switch (call->kind) {
    case CALL_REQUEST:
        call_finish(call, response, 0, NULL);
        break;
    case CALL_OPEN_SESSION:
        if (!is_result) {
            call_finish(call, response, 0, NULL);
            call->stop_reading = true;
            break;
        }
        call->initialize_response = json_deep_copy(response);
        /* phase 1: notifications/initialized, on a connection of its own */
        call->stop_reading = true;
        call->phase = 1;
        {
            json_t *initialized = mg_rpc_make_notification("notifications/initialized", NULL);
            int rc = initialized == NULL || call->initialize_response == NULL
                         ? -1
                         : call_prepare(call, "POST", "application/json, text/event-stream", call->response_session_id,
                                        result_protocol_version(response, call->protocol_version), initialized);
            json_decref(initialized);
            if (rc != 0) {
                call_fail(call, MG_RPC_UPSTREAM_ERROR, "cannot build notifications/initialized");
                break;
            }
        }
        h2o_timeout_link(self->loop, &self->zero_timeout, &call->next_phase);
        break;
    case CALL_PROBE: {
        if (call->discovering) {
            probe_on_discover(call, response, NULL);
            break;
        }
        json_t *result = json_object_get(response, "result");
        call->stop_reading = true;
        if (!json_is_object(result)) {
            self->super.era = MG_UPSTREAM_ERA_UNKNOWN; /* the legacy verdict failed: the next probe asks again */
            call_fail(call, MG_RPC_UPSTREAM_ERROR, "initialize failed");
            break;
        }
        call->finished = true;
        h2o_timeout_unlink(&call->deadline);
        probe_finished(self, result, NULL, NULL);
        if (call->response_session_id != NULL) {
            char *session_id = strdup(call->response_session_id);
            call->phase = 1;
            if (session_id != NULL &&
                call_prepare(call, "DELETE", "application/json", session_id,
                             result_protocol_version(response, PROBE_PROTOCOL_VERSION), NULL) == 0)
                h2o_timeout_link(self->loop, &self->zero_timeout, &call->next_phase);
            free(session_id);
        }
        break;
    }
    default:
        break;
    }
}

/* A status-only step (phase 1 of open_session and probe, fire-and-forget POSTs) completed. */
static void call_step_done(http_call_t *call)
{
    const char *name = call->upstream->super.server->name;
    bool ok = call->status >= 200 && call->status <= 299;
    switch (call->kind) {
    case CALL_OPEN_SESSION:
        if (ok) {
            open_session_done(call);
        } else {
            call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s refused notifications/initialized: HTTP %d", name,
                       call->status);
        }
        break;
    case CALL_POST:
        if (!ok)
            call_failf(call, MG_RPC_UPSTREAM_ERROR, "answered HTTP %d", call->status);
        call->finished = true;
        break;
    default: /* the probe's DELETE: 405 means the server does not let clients end sessions */
        break;
    }
}

static void probe_discover_complete(http_call_t *call);

/* The whole response has been read (or there was no body). */
static void call_complete(http_call_t *call)
{
    const char *name = call->upstream->super.server->name;
    int status = call->status;
    bool status_only = call->kind == CALL_POST || call->phase == 1;

    if (call->finished && !status_only)
        return;
    if (status == 404 && call->session_id != NULL && call->kind != CALL_PROBE) {
        call_fail(call, MG_RPC_UPSTREAM_ERROR, "upstream session expired");
        return;
    }
    if (status_only) {
        call_step_done(call);
        return;
    }
    if (call->kind == CALL_PROBE && call->discovering) {
        probe_discover_complete(call);
        return;
    }
    if (call->kind == CALL_LISTEN) {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s closed the event stream", name);
        return;
    }
    bool ok = status >= 200 && status <= 299;
    if (call->body_mode == BODY_JSON) {
        /* a JSON-RPC error in a non-2xx answer is still the upstream's answer */
        json_error_t parse_error;
        mg_rpc_error_t error = {0};
        mg_rpc_message_t message;
        const char *problem = NULL;
        bool answered = false;
        json_t *root = parse_upstream(call->upstream, call->body, call->body_len, &parse_error);
        if (root == NULL) {
            problem = parse_error.text;
        } else if (mg_rpc_classify(root, &message, &error) != 0) {
            problem = error.message;
        } else {
            if (message.kind == MG_RPC_RESPONSE && json_equal(message.id, call->request_id) &&
                (ok || message.error != NULL)) {
                call_respond(call, message.root);
                answered = true;
            } else {
                problem = "not the response to the request";
            }
            mg_rpc_message_dispose(&message);
        }
        if (!answered && ok)
            call_fail_invalid(call, problem);
        mg_rpc_error_dispose(&error);
        json_decref(root);
        if (answered || ok)
            return;
    }
    if (!ok) {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s answered HTTP %d", name, status);
    } else if (call->body_mode == BODY_SSE) {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s closed the stream without answering", name);
    } else {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s answered HTTP %d without a JSON-RPC response", name,
                   status);
    }
}

/* ---------------------------------------------------------------- connection callbacks */

/* Keeps a JSON body (bounded). */
static void call_collect_body(http_call_t *call, const char *bytes, size_t len)
{
    if (call->body_len + len > MAX_MESSAGE_BYTES) {
        call_fail_invalid(call, "a response exceeds 16 MiB");
        return;
    }
    if (call->body_len + len > call->body_cap) {
        /* most bodies come in one piece: a first block of their size stays in glibc's per-thread cache */
        size_t cap = call->body_cap != 0 ? call->body_cap : len < 256 ? 256 : len;
        while (cap < call->body_len + len)
            cap *= 2;
        char *body = realloc(call->body, cap);
        if (body == NULL) {
            call_fail(call, MG_RPC_UPSTREAM_ERROR, "out of memory");
            return;
        }
        call->body = body;
        call->body_cap = cap;
    }
    memcpy(call->body + call->body_len, bytes, len);
    call->body_len += len;
}

static int on_response_body(void *data, const char *bytes, size_t len)
{
    http_call_t *call = data;
    call->in_conn_callback = true;
    if (!call->stop_reading && !call->abandoned) {
        if (call->body_mode == BODY_SSE) {
            int rc = mg_sse_parser_feed(&call->sse, bytes, len);
            if (rc == MG_SSE_TOO_LARGE)
                call_fail_invalid(call, "an event exceeds 16 MiB");
            else if (rc == MG_SSE_STOPPED && call->finished && call->kind == CALL_REQUEST)
                call->body_mode = BODY_DISCARD; /* answered: drain the rest for keep-alive */
        } else if (call->body_mode == BODY_JSON) {
            call_collect_body(call, bytes, len);
        }
    }
    call->in_conn_callback = false;
    if (!call->stop_reading && !call->abandoned)
        return 0;
    call->conn = NULL; /* closed when we return */
    call_settle(call);
    return -1;
}

static void on_response_end(void *data, const char *errstr, bool connect_failed)
{
    http_call_t *call = data;
    http_upstream_t *self = call->upstream;
    call->conn = NULL;
    call->in_conn_callback = true;
    if (connect_failed) {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s unreachable: %s", self->super.server->name, errstr);
        if (call->kind != CALL_PROBE)
            probe_schedule(self); /* a call could not connect: find out whether the server is gone */
    } else if (errstr != NULL) {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s: %s", self->super.server->name, errstr);
    } else if (!call->stop_reading && !call->abandoned) {
        call_complete(call);
    }
    call->in_conn_callback = false;
    call_settle(call);
}

static bool media_type_is(h2o_iovec_t value, const char *type)
{
    size_t len = strlen(type);
    while (value.len != 0 && (*value.base == ' ' || *value.base == '\t')) {
        ++value.base;
        --value.len;
    }
    if (value.len < len || strncasecmp(value.base, type, len) != 0)
        return false;
    return value.len == len || value.base[len] == ';' || value.base[len] == ' ' || value.base[len] == '\t';
}

static void call_take_session_id(http_call_t *call, const char *value, size_t len)
{
    free(call->response_session_id);
    call->response_session_id = NULL;
    if (len == 0 || len > MAX_SESSION_ID_BYTES)
        return;
    char *copy = h2o_strdup(NULL, value, len).base;
    if (copy != NULL && strlen(copy) == len && header_value_ok(copy, true))
        call->response_session_id = copy;
    else
        free(copy);
}

static int on_response_head(void *data, int status, const struct phr_header *headers, size_t num_headers)
{
    http_call_t *call = data;
    http_upstream_t *self = call->upstream;
    call->in_conn_callback = true;

    if (call->abandoned)
        goto Close;
    call->status = status;
    if (status == 401 && call->sent_token) /* the token was revoked, or the upstream's keys changed */
        mg_upstream_oauth_ask_refresh(self->super.worker->gateway->upstream_oauth, self->super.server_index);
    h2o_iovec_t content_type = h2o_iovec_init(NULL, 0);
    for (size_t i = 0; i != num_headers; ++i) {
        if (headers[i].name == NULL)
            continue; /* a folded continuation line */
        if (h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("content-type")))
            content_type = h2o_iovec_init(headers[i].value, headers[i].value_len);
        else if (h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("mcp-session-id")))
            call_take_session_id(call, headers[i].value, headers[i].value_len);
    }

    bool ok = status >= 200 && status <= 299;
    if (call->kind == CALL_LISTEN) {
        h2o_timeout_unlink(&call->deadline); /* a stream may stay quiet; idle is bounded by stream_idle_timeout */
        if (status == 405) {
            call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s offers no event stream", self->super.server->name);
            goto Close;
        } else if (status == 404 && call->session_id != NULL) {
            call_fail(call, MG_RPC_UPSTREAM_ERROR, "upstream session expired");
            goto Close;
        } else if (!ok || !media_type_is(content_type, "text/event-stream")) {
            call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s answered HTTP %d", self->super.server->name, status);
            goto Close;
        }
    }
    if (content_type.base != NULL && media_type_is(content_type, "text/event-stream") && ok) {
        call->body_mode = BODY_SSE;
        mg_sse_parser_init(&call->sse, MAX_MESSAGE_BYTES, on_sse_event, call);
    } else if (content_type.base != NULL && media_type_is(content_type, "application/json")) {
        call->body_mode = BODY_JSON;
    } else {
        call->body_mode = BODY_DISCARD;
    }
    call->in_conn_callback = false;
    return 0;

Close:
    call->conn = NULL; /* closed when we return */
    call->in_conn_callback = false;
    call_settle(call);
    return -1;
}

static const mg_http_conn_callbacks_t conn_callbacks = {
    .on_head = on_response_head,
    .on_body = on_response_body,
    .on_end = on_response_end,
};

/* ---------------------------------------------------------------- timers */

static void on_deadline(h2o_timeout_entry_t *entry)
{
    http_call_t *call = H2O_STRUCT_FROM_MEMBER(http_call_t, deadline, entry);
    http_upstream_t *self = call->upstream;
    call_cancel_conn(call); /* the connection may be mid-response: never reuse it */
    h2o_timeout_unlink(&call->next_phase);
    if (call->asked)
        call_failf(call, MG_RPC_UPSTREAM_TIMEOUT, "upstream %s: the client did not answer its question within %d s",
                   self->super.server->name, MG_UPSTREAM_ANSWER_TIMEOUT_MS / 1000);
    else
        call_failf(call, MG_RPC_UPSTREAM_TIMEOUT, "upstream %s did not answer within %d ms", self->super.server->name,
                   self->super.server->timeout_ms);
    send_cancelled(call, "timeout");
    call->finished = true;
    call_settle(call);
}

/* open_session on a modern server: the discovered picture, as the result of the client's initialize */
static void modern_open_session_done(http_call_t *call)
{
    const json_t *result = call->upstream->super.initialize_result;
    json_t *response = result != NULL ? mg_rpc_make_result(call->request_id, json_deep_copy(result)) : NULL;
    if (response != NULL)
        call_finish(call, response, 0, NULL);
    else
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s has not been discovered",
                   call->upstream->super.server->name);
    json_decref(response);
}

static void on_next_phase(h2o_timeout_entry_t *entry)
{
    http_call_t *call = H2O_STRUCT_FROM_MEMBER(http_call_t, next_phase, entry);
    if (call->kind == CALL_OPEN_SESSION && call->modern)
        modern_open_session_done(call);
    else
        call_start_phase(call);
    call_settle(call);
}

static void call_start_phase(http_call_t *call)
{
    call->stop_reading = false;
    if (call_send(call) != 0) {
        call_failf(call, MG_RPC_UPSTREAM_ERROR, "upstream %s unreachable: %s", call->upstream->super.server->name,
                   call->sync_error);
        call->finished = true;
    }
}

/* Starts a new call: arms its deadline and sends. Returns the handle, or 0 when it
 * failed synchronously (then nothing has been reported and the call is gone). */
static uint64_t call_start(http_call_t *call, bool with_deadline)
{
    http_upstream_t *self = call->upstream;
    call->deadline.cb = on_deadline;
    call->next_phase.cb = on_next_phase;
    if (with_deadline)
        h2o_timeout_link(self->loop, &self->deadline_timeout, &call->deadline);
    if (call_send(call) != 0) {
        if (call->kind == CALL_POST || call->kind == CALL_PROBE)
            mg_log(MG_LOG_DEBUG, "upstream.connect_failed", "upstream %s unreachable: %s", self->super.server->name,
                   call->sync_error);
        call_free(call);
        return 0;
    }
    return call->handle;
}

/* ---------------------------------------------------------------- health probe */

static void log_state(http_upstream_t *self, bool ready, const char *failure)
{
    if (self->state_logged && atomic_load(&self->ready) == ready)
        return;
    self->state_logged = true;
    atomic_store(&self->ready, ready);
    if (ready)
        mg_log(MG_LOG_INFO, "upstream.ready", "upstream %s is ready", self->super.server->name);
    else
        mg_log(MG_LOG_WARN, "upstream.unreachable", "upstream %s is unreachable: %s", self->super.server->name,
               failure);
    if (!ready)
        mg_metrics_upstream_event(self->super.worker->gateway->metrics, self->super.server_index,
                                  MG_METRICS_UPSTREAM_UNREACHABLE);
}

static void probe_finished(http_upstream_t *self, const json_t *result, const json_t *discover_result,
                           const char *failure)
{
    if (result != NULL) {
        json_decref(self->super.initialize_result);
        json_decref(self->super.discover_result);
        self->super.initialize_result = json_deep_copy(result);
        self->super.discover_result = discover_result != NULL ? json_deep_copy(discover_result) : NULL;
        mg_pins_judge_instructions(self->super.worker, self->super.server_index);
        self->probe_backoff_s = 0;
        log_state(self, true, NULL);
        return;
    }
    log_state(self, false, failure);
    self->probe_backoff_s = self->probe_backoff_s == 0 ? 1 : self->probe_backoff_s * 2;
    if (self->probe_backoff_s > PROBE_BACKOFF_MAX_S)
        self->probe_backoff_s = PROBE_BACKOFF_MAX_S;
    self->probe_wait_s = self->probe_backoff_s;
    if (!h2o_timeout_is_linked(&self->probe_tick))
        h2o_timeout_link(self->loop, &self->probe_tick_timeout, &self->probe_tick);
}

static void set_era(http_upstream_t *self, mg_upstream_era_t era, const char *how)
{
    if (self->super.era != era)
        mg_upstream_modern_log_era(self->super.server->name, era, how);
    self->super.era = era;
}

static void on_probe_tick(h2o_timeout_entry_t *entry)
{
    http_upstream_t *self = H2O_STRUCT_FROM_MEMBER(http_upstream_t, probe_tick, entry);
    if (--self->probe_wait_s > 0) {
        h2o_timeout_link(self->loop, &self->probe_tick_timeout, &self->probe_tick);
        return;
    }
    probe_start(self);
}

/* A call failed to connect: probe within a second unless a probe is already due. */
static void probe_schedule(http_upstream_t *self)
{
    if (self->probe != NULL || h2o_timeout_is_linked(&self->probe_tick))
        return;
    self->probe_wait_s = 1;
    h2o_timeout_link(self->loop, &self->probe_tick_timeout, &self->probe_tick);
}

static int probe_prepare_initialize(http_call_t *call)
{
    json_t *id = json_string(ID_PREFIX "probe");
    json_t *request =
        mg_rpc_make_request(id, "initialize",
                            json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", PROBE_PROTOCOL_VERSION,
                                      "capabilities", "clientInfo", "name", "mcpgate", "version", "0.1.0"));
    json_decref(id);
    int rc = request == NULL ? -1
                             : call_prepare(call, "POST", "application/json, text/event-stream", NULL,
                                            PROBE_PROTOCOL_VERSION, request);
    json_decref(call->request_id);
    call->request_id = rc == 0 ? json_incref(json_object_get(request, "id")) : NULL;
    json_decref(request);
    return rc;
}

static int probe_prepare_discover(http_call_t *call)
{
    char why[160];
    json_t *request = mg_upstream_modern_discover_request(ID_PREFIX "discover");
    int rc = request == NULL ? -1
                             : mg_upstream_modern_headers(request, NULL, NULL, call->upstream->super.server->name,
                                                          &call->mirror_headers, why, sizeof(why));
    if (rc == 0)
        rc = call_prepare(call, "POST", "application/json, text/event-stream", NULL, MG_VERSION_MODERN, request);
    call->request_id = rc == 0 ? json_incref(json_object_get(request, "id")) : NULL;
    call->discovering = rc == 0;
    json_decref(request);
    return rc;
}

/* The answer to server/discover decides the era. `response` (borrowed) is NULL when the server
 * answered without a JSON-RPC response; `how` then says what it did answer. */
static void probe_on_discover(http_call_t *call, const json_t *response, const char *how)
{
    http_upstream_t *self = call->upstream;
    char why[300] = "";
    call->discovering = false;
    call->stop_reading = true;
    mg_bytes_dispose(&call->mirror_headers);
    switch (mg_upstream_modern_judge(response, why, sizeof(why))) {
    case MG_UPSTREAM_DISCOVER_MODERN: {
        const json_t *discover_result = json_object_get(response, "result");
        json_t *result = mg_upstream_modern_initialize_result(discover_result, self->super.server->name);
        if (result == NULL) {
            call_fail(call, MG_RPC_UPSTREAM_ERROR, "out of memory");
            break;
        }
        set_era(self, MG_UPSTREAM_ERA_MODERN, "server/discover answered with a DiscoverResult");
        call->finished = true;
        h2o_timeout_unlink(&call->deadline);
        probe_finished(self, result, discover_result, NULL);
        json_decref(result);
        break;
    }
    case MG_UPSTREAM_DISCOVER_MODERN_UNUSABLE:
        set_era(self, MG_UPSTREAM_ERA_MODERN, "server/discover answered with a modern error");
        mg_log(MG_LOG_ERROR, "upstream.incompatible", "upstream %s cannot be used: %s", self->super.server->name, why);
        call_fail(call, MG_RPC_UPSTREAM_ERROR, why); /* probed again with backoff: it may be upgraded */
        break;
    case MG_UPSTREAM_DISCOVER_LEGACY: {
        char answer[120];
        if (how == NULL) {
            snprintf(answer, sizeof(answer), "server/discover answered with error %" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(json_object_get(response, "error"), "code")));
            how = answer;
        }
        set_era(self, MG_UPSTREAM_ERA_LEGACY, how);
        /* the same probe goes on with initialize, on a connection of its own, with a fresh deadline */
        if (probe_prepare_initialize(call) != 0) {
            call_fail(call, MG_RPC_UPSTREAM_ERROR, "out of memory");
            break;
        }
        h2o_timeout_unlink(&call->deadline);
        h2o_timeout_link(self->loop, &self->deadline_timeout, &call->deadline);
        h2o_timeout_link(self->loop, &self->zero_timeout, &call->next_phase);
        break;
    }
    }
}

/* The probe's server/discover got a complete answer that was not (or not yet) judged: a JSON body
 * is judged here; anything else (another status, no JSON-RPC response) means a legacy server. */
static void probe_discover_complete(http_call_t *call)
{
    json_t *root = NULL;
    if (call->body_mode == BODY_JSON)
        root = parse_upstream(call->upstream, call->body, call->body_len, NULL);
    /* an error the server could not tie to the request may come with a null id */
    json_t *id = json_object_get(root, "id");
    bool is_response = json_is_object(root) &&
                       (json_object_get(root, "result") != NULL || json_object_get(root, "error") != NULL) &&
                       (json_is_null(id) || json_equal(id, call->request_id));
    char how[120];
    snprintf(how, sizeof(how), "server/discover answered HTTP %d without a DiscoverResult", call->status);
    probe_on_discover(call, is_response ? root : NULL, how);
    json_decref(root);
}

static void probe_start(http_upstream_t *self)
{
    if (self->probe != NULL)
        return;
    http_call_t *call = call_new(self, CALL_PROBE, NULL, NULL);
    /* a legacy verdict is cached: a probe that only checks health skips the question */
    bool discover = self->super.era != MG_UPSTREAM_ERA_LEGACY;
    if (call == NULL || (discover ? probe_prepare_discover(call) : probe_prepare_initialize(call)) != 0) {
        if (call != NULL)
            call_free(call);
        probe_finished(self, NULL, NULL, "out of memory");
        return;
    }
    self->probe = call;
    if (call_start(call, true) == 0)
        probe_finished(self, NULL, NULL, "cannot connect");
}

/* ---------------------------------------------------------------- operations */

/* A modern request: the caller's with this gateway's _meta, its headers mirrored, no session. */
static int call_prepare_modern(http_call_t *call, const mg_upstream_session_t *session, const json_t *request)
{
    http_upstream_t *self = call->upstream;
    char why[200] = "out of memory";
    const json_t *capabilities = session != NULL ? session->client_capabilities : NULL;
    const char *log_level = session != NULL ? session->log_level : NULL;
    json_t *modern = json_deep_copy(request);
    int rc = modern == NULL || mg_upstream_modern_set_meta(modern, capabilities, log_level) != 0
                 ? -1
                 : mg_upstream_modern_headers(modern, self->super.tools, &self->super.tool_schemas,
                                              self->super.server->name, &call->mirror_headers, why, sizeof(why));
    if (rc == 0)
        rc = call_prepare(call, "POST", "application/json, text/event-stream", NULL, MG_VERSION_MODERN, modern);
    else
        mg_log(MG_LOG_WARN, "upstream.request_unsendable", "upstream %s: cannot send a request: %s",
               self->super.server->name, why);
    call->modern = true;
    snprintf(call->sid, sizeof(call->sid), "%s", session != NULL && session->sid != NULL ? session->sid : "");
    json_decref(modern);
    return rc;
}

static uint64_t http_call(mg_upstream_t *super, const mg_upstream_session_t *session, json_t *request,
                          const mg_upstream_events_t *events, void *ctx)
{
    http_upstream_t *self = (http_upstream_t *)super;
    json_t *id = json_object_get(request, "id");
    if (!json_is_string(id) && !json_is_integer(id))
        return 0;
    http_call_t *call = call_new(self, CALL_REQUEST, events, ctx);
    if (call == NULL)
        return 0;
    if (session != NULL && session->traceparent != NULL) { /* W3C Trace Context, next to params._meta's copy */
        append_header(&call->mirror_headers, "traceparent", session->traceparent);
        if (session->tracestate != NULL)
            append_header(&call->mirror_headers, "tracestate", session->tracestate);
    }
    int rc = self->super.era == MG_UPSTREAM_ERA_MODERN
                 ? call_prepare_modern(call, session, request)
                 : call_prepare(call, "POST", "application/json, text/event-stream",
                                session != NULL ? session->upstream_session_id : NULL,
                                session_protocol_version(session), request);
    if (rc != 0) {
        call_free(call);
        return 0;
    }
    call->request_id = json_deep_copy(id);
    return call_start(call, true);
}

static void http_abandon(mg_upstream_t *super, uint64_t handle)
{
    http_upstream_t *self = (http_upstream_t *)super;
    http_call_t *call = call_find(self, handle);
    if (call == NULL || call->finished || call->kind == CALL_PROBE || call->kind == CALL_POST)
        return;
    call->abandoned = true;
    call->finished = true;
    h2o_timeout_unlink(&call->deadline);
    h2o_timeout_unlink(&call->next_phase);
    if (call->in_conn_callback)
        call->stop_reading = true; /* the callback closes the connection on its way out */
    else
        call_cancel_conn(call);
    send_cancelled(call, "the client abandoned the request");
    call_settle(call);
}

static void post_fire_and_forget(http_upstream_t *self, const char *session_id, const char *protocol_version,
                                 const json_t *message, const char *what)
{
    http_call_t *call = call_new(self, CALL_POST, NULL, NULL);
    if (call == NULL ||
        call_prepare(call, "POST", "application/json, text/event-stream", session_id, protocol_version, message) != 0) {
        mg_log(MG_LOG_WARN, "upstream.post_failed", "upstream %s: cannot send %s", self->super.server->name, what);
        if (call != NULL)
            call_free(call);
        return;
    }
    call->phase = 1; /* status only */
    call_start(call, true);
}

/* A legacy client cancelled a request that went to a modern server: closing its connection is how
 * 2026-07-28 cancels, and the caller gets the answer stdio gives in the same case. */
static void cancel_modern_call(http_upstream_t *self, const mg_upstream_session_t *session, const json_t *request_id)
{
    const char *sid = session != NULL && session->sid != NULL ? session->sid : "";
    for (h2o_linklist_t *node = self->calls.next; node != &self->calls; node = node->next) {
        http_call_t *call = H2O_STRUCT_FROM_MEMBER(http_call_t, link, node);
        if (call->kind != CALL_REQUEST || !call->modern || call->finished || strcmp(call->sid, sid) != 0 ||
            !json_equal(call->request_id, request_id))
            continue;
        if (call->in_conn_callback)
            call->stop_reading = true;
        else
            call_cancel_conn(call);
        call_finish(call, NULL, MG_RPC_UPSTREAM_ERROR, "request cancelled");
        call_settle(call);
        return; /* ids are unique among a session's requests in flight */
    }
}

static void http_notify(mg_upstream_t *super, const mg_upstream_session_t *session, json_t *notification)
{
    http_upstream_t *self = (http_upstream_t *)super;
    if (self->super.era == MG_UPSTREAM_ERA_MODERN) {
        /* 2026-07-28 has no client notifications over HTTP (streamable-http.mdx): cancelling is
         * closing the call's connection, and roots/list_changed became MRTR */
        const char *method = json_string_value(json_object_get(notification, "method"));
        if (method != NULL && strcmp(method, "notifications/cancelled") == 0)
            cancel_modern_call(self, session, json_object_get(json_object_get(notification, "params"), "requestId"));
        else
            mg_log(MG_LOG_DEBUG, "upstream.notification_dropped", "upstream %s is a modern server: %.100s is not sent",
                   self->super.server->name, method);
        return;
    }
    post_fire_and_forget(self, session != NULL ? session->upstream_session_id : NULL, session_protocol_version(session),
                         notification, "a notification");
}

static void http_reply(mg_upstream_t *super, const mg_upstream_session_t *session, json_t *response)
{
    http_upstream_t *self = (http_upstream_t *)super;
    if (self->super.era == MG_UPSTREAM_ERA_MODERN) {
        /* a modern server asks through InputRequiredResult, never with a request of its own */
        mg_log(MG_LOG_DEBUG, "upstream.reply_dropped", "upstream %s is a modern server: a client's reply is dropped",
               self->super.server->name);
        return;
    }
    mg_asked_id_t asked;
    json_t *original = NULL;
    if (mg_asked_id_parse(json_string_value(json_object_get(response, "id")), &asked) &&
        mg_asked_id_from(&asked, self->super.server->name))
        original = json_loads(asked.tail, MG_JSON_DECODE_FLAGS | JSON_DECODE_ANY, NULL);
    if (!json_is_string(original) && !json_is_integer(original)) {
        json_decref(original);
        mg_log(MG_LOG_WARN, "upstream.reply_unknown", "upstream %s: a reply carries an id this upstream did not issue",
               self->super.server->name);
        return;
    }
    json_t *mapped = json_copy(response);
    if (mapped != NULL && json_object_set_new(mapped, "id", original) == 0)
        post_fire_and_forget(self, session != NULL ? session->upstream_session_id : NULL,
                             session_protocol_version(session), mapped, "a reply");
    else if (mapped == NULL)
        json_decref(original);
    json_decref(mapped);
}

static uint64_t http_open_session(mg_upstream_t *super, const mg_upstream_session_t *session,
                                  json_t *initialize_request, const mg_upstream_events_t *events, void *ctx)
{
    http_upstream_t *self = (http_upstream_t *)super;
    json_t *id = json_object_get(initialize_request, "id");
    if (!json_is_string(id) && !json_is_integer(id))
        return 0;
    const char *version =
        json_string_value(json_object_get(json_object_get(initialize_request, "params"), "protocolVersion"));
    if (version == NULL || version[0] == '\0' || strlen(version) > 64 || !header_value_ok(version, true))
        version = session_protocol_version(session);
    http_call_t *call = call_new(self, CALL_OPEN_SESSION, events, ctx);
    if (call == NULL)
        return 0;
    if (self->super.era == MG_UPSTREAM_ERA_MODERN) {
        /* no sessions to open: answered from the discovered picture, on the next loop turn as
         * every done is (on_next_phase) */
        call->modern = true;
        call->request_id = json_deep_copy(id);
        call->next_phase.cb = on_next_phase;
        h2o_timeout_link(self->loop, &self->zero_timeout, &call->next_phase);
        return call->handle;
    }
    if (call_prepare(call, "POST", "application/json, text/event-stream", NULL, version, initialize_request) != 0) {
        call_free(call);
        return 0;
    }
    call->request_id = json_deep_copy(id);
    return call_start(call, true);
}

/* A modern server's own subscriptions/listen stream, with the filter the caller made for it. The
 * server's acknowledgement and notifications arrive as messages; its final response ends it. */
static uint64_t listen_modern(http_upstream_t *self, const mg_upstream_session_t *session,
                              const mg_upstream_events_t *events, void *ctx)
{
    if (session == NULL || !json_is_object(session->listen_filter))
        return 0;
    char id[48];
    snprintf(id, sizeof(id), "mcpgate-listen-%" PRIu64, self->next_handle + 1);
    json_t *request = json_pack("{s:s,s:s,s:s,s:{s:O}}", "jsonrpc", "2.0", "id", id, "method", "subscriptions/listen",
                                "params", "notifications", session->listen_filter);
    http_call_t *call = request != NULL ? call_new(self, CALL_LISTEN, events, ctx) : NULL;
    if (call == NULL || call_prepare_modern(call, session, request) != 0) {
        if (call != NULL)
            call_free(call);
        json_decref(request);
        return 0;
    }
    call->request_id = json_incref(json_object_get(request, "id"));
    json_decref(request);
    return call_start(call, true); /* the deadline covers the wait for the response head only */
}

static uint64_t http_listen(mg_upstream_t *super, const mg_upstream_session_t *session,
                            const mg_upstream_events_t *events, void *ctx)
{
    http_upstream_t *self = (http_upstream_t *)super;
    if (self->super.era == MG_UPSTREAM_ERA_MODERN)
        return listen_modern(self, session, events, ctx);
    http_call_t *call = call_new(self, CALL_LISTEN, events, ctx);
    if (call == NULL)
        return 0;
    if (call_prepare(call, "GET", "text/event-stream", session != NULL ? session->upstream_session_id : NULL,
                     session_protocol_version(session), NULL) != 0) {
        call_free(call);
        return 0;
    }
    return call_start(call, true); /* the deadline covers the wait for the response head only */
}

static bool http_ready(mg_upstream_t *super)
{
    return atomic_load(&((http_upstream_t *)super)->ready);
}

static void http_start(mg_upstream_t *super)
{
    probe_start((http_upstream_t *)super);
}

static void http_destroy(mg_upstream_t *super)
{
    http_upstream_t *self = (http_upstream_t *)super;
    h2o_loop_t *loop = self->loop;
    while (!h2o_linklist_is_empty(&self->calls)) {
        http_call_t *call = H2O_STRUCT_FROM_MEMBER(http_call_t, link, self->calls.next);
        assert(!call->in_conn_callback);
        call_free(call);
    }
    h2o_timeout_unlink(&self->probe_tick);
    mg_http_conn_pool_dispose(&self->conn_pool);
    h2o_timeout_dispose(loop, &self->io_timeout);
    h2o_timeout_dispose(loop, &self->stream_idle_timeout);
    h2o_timeout_dispose(loop, &self->deadline_timeout);
    h2o_timeout_dispose(loop, &self->answer_timeout);
    h2o_timeout_dispose(loop, &self->zero_timeout);
    h2o_timeout_dispose(loop, &self->probe_tick_timeout);
    if (self->ssl_ctx != NULL)
        SSL_CTX_free(self->ssl_ctx);
    json_decref(self->super.initialize_result);
    json_decref(self->super.discover_result);
    json_decref(self->super.tools);
    json_decref(self->super.held_tools);
    free(self->host);
    free(self->authority);
    free(self->path);
    free(self);
}

static const mg_upstream_ops_t http_ops = {
    .call = http_call,
    .abandon = http_abandon,
    .notify = http_notify,
    .reply = http_reply,
    .open_session = http_open_session,
    .listen = http_listen,
    .ready = http_ready,
    .start = http_start,
    .destroy = http_destroy,
};

/* ---------------------------------------------------------------- creation */

static SSL_CTX *create_ssl_ctx(const mg_config_server_t *server, const char *host, mg_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        mg_error_set(err, "servers.%s: cannot create a TLS context", server->name);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!server->tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = server->ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, server->ca_file, NULL)
                                         : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        char reason[128];
        mg_error_set(err, "servers.%s: cannot load trusted certificates%s%s: %s", server->name,
                     server->ca_file != NULL ? " from " : "", server->ca_file != NULL ? server->ca_file : "",
                     mg_error_openssl(reason, sizeof(reason)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* h2o 2.2.5 checks the host name itself only when the handshake ends without
     * pending output, which TLS 1.3 never does; so OpenSSL checks it, during chain
     * verification, for every connection made from this context. */
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 && X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
        mg_error_set(err, "servers.%s: cannot verify host name \"%s\"", server->name, host);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int parse_url(http_upstream_t *self, const mg_config_server_t *server, mg_error_t *err)
{
    h2o_url_t url;
    if (server->url == NULL || h2o_url_parse(server->url, SIZE_MAX, &url) != 0)
        return mg_error_set(err, "servers.%s.url: not an http:// or https:// URL", server->name);
    if (url.scheme != &H2O_URL_SCHEME_HTTP && url.scheme != &H2O_URL_SCHEME_HTTPS)
        return mg_error_set(err, "servers.%s.url: scheme must be http or https", server->name);
    self->is_tls = url.scheme == &H2O_URL_SCHEME_HTTPS;
    self->host = h2o_strdup(NULL, url.host.base, url.host.len).base;
    self->authority = h2o_strdup(NULL, url.authority.base, url.authority.len).base;
    self->path = h2o_strdup(NULL, url.path.base, url.path.len).base;
    if (!header_value_ok(self->authority, true) || !header_value_ok(self->path, true) ||
        strchr(self->path, '#') != NULL)
        return mg_error_set(err, "servers.%s.url: invalid characters", server->name);
    self->port = h2o_url_get_port(&url);
    return 0;
}

mg_upstream_t *mg_upstream_http_create(mg_worker_t *worker, const mg_config_server_t *server, size_t server_index,
                                       mg_error_t *err)
{
    assert(server->kind == MG_UPSTREAM_HTTP);
    for (size_t i = 0; i != server->headers_len; ++i) {
        if (!header_name_ok(server->headers[i].key) || !header_value_ok(server->headers[i].value, false)) {
            mg_error_set(err, "servers.%s.headers: \"%s\" is not a valid HTTP header", server->name,
                         server->headers[i].key);
            return NULL;
        }
    }
    const mg_config_credentials_t *credentials = &server->credentials;
    for (size_t i = 0; i != credentials->headers_len; ++i) {
        if (!header_name_ok(credentials->headers[i].key) || !header_value_ok(credentials->headers[i].value, false)) {
            mg_error_set(err, "servers.%s.credentials.headers: \"%s\" is not a valid HTTP header", server->name,
                         credentials->headers[i].key);
            return NULL;
        }
    }
    if (credentials->bearer != NULL && !header_value_ok(credentials->bearer, true)) {
        mg_error_set(err, "servers.%s.credentials.bearer: not a valid token (visible ASCII only)", server->name);
        return NULL;
    }

    http_upstream_t *self = calloc(1, sizeof(*self));
    if (self == NULL) {
        mg_error_set(err, "out of memory");
        return NULL;
    }
    self->super = (mg_upstream_t){.ops = &http_ops, .server = server, .server_index = server_index, .worker = worker};
    h2o_linklist_init_anchor(&self->calls);
    if (parse_url(self, server, err) != 0)
        goto Error;
    if (self->is_tls && (self->ssl_ctx = create_ssl_ctx(server, self->host, err)) == NULL)
        goto Error;

    h2o_loop_t *loop = worker->client_context.loop;
    if (mg_http_conn_pool_init(&self->conn_pool, loop, worker->client_context.getaddr_receiver, self->host, self->port,
                               self->ssl_ctx, POOL_IDLE_MS, POOL_MAX_IDLE) != 0) {
        mg_error_set(err, "out of memory");
        goto Error;
    }
    uint64_t timeout_ms = server->timeout_ms > 0 ? (uint64_t)server->timeout_ms : 60000;
    /* the deadline bounds a call; the I/O timeout, a little longer so that it never
     * pre-empts the deadline's precise error, bounds the steps that have none */
    h2o_timeout_init(loop, &self->io_timeout, timeout_ms + 1000);
    h2o_timeout_init(loop, &self->stream_idle_timeout, LISTEN_IDLE_MS);
    h2o_timeout_init(loop, &self->deadline_timeout, timeout_ms);
    h2o_timeout_init(loop, &self->answer_timeout, MG_UPSTREAM_ANSWER_TIMEOUT_MS);
    h2o_timeout_init(loop, &self->zero_timeout, 0);
    h2o_timeout_init(loop, &self->probe_tick_timeout, 1000);
    self->probe_tick.cb = on_probe_tick;
    self->loop = loop;
    return &self->super;

Error:
    if (self->ssl_ctx != NULL)
        SSL_CTX_free(self->ssl_ctx);
    free(self->host);
    free(self->authority);
    free(self->path);
    free(self);
    return NULL;
}
