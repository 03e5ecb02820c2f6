// The admin API (issue 8, docs/guards.md): held calls and quarantined tools decided over HTTP on a listener
// of its own (admin.listen), by callers the gateway identifies as on /mcp (API keys here) and who hold one of
// admin.roles. Through the real gateway with the official SDK client: a held call approved through the API
// reaches the server; one denied gets -32042; a second decision on the same id is 409; a rug-pulled tool
// approved through the API is served again; no credential is 401 with a challenge, a caller without the role
// 403, an unknown id or tool 404, a wrong method 405, bad JSON 400, a body that is not JSON 415; the decider
// recorded is the caller's principal; each decision is logged and audited; mistakes in the section are
// refused at load. Over a TLS admin listener, client certificates (auth.mtls) identify admin callers as on /mcp.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, NODE, REPO_ROOT, callToolError, cleanupDir, connect, everythingStdio,
  freePort, resultText, tempDir, waitFor, auditRecords as records,
} from './lib/gateway.mjs';
import { makeClientCa, makeClientCert, makePki, trustingFetch } from './lib/tls.mjs';

const exec = promisify(execFile);
const T = { timeout: 90_000, skip: GATEWAY_ONLY };
const DENIED = -32042;
const QUARANTINED = -32040;
const RUGPULL = join(REPO_ROOT, 'tests/e2e/fixtures/rugpull-server.mjs');

describe('the admin API', { skip: GATEWAY_ONLY }, () => {
  let gw, admin, opsKey, devKey, session, dir, trail;

  /** A request to the admin listener; `key` (optional) as X-API-Key, `body` an object or raw text. */
  const call = async (method, path, { key, body, type = 'application/json', headers = {} } = {}) => {
    const sent = { ...headers };
    if (key) sent['x-api-key'] = key;
    if (body !== undefined) sent['content-type'] = type;
    const res = await fetch(`${admin}${path}`, {
      method, headers: sent, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  };
  const ops = (method, path, opts = {}) => call(method, path, { key: opsKey, ...opts });

  const pending = async (tool, known) => {
    let row;
    await waitFor(async () => {
      const res = await ops('GET', '/admin/approvals?state=pending');
      row = res.json?.find((r) => r.tool === tool && !known.has(r.id));
      return row;
    }, { what: `a pending approval of ${tool}` });
    known.add(row.id);
    return row;
  };

  before(async () => {
    dir = tempDir('mcpgate-admin-');
    trail = join(dir, 'audit.jsonl');
    const port = await freePort();
    gw = new Gateway({
      listen: [`127.0.0.1:${port}`],
      servers: [everythingStdio(), { name: 'rugpull', command: [NODE, RUGPULL] }],
      auth: { resource: `http://127.0.0.1:${port}/mcp`, api_keys: { enabled: true } },
      roles: [
        { name: 'ops', allow: [{ tools: ['*'] }] },
        { name: 'developer', allow: [{ tools: ['*'] }] },
      ],
      audit: { file: trail, fsync: 'never' },
      approvals: [{ tools: ['everything/echo'], timeout_s: 60 }],
      admin: { listen: '127.0.0.1:0', roles: ['ops'] },
    });
    const cli = async (...args) => (await exec(GATEWAY_BIN, [...args, '-c', gw.configPath])).stdout.trim();
    opsKey = await cli('keys', 'create', '--name', 'ops', '--roles', 'ops');
    devKey = await cli('keys', 'create', '--name', 'dev', '--roles', 'developer');
    await gw.start();
    await gw.logged(/"event":"admin\.listen\.ready"/);
    const ready = gw.stderr.split('\n').map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .find((r) => r?.event === 'admin.listen.ready');
    assert.equal(ready.tls, false);
    admin = `http://${ready.address}`;
    const withKey = (url, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('x-api-key', devKey);
      return fetch(url, { ...init, headers });
    };
    session = await connect(gw.url('/mcp'), { fetch: withKey });
  });

  after(async () => {
    await session?.close();
    await gw?.stop();
    if (dir) cleanupDir(dir);
  });

  test('callers: no credential 401 with a challenge, a bad key 401, no role 403; /mcp is not served', T, async () => {
    const none = await call('GET', '/admin/approvals');
    assert.equal(none.status, 401, none.text);
    assert.match(none.headers.get('www-authenticate'), /^Bearer /);
    assert.match(none.headers.get('content-type'), /^application\/json/);
    assert.equal(typeof none.json.error, 'string');
    const bad = await call('GET', '/admin/approvals', { key: `mgk_0123456789abcdef_${'A'.repeat(43)}` });
    assert.equal(bad.status, 401, bad.text);
    assert.match(bad.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.match(bad.json.error, /unknown API key/);
    const dev = await call('GET', '/admin/tools', { key: devKey });
    assert.equal(dev.status, 403, dev.text);
    assert.match(dev.json.error, /admin\.roles/);
    await gw.logged(/"event":"admin\.forbidden".*"principal":"api_key:dev"/);
    // the role is checked before the target: a caller without it learns nothing about paths
    assert.equal((await call('POST', '/admin/nothing', { key: devKey })).status, 403);
    // the admin listener serves nothing but the admin API, and /mcp does not serve it
    assert.equal((await ops('POST', '/mcp', { body: {} })).status, 404);
    const onMain = await fetch(gw.url('/admin/approvals'), { headers: { 'x-api-key': opsKey } });
    assert.equal(onMain.status, 404);
  });

  test('targets and bodies: 404, 405 with Allow, 400, 415', T, async () => {
    for (const path of ['/admin/', '/admin/nothing', '/admin/approvals/nope/approve', '/admin/approvals/',
      `/admin/approvals/apr_${'0'.repeat(32)}/maybe`, '/admin/tools/everything/approve', '/admin/tools/a/b/c/approve', '/admin/tools/a%00/b/approve']) {
      const res = await ops('POST', path);
      assert.equal(res.status, 404, `${path}: ${res.text}`);
      assert.equal(res.json.error, 'not found');
    }
    const unknown = await ops('POST', `/admin/approvals/apr_${'0'.repeat(32)}/approve`);
    assert.equal(unknown.status, 404, unknown.text);
    assert.match(unknown.json.error, /apr_0{32}/);
    const getDecide = await ops('GET', `/admin/approvals/apr_${'0'.repeat(32)}/approve`);
    assert.equal(getDecide.status, 405);
    assert.equal(getDecide.headers.get('allow'), 'POST');
    const postList = await ops('POST', '/admin/tools');
    assert.equal(postList.status, 405);
    assert.equal(postList.headers.get('allow'), 'GET');
    const badState = await ops('GET', '/admin/approvals?state=maybe');
    assert.equal(badState.status, 400);
    assert.match(badState.json.error, /state must be one of/);
    const id = `apr_${'0'.repeat(32)}`;
    const badJson = await ops('POST', `/admin/approvals/${id}/deny`, { body: '{"reason": ' });
    assert.equal(badJson.status, 400, badJson.text);
    assert.match(badJson.json.error, /not JSON/);
    const notObject = await ops('POST', `/admin/approvals/${id}/deny`, { body: '["no"]' });
    assert.equal(notObject.status, 400);
    const extra = await ops('POST', `/admin/approvals/${id}/deny`, { body: { reason: 'x', also: 1 } });
    assert.equal(extra.status, 400);
    assert.match(extra.json.error, /only member is "reason"/);
    const longReason = await ops('POST', `/admin/approvals/${id}/deny`, { body: { reason: 'x'.repeat(501) } });
    assert.equal(longReason.status, 400);
    const text = await ops('POST', `/admin/approvals/${id}/deny`, { body: 'reason=x', type: 'text/plain' });
    assert.equal(text.status, 415, text.text);
    // a well-formed request about an id nobody holds gets as far as the store
    const fine = await ops('POST', `/admin/approvals/${id}/deny`, { body: { reason: 'x' }, type: 'application/json; charset=utf-8' });
    assert.equal(fine.status, 404, fine.text);
  });

  test('held calls: approved reaches the server, denied gets -32042, a second decision is 409', T, async () => {
    const { client } = session;
    const known = new Set();
    assert.deepEqual((await ops('GET', '/admin/approvals')).json, []);

    const approvedCall = client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } });
    const row = await pending('echo', known);
    assert.match(row.id, /^apr_[0-9a-f]{32}$/);
    assert.equal(row.principal, 'api_key:dev');
    assert.equal(row.server, 'everything');
    assert.equal(row.arguments, '{"message":"hello"}');
    // the same fields as `mcpgate approvals list --json`
    const cli = spawnSync(GATEWAY_BIN, ['approvals', 'list', '--json', '-c', gw.configPath], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(cli.stdout).find((r) => r.id === row.id), row);

    const approve = await ops('POST', `/admin/approvals/${row.id}/approve`, { body: { reason: 'looks fine' } });
    assert.equal(approve.status, 200, approve.text);
    assert.equal(approve.json.state, 'approved');
    assert.equal(approve.json.decided_by, 'api_key:ops');
    assert.equal(resultText(await approvedCall), 'Echo: hello');
    const again = await ops('POST', `/admin/approvals/${row.id}/approve`);
    assert.equal(again.status, 409, again.text);
    assert.match(again.json.error, /approved already/);
    assert.equal((await ops('POST', `/admin/approvals/${row.id}/deny`)).status, 409);
    await gw.logged(/"event":"admin\.approvals\.approved".*"principal":"api_key:ops"/);

    const deniedCall = client.callTool({ name: 'everything__echo', arguments: { message: 'rm -rf' } });
    const denyRow = await pending('echo', known);
    const deny = await ops('POST', `/admin/approvals/${denyRow.id}/deny`);
    assert.equal(deny.status, 200, deny.text);
    assert.equal(deny.json.state, 'denied');
    const denied = await deniedCall.then(() => assert.fail('served'), (e) => e);
    assert.equal(denied.code, DENIED, String(denied));
    assert.match(denied.message, /denied by an approver/);
    assert.equal((await ops('POST', `/admin/approvals/${denyRow.id}/approve`)).status, 409);

    // the list and its filter
    const decided = (await ops('GET', '/admin/approvals')).json;
    assert.equal(decided.length, 2);
    assert.deepEqual((await ops('GET', '/admin/approvals?state=denied')).json.map((r) => r.id), [denyRow.id]);
    assert.deepEqual((await ops('GET', '/admin/approvals?state=pending')).json, []);

    // the trail: one record per decision, naming the admin caller
    await waitFor(() => records(trail).filter((r) => r.method?.startsWith('admin/approvals/')).length >= 2,
      { what: 'the admin decisions in the audit trail' });
    const byAdmin = records(trail).filter((r) => r.method?.startsWith('admin/approvals/'));
    const ok = byAdmin.find((r) => r.method === 'admin/approvals/approve');
    assert.equal(ok.decision, 'allow');
    assert.equal(ok.server, 'everything');
    assert.equal(ok.item, 'echo');
    assert.match(ok.reason, /looks fine/);
    assert.equal(ok.findings[0].approval, row.id);
    assert.equal(byAdmin.find((r) => r.method === 'admin/approvals/deny').decision, 'deny');
    // the call's own record says who decided
    await waitFor(() => records(trail).some((r) => r.method === 'tools/call' && /api_key:ops/.test(r.reason ?? '')),
      { what: 'the call record naming the decider' });
  });

  test('a rug-pulled tool approved through the API is served again', T, async () => {
    const { client } = session;
    const names = async () => (await client.listTools()).tools.map((t) => t.name);
    assert.equal(resultText(await client.callTool({ name: 'rugpull__read', arguments: { path: 'a' } })),
      'read v=original path=a');
    const first = (await ops('GET', '/admin/tools')).json;
    const pinned = first.find((p) => p.name === 'rugpull/read');
    assert.equal(pinned.state, 'pinned');
    const cli = spawnSync(GATEWAY_BIN, ['tools', 'list', '--json', '-c', gw.configPath], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(cli.stdout), first, 'the same JSON as mcpgate tools list --json');
    // nothing pending: 409; unknown: 404; instructions are named SERVER%23instructions
    assert.equal((await ops('POST', '/admin/tools/rugpull/read/approve')).status, 409);
    assert.equal((await ops('POST', '/admin/tools/rugpull/nope/approve')).status, 404);
    assert.equal((await ops('POST', '/admin/tools/rugpull%23instructions/approve')).status,
      first.some((p) => p.name === 'rugpull#instructions') ? 409 : 404);

    await client.callTool({ name: 'rugpull__flip', arguments: { what: 'description' } });
    await waitFor(async () => !(await names()).includes('rugpull__read'), { what: 'rugpull__read to leave tools/list' });
    assert.equal((await callToolError(client, 'rugpull__read', { path: 'b' })).code, QUARANTINED);
    const held = (await ops('GET', '/admin/tools')).json.find((p) => p.name === 'rugpull/read');
    assert.equal(held.state, 'quarantined');
    assert.equal(held.reason, 'changed');

    const approve = await ops('POST', '/admin/tools/rugpull/read/approve', { body: { reason: 'reviewed' } });
    assert.equal(approve.status, 200, approve.text);
    assert.equal(approve.json.state, 'pinned');
    assert.equal(approve.json.approved_sha256, held.pending_sha256);
    await waitFor(async () => (await names()).includes('rugpull__read'), { what: 'the approved tool to be listed' });
    for (let i = 0; i < 4; i++) { // both workers serve it
      assert.equal(resultText(await client.callTool({ name: 'rugpull__read', arguments: { path: 'c' } })),
        'read v=description path=c');
    }
    assert.equal((await ops('POST', '/admin/tools/rugpull/read/approve')).status, 409);
    await gw.logged(/"event":"admin\.tools\.approved".*"principal":"api_key:ops"/);
    await waitFor(() => records(trail).some((r) => r.method === 'admin/tools/approve' && r.item === 'read'),
      { what: 'the tool approval in the audit trail' });
    const record = records(trail).find((r) => r.method === 'admin/tools/approve');
    assert.equal(record.findings[0].approved_sha256, held.pending_sha256);
    assert.match(record.reason, /reviewed/);
  });
});

describe('admin configuration', () => {
  const check = (yaml) => {
    const dir = tempDir('mcpgate-admin-config-');
    const path = join(dir, 'gw.yaml');
    writeFileSync(path, yaml);
    const run = spawnSync(GATEWAY_BIN, ['check-config', '-c', path], { encoding: 'utf8' });
    cleanupDir(dir);
    return run;
  };
  const AUTH = 'listen: ["127.0.0.1:8080"]\nauth:\n  resource: http://127.0.0.1:8080/mcp\n  api_keys: {enabled: true}\n' +
    'roles:\n  - name: ops\n    allow: [{tools: ["*"]}]\n';

  test('a valid section loads', () => {
    const run = check(`${AUTH}admin:\n  listen: 127.0.0.1:9090\n  roles: [ops]\n`);
    assert.equal(run.status, 0, run.stderr);
  });

  test('mistakes are refused with file:line:column', () => {
    const cases = [
      ['admin:\n  listen: 127.0.0.1:9090\n  roles: [ops]\n', /gw\.yaml:1:1: admin: needs an auth section/],
      [`${AUTH}admin:\n  roles: [ops]\n`, /gw\.yaml:9:3: admin: missing required key "listen"/],
      [`${AUTH}admin:\n  listen: 127.0.0.1:9090\n`, /gw\.yaml:9:3: admin: missing required key "roles"/],
      [`${AUTH}admin:\n  listen: 127.0.0.1:8080\n  roles: [ops]\n`, /gw\.yaml:9:11: admin\.listen: address 127\.0\.0\.1:8080 is already used by listen\[0\]/],
      [`${AUTH}admin:\n  listen: 127.0.0.1:9090\n  roles: [root]\n`, /gw\.yaml:10:11: admin\.roles\[0\]: "root" is not a role/],
      [`${AUTH}admin:\n  listen: 127.0.0.1:9090\n  roles: []\n`, /gw\.yaml:10:10: admin\.roles: must name at least one role/],
    ];
    for (const [yaml, expected] of cases) {
      const run = check(yaml);
      assert.notEqual(run.status, 0, yaml);
      assert.match(run.stderr, expected, yaml);
    }
  });
});

describe('the admin API over TLS, client certificates identifying callers', { skip: GATEWAY_ONLY }, () => {
  test('an ops certificate decides; a developer certificate is 403; none is 401', T, async () => {
    const dir = tempDir('mcpgate-admin-tls-');
    const pki = await makePki(dir, { server: 'IP:127.0.0.1' });
    const clients = await makeClientCa(dir, 'clients-ca', 'mcpgate-e2e admin clients CA');
    const opsCert = await makeClientCert(clients, 'ops', { cn: 'ops', san: 'URI:spiffe://acme/ops' });
    const devCert = await makeClientCert(clients, 'dev', { cn: 'dev', san: 'URI:spiffe://acme/dev' });
    const port = await freePort();
    const gw = new Gateway({
      listen: [{ address: `127.0.0.1:${port}`, tls: { cert: pki.server.cert, key: pki.server.key } }],
      servers: [everythingStdio()],
      auth: { resource: `https://127.0.0.1:${port}/mcp`, mtls: { client_ca: clients.ca, identity: 'san_uri' } },
      roles: [{ name: 'ops', allow: [{ tools: ['*'] }] }, { name: 'developer', allow: [{ tools: ['*'] }] }],
      bindings: [
        { role: 'ops', match: { certificate: 'spiffe://acme/ops' } },
        { role: 'developer', match: { certificate: 'spiffe://acme/dev' } },
      ],
      approvals: [{ tools: ['everything/echo'], timeout_s: 60 }],
      admin: { listen: { address: '127.0.0.1:0', tls: { cert: pki.server.cert, key: pki.server.key } }, roles: ['ops'] },
    }, { fetch: trustingFetch(pki.caPem) });
    let session;
    try {
      await gw.start();
      await gw.logged(/"event":"admin\.listen\.ready"/);
      const ready = gw.stderr.split('\n').map((l) => { try { return JSON.parse(l); } catch { return null; } })
        .find((r) => r?.event === 'admin.listen.ready');
      assert.equal(ready.tls, true);
      const adminUrl = (path) => `https://${ready.address}${path}`;
      const asOps = trustingFetch(pki.caPem, opsCert);
      const none = await trustingFetch(pki.caPem)(adminUrl('/admin/approvals'));
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate'), /^Bearer /);
      assert.equal((await trustingFetch(pki.caPem, devCert)(adminUrl('/admin/approvals'))).status, 403);

      session = await connect(gw.url('/mcp'), { fetch: trustingFetch(pki.caPem, devCert) });
      const held = session.client.callTool({ name: 'everything__echo', arguments: { message: 'over tls' } });
      let row;
      await waitFor(async () => {
        row = (await (await asOps(adminUrl('/admin/approvals?state=pending'))).json())[0];
        return row;
      }, { what: 'the pending call' });
      assert.equal(row.principal, 'mtls:spiffe://acme/dev');
      const approve = await asOps(adminUrl(`/admin/approvals/${row.id}/approve`), { method: 'POST' });
      assert.equal(approve.status, 200);
      assert.equal((await approve.json()).decided_by, 'mtls:spiffe://acme/ops');
      assert.equal(resultText(await held), 'Echo: over tls');
    } finally {
      await session?.close();
      await gw.stop();
      cleanupDir(dir);
    }
  });
});
