/* mrtr.c - see mrtr.h. */
#include "mcp/mrtr.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mcp/seal.h"

#define PREFIX "mcpgate.rs1."

static json_t *binding(const mg_mrtr_request_t *request, int64_t now)
{
    return json_pack("{s:s,s:s,s:s,s:I}", "p", request->principal, "m", request->method, "n", request->target, "e",
                     (json_int_t)(now + MG_MRTR_TTL_S));
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

char *mg_mrtr_seal_wrap(const mg_session_key_t *key, const mg_mrtr_request_t *request, const char *server,
                        const json_t *upstream_state, int64_t now)
{
    json_t *claims = binding(request, now);
    json_object_set_new(claims, "k", json_string("wrap"));
    json_object_set_new(claims, "s", json_string(server));
    if (upstream_state != NULL)
        json_object_set(claims, "u", (json_t *)upstream_state);
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
        refuse(why, why_len, "expired");
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
        if (server != NULL && strlen(server) < sizeof(state->server)) {
            state->kind = MG_MRTR_WRAP;
            snprintf(state->server, sizeof(state->server), "%s", server);
            state->upstream_state = json_incref(json_object_get(claims, "u"));
            rc = 0;
        } else {
            refuse(why, why_len, "malformed");
        }
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
