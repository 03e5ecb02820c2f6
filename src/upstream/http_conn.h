/*
 * http_conn.h - HTTP/1.1 client connections to one upstream, kept in the event loop.
 *
 * One mg_http_conn_pool_t per HTTP upstream per worker. A request takes an idle
 * keep-alive connection when there is one, or opens a new one (name resolution, TCP,
 * TLS when the pool has an SSL_CTX); it writes the caller's request bytes and hands
 * back the response as it arrives: the head once, then the decoded body in pieces,
 * then the end. Idle connections stay registered in the loop, watched for the
 * upstream closing them, and are closed after `idle_ms` or beyond `max_idle`.
 *
 * Callbacks may start other requests on the same pool; they must not cancel the
 * connection they are called for (they return nonzero instead).
 */
#ifndef MG_UPSTREAM_HTTP_CONN_H
#define MG_UPSTREAM_HTTP_CONN_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

/* picohttpparser, exported by libh2o-evloop 2.2.5 without its header: declared as in
 * h2o 2.2.5's deps/picohttpparser/picohttpparser.h */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

typedef struct st_mg_http_conn_t mg_http_conn_t;

typedef struct st_mg_http_conn_pool_t {
    h2o_loop_t *loop;
    h2o_multithread_receiver_t *getaddr_receiver;
    char *host; /* as for getaddrinfo: no brackets */
    char *port;
    struct sockaddr_storage address; /* when host is a numeric address */
    socklen_t address_len;           /* 0: resolve host for each new connection */
    SSL_CTX *ssl_ctx;                /* borrowed; NULL for plain HTTP */
    h2o_linklist_t idle;             /* mg_http_conn_t, most recently used last */
    h2o_linklist_t flushing;         /* complete, but h2o has yet to report the request written */
    size_t idle_count, max_idle;
    h2o_timeout_t idle_timeout;
} mg_http_conn_pool_t;

typedef struct st_mg_http_conn_callbacks_t {
    /* The response head (1xx heads are skipped). `headers` point into the connection's
     * buffer and are valid only during the call. Return 0 to read the body, nonzero to
     * close the connection (then no further callback). */
    int (*on_head)(void *data, int status, const struct phr_header *headers, size_t num_headers);
    /* A piece of the body, transfer coding removed. Return as on_head. */
    int (*on_body)(void *data, const char *bytes, size_t len);
    /* The exchange is over and the connection handle is gone: `errstr` NULL when the
     * response is complete; otherwise why not, with `connect_failed` true when no
     * connection could be made (resolution, TCP, TLS) and nothing was sent. */
    void (*on_end)(void *data, const char *errstr, bool connect_failed);
} mg_http_conn_callbacks_t;

/* Prepares a pool for host:port (`host` without brackets). Fails (-1) only when out of memory. */
int mg_http_conn_pool_init(mg_http_conn_pool_t *pool, h2o_loop_t *loop, h2o_multithread_receiver_t *getaddr_receiver,
                           const char *host, uint16_t port, SSL_CTX *ssl_ctx, uint64_t idle_ms, size_t max_idle);
/* Closes the idle connections. Every request must have ended or been cancelled. */
void mg_http_conn_pool_dispose(mg_http_conn_pool_t *pool);

/* Sends the request `bufs` (copied: the caller may free them on return) and
 * reports through `callbacks` with `data`. `io_timeout` bounds each wait (connect,
 * handshake, each read). Returns the connection handle, valid until on_end or
 * mg_http_conn_cancel; or NULL with *errstr set when it fails at once (no callback). */
mg_http_conn_t *mg_http_conn_request(mg_http_conn_pool_t *pool, h2o_timeout_t *io_timeout, h2o_iovec_t *bufs,
                                     size_t bufcnt, const mg_http_conn_callbacks_t *callbacks, void *data,
                                     const char **errstr);
/* From now on each wait of `conn` is bounded by `io_timeout` instead (the timer restarts). */
void mg_http_conn_set_io_timeout(mg_http_conn_t *conn, h2o_timeout_t *io_timeout);
/* Ends the exchange without any further callback and closes the connection (its state
 * is unknown). Not to be called from inside one of its callbacks. */
void mg_http_conn_cancel(mg_http_conn_t *conn);

#endif
