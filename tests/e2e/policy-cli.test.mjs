// The authorization policy from the command line: `mcpgate policy explain` (allow, deny, hidden,
// insufficient_scope; text and --json; exit 0 / 1 / 2) and `mcpgate check-config` on roles, bindings
// and scopes (refusals with file:line:column, warnings that do not fail).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { GATEWAY_BIN, GATEWAY_ONLY, cleanupDir, tempDir } from './lib/gateway.mjs';

const T = { timeout: 20_000, skip: GATEWAY_ONLY };
const dir = tempDir('mcpgate-policy-');
after(() => cleanupDir(dir));

/** Run `mcpgate ...args` to completion: {code, stdout, stderr}. */
function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(GATEWAY_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

function fixture(name, text) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const SERVERS = `servers:
  - {name: github, url: 'https://gh.internal/mcp'}
  - {name: docs, url: 'https://docs.internal/mcp'}
auth: {resource: 'https://gw.example.com/mcp', api_keys: {enabled: true}}
`;

const POLICY = `${SERVERS}roles:
  - name: viewer
    allow:
      - tools: ["*/search_*", "*/get_*", "*/list_*"]
      - prompts: ["*"]
      - resources: ["docs/*"]
  - name: developer
    allow:
      - tools: ["github/*"]
        when:
          args:
            /repo: {prefix: "acme/"}
    deny:
      - tools: ["github/delete_*"]
bindings:
  - role: developer
    match: {claim: groups, contains: eng}
  - role: viewer
    match: {authenticated: true}
scopes:
  - tools: ["*/create_*"]
    require: [mcp:write]
`;
const policyFile = fixture('policy.yaml', POLICY);
const bob = (scopes) => JSON.stringify({ method: 'jwt', subject: 'bob', issuer: 'https://idp', groups: ['eng'], scopes });
const explain = (principal, ...rest) => run(['policy', 'explain', '-c', policyFile, '--principal', principal, ...rest]);

test('policy explain: an allowed call exits 0 and names the rule with its location', T, async () => {
  const r = await explain(bob(['mcp:write']), '--tool', 'github/create_issue', '--args', '{"repo":"acme/api"}');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^decision\s+allow$/m);
  assert.match(r.stdout, /^rule\s+role developer allow\[0\] \(.*policy\.yaml:13:9\)$/m);
  assert.match(r.stdout, /^roles\s+developer\s+granted by bindings\[0\] \(.*policy\.yaml:20:5\)$/m);
  // the gateway's public name works too
  const pub = await explain(bob(['mcp:write']), '--tool', 'github__create_issue', '--args', '{"repo":"acme/api"}');
  assert.equal(pub.code, 0, pub.stderr);
});

test('policy explain: a refused argument exits 1 and says which condition failed', T, async () => {
  const r = await explain(bob(['mcp:write']), '--tool', 'github/create_issue', '--args', '{"repo":"evil/api"}');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^decision\s+deny$/m);
  assert.match(r.stdout, /^why\s+\/repo is "evil\/api", which does not start with "acme\/"$/m);
});

test('policy explain: hidden by an unconditional deny, and by the default deny', T, async () => {
  const denied = await explain(bob([]), '--tool', 'github/delete_repo', '--args', '{"repo":"acme/x"}');
  assert.equal(denied.code, 1);
  assert.match(denied.stdout, /^decision\s+hidden$/m);
  assert.match(denied.stdout, /^rule\s+role developer deny\[0\]/m);
  const nothing = await explain('{"anonymous": true}', '--tool', 'docs/get_page');
  assert.equal(nothing.code, 1);
  assert.match(nothing.stdout, /^roles\s+\(none\)$/m);
  assert.match(nothing.stdout, /^rule\s+\(none: no rule allows it, and the default is deny\)$/m);
});

test('policy explain: a missing OAuth scope is insufficient_scope; API keys have no scopes', T, async () => {
  const r = await explain(bob(['mcp:read']), '--tool', 'github/create_issue', '--args', '{"repo":"acme/x"}', '--json');
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout);
  assert.equal(out.decision, 'insufficient_scope');
  assert.deepEqual(out.scopes, ['mcp:write']);
  assert.match(out.rule, /^scopes\[0\] \(.*policy\.yaml:25:5\)$/);
  const key = await explain('{"api_key": "ci-bot", "roles": ["developer", "ghost"]}', '--tool', 'github/create_issue',
    '--args', '{"repo":"acme/x"}', '--json');
  assert.equal(key.code, 0, key.stdout);
  const keyOut = JSON.parse(key.stdout);
  assert.deepEqual(keyOut.ignored_roles, ['ghost']);
  assert.ok(keyOut.roles.some((r) => r.role === 'developer' && r.granted_by === "the credential's own roles"));
});

test('policy explain: resources with a dot segment fail closed', T, async () => {
  const ok = await explain(bob([]), '--resource', 'docs/file:///pub/a.txt');
  assert.equal(ok.code, 0, ok.stdout);
  const text = fixture('files.yaml', `${SERVERS}roles: [{name: r, allow: [{resources: ['docs/file:///pub/*']}]}]
bindings: [{role: r, match: {authenticated: true}}]
`);
  const r = await run(['policy', 'explain', '-c', text, '--principal', bob([]), '--resource',
    'docs/file:///pub/%2e%2e/etc/passwd']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /resource URI has a dot segment or an encoded separator/);
});

test('policy explain: usage and configuration errors exit 2', T, async () => {
  const cases = [
    [['policy'], /usage: mcpgate policy explain/],
    [['policy', 'frobnicate'], /unknown policy command frobnicate/],
    [['policy', 'explain', '-c', policyFile, '--tool', 'github/x'], /needs -c, --principal and one of/],
    [['policy', 'explain', '-c', policyFile, '--principal', '{"sub": "x"}', '--tool', 'github/x'],
      /unknown key "sub"/],
    [['policy', 'explain', '-c', policyFile, '--principal', '{"method": "oauth", "subject": "x"}', '--tool', 'github/x'],
      /method "oauth" must be jwt, introspection, api_key, mtls or anonymous/],
    [['policy', 'explain', '-c', policyFile, '--principal', '{"anonymous": true}', '--tool', 'gitlab/x'],
      /names no configured server/],
    [['policy', 'explain', '-c', policyFile, '--principal', '{"anonymous": true}', '--prompt', 'docs/x', '--args', '{}'],
      /--args applies to --tool only/],
    [['policy', 'explain', '-c', join(dir, 'missing.yaml'), '--principal', '{"anonymous": true}', '--tool', 'docs/x'],
      /missing\.yaml/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
  }
  const help = await run(['policy', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: mcpgate policy explain/);
  const main = await run(['--help']);
  assert.match(main.stdout, /\bpolicy\b/);
});

test('check-config: an unknown role or server is refused with file:line:column', T, async () => {
  const role = fixture('role.yaml', `${SERVERS}roles: [{name: dev, allow: [{tools: ['github/*']}]}]
bindings:
  - {role: devs, match: {subject: a}}
`);
  const r1 = await run(['check-config', '-c', role]);
  assert.equal(r1.code, 1);
  assert.equal(r1.stderr, `${role}:7:12: bindings[0].role: no role named "devs" in roles\n`);
  const server = fixture('server.yaml', `${SERVERS}roles:
  - name: dev
    allow: [{tools: ['gitub/*']}]
`);
  const r2 = await run(['check-config', '-c', server]);
  assert.equal(r2.code, 1);
  assert.equal(r2.stderr, `${server}:7:22: roles[0].allow[0].tools[0]: "gitub/*": no server named "gitub" in servers\n`);
  const regex = fixture('regex.yaml', `${SERVERS}roles:
  - name: dev
    allow:
      - tools: ['github/*']
        when: {args: {/repo: {pattern: '(acme'}}}
`);
  const r3 = await run(['check-config', '-c', regex]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /regex\.yaml:9:40: roles\[0\]\.allow\[0\]\.when\.args\.\/repo\.pattern: missing closing parenthesis at offset 5/);
});

test('check-config: warnings go to stderr and do not change the exit status', T, async () => {
  const file = fixture('warn.yaml', `${SERVERS}roles:
  - name: dev
    allow: [{tools: ['gitlab-*/x', 'github/delete_repo']}]
    deny: [{tools: ['github/*']}]
bindings: []
`);
  const r = await run(['check-config', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ok \(2 server\(s\), 1 listener\(s\)\)/);
  const warnings = r.stderr.split('\n').filter((l) => l !== '');
  assert.deepEqual(warnings, [
    `warning: ${file}:7:22: roles[0].allow[0].tools[0]: "gitlab-*/x": the server part "gitlab-*" matches no configured server`,
    `warning: ${file}:7:36: roles[0].allow[0].tools[1]: "github/delete_repo" can never match: roles[0].deny[0] (${file}:8:12) denies it unconditionally`,
    `warning: ${file}:6:5: roles[0]: no binding names role "dev" (only API keys created with --roles dev can have it)`,
  ]);
  const none = fixture('none.yaml', SERVERS);
  const r2 = await run(['check-config', '-c', none]);
  assert.equal(r2.code, 0);
  assert.match(r2.stderr, /^warning: .*none\.yaml: roles: authentication is enabled, and no role is defined: every caller is denied everything$/m);
});
