/* mrtr.c - see mrtr.h. */
#include "mcp/mrtr.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mcp/seal.h"

#define PREFIX "mcpgate.rs1."

static json_t *binding_until(const mg_mrtr_request_t *request, int64_t expires_at)
{
    return json_pack("{s:s,s:s,s:s,s:I}", "p", request->principal, "m", request->method, "n", request->target, "e",
                     (json_int_t)expires_at);
}

static json_t *binding(const mg_mrtr_request_t *request, int64_t now)
{
    return binding_until(request, now + MG_MRTR_TTL_S);
}

static char *seal(const mg_session_key_t *key, json_t *claims /* stolen */)
{
    char *token = claims != NULL ? mg_seal_json(key, PREFIX, claims, MG_MRTR_MAX_TOKEN) : NULL;
    json_decref(claims);
    return token;
}

char *mg_mrtr_seal_park(const mg_session_key_t *key, const mg_mrtr_request_t *request, size_t worker,
                        const char *parked_id, int64_t now)
{
    json_t *claims = binding(request, now);
    json_object_set_new(claims, "k", json_string("park"));
    json_object_set_new(claims, "w", json_integer((json_int_t)worker));
    json_object_set_new(claims, "x", json_string(parked_id));
    return seal(key, claims);
}

static void add_approval(json_t *claims, const mg_mrtr_approval_t *approval)
{
    json_object_set_new(claims, "a", json_string(approval->id));
    json_object_set_new(claims, "t", json_string(approval->tool));
    json_object_set_new(claims, "d", json_string(approval->digest));
    json_object_set_new(claims, "r", json_integer((json_int_t)approval->rule));
}

char *mg_mrtr_seal_wrap_approved(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                                 const json_t *upstream_state, const mg_mrtr_approval_t *approved, int64_t now)
{
    json_t *claims = binding(request, now);
    json_object_set_new(claims, "k", json_string("wrap"));
    json_object_set_new(claims, "s", json_string(server));
    if (upstream_state != NULL)
        json_object_set(claims, "u", (json_t *)upstream_state);
    if (approved != NULL)
        add_approval(claims, approved);
    return seal(key, claims);
}

char *mg_mrtr_seal_wrap(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                        const json_t *upstream_state, int64_t now)
{
    return mg_mrtr_seal_wrap_approved(key, request, server, upstream_state, NULL, now);
}

char *mg_mrtr_seal_approval(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                            const mg_mrtr_approval_t *approval, int64_t expires_at)
{
    json_t *claims = binding_until(request, expires_at);
    json_object_set_new(claims, "k", json_string("approve"));
    json_object_set_new(claims, "s", json_string(server));
    add_approval(claims, approval);
    return seal(key, claims);
}

static int refuse(char *why, size_t why_len, const char *reason)
{
    snprintf(why, why_len, "Invalid requestState: %s", reason);
    return -1;
}

static bool same(const json_t *claims, const char *key, const char *value)
{
    const char *said = json_string_value(json_object_get(claims, key));
    return said != NULL && strcmp(said, value) == 0;
}

/* Copies `text` into `out` (`size` bytes) when it fits and is not empty. */
static bool copy_claim(const json_t *claims, const char *key, char *out, size_t size)
{
    const char *text = json_string_value(json_object_get(claims, key));
    if (text == NULL || text[0] == '\0' || strlen(text) >= size)
        return false;
    memcpy(out, text, strlen(text) + 1);
    return true;
}

/* The approval's claims (a, t, d, r) into state->approval. */
static int open_approval_fields(const json_t *claims, mg_mrtr_state_t *state)
{
    mg_mrtr_approval_t *approval = &state->approval;
    json_t *rule = json_object_get(claims, "r");
    if (!copy_claim(claims, "a", approval->id, sizeof(approval->id)) ||
        !copy_claim(claims, "t", approval->tool, sizeof(approval->tool)) ||
        !copy_claim(claims, "d", approval->digest, sizeof(approval->digest)) || !json_is_integer(rule) ||
        json_integer_value(rule) < 0)
        return -1;
    approval->rule = (size_t)json_integer_value(rule);
    return 0;
}

static int open_approval(const json_t *claims, mg_mrtr_state_t *state)
{
    if (!copy_claim(claims, "s", state->server, sizeof(state->server)) || open_approval_fields(claims, state) != 0)
        return -1;
    state->kind = MG_MRTR_APPROVE;
    return 0;
}

int mg_mrtr_open(const mg_session_key_t *key, const char *token, size_t len, const mg_mrtr_request_t *request,
                 int64_t now, mg_mrtr_state_t *state, char *why, size_t why_len)
{
    memset(state, 0, sizeof(*state));
    json_t *claims = mg_unseal_json(key, PREFIX, token, len, MG_MRTR_MAX_TOKEN);
    if (claims == NULL)
        return refuse(why, why_len, "not issued by this gateway, or altered");
    int rc = -1;
    json_t *expires = json_object_get(claims, "e");
    const char *kind = json_string_value(json_object_get(claims, "k"));
    if (!same(claims, "p", request->principal)) {
        refuse(why, why_len, "issued to another principal");
    } else if (!json_is_integer(expires) || json_integer_value(expires) < now) {
        bool approve = kind != NULL && strcmp(kind, "approve") == 0 && json_is_integer(expires);
        if (approve && same(claims, "m", request->method) && same(claims, "n", request->target) &&
            open_approval(claims, state) == 0) {
            state->expired = true; /* see mrtr.h */
            rc = 0;
        } else {
            refuse(why, why_len, "expired");
        }
    } else if (!same(claims, "m", request->method) || !same(claims, "n", request->target)) {
        refuse(why, why_len, "issued for another request");
    } else if (kind != NULL && strcmp(kind, "park") == 0) {
        const char *parked = json_string_value(json_object_get(claims, "x"));
        json_t *worker = json_object_get(claims, "w");
        if (parked != NULL && strlen(parked) < sizeof(state->parked_id) && json_is_integer(worker) &&
            json_integer_value(worker) >= 0) {
            state->kind = MG_MRTR_PARK;
            state->worker = (size_t)json_integer_value(worker);
            snprintf(state->parked_id, sizeof(state->parked_id), "%s", parked);
            rc = 0;
        } else {
            refuse(why, why_len, "malformed");
        }
    } else if (kind != NULL && strcmp(kind, "wrap") == 0) {
        const char *server = json_string_value(json_object_get(claims, "s"));
        if (server != NULL && strlen(server) < sizeof(state->server) &&
            (json_object_get(claims, "a") == NULL || open_approval_fields(claims, state) == 0)) {
            state->kind = MG_MRTR_WRAP;
            snprintf(state->server, sizeof(state->server), "%s", server);
            state->upstream_state = json_incref(json_object_get(claims, "u"));
            rc = 0;
        } else {
            refuse(why, why_len, "malformed");
        }
    } else if (kind != NULL && strcmp(kind, "approve") == 0) {
        rc = open_approval(claims, state);
        if (rc != 0)
            refuse(why, why_len, "malformed");
    } else {
        refuse(why, why_len, "malformed");
    }
    json_decref(claims);
    return rc;
}

void mg_mrtr_state_dispose(mg_mrtr_state_t *state)
{
    json_decref(state->upstream_state);
    state->upstream_state = NULL;
}

const char *mg_mrtr_target(const json_t *params)
{
    const char *target = json_string_value(json_object_get(params, "name"));
    if (target == NULL)
        target = json_string_value(json_object_get(params, "uri"));
    return target != NULL ? target : "";
}
