/*
 * mtls.c - client certificates as an identity (see mtls.h).
 *
 * Verification is OpenSSL's, run during the handshake against auth.mtls.client_ca with the
 * "ssl_client" purpose (a certificate whose extendedKeyUsage excludes clientAuth is not trusted).
 * The verify callback lets every handshake finish and OpenSSL keeps the result with the session,
 * so a resumed session brings back the certificate and its verdict; this file turns that verdict
 * into a principal or a sentence for the client. The validity period is checked again per request
 * against the clock, because a connection, or a session resumed from a ticket, outlives the moment
 * of its handshake.
 */
#include "auth/mtls.h"

#include <h2o/version.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ascii.h"

/* Longer identities are refused: they would only be digested into the binding name (principal.h). */
#define MAX_IDENTITY_BYTES 1024

static int refuse(char reason[MG_MTLS_REASON_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(char reason[MG_MTLS_REASON_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, MG_MTLS_REASON_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the certificate ----------------------------------------------------------------------- */

static int64_t unix_time(const ASN1_TIME *time)
{
    struct tm tm;
    if (time == NULL || ASN1_TIME_to_tm(time, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

/* URI and DNS names are IA5 strings: visible ASCII only (no space, no control character, no NUL
 * that would cut the name short for one reader and not another). */
static int copy_ia5(const ASN1_IA5STRING *value, char **out)
{
    int len = ASN1_STRING_length(value);
    const unsigned char *data = ASN1_STRING_get0_data(value);
    if (len <= 0 || len > MAX_IDENTITY_BYTES)
        return -1;
    if (!mg_ascii_all_printable((const char *)data, (size_t)len, '!'))
        return -1;
    return (*out = strndup((const char *)data, (size_t)len)) == NULL ? -1 : 0;
}

static int subject_alt_name(X509 *cert, int type, const char *what, char **out, char reason[MG_MTLS_REASON_MAX])
{
    int critical = -1;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, NULL);
    if (names == NULL)
        return critical == -2 ? refuse(reason, "the client certificate has more than one subjectAltName extension")
                              : refuse(reason, "the client certificate has no %s SAN", what);
    int rc = refuse(reason, "the client certificate has no %s SAN", what);
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        if (name->type != type)
            continue;
        const ASN1_IA5STRING *value = type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
        rc = copy_ia5(value, out) == 0
                 ? 0
                 : refuse(reason,
                          "the client certificate's first %s SAN is empty, longer than %d bytes, or not "
                          "visible ASCII",
                          what, MAX_IDENTITY_BYTES);
        break;
    }
    GENERAL_NAMES_free(names);
    return rc;
}

/* The subject's one CN as UTF-8; several CNs would make "the" CN a guess. */
static int subject_cn(X509 *cert, char **out, char reason[MG_MTLS_REASON_MAX])
{
    const X509_NAME *subject = X509_get_subject_name(cert);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at < 0)
        return refuse(reason, "the client certificate has no subject CN");
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0)
        return refuse(reason, "the client certificate has more than one subject CN");
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
    bool usable = len > 0 && len <= MAX_IDENTITY_BYTES && strlen((const char *)utf8) == (size_t)len;
    for (int i = 0; usable && i < len; i++)
        usable = utf8[i] >= ' ' && utf8[i] != 0x7f;
    if (usable)
        *out = strdup((const char *)utf8);
    OPENSSL_free(utf8);
    if (!usable)
        return refuse(reason,
                      "the client certificate's subject CN is empty, longer than %d bytes, or has control "
                      "characters",
                      MAX_IDENTITY_BYTES);
    return *out == NULL ? refuse(reason, "out of memory") : 0;
}

/* The issuing CA's name for logs and policies: RFC 2253, with non-ASCII and control bytes escaped. */
static char *issuer_name(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *name = NULL;
    if (bio != NULL && X509_NAME_print_ex(bio, X509_get_issuer_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        name = strndup(len > 0 ? data : "", len > 0 ? (size_t)len : 0);
    }
    BIO_free(bio);
    return name;
}

int mg_mtls_principal_from_certificate(X509 *cert, long verify_result, mg_mtls_identity_t identity, int64_t now,
                                       mg_principal_t **out, char reason[MG_MTLS_REASON_MAX])
{
    *out = NULL;
    if (verify_result != X509_V_OK)
        return refuse(reason, "the client certificate is not trusted: %s",
                      X509_verify_cert_error_string(verify_result));
    int64_t not_before = unix_time(X509_get0_notBefore(cert)), not_after = unix_time(X509_get0_notAfter(cert));
    if (not_before < 0 || not_after < 0)
        return refuse(reason, "the client certificate's validity period cannot be read");
    if (now > not_after)
        return refuse(reason, "the client certificate has expired");
    if (now < not_before)
        return refuse(reason, "the client certificate is not valid yet");
    char *subject = NULL;
    int rc = identity == MG_MTLS_SAN_URI   ? subject_alt_name(cert, GEN_URI, "URI", &subject, reason)
             : identity == MG_MTLS_SAN_DNS ? subject_alt_name(cert, GEN_DNS, "DNS", &subject, reason)
                                           : subject_cn(cert, &subject, reason);
    if (rc != 0)
        return -1;
    char *issuer = issuer_name(cert);
    *out = issuer != NULL ? mg_principal_create(MG_AUTH_MTLS, subject, issuer, NULL) : NULL;
    free(subject);
    free(issuer);
    if (*out == NULL)
        return refuse(reason, "out of memory");
    (*out)->expires_at = not_after;
    return 0;
}

/* ---- the listener ---------------------------------------------------------------------------- */

/* The principal a connection's certificate made, kept on its SSL object and released with it. */
static int principal_index = -1;
static pthread_once_t principal_index_once = PTHREAD_ONCE_INIT;

static void free_cached_principal(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl, void *argp)
{
    (void)parent, (void)ad, (void)index, (void)argl, (void)argp;
    mg_principal_release(ptr);
}

static void make_principal_index(void)
{
    principal_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_cached_principal);
}

/* Every handshake finishes: the result stays in SSL_get_verify_result for mg_mtls_identify. */
static int record_verification(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok, (void)store;
    return 1;
}

int mg_mtls_context_init(SSL_CTX *ctx, const char *client_ca, mg_error_t *err)
{
    char reason[128];
    pthread_once(&principal_index_once, make_principal_index);
    if (principal_index < 0)
        return mg_error_set(err, "auth.mtls: cannot allocate an SSL ex_data index");
    STACK_OF(X509_NAME) *names = NULL;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1 ||
        (names = SSL_load_client_CA_file(client_ca)) == NULL)
        return mg_error_set(err, "auth.mtls.client_ca: cannot load trusted certificates from %s: %s", client_ca,
                            mg_error_openssl(reason, sizeof(reason)));
    SSL_CTX_set_client_CA_list(ctx, names); /* takes `names` */
    /* SSL_VERIFY_PEER without SSL_VERIFY_FAIL_IF_NO_PEER_CERT: a certificate is asked for, not required */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, record_verification);
    /* a connection's certificate must not change under its cached principal (TLS 1.2 renegotiation;
     * TLS 1.3 has none, and post-handshake authentication is never requested) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    /* OpenSSL refuses to resume a session of a verifying server without one */
    static const unsigned char session_context[] = "mcpgate auth.mtls";
    if (SSL_CTX_set_session_id_context(ctx, session_context, sizeof(session_context) - 1) != 1)
        return mg_error_set(err, "auth.mtls: cannot set the TLS session id context");
    return 0;
}

/* ---- the connection ------------------------------------------------------------------------ */

/*
 * h2o 2.2.5 has no public accessor for a socket's SSL object: `h2o_socket_t.ssl` points to a
 * private `struct st_h2o_socket_ssl_t` (lib/common/socket.c) whose first two members are these.
 * The mirror is trusted only for the h2o series it was read from (checked at compile time) and only
 * when what it finds is consistent (checked at run time): the SSL object must belong to the SSL_CTX
 * beside it, and its BIO must carry the socket, as h2o's setup_bio() makes it. A mismatch reads as
 * "no certificate", which identifies nobody.
 */
#if H2O_VERSION_MAJOR != 2 || H2O_VERSION_MINOR != 2
#error "mtls.c mirrors h2o 2.2's private struct st_h2o_socket_ssl_t: check lib/common/socket.c of this h2o"
#endif
struct mirrored_h2o_socket_ssl {
    SSL_CTX *ssl_ctx;
    SSL *ossl;
};

static SSL *request_ssl(h2o_req_t *req)
{
    if (req->conn == NULL || req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->ssl == NULL)
        return NULL;
    const struct mirrored_h2o_socket_ssl *mirror = (const void *)sock->ssl;
    SSL *ssl = mirror->ossl;
    if (ssl == NULL || SSL_get_SSL_CTX(ssl) != mirror->ssl_ctx || SSL_get_rbio(ssl) == NULL ||
        BIO_get_data(SSL_get_rbio(ssl)) != sock)
        return NULL;
    return ssl;
}

int mg_mtls_identify(h2o_req_t *req, mg_mtls_identity_t identity, int64_t now, mg_principal_t **out,
                     char reason[MG_MTLS_REASON_MAX])
{
    *out = NULL;
    SSL *ssl = request_ssl(req);
    if (ssl == NULL)
        return 0;
    pthread_once(&principal_index_once, make_principal_index);
    mg_principal_t *cached = principal_index >= 0 ? SSL_get_ex_data(ssl, principal_index) : NULL;
    if (cached != NULL) {
        if (now > cached->expires_at)
            return refuse(reason, "the client certificate has expired");
        *out = mg_principal_retain(cached);
        return 1;
    }
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL)
        return 0;
    /* refusals are not cached: they are rare, and a refused client usually goes away */
    if (mg_mtls_principal_from_certificate(cert, SSL_get_verify_result(ssl), identity, now, out, reason) != 0)
        return -1;
    if (principal_index >= 0 && SSL_set_ex_data(ssl, principal_index, *out) == 1)
        mg_principal_retain(*out);
    return 1;
}
