// Identity, part 3: API keys. Keys made with `mcpgate keys create` (only a hash is stored) open the
// gateway as `Authorization: Bearer <key>` or `X-API-Key: <key>`; an unknown, malformed or revoked
// key is refused with 401 and a challenge; a key revoked while the gateway runs stops working
// within seconds; the gateway records each key's last use.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ALLOW_AUTHENTICATED, GATEWAY_BIN, Gateway, cleanupDir, everythingStdio, freePort, initializeBody, tempDir, waitFor } from './lib/gateway.mjs';

const exec = promisify(execFile);
let gw, key, other;
const stateDir = tempDir('mcpgate-keys-'); // outlives the gateway's own directory

const cli = async (...args) => (await exec(GATEWAY_BIN, [...args, '-c', gw.configPath])).stdout.trim();
const init = (headers) => gw.post('/mcp', initializeBody(), { headers });

before(async () => {
  const port = await freePort();
  gw = new Gateway({
    listen: [`127.0.0.1:${port}`],
    state_dir: join(stateDir, 'var'),
    servers: [everythingStdio()],
    auth: { resource: `http://127.0.0.1:${port}/mcp`, api_keys: { enabled: true } },
    ...ALLOW_AUTHENTICATED,
  });
  key = await cli('keys', 'create', '--name', 'ci-bot', '--roles', 'developer');
  other = await cli('keys', 'create', '--name', 'other-bot', '--roles', 'viewer', '--expires', '30d');
  await gw.start();
});

after(async () => { await gw?.stop(); cleanupDir(stateDir); });

test('a key opens the gateway as Bearer or as X-API-Key', async () => {
  assert.match(key, /^mgk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const bearer = await init({ authorization: `Bearer ${key}` });
  assert.equal(bearer.status, 200, bearer.text);
  const header = await init({ 'x-api-key': key });
  assert.equal(header.status, 200, header.text);
  // the session is bound to the key's principal: another key cannot use it
  const session = bearer.headers.get('mcp-session-id');
  const stolen = await gw.post('/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    { headers: { 'x-api-key': other, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
  assert.equal(stolen.status, 403, stolen.text);
});

test('bad keys are refused with 401 and the reason', async () => {
  const cases = [
    [`mgk_0123456789abcdef_${'A'.repeat(43)}`, /unknown API key/],
    [`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`, /unknown API key|malformed/],
    ['mgk_short', /malformed/],
  ];
  for (const [presented, reason] of cases) {
    const res = await init({ 'x-api-key': presented });
    assert.equal(res.status, 401, res.text);
    assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.match(res.json.error.message, reason);
  }
  const both = await init({ 'x-api-key': key, authorization: `Bearer ${key}` });
  assert.equal(both.status, 400, both.text);
  assert.match(both.headers.get('www-authenticate'), /error="invalid_request"/);
});

test('a key revoked while the gateway runs stops working', async () => {
  assert.equal((await init({ 'x-api-key': other })).status, 200);
  await cli('keys', 'revoke', 'other-bot');
  await waitFor(async () => (await init({ 'x-api-key': other })).status === 401,
    { timeoutMs: 10_000, what: 'the revoked key to be refused' });
  const res = await init({ 'x-api-key': other });
  assert.match(res.json.error.message, /revoked/);
  assert.equal((await init({ 'x-api-key': key })).status, 200, 'the other key still works');
});

test('a key past its expiry is refused as expired', async () => {
  const shortLived = await cli('keys', 'create', '--name', 'short-lived', '--roles', 'viewer', '--expires', '1s');
  const res = await waitFor(async () => {
    const r = await init({ 'x-api-key': shortLived });
    return r.status === 401 && /expired/.test(r.json?.error?.message) ? r : null;
  }, { timeoutMs: 10_000, what: 'the key to be loaded and refused as expired' });
  assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
  assert.equal((await init({ 'x-api-key': key })).status, 200, 'the other key still works');
});

test("the key's last use is recorded", async () => {
  await gw.stop(); // the gateway writes last-use times when it stops (and every 30 s)
  const config = join(stateDir, 'keys.yaml');
  writeFileSync(config, `state_dir: ${JSON.stringify(join(stateDir, 'var'))}\n`);
  const list = JSON.parse((await exec(GATEWAY_BIN, ['keys', 'list', '--json', '-c', config])).stdout);
  const entry = list.find((k) => k.name === 'ci-bot');
  assert.ok(entry, JSON.stringify(list));
  assert.ok(entry.last_used_at, JSON.stringify(entry));
});
