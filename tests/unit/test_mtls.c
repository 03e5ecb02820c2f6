/*
 * test_mtls.c - client certificates as an identity: the certificate → principal half of
 * src/auth/mtls.h, and the listener's set-up from auth.mtls.client_ca.
 *
 * Every certificate is made here with OpenSSL (P-256 keys, one CA per test), so each case states
 * exactly what the certificate holds. Chains are verified with X509_verify_cert and the purpose
 * OpenSSL uses on a server ("ssl_client"), so the refusals carry the strings a real handshake
 * records. The connection half (finding the SSL object inside h2o) runs in
 * tests/e2e/auth-mtls.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "auth/mtls.h"
#include "temp_tree.h"

#define HOUR 3600

typedef struct st_issuer_t {
    EVP_PKEY *key;
    X509 *cert;
} issuer_t;

typedef struct st_leaf_spec_t {
    const char *cn;        /* NULL: no CN */
    const char *second_cn; /* a second CN entry, or NULL */
    const char *san;       /* X509v3 config syntax, e.g. "URI:spiffe://acme/ci-bot,DNS:a.b"; NULL: none */
    const char *eku;       /* extendedKeyUsage; NULL: clientAuth */
    long not_before;       /* seconds from now */
    long not_after;
} leaf_spec_t;

static void add_extension(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for `key`, signed by `issuer` (NULL: self-signed, a CA). */
static X509 *make_cert(EVP_PKEY *key, const issuer_t *issuer, const char *o, const leaf_spec_t *spec)
{
    static long serial = 1;
    X509 *cert = X509_new();
    assert_non_null(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), spec->not_before);
    X509_gmtime_adj(X509_getm_notAfter(cert), spec->not_after);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    if (o != NULL)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0);
    if (spec->cn != NULL)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)spec->cn, -1, -1, 0);
    if (spec->second_cn != NULL)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)spec->second_cn, -1, -1, 0);
    X509 *signer = issuer != NULL ? issuer->cert : cert;
    X509_set_issuer_name(cert, X509_get_subject_name(signer));
    if (issuer == NULL) {
        add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert, signer, NID_key_usage, "critical,digitalSignature");
        add_extension(cert, signer, NID_ext_key_usage, spec->eku != NULL ? spec->eku : "clientAuth");
        if (spec->san != NULL)
            add_extension(cert, signer, NID_subject_alt_name, spec->san);
    }
    assert_true(X509_sign(cert, issuer != NULL ? issuer->key : key, EVP_sha256()) > 0);
    return cert;
}

static issuer_t make_ca(const char *cn)
{
    issuer_t ca = {.key = EVP_EC_gen("P-256")};
    assert_non_null(ca.key);
    leaf_spec_t spec = {.cn = cn, .not_before = -HOUR, .not_after = 24 * HOUR};
    ca.cert = make_cert(ca.key, NULL, "acme", &spec);
    return ca;
}

static void free_ca(issuer_t *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

static X509 *make_leaf(const issuer_t *ca, const leaf_spec_t *spec)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    leaf_spec_t with_defaults = *spec;
    if (with_defaults.not_after == 0) {
        with_defaults.not_before = -HOUR;
        with_defaults.not_after = HOUR;
    }
    X509 *cert = make_cert(key, ca, NULL, &with_defaults);
    EVP_PKEY_free(key);
    return cert;
}

/* What a server's handshake would record for `cert` presented to a listener trusting `anchor`. */
static long verify(X509 *cert, X509 *anchor)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, anchor);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, cert, NULL);
    X509_STORE_CTX_set_default(ctx, "ssl_client"); /* as ssl_verify_cert_chain on a server */
    X509_verify_cert(ctx);
    long result = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return result;
}

/* The principal `cert` makes, or fails the test with the refusal. */
static mg_principal_t *identify_ok(X509 *cert, long verify_result, mg_mtls_identity_t identity, int64_t now)
{
    mg_principal_t *principal = NULL;
    char reason[MG_MTLS_REASON_MAX] = "";
    if (mg_mtls_principal_from_certificate(cert, verify_result, identity, now, &principal, reason) != 0)
        fail_msg("refused: %s", reason);
    return principal;
}

static void expect_refusal(X509 *cert, long verify_result, mg_mtls_identity_t identity, int64_t now,
                           const char *expected)
{
    mg_principal_t *principal = (mg_principal_t *)1;
    char reason[MG_MTLS_REASON_MAX] = "";
    assert_int_equal(mg_mtls_principal_from_certificate(cert, verify_result, identity, now, &principal, reason), -1);
    assert_null(principal);
    assert_string_equal(reason, expected);
}

static void test_each_identity(void **state)
{
    (void)state;
    issuer_t ca = make_ca("acme clients CA");
    leaf_spec_t spec = {.cn = "ci-bot",
                        .san = "DNS:bot.acme.internal,URI:spiffe://acme/ci-bot,URI:spiffe://acme/second"};
    X509 *cert = make_leaf(&ca, &spec);
    int64_t now = time(NULL);
    long verified = verify(cert, ca.cert);
    assert_int_equal(verified, X509_V_OK);

    mg_principal_t *principal = identify_ok(cert, verified, MG_MTLS_SAN_URI, now);
    assert_int_equal(principal->method, MG_AUTH_MTLS);
    assert_string_equal(principal->subject, "spiffe://acme/ci-bot"); /* the first URI, not the second */
    assert_string_equal(principal->name, "mtls:spiffe://acme/ci-bot");
    assert_string_equal(principal->issuer, "CN=acme clients CA,O=acme");
    assert_null(principal->key_id);
    assert_int_equal(json_array_size(principal->scopes), 0);
    /* the certificate's notAfter, one hour away (X509_gmtime_adj and `now` may straddle a second) */
    assert_in_range(principal->expires_at, now + HOUR - 2, now + HOUR + 2);
    mg_principal_release(principal);

    principal = identify_ok(cert, verified, MG_MTLS_SAN_DNS, now);
    assert_string_equal(principal->name, "mtls:bot.acme.internal");
    mg_principal_release(principal);
    principal = identify_ok(cert, verified, MG_MTLS_SUBJECT_CN, now);
    assert_string_equal(principal->name, "mtls:ci-bot");
    mg_principal_release(principal);

    X509_free(cert);
    free_ca(&ca);
}

static void test_missing_identity(void **state)
{
    (void)state;
    issuer_t ca = make_ca("acme clients CA");
    int64_t now = time(NULL);
    leaf_spec_t dns_only = {.cn = "ci-bot", .san = "DNS:bot.acme.internal"};
    X509 *cert = make_leaf(&ca, &dns_only);
    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_URI, now, "the client certificate has no URI SAN");
    X509_free(cert);

    leaf_spec_t no_san = {.cn = "ci-bot"};
    cert = make_leaf(&ca, &no_san);
    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_DNS, now, "the client certificate has no DNS SAN");
    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_URI, now, "the client certificate has no URI SAN");
    X509_free(cert);

    leaf_spec_t no_cn = {.san = "URI:spiffe://acme/ci-bot"};
    cert = make_leaf(&ca, &no_cn);
    expect_refusal(cert, X509_V_OK, MG_MTLS_SUBJECT_CN, now, "the client certificate has no subject CN");
    X509_free(cert);

    leaf_spec_t two_cns = {.cn = "ci-bot", .second_cn = "admin"};
    cert = make_leaf(&ca, &two_cns);
    expect_refusal(cert, X509_V_OK, MG_MTLS_SUBJECT_CN, now, "the client certificate has more than one subject CN");
    X509_free(cert);
    free_ca(&ca);
}

/* A URI SAN with a NUL inside (CVE-2009-2408's trick), a DNS SAN with a space, a CN with a newline. */
static void test_unusable_identity(void **state)
{
    (void)state;
    issuer_t ca = make_ca("acme clients CA");
    int64_t now = time(NULL);
    leaf_spec_t spec = {.cn = "ci-bot\nadmin"};
    X509 *cert = make_leaf(&ca, &spec);
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *uri = GENERAL_NAME_new(), *dns = GENERAL_NAME_new();
    ASN1_IA5STRING *uri_value = ASN1_IA5STRING_new(), *dns_value = ASN1_IA5STRING_new();
    ASN1_STRING_set(uri_value, "spiffe://acme/admin\0.evil", 25);
    ASN1_STRING_set(dns_value, "bot acme", 8);
    GENERAL_NAME_set0_value(uri, GEN_URI, uri_value);
    GENERAL_NAME_set0_value(dns, GEN_DNS, dns_value);
    sk_GENERAL_NAME_push(names, uri);
    sk_GENERAL_NAME_push(names, dns);
    assert_int_equal(X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT), 1);
    GENERAL_NAMES_free(names);

    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_URI, now,
                   "the client certificate's first URI SAN is empty, longer than 1024 bytes, or not visible ASCII");
    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_DNS, now,
                   "the client certificate's first DNS SAN is empty, longer than 1024 bytes, or not visible ASCII");
    expect_refusal(cert, X509_V_OK, MG_MTLS_SUBJECT_CN, now,
                   "the client certificate's subject CN is empty, longer than 1024 bytes, or has control characters");
    X509_free(cert);
    free_ca(&ca);
}

static void test_untrusted_chain(void **state)
{
    (void)state;
    issuer_t ca = make_ca("acme clients CA"), stranger = make_ca("someone else's CA");
    int64_t now = time(NULL);
    leaf_spec_t spec = {.cn = "ci-bot", .san = "URI:spiffe://acme/ci-bot"};
    X509 *cert = make_leaf(&stranger, &spec);
    long result = verify(cert, ca.cert);
    assert_int_equal(result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    expect_refusal(cert, result, MG_MTLS_SAN_URI, now,
                   "the client certificate is not trusted: unable to get local issuer certificate");
    X509_free(cert);

    /* a server certificate (extendedKeyUsage serverAuth only) does not authenticate a client */
    leaf_spec_t server = {.cn = "ci-bot", .san = "URI:spiffe://acme/ci-bot", .eku = "serverAuth"};
    cert = make_leaf(&ca, &server);
    result = verify(cert, ca.cert);
    assert_int_equal(result, X509_V_ERR_INVALID_PURPOSE);
    expect_refusal(cert, result, MG_MTLS_SAN_URI, now,
                   "the client certificate is not trusted: unsuitable certificate purpose");
    X509_free(cert);

    leaf_spec_t expired = {
        .cn = "ci-bot", .san = "URI:spiffe://acme/ci-bot", .not_before = -48 * HOUR, .not_after = -24 * HOUR};
    cert = make_leaf(&ca, &expired);
    result = verify(cert, ca.cert);
    assert_int_equal(result, X509_V_ERR_CERT_HAS_EXPIRED);
    expect_refusal(cert, result, MG_MTLS_SAN_URI, now,
                   "the client certificate is not trusted: certificate has expired");
    X509_free(cert);
    free_ca(&ca);
    free_ca(&stranger);
}

/* A connection or a resumed session outlives its handshake: the validity period is checked against
 * the time of the request too. */
static void test_validity_at_request_time(void **state)
{
    (void)state;
    issuer_t ca = make_ca("acme clients CA");
    leaf_spec_t spec = {.san = "URI:spiffe://acme/ci-bot"};
    X509 *cert = make_leaf(&ca, &spec);
    int64_t now = time(NULL);
    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_URI, now + 2 * HOUR, "the client certificate has expired");
    expect_refusal(cert, X509_V_OK, MG_MTLS_SAN_URI, now - 2 * HOUR, "the client certificate is not valid yet");
    mg_principal_release(identify_ok(cert, X509_V_OK, MG_MTLS_SAN_URI, now));
    X509_free(cert);
    free_ca(&ca);
}

static void write_pem(const char *path, X509 *cert)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(PEM_write_X509(file, cert), 1);
    fclose(file);
}

static void test_context_init(void **state)
{
    (void)state;
    char root[64], path[128];
    assert_int_equal(temp_tree_make(root, sizeof(root), "mtls"), 0);
    issuer_t ca = make_ca("acme clients CA");
    snprintf(path, sizeof(path), "%s/clients-ca.pem", root);
    write_pem(path, ca.cert);

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    mg_error_t err = {{0}};
    assert_int_equal(mg_mtls_context_init(ctx, path, &err), 0);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER); /* asked for, not required */
    STACK_OF(X509_NAME) *names = SSL_CTX_get_client_CA_list(ctx);
    assert_int_equal(sk_X509_NAME_num(names), 1);
    assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(names, 0), X509_get_subject_name(ca.cert)), 0);
    SSL_CTX_free(ctx);

    snprintf(path, sizeof(path), "%s/missing.pem", root);
    ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(mg_mtls_context_init(ctx, path, &err), -1);
    char expected[256];
    snprintf(expected, sizeof(expected), "auth.mtls.client_ca: cannot load trusted certificates from %s: ", path);
    if (strncmp(err.message, expected, strlen(expected)) != 0)
        fail_msg("unexpected message: %s", err.message);
    SSL_CTX_free(ctx);

    snprintf(path, sizeof(path), "%s/not-pem.pem", root);
    FILE *file = fopen(path, "w");
    fputs("not a certificate\n", file);
    fclose(file);
    ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(mg_mtls_context_init(ctx, path, &err), -1);
    assert_non_null(strstr(err.message, path));
    SSL_CTX_free(ctx);

    free_ca(&ca);
    temp_tree_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_identity),
        cmocka_unit_test(test_missing_identity),
        cmocka_unit_test(test_unusable_identity),
        cmocka_unit_test(test_untrusted_chain),
        cmocka_unit_test(test_validity_at_request_time),
        cmocka_unit_test(test_context_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
