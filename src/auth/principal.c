/* principal.c - see principal.h. */
#include "auth/principal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mg_principal_method_name(mg_auth_method_t method)
{
    switch (method) {
    case MG_AUTH_ANONYMOUS:
        return "anonymous";
    case MG_AUTH_JWT:
        return "jwt";
    case MG_AUTH_INTROSPECTION:
        return "introspection";
    case MG_AUTH_API_KEY:
        return "api_key";
    case MG_AUTH_MTLS:
        return "mtls";
    }
    return "unknown";
}

static char *derive_name(mg_auth_method_t method, const char *subject, const char *issuer)
{
    const char *method_name = mg_principal_method_name(method);
    if (method == MG_AUTH_ANONYMOUS)
        return strdup("anonymous");
    char *name = NULL;
    /* a certificate's identity is unique under the trust anchors of auth.mtls, whichever CA issued
     * it: with the issuer in the name, renewing an intermediate CA would unbind every session */
    if (method == MG_AUTH_MTLS)
        issuer = NULL;
    int len = issuer != NULL ? asprintf(&name, "%s:%s#%s", method_name, issuer, subject)
                             : asprintf(&name, "%s:%s", method_name, subject);
    if (len < 0)
        return NULL;
    if ((size_t)len < MG_PRINCIPAL_NAME_MAX)
        return name;
    /* too long to seal into session ids: a digest names it as uniquely */
    unsigned char digest[32];
    char hex[65];
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)name, (size_t)len, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    free(name);
    return asprintf(&name, "%s:sha:%s", method_name, hex) < 0 ? NULL : name;
}

mg_principal_t *mg_principal_create(mg_auth_method_t method, const char *subject, const char *issuer,
                                    const char *key_id)
{
    mg_principal_t *principal = calloc(1, sizeof(*principal));
    if (principal == NULL)
        return NULL;
    atomic_init(&principal->refcount, 1);
    principal->method = method;
    principal->subject = strdup(subject != NULL ? subject : "");
    principal->issuer = issuer != NULL ? strdup(issuer) : NULL;
    principal->key_id = key_id != NULL ? strdup(key_id) : NULL;
    principal->name = derive_name(method, principal->subject != NULL ? principal->subject : "", issuer);
    principal->groups = json_array();
    principal->scopes = json_array();
    principal->roles = json_array();
    if (principal->subject == NULL || principal->name == NULL || (issuer != NULL && principal->issuer == NULL) ||
        (key_id != NULL && principal->key_id == NULL) || principal->groups == NULL || principal->scopes == NULL ||
        principal->roles == NULL) {
        mg_principal_release(principal);
        return NULL;
    }
    return principal;
}

/* One anonymous principal for the whole process, made once and never freed: without authentication
 * every request has it, and its reference count is left alone so that workers do not contend on it. */
static mg_principal_t *anonymous;
static pthread_once_t anonymous_once = PTHREAD_ONCE_INIT;

static void make_anonymous(void)
{
    anonymous = mg_principal_create(MG_AUTH_ANONYMOUS, "anonymous", NULL, NULL);
    if (anonymous == NULL)
        abort(); /* at the first request or at start-up: nothing can be served without memory */
}

mg_principal_t *mg_principal_anonymous(void)
{
    pthread_once(&anonymous_once, make_anonymous);
    return anonymous;
}

mg_principal_t *mg_principal_retain(mg_principal_t *principal)
{
    if (principal != NULL && principal != anonymous)
        atomic_fetch_add_explicit(&principal->refcount, 1, memory_order_relaxed);
    return principal;
}

void mg_principal_release(mg_principal_t *principal)
{
    if (principal == NULL || principal == anonymous ||
        atomic_fetch_sub_explicit(&principal->refcount, 1, memory_order_acq_rel) != 1)
        return;
    free(principal->name);
    free(principal->subject);
    free(principal->issuer);
    free(principal->key_id);
    json_decref(principal->groups);
    json_decref(principal->scopes);
    json_decref(principal->roles);
    json_decref(principal->claims);
    free(principal);
}

bool mg_principal_has_scope(const mg_principal_t *principal, const char *scope)
{
    size_t i;
    json_t *value;
    json_array_foreach(principal->scopes, i, value) {
        const char *text = json_string_value(value);
        if (text != NULL && strcmp(text, scope) == 0)
            return true;
    }
    return false;
}
