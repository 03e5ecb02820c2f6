/*
 * webhook.c - the client of `guards.webhook` (webhook.h).
 *
 * A check is one POST over the worker's keep-alive pool and a deadline on the loop. The answer is read
 * whole (up to MAX_ANSWER_BYTES; more is an error, but still drained so the connection can be reused)
 * and judged only when the connection is done with it (on_end), so the verdict is never delivered from
 * inside a connection callback: whatever the caller does next (an upstream call, an answer to the client)
 * happens with the connection back in the pool. The deadline fires first when the service is slow: it
 * cancels the request (a connection in an unknown state is closed, never reused) and reports the timeout.
 *
 * The I/O timeout of the connection is a second longer than the deadline so that it never pre-empts the
 * deadline's precise error; the pool's idle timeout is below common servers' keep-alive timeouts.
 */
#include "guard/webhook.h"

#include <assert.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "mcp/jsonrpc.h"
#include "upstream/http_conn.h"

#define MAX_ANSWER_BYTES ((size_t)64 << 10)
#define POOL_IDLE_MS 2000
#define POOL_MAX_IDLE 16
#define DEFAULT_BLOCK_REASON "blocked by the webhook"

struct st_mg_webhook_t {
    const mg_config_webhook_t *config;
    h2o_loop_t *loop;
    char *host; /* as for getaddrinfo: no brackets */
    char *head; /* the request head up to the Content-Length value: the same for every check */
    size_t head_len;
    SSL_CTX *ssl_ctx; /* NULL for http:// */
    mg_http_conn_pool_t pool;
    h2o_timeout_t deadline_timeout; /* timeout_ms */
    h2o_timeout_t io_timeout;       /* timeout_ms + 1 s */
    h2o_linklist_t checks;          /* mg_webhook_check_t still running */
};

struct st_mg_webhook_check_t {
    mg_webhook_t *webhook;
    h2o_linklist_t link;
    mg_http_conn_t *conn; /* NULL once the connection is done with the check */
    h2o_timeout_entry_t deadline;
    mg_webhook_done_fn done;
    void *data;
    int status;
    bool too_large;
    mg_bytes_t answer;
};

/* ---- verdicts ---- */

/* At most MG_WEBHOOK_REASON_MAX - 1 bytes of `text`, cut on a character boundary, controls as spaces. */
static void copy_reason(char reason[MG_WEBHOOK_REASON_MAX], const char *text)
{
    size_t len = strlen(text);
    if (len > MG_WEBHOOK_REASON_MAX - 1) {
        len = MG_WEBHOOK_REASON_MAX - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--; /* text[len] continues a character: cut before the character */
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        reason[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    reason[len] = '\0';
}

mg_webhook_verdict_t mg_webhook_parse_verdict(int status, const char *body, size_t len,
                                              char reason[MG_WEBHOOK_REASON_MAX])
{
    if (status != 200) {
        snprintf(reason, MG_WEBHOOK_REASON_MAX, "the webhook answered HTTP %d", status);
        return MG_WEBHOOK_ERROR;
    }
    json_t *answer = mg_json_loadb(body, len, MG_JSON_DECODE_FLAGS, NULL);
    const char *action = json_string_value(json_object_get(answer, "action"));
    mg_webhook_verdict_t verdict = MG_WEBHOOK_ERROR;
    if (!json_is_object(answer)) {
        snprintf(reason, MG_WEBHOOK_REASON_MAX, "the webhook's answer is not a JSON object");
    } else if (action == NULL) {
        snprintf(reason, MG_WEBHOOK_REASON_MAX, "the webhook's answer has no \"action\" string");
    } else if (strcmp(action, "allow") == 0) {
        reason[0] = '\0';
        verdict = MG_WEBHOOK_ALLOW;
    } else if (strcmp(action, "block") == 0) {
        const char *given = json_string_value(json_object_get(answer, "reason"));
        copy_reason(reason, given != NULL && given[0] != '\0' ? given : DEFAULT_BLOCK_REASON);
        verdict = MG_WEBHOOK_BLOCK;
    } else {
        snprintf(reason, MG_WEBHOOK_REASON_MAX, "the webhook's answer has an unknown action");
    }
    json_decref(answer);
    return verdict;
}

/* ---- checks ---- */

static void check_free(mg_webhook_check_t *check)
{
    h2o_timeout_unlink(&check->deadline);
    if (h2o_linklist_is_linked(&check->link))
        h2o_linklist_unlink(&check->link);
    mg_bytes_dispose(&check->answer);
    free(check);
}

/* Reports and frees; the connection is already done with the check. */
static void check_report(mg_webhook_check_t *check, mg_webhook_verdict_t verdict, const char *reason)
{
    assert(check->conn == NULL);
    mg_webhook_done_fn done = check->done;
    void *data = check->data;
    char copy[MG_WEBHOOK_REASON_MAX];
    snprintf(copy, sizeof(copy), "%s", reason != NULL ? reason : "");
    check_free(check);
    done(data, verdict, verdict == MG_WEBHOOK_ALLOW ? NULL : copy);
}

static int on_head(void *data, int status, const struct phr_header *headers, size_t num_headers)
{
    (void)headers;
    (void)num_headers;
    ((mg_webhook_check_t *)data)->status = status;
    return 0;
}

static int on_body(void *data, const char *bytes, size_t len)
{
    mg_webhook_check_t *check = data;
    if (check->too_large || check->answer.len + len > MAX_ANSWER_BYTES)
        check->too_large = true; /* drained, not kept */
    else
        mg_bytes_append(&check->answer, bytes, len);
    return 0;
}

static void on_end(void *data, const char *errstr, bool connect_failed)
{
    mg_webhook_check_t *check = data;
    check->conn = NULL;
    char reason[MG_WEBHOOK_REASON_MAX];
    if (errstr != NULL) {
        snprintf(reason, sizeof(reason), "%s the webhook: %s", connect_failed ? "cannot reach" : "no answer from",
                 errstr);
        check_report(check, MG_WEBHOOK_ERROR, reason);
        return;
    }
    if (check->too_large) {
        snprintf(reason, sizeof(reason), "the webhook's answer is larger than %zu bytes", MAX_ANSWER_BYTES);
        check_report(check, MG_WEBHOOK_ERROR, reason);
        return;
    }
    mg_webhook_verdict_t verdict = mg_webhook_parse_verdict(
        check->status, check->answer.base != NULL ? check->answer.base : "", check->answer.len, reason);
    check_report(check, verdict, reason);
}

static const mg_http_conn_callbacks_t conn_callbacks = {.on_head = on_head, .on_body = on_body, .on_end = on_end};

static void on_deadline(h2o_timeout_entry_t *entry)
{
    mg_webhook_check_t *check = H2O_STRUCT_FROM_MEMBER(mg_webhook_check_t, deadline, entry);
    if (check->conn != NULL) {
        mg_http_conn_cancel(check->conn);
        check->conn = NULL;
    }
    char reason[MG_WEBHOOK_REASON_MAX];
    snprintf(reason, sizeof(reason), "the webhook did not answer within %d ms", check->webhook->config->timeout_ms);
    check_report(check, MG_WEBHOOK_ERROR, reason);
}

mg_webhook_check_t *mg_webhook_check(mg_webhook_t *webhook, const char *body, size_t len, mg_webhook_done_fn done,
                                     void *data, const char **errstr)
{
    mg_webhook_check_t *check = calloc(1, sizeof(*check));
    if (check == NULL) {
        *errstr = "out of memory";
        return NULL;
    }
    *check = (mg_webhook_check_t){.webhook = webhook, .done = done, .data = data};
    check->deadline.cb = on_deadline;
    char length[48];
    int length_len = snprintf(length, sizeof(length), "%zu\r\n\r\n", len);
    h2o_iovec_t bufs[3] = {h2o_iovec_init(webhook->head, webhook->head_len), h2o_iovec_init(length, (size_t)length_len),
                           h2o_iovec_init(body, len)};
    check->conn = mg_http_conn_request(&webhook->pool, &webhook->io_timeout, bufs, 3, &conn_callbacks, check, errstr);
    if (check->conn == NULL) {
        free(check);
        return NULL;
    }
    h2o_linklist_insert(&webhook->checks, &check->link);
    h2o_timeout_link(webhook->loop, &webhook->deadline_timeout, &check->deadline);
    return check;
}

void mg_webhook_cancel(mg_webhook_check_t *check)
{
    if (check->conn != NULL)
        mg_http_conn_cancel(check->conn);
    check->conn = NULL;
    check_free(check);
}

/* ---- the client ---- */

static SSL_CTX *create_ssl_ctx(const char *host, mg_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        mg_error_set(err, "guards.webhook: cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        mg_error_set(err, "guards.webhook: cannot load the system's trusted certificates");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* as upstream/http.c: OpenSSL checks the name, since h2o 2.2.5 does not under TLS 1.3 */
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 && X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
        mg_error_set(err, "guards.webhook: cannot verify host name \"%s\"", host);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void append(mg_bytes_t *out, const char *text)
{
    mg_bytes_append(out, text, strlen(text));
}

/* Everything of the request head but the body's length (config/webhook.c checked the header values). */
static void build_head(mg_webhook_t *webhook, const h2o_url_t *url)
{
    mg_bytes_t head = {0};
    append(&head, "POST ");
    mg_bytes_append(&head, url->path.base, url->path.len);
    append(&head, " HTTP/1.1\r\nHost: ");
    mg_bytes_append(&head, url->authority.base, url->authority.len);
    append(&head, "\r\nAccept: application/json\r\nUser-Agent: mcpgate\r\n");
    for (size_t i = 0; i < webhook->config->headers_len; i++) {
        append(&head, webhook->config->headers[i].key);
        append(&head, ": ");
        append(&head, webhook->config->headers[i].value);
        append(&head, "\r\n");
    }
    append(&head, "Content-Type: application/json\r\nContent-Length: ");
    webhook->head = mg_bytes_take(&head, &webhook->head_len);
}

int mg_webhook_create(const mg_config_webhook_t *config, h2o_loop_t *loop, h2o_multithread_receiver_t *getaddr_receiver,
                      mg_webhook_t **out, mg_error_t *err)
{
    h2o_url_t url;
    if (config->url == NULL || h2o_url_parse(config->url, SIZE_MAX, &url) != 0 ||
        (url.scheme != &H2O_URL_SCHEME_HTTP && url.scheme != &H2O_URL_SCHEME_HTTPS))
        return mg_error_set(err, "guards.webhook.url: not an http:// or https:// URL");
    mg_webhook_t *webhook = calloc(1, sizeof(*webhook));
    if (webhook == NULL)
        return mg_error_set(err, "out of memory");
    webhook->config = config;
    webhook->loop = loop;
    h2o_linklist_init_anchor(&webhook->checks);
    if ((webhook->host = h2o_strdup(NULL, url.host.base, url.host.len).base) == NULL)
        goto Oom;
    if (url.scheme == &H2O_URL_SCHEME_HTTPS && (webhook->ssl_ctx = create_ssl_ctx(webhook->host, err)) == NULL)
        goto Error;
    if (mg_http_conn_pool_init(&webhook->pool, loop, getaddr_receiver, webhook->host, h2o_url_get_port(&url),
                               webhook->ssl_ctx, POOL_IDLE_MS, POOL_MAX_IDLE) != 0)
        goto Oom;
    build_head(webhook, &url);
    h2o_timeout_init(loop, &webhook->deadline_timeout, (uint64_t)config->timeout_ms);
    h2o_timeout_init(loop, &webhook->io_timeout, (uint64_t)config->timeout_ms + 1000);
    *out = webhook;
    return 0;

Oom:
    mg_error_set(err, "out of memory");
Error:
    if (webhook->ssl_ctx != NULL)
        SSL_CTX_free(webhook->ssl_ctx);
    free(webhook->host);
    free(webhook);
    return -1;
}

void mg_webhook_destroy(mg_webhook_t *webhook)
{
    if (webhook == NULL)
        return;
    while (!h2o_linklist_is_empty(&webhook->checks))
        mg_webhook_cancel(H2O_STRUCT_FROM_MEMBER(mg_webhook_check_t, link, webhook->checks.next));
    mg_http_conn_pool_dispose(&webhook->pool);
    h2o_timeout_dispose(webhook->loop, &webhook->deadline_timeout);
    h2o_timeout_dispose(webhook->loop, &webhook->io_timeout);
    if (webhook->ssl_ctx != NULL)
        SSL_CTX_free(webhook->ssl_ctx);
    free(webhook->head);
    free(webhook->host);
    free(webhook);
}
