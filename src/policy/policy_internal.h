/*
 * policy_internal.h - what the files of src/policy share.
 *
 * compile.c turns the configuration into mg_policy_t: per role, per kind and per server, the list of
 * (name glob, rule) entries that can apply, so that server globs are matched once, at compile time.
 * match.c matches names and URIs, conditions.c evaluates a rule's argument conditions, access.c
 * resolves role sets, merges their lists and memoizes decisions, explain.c and lint.c describe.
 */
#ifndef MG_POLICY_INTERNAL_H
#define MG_POLICY_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>

#include "policy/policy.h"

/* Kinds of pattern lists: tools, prompts, resources (templates use the resource lists). */
#define MG_POLICY_LISTS 3

typedef enum en_mg_policy_truth_t {
    MG_POLICY_HOLDS = 0,
    MG_POLICY_UNKNOWN = 1, /* missing, wrong type, or too costly to tell: fails closed either way */
    MG_POLICY_FAILS = 2,
} mg_policy_truth_t;

typedef struct st_mg_policy_condition_t {
    const mg_config_condition_t *config;
    pcre2_code *regex; /* NULL without `pattern` */
    pcre2_match_context *match_context;
    bool jit; /* the regex is JIT-compiled: matched by pcre2_jit_match, without pcre2_match's checks */
    size_t prefix_len, suffix_len;
    size_t pointer_id; /* conditions on the same pointer share an id (compile.c): a call resolves it once */
    unsigned checks;   /* MG_POLICY_CHECK_* that the condition makes, so that a call skips the others */
    bool prefix_only;  /* a prefix and nothing else (the common `{prefix: "acme/"}`): a call that wants no
                        * reason decides it on a string value without the general evaluation */
} mg_policy_condition_t;

#define MG_POLICY_CHECK_EQUALS 1u
#define MG_POLICY_CHECK_IN 2u
#define MG_POLICY_CHECK_STRING 4u /* prefix, suffix, pattern, max_length */
#define MG_POLICY_CHECK_NUMBER 8u /* min, max */
#define MG_POLICY_CHECK_ITEMS 16u /* min_items, max_items */

typedef struct st_mg_policy_rule_t {
    const mg_config_rule_t *config;
    char *label; /* "role developer allow[0] (gw.yaml:12:9)" */
    size_t role;
    bool deny;
    mg_policy_condition_t *conditions;
    size_t conditions_len; /* 0: unconditional */
    size_t conditions_id;  /* rules with the same conditions share an id: one evaluation answers for all */
} mg_policy_rule_t;

typedef struct st_mg_policy_scope_t {
    const mg_config_scope_rule_t *config;
    char *label; /* "scopes[0] (gw.yaml:30:5)" */
} mg_policy_scope_t;

/* One pattern, for one server: its name glob and what it belongs to. */
typedef struct st_mg_policy_entry_t {
    const char *glob; /* the name part; "*" matches everything */
    size_t glob_len;
    bool any; /* glob is exactly "*" */
    const mg_config_pattern_t *pattern;
    const mg_policy_rule_t *rule;   /* roles' entries */
    const mg_policy_scope_t *scope; /* scopes' entries */
} mg_policy_entry_t;

typedef struct st_mg_policy_list_t {
    mg_policy_entry_t *entries;
    size_t len;
} mg_policy_list_t;

/* lists[list index] with list index = (kind * servers_len + server) * 2 + deny */
typedef struct st_mg_policy_role_t {
    const mg_config_role_t *config;
    mg_policy_rule_t *allow, *deny;
    mg_policy_list_t *lists;
} mg_policy_role_t;

struct st_mg_policy_t {
    _Atomic int refcount;
    mg_config_t *config; /* retained */
    size_t servers_len, roles_len, scopes_len;
    mg_policy_role_t *roles;
    mg_policy_scope_t *scopes;
    mg_policy_list_t *scope_lists; /* [kind * servers_len + server] */
};

static inline size_t mg_policy_list_index(const mg_policy_t *policy, size_t kind, size_t server, bool deny)
{
    return (kind * policy->servers_len + server) * 2 + (deny ? 1 : 0);
}

static inline size_t mg_policy_list_of(mg_policy_kind_t kind)
{
    return kind == MG_POLICY_RESOURCE_TEMPLATE ? MG_POLICY_RESOURCE : (size_t)kind;
}

typedef struct st_mg_policy_memo_entry_t mg_policy_memo_entry_t;

/* One role set's view (access.c); the memo is decide.c's. */
struct st_mg_policy_access_t {
    _Atomic int refcount;
    mg_policy_t *policy;           /* retained; NULL for the shared deny-everything access */
    uint64_t *roles;               /* bit set of policy->roles_len bits */
    char *roles_text;              /* "developer,viewer" */
    mg_policy_list_t *lists;       /* the roles' lists merged: [mg_policy_list_index] */
    bool *uses;                    /* [kind * servers_len + server]: the merged allow list is not empty */
    mg_policy_memo_entry_t **memo; /* MG_POLICY_MEMO_BUCKETS chains; NULL until the first decision */
    size_t memo_len;
    pcre2_match_data *match_data; /* for `pattern` conditions; made on first use */
};

#define MG_POLICY_MEMO_BUCKETS 1024
#define MG_POLICY_MEMO_MAX 4096 /* entries per access; the memo is emptied when it is full */

/* ---- decide.c ---- */
void mg_policy_memo_clear(mg_policy_access_t *access);

/* ---- match.c ---- */
bool mg_policy_glob_match(const char *glob, size_t glob_len, const char *text, size_t text_len);
/* A URI with a dot segment (raw or percent-encoded), an encoded '/' or '\', or a backslash. */
bool mg_policy_uri_suspicious(const char *uri, size_t len);
/* Whether `entry` applies to the item. Resources with a suspicious URI fail closed: a deny (or a scopes
 * entry) applies, an allow does not, unless the glob is exactly "*". */
bool mg_policy_entry_matches(const mg_policy_entry_t *entry, const char *name, size_t name_len, bool suspicious,
                             bool fail_closed_matches);

/* ---- conditions.c ---- */

/* An argument a call's conditions looked up: its value (NULL: missing) and, for a string, its text, so
 * that the rules testing it ask jansson once. */
typedef struct st_mg_policy_resolved_t {
    size_t pointer_id;
    const json_t *value;
    const char *text; /* NULL unless value is a string */
    size_t len;
} mg_policy_resolved_t;

/* One call's arguments, with the values of the pointers resolved so far: rules that test the same
 * argument look it up once. */
#define MG_POLICY_RESOLVED_MAX 8
typedef struct st_mg_policy_args_t {
    const json_t *arguments;
    pcre2_match_data **match_data; /* where a reusable match block is kept (NULL: one per match) */
    size_t resolved_len;
    mg_policy_resolved_t resolved[MG_POLICY_RESOLVED_MAX];
} mg_policy_args_t;

int mg_policy_condition_compile(const mg_config_condition_t *config, mg_policy_condition_t *out, mg_error_t *err);
void mg_policy_condition_dispose(mg_policy_condition_t *condition);
/* All of a rule's conditions: FAILS if one fails, else UNKNOWN if one cannot be told, else HOLDS.
 * `reason` (optional) describes the first condition that does not hold, or, when all hold, the first one. */
mg_policy_truth_t mg_policy_rule_conditions(const mg_policy_rule_t *rule, mg_policy_args_t *args, char *reason,
                                            size_t reason_size);
/* The first of rules[0..len) that applies to the call: for deny rules, the first whose conditions do not
 * fail (an argument that cannot be told denies); for allow rules, the first whose conditions hold. `len`
 * when none does. The way calls are decided: no reason is written. */
size_t mg_policy_first_applying(const mg_policy_rule_t *const *rules, size_t len, bool denies, mg_policy_args_t *args);
/* A text that two rules' conditions share exactly when they are the same checks on the same pointers
 * (compile.c interns rules by it); NULL when out of memory. The caller frees it. */
char *mg_policy_conditions_key(const mg_policy_rule_t *rule);

/* ---- access.c ---- */
/* The roles `principal` has, as a bit set of policy->roles_len bits; `granted` (optional) hears of each
 * grant (binding NULL: the credential's own roles), `ignored` of credential roles that are not defined. */
void mg_policy_resolve_roles(const mg_policy_t *policy, const mg_principal_t *principal, uint64_t *bits,
                             void (*granted)(void *ctx, size_t role, const mg_config_binding_t *binding),
                             void (*ignored)(void *ctx, const char *role), void *ctx);
bool mg_policy_binding_matches(const mg_config_binding_t *binding, const mg_principal_t *principal);

#endif
