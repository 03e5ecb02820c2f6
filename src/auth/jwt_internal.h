/*
 * jwt_internal.h - what jwt.c (shape, header, key) and jwt_claims.c (claims, principal) share.
 * Not a contract for anyone else.
 */
#ifndef MG_AUTH_JWT_INTERNAL_H
#define MG_AUTH_JWT_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "auth/jwt.h"

/* A compact JWS taken apart; the decoded parts share one block. */
typedef struct st_mg_jwt_token_t {
    const char *text; /* the caller's token, not copied */
    size_t len;
    size_t signing_input_len; /* header "." payload: up to the second dot */
    unsigned char *decoded;   /* owned: header, payload and signature, one after the other */
    const unsigned char *header, *payload, *signature;
    size_t header_len, payload_len, signature_len;
    json_t *header_json;  /* owned; a JSON object once parsed */
    json_t *payload_json; /* owned; NULL until mg_jwt_token_parse_payload */
} mg_jwt_token_t;

/* Step 1 of jwt.h for the whole token and the header. Returns 0, or -1 with *failure filled; either
 * way the caller calls mg_jwt_token_dispose. */
int mg_jwt_token_parse(mg_jwt_token_t *token, const char *text, size_t len, size_t max_token_bytes,
                       mg_jwt_failure_t *failure);
/* Step 1 for the payload, which verification reads only once the signature holds. */
int mg_jwt_token_parse_payload(mg_jwt_token_t *token, mg_jwt_failure_t *failure);
void mg_jwt_token_dispose(mg_jwt_token_t *token);

/* Steps 5 and 6 of jwt.h: the verified payload's claims against the rules, then the principal. */
int mg_jwt_claims_check(const mg_jwt_rules_t *rules, const json_t *payload, int64_t now, mg_principal_t **out,
                        mg_jwt_failure_t *failure);

/* Formats failure->message (made safe for an error_description: see jwt.h), sets the code, returns -1. */
int mg_jwt_fail(mg_jwt_failure_t *failure, mg_jwt_failure_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
