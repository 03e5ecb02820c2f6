/*
 * fetch.h - the gateway's control-plane HTTP client: discovery documents, key sets, token and
 * introspection endpoints. Blocking (libcurl's easy interface), so it runs only on background threads
 * (the auth agent and the introspector, auth/auth_internal.h; the upstream credential agent,
 * auth/upstream_oauth.h), never on a worker: a worker never waits for the network on a request path.
 *
 * Every fetch is bounded: a total timeout, a maximum response size (MG_FETCH_MAX_BYTES), no
 * redirects (a discovery document that moves is a configuration problem to report, not to follow
 * silently), TLS peers verified against the system store. A response must be JSON with no duplicate
 * keys; a non-2xx answer is an error that quotes its status and, for OAuth errors, the `error` field.
 */
#ifndef MG_AUTH_FETCH_H
#define MG_AUTH_FETCH_H

#include <jansson.h>

#include "core/error.h"

#define MG_FETCH_MAX_BYTES (1024 * 1024)

typedef struct st_mg_fetch_request_t {
    const char *url;
    const char *form; /* an application/x-www-form-urlencoded body: POST; NULL: GET */
    /* client_secret_basic (RFC 6749 section 2.3.1): the OAuth client's id and secret, each
     * form-urlencoded here and then sent as HTTP Basic credentials; NULL: no client authentication */
    const char *client_id;
    const char *client_secret;
    long timeout_ms; /* 0: 5000 */
} mg_fetch_request_t;

/* Call once before any thread starts (curl_global_init is not thread-safe). */
void mg_fetch_global_init(void);

/* Performs the request. On success (a 2xx answer of at most MG_FETCH_MAX_BYTES) *body holds the
 * answer's bytes, NUL-terminated, malloc'd for the caller, and *len their count (the NUL excluded). */
int mg_fetch(const mg_fetch_request_t *request, char **body, size_t *len, mg_error_t *err);

/* mg_fetch, then parses the answer. On success *out is a new reference to the JSON value. */
int mg_fetch_json(const mg_fetch_request_t *request, json_t **out, mg_error_t *err);

/* Appends "name=value" to a form body, percent-encoding both (RFC 6749 appendix B). `*form` is
 * malloc'd or NULL; returns -1 on OOM. */
int mg_fetch_form_add(char **form, const char *name, const char *value);

#endif
