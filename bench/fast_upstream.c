/*
 * fast_upstream.c - a tiny, fast MCP Streamable HTTP server for benchmarks.
 *
 * Stateless, plain HTTP/1.1 with keep-alive (libh2o-evloop, one thread), one
 * endpoint: POST /mcp. It exists so that the upstream is never the bottleneck
 * when mcpgate and nginx are measured in front of it (see bench/README.md).
 *
 *   initialize      -> protocolVersion echoed (2025-11-25 if absent),
 *                      capabilities {tools:{}}, serverInfo; header Mcp-Session-Id: bench
 *   notifications/... -> 202, empty body (so is any message without an id)
 *   ping            -> {}
 *   tools/list      -> one tool, "echo", with an inputSchema
 *   tools/call      -> {content:[{type:"text",text:<arguments.text>}]}
 *   anything else   -> JSON-RPC error -32601
 *
 * Every response with a body has Content-Type: application/json.
 *
 * Usage: fast_upstream PORT        (listens on 127.0.0.1:PORT only)
 *
 * Build (bench/run.sh does this):
 *   cc -O2 -DH2O_USE_LIBUV=0 -o fast_upstream fast_upstream.c \
 *      -lh2o-evloop -lssl -lcrypto -ljansson
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <jansson.h>

#define DEFAULT_PROTOCOL_VERSION "2025-11-25"

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;

static void send_body(h2o_req_t *req, int status, const char *reason, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    if (len != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    h2o_send(req, &buf, len != 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
}

/* Serializes `msg` (stolen) into the request's pool and sends it with status 200 (or `status`). */
static void send_json(h2o_req_t *req, int status, const char *reason, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (s == NULL) {
        send_body(req, 500, "Internal Server Error", NULL, 0);
        return;
    }
    size_t len = strlen(s);
    h2o_iovec_t copy = h2o_strdup(&req->pool, s, len);
    free(s);
    send_body(req, status, reason, copy.base, copy.len);
}

static void send_rpc_error(h2o_req_t *req, int status, const char *reason, json_t *id, int code, const char *message)
{
    json_t *msg = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id != NULL ? id : json_null(), "error",
                            "code", code, "message", message);
    send_json(req, status, reason, msg);
}

static json_t *make_result(json_t *id, json_t *result /* stolen */)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static int on_mcp(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/mcp")))
        return -1; /* 404 from h2o */
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        /* stateless server: no GET stream, no DELETE of sessions */
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        send_body(req, 405, "Method Not Allowed", NULL, 0);
        return 0;
    }

    json_error_t jerr;
    json_t *msg = json_loadb(req->entity.base, req->entity.len, 0, &jerr);
    if (msg == NULL) {
        send_rpc_error(req, 400, "Bad Request", NULL, -32700, "Parse error");
        return 0;
    }
    if (!json_is_object(msg)) {
        json_decref(msg);
        send_rpc_error(req, 400, "Bad Request", NULL, -32600, "Invalid Request");
        return 0;
    }

    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");

    /* notifications (no id) and responses from the client: accepted, no body */
    if (id == NULL || method == NULL) {
        json_decref(msg);
        send_body(req, 202, "Accepted", NULL, 0);
        return 0;
    }

    json_t *reply = NULL;
    if (strcmp(method, "tools/call") == 0) {
        json_t *args = json_object_get(params, "arguments");
        json_t *text = json_object_get(args, "text");
        const char *name = json_string_value(json_object_get(params, "name"));
        if (name == NULL || strcmp(name, "echo") != 0 || !json_is_string(text)) {
            send_rpc_error(req, 200, "OK", id, -32602, "Invalid params: tool \"echo\" takes {\"text\": string}");
            json_decref(msg); /* after: id belongs to msg */
            return 0;
        }
        reply = make_result(id, json_pack("{s:[{s:s, s:O}]}", "content", "type", "text", "text", text));
    } else if (strcmp(method, "initialize") == 0) {
        json_t *pv = json_object_get(params, "protocolVersion");
        pv = json_is_string(pv) ? json_incref(pv) : json_string(DEFAULT_PROTOCOL_VERSION);
        reply = make_result(id, json_pack("{s:o, s:{s:{}}, s:{s:s, s:s}}", "protocolVersion", pv, "capabilities",
                                          "tools", "serverInfo", "name", "fast-upstream", "version", "1.0.0"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("mcp-session-id"), 0, "Mcp-Session-Id",
                              H2O_STRLIT("bench"));
    } else if (strcmp(method, "tools/list") == 0) {
        reply = make_result(id, json_pack("{s:[{s:s, s:s, s:{s:s, s:{s:{s:s}}, s:[s]}}]}", "tools", "name", "echo",
                                          "description", "Returns its text argument.", "inputSchema", "type", "object",
                                          "properties", "text", "type", "string", "required", "text"));
    } else if (strcmp(method, "ping") == 0) {
        reply = make_result(id, json_object());
    } else {
        send_rpc_error(req, 200, "OK", id, -32601, "Method not found");
        json_decref(msg); /* after: id belongs to msg */
        return 0;
    }

    json_decref(msg); /* reply holds its own reference to id */
    send_json(req, 200, "OK", reply);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
        return;
    h2o_accept(&accept_ctx, sock);
}

static int create_listener(uint16_t port)
{
    struct sockaddr_in addr;
    int fd, on = 1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
        return -1;
    /* TCP_NODELAY on the listener is inherited by accepted sockets on Linux */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    h2o_socket_t *sock = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(sock, on_accept);
    return 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "fast_upstream: invalid port: %s\n", argv[1]);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    h2o_config_init(&config);
    config.server_name = h2o_iovec_init(H2O_STRLIT("fast-upstream"));
    h2o_hostconf_t *hostconf = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_mcp;

    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    if (create_listener((uint16_t)port) != 0) {
        fprintf(stderr, "fast_upstream: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    fprintf(stderr, "fast_upstream: listening on http://127.0.0.1:%ld/mcp\n", port);

    /* h2o_evloop_run returns after each batch of events (at most 1s wait), so signals are noticed */
    while (!stop && h2o_evloop_run(ctx.loop, 1000) == 0)
        ;
    return 0;
}
