// Authorization (issue 5), end to end: one gateway with a TLS listener that knows callers by JWT
// (a real IdP, oidc-provider), API key and client certificate, in front of two real servers
// (server-everything and server-filesystem over stdio), and a policy of three roles. A table of
// principals × what they list and call, driven with the official SDK client; then what the table
// cannot say: hidden answers equal unknown ones, step-up 403, URI traversal, unknown methods,
// reload on SIGHUP.
//
// Roles, bindings and scopes (see POLICY below):
//   analyst   read-only: everything's echo and get-* tools but get-env, fs read/list tools, the
//             static documents, every prompt     ← groups "ops" (JWT), API key "ci-bot",
//                                                   certificate spiffe://acme/ci-bot
//   developer fs tools inside <root>/acme only, never delete-like moves; echo with a short message;
//             get-sum for small numbers; writes that mention SECRET are refused
//                                                 ← groups "eng" (JWT), an API key's own role
//   admin     everything                         ← subject "root" (JWT)
//   (anyone else: nothing — certificate spiffe://acme/other-bot, API key "stranger")
//   scopes: fs/write_* needs mcp:write (OAuth tokens only)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, test } from 'node:test';

import { startIdp } from '../fixtures/idp.mjs';
import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, cleanupDir, connect, everythingStdio, filesystemStdio, freePort, listAll,
  resultText, tempDir, waitFor,
} from './lib/gateway.mjs';
import { makeClientCa, makeClientCert, makePki, trustingFetch } from './lib/tls.mjs';

const T = { timeout: 60_000, skip: GATEWAY_ONLY };
const exec = promisify(execFile);

let dir, root, pki, clientsCa, idp, gw, resource;
const certs = {};
const tokens = {};
const keys = {};

function policy(rootDir) {
  return {
    roles: [
      {
        name: 'analyst',
        allow: [
          { tools: ['everything/echo', 'everything/get-*', 'fs/read_*', 'fs/list_*'] },
          { prompts: ['*'] },
          { resources: ['everything/demo://resource/static/document/*'] },
        ],
        deny: [{ tools: ['everything/get-env'] }],
      },
      {
        name: 'developer',
        allow: [
          {
            tools: ['fs/read_text_file', 'fs/write_file', 'fs/list_directory'],
            // prefix compares strings: the pattern refuses `..` segments that would climb out
            // (`$$` is a literal `$` in the configuration, where `${...}` expands)
            when: { args: { '/path': { prefix: `${rootDir}/acme/`, pattern: '(?!.*(^|/)\\.\\.(/|$$)).*' } } },
          },
          { tools: ['everything/echo'], when: { args: { '/message': { pattern: '[a-z ]+', max_length: 20 } } } },
          { tools: ['everything/get-sum'], when: { args: { '/a': { min: 0, max: 100 }, '/b': { in: [1, 2, 3] } } } },
        ],
        deny: [{ tools: ['fs/write_file'], when: { args: { '/content': { pattern: '.*SECRET.*' } } } }],
      },
      { name: 'admin', allow: [{ tools: ['*'] }, { prompts: ['*'] }, { resources: ['*'] }] },
    ],
    bindings: [
      { role: 'analyst', match: { claim: 'groups', contains: 'ops' } },
      { role: 'analyst', match: { api_key: 'ci-bot' } },
      { role: 'analyst', match: { certificate: 'spiffe://acme/ci-bot' } },
      { role: 'developer', match: { claim: 'groups', contains: 'eng' } },
      { role: 'admin', match: { subject: 'root' } },
    ],
    scopes: [{ tools: ['fs/write_*'], require: ['mcp:write'] }],
  };
}

before(async () => {
  if (GATEWAY_ONLY) return;
  dir = tempDir('mcpgate-authz-');
  root = join(realpathSync(dir), 'files');
  for (const d of ['acme', 'evil']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'acme/readme.txt'), 'acme readme\n');
  writeFileSync(join(root, 'evil/plans.txt'), 'evil plans\n');
  pki = await makePki(dir, { server: 'IP:127.0.0.1' });
  clientsCa = await makeClientCa(dir, 'clients-ca', 'mcpgate-e2e clients CA');
  certs.bot = await makeClientCert(clientsCa, 'bot', { cn: 'ci-bot', san: 'URI:spiffe://acme/ci-bot' });
  certs.other = await makeClientCert(clientsCa, 'other', { cn: 'other-bot', san: 'URI:spiffe://acme/other-bot' });
  idp = await startIdp({
    accounts: { alice: { groups: ['eng'] }, bob: { groups: ['ops'] }, root: { groups: [] }, eve: { groups: ['sales'] } },
  });
  const port = await freePort();
  resource = `https://127.0.0.1:${port}/mcp`;
  gw = new Gateway({
    listen: [{ address: `127.0.0.1:${port}`, tls: { cert: pki.server.cert, key: pki.server.key } }],
    servers: [everythingStdio(), filesystemStdio(root)],
    auth: {
      resource,
      jwt: [{ issuer: idp.issuer }],
      api_keys: { enabled: true },
      mtls: { client_ca: clientsCa.ca, identity: 'san_uri' },
    },
    ...policy(root),
  }, { fetch: trustingFetch(pki.caPem) });
  const cli = async (...args) => (await exec(GATEWAY_BIN, [...args, '-c', gw.configPath])).stdout.trim();
  keys.ciBot = await cli('keys', 'create', '--name', 'ci-bot', '--roles', 'none');
  keys.deploy = await cli('keys', 'create', '--name', 'deploy', '--roles', 'developer');
  keys.stranger = await cli('keys', 'create', '--name', 'stranger', '--roles', 'none');
  await gw.start();
  const token = async (account, scope) => (await idp.userToken({ account, resource, scope })).access_token;
  tokens.alice = await token('alice', 'mcp:tools');
  tokens.aliceWrite = await token('alice', 'mcp:tools mcp:write');
  tokens.bob = await token('bob', 'mcp:tools');
  tokens.root = await token('root', 'mcp:tools mcp:write');
  tokens.eve = await token('eve', 'mcp:tools');
}, { timeout: 60_000 });

afterEach((t) => {
  if (!t.passed && gw) console.error(`diagnostics for "${t.name}":\n${gw.diagnostics()}`);
});

after(async () => {
  await gw?.stop();
  await idp?.stop();
  if (dir) cleanupDir(dir);
});

/** A fetch that presents `who`'s credential: {bearer}, {apiKey} or {cert}. */
function fetchAs(who) {
  const base = trustingFetch(pki.caPem, who.cert ?? null);
  return (input, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    if (who.bearer) headers.set('authorization', `Bearer ${who.bearer}`);
    if (who.apiKey) headers.set('x-api-key', who.apiKey);
    return base(input, { ...init, headers });
  };
}

const PRINCIPALS = {
  'alice (JWT, groups eng → developer)': () => ({ bearer: tokens.alice }),
  'alice with mcp:write': () => ({ bearer: tokens.aliceWrite }),
  'bob (JWT, groups ops → analyst)': () => ({ bearer: tokens.bob }),
  'root (JWT, subject → admin)': () => ({ bearer: tokens.root }),
  'eve (JWT, no binding)': () => ({ bearer: tokens.eve }),
  'ci-bot (API key by name → analyst)': () => ({ apiKey: keys.ciBot }),
  'deploy (API key with its own role developer)': () => ({ apiKey: keys.deploy }),
  'stranger (API key, no role)': () => ({ apiKey: keys.stranger }),
  'certificate spiffe://acme/ci-bot → analyst': () => ({ cert: certs.bot }),
  'certificate spiffe://acme/other-bot (no binding)': () => ({ cert: certs.other }),
};

/** What a call came to: ok, unknown (-32602 Unknown tool), forbidden (-32003), scope (HTTP 403). */
async function outcome(client, name, args) {
  try {
    const result = await client.callTool({ name, arguments: args });
    return result.isError ? `tool-error: ${resultText(result)}` : 'ok';
  } catch (err) {
    if (err.code === -32602 && /^MCP error -32602: Unknown tool: /.test(err.message)) return 'unknown';
    if (err.code === -32003 && /Forbidden by policy: /.test(err.message)) return 'forbidden';
    if (err.code === 403 && /needs the scope/.test(String(err.message))) return 'scope';
    return `error ${err.code}: ${err.message}`;
  }
}

const f = (p) => join(root, p);
// [principal, tool, args, expected]
const CALLS = () => [
  ['alice (JWT, groups eng → developer)', 'fs__read_text_file', { path: f('acme/readme.txt') }, 'ok'],
  ['alice (JWT, groups eng → developer)', 'fs__read_text_file', { path: f('evil/plans.txt') }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'fs__read_text_file', { path: `${f('acme')}/../evil/plans.txt` }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'fs__read_text_file', {}, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'fs__read_text_file', { path: 42 }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'fs__write_file', { path: f('acme/new.txt'), content: 'hi' }, 'scope'],
  ['alice with mcp:write', 'fs__write_file', { path: f('acme/new.txt'), content: 'hi' }, 'ok'],
  ['alice with mcp:write', 'fs__write_file', { path: f('acme/leak.txt'), content: 'the SECRET is' }, 'forbidden'],
  ['alice with mcp:write', 'fs__write_file', { path: f('evil/new.txt'), content: 'hi' }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'everything__echo', { message: 'hello there' }, 'ok'],
  ['alice (JWT, groups eng → developer)', 'everything__echo', { message: 'Hello' }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'everything__echo', { message: 'much too long for the rule' }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'everything__get-sum', { a: 5, b: 2 }, 'ok'],
  ['alice (JWT, groups eng → developer)', 'everything__get-sum', { a: 500, b: 2 }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'everything__get-sum', { a: 5, b: 7 }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'everything__get-sum', { a: '5', b: 2 }, 'forbidden'],
  ['alice (JWT, groups eng → developer)', 'everything__get-env', {}, 'unknown'],
  ['alice (JWT, groups eng → developer)', 'fs__move_file', { source: f('acme/readme.txt'), destination: f('acme/x') }, 'unknown'],
  ['bob (JWT, groups ops → analyst)', 'everything__echo', { message: 'Anything Goes!' }, 'ok'],
  ['bob (JWT, groups ops → analyst)', 'everything__get-sum', { a: 500, b: 7 }, 'ok'],
  ['bob (JWT, groups ops → analyst)', 'everything__get-env', {}, 'unknown'],
  ['bob (JWT, groups ops → analyst)', 'fs__read_text_file', { path: f('evil/plans.txt') }, 'ok'],
  ['bob (JWT, groups ops → analyst)', 'fs__write_file', { path: f('acme/bob.txt'), content: 'x' }, 'unknown'],
  ['root (JWT, subject → admin)', 'everything__get-env', {}, 'ok'],
  ['root (JWT, subject → admin)', 'fs__write_file', { path: f('evil/root.txt'), content: 'SECRET' }, 'ok'],
  ['eve (JWT, no binding)', 'everything__echo', { message: 'hi' }, 'unknown'],
  ['ci-bot (API key by name → analyst)', 'everything__echo', { message: 'Anything' }, 'ok'],
  ['ci-bot (API key by name → analyst)', 'fs__write_file', { path: f('acme/ci.txt'), content: 'x' }, 'unknown'],
  ['deploy (API key with its own role developer)', 'fs__write_file', { path: f('acme/deploy.txt'), content: 'x' }, 'ok'],
  ['deploy (API key with its own role developer)', 'fs__write_file', { path: f('evil/deploy.txt'), content: 'x' }, 'forbidden'],
  ['stranger (API key, no role)', 'everything__echo', { message: 'hi' }, 'unknown'],
  ['certificate spiffe://acme/ci-bot → analyst', 'fs__list_directory', { path: f('evil') }, 'ok'],
  ['certificate spiffe://acme/ci-bot → analyst', 'everything__get-env', {}, 'unknown'],
  ['certificate spiffe://acme/other-bot (no binding)', 'fs__list_directory', { path: f('evil') }, 'unknown'],
];

// What each principal's tools/list must and must not show.
const LISTS = {
  'alice (JWT, groups eng → developer)': {
    has: ['fs__read_text_file', 'fs__write_file', 'fs__list_directory', 'everything__echo', 'everything__get-sum'],
    not: ['everything__get-env', 'fs__move_file', 'everything__get-tiny-image', 'fs__read_file'],
  },
  'bob (JWT, groups ops → analyst)': {
    has: ['everything__echo', 'everything__get-sum', 'everything__get-tiny-image', 'fs__read_text_file', 'fs__list_directory'],
    not: ['everything__get-env', 'fs__write_file', 'fs__move_file', 'everything__trigger-sampling-request'],
  },
  'root (JWT, subject → admin)': { has: ['everything__get-env', 'fs__move_file', 'fs__write_file'], not: [] },
  'eve (JWT, no binding)': { has: [], not: ['everything__echo'], empty: true },
  'certificate spiffe://acme/ci-bot → analyst': { has: ['fs__list_directory'], not: ['fs__write_file'] },
  'certificate spiffe://acme/other-bot (no binding)': { has: [], not: [], empty: true },
};

async function as(label, fn) {
  const conn = await connect(gw.url('/mcp'), { fetch: fetchAs(PRINCIPALS[label]()) });
  try {
    return await fn(conn.client, conn);
  } finally {
    await conn.close();
  }
}

describe('the matrix: principals × tools and arguments', () => {
  test('lists show exactly what each principal may use', T, async () => {
    for (const [label, want] of Object.entries(LISTS)) {
      await as(label, async (client) => {
        const names = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
        for (const name of want.has) assert.ok(names.includes(name), `${label} should see ${name}: ${names.join()}`);
        for (const name of want.not) assert.ok(!names.includes(name), `${label} should not see ${name}`);
        if (want.empty) {
          assert.deepEqual(names, [], `${label} sees nothing`);
          assert.equal(client.getServerCapabilities()?.tools, undefined, `${label}: no tools capability advertised`);
        }
      });
    }
  });

  test('calls: allowed, hidden, refused by a condition, or sent to step up', T, async () => {
    const failures = [];
    const byPrincipal = new Map();
    for (const row of CALLS()) {
      if (!byPrincipal.has(row[0])) byPrincipal.set(row[0], []);
      byPrincipal.get(row[0]).push(row);
    }
    for (const [label, rows] of byPrincipal) {
      for (const [, tool, args, expected] of rows) {
        // a fresh client per call: a 403 ends the SDK client's session
        const got = await as(label, (client) => outcome(client, tool, args));
        if (got !== expected) failures.push(`${label}: ${tool} ${JSON.stringify(args)} → ${got}, expected ${expected}`);
      }
    }
    assert.deepEqual(failures, []);
  });
});

/** A raw JSON-RPC POST on a fresh session of `who`. */
async function rawCall(who, body) {
  const fetchImpl = fetchAs(who);
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await fetchImpl(gw.url('/mcp'), {
    method: 'POST', headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });
  assert.equal(init.status, 200, await init.text());
  const session = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
  const res = await fetchImpl(gw.url('/mcp'), { method: 'POST', headers: { ...headers, ...session }, body: JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text.startsWith('event:') || text.startsWith('data:') ? text.split('\n').find((l) => l.startsWith('data:')).slice(5) : text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

const call = (name, args = {}) => ({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } });

describe('what the table cannot say', () => {
  test('a hidden tool is answered exactly like one that does not exist', T, async () => {
    const bob = { bearer: tokens.bob };
    const hidden = await rawCall(bob, call('everything__get-env'));
    const missing = await rawCall(bob, call('everything__get-nothing-such'));
    const badServer = await rawCall(bob, call('nosuch__get-env'));
    const strip = (r, name) => JSON.stringify(r.json).replace(name, 'NAME');
    assert.equal(hidden.status, missing.status);
    assert.equal(strip(hidden, 'everything__get-env'), strip(missing, 'everything__get-nothing-such'));
    assert.equal(strip(hidden, 'everything__get-env'), strip(badServer, 'nosuch__get-env'));
    assert.match(hidden.json.error.message, /^Unknown tool: everything__get-env$/);
  });

  test('names in odd shapes: case variants, look-alikes, separators, traversal', T, async () => {
    const bob = { bearer: tokens.bob };
    for (const name of ['everything__ECHO', 'everything__Echo', 'everything__\u0435cho' /* Cyrillic е */,
      'everything____echo', '__everything__echo', 'everything__echo ', 'everything/echo', 'everything__echo/']) {
      const res = await rawCall(bob, call(name, { message: 'x' }));
      assert.equal(res.json?.error?.code, -32602, `${JSON.stringify(name)}: ${res.text}`);
      assert.match(res.json.error.message, /^Unknown tool: /, JSON.stringify(name));
    }
    // a NUL never gets as far as a name: the decoder refuses it
    const nul = await rawCall(bob, call('everything__get-env\u0000'));
    assert.equal(nul.json?.error?.code, -32700, nul.text);
    const read = (uri) => rawCall(bob, { jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri } });
    const ok = await read('everything+demo://resource/static/document/architecture.md');
    assert.ok(ok.json?.result?.contents?.length > 0, ok.text);
    for (const uri of ['everything+demo://resource/static/document/../../dynamic/text/1',
      'everything+demo://resource/static/document/%2e%2e/%2E%2E/dynamic/text/1',
      'everything+demo://resource/static/document/..%2f..%2fdynamic/text/1',
      'everything+demo://resource/dynamic/text/1']) {
      const res = await read(uri);
      assert.equal(res.json?.error?.code, -32002, `${uri}: ${res.text}`);
      assert.match(res.json.error.message, /^Resource not found: /, uri);
    }
  });

  test('a missing scope is a 403 insufficient_scope challenge naming it (step-up), not a deny', T, async () => {
    const res = await rawCall({ bearer: tokens.alice }, call('fs__write_file', { path: f('acme/s.txt'), content: 'x' }));
    assert.equal(res.status, 403, res.text);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /error="insufficient_scope"/);
    assert.match(challenge, /scope="mcp:write"/);
    assert.match(res.json.error.message, /mcp:write/);
    // the same call by an API key (no OAuth scopes to ask for) is decided by roles alone
    const key = await rawCall({ apiKey: keys.deploy }, call('fs__write_file', { path: f('acme/s.txt'), content: 'x' }));
    assert.equal(key.status, 200, key.text);
    assert.equal(key.json?.result?.isError ?? false, false, key.text);
  });

  test('a refusal says which condition failed, and the gateway log names the rule', T, async () => {
    const res = await rawCall({ bearer: tokens.alice }, call('everything__get-sum', { a: 5, b: 9 }));
    assert.equal(res.json?.error?.code, -32003, res.text);
    assert.match(res.json.error.message, /\/b/);
    await waitFor(() => /"event":"policy.denied".*"rule":"role developer allow\[2\]/.test(gw.stderr),
      { what: 'a policy.denied log line naming the rule' });
  });

  test('under a policy, methods the gateway does not know are not forwarded', T, async () => {
    const res = await rawCall({ bearer: tokens.root }, { jsonrpc: '2.0', id: 9, method: 'tools/secret_admin', params: {} });
    assert.equal(res.json?.error?.code, -32601, res.text);
  });

  test('prompts and resources are filtered and refused too', T, async () => {
    await as('alice (JWT, groups eng → developer)', async (client) => {
      assert.deepEqual((await listAll(client, 'listPrompts', 'prompts')).items, []);
      assert.deepEqual((await listAll(client, 'listResources', 'resources')).items, []);
      await assert.rejects(client.getPrompt({ name: 'everything__simple-prompt' }), /Unknown prompt: everything__simple-prompt/);
    });
    await as('bob (JWT, groups ops → analyst)', async (client) => {
      const prompts = (await listAll(client, 'listPrompts', 'prompts')).items.map((p) => p.name);
      assert.ok(prompts.includes('everything__simple-prompt'), prompts.join());
      const uris = (await listAll(client, 'listResources', 'resources')).items.map((r) => r.uri);
      assert.ok(uris.length > 0 && uris.every((u) => u.startsWith('everything+demo://resource/static/document/')), uris.join());
    });
  });
});

describe('reload', () => {
  test('SIGHUP applies a changed policy without a restart; a broken one changes nothing', T, async () => {
    const eve = { bearer: tokens.eve };
    assert.equal((await rawCall(eve, call('everything__echo', { message: 'hi' }))).json?.error?.code, -32602);
    const pid = gw.proc.pid;
    const original = readFileSync(gw.configPath, 'utf8');
    try {
      writeFileSync(gw.configPath, `${original}\n# reload test\n`.replace(
        /bindings:\n/, 'bindings:\n  - role: analyst\n    match: {claim: groups, contains: sales}\n'));
      gw.proc.kill('SIGHUP');
      await waitFor(() => /"event":"policy.reloaded"/.test(gw.stderr), { what: 'policy.reloaded' });
      const res = await rawCall(eve, call('everything__echo', { message: 'hi' }));
      assert.equal(resultText(res.json?.result ?? {}), 'Echo: hi', res.text);
      // a policy that does not load is refused with its location, and the running one stays
      writeFileSync(gw.configPath, `${original}`.replace(/bindings:\n/, 'bindings:\n  - role: no-such-role\n    match: {authenticated: true}\n'));
      gw.proc.kill('SIGHUP');
      await waitFor(() => /"event":"policy.reload_failed".*config.yaml:\d+:\d+/.test(gw.stderr), { what: 'policy.reload_failed' });
      const still = await rawCall(eve, call('everything__echo', { message: 'hi' }));
      assert.equal(resultText(still.json?.result ?? {}), 'Echo: hi', still.text);
      assert.equal(gw.proc.pid, pid);
    } finally {
      writeFileSync(gw.configPath, original);
      gw.proc.kill('SIGHUP');
      await waitFor(() => (gw.stderr.match(/"event":"policy.reloaded"/g) ?? []).length >= 2, { what: 'reload back' });
    }
  });
});
