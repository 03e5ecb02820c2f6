/*
 * config.h - the gateway's configuration as an immutable, reference-counted snapshot.
 *
 * A snapshot is built from YAML in one go (parse, expand ${VAR} and ${secret:NAME},
 * validate) and is never modified afterwards, so worker threads read it without locks. Reload builds
 * a new snapshot and swaps it; requests in flight keep the one they started with
 * (mg_config_retain / mg_config_release).
 *
 * Every error names the file, line and column of the offending YAML node:
 *   "gw.yaml:14:7: servers[1].name: \"Search\" must match [a-z0-9-]+"
 *
 * Relative paths (tls cert/key, state_dir, cwd, ca_file, command[0] when it contains a '/')
 * are resolved against the directory of the configuration file at load time, so a
 * snapshot only holds absolute paths (or bare command names looked up in PATH).
 */
#ifndef MG_CONFIG_CONFIG_H
#define MG_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"

typedef struct st_mg_config_kv_t {
    char *key;
    char *value;
} mg_config_kv_t;

typedef struct st_mg_config_listen_t {
    char *address;  /* as written: "127.0.0.1:8080", "[::1]:8080" */
    char *host;     /* "127.0.0.1", "::1" (no brackets) */
    uint16_t port;  /* 0 is allowed: the kernel picks one (tests use it) */
    char *tls_cert; /* NULL when plain HTTP */
    char *tls_key;
} mg_config_listen_t;

typedef enum en_mg_upstream_kind_t {
    MG_UPSTREAM_STDIO = 1,
    MG_UPSTREAM_HTTP = 2,
} mg_upstream_kind_t;

/* How the gateway authenticates itself to an HTTP upstream (servers[].credentials). The client's own
 * credentials never travel upstream, whatever is configured here. */
typedef enum en_mg_credentials_kind_t {
    MG_CREDENTIALS_NONE = 0,
    MG_CREDENTIALS_BEARER,             /* Authorization: Bearer <bearer> */
    MG_CREDENTIALS_HEADERS,            /* static headers (e.g. X-Api-Key) */
    MG_CREDENTIALS_CLIENT_CREDENTIALS, /* an OAuth access token the gateway obtains and refreshes itself */
} mg_credentials_kind_t;

typedef struct st_mg_config_credentials_t {
    mg_credentials_kind_t kind;
    char *bearer;
    mg_config_kv_t *headers;
    size_t headers_len;
    struct {
        char *token_url;
        char *client_id;
        char *client_secret;
        char *scope;    /* space-separated; NULL: none asked */
        char *resource; /* RFC 8707 resource indicator; NULL: none sent */
    } oauth;
} mg_config_credentials_t;

/* servers[].output_validation */
typedef enum en_mg_output_validation_t {
    MG_OUTPUT_ENFORCE = 0, /* a result that breaks its outputSchema becomes an error result */
    MG_OUTPUT_REPORT,      /* passed on, and logged */
    MG_OUTPUT_OFF,
} mg_output_validation_t;

/* servers[].costs: one tool's cost weight (docs/rate-limits.md). */
typedef struct st_mg_config_cost_t {
    char *tool; /* the server's own tool name */
    long long cost;
} mg_config_cost_t;

typedef struct st_mg_config_server_t {
    char *name; /* [a-z0-9-]+, unique */
    mg_upstream_kind_t kind;
    /* stdio */
    char **command; /* argv, NULL-terminated; command_len >= 1 */
    size_t command_len;
    mg_config_kv_t *env; /* added to a scrubbed environment (PATH, HOME, LANG, TERM kept) */
    size_t env_len;
    char *cwd; /* NULL: the gateway's working directory */
    /* http */
    char *url;               /* http:// or https:// */
    mg_config_kv_t *headers; /* sent on every upstream request */
    size_t headers_len;
    bool tls_verify; /* default true */
    char *ca_file;   /* NULL: system trust store */
    mg_config_credentials_t credentials;
    /* both */
    bool required;  /* default true; false: unreachable server is left out, not fatal */
    int timeout_ms; /* default: limits.upstream_timeout_ms */
    /* validation (docs/validation.md) */
    bool strict;           /* reject arguments the tool's inputSchema does not declare; default false */
    bool validate_formats; /* `format` asserts (email, uri, date-time, ...); default false: annotation */
    mg_output_validation_t output_validation; /* structuredContent against outputSchema; default enforce */
    /* cost tracking (docs/rate-limits.md): what one call weighs, summed per principal */
    long long cost;          /* servers[].cost: any call to the server; default 1 */
    mg_config_cost_t *costs; /* servers[].costs: per tool, overriding `cost` */
    size_t costs_len;
} mg_config_server_t;

/* auth.jwt[]: one trusted token issuer. */
typedef struct st_mg_config_jwt_t {
    char *issuer;     /* exact `iss` */
    char **audiences; /* accepted `aud` values; default: auth.resource */
    size_t audiences_len;
    char *jwks_uri;    /* NULL: found by OIDC / RFC 8414 discovery from the issuer */
    char **algorithms; /* allow-list; default RS256, ES256 */
    size_t algorithms_len;
    char *subject_claim; /* default "sub" */
    char *groups_claim;  /* default "groups" */
    char *scopes_claim;  /* default "scope" ("scp" is read too) */
    int clock_skew_s;    /* default 60, at most 300 */
} mg_config_jwt_t;

typedef enum en_mg_mtls_identity_t {
    MG_MTLS_SAN_URI = 1,
    MG_MTLS_SAN_DNS,
    MG_MTLS_SUBJECT_CN,
} mg_mtls_identity_t;

/* The `auth` section. Without one (enabled false) every caller is anonymous, as before it existed. */
typedef struct st_mg_config_auth_t {
    bool enabled;
    char *resource; /* canonical URI of the gateway's /mcp: the token audience and the metadata's resource */
    bool required;  /* default true; false: callers without credentials are anonymous (development only) */
    mg_config_jwt_t *jwt;
    size_t jwt_len;
    struct {
        char *url; /* NULL: no introspection */
        char *client_id;
        char *client_secret;
        int cache_s; /* how long an answer is trusted; default 60, at most 600 */
    } introspection;
    bool api_keys;
    struct {
        char *client_ca; /* NULL: no client certificates */
        mg_mtls_identity_t identity;
    } mtls;
    char **scopes_required; /* every request needs all of them; advertised in challenges and metadata */
    size_t scopes_required_len;
    char **authorization_servers; /* advertised in the resource metadata; default: the jwt issuers */
    size_t authorization_servers_len;
} mg_config_auth_t;

/* ---- roles, bindings, scopes: the authorization policy (docs/policy.md) ----------------------------
 * Written as the user wrote it, validated at load (src/config/policy.c); src/policy/ compiles it. Every
 * element keeps where it was written ("gw.yaml:12:9") and its dotted path ("roles[1].allow[0]") for
 * messages, warnings and `mcpgate policy explain`. */

/* A tools / prompts / resources pattern: "<server glob>/<name glob>" ("*" alone is "*" + "*"). */
typedef struct st_mg_config_pattern_t {
    char *text;     /* as written */
    char *server;   /* the part before the first '/': [a-z0-9-*]+ */
    char *name;     /* the rest (tool or prompt name, or resource URI); non-empty; may contain '/' */
    char *location; /* "gw.yaml:12:9" */
    char *path;     /* "roles[1].allow[0].tools[0]" */
} mg_config_pattern_t;

typedef enum en_mg_config_pattern_kind_t {
    MG_CONFIG_TOOLS = 0,
    MG_CONFIG_PROMPTS = 1,
    MG_CONFIG_RESOURCES = 2,
} mg_config_pattern_kind_t;
#define MG_CONFIG_PATTERN_KINDS 3

/* One `when.args` entry: a JSON pointer and the conditions its value must meet (all of them). */
typedef struct st_mg_config_condition_t {
    char *pointer; /* as written: "/repo" */
    char **tokens; /* RFC 6901 reference tokens, unescaped (~0 ~1); tokens_len >= 1 */
    size_t tokens_len;
    char *location; /* of the pointer's key */
    char *path;     /* "roles[1].allow[0].when.args./repo" */
    json_t *equals; /* any JSON value; NULL: not set */
    json_t *in;     /* array; NULL: not set */
    char *prefix;   /* NULL: not set */
    char *suffix;
    char *pattern;        /* PCRE2, anchored at both ends */
    long long max_length; /* code points; -1: not set */
    bool has_min, has_max;
    double min, max;
    long long min_items, max_items; /* -1: not set */
    int exists;                     /* -1: not set; 0 or 1 (absent: true is stored as exists 0) */
} mg_config_condition_t;

typedef struct st_mg_config_rule_t {
    mg_config_pattern_t *patterns[MG_CONFIG_PATTERN_KINDS]; /* by mg_config_pattern_kind_t */
    size_t patterns_len[MG_CONFIG_PATTERN_KINDS];
    mg_config_condition_t *conditions; /* when.args; tools only */
    size_t conditions_len;
    char *location;
    char *path; /* "roles[1].allow[0]" */
} mg_config_rule_t;

typedef struct st_mg_config_role_t {
    char *name; /* [A-Za-z0-9._:-]+, unique (the characters API key roles may use) */
    mg_config_rule_t *allow;
    size_t allow_len;
    mg_config_rule_t *deny;
    size_t deny_len;
    char *location;
    char *path; /* "roles[1]" */
} mg_config_role_t;

/* bindings[].match: every key set here must hold (NULL / -1: not set). */
typedef struct st_mg_config_binding_t {
    char *role;
    size_t role_index; /* into policy.roles */
    char *subject;
    char *issuer;
    char *claim; /* with claim_contains or claim_equals */
    char *claim_contains;
    char *claim_equals;
    char *api_key;
    char *certificate;
    int method;        /* mg_auth_method_t; -1: any */
    int authenticated; /* -1: not set; 0: only the anonymous caller; 1: any other */
    char *location;
    char *path; /* "bindings[0]" */
} mg_config_binding_t;

/* scopes[]: OAuth scopes a matching item needs beyond roles. */
typedef struct st_mg_config_scope_rule_t {
    mg_config_pattern_t *patterns[MG_CONFIG_PATTERN_KINDS];
    size_t patterns_len[MG_CONFIG_PATTERN_KINDS];
    char **require; /* NULL-terminated; require_len >= 1 */
    size_t require_len;
    char *location;
    char *path; /* "scopes[0]" */
} mg_config_scope_rule_t;

typedef struct st_mg_config_policy_t {
    bool present; /* a roles, bindings or scopes section was written (even empty) */
    mg_config_role_t *roles;
    size_t roles_len;
    mg_config_binding_t *bindings;
    size_t bindings_len;
    mg_config_scope_rule_t *scopes;
    size_t scopes_len;
} mg_config_policy_t;

/* ---- rate_limits: rate limits, quotas, concurrency limits (docs/rate-limits.md) ---------------------
 * Validated by src/config/limits.c; src/limit/ compiles and enforces it. */

typedef enum en_mg_config_limit_kind_t {
    MG_LIMIT_RATE = 1,    /* `rate: N/unit` (+ `burst`): GCRA */
    MG_LIMIT_QUOTA,       /* `quota: N/unit`: N per calendar window, UTC */
    MG_LIMIT_CONCURRENCY, /* `concurrency: N`: calls in flight */
} mg_config_limit_kind_t;

typedef enum en_mg_config_limit_key_t {
    MG_LIMIT_KEY_PRINCIPAL = 0,
    MG_LIMIT_KEY_PRINCIPAL_SERVER,
    MG_LIMIT_KEY_PRINCIPAL_TOOL,
    MG_LIMIT_KEY_SERVER,
    MG_LIMIT_KEY_TOOL,
    MG_LIMIT_KEY_CLIENT_IP,
} mg_config_limit_key_t;

/* The methods a rule may count (`methods:`); the default is tools/call, prompts/get and resources/read. */
#define MG_LIMIT_METHOD_TOOLS_CALL (1u << 0)
#define MG_LIMIT_METHOD_PROMPTS_GET (1u << 1)
#define MG_LIMIT_METHOD_RESOURCES_READ (1u << 2)
#define MG_LIMIT_METHOD_RESOURCES_SUBSCRIBE (1u << 3)
#define MG_LIMIT_METHOD_RESOURCES_UNSUBSCRIBE (1u << 4)
#define MG_LIMIT_METHOD_COMPLETION_COMPLETE (1u << 5)
#define MG_LIMIT_METHODS_DEFAULT                                                                                       \
    (MG_LIMIT_METHOD_TOOLS_CALL | MG_LIMIT_METHOD_PROMPTS_GET | MG_LIMIT_METHOD_RESOURCES_READ)

/* The MG_LIMIT_METHOD_* bit of `method`, or 0 for a method no rule may count. */
unsigned mg_config_limit_method_bit(const char *method);

typedef struct st_mg_config_limit_rule_t {
    char *name; /* [A-Za-z0-9._:-]{1,64}, unique: errors, logs and counters name it */
    mg_config_limit_kind_t kind;
    mg_config_limit_key_t key;
    long long count;    /* rate: N per period; quota: N per window; concurrency: N at once */
    long long period_s; /* rate and quota: 1, 60, 3600 or 86400; concurrency: 0 */
    long long burst;    /* rate: calls allowed at once from rest; default `count` */
    bool observe;       /* mode: observe (count and log, never refuse) */
    unsigned methods;   /* MG_LIMIT_METHOD_* */
    mg_config_pattern_t *patterns[MG_CONFIG_PATTERN_KINDS]; /* tools / prompts / resources; none: any item */
    size_t patterns_len[MG_CONFIG_PATTERN_KINDS];
    char **servers; /* server name globs ([a-z0-9-*]); NULL: any server */
    size_t servers_len;
    char *location;
    char *path; /* "rate_limits.rules[0]" */
} mg_config_limit_rule_t;

typedef struct st_mg_config_rate_limits_t {
    bool present;
    bool observe;       /* rate_limits.mode: observe; the default for every rule */
    long long max_keys; /* counters kept at most (memory bound); default 100000 */
    mg_config_limit_rule_t *rules;
    size_t rules_len;
} mg_config_rate_limits_t;

typedef struct st_mg_config_limits_t {
    size_t max_body_bytes;   /* default 4194304 */
    int max_json_depth;      /* default 64 */
    int upstream_timeout_ms; /* default 60000 */
} mg_config_limits_t;

typedef struct st_mg_config_secrets_t {
    char *dir;             /* secrets.dir: files named after secrets; NULL when not set */
    char *master_key_file; /* secrets.master_key_file; NULL when not set */
} mg_config_secrets_t;

/* audit.fsync: when the audit writer syncs its file to disk (docs/observability.md). */
typedef enum en_mg_audit_fsync_t {
    MG_AUDIT_FSYNC_ALWAYS = 0, /* after every batch, before its records count as written */
    MG_AUDIT_FSYNC_INTERVAL,   /* at most every fsync_interval_ms */
    MG_AUDIT_FSYNC_NEVER,      /* left to the kernel (and to mg_audit_flush) */
} mg_audit_fsync_t;

/* audit.arguments: what a record keeps of a call's arguments besides their SHA-256 digest. */
typedef enum en_mg_audit_arguments_t {
    MG_AUDIT_ARGUMENTS_REDACTED = 0, /* structure, keys, numbers, booleans, null; every string "[REDACTED]" */
    MG_AUDIT_ARGUMENTS_DIGEST,       /* the digest only */
    MG_AUDIT_ARGUMENTS_FULL,         /* the arguments as sent (canonical form) */
} mg_audit_arguments_t;

#define MG_AUDIT_SEED_BYTES 32

/* The `audit` section. Without one (enabled false) nothing is recorded. */
typedef struct st_mg_config_audit_t {
    bool enabled;
    char *file;   /* the hash-chained JSON-lines file; absolute */
    char *sqlite; /* the queryable index; absolute; NULL: none */
    mg_audit_fsync_t fsync;
    int fsync_interval_ms; /* MG_AUDIT_FSYNC_INTERVAL only */
    mg_audit_arguments_t arguments;
    bool has_signing_key;                            /* false: no checkpoints are written */
    unsigned char signing_seed[MG_AUDIT_SEED_BYTES]; /* Ed25519 seed (signing_key, base64-decoded) */
    uint64_t checkpoint_every;                       /* records between signed checkpoints; default 1000 */
    uint64_t rotate_size;                            /* bytes; 0: no rotation by size */
    uint64_t rotate_interval_s;                      /* seconds; 0: no rotation by time */
    size_t queue;                                    /* capacity of the writer's queue (records); default 65536 */
} mg_config_audit_t;

/* The `tracing` section (docs/observability.md, "Traces"). Without one (enabled false) nothing is traced. */
typedef struct st_mg_config_tracing_t {
    bool enabled;
    char *otlp_endpoint;     /* http:// or https:// URL the OTLP/HTTP JSON batches are POSTed to */
    double sample_ratio;     /* 0..1: share of requests without a parent context that are sampled; default 1 */
    char *service_name;      /* resource attribute service.name; default "mcpgate" */
    size_t batch_size;       /* spans per POST at most; default 512 */
    int export_interval_ms;  /* longest a finished span waits for its batch; default 2000 */
    int export_timeout_ms;   /* one POST's deadline; default 10000 */
    size_t queue;            /* spans waiting for export at most (more are dropped and counted); default 8192 */
    mg_config_kv_t *headers; /* sent with every POST (e.g. an API key from ${secret:...}) */
    size_t headers_len;
} mg_config_tracing_t;
/* metrics.require: who may scrape (docs/observability.md, "Metrics"). */
typedef enum en_mg_metrics_require_t {
    MG_METRICS_REQUIRE_NONE = 0,      /* anyone who can reach the address */
    MG_METRICS_REQUIRE_AUTHENTICATED, /* a credential the gateway accepts for /mcp (anonymous refused) */
} mg_metrics_require_t;

/* The `metrics` section. Without one (enabled false) there is no endpoint. */
typedef struct st_mg_config_metrics_t {
    bool enabled;
    char *path;                   /* default "/metrics" */
    mg_config_listen_t listen;    /* listen.address NULL: served on the main listeners */
    mg_metrics_require_t require; /* default: authenticated on the main listeners with an auth section, else none */
    char **roles;                 /* non-empty: the caller must hold one of these roles (implies authenticated) */
    size_t roles_len;
    long long max_tools;  /* tool names kept as label values; default 2048 */
    long long max_series; /* label sets per worker; default 2048 */
} mg_config_metrics_t;

/* The `admin` section (docs/configuration.md, "admin"; http/admin.h). Without one (enabled false) there is
 * no admin API. */
typedef struct st_mg_config_admin_t {
    bool enabled;
    mg_config_listen_t listen; /* its own listener, never one of `listen` (TLS optional, as there) */
    char **roles;              /* the caller must hold one of these roles (non-empty) */
    size_t roles_len;
} mg_config_admin_t;

/* pins.mode: what a changed tool definition meets (docs/guards.md, "Tool pinning"; src/guard/pins.h). */
typedef enum en_mg_pins_mode_t {
    MG_PINS_ENFORCE = 0, /* the default: quarantined (hidden from lists, calls refused) until approved */
    MG_PINS_WARN,        /* served, the change audited and logged; the old pin stays */
    MG_PINS_OFF,         /* no hashing, no store */
} mg_pins_mode_t;

/* The `pins` section. Without one the mode is enforce. */
typedef struct st_mg_config_pins_t {
    mg_pins_mode_t mode;
} mg_config_pins_t;

/* "enforce", "warn" or "off". */
const char *mg_config_pins_mode_name(mg_pins_mode_t mode);

/* ---- approvals: calls held until a person decides (docs/guards.md, "Human approval"; guard/approvals.h) */

typedef enum en_mg_approver_t {
    MG_APPROVER_ADMIN = 0, /* an operator, through `mcpgate approvals approve|deny ID` */
    MG_APPROVER_USER,      /* the caller's own user, asked through elicitation or an input-required result */
} mg_approver_t;

/* One entry of `approvals`: tools/calls whose "<server>/<tool>" a pattern matches are held. */
typedef struct st_mg_config_approval_t {
    mg_config_pattern_t *tools; /* the policy's patterns (server glob, name glob) */
    size_t tools_len;           /* >= 1 */
    mg_approver_t approver;
    long long timeout_s; /* 1 .. 86400; default 300: then the call is denied */
    char *path;          /* "approvals[0]": the rule's name in errors, logs and the audit record */
} mg_config_approval_t;

/* The `approvals` section: the first rule that matches a call holds it. Empty without the section. */
typedef struct st_mg_config_approvals_t {
    mg_config_approval_t *rules;
    size_t rules_len;
} mg_config_approvals_t;

/* ---- guards: detection of secrets, personal data, injection and poisoning (docs/guards.md) ---------- */
typedef enum en_mg_guard_action_t {
    MG_GUARD_ACTION_OFF = 0,
    MG_GUARD_ACTION_FLAG,       /* report (audit, _meta), let it through */
    MG_GUARD_ACTION_REDACT,     /* replace the match with [REDACTED:<type>] */
    MG_GUARD_ACTION_BLOCK,      /* refuse the message */
    MG_GUARD_ACTION_WRAP,       /* injection: quote the text as untrusted data */
    MG_GUARD_ACTION_QUARANTINE, /* poisoning: hide the tool until an operator approves it */
} mg_guard_action_t;

/* guards.pii.types: which personal-data detectors act (the others still report, with action off). */
enum {
    MG_GUARD_PII_EMAIL = 1u << 0,
    MG_GUARD_PII_CARD = 1u << 1,
    MG_GUARD_PII_SSN = 1u << 2,
    MG_GUARD_PII_PHONE = 1u << 3,
    MG_GUARD_PII_IBAN = 1u << 4,
    MG_GUARD_PII_IP = 1u << 5,
};

typedef struct st_mg_config_guard_custom_t {
    char *name;
    char *pattern;
    int validator; /* mg_guard_validator_t (guard/detect.h) */
    double min_entropy;
    unsigned kind; /* one MG_GUARD_* kind bit (guard/detect.h) */
    mg_guard_action_t action;
} mg_config_guard_custom_t;

/* guards.webhook: an outside service's verdict on each routed request, its answer, or both (docs/guards.md,
 * "Webhook"). */
typedef struct st_mg_config_webhook_t {
    char *url;               /* http:// or https:// endpoint the description is POSTed to; NULL: no webhook */
    int timeout_ms;          /* how long a request waits for the verdict; default 200 */
    bool on_error_allow;     /* on_error: allow (a failed verdict lets the request go, logged); default block */
    mg_config_kv_t *headers; /* sent with every POST (e.g. an API key from ${secret:...}) */
    size_t headers_len;
    bool requests;  /* directions: asked about each routed request before it is sent (default) */
    bool responses; /* directions: asked about each routed request's answer before the client gets it */
} mg_config_webhook_t;

/* The `guards` section's detection keys. Without a section (enabled false) every action is off and no
 * detector is compiled; with one, absent keys take the defaults of docs/guards.md. */
typedef struct st_mg_config_guards_t {
    bool enabled;
    mg_guard_action_t secrets_requests, secrets_responses;
    mg_guard_action_t pii_requests, pii_responses;
    unsigned pii_types; /* MG_GUARD_PII_* */
    mg_guard_action_t injection_responses;
    mg_guard_action_t poisoning_tools;
    mg_config_guard_custom_t *custom;
    size_t custom_len;
    struct st_mg_guard_detectors_t *detectors; /* built-in + custom, compiled at load; NULL when !enabled */
    mg_config_webhook_t webhook;
} mg_config_guards_t;

typedef struct st_mg_config_t {
    char *source;         /* file path, or "<embedded>" */
    _Atomic int refcount; /* C11 atomic; use retain/release */
    mg_config_listen_t *listen;
    size_t listen_len;      /* >= 1 */
    int workers;            /* default: number of online cores */
    char *state_dir;        /* default "./var" resolved against the config directory */
    char *tool_separator;   /* default "__" */
    char **allowed_origins; /* patterns; '*' matches any run of characters; NULL-terminated */
    size_t allowed_origins_len;
    mg_config_limits_t limits;
    char *log_level; /* "debug" | "info" | "warn" | "error"; default "info" */
    mg_config_server_t *servers;
    size_t servers_len;
    mg_config_secrets_t secrets; /* where ${secret:NAME} looks besides the environment */
    mg_config_auth_t auth;
    mg_config_policy_t policy; /* roles, bindings, scopes */
    mg_config_rate_limits_t rate_limits;
    mg_config_audit_t audit;
    mg_config_tracing_t tracing;
    mg_config_metrics_t metrics;
    mg_config_admin_t admin;
    mg_config_pins_t pins;
    mg_config_approvals_t approvals;

    mg_config_guards_t guards;
} mg_config_t;

typedef enum en_mg_config_scope_t {
    MG_CONFIG_FULL = 0,
    /* Only state_dir, secrets and pins are loaded (the other top-level keys must still be known ones),
     * and every other field is left zero. For the `keys`, `secrets` and `tools` commands: they need the
     * store, and a file whose values reference secrets that are not stored yet must still name it. */
    MG_CONFIG_STATE_ONLY = 1,
} mg_config_scope_t;

/* Loads and validates a YAML file. On success *out holds a snapshot with refcount 1.
 * state_dir and secrets are read first; ${secret:NAME} in any later value is resolved through
 * auth/secrets.h (environment, secrets.dir, the encrypted store in state_dir), and may not be used
 * in state_dir or secrets themselves. */
int mg_config_load_file(const char *path, mg_config_t **out, mg_error_t *err);
/* Same from memory; `name` appears in error messages and relative paths resolve against `base_dir`. */
int mg_config_load_string(const char *yaml, size_t len, const char *name, const char *base_dir, mg_config_t **out,
                          mg_error_t *err);
/* The same two with a scope (the two above are MG_CONFIG_FULL). */
int mg_config_load_file_scoped(const char *path, mg_config_scope_t scope, mg_config_t **out, mg_error_t *err);
int mg_config_load_string_scoped(const char *yaml, size_t len, const char *name, const char *base_dir,
                                 mg_config_scope_t scope, mg_config_t **out, mg_error_t *err);

mg_config_t *mg_config_retain(mg_config_t *config);
void mg_config_release(mg_config_t *config);

/* Finds a server by name; NULL when absent. */
const mg_config_server_t *mg_config_find_server(const mg_config_t *config, const char *name);
/* The actions a `guards:` section starts from (docs/guards.md; `mcpgate scan` without -c uses them). */
void mg_config_guards_defaults(mg_config_guards_t *guards);
/* True when `origin` matches one of allowed_origins (exact, with '*' wildcards). */
bool mg_config_origin_allowed(const mg_config_t *config, const char *origin, size_t origin_len);

#endif
