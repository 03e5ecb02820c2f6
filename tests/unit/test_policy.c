/*
 * test_policy.c - the authorization engine: matcher, conditions, compiler, role sets and their memo,
 * scopes, explain and lint (src/policy/).
 *
 * Policies are inline YAML loaded as "gw.yaml" through the real configuration loader, so every test
 * also exercises what an operator writes. Each test pins one behaviour of docs/policy.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy/policy_internal.h"

#define SERVERS                                                                                                        \
    "servers:\n"                                                                                                       \
    "  - {name: github, url: 'https://gh.internal/mcp'}\n"                                                             \
    "  - {name: docs, url: 'https://docs.internal/mcp'}\n"                                                             \
    "  - {name: files, url: 'https://files.internal/mcp'}\n"                                                           \
    "auth: {resource: 'https://gw/mcp', api_keys: {enabled: true}}\n"

/* The issue's example, verbatim apart from the servers. */
static const char issue_policy[] = SERVERS "roles:\n"
                                           "  - name: viewer\n"
                                           "    allow:\n"
                                           "      - tools: [\"*/search_*\", \"*/get_*\", \"*/list_*\"]\n"
                                           "      - prompts: [\"*\"]\n"
                                           "      - resources: [\"docs/*\"]\n"
                                           "  - name: developer\n"
                                           "    allow:\n"
                                           "      - tools: [\"github/*\"]\n"
                                           "        when:\n"
                                           "          args:\n"
                                           "            /repo: {prefix: \"acme/\"}\n"
                                           "            /labels: {max_items: 5}\n"
                                           "    deny:\n"
                                           "      - tools: [\"github/delete_*\"]\n"
                                           "  - name: admin\n"
                                           "    allow: [{tools: [\"*\"]}, {prompts: [\"*\"]}, {resources: [\"*\"]}]\n"
                                           "bindings:\n"
                                           "  - role: developer\n"
                                           "    match: {claim: groups, contains: eng}\n"
                                           "  - role: admin\n"
                                           "    match: {subject: alice@example.com}\n"
                                           "  - role: viewer\n"
                                           "    match: {api_key: ci-bot}\n"
                                           "  - role: viewer\n"
                                           "    match: {authenticated: true}\n"
                                           "scopes:\n"
                                           "  - tools: [\"*/create_*\", \"*/delete_*\"]\n"
                                           "    require: [mcp:write]\n";

enum { GITHUB = 0, DOCS = 1, FILES = 2 };

static mg_config_t *load(const char *yaml)
{
    mg_config_t *config = NULL;
    mg_error_t err = {{0}};
    if (mg_config_load_string(yaml, strlen(yaml), "gw.yaml", "/etc/mcpgate", &config, &err) != 0)
        fail_msg("unexpected error: %s", err.message);
    return config;
}

static mg_policy_t *compile(const char *yaml)
{
    mg_config_t *config = load(yaml);
    mg_policy_t *policy = NULL;
    mg_error_t err = {{0}};
    if (mg_policy_create(config, &policy, &err) != 0)
        fail_msg("unexpected error: %s", err.message);
    mg_config_release(config); /* the policy holds its own reference */
    assert_non_null(policy);
    return policy;
}

static void add_strings(json_t *array, const char *list)
{
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", list != NULL ? list : "");
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
        json_array_append_new(array, json_string(item));
}

static mg_principal_t *jwt(const char *subject, const char *groups, const char *scopes)
{
    mg_principal_t *principal = mg_principal_create(MG_AUTH_JWT, subject, "https://idp", NULL);
    add_strings(principal->groups, groups);
    add_strings(principal->scopes, scopes);
    principal->claims = json_pack("{s:s, s:s, s:[s,s]}", "sub", subject, "dept", "finance", "teams", "red", "blue");
    return principal;
}

static mg_principal_t *api_key(const char *name, const char *roles)
{
    mg_principal_t *principal = mg_principal_create(MG_AUTH_API_KEY, name, NULL, "k1");
    add_strings(principal->roles, roles);
    return principal;
}

/* One decision with a fresh cache; `args` is JSON text or NULL. */
static mg_policy_verdict_t decide_full(mg_policy_t *policy, const mg_principal_t *principal, mg_policy_kind_t kind,
                                       size_t server, const char *name, const char *args, mg_policy_decision_t *out)
{
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_policy_access_t *access = mg_policy_access_for(cache, policy, principal);
    json_t *arguments = args != NULL ? json_loads(args, 0, NULL) : NULL;
    if (args != NULL && arguments == NULL)
        fail_msg("bad test JSON: %s", args);
    mg_policy_decide(access, kind, server, name, strlen(name), arguments, principal, out);
    json_decref(arguments);
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    return out->verdict;
}

static mg_policy_verdict_t decide(mg_policy_t *policy, const mg_principal_t *principal, mg_policy_kind_t kind,
                                  size_t server, const char *name, const char *args)
{
    mg_policy_decision_t decision;
    return decide_full(policy, principal, kind, server, name, args, &decision);
}

static mg_policy_verdict_t tool(mg_policy_t *policy, const mg_principal_t *principal, size_t server, const char *name,
                                const char *args)
{
    return decide(policy, principal, MG_POLICY_TOOL, server, name, args);
}

/* ---- matcher ---- */

static bool glob(const char *pattern, const char *text)
{
    return mg_policy_glob_match(pattern, strlen(pattern), text, strlen(text));
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(glob("*", ""));
    assert_true(glob("*", "a/b/c"));
    assert_true(glob("get_*", "get_"));
    assert_true(glob("get_*", "get_issue"));
    assert_true(glob("get_*", "get_a/b")); /* '*' crosses '/' */
    assert_true(glob("*_issue", "get_issue"));
    assert_true(glob("a*b*c", "aXbYbZc"));
    assert_true(glob("a**b", "ab"));
    assert_true(glob("repos/*/issues", "repos/acme/x/issues"));
    assert_false(glob("get_*", "GET_issue")); /* case-sensitive */
    assert_false(glob("get_*", "Get_issue"));
    assert_false(glob("get_*", "g\xd0\xb5t_issue")); /* Cyrillic 'е' */
    assert_false(glob("get_*", "\xef\xbd\x87"
                               "et_x")); /* full-width 'g' */
    assert_false(glob("get_*", " get_x"));
    assert_false(glob("get_*", "xget_x"));
    assert_false(glob("a*b*c", "aXbYbZ"));
    assert_false(glob("", "x"));
    assert_true(glob("", ""));
    assert_false(glob("x", ""));
    /* a long run that would be exponential for a naive backtracking matcher */
    char text[4001];
    memset(text, 'a', 4000);
    text[4000] = '\0';
    assert_false(glob("*a*a*a*a*a*a*a*b", text));
}

static bool suspicious(const char *uri)
{
    return mg_policy_uri_suspicious(uri, strlen(uri));
}

static void test_uri_suspicious(void **state)
{
    (void)state;
    assert_true(suspicious("file:///pub/../etc/passwd"));
    assert_true(suspicious("file:///pub/./x"));
    assert_true(suspicious("file:///pub/.."));
    assert_true(suspicious("file:///pub/."));
    assert_true(suspicious("file:///pub/%2e%2e/etc/passwd"));
    assert_true(suspicious("file:///pub/%2E%2e/etc"));
    assert_true(suspicious("file:///pub/.%2E/etc"));
    assert_true(suspicious("file:///pub/%252e%252e/etc")); /* encoded twice */
    assert_true(suspicious("file:///pub/..%2fetc/passwd"));
    assert_true(suspicious("file:///pub%2F..%2Fetc"));
    assert_true(suspicious("file:///pub/a%5c..%5cb"));
    assert_true(suspicious("file:///pub\\..\\etc"));
    assert_true(suspicious("../etc"));
    assert_false(suspicious("file:///pub/a.txt"));
    assert_false(suspicious("file:///pub/...")); /* not a dot segment */
    assert_false(suspicious("file:///pub/.hidden"));
    assert_false(suspicious("file:///pub/a..b"));
    assert_false(suspicious("file:///pub/%41"));
    assert_false(suspicious("https://example.com/a/b?x=1"));
    assert_false(suspicious("file:///pub/%2"));
}

/* ---- the issue's example ---- */

static void test_issue_example(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(issue_policy);
    mg_principal_t *dev = jwt("bob", "eng", "mcp:write");
    mg_policy_decision_t d;

    assert_int_equal(decide_full(policy, dev, MG_POLICY_TOOL, GITHUB, "create_issue",
                                 "{\"repo\": \"acme/api\", \"labels\": [\"a\"]}", &d),
                     MG_POLICY_ALLOW);
    assert_string_equal(d.rule, "role developer allow[0] (gw.yaml:14:9)");
    assert_int_equal(decide_full(policy, dev, MG_POLICY_TOOL, GITHUB, "create_issue", "{\"repo\": \"evil/api\"}", &d),
                     MG_POLICY_DENY);
    assert_string_equal(d.rule, "role developer allow[0] (gw.yaml:14:9)");
    assert_string_equal(d.reason, "/repo is \"evil/api\", which does not start with \"acme/\"");
    assert_int_equal(decide_full(policy, dev, MG_POLICY_TOOL, GITHUB, "create_issue",
                                 "{\"repo\": \"acme/api\", \"labels\": [1,2,3,4,5,6]}", &d),
                     MG_POLICY_DENY);
    assert_string_equal(d.reason, "/labels has 6 items, more than max_items 5");
    /* a missing argument fails closed */
    assert_int_equal(decide_full(policy, dev, MG_POLICY_TOOL, GITHUB, "create_issue", "{}", &d), MG_POLICY_DENY);
    assert_string_equal(d.reason, "/repo is missing");
    /* no arguments at all, or arguments that are not an object: every pointer is missing */
    assert_int_equal(tool(policy, dev, GITHUB, "create_issue", NULL), MG_POLICY_DENY);
    assert_int_equal(tool(policy, dev, GITHUB, "create_issue", "[\"acme/x\"]"), MG_POLICY_DENY);
    /* the viewer role (authenticated: true) still allows search_* without conditions */
    assert_int_equal(tool(policy, dev, GITHUB, "search_code", "{\"repo\": \"evil/x\"}"), MG_POLICY_ALLOW);
    /* deny wins, and an unconditional deny hides */
    assert_int_equal(decide_full(policy, dev, MG_POLICY_TOOL, GITHUB, "delete_repo", "{\"repo\": \"acme/x\"}", &d),
                     MG_POLICY_HIDDEN);
    assert_string_equal(d.rule, "role developer deny[0] (gw.yaml:20:9)");
    /* not allowed anywhere: hidden by the default deny */
    assert_int_equal(decide_full(policy, dev, MG_POLICY_TOOL, DOCS, "create_page", "{}", &d), MG_POLICY_HIDDEN);
    assert_null(d.rule);
    assert_string_equal(d.reason, "no rule of the caller's roles (viewer,developer) allows tool docs/create_page");
    /* scopes: the token has mcp:write; without it, a step-up */
    mg_principal_t *dev_read = jwt("carol", "eng", "mcp:read");
    assert_int_equal(decide_full(policy, dev_read, MG_POLICY_TOOL, GITHUB, "create_issue",
                                 "{\"repo\": \"acme/x\", \"labels\": []}", &d),
                     MG_POLICY_NEED_SCOPE);
    assert_int_equal(d.scopes_len, 1);
    assert_string_equal(d.scopes[0], "mcp:write");
    assert_string_equal(d.rule, "scopes[0] (gw.yaml:33:5)");
    assert_string_equal(d.reason, "tool github/create_issue needs scope \"mcp:write\", which the token does not have");
    /* roles are judged before scopes: a refused call is refused, not a step-up */
    assert_int_equal(tool(policy, dev_read, GITHUB, "create_issue", "{\"repo\": \"evil/x\"}"), MG_POLICY_DENY);
    /* the admin, by subject */
    mg_principal_t *alice = jwt("alice@example.com", NULL, "mcp:write");
    assert_int_equal(tool(policy, alice, FILES, "delete_file", NULL), MG_POLICY_ALLOW);
    assert_int_equal(decide(policy, alice, MG_POLICY_RESOURCE, FILES, "file:///etc/passwd", NULL), MG_POLICY_ALLOW);
    /* the CI bot: viewer through api_key, no scopes apply to API keys */
    mg_principal_t *bot = api_key("ci-bot", NULL);
    assert_int_equal(tool(policy, bot, DOCS, "get_page", NULL), MG_POLICY_ALLOW);
    assert_int_equal(tool(policy, bot, GITHUB, "create_issue", "{\"repo\": \"acme/x\"}"), MG_POLICY_HIDDEN);
    assert_int_equal(decide(policy, bot, MG_POLICY_PROMPT, GITHUB, "summarize", NULL), MG_POLICY_ALLOW);
    assert_int_equal(decide(policy, bot, MG_POLICY_RESOURCE, DOCS, "docs://guide/intro", NULL), MG_POLICY_ALLOW);
    assert_int_equal(decide(policy, bot, MG_POLICY_RESOURCE, FILES, "file:///x", NULL), MG_POLICY_HIDDEN);
    /* an API key whose own roles include admin: create_* without any scope */
    mg_principal_t *deployer = api_key("deployer", "admin,ghost");
    assert_int_equal(tool(policy, deployer, GITHUB, "create_issue", NULL), MG_POLICY_ALLOW);
    /* the anonymous caller has no role at all */
    assert_int_equal(tool(policy, mg_principal_anonymous(), DOCS, "get_page", NULL), MG_POLICY_HIDDEN);

    mg_principal_release(dev);
    mg_principal_release(dev_read);
    mg_principal_release(alice);
    mg_principal_release(bot);
    mg_principal_release(deployer);
    mg_policy_release(policy);
}

static void test_odd_names(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(SERVERS "roles:\n"
                                          "  - name: r\n"
                                          "    allow: [{tools: ['github/get_*', 'docs/a/b*', 'files/x__*']}]\n"
                                          "bindings: [{role: r, match: {authenticated: true}}]\n");
    mg_principal_t *p = jwt("bob", NULL, NULL);
    assert_int_equal(tool(policy, p, GITHUB, "get_issue", NULL), MG_POLICY_ALLOW);
    assert_int_equal(tool(policy, p, GITHUB, "get_", NULL), MG_POLICY_ALLOW);
    assert_int_equal(tool(policy, p, GITHUB, "GET_issue", NULL), MG_POLICY_HIDDEN);
    assert_int_equal(tool(policy, p, GITHUB, "Get_issue", NULL), MG_POLICY_HIDDEN);
    assert_int_equal(tool(policy, p, GITHUB, "g\xd0\xb5t_issue", NULL), MG_POLICY_HIDDEN);      /* Cyrillic е */
    assert_int_equal(tool(policy, p, GITHUB, "get\xe2\x80\x8b_issue", NULL), MG_POLICY_HIDDEN); /* zero-width space */
    assert_int_equal(tool(policy, p, GITHUB, "/get_x", NULL), MG_POLICY_HIDDEN);                /* "github//get_x" */
    assert_int_equal(tool(policy, p, GITHUB, "", NULL), MG_POLICY_HIDDEN);                      /* "github/" */
    assert_int_equal(tool(policy, p, GITHUB, "x/get_y", NULL), MG_POLICY_HIDDEN);
    assert_int_equal(tool(policy, p, DOCS, "get_issue", NULL), MG_POLICY_HIDDEN); /* another server */
    assert_int_equal(tool(policy, p, DOCS, "a/b/c", NULL), MG_POLICY_ALLOW);      /* '/' in a name */
    assert_int_equal(tool(policy, p, DOCS, "a/", NULL), MG_POLICY_HIDDEN);
    assert_int_equal(tool(policy, p, FILES, "x__y", NULL), MG_POLICY_ALLOW);         /* the separator in a name */
    assert_int_equal(tool(policy, p, FILES, "files__x__y", NULL), MG_POLICY_HIDDEN); /* a public name is not local */
    /* a name with a NUL inside is compared by length, not cut */
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_policy_access_t *access = mg_policy_access_for(cache, policy, p);
    assert_true(mg_policy_visible(access, MG_POLICY_TOOL, GITHUB, "get_x\0evil", 10));
    assert_false(mg_policy_visible(access, MG_POLICY_TOOL, DOCS, "a\0/b", 4));
    assert_false(mg_policy_visible(access, MG_POLICY_TOOL, 99, "get_x", 5)); /* no such server */
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    mg_principal_release(p);
    mg_policy_release(policy);
}

/* ---- conditions ---- */

static mg_policy_t *condition_policy(const char *condition)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             SERVERS
             "roles:\n"
             "  - name: r\n"
             "    allow:\n"
             "      - tools: ['github/t']\n"
             "        when: {args: {%s}}\n"
             "    deny:\n"
             "      - tools: ['github/d']\n"
             "        when: {args: {%s}}\n"
             "    \n"
             "  - name: open\n"
             "    allow: [{tools: ['github/d']}]\n"
             "bindings: [{role: r, match: {authenticated: true}}, {role: open, match: {authenticated: true}}]\n",
             condition, condition);
    return compile(yaml);
}

/* Checks the condition on an allow rule (github/t) and on a deny rule (github/d) together:
 * `expect` is the allow rule's answer: 'y' holds, 'n' fails, '?' unknown (fails closed: the allow
 * refuses, the deny denies). */
static void check(mg_policy_t *policy, const char *args, char expect)
{
    mg_principal_t *p = jwt("bob", NULL, NULL);
    mg_policy_decision_t d;
    mg_policy_verdict_t allow = decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "t", args, &d);
    char allow_reason[sizeof(d.reason)];
    snprintf(allow_reason, sizeof(allow_reason), "%s", d.reason);
    mg_policy_verdict_t deny = decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "d", args, &d);
    mg_principal_release(p);
    mg_policy_verdict_t want_allow = expect == 'y' ? MG_POLICY_ALLOW : MG_POLICY_DENY;
    mg_policy_verdict_t want_deny = expect == 'n' ? MG_POLICY_ALLOW : MG_POLICY_DENY;
    if (allow != want_allow || deny != want_deny)
        fail_msg("args %s: allow rule %s (%s), deny rule %s; expected '%c'", args != NULL ? args : "(none)",
                 mg_policy_verdict_name(allow), allow_reason, mg_policy_verdict_name(deny), expect);
}

static void test_condition_equals_in(void **state)
{
    (void)state;
    mg_policy_t *policy = condition_policy("/n: {equals: 1}");
    check(policy, "{\"n\": 1}", 'y');
    check(policy, "{\"n\": 1.0}", 'y'); /* numbers compare numerically */
    check(policy, "{\"n\": 2}", 'n');
    check(policy, "{\"n\": \"1\"}", 'n'); /* equals takes any value: a string is simply not equal */
    check(policy, "{}", '?');
    mg_policy_release(policy);
    policy = condition_policy("/o: {equals: {a: [1, true, null, x]}}");
    check(policy, "{\"o\": {\"a\": [1.0, true, null, \"x\"]}}", 'y');
    check(policy, "{\"o\": {\"a\": [1, true, null]}}", 'n');
    mg_policy_release(policy);
    policy = condition_policy("/env: {in: [dev, staging, 3]}");
    check(policy, "{\"env\": \"dev\"}", 'y');
    check(policy, "{\"env\": 3.0}", 'y');
    check(policy, "{\"env\": \"prod\"}", 'n');
    check(policy, "{\"env\": \"Dev\"}", 'n');
    check(policy, "{\"other\": \"dev\"}", '?');
    mg_policy_release(policy);
    policy = condition_policy("/flag: {equals: true}");
    check(policy, "{\"flag\": true}", 'y');
    check(policy, "{\"flag\": \"true\"}", 'n');
    mg_policy_release(policy);
    policy = condition_policy("/s: {equals: '5'}"); /* quoted: a string */
    check(policy, "{\"s\": \"5\"}", 'y');
    check(policy, "{\"s\": 5}", 'n');
    mg_policy_release(policy);
}

static void test_condition_strings(void **state)
{
    (void)state;
    mg_policy_t *policy = condition_policy("/repo: {prefix: acme/, suffix: -api}");
    check(policy, "{\"repo\": \"acme/x-api\"}", 'y');
    check(policy, "{\"repo\": \"acme/x\"}", 'n');
    check(policy, "{\"repo\": \"ACME/x-api\"}", 'n');
    check(policy, "{\"repo\": \"acme\"}", 'n');
    check(policy, "{\"repo\": 5}", '?'); /* wrong type */
    check(policy, "{\"repo\": [\"acme/x-api\"]}", '?');
    check(policy, "{\"repo\": null}", '?');
    check(policy, "{}", '?');
    mg_policy_release(policy);
    policy = condition_policy("/name: {pattern: '[a-z]+(-[a-z]+)*', max_length: 8}");
    check(policy, "{\"name\": \"ab-cd\"}", 'y');
    check(policy, "{\"name\": \"ab-cd!\"}", 'n');    /* anchored at the end */
    check(policy, "{\"name\": \"!ab\"}", 'n');       /* and at the start */
    check(policy, "{\"name\": \"abcdefghi\"}", 'n'); /* 9 > max_length */
    check(policy, "{\"name\": 12}", '?');
    mg_policy_release(policy);
    policy = condition_policy("/name: {max_length: 3}");
    check(policy, "{\"name\": \"\\u00e9\\u00e9\\u00e9\"}", 'y'); /* three code points, six bytes */
    check(policy, "{\"name\": \"abcd\"}", 'n');
    mg_policy_release(policy);
    policy = condition_policy("/name: {pattern: 'caf\xc3\xa9|[a-z]+'}");
    check(policy, "{\"name\": \"caf\\u00e9\"}", 'y'); /* UTF mode */
    mg_policy_release(policy);
}

static void test_condition_numbers_arrays(void **state)
{
    (void)state;
    mg_policy_t *policy = condition_policy("/n: {min: 1, max: 10.5}");
    check(policy, "{\"n\": 1}", 'y');
    check(policy, "{\"n\": 10.5}", 'y');
    check(policy, "{\"n\": 0.99}", 'n');
    check(policy, "{\"n\": 11}", 'n');
    check(policy, "{\"n\": -5}", 'n');
    check(policy, "{\"n\": \"5\"}", '?');
    check(policy, "{\"n\": true}", '?');
    mg_policy_release(policy);
    policy = condition_policy("/labels: {min_items: 1, max_items: 2}");
    check(policy, "{\"labels\": [1]}", 'y');
    check(policy, "{\"labels\": [1, 2]}", 'y');
    check(policy, "{\"labels\": []}", 'n');
    check(policy, "{\"labels\": [1, 2, 3]}", 'n');
    check(policy, "{\"labels\": \"a,b\"}", '?');
    check(policy, "{\"labels\": {\"0\": 1}}", '?');
    mg_policy_release(policy);
}

static void test_condition_presence(void **state)
{
    (void)state;
    mg_policy_t *policy = condition_policy("/force: {absent: true}");
    check(policy, "{}", 'y');
    check(policy, NULL, 'y');
    check(policy, "{\"force\": false}", 'n');
    check(policy, "{\"force\": null}", 'n'); /* present, even if null */
    mg_policy_release(policy);
    policy = condition_policy("/token: {exists: true}");
    check(policy, "{\"token\": \"x\"}", 'y');
    check(policy, "{}", 'n'); /* exists answers about presence: a definite no */
    mg_policy_release(policy);
    policy = condition_policy("/a: {exists: false}, /b: {equals: 1}");
    check(policy, "{\"b\": 1}", 'y');
    check(policy, "{\"a\": 0, \"b\": 1}", 'n');
    check(policy, "{\"a\": 0}", 'n'); /* a fails: the deny rule does not hold, whatever b says */
    check(policy, "{}", '?');
    mg_policy_release(policy);
}

static void test_pointers(void **state)
{
    (void)state;
    mg_policy_t *policy = condition_policy("/a~1b/c~0d: {equals: 1}");
    check(policy, "{\"a/b\": {\"c~d\": 1}}", 'y');
    check(policy, "{\"a\": {\"b\": {\"c~d\": 1}}}", '?');
    mg_policy_release(policy);
    policy = condition_policy("/items/1/id: {equals: x}");
    check(policy, "{\"items\": [{\"id\": \"w\"}, {\"id\": \"x\"}]}", 'y');
    check(policy, "{\"items\": [{\"id\": \"x\"}]}", '?');
    check(policy, "{\"items\": {\"1\": {\"id\": \"x\"}}}", 'y'); /* "1" is an object key too */
    mg_policy_release(policy);
    policy = condition_policy("/items/01: {equals: x}");
    check(policy, "{\"items\": [\"w\", \"x\"]}", '?'); /* leading zeros are not an index */
    mg_policy_release(policy);
    policy = condition_policy("/items/-: {exists: true}");
    check(policy, "{\"items\": [1]}", 'n'); /* "-" never exists */
    mg_policy_release(policy);
    policy = condition_policy("'/': {equals: x}"); /* the empty key */
    check(policy, "{\"\": \"x\"}", 'y');
    mg_policy_release(policy);
}

static void test_catastrophic_regex(void **state)
{
    (void)state;
    mg_policy_t *policy = condition_policy("/s: {pattern: '(a+)+$$'}");
    char args[70000];
    int len = snprintf(args, sizeof(args), "{\"s\": \"");
    memset(args + len, 'a', 60000);
    snprintf(args + len + 60000, sizeof(args) - (size_t)len - 60000, "!\"}");
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    check(policy, args, '?'); /* too costly: fails closed both ways */
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    assert_true(seconds < 2.0);
    mg_principal_t *p = jwt("bob", NULL, NULL);
    mg_policy_decision_t d;
    assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "t", args, &d), MG_POLICY_DENY);
    assert_non_null(strstr(d.reason, "pattern too costly"));
    assert_true(strlen(d.reason) < 160); /* the value is quoted, cut at 64 bytes */
    mg_principal_release(p);
    mg_policy_release(policy);
}

static void test_conditional_deny(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(SERVERS "roles:\n"
                                          "  - name: r\n"
                                          "    allow: [{tools: ['github/*']}]\n"
                                          "    deny:\n"
                                          "      - tools: ['github/merge_*']\n"
                                          "        when: {args: {/branch: {in: [main, release]}}}\n"
                                          "bindings: [{role: r, match: {authenticated: true}}]\n");
    mg_principal_t *p = jwt("bob", NULL, NULL);
    mg_policy_decision_t d;
    assert_int_equal(tool(policy, p, GITHUB, "merge_pr", "{\"branch\": \"feature\"}"), MG_POLICY_ALLOW);
    assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "merge_pr", "{\"branch\": \"main\"}", &d),
                     MG_POLICY_DENY);
    assert_string_equal(d.rule, "role r deny[0] (gw.yaml:10:9)");
    assert_string_equal(d.reason, "denied by a condition: the conditions on /branch hold");
    /* missing: a deny fails closed */
    assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "merge_pr", "{}", &d), MG_POLICY_DENY);
    assert_string_equal(d.reason, "denied by a condition: /branch is missing");
    /* a conditional deny does not hide */
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_policy_access_t *access = mg_policy_access_for(cache, policy, p);
    assert_true(mg_policy_visible(access, MG_POLICY_TOOL, GITHUB, "merge_pr", 8));
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    mg_principal_release(p);
    mg_policy_release(policy);
}

/* Rules with the same conditions are interned (one evaluation answers for all, and the first one is
 * named); rules that differ in any check, even an empty prefix against none, stay apart; many rules
 * on one pointer and several pointers in one call each get their own value. */
static void test_interned_conditions(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(SERVERS "roles:\n"
                                          "  - name: a\n"
                                          "    allow: [{tools: ['github/*']}]\n"
                                          "    deny:\n"
                                          "      - {tools: ['github/*'], when: {args: {/path: {prefix: /etc}}}}\n"
                                          "      - {tools: ['github/*'], when: {args: {/path: {prefix: ''}}}}\n"
                                          "  - name: b\n"
                                          "    deny:\n"
                                          "      - {tools: ['github/*'], when: {args: {/path: {prefix: /etc}}}}\n"
                                          "      - {tools: ['github/*'], when: {args: {/mode: {equals: 1}}}}\n"
                                          "      - {tools: ['github/*'], when: {args: {/mode: {equals: 2}, /path: "
                                          "{suffix: .key}}}}\n"
                                          "bindings: [{role: a, match: {authenticated: true}}, {role: b, match: "
                                          "{authenticated: true}}]\n");
    const mg_policy_rule_t *a = policy->roles[0].deny, *b = policy->roles[1].deny;
    assert_int_equal(a[0].conditions_id, b[0].conditions_id);
    assert_int_not_equal(a[0].conditions_id, a[1].conditions_id); /* prefix '' is a check: a string is needed */
    assert_int_not_equal(b[1].conditions_id, b[2].conditions_id);
    assert_int_equal(a[0].conditions[0].pointer_id, b[0].conditions[0].pointer_id);
    assert_int_equal(a[0].conditions[0].pointer_id, b[2].conditions[1].pointer_id);
    assert_int_equal(b[1].conditions[0].pointer_id, b[2].conditions[0].pointer_id);
    assert_int_not_equal(a[0].conditions[0].pointer_id, b[1].conditions[0].pointer_id);

    mg_principal_t *p = jwt("bob", NULL, NULL);
    mg_policy_decision_t d;
    assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "get", "{\"path\": \"/etc/passwd\"}", &d),
                     MG_POLICY_DENY);
    assert_string_equal(d.rule, "role a deny[0] (gw.yaml:10:9)");
    /* prefix '' denies every string path, and only strings: a number is "cannot tell", which a deny fails closed on */
    assert_int_equal(tool(policy, p, GITHUB, "get", "{\"path\": \"/home\", \"mode\": 3}"), MG_POLICY_DENY);
    mg_policy_release(policy);

    policy =
        compile(SERVERS "roles:\n"
                        "  - name: b\n"
                        "    allow: [{tools: ['github/*']}]\n"
                        "    deny:\n"
                        "      - {tools: ['github/*'], when: {args: {/path: {prefix: /etc}}}}\n"
                        "      - {tools: ['github/*'], when: {args: {/mode: {equals: 1}}}}\n"
                        "      - {tools: ['github/*'], when: {args: {/mode: {equals: 2}, /path: {suffix: .key}}}}\n"
                        "bindings: [{role: b, match: {authenticated: true}}]\n");
    assert_int_equal(tool(policy, p, GITHUB, "get", "{\"path\": \"/home/x.key\", \"mode\": 3}"), MG_POLICY_ALLOW);
    assert_int_equal(
        decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "get", "{\"path\": \"/home/x.key\", \"mode\": 2}", &d),
        MG_POLICY_DENY);
    assert_string_equal(d.rule, "role b deny[2] (gw.yaml:12:9)");
    assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "get", "{\"path\": \"/home/x\", \"mode\": 1}", &d),
                     MG_POLICY_DENY);
    assert_string_equal(d.rule, "role b deny[1] (gw.yaml:11:9)");
    assert_int_equal(tool(policy, p, GITHUB, "get", "{\"path\": \"/home/x\", \"mode\": 2}"), MG_POLICY_ALLOW);
    mg_principal_release(p);
    mg_policy_release(policy);
}

/* A prefix and nothing else is decided on a quick path when no reason is wanted: the same answers as
 * the full evaluation (which explains), for strings, other types and missing arguments, allow and deny. */
static void test_prefix_only(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(SERVERS "roles:\n"
                                          "  - name: a\n"
                                          "    allow: [{tools: ['github/*'], when: {args: {/repo: {prefix: acme/}}}}]\n"
                                          "    deny: [{tools: ['github/*'], when: {args: {/path: {prefix: /etc}}}}]\n"
                                          "bindings: [{role: a, match: {authenticated: true}}]\n");
    assert_true(policy->roles[0].allow[0].conditions[0].prefix_only);
    mg_principal_t *p = jwt("bob", NULL, NULL);
    static const struct {
        const char *args;
        mg_policy_verdict_t verdict;
    } cases[] = {
        {"{\"repo\": \"acme/x\", \"path\": \"/home\"}", MG_POLICY_ALLOW},
        {"{\"repo\": \"acme/x\", \"path\": \"/etc/passwd\"}", MG_POLICY_DENY}, /* the deny holds */
        {"{\"repo\": \"acme/x\", \"path\": 7}", MG_POLICY_DENY},               /* cannot tell: a deny applies */
        {"{\"repo\": \"acme/x\"}", MG_POLICY_DENY},                            /* missing: likewise */
        {"{\"repo\": \"acme\", \"path\": \"/home\"}", MG_POLICY_DENY},         /* shorter than the prefix */
        {"{\"repo\": [\"acme/x\"], \"path\": \"/home\"}", MG_POLICY_DENY},     /* not a string: no allow */
        {"{\"path\": \"/home\"}", MG_POLICY_DENY},                             /* missing: no allow */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_policy_decision_t d;
        assert_int_equal(tool(policy, p, GITHUB, "get", cases[i].args), cases[i].verdict);
        assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "get", cases[i].args, &d), cases[i].verdict);
    }
    mg_principal_release(p);
    mg_policy_release(policy);
}

static void test_visibility(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(issue_policy);
    mg_principal_t *dev = jwt("bob", "eng", NULL);
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_policy_access_t *access = mg_policy_access_for(cache, policy, dev);
    assert_string_equal(mg_policy_access_roles(access), "viewer,developer");
    assert_true(mg_policy_visible(access, MG_POLICY_TOOL, GITHUB, "create_issue", 12)); /* conditions ignored */
    assert_false(mg_policy_visible(access, MG_POLICY_TOOL, GITHUB, "delete_repo", 11));
    assert_true(mg_policy_visible(access, MG_POLICY_TOOL, DOCS, "search_x", 8));
    assert_false(mg_policy_visible(access, MG_POLICY_TOOL, DOCS, "create_x", 8));
    assert_true(mg_policy_visible(access, MG_POLICY_RESOURCE, DOCS, "a://b", 5));
    assert_false(mg_policy_visible(access, MG_POLICY_RESOURCE, FILES, "a://b", 5));
    assert_true(mg_policy_visible(access, MG_POLICY_RESOURCE_TEMPLATE, DOCS, "docs://{path}", 13));
    assert_true(mg_policy_uses_kind(access, MG_POLICY_TOOL, GITHUB));
    assert_true(mg_policy_uses_kind(access, MG_POLICY_RESOURCE, DOCS));
    assert_false(mg_policy_uses_kind(access, MG_POLICY_RESOURCE, FILES));
    assert_false(mg_policy_uses_kind(access, MG_POLICY_RESOURCE_TEMPLATE, GITHUB));
    assert_true(mg_policy_uses_kind(access, MG_POLICY_PROMPT, FILES));
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    /* no policy: everything */
    assert_true(mg_policy_visible(NULL, MG_POLICY_TOOL, 0, "x", 1));
    assert_true(mg_policy_uses_kind(NULL, MG_POLICY_PROMPT, 0));
    assert_string_equal(mg_policy_access_roles(NULL), "");
    mg_principal_release(dev);
    mg_policy_release(policy);
}

static void test_resources(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(SERVERS "roles:\n"
                                          "  - name: r\n"
                                          "    allow: [{resources: ['files/file:///pub/*', 'docs/*']}]\n"
                                          "    deny: [{resources: ['files/file:///pub/secret/*']}]\n"
                                          "bindings: [{role: r, match: {authenticated: true}}]\n");
    mg_principal_t *p = jwt("bob", NULL, NULL);
    mg_policy_decision_t d;
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/a.txt", NULL), MG_POLICY_ALLOW);
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/secret/k", NULL), MG_POLICY_HIDDEN);
    assert_int_equal(decide_full(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/../etc/passwd", NULL, &d),
                     MG_POLICY_HIDDEN);
    assert_non_null(strstr(d.reason, "resource URI has a dot segment or an encoded separator"));
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/%2e%2e/etc/passwd", NULL),
                     MG_POLICY_HIDDEN);
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/%2E%2e/etc/passwd", NULL),
                     MG_POLICY_HIDDEN);
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/..%2fetc%2fpasswd", NULL),
                     MG_POLICY_HIDDEN);
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub/secret/./k", NULL), MG_POLICY_HIDDEN);
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, FILES, "file:///pub\\..\\etc", NULL), MG_POLICY_HIDDEN);
    /* a rule whose glob is exactly "*" takes the server's word for its URIs */
    assert_int_equal(decide(policy, p, MG_POLICY_RESOURCE, DOCS, "docs://a/../b", NULL), MG_POLICY_ALLOW);
    /* templates: no dot-segment rule, same globs */
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_policy_access_t *access = mg_policy_access_for(cache, policy, p);
    const char *template = "file:///pub/{name}";
    assert_true(mg_policy_visible(access, MG_POLICY_RESOURCE_TEMPLATE, FILES, template, strlen(template)));
    template = "file:///pub/../{name}";
    assert_true(mg_policy_visible(access, MG_POLICY_RESOURCE_TEMPLATE, FILES, template, strlen(template)));
    template = "file:///home/{name}";
    assert_false(mg_policy_visible(access, MG_POLICY_RESOURCE_TEMPLATE, FILES, template, strlen(template)));
    mg_policy_access_release(access);
    mg_policy_cache_destroy(cache);
    mg_principal_release(p);
    mg_policy_release(policy);
}

static void test_bindings(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(SERVERS "roles:\n"
                                          "  - {name: by-subject, allow: [{tools: ['github/a']}]}\n"
                                          "  - {name: by-issuer, allow: [{tools: ['github/b']}]}\n"
                                          "  - {name: by-group, allow: [{tools: ['github/c']}]}\n"
                                          "  - {name: by-scope, allow: [{tools: ['github/d']}]}\n"
                                          "  - {name: by-claim, allow: [{tools: ['github/e']}]}\n"
                                          "  - {name: by-key, allow: [{tools: ['github/f']}]}\n"
                                          "  - {name: by-cert, allow: [{tools: ['github/g']}]}\n"
                                          "  - {name: by-method, allow: [{tools: ['github/h']}]}\n"
                                          "  - {name: anonymous, allow: [{tools: ['github/i']}]}\n"
                                          "  - {name: by-array-claim, allow: [{tools: ['github/j']}]}\n"
                                          "  - {name: key-role, allow: [{tools: ['github/k']}]}\n"
                                          "bindings:\n"
                                          "  - {role: by-subject, match: {subject: alice}}\n"
                                          "  - {role: by-issuer, match: {issuer: 'https://idp'}}\n"
                                          "  - {role: by-group, match: {claim: groups, contains: eng}}\n"
                                          "  - {role: by-scope, match: {claim: scope, contains: 'mcp:admin'}}\n"
                                          "  - {role: by-claim, match: {claim: dept, equals: finance}}\n"
                                          "  - {role: by-key, match: {api_key: ci-bot}}\n"
                                          "  - {role: by-cert, match: {certificate: 'spiffe://acme/agent'}}\n"
                                          "  - {role: by-method, match: {method: mtls}}\n"
                                          "  - {role: anonymous, match: {authenticated: false}}\n"
                                          "  - {role: by-array-claim, match: {claim: teams, contains: blue, subject: "
                                          "bob}}\n");
    mg_policy_cache_t *cache = mg_policy_cache_create();
    struct {
        mg_principal_t *principal;
        const char *roles;
    } cases[] = {
        {jwt("alice", "eng", "mcp:admin"), "by-subject,by-issuer,by-group,by-scope,by-claim"},
        {jwt("bob", "ops", NULL), "by-issuer,by-claim,by-array-claim"},
        {api_key("ci-bot", "key-role,undefined"), "by-key,key-role"},
        {api_key("alice", NULL), "by-subject"}, /* subject matches any method but anonymous */
        {mg_principal_create(MG_AUTH_MTLS, "spiffe://acme/agent", "CN=ca", NULL), "by-cert,by-method"},
        {mg_principal_create(MG_AUTH_MTLS, "spiffe://acme/other", "CN=ca", NULL), "by-method"},
        {mg_principal_retain(mg_principal_anonymous()), "anonymous"},
        {mg_principal_create(MG_AUTH_INTROSPECTION, "ci-bot", "https://idp", NULL), "by-issuer"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mg_policy_access_t *access = mg_policy_access_for(cache, policy, cases[i].principal);
        if (strcmp(mg_policy_access_roles(access), cases[i].roles) != 0)
            fail_msg("case %zu (%s): roles \"%s\", expected \"%s\"", i, cases[i].principal->name,
                     mg_policy_access_roles(access), cases[i].roles);
        mg_policy_access_release(access);
    }
    /* the credential's own role works like a bound one */
    assert_int_equal(tool(policy, cases[2].principal, GITHUB, "k", NULL), MG_POLICY_ALLOW);
    assert_int_equal(tool(policy, cases[2].principal, GITHUB, "a", NULL), MG_POLICY_HIDDEN);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        mg_principal_release(cases[i].principal);
    mg_policy_cache_destroy(cache);
    mg_policy_release(policy);
}

static void test_scopes_only_oauth(void **state)
{
    (void)state;
    mg_policy_t *policy =
        compile(SERVERS "roles: [{name: all, allow: [{tools: ['*'], resources: ['*']}]}]\n"
                        "bindings: [{role: all, match: {authenticated: true}}]\n"
                        "scopes:\n"
                        "  - {tools: ['*/create_*'], require: ['mcp:write']}\n"
                        "  - {tools: ['github/*'], resources: ['files/*'], require: [gh, 'mcp:write']}\n");
    mg_policy_decision_t d;
    mg_principal_t *none = jwt("a", NULL, NULL);
    assert_int_equal(decide_full(policy, none, MG_POLICY_TOOL, GITHUB, "create_x", NULL, &d), MG_POLICY_NEED_SCOPE);
    assert_int_equal(d.scopes_len, 2); /* every scope the item requires, once each */
    assert_string_equal(d.scopes[0], "mcp:write");
    assert_string_equal(d.scopes[1], "gh");
    mg_principal_t *both = jwt("a", NULL, "gh,mcp:write");
    assert_int_equal(decide_full(policy, both, MG_POLICY_TOOL, GITHUB, "create_x", NULL, &d), MG_POLICY_ALLOW);
    assert_int_equal(d.scopes_len, 0);
    mg_principal_t *gh = jwt("a", NULL, "gh");
    assert_int_equal(decide_full(policy, gh, MG_POLICY_TOOL, GITHUB, "create_x", NULL, &d), MG_POLICY_NEED_SCOPE);
    assert_string_equal(d.rule, "scopes[0] (gw.yaml:9:5)");
    assert_int_equal(tool(policy, gh, DOCS, "create_x", NULL), MG_POLICY_NEED_SCOPE);
    assert_int_equal(tool(policy, gh, DOCS, "read_x", NULL), MG_POLICY_ALLOW);
    assert_int_equal(decide(policy, gh, MG_POLICY_RESOURCE, FILES, "file:///x", NULL), MG_POLICY_NEED_SCOPE);
    mg_principal_t *introspected = mg_principal_create(MG_AUTH_INTROSPECTION, "svc", "https://idp", NULL);
    assert_int_equal(tool(policy, introspected, DOCS, "create_x", NULL), MG_POLICY_NEED_SCOPE);
    /* API keys and certificates carry no scopes and are not subject to them */
    mg_principal_t *key = api_key("bot", NULL);
    assert_int_equal(tool(policy, key, GITHUB, "create_x", NULL), MG_POLICY_ALLOW);
    mg_principal_t *cert = mg_principal_create(MG_AUTH_MTLS, "spiffe://x", NULL, NULL);
    assert_int_equal(tool(policy, cert, GITHUB, "create_x", NULL), MG_POLICY_ALLOW);
    mg_principal_release(none);
    mg_principal_release(both);
    mg_principal_release(gh);
    mg_principal_release(introspected);
    mg_principal_release(key);
    mg_principal_release(cert);
    mg_policy_release(policy);
}

static void test_sharing_and_memo(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(issue_policy);
    mg_policy_cache_t *cache = mg_policy_cache_create();
    mg_principal_t *a = jwt("a", "eng", "mcp:write"), *b = jwt("b", "eng", "mcp:write"), *c = jwt("c", NULL, NULL);
    mg_policy_access_t *access_a = mg_policy_access_for(cache, policy, a);
    mg_policy_access_t *access_b = mg_policy_access_for(cache, policy, b);
    mg_policy_access_t *access_c = mg_policy_access_for(cache, policy, c);
    assert_ptr_equal(access_a, access_b); /* same role set, one access */
    assert_ptr_not_equal(access_a, access_c);
    mg_policy_access_t *again = mg_policy_access_for(cache, policy, a);
    assert_ptr_equal(again, access_a);
    mg_policy_access_release(again);
    mg_policy_decision_t d;
    json_t *args = json_pack("{s:s, s:[]}", "repo", "acme/x", "labels");
    mg_policy_decide(access_a, MG_POLICY_TOOL, GITHUB, "create_issue", 12, args, a, &d);
    assert_int_equal(d.verdict, MG_POLICY_ALLOW);
    size_t memo = access_a->memo_len;
    assert_int_equal(memo, 1);
    for (int i = 0; i < 100; i++) {
        mg_policy_decide(access_b, MG_POLICY_TOOL, GITHUB, "create_issue", 12, args, b, &d);
        assert_int_equal(d.verdict, MG_POLICY_ALLOW);
    }
    assert_int_equal(access_a->memo_len, memo); /* b used a's memo entry */
    assert_true(mg_policy_visible(access_b, MG_POLICY_TOOL, GITHUB, "create_issue", 12));
    assert_int_equal(access_a->memo_len, memo);
    /* the memo is bounded */
    char name[32];
    for (int i = 0; i < MG_POLICY_MEMO_MAX + 10; i++) {
        int len = snprintf(name, sizeof(name), "get_%d", i);
        assert_true(mg_policy_visible(access_a, MG_POLICY_TOOL, GITHUB, name, (size_t)len));
    }
    assert_true(access_a->memo_len <= MG_POLICY_MEMO_MAX);
    /* a new policy (a reload) empties the cache: new accesses */
    mg_policy_t *reloaded = compile(issue_policy);
    mg_policy_access_t *fresh = mg_policy_access_for(cache, reloaded, a);
    assert_ptr_not_equal(fresh, access_a);
    mg_policy_decide(access_a, MG_POLICY_TOOL, GITHUB, "create_issue", 12, args, a, &d); /* the old still works */
    assert_int_equal(d.verdict, MG_POLICY_ALLOW);
    json_decref(args);
    mg_policy_access_release(fresh);
    mg_policy_access_release(access_a);
    mg_policy_access_release(access_b);
    mg_policy_access_release(access_c);
    mg_policy_cache_destroy(cache);
    mg_policy_release(reloaded);
    mg_policy_release(policy);
    mg_principal_release(a);
    mg_principal_release(b);
    mg_principal_release(c);
}

static void test_cache_bounded(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(issue_policy);
    mg_policy_cache_t *cache = mg_policy_cache_create();
    for (int i = 0; i < 5000; i++) {
        char subject[32];
        snprintf(subject, sizeof(subject), "user%d", i);
        mg_principal_t *p = jwt(subject, i % 2 ? "eng" : NULL, NULL);
        mg_policy_access_t *access = mg_policy_access_for(cache, policy, p);
        assert_string_equal(mg_policy_access_roles(access), i % 2 ? "viewer,developer" : "viewer");
        mg_policy_access_release(access);
        mg_principal_release(p); /* the cache keeps its own reference */
    }
    mg_policy_cache_destroy(cache);
    mg_policy_release(policy);
}

static void test_when_policy_applies(void **state)
{
    (void)state;
    mg_config_t *config = load("servers: [{name: github, url: 'https://gh/mcp'}]\n");
    mg_policy_t *policy = (mg_policy_t *)(uintptr_t)1;
    assert_int_equal(mg_policy_create(config, &policy, NULL), 0);
    assert_null(policy); /* no auth, no roles: everything is allowed, as before */
    mg_policy_cache_t *cache = mg_policy_cache_create();
    assert_null(mg_policy_access_for(cache, NULL, mg_principal_anonymous()));
    mg_policy_decision_t d;
    mg_policy_decide(NULL, MG_POLICY_TOOL, 0, "x", 1, NULL, NULL, &d);
    assert_int_equal(d.verdict, MG_POLICY_ALLOW);
    mg_config_release(config);
    /* auth without roles: default deny */
    policy = compile(SERVERS);
    mg_principal_t *p = jwt("alice", "eng", "mcp:write");
    assert_int_equal(decide_full(policy, p, MG_POLICY_TOOL, GITHUB, "get_x", NULL, &d), MG_POLICY_HIDDEN);
    assert_null(d.rule);
    assert_string_equal(d.reason, "the caller has no role, and nothing is allowed by default (tool github/get_x)");
    mg_policy_release(policy);
    /* roles without auth: the policy applies (to the anonymous caller) */
    policy = compile("servers: [{name: github, url: 'https://gh/mcp'}]\n"
                     "roles: [{name: r, allow: [{tools: ['github/get_*']}]}]\n"
                     "bindings: [{role: r, match: {authenticated: false}}]\n");
    assert_int_equal(tool(policy, mg_principal_anonymous(), 0, "get_x", NULL), MG_POLICY_ALLOW);
    assert_int_equal(tool(policy, mg_principal_anonymous(), 0, "set_x", NULL), MG_POLICY_HIDDEN);
    mg_policy_release(policy);
    mg_principal_release(p);
    mg_policy_cache_destroy(cache);
}

static void collect(void *ctx, const char *warning)
{
    json_array_append_new(ctx, json_string(warning));
}

static void test_lint(void **state)
{
    (void)state;
    mg_config_t *config = load(SERVERS "roles:\n"
                                       "  - name: dev\n"
                                       "    allow:\n"
                                       "      - tools: ['git*/create_*', 'gitlab-*/x', 'github/delete_repo']\n"
                                       "    deny:\n"
                                       "      - tools: ['github/*']\n"
                                       "        when: {args: {/x: {exists: true}}}\n"
                                       "      - tools: ['*/delete_repo']\n"
                                       "  - name: keys-only\n"
                                       "    deny: [{prompts: ['*']}]\n"
                                       "bindings: [{role: dev, match: {authenticated: true}}]\n"
                                       "scopes: [{tools: ['none-*/x'], require: [s]}]\n");
    mg_policy_t *policy = NULL;
    assert_int_equal(mg_policy_create(config, &policy, NULL), 0);
    json_t *warnings = json_array();
    mg_policy_lint(policy, config, collect, warnings);
    const char *expected[] = {
        "gw.yaml:9:34: roles[0].allow[0].tools[1]: \"gitlab-*/x\": the server part \"gitlab-*\" matches no "
        "configured server",
        "gw.yaml:9:48: roles[0].allow[0].tools[2]: \"github/delete_repo\" can never match: roles[0].deny[1] "
        "(gw.yaml:13:9) denies it unconditionally",
        "gw.yaml:14:5: roles[1]: no binding names role \"keys-only\" (only API keys created with --roles keys-only "
        "can have it)",
        "gw.yaml:14:5: roles[1]: role \"keys-only\" only denies: on its own it allows nothing",
        "gw.yaml:17:19: scopes[0].tools[0]: \"none-*/x\": the server part \"none-*\" matches no configured server",
    };
    assert_int_equal(json_array_size(warnings), sizeof(expected) / sizeof(expected[0]));
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        assert_string_equal(json_string_value(json_array_get(warnings, i)), expected[i]);
    json_decref(warnings);
    mg_policy_release(policy);
    mg_config_release(config);
    /* auth and no roles */
    config = load(SERVERS);
    assert_int_equal(mg_policy_create(config, &policy, NULL), 0);
    warnings = json_array();
    mg_policy_lint(policy, config, collect, warnings);
    assert_int_equal(json_array_size(warnings), 1);
    assert_string_equal(json_string_value(json_array_get(warnings, 0)),
                        "gw.yaml: roles: authentication is enabled, and no role is defined: every caller is denied "
                        "everything");
    json_decref(warnings);
    mg_policy_release(policy);
    mg_config_release(config);
}

static void test_explain(void **state)
{
    (void)state;
    mg_policy_t *policy = compile(issue_policy);
    mg_principal_t *dev = api_key("ci-bot", "developer,ghost");
    json_t *args = json_pack("{s:s}", "repo", "evil/x");
    mg_policy_decision_t d;
    json_t *out = mg_policy_explain(policy, dev, MG_POLICY_TOOL, GITHUB, "create_issue", 12, args, &d);
    assert_non_null(out);
    assert_int_equal(d.verdict, MG_POLICY_DENY); /* developer (the key's own role) needs acme/ */
    assert_string_equal(json_string_value(json_object_get(out, "decision")), "deny");
    assert_string_equal(json_string_value(json_object_get(out, "rule")), "role developer allow[0] (gw.yaml:14:9)");
    json_decref(out);
    out = mg_policy_explain(policy, dev, MG_POLICY_TOOL, GITHUB, "get_issue", 9, args, &d);
    assert_int_equal(d.verdict, MG_POLICY_ALLOW);
    assert_string_equal(json_string_value(json_object_get(out, "decision")), "allow");
    assert_string_equal(json_string_value(json_object_get(out, "rule")), "role viewer allow[0] (gw.yaml:9:9)");
    json_t *roles = json_object_get(out, "roles");
    assert_int_equal(json_array_size(roles), 3); /* every grant, in binding order, then the credential's */
    assert_string_equal(json_string_value(json_object_get(json_array_get(roles, 0), "role")), "viewer");
    assert_string_equal(json_string_value(json_object_get(json_array_get(roles, 0), "granted_by")),
                        "bindings[2] (gw.yaml:28:5)");
    assert_string_equal(json_string_value(json_object_get(json_array_get(roles, 1), "granted_by")),
                        "bindings[3] (gw.yaml:30:5)");
    assert_string_equal(json_string_value(json_object_get(json_array_get(roles, 2), "role")), "developer");
    assert_string_equal(json_string_value(json_object_get(json_array_get(roles, 2), "granted_by")),
                        "the credential's own roles");
    assert_string_equal(json_string_value(json_array_get(json_object_get(out, "ignored_roles"), 0)), "ghost");
    json_t *rules = json_object_get(out, "rules");
    assert_int_equal(json_array_size(rules), 2); /* viewer allow[0] and developer allow[0] */
    json_t *developer = json_array_get(rules, 1);
    assert_string_equal(json_string_value(json_object_get(developer, "outcome")), "does not allow");
    assert_string_equal(json_string_value(json_object_get(developer, "why")),
                        "/repo is \"evil/x\", which does not start with \"acme/\"");
    json_decref(out);
    json_decref(args);
    mg_principal_release(dev);
    mg_policy_release(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_uri_suspicious),
        cmocka_unit_test(test_issue_example),
        cmocka_unit_test(test_odd_names),
        cmocka_unit_test(test_condition_equals_in),
        cmocka_unit_test(test_condition_strings),
        cmocka_unit_test(test_condition_numbers_arrays),
        cmocka_unit_test(test_condition_presence),
        cmocka_unit_test(test_pointers),
        cmocka_unit_test(test_catastrophic_regex),
        cmocka_unit_test(test_conditional_deny),
        cmocka_unit_test(test_interned_conditions),
        cmocka_unit_test(test_prefix_only),
        cmocka_unit_test(test_visibility),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_bindings),
        cmocka_unit_test(test_scopes_only_oauth),
        cmocka_unit_test(test_sharing_and_memo),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_when_policy_applies),
        cmocka_unit_test(test_lint),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
