/*
 * server.c - process structure (DESIGN.md section 3).
 *
 * Each worker binds its own SO_REUSEPORT socket for every listen address, so the
 * kernel spreads connections and no accept lock is shared. With port 0 the first
 * worker's bind picks the port and the others bind that same port. The main thread
 * only waits for signals; on SIGHUP it reloads the authorization policy (reload.h); on
 * SIGTERM/SIGINT it tells each worker to stop accepting, close streams and stop its
 * upstreams, then joins them.
 *
 * A worker is set up in two halves. The main thread does what can fail with a message
 * for the operator and makes no h2o socket: the loop, the bound listening descriptors,
 * the upstream handles. The worker's own thread makes every socket (the h2o context and
 * the queues with their wake-up pipes, the listeners) and starts its upstreams, because
 * an h2o socket belongs to the thread that creates it (core/worker.h). A barrier holds
 * every thread, main included, until each worker's queue exists: nobody posts earlier.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "guard/detect.h"
#include "guard/approvals.h"
#include "guard/pins.h"
#include "guard/webhook.h"
#include "auth/fetch.h"
#include "auth/auth.h"
#include "auth/metadata.h"
#include "auth/mtls.h"
#include "auth/upstream_oauth.h"
#include "core/worker.h"
#include "http/events.h"
#include "http/admin.h"
#include "http/front.h"
#include "http/metrics_endpoint.h"
#include "http/probes.h"
#include "http/park.h"
#include "http/reload.h"
#include "http/session_cache.h"
#include "mcp/spec_schemas.h"
#include "mcp/tool_schemas.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/trace.h"
#include "schema/cache.h"
#include "upstream/factory.h"

/* An admin request's body is at most a short reason (http/admin_route.h). */
#define ADMIN_MAX_BODY_BYTES (16 * 1024)

typedef struct st_listener_t {
    int fd;
    h2o_socket_t *socket;
    h2o_accept_ctx_t accept_ctx;
} listener_t;

typedef struct st_worker_extra_t {
    listener_t *listeners;
    size_t listeners_len;
    listener_t metrics_listener; /* metrics.listen, on the first worker only; fd -1 otherwise */
    listener_t admin_listener;   /* admin.listen, on the first worker only; fd -1 otherwise */
} worker_extra_t;

static h2o_globalconf_t globalconf;
static h2o_globalconf_t metrics_globalconf; /* metrics.listen: its connections see only the metrics handler */
static h2o_globalconf_t admin_globalconf;   /* admin.listen: its connections see only the admin API */
static SSL_CTX *admin_tls_context;          /* admin.listen.tls, or NULL */
static pthread_barrier_t queues_ready;      /* every worker, and the main thread */
static SSL_CTX **tls_contexts;              /* one per listen entry, NULL for plain HTTP */
static uint16_t *bound_ports;               /* per listen entry, after the first bind */

typedef struct st_route_handler_t {
    h2o_handler_t super;
} route_handler_t;

static int on_request(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    mg_worker_t *worker = H2O_STRUCT_FROM_MEMBER(mg_worker_t, http_context, req->conn->ctx);
    const mg_config_t *config = worker->gateway->config;
    h2o_iovec_t path = req->path_normalized;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/mcp")))
        return mg_front_handle(worker, req, -1);
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz")))
        return mg_probes_health(worker, req);
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz")))
        return mg_probes_ready(worker, req);
    if (mg_metrics_endpoint_on_main(worker->gateway, path))
        return mg_metrics_endpoint_handle(worker, req);
    if (path.len >= sizeof(MG_AUTH_METADATA_PREFIX) - 1 &&
        memcmp(path.base, MG_AUTH_METADATA_PREFIX, sizeof(MG_AUTH_METADATA_PREFIX) - 1) == 0)
        return mg_auth_serve_metadata(worker, req);
    static const char servers_prefix[] = "/servers/";
    static const char mcp_suffix[] = "/mcp";
    size_t prefix_len = sizeof(servers_prefix) - 1, suffix_len = sizeof(mcp_suffix) - 1;
    if (path.len > prefix_len + suffix_len && memcmp(path.base, servers_prefix, prefix_len) == 0 &&
        memcmp(path.base + path.len - suffix_len, mcp_suffix, suffix_len) == 0) {
        const char *name = path.base + prefix_len;
        size_t name_len = path.len - prefix_len - suffix_len;
        for (size_t i = 0; i < config->servers_len; i++) {
            if (strlen(config->servers[i].name) == name_len && memcmp(config->servers[i].name, name, name_len) == 0)
                return mg_front_handle(worker, req, (long)i);
        }
    }
    mg_front_send_plain_error(req, 404, "Not Found", "not found");
    return 0;
}

static int on_metrics_request(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    mg_worker_t *worker = H2O_STRUCT_FROM_MEMBER(mg_worker_t, http_context, req->conn->ctx);
    return mg_metrics_endpoint_handle(worker, req);
}

static int on_admin_request(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    mg_worker_t *worker = H2O_STRUCT_FROM_MEMBER(mg_worker_t, http_context, req->conn->ctx);
    return mg_admin_handle(worker, req);
}

/* ---- listeners ------------------------------------------------------------------------- */

static int resolve(const mg_config_listen_t *where, uint16_t port, struct sockaddr_storage *addr, socklen_t *len)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(where->host, service, &hints, &res) != 0)
        return -1;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* SO_REUSEPORT would let a second process of the same user share the address silently; binding
 * once without it first refuses an address someone already listens on, as an operator expects. */
static int check_address_free(const mg_config_listen_t *where, mg_error_t *err)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (resolve(where, where->port, &addr, &addr_len) != 0)
        return mg_error_set(err, "listen %s: cannot parse host %s", where->address, where->host);
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return mg_error_set(err, "listen %s: %s", where->address, strerror(saved));
    }
    close(fd);
    return 0;
}

static int bind_listener(const mg_config_listen_t *where, uint16_t port, mg_error_t *err)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (resolve(where, port, &addr, &addr_len) != 0)
        return mg_error_set(err, "listen %s: cannot parse host %s", where->address, where->host);
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, addr_len) != 0 || listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return mg_error_set(err, "listen %s: %s", where->address, strerror(saved));
    }
    return fd;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    return ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                            : ((struct sockaddr_in *)&addr)->sin_port);
}

static SSL_CTX *create_tls_context(const mg_config_t *config, const mg_config_listen_t *where, mg_error_t *err)
{
    char reason[128];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, where->tls_cert) != 1) {
        SSL_CTX_free(ctx);
        return (void)mg_error_set(err, "listen %s: cannot load certificate %s: %s", where->address, where->tls_cert,
                                  mg_error_openssl(reason, sizeof(reason))),
               NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, where->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return (void)mg_error_set(err, "listen %s: cannot load key %s: %s", where->address, where->tls_key,
                                  mg_error_openssl(reason, sizeof(reason))),
               NULL;
    }
    if (config->auth.mtls.client_ca != NULL && mg_mtls_context_init(ctx, config->auth.mtls.client_ca, err) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

static void on_accept(h2o_socket_t *listener_socket, const char *error)
{
    if (error != NULL)
        return;
    listener_t *listener = listener_socket->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener_socket);
    if (sock != NULL)
        h2o_accept(&listener->accept_ctx, sock);
}

/* ---- workers ----------------------------------------------------------------------------- */

/* The half of a worker's setup that makes sockets, on the worker's own thread. */
static void worker_attach(mg_worker_t *worker)
{
    worker_extra_t *extra = (worker_extra_t *)(worker + 1);
    mg_worker_enter_thread(worker);
    h2o_context_init(&worker->http_context, worker->loop, &globalconf);
    worker->queue = h2o_multithread_create_queue(worker->loop);
    h2o_multithread_register_receiver(worker->queue, &worker->receiver, mg_worker_on_posted);
    h2o_multithread_register_receiver(worker->queue, &worker->getaddr_receiver, h2o_hostinfo_getaddr_receiver);
    for (size_t i = 0; i < extra->listeners_len; i++) {
        listener_t *listener = &extra->listeners[i];
        listener->socket = h2o_evloop_socket_create(worker->loop, listener->fd, H2O_SOCKET_FLAG_DONT_READ);
        listener->socket->data = listener;
        h2o_socket_read_start(listener->socket, on_accept);
    }
    listener_t *sides[] = {&extra->metrics_listener, &extra->admin_listener};
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        if (sides[i]->fd < 0)
            continue;
        sides[i]->socket = h2o_evloop_socket_create(worker->loop, sides[i]->fd, H2O_SOCKET_FLAG_DONT_READ);
        sides[i]->socket->data = sides[i];
        h2o_socket_read_start(sides[i]->socket, on_accept);
    }
}

static void *worker_main(void *arg)
{
    mg_worker_t *worker = arg;
    worker_extra_t *extra = (worker_extra_t *)(worker + 1);
    worker_attach(worker);
    mg_metrics_bind_thread(worker->index);
    pthread_barrier_wait(&queues_ready);
    mg_upstreams_start(worker);
    while (!worker->stopping || !mg_upstreams_stopped(worker))
        h2o_evloop_run(worker->loop, 100);
    for (size_t i = 0; i < extra->listeners_len; i++) {
        if (extra->listeners[i].socket != NULL)
            h2o_socket_close(extra->listeners[i].socket);
    }
    if (extra->metrics_listener.socket != NULL)
        h2o_socket_close(extra->metrics_listener.socket);
    if (extra->admin_listener.socket != NULL)
        h2o_socket_close(extra->admin_listener.socket);
    h2o_evloop_run(worker->loop, 0); /* let the closes complete */
    return NULL;
}

static void on_stop(mg_worker_t *worker, void *arg)
{
    (void)arg;
    worker_extra_t *extra = (worker_extra_t *)(worker + 1);
    for (size_t i = 0; i < extra->listeners_len; i++) {
        if (extra->listeners[i].socket != NULL) {
            h2o_socket_read_stop(extra->listeners[i].socket);
        }
    }
    if (extra->metrics_listener.socket != NULL)
        h2o_socket_read_stop(extra->metrics_listener.socket);
    if (extra->admin_listener.socket != NULL)
        h2o_socket_read_stop(extra->admin_listener.socket);
    mg_events_close_all(worker);
    mg_park_worker_stop(worker);
    mg_upstreams_stop(worker);
    worker->stopping = true;
}

/* metrics.listen: one plain-HTTP listener on the first worker (scrapes are rare; no need to spread them). */
static int init_metrics_listener(mg_worker_t *worker, mg_error_t *err)
{
    const mg_config_metrics_t *metrics = &worker->gateway->config->metrics;
    listener_t *listener = &((worker_extra_t *)(worker + 1))->metrics_listener;
    listener->fd = -1;
    if (worker->index != 0 || !metrics->enabled || metrics->listen.address == NULL)
        return 0;
    if (metrics->listen.port != 0 && check_address_free(&metrics->listen, err) != 0)
        return -1;
    if ((listener->fd = bind_listener(&metrics->listen, metrics->listen.port, err)) < 0)
        return -1;
    const char *host = metrics->listen.host;
    char address[300];
    snprintf(address, sizeof(address), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, local_port(listener->fd));
    mg_log_fields(MG_LOG_INFO, "metrics.listen.ready",
                  json_pack("{s:s,s:s}", "address", address, "path", metrics->path), "serving metrics on http://%s%s",
                  address, metrics->path);
    listener->accept_ctx.ctx = &worker->http_context;
    listener->accept_ctx.hosts = metrics_globalconf.hosts;
    return 0;
}

/* admin.listen: one listener on the first worker (an operator's requests are few), TLS when configured
 * (client certificates, with auth.mtls, identify admin callers as on /mcp). */
static int init_admin_listener(mg_worker_t *worker, mg_error_t *err)
{
    const mg_config_admin_t *admin = &worker->gateway->config->admin;
    listener_t *listener = &((worker_extra_t *)(worker + 1))->admin_listener;
    listener->fd = -1;
    if (worker->index != 0 || !admin->enabled)
        return 0;
    if (admin->listen.port != 0 && check_address_free(&admin->listen, err) != 0)
        return -1;
    if ((listener->fd = bind_listener(&admin->listen, admin->listen.port, err)) < 0)
        return -1;
    const char *host = admin->listen.host;
    char address[300];
    snprintf(address, sizeof(address), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, local_port(listener->fd));
    mg_log_fields(MG_LOG_INFO, "admin.listen.ready",
                  json_pack("{s:s,s:b}", "address", address, "tls", admin_tls_context != NULL),
                  "serving the admin API on %s://%s/admin/", admin_tls_context != NULL ? "https" : "http", address);
    listener->accept_ctx.ctx = &worker->http_context;
    listener->accept_ctx.hosts = admin_globalconf.hosts;
    listener->accept_ctx.ssl_ctx = admin_tls_context;
    return 0;
}

static int worker_init(mg_gateway_t *gateway, mg_worker_t *worker, size_t index, mg_error_t *err)
{
    mg_config_t *config = gateway->config;
    worker_extra_t *extra = (worker_extra_t *)(worker + 1);
    worker->index = index;
    worker->gateway = gateway;
    worker->loop = h2o_evloop_create();
    h2o_timeout_init(worker->loop, &worker->client_io_timeout, 10000);
    h2o_timeout_init(worker->loop, &worker->keepalive_timeout, 15000);
    worker->client_context.loop = worker->loop;
    worker->client_context.getaddr_receiver = &worker->getaddr_receiver;
    worker->client_context.io_timeout = &worker->client_io_timeout;
    h2o_linklist_init_anchor(&worker->event_streams);
    mg_park_worker_init(worker);
    worker->session_cache = mg_session_cache_create();

    extra->listeners = calloc(config->listen_len, sizeof(*extra->listeners));
    extra->listeners_len = config->listen_len;
    for (size_t i = 0; i < config->listen_len; i++) {
        listener_t *listener = &extra->listeners[i];
        uint16_t port = bound_ports[i] != 0 ? bound_ports[i] : config->listen[i].port;
        if (bound_ports[i] == 0 && port != 0 && check_address_free(&config->listen[i], err) != 0)
            return -1;
        if ((listener->fd = bind_listener(&config->listen[i], port, err)) < 0)
            return -1;
        if (bound_ports[i] == 0) {
            bound_ports[i] = local_port(listener->fd);
            const char *host = config->listen[i].host;
            char address[300];
            snprintf(address, sizeof(address), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, bound_ports[i]);
            mg_log_fields(MG_LOG_INFO, "listen.ready",
                          json_pack("{s:s,s:b}", "address", address, "tls", tls_contexts[i] != NULL), "listening on %s",
                          address);
        }
        listener->accept_ctx.ctx = &worker->http_context;
        listener->accept_ctx.hosts = globalconf.hosts;
        listener->accept_ctx.ssl_ctx = tls_contexts[i];
    }
    if (init_metrics_listener(worker, err) != 0 || init_admin_listener(worker, err) != 0)
        return -1;
    if (mg_upstreams_create(worker, err) != 0 || mg_auth_view_init(gateway->auth, worker, err) != 0)
        return -1;
    if ((worker->upstream_tokens = calloc(config->servers_len + 1, sizeof(char *))) == NULL)
        return mg_error_set(err, "out of memory");
    return mg_approvals_worker_init(worker, err);
}

static void setup_globalconf(const mg_config_t *config)
{
    h2o_config_init(&globalconf);
    globalconf.max_request_entity_size = config->limits.max_body_bytes;
    globalconf.server_name = h2o_iovec_init(H2O_STRLIT("mcpgate"));
    h2o_hostconf_t *host = h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    route_handler_t *handler = (route_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_request;

    h2o_config_init(&metrics_globalconf);
    metrics_globalconf.server_name = globalconf.server_name;
    host = h2o_config_register_host(&metrics_globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = (route_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_metrics_request;

    h2o_config_init(&admin_globalconf);
    admin_globalconf.server_name = globalconf.server_name;
    admin_globalconf.max_request_entity_size = ADMIN_MAX_BODY_BYTES;
    host = h2o_config_register_host(&admin_globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = (route_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_admin_request;
}

static int create_metrics(mg_gateway_t *gateway, mg_error_t *err)
{
    const mg_config_t *config = gateway->config;
    const char **names = calloc(config->servers_len + 1, sizeof(*names));
    if (names == NULL)
        return mg_error_set(err, "out of memory");
    for (size_t i = 0; i < config->servers_len; i++)
        names[i] = config->servers[i].name;
    mg_metrics_options_t options = {.servers = names,
                                    .servers_len = config->servers_len,
                                    .shards = (size_t)config->workers,
                                    .max_tools = (size_t)config->metrics.max_tools,
                                    .max_series = (size_t)config->metrics.max_series};
    int rc = mg_metrics_create(&options, &gateway->metrics, err);
    free(names);
    return rc;
}

int mg_server_run(mg_config_t *config, mg_error_t *err)
{
    mg_gateway_t gateway = {.config = config};
    if (mg_session_key_load_or_create(config->state_dir, &gateway.session_key, err) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* workers inherit the mask; only main takes signals */

    setup_globalconf(config);
    tls_contexts = calloc(config->listen_len, sizeof(*tls_contexts));
    bound_ports = calloc(config->listen_len, sizeof(*bound_ports));
    for (size_t i = 0; i < config->listen_len; i++) {
        if (config->listen[i].tls_cert != NULL &&
            (tls_contexts[i] = create_tls_context(config, &config->listen[i], err)) == NULL)
            return -1;
    }
    if (config->admin.enabled && config->admin.listen.tls_cert != NULL &&
        (admin_tls_context = create_tls_context(config, &config->admin.listen, err)) == NULL)
        return -1;
    if (mg_auth_create(&gateway, &gateway.auth, err) != 0 ||
        mg_upstream_oauth_create(&gateway, &gateway.upstream_oauth, err) != 0)
        return -1;
    /* the audit writer runs before the first request and is destroyed after the last worker stopped, so that
     * no emit can race its final checkpoint */
    if (config->audit.enabled &&
        (mg_audit_create(&config->audit, &gateway.audit, err) != 0 || mg_audit_start(gateway.audit, err) != 0))
        return -1;
    /* the trace exporter too: it exports the last spans after the workers stopped */
    if (config->tracing.enabled) {
        mg_fetch_global_init(); /* libcurl, before the exporter thread runs */
        if (mg_tracer_create(&config->tracing, &gateway.tracer, err) != 0 || mg_tracer_start(gateway.tracer, err) != 0)
            return -1;
    }
    if (config->metrics.enabled && create_metrics(&gateway, err) != 0)
        return -1;
    /* tool pins: loaded before the first list is judged, watched for approvals once the workers run */
    if (config->pins.mode != MG_PINS_OFF && mg_pins_open(config->state_dir, config->pins.mode, &gateway.pins, err) != 0)
        return -1;
    /* human approval: its store and thread before the first call can be held */
    if (config->approvals.rules_len > 0 && mg_approvals_open(config->state_dir, &gateway.approvals, err) != 0)
        return -1;
    /* the admin API's store and agent, before the first admin request */
    if (mg_admin_create(&gateway, err) != 0)
        return -1;
    mg_tool_schema_report_t tool_schema_report = {0};
    if (mg_spec_schemas_create(&gateway.spec_schemas, err) != 0)
        return -1;
    if ((gateway.schema_cache = mg_schema_cache_create(0)) == NULL ||
        mg_tool_schema_report_init(&tool_schema_report, config->servers_len) != 0)
        return mg_error_set(err, "out of memory");
    gateway.tool_schema_report = &tool_schema_report;
    gateway.workers_len = (size_t)config->workers;
    gateway.workers = calloc(gateway.workers_len, sizeof(*gateway.workers));
    for (size_t i = 0; i < gateway.workers_len; i++) {
        gateway.workers[i] = calloc(1, sizeof(mg_worker_t) + sizeof(worker_extra_t));
        if (worker_init(&gateway, gateway.workers[i], i, err) != 0)
            return -1;
    }
    if (mg_reload_init(&gateway, err) != 0)
        return -1;
    if (mg_approvals_start(&gateway, err) != 0) /* it posts only about calls a running worker held */
        return -1;
    if (mg_admin_start(&gateway, err) != 0) /* it answers only requests a running worker received */
        return -1;
    mg_auth_prime(gateway.auth);                     /* the first key sets, before the first request */
    mg_upstream_oauth_prime(gateway.upstream_oauth); /* the first upstream tokens, before the first probe */
    pthread_barrier_init(&queues_ready, NULL, (unsigned)gateway.workers_len + 1);
    for (size_t i = 0; i < gateway.workers_len; i++) {
        h2o_multithread_create_thread(&gateway.workers[i]->thread, NULL, worker_main, gateway.workers[i]);
        char name[16];
        snprintf(name, sizeof(name), "mg-worker-%u", (unsigned)(i % 10000));
        pthread_setname_np(gateway.workers[i]->thread, name);
    }
    pthread_barrier_wait(&queues_ready); /* on_stop may be posted from here on */
    mg_auth_start(gateway.auth);
    mg_upstream_oauth_start(gateway.upstream_oauth);
    if (mg_pins_watch_start(&gateway, err) != 0)
        mg_log(MG_LOG_ERROR, "pins.watch_failed", "%s; approvals need a restart", err->message);
    mg_log(MG_LOG_INFO, "server.started", "mcpgate serving %zu server(s) with %zu worker(s)", config->servers_len,
           gateway.workers_len);

    int signal_number = 0;
    while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP)
        mg_reload_policy(&gateway);
    mg_log(MG_LOG_INFO, "server.stopping", "received signal %d, stopping", signal_number);
    atomic_store(&gateway.stopping, true);
    mg_auth_stop(gateway.auth); /* nothing more is posted to the workers' views */
    mg_upstream_oauth_stop(gateway.upstream_oauth);
    mg_pins_watch_stop(&gateway); /* it posts to the workers */
    mg_approvals_stop(&gateway);  /* it posts to the workers too */
    mg_admin_stop(&gateway);      /* and so does the admin agent */
    for (size_t i = 0; i < gateway.workers_len; i++)
        mg_worker_post(gateway.workers[i], on_stop, NULL);
    for (size_t i = 0; i < gateway.workers_len; i++)
        pthread_join(gateway.workers[i]->thread, NULL);
    pthread_barrier_destroy(&queues_ready);
    /* every loop has ended, so handles can go without racing a closure in flight */
    for (size_t i = 0; i < gateway.workers_len; i++) {
        mg_upstreams_destroy(gateway.workers[i]);
        mg_session_cache_destroy(gateway.workers[i]->session_cache);
        mg_guard_scratch_destroy(gateway.workers[i]->guard_scratch);
        mg_webhook_destroy(gateway.workers[i]->webhook); /* checks still running end unanswered */
        mg_approvals_worker_dispose(gateway.workers[i]);
        json_decref(gateway.workers[i]->late_sessions);
        json_decref(gateway.workers[i]->log_levels);
    }
    for (size_t i = 0; i < gateway.workers_len; i++) {
        mg_auth_view_dispose(gateway.workers[i]);
        mg_reload_worker_dispose(gateway.workers[i]);
        for (size_t s = 0; s < config->servers_len; s++)
            free(gateway.workers[i]->upstream_tokens[s]);
        free(gateway.workers[i]->upstream_tokens);
    }
    mg_reload_dispose(&gateway);
    mg_audit_destroy(gateway.audit);     /* flushes, signs a final checkpoint, joins its thread */
    mg_tracer_destroy(gateway.tracer);   /* exports what is queued, joins its thread */
    mg_metrics_destroy(gateway.metrics); /* after every thread that updates it has ended */
    mg_pins_close(gateway.pins);         /* after the last worker judged a list */
    mg_approvals_close(gateway.approvals);
    mg_admin_destroy(gateway.admin);
    mg_auth_destroy(gateway.auth);
    mg_upstream_oauth_destroy(gateway.upstream_oauth);
    mg_tool_schema_report_dispose(&tool_schema_report);
    mg_schema_cache_destroy(gateway.schema_cache);
    mg_spec_schemas_destroy(gateway.spec_schemas);
    mg_log(MG_LOG_INFO, "server.stopped", "all workers stopped");
    return 0;
}
