/*
 * mtls.h - client certificates as an identity (auth.mtls).
 *
 * The TLS listener asks every client for a certificate and never aborts the handshake over one: a
 * client without a certificate may still use a bearer token or an API key, and a client whose
 * certificate is untrusted, expired or unusable is better told why in an HTTP 401 with a JSON-RPC
 * error than with a bare TLS alert it cannot tell from a network failure. OpenSSL's verdict on the
 * chain is kept with the connection (SSL_get_verify_result) and read here, per request, when the
 * request carries no other credential (identify.c decides the precedence).
 *
 * Two halves:
 * - the pure one, a certificate and its verification result → a principal or a refusal reason,
 *   which the unit tests drive with certificates they make;
 * - the connection's, which finds a request's SSL object inside h2o (see mtls.c for why that needs
 *   a mirrored struct) and caches the principal on it, because a connection's certificate cannot
 *   change (renegotiation is refused; TLS 1.3 post-handshake authentication is never requested).
 */
#ifndef MG_AUTH_MTLS_H
#define MG_AUTH_MTLS_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "auth/principal.h"
#include "config/config.h"
#include "core/error.h"

/* Enough for every reason mtls.c writes, with the longest X509_verify_cert_error_string. */
#define MG_MTLS_REASON_MAX 200

/* Makes `ctx` (a TLS listener's) ask for client certificates: trust anchors and the CA names sent to
 * clients from `client_ca` (PEM), verification that records rather than aborts, and a session id
 * context so that resumed sessions keep their client's certificate. Call on the main thread before
 * any connection. -1 with a message naming the file when it holds no certificate that loads. */
int mg_mtls_context_init(SSL_CTX *ctx, const char *client_ca, mg_error_t *err);

/* The identity `identity` selects from `cert`, given OpenSSL's verification result for its chain
 * and the current time `now` (Unix seconds). 0 with *out a new principal (method MG_AUTH_MTLS,
 * subject the identity, issuer the issuing CA's name in RFC 2253 form, expires_at the certificate's
 * notAfter) the caller releases; -1 with `reason` (a sentence for the client, at most
 * MG_MTLS_REASON_MAX bytes) when the chain did not verify, the certificate is outside its validity
 * period, or it has no usable identity of that kind (absent, more than one subject CN, control
 * characters, or a NUL inside). Only the first URI or DNS name of the subjectAltName counts. */
int mg_mtls_principal_from_certificate(X509 *cert, long verify_result, mg_mtls_identity_t identity, int64_t now,
                                       mg_principal_t **out, char reason[MG_MTLS_REASON_MAX]);

/* The certificate identity of the connection `req` arrived on (HTTP/1.1 or HTTP/2). 1 with *out a
 * principal the caller releases; 0 when the connection is not TLS or presented no certificate;
 * -1 with `reason` when the certificate does not identify anyone (see above). */
int mg_mtls_identify(h2o_req_t *req, mg_mtls_identity_t identity, int64_t now, mg_principal_t **out,
                     char reason[MG_MTLS_REASON_MAX]);

#endif
