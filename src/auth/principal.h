/*
 * principal.h - who is calling: what the identify stage establishes and every later stage reads.
 *
 * A principal is made once per authenticated credential (a verified JWT, an introspected token, an
 * API key, a client certificate) and is immutable afterwards, so the verified-token caches of all
 * workers and every exchange that uses it share one copy through a reference count. Its `name` is
 * the stable string that legacy session ids are bound to and that logs show: "<method>:<issuer>#<subject>"
 * for tokens, "api_key:<key name>", "mtls:<identity>", and "anonymous" when authentication is off.
 */
#ifndef MG_AUTH_PRINCIPAL_H
#define MG_AUTH_PRINCIPAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum en_mg_auth_method_t {
    MG_AUTH_ANONYMOUS = 0, /* authentication off (auth.required: false and no credential) */
    MG_AUTH_JWT,           /* a bearer JWT verified against the issuer's JWKS */
    MG_AUTH_INTROSPECTION, /* an opaque bearer token the authorization server called active (RFC 7662) */
    MG_AUTH_API_KEY,       /* an API key made with `mcpgate keys create` */
    MG_AUTH_MTLS,          /* a client certificate verified against auth.mtls.client_ca */
} mg_auth_method_t;

/* Names longer than this are replaced by "<method>:sha:<hex digest>" so that they fit a session id. */
#define MG_PRINCIPAL_NAME_MAX 256

typedef struct st_mg_principal_t {
    _Atomic int refcount;
    mg_auth_method_t method;
    char *name;       /* the binding and logging name (above), shorter than MG_PRINCIPAL_NAME_MAX; never NULL */
    char *subject;    /* the token's subject claim, the key's name, the certificate's identity; never NULL */
    char *issuer;     /* the token's issuer, or the certificate issuer's RFC 2253 name; NULL for API keys */
    char *key_id;     /* the API key's id; NULL otherwise */
    json_t *groups;   /* array of strings (maybe empty); never NULL */
    json_t *scopes;   /* array of strings (maybe empty); never NULL */
    json_t *roles;    /* array of strings the credential itself grants (API keys); never NULL */
    json_t *claims;   /* the verified token's claim set or the introspection answer (an object owned by the
                       * principal, read by policy bindings `claim:`); NULL for other methods */
    int64_t expires_at; /* Unix seconds after which the credential is no longer valid; 0: no expiry */
} mg_principal_t;

/* A new principal (refcount 1) with empty groups, scopes and roles; `subject` and `issuer`/`key_id`
 * (NULL allowed) are copied, and `name` is derived from them as described above. NULL on OOM. */
mg_principal_t *mg_principal_create(mg_auth_method_t method, const char *subject, const char *issuer,
                                    const char *key_id);
/* The principal of a caller when authentication is off: one for the process, which retain and
 * release leave alone (releasing it is harmless). */
mg_principal_t *mg_principal_anonymous(void);

mg_principal_t *mg_principal_retain(mg_principal_t *principal);
void mg_principal_release(mg_principal_t *principal);

/* The method's name as logs and docs spell it: "anonymous", "jwt", "introspection", "api_key", "mtls". */
const char *mg_principal_method_name(mg_auth_method_t method);

/* True when `scope` is among the principal's scopes. */
bool mg_principal_has_scope(const mg_principal_t *principal, const char *scope);

#endif
