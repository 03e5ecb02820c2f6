// Rate limits, quotas and concurrency limits (issue 7), end to end: a gateway with API keys in
// front of server-everything and two copies of the slow fixture, and rules that limit echo's rate
// per principal and calls in flight per principal and server. A limited call gets HTTP 429 with
// Retry-After and JSON-RPC -32029 naming the rule, over raw HTTP and as an error in the official SDK
// client; principals do not share counters; a concurrency slot comes back when the call ends, when the
// upstream times out, and when the client goes away. Then observe mode: counted and logged, not refused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import {
  ALLOW_AUTHENTICATED, GATEWAY_BIN, GATEWAY_ONLY, Gateway, NODE, SLOW_SERVER, cleanupDir, connect, everythingStdio,
  freePort, resultText, sleep, tempDir, waitFor, withGateway,
} from './lib/gateway.mjs';
import { mirrorHeaders, send, toolCall } from './lib/modern.mjs';

const T = { timeout: 60_000, skip: GATEWAY_ONLY };
const exec = promisify(execFile);

const RULES = {
  rules: [
    { name: 'echo-rate', key: 'principal', rate: '3/minute', tools: ['everything/echo'] },
    { name: 'parallel', key: 'principal+server', concurrency: 1, servers: ['slow*'] },
    { name: 'long-ops', key: 'principal', concurrency: 1, tools: ['everything/trigger-long-running-operation'] },
  ],
};

describe('enforced limits', { skip: GATEWAY_ONLY }, () => {
  let gw, stateDir;
  const keys = {};
  const call = (who, name, args = {}, opts = {}) =>
    send(gw.url('/mcp'), toolCall(name, args), { ...opts, headers: { 'x-api-key': keys[who] } });

  before(async () => {
    stateDir = tempDir('mcpgate-limits-');
    const port = await freePort();
    gw = new Gateway({
      listen: [`127.0.0.1:${port}`],
      state_dir: join(stateDir, 'var'),
      servers: [
        everythingStdio('everything'),
        { name: 'slow', command: [NODE, SLOW_SERVER], timeout_ms: 1500 },
        { name: 'slow-two', command: [NODE, SLOW_SERVER], timeout_ms: 60000 },
      ],
      auth: { resource: `http://127.0.0.1:${port}/mcp`, api_keys: { enabled: true } },
      ...ALLOW_AUTHENTICATED,
      rate_limits: RULES,
    });
    const cli = async (...args) => (await exec(GATEWAY_BIN, [...args, '-c', gw.configPath])).stdout.trim();
    keys.alice = await cli('keys', 'create', '--name', 'alice', '--roles', 'user');
    keys.bob = await cli('keys', 'create', '--name', 'bob', '--roles', 'user');
    keys.carol = await cli('keys', 'create', '--name', 'carol', '--roles', 'user');
    await gw.start();
  });
  after(async () => { await gw?.stop(); if (stateDir) cleanupDir(stateDir); });

  test('over raw HTTP: 429, Retry-After and -32029 naming the rule; another principal is not limited', T, async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await call('alice', 'everything__echo', { message: `hi ${i}` });
      assert.equal(ok.status, 200, ok.text);
      assert.ok(ok.json.result, ok.text);
    }
    const limited = await call('alice', 'everything__echo', { message: 'one too many' });
    assert.equal(limited.status, 429, limited.text);
    // 3/minute with the default burst of 3: T = 20 s, and the fourth call may retry after T
    assert.equal(limited.headers['retry-after'], '20');
    assert.equal(limited.json.error.code, -32029);
    assert.match(limited.json.error.message, /echo-rate/);
    assert.equal(limited.json.error.data.rule, 'echo-rate');
    assert.equal(limited.json.error.data.limit, 'rate');
    assert.equal(limited.json.error.data.retryAfterSeconds, 20);
    assert.ok(limited.json.error.data.retryAfterMs > 19_000 && limited.json.error.data.retryAfterMs <= 20_000);
    // other tools are not under the rule
    const other = await call('alice', 'everything__get-sum', { a: 1, b: 2 });
    assert.equal(other.status, 200, other.text);
    // bob has his own counter
    const bob = await call('bob', 'everything__echo', { message: 'bob' });
    assert.equal(bob.status, 200, bob.text);
    await waitFor(() => /"event":"rate_limit\.limited".*"rule":"echo-rate"/.test(gw.stderr) ||
      /"rule":"echo-rate".*"event":"rate_limit\.limited"/.test(gw.stderr), { what: 'a rate_limit.limited log line' });
    assert.match(gw.stderr, /"principal":"api_key:alice"/);
  });

  test('the official SDK client sees a limited call as an error naming the rule', T, async () => {
    const withKey = (url, init) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), 'x-api-key': keys.carol } });
    const { client, close } = await connect(gw.url('/mcp'), { fetch: withKey });
    try {
      for (let i = 0; i < 3; i++)
        assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'x' } })), 'Echo: x');
      await assert.rejects(client.callTool({ name: 'everything__echo', arguments: { message: 'x' } }),
        (e) => e.code === 429 && /-32029/.test(e.message) && /echo-rate/.test(e.message));
    } finally {
      await close();
    }
  });

  test('a concurrency slot comes back when the upstream times out', T, async () => {
    const started = Date.now();
    const hang = call('alice', 'slow__hang');
    await sleep(300);
    const blocked = await call('alice', 'slow__quick');
    assert.equal(blocked.status, 429, blocked.text);
    assert.equal(blocked.json.error.data.rule, 'parallel');
    assert.equal(blocked.json.error.data.limit, 'concurrency');
    assert.equal(blocked.headers['retry-after'], '1');
    assert.equal((await call('bob', 'slow__quick')).status, 200, 'bob has his own slot');
    assert.equal((await call('alice', 'slow-two__quick')).status, 200, 'another server has its own slot');
    const timedOut = await hang;
    assert.equal(timedOut.json.error.code, -32001, timedOut.text);
    assert.ok(Date.now() - started < 10_000);
    const after = await call('alice', 'slow__quick');
    assert.equal(after.status, 200, after.text);
    assert.equal(resultText(after.json.result), 'quick-ok');
  });

  // h2o 2.2.5 does not read an HTTP/1.1 connection while its request is being answered, so a client that
  // leaves is noticed when the gateway next writes to it: here the call streams progress every 200 ms.
  test('a concurrency slot comes back when the client goes away', T, async () => {
    const body = toolCall('everything__trigger-long-running-operation', { duration: 60, steps: 300 });
    body.params._meta.progressToken = 'abort-me';
    const req = http.request(gw.url('/mcp'), {
      method: 'POST', agent: false, headers: { ...mirrorHeaders(body), 'x-api-key': keys.bob },
    });
    req.on('error', () => {});
    const streaming = new Promise((resolve) => req.on('response', (res) => { res.once('data', resolve); res.on('error', () => {}); }));
    req.end(JSON.stringify(body));
    await streaming; // the first progress notification: the call is running
    const blocked = await call('bob', 'everything__trigger-long-running-operation', { duration: 0.1, steps: 1 });
    assert.equal(blocked.status, 429, 'the running call holds the slot');
    const left = Date.now();
    req.destroy(); // the operation has a minute to go: only the disconnect can free the slot
    await waitFor(async () => (await call('bob', 'everything__trigger-long-running-operation', { duration: 0.1, steps: 1 })).status === 200,
      { timeoutMs: 8000, what: "bob's slot to come back after the client left" });
    assert.ok(Date.now() - left < 8000);
  });

  test('a concurrency slot comes back when a long call ends', T, async () => {
    const long = call('carol', 'everything__trigger-long-running-operation', { duration: 1, steps: 1 });
    await sleep(300);
    const blocked = await call('carol', 'everything__trigger-long-running-operation', { duration: 1, steps: 1 });
    assert.equal(blocked.status, 429, blocked.text);
    assert.equal(blocked.json.error.data.rule, 'long-ops');
    const done = await long;
    assert.equal(done.status, 200, done.text);
    assert.match(resultText(done.json.result), /Long running operation completed/);
    const again = await call('carol', 'everything__trigger-long-running-operation', { duration: 0.1, steps: 1 });
    assert.equal(again.status, 200, again.text);
  });
});

test('observe mode counts and logs, and lets every call through', T, async () => {
  await withGateway({
    servers: [everythingStdio('everything')],
    rate_limits: { mode: 'observe', rules: [{ name: 'watch-echo', key: 'principal', rate: '1/minute', tools: ['everything/echo'] }] },
  }, async (gw) => {
    for (let i = 0; i < 4; i++) {
      const res = await send(gw.url('/mcp'), toolCall('everything__echo', { message: 'm' }));
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.result, res.text);
    }
    await waitFor(() => (gw.stderr.match(/"event":"rate_limit\.observed"/g) ?? []).length === 3,
      { what: 'three rate_limit.observed log lines' });
    assert.doesNotMatch(gw.stderr, /rate_limit\.limited/);
  });
});
