/*
 * http_conn.c - HTTP/1.1 client connections kept in the event loop (see http_conn.h).
 *
 * Why not h2o's own client: libh2o 2.2.5's socket pool takes every idle connection out
 * of the loop and puts it back for the next request (4 epoll_ctl, 2 fcntl) and peeks at
 * it with recvfrom to see whether it is still alive: seven system calls per forwarded
 * request on top of the four that are needed. Here an idle connection stays registered
 * and reading; if the upstream closes it or sends anything, the read callback closes
 * it at once, so a connection taken off the idle list needs no check.
 *
 * Response framing (RFC 9112 section 6): 1xx heads are skipped; 204 and 304 have no
 * body; Transfer-Encoding chunked is decoded with picohttpparser; any other transfer
 * coding, or neither it nor Content-Length, reads to the close. A connection goes back
 * to the idle list only when the upstream allows it (HTTP/1.1 without Connection:
 * close, or HTTP/1.0 with keep-alive), the body was delimited, and nothing followed.
 *
 * Hazard: h2o's evloop does not copy what it could not write at once, and reports a
 * completed write only on a later turn, possibly after the response has been read. So
 * a connection owns a copy of its request, and one whose response ended before that
 * report waits on the `flushing` list (not reusable) until it comes.
 */
#include "upstream/http_conn.h"

#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEAD_BYTES (64 * 1024)
#define MAX_HEADERS 100

/* the rest of picohttpparser's interface, as in h2o 2.2.5 (see http_conn.h) */
int phr_parse_response(const char *_buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);

/* should be zero-filled before start */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk; /* number of bytes left in current chunk */
    char consume_trailer;       /* if trailing headers should be consumed */
    char _hex_count;
    char _state;
};

ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

typedef enum en_conn_state_t {
    CONN_RESOLVING,
    CONN_CONNECTING, /* TCP, then TLS */
    CONN_HEAD,       /* the request is out (or going out); waiting for the response head */
    CONN_BODY,
    CONN_FLUSHING, /* the response is complete; the write report is still due */
    CONN_IDLE,
} conn_state_t;

typedef enum en_body_framing_t {
    FRAMING_NONE,
    FRAMING_LENGTH,
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
} body_framing_t;

struct st_mg_http_conn_t {
    mg_http_conn_pool_t *pool;
    conn_state_t state;
    h2o_socket_t *sock;
    h2o_hostinfo_getaddr_req_t *getaddr_req;
    h2o_linklist_t link;       /* pool->idle or pool->flushing */
    h2o_timeout_entry_t timer; /* the I/O timeout while busy, the idle timeout otherwise */
    h2o_timeout_t *io_timeout;
    const mg_http_conn_callbacks_t *callbacks;
    void *data;
    char *request; /* a copy of the request: h2o writes from it until the write is reported */
    size_t request_len, request_cap;
    bool writing;
    bool keep_alive;
    body_framing_t framing;
    uint64_t body_left; /* FRAMING_LENGTH */
    struct phr_chunked_decoder chunked;
};

void mg_http_conn_set_io_timeout(mg_http_conn_t *conn, h2o_timeout_t *io_timeout)
{
    conn->io_timeout = io_timeout;
    if (h2o_timeout_is_linked(&conn->timer)) {
        h2o_timeout_unlink(&conn->timer);
        h2o_timeout_link(conn->pool->loop, io_timeout, &conn->timer);
    }
}

static void on_read(h2o_socket_t *sock, const char *err);

/* ---------------------------------------------------------------- lifecycle */

/* Closes the connection without telling anyone. */
static void conn_destroy(mg_http_conn_t *conn)
{
    h2o_timeout_unlink(&conn->timer);
    if (h2o_linklist_is_linked(&conn->link)) {
        if (conn->state == CONN_IDLE)
            --conn->pool->idle_count;
        h2o_linklist_unlink(&conn->link);
    }
    if (conn->getaddr_req != NULL)
        h2o_hostinfo_getaddr_cancel(conn->getaddr_req);
    if (conn->sock != NULL)
        h2o_socket_close(conn->sock);
    free(conn->request);
    free(conn);
}

/* The exchange failed: close, then tell the caller (last, as it may start another request). */
static int conn_fail(mg_http_conn_t *conn, const char *errstr, bool connect_failed)
{
    const mg_http_conn_callbacks_t *callbacks = conn->callbacks;
    void *data = conn->data;
    conn_destroy(conn);
    callbacks->on_end(data, errstr, connect_failed);
    return 1;
}

static void on_idle_event(h2o_socket_t *sock, const char *err)
{
    mg_http_conn_t *conn = sock->data;
    if (err != NULL || sock->input->size != 0)
        conn_destroy(conn); /* closed by the upstream, or bytes nobody asked for */
    /* else a TLS record without application data (a session ticket): nothing to do */
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    conn_destroy(H2O_STRUCT_FROM_MEMBER(mg_http_conn_t, timer, entry));
}

static void conn_make_idle(mg_http_conn_t *conn)
{
    mg_http_conn_pool_t *pool = conn->pool;
    if (h2o_linklist_is_linked(&conn->link))
        h2o_linklist_unlink(&conn->link);
    if (pool->idle_count >= pool->max_idle) {
        conn_destroy(conn);
        return;
    }
    conn->state = CONN_IDLE;
    conn->callbacks = NULL;
    conn->data = NULL;
    h2o_linklist_insert(&pool->idle, &conn->link);
    ++pool->idle_count;
    h2o_timeout_unlink(&conn->timer);
    conn->timer.cb = on_idle_timeout;
    h2o_timeout_link(pool->loop, &pool->idle_timeout, &conn->timer);
    h2o_socket_read_start(conn->sock, on_idle_event);
}

/* The response is complete: keep the connection if it can carry another, then tell the caller. */
static int conn_finish(mg_http_conn_t *conn, bool reusable)
{
    const mg_http_conn_callbacks_t *callbacks = conn->callbacks;
    void *data = conn->data;
    reusable = reusable && conn->keep_alive && conn->framing != FRAMING_CLOSE && conn->sock->input->size == 0;
    if (!reusable) {
        conn_destroy(conn);
    } else if (conn->writing) {
        conn->state = CONN_FLUSHING;
        conn->callbacks = NULL;
        conn->data = NULL;
        h2o_linklist_insert(&conn->pool->flushing, &conn->link);
        h2o_timeout_unlink(&conn->timer);
        conn->timer.cb = on_idle_timeout;
        h2o_timeout_link(conn->pool->loop, &conn->pool->idle_timeout, &conn->timer);
        h2o_socket_read_start(conn->sock, on_idle_event);
    } else {
        conn_make_idle(conn);
    }
    callbacks->on_end(data, NULL, false);
    return 1;
}

/* ---------------------------------------------------------------- response parsing */

static bool token_is(const char *token, size_t len, const char *expected)
{
    return len == strlen(expected) && strncasecmp(token, expected, len) == 0;
}

/* Calls `each` for every comma-separated token of a header value, trimmed. */
static void for_each_token(const char *value, size_t len, void (*each)(void *ctx, const char *token, size_t len),
                           void *ctx)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; ++i) {
        if (i != len && value[i] != ',')
            continue;
        size_t begin = start, end = i;
        while (begin < end && (value[begin] == ' ' || value[begin] == '\t'))
            ++begin;
        while (end > begin && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            --end;
        if (end != begin)
            each(ctx, value + begin, end - begin);
        start = i + 1;
    }
}

typedef struct st_framing_headers_t {
    bool close, keep_alive;
    bool has_coding, last_coding_chunked;
    bool has_length, bad_length;
    uint64_t length;
} framing_headers_t;

static void on_connection_token(void *ctx, const char *token, size_t len)
{
    framing_headers_t *seen = ctx;
    if (token_is(token, len, "close"))
        seen->close = true;
    else if (token_is(token, len, "keep-alive"))
        seen->keep_alive = true;
}

static void on_coding_token(void *ctx, const char *token, size_t len)
{
    framing_headers_t *seen = ctx;
    seen->has_coding = true;
    seen->last_coding_chunked = token_is(token, len, "chunked");
}

static void read_content_length(framing_headers_t *seen, const char *value, size_t len)
{
    uint64_t length = 0;
    if (len == 0)
        seen->bad_length = true;
    for (size_t i = 0; i != len; ++i) {
        if (value[i] < '0' || value[i] > '9' || length > (UINT64_MAX - 9) / 10) {
            seen->bad_length = true;
            return;
        }
        length = length * 10 + (uint64_t)(value[i] - '0');
    }
    if (seen->has_length && seen->length != length)
        seen->bad_length = true;
    seen->has_length = true;
    seen->length = length;
}

/* Decides how the body ends and whether the connection may carry another request. */
static int conn_frame_response(mg_http_conn_t *conn, int minor_version, int status, const struct phr_header *headers,
                               size_t num_headers)
{
    framing_headers_t seen = {0};
    for (size_t i = 0; i != num_headers; ++i) {
        const struct phr_header *header = &headers[i];
        if (header->name == NULL)
            continue; /* a folded continuation line */
        if (token_is(header->name, header->name_len, "connection"))
            for_each_token(header->value, header->value_len, on_connection_token, &seen);
        else if (token_is(header->name, header->name_len, "transfer-encoding"))
            for_each_token(header->value, header->value_len, on_coding_token, &seen);
        else if (token_is(header->name, header->name_len, "content-length"))
            read_content_length(&seen, header->value, header->value_len);
    }
    conn->keep_alive = !seen.close && (minor_version >= 1 || seen.keep_alive);
    memset(&conn->chunked, 0, sizeof(conn->chunked));
    conn->chunked.consume_trailer = 1;
    if (status == 204 || status == 304) {
        conn->framing = FRAMING_NONE;
    } else if (seen.has_coding) {
        /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length, and the connection must not be reused */
        conn->framing = seen.last_coding_chunked && minor_version >= 1 ? FRAMING_CHUNKED : FRAMING_CLOSE;
        if (seen.has_length)
            conn->keep_alive = false;
    } else if (seen.bad_length) {
        return -1;
    } else if (seen.has_length) {
        conn->framing = seen.length == 0 ? FRAMING_NONE : FRAMING_LENGTH;
        conn->body_left = seen.length;
    } else {
        conn->framing = FRAMING_CLOSE;
    }
    return 0;
}

/* Reads the response head. Returns 1 when the connection is gone (handed back or closed). */
static int conn_read_head(mg_http_conn_t *conn, bool closed)
{
    h2o_socket_t *sock = conn->sock;
    for (;;) {
        int minor_version, status;
        const char *message;
        size_t message_len, num_headers = MAX_HEADERS;
        struct phr_header headers[MAX_HEADERS];
        int head_len = phr_parse_response(sock->input->bytes, sock->input->size, &minor_version, &status, &message,
                                          &message_len, headers, &num_headers, 0);
        if (head_len == -2) {
            if (sock->input->size > MAX_HEAD_BYTES)
                return conn_fail(conn, "response head too large", false);
            if (closed)
                return conn_fail(conn, "connection closed before the response", false);
            return 0;
        }
        if (head_len < 0)
            return conn_fail(conn, "invalid response", false);
        if (status == 101)
            return conn_fail(conn, "unexpected protocol switch", false);
        if (status >= 100 && status <= 199) { /* 100 Continue, 103 Early Hints: the answer follows */
            h2o_buffer_consume(&sock->input, (size_t)head_len);
            continue;
        }
        if (conn_frame_response(conn, minor_version, status, headers, num_headers) != 0)
            return conn_fail(conn, "invalid Content-Length", false);
        if (conn->callbacks->on_head(conn->data, status, headers, num_headers) != 0) {
            conn_destroy(conn);
            return 1;
        }
        h2o_buffer_consume(&sock->input, (size_t)head_len);
        conn->state = CONN_BODY;
        return 0;
    }
}

/* Hands the body on as it arrives. Returns 1 when the connection is gone. */
static int conn_read_body(mg_http_conn_t *conn, bool closed)
{
    h2o_socket_t *sock = conn->sock;
    const mg_http_conn_callbacks_t *callbacks = conn->callbacks;
    size_t available = sock->input->size;

    switch (conn->framing) {
    case FRAMING_NONE:
        return conn_finish(conn, !closed);
    case FRAMING_LENGTH: {
        size_t len = available < conn->body_left ? available : (size_t)conn->body_left;
        if (len != 0) {
            if (callbacks->on_body(conn->data, sock->input->bytes, len) != 0) {
                conn_destroy(conn);
                return 1;
            }
            h2o_buffer_consume(&sock->input, len);
            conn->body_left -= len;
        }
        if (conn->body_left == 0)
            return conn_finish(conn, !closed);
        break;
    }
    case FRAMING_CHUNKED: {
        if (available == 0)
            break;
        size_t len = available;
        ssize_t rest = phr_decode_chunked(&conn->chunked, sock->input->bytes, &len);
        if (rest == -1)
            return conn_fail(conn, "invalid chunked encoding", false);
        if (len != 0 && callbacks->on_body(conn->data, sock->input->bytes, len) != 0) {
            conn_destroy(conn);
            return 1;
        }
        h2o_buffer_consume(&sock->input, available); /* decoded in place: all of it is used up */
        if (rest >= 0)
            return conn_finish(conn, !closed && rest == 0);
        break;
    }
    case FRAMING_CLOSE:
        if (available != 0) {
            if (callbacks->on_body(conn->data, sock->input->bytes, available) != 0) {
                conn_destroy(conn);
                return 1;
            }
            h2o_buffer_consume(&sock->input, available);
        }
        if (closed)
            return conn_finish(conn, false);
        return 0;
    }
    if (closed)
        return conn_fail(conn, "connection closed before the end of the response", false);
    return 0;
}

static void on_io_timeout(h2o_timeout_entry_t *entry)
{
    mg_http_conn_t *conn = H2O_STRUCT_FROM_MEMBER(mg_http_conn_t, timer, entry);
    bool connecting = conn->state == CONN_RESOLVING || conn->state == CONN_CONNECTING;
    conn_fail(conn, connecting ? "connection timeout" : "I/O timeout", connecting);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    mg_http_conn_t *conn = sock->data;
    assert(conn->state == CONN_HEAD || conn->state == CONN_BODY);
    bool closed = err != NULL;
    if (conn->state == CONN_HEAD && conn_read_head(conn, closed) != 0)
        return;
    if (conn->state == CONN_BODY && conn_read_body(conn, closed) != 0)
        return;
    h2o_timeout_unlink(&conn->timer);
    h2o_timeout_link(conn->pool->loop, conn->io_timeout, &conn->timer);
}

static void on_write(h2o_socket_t *sock, const char *err)
{
    mg_http_conn_t *conn = sock->data;
    conn->writing = false;
    if (conn->state == CONN_FLUSHING) {
        if (err != NULL)
            conn_destroy(conn);
        else
            conn_make_idle(conn);
    } else if (err != NULL) {
        conn_fail(conn, err, false);
    }
}

/* ---------------------------------------------------------------- sending */

static void conn_send(mg_http_conn_t *conn)
{
    conn->state = CONN_HEAD;
    conn->writing = true;
    h2o_iovec_t buf = h2o_iovec_init(conn->request, conn->request_len);
    h2o_socket_write(conn->sock, &buf, 1, on_write);
    h2o_socket_read_start(conn->sock, on_read);
    h2o_timeout_unlink(&conn->timer);
    conn->timer.cb = on_io_timeout;
    h2o_timeout_link(conn->pool->loop, conn->io_timeout, &conn->timer);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    mg_http_conn_t *conn = sock->data;
    /* as h2o's client: without peer verification, a name mismatch is no failure */
    if (err != NULL && !(err == h2o_socket_error_ssl_cert_name_mismatch &&
                         (SSL_CTX_get_verify_mode(conn->pool->ssl_ctx) & SSL_VERIFY_PEER) == 0)) {
        conn_fail(conn, err, true);
        return;
    }
    conn_send(conn);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    mg_http_conn_t *conn = sock->data;
    if (err != NULL) {
        conn_fail(conn, "connection failed", true);
        return;
    }
    if (conn->pool->ssl_ctx != NULL) {
        h2o_socket_ssl_handshake(sock, conn->pool->ssl_ctx, conn->pool->host, on_handshake);
        return;
    }
    conn_send(conn);
}

static int conn_connect(mg_http_conn_t *conn, struct sockaddr *address, socklen_t address_len)
{
    conn->state = CONN_CONNECTING;
    if ((conn->sock = h2o_socket_connect(conn->pool->loop, address, address_len, on_connect)) == NULL)
        return -1;
    conn->sock->data = conn;
    return 0;
}

static void on_getaddr(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    mg_http_conn_t *conn = data;
    assert(conn->getaddr_req == req);
    conn->getaddr_req = NULL;
    if (errstr != NULL) {
        conn_fail(conn, errstr, true);
        return;
    }
    struct addrinfo *selected = h2o_hostinfo_select_one(res);
    if (conn_connect(conn, selected->ai_addr, selected->ai_addrlen) != 0)
        conn_fail(conn, "failed to connect to host", true);
}

static int conn_copy_request(mg_http_conn_t *conn, h2o_iovec_t *bufs, size_t bufcnt)
{
    size_t len = 0;
    for (size_t i = 0; i != bufcnt; ++i)
        len += bufs[i].len;
    if (len > conn->request_cap) {
        char *request = realloc(conn->request, len);
        if (request == NULL)
            return -1;
        conn->request = request;
        conn->request_cap = len;
    }
    conn->request_len = 0;
    for (size_t i = 0; i != bufcnt; ++i) {
        if (bufs[i].len != 0)
            memcpy(conn->request + conn->request_len, bufs[i].base, bufs[i].len);
        conn->request_len += bufs[i].len;
    }
    return 0;
}

mg_http_conn_t *mg_http_conn_request(mg_http_conn_pool_t *pool, h2o_timeout_t *io_timeout, h2o_iovec_t *bufs,
                                     size_t bufcnt, const mg_http_conn_callbacks_t *callbacks, void *data,
                                     const char **errstr)
{
    mg_http_conn_t *conn;
    bool reused = !h2o_linklist_is_empty(&pool->idle);
    if (reused) {
        /* the most recently used: the least likely to be near the upstream's own idle timeout */
        conn = H2O_STRUCT_FROM_MEMBER(mg_http_conn_t, link, pool->idle.prev);
        h2o_linklist_unlink(&conn->link);
        --pool->idle_count;
        h2o_timeout_unlink(&conn->timer);
    } else if ((conn = calloc(1, sizeof(*conn))) == NULL) {
        *errstr = "out of memory";
        return NULL;
    } else {
        conn->pool = pool;
        conn->state = CONN_RESOLVING;
    }
    conn->io_timeout = io_timeout;
    conn->callbacks = callbacks;
    conn->data = data;
    if (conn_copy_request(conn, bufs, bufcnt) != 0) {
        conn_destroy(conn);
        *errstr = "out of memory";
        return NULL;
    }
    if (reused) {
        conn_send(conn);
        return conn;
    }

    if (pool->address_len != 0) {
        if (conn_connect(conn, (struct sockaddr *)&pool->address, pool->address_len) != 0) {
            conn_destroy(conn);
            *errstr = "failed to connect to host";
            return NULL;
        }
    } else {
        conn->getaddr_req = h2o_hostinfo_getaddr(pool->getaddr_receiver, h2o_iovec_init(pool->host, strlen(pool->host)),
                                                 h2o_iovec_init(pool->port, strlen(pool->port)), AF_UNSPEC, SOCK_STREAM,
                                                 IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_getaddr, conn);
    }
    conn->timer.cb = on_io_timeout;
    h2o_timeout_link(pool->loop, io_timeout, &conn->timer);
    return conn;
}

void mg_http_conn_cancel(mg_http_conn_t *conn)
{
    assert(conn->state != CONN_IDLE && conn->state != CONN_FLUSHING);
    conn_destroy(conn);
}

/* ---------------------------------------------------------------- pool */

int mg_http_conn_pool_init(mg_http_conn_pool_t *pool, h2o_loop_t *loop, h2o_multithread_receiver_t *getaddr_receiver,
                           const char *host, uint16_t port, SSL_CTX *ssl_ctx, uint64_t idle_ms, size_t max_idle)
{
    *pool = (mg_http_conn_pool_t){
        .loop = loop, .getaddr_receiver = getaddr_receiver, .ssl_ctx = ssl_ctx, .max_idle = max_idle};
    char port_text[sizeof("65535")];
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    pool->host = strdup(host);
    pool->port = strdup(port_text);
    if (pool->host == NULL || pool->port == NULL) {
        free(pool->host);
        free(pool->port);
        return -1;
    }
    /* a numeric address needs no resolver thread for each new connection */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
    if (getaddrinfo(pool->host, pool->port, &hints, &res) == 0) {
        if (res->ai_addrlen <= sizeof(pool->address)) {
            memcpy(&pool->address, res->ai_addr, res->ai_addrlen);
            pool->address_len = res->ai_addrlen;
        }
        freeaddrinfo(res);
    }
    h2o_linklist_init_anchor(&pool->idle);
    h2o_linklist_init_anchor(&pool->flushing);
    h2o_timeout_init(loop, &pool->idle_timeout, idle_ms);
    return 0;
}

void mg_http_conn_pool_dispose(mg_http_conn_pool_t *pool)
{
    while (!h2o_linklist_is_empty(&pool->idle))
        conn_destroy(H2O_STRUCT_FROM_MEMBER(mg_http_conn_t, link, pool->idle.next));
    while (!h2o_linklist_is_empty(&pool->flushing))
        conn_destroy(H2O_STRUCT_FROM_MEMBER(mg_http_conn_t, link, pool->flushing.next));
    assert(pool->idle_count == 0);
    h2o_timeout_dispose(pool->loop, &pool->idle_timeout);
    free(pool->host);
    free(pool->port);
}
