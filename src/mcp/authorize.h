/*
 * authorize.h - the authorize stage (DESIGN.md section 1): what a caller may use, by the policy in force.
 *
 * The front end gives each exchange the caller's access under its worker's policy (policy/policy.h;
 * NULL when no policy is in force, and then everything here allows everything). The dispatcher asks
 * this stage once it knows which server and which of that server's own tools, prompts or resources a
 * message names, and filters every list it answers with, so that what a caller may not use is never
 * shown. A hidden item is answered exactly as an unknown one (the dispatcher does that, with the same
 * words), so nothing tells a caller that it exists. A visible item refused by an argument condition
 * gets a -32003 error that says which condition failed; an OAuth token without a scope an item
 * requires gets HTTP 403 with an `insufficient_scope` challenge naming it (step-up authorization).
 */
#ifndef MG_MCP_AUTHORIZE_H
#define MG_MCP_AUTHORIZE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mcp/exchange.h"
#include "policy/policy.h"

typedef enum en_mg_authorize_t {
    MG_AUTHORIZE_GO = 0,   /* allowed: route it */
    MG_AUTHORIZE_HIDDEN,   /* the caller answers as for an unknown item */
    MG_AUTHORIZE_ANSWERED, /* refused, and the exchange has been answered */
} mg_authorize_t;

/* Decides a call of `local` (the server's own name or URI) on server `server_index`. `arguments`: a
 * tools/call's params.arguments (borrowed, may be NULL), else NULL. Logs every refusal. */
mg_authorize_t mg_authorize_item(mg_exchange_t *exchange, mg_policy_kind_t kind, size_t server_index, const char *local,
                                 const json_t *arguments);
/* Removes from `items` (one server's page of a tools, prompts, resources or resource templates list,
 * as the server named them) what the caller may not see. */
void mg_authorize_filter_list(mg_exchange_t *exchange, const char *method, size_t server_index, json_t *items);
/* Whether the caller may use anything of a capability ("tools", "prompts", "resources", "completions")
 * on a server: what initialize and server/discover advertise. */
bool mg_authorize_uses(const mg_exchange_t *exchange, size_t server_index, const char *capability);
/* A modern subscription's filter (borrowed) without the resourceSubscriptions URIs the caller may not
 * read (a new reference; `filter` itself, retained, when nothing is taken out). */
json_t *mg_authorize_subscription_filter(mg_policy_access_t *access, const mg_config_t *config, long scope,
                                         const mg_principal_t *principal, json_t *filter);
/* Whether a method without an item of its own (lists, ping, ...) may reach a server on a caller's
 * behalf; under a policy, methods the gateway does not know are not forwarded. */
bool mg_authorize_forward_unknown(const mg_exchange_t *exchange);

#endif
