/*
 * policy.h - the authorization engine: which tools, prompts and resources a caller may see and use
 * (roles, bindings, scopes; docs/policy.md).
 *
 * The configuration's `roles`, `bindings` and `scopes` (validated by src/config/policy.c) are
 * compiled once into an immutable, reference-counted mg_policy_t. A caller's roles are resolved once
 * per principal, and each distinct role set gets one mg_policy_access_t that memoizes, per (kind,
 * server, name), what name matching decided: hidden, allowed outright, or the conditional rules left
 * to evaluate and the scopes required. A repeated call therefore costs one hash lookup plus its
 * argument conditions. Reload builds a new policy; requests in flight keep the one they started with.
 *
 * Threads: a policy is shared by every worker (atomic reference count, never modified after
 * mg_policy_create). A cache, and the accesses it hands out, belong to one worker thread: decide,
 * visible and uses_kind write the access's memo. Accesses are reference-counted atomically so that a
 * request may hold one after its cache was cleared, but only their worker's thread may use them.
 *
 * Matching: a tool or prompt pattern is "<server glob>/<name glob>" ("*" means everything), a
 * resource pattern "<server glob>/<uri glob>"; '*' is the only metacharacter and matches any run of
 * bytes, '/' included. Matching is byte-exact and case-sensitive, against the configured server
 * name and the server's own (local) name, never the gateway's public "server__tool".
 */
#ifndef MG_POLICY_POLICY_H
#define MG_POLICY_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/principal.h"
#include "config/config.h"
#include "core/error.h"

typedef struct st_mg_policy_t mg_policy_t;               /* compiled, immutable, atomic refcount */
typedef struct st_mg_policy_access_t mg_policy_access_t; /* one role set's view (+ its memo); refcounted */
typedef struct st_mg_policy_cache_t mg_policy_cache_t;   /* per worker thread: principal -> access */

typedef enum en_mg_policy_kind_t {
    MG_POLICY_TOOL,
    MG_POLICY_PROMPT,
    MG_POLICY_RESOURCE,
    /* a resource template, judged by its uriTemplate text with the resource patterns, without the
     * dot-segment rule (a template is not a path yet); for mg_policy_visible */
    MG_POLICY_RESOURCE_TEMPLATE,
} mg_policy_kind_t;

typedef enum en_mg_policy_verdict_t {
    MG_POLICY_ALLOW,
    MG_POLICY_DENY,       /* visible, but this call's arguments are refused: reason names the condition */
    MG_POLICY_HIDDEN,     /* answer exactly as for an item that does not exist */
    MG_POLICY_NEED_SCOPE, /* allowed by the roles, but the OAuth token lacks a scope: 403 insufficient_scope */
} mg_policy_verdict_t;

/* At most this many scopes are reported in a decision (more would not fit a WWW-Authenticate header anyway). */
#define MG_POLICY_SCOPES_MAX 16

typedef struct st_mg_policy_decision_t {
    mg_policy_verdict_t verdict;
    const char *rule; /* borrowed from the policy, e.g. "role developer allow[0] (gw.yaml:12:9)"; NULL: the default
                       * deny (no rule allows), or no policy at all */
    char reason[320];
    /* NEED_SCOPE: every scope the item requires (the strings are borrowed from the policy) */
    const char *scopes[MG_POLICY_SCOPES_MAX];
    size_t scopes_len;
} mg_policy_decision_t;

/* Compiles the configuration's policy. *out is NULL, with 0 returned, when there is none: auth is not
 * enabled and no roles / bindings / scopes section is written (everything is allowed, as before
 * policies existed). The policy retains `config` (it borrows names, locations and values from it).
 * Fails only when out of memory, or for a regular expression the configuration loader did not see. */
int mg_policy_create(const mg_config_t *config, mg_policy_t **out, mg_error_t *err);
mg_policy_t *mg_policy_retain(mg_policy_t *policy);
void mg_policy_release(mg_policy_t *policy);

/* Warnings for check-config and the start log: calls fn once per warning
 * ("gw.yaml:12:9: roles[1].deny[0]: ..."). `policy` NULL: none. */
void mg_policy_lint(const mg_policy_t *policy, const mg_config_t *config, void (*fn)(void *ctx, const char *warning),
                    void *ctx);

mg_policy_cache_t *mg_policy_cache_create(void); /* NULL when out of memory */
void mg_policy_cache_destroy(mg_policy_cache_t *cache);

/* The caller's access (a new reference). policy NULL gives NULL, which every function below reads as
 * "allow everything". Never NULL for a non-NULL policy: out of memory gives a shared deny-everything
 * access. The cache retains the principal and the policy; a different policy than last time (a
 * reload) empties it first. Worker thread only. */
mg_policy_access_t *mg_policy_access_for(mg_policy_cache_t *cache, mg_policy_t *policy,
                                         const mg_principal_t *principal);
void mg_policy_access_release(mg_policy_access_t *access);
/* The role names, comma-separated in the order of `roles`, for logs ("developer,viewer"); "" for none. */
const char *mg_policy_access_roles(const mg_policy_access_t *access);
/* Whether the access holds one of `roles` (metrics.roles, admin.roles); false for NULL. */
bool mg_policy_access_holds_any(const mg_policy_access_t *access, char *const *roles, size_t roles_len);

/* server_index: into the config->servers the policy was created from (out of range: HIDDEN).
 * arguments: a tool call's arguments (NULL or not an object: every pointer is missing); NULL otherwise.
 * principal: the caller (for scopes); may be NULL, which skips the scopes check. */
void mg_policy_decide(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server_index, const char *name,
                      size_t name_len, const json_t *arguments, const mg_principal_t *principal,
                      mg_policy_decision_t *out);
/* Lists: an item is visible when an allow rule's patterns match it (conditions ignored) and no
 * unconditional deny does. */
bool mg_policy_visible(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server_index, const char *name,
                       size_t name_len);
/* Whether any allow rule can match something of `kind` on that server (for advertised capabilities). */
bool mg_policy_uses_kind(mg_policy_access_t *access, mg_policy_kind_t kind, size_t server_index);

/* "tool", "prompt", "resource", "resource template". */
const char *mg_policy_kind_name(mg_policy_kind_t kind);
/* "allow", "deny", "hidden", "insufficient_scope". */
const char *mg_policy_verdict_name(mg_policy_verdict_t verdict);

/* `mcpgate policy explain`: decides like mg_policy_decide (with a fresh cache) and describes it as a
 * JSON object: the principal, each granted role and what granted it, credential roles ignored, the
 * item, the decision, the deciding rule, the reason, and every rule of the caller's roles whose
 * patterns match the item with its outcome. NULL when out of memory. `policy` NULL: no policy. */
json_t *mg_policy_explain(mg_policy_t *policy, const mg_principal_t *principal, mg_policy_kind_t kind,
                          size_t server_index, const char *name, size_t name_len, const json_t *arguments,
                          mg_policy_decision_t *decision);

/* Whether a condition's `pattern` compiles as the policy compiles it (PCRE2, anchored, UTF); on failure
 * `message` gets "<PCRE2's message> at offset N". For the configuration loader. */
int mg_policy_check_pattern(const char *pattern, char *message, size_t size);

/* Whether `text` matches `glob` ('*' matches any run of bytes; see above). Shared with src/limit/, whose
 * rules name tools, prompts and resources with the same patterns. */
bool mg_policy_glob_match(const char *glob, size_t glob_len, const char *text, size_t text_len);

#endif
