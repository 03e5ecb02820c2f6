// Failing upstreams must not take the gateway, or the other servers, down with them.
// Each test runs its own gateway because each needs a different server list.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

import {
  Gateway, GATEWAY_ONLY, NODE, SLOW_SERVER, everythingStdio, initializeBody, listAll, rawPost, resultText, waitFor,
  withGateway,
} from './lib/gateway.mjs';

const DEAD = [NODE, '-e', 'process.exit(1)']; // exits at once, before any MCP message

test('a dead optional upstream: the other servers still list and work', { timeout: 40_000, skip: GATEWAY_ONLY }, async () => {
  const config = { servers: [everythingStdio('everything'), { name: 'dead', command: DEAD, required: false }] };
  await withGateway(config, async (gw, connectTo) => {
    // withGateway waited for /readyz 200: an optional upstream does not make the gateway unready.
    const { client } = await connectTo('/mcp');
    const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
    assert.ok(tools.includes('everything__echo'), tools.join());
    assert.ok(!tools.some((n) => n.startsWith('dead__')), tools.join());
    assert.ok((await listAll(client, 'listPrompts', 'prompts')).items.length > 0);
    assert.ok((await listAll(client, 'listResources', 'resources')).items.length > 0);
    assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'alive' } })), 'Echo: alive');
    // Calling into the dead server is a prompt JSON-RPC error (unknown tool, or an upstream
    // error) for that call only; not the SDK giving up after its own timeout.
    await assert.rejects(client.callTool({ name: 'dead__anything', arguments: {} }, undefined, { timeout: 10_000 }),
      (e) => typeof e.code === 'number' && !/Request timed out/.test(e.message));
    assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'again' } })), 'Echo: again');
    assert.equal((await gw.get('/healthz')).status, 200);
  });
});

test('a dead required upstream: /readyz 503, /healthz 200', { timeout: 40_000, skip: GATEWAY_ONLY }, async () => {
  const config = { servers: [everythingStdio('everything'), { name: 'dead', command: DEAD, required: true }] };
  await withGateway(config, async (gw) => {
    const res = await waitFor(async () => {
      const r = await gw.get('/readyz');
      return r.status === 503 ? r : null;
    }, { timeoutMs: 15_000, what: '/readyz to report 503' });
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    await res.json(); // body is JSON
    const health = await gw.get('/healthz');
    assert.equal(health.status, 200);
    await health.json();
  }, { waitReady: false });
});

test('a slow upstream: the call fails with -32001 within upstream_timeout_ms, others keep working',
  { timeout: 40_000, skip: GATEWAY_ONLY }, async () => {
    const config = {
      servers: [everythingStdio('everything'), { name: 'slow', command: [NODE, SLOW_SERVER] }],
      limits: { max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 1000 },
    };
    await withGateway(config, async (gw, connectTo) => {
      const { client } = await connectTo('/mcp');
      const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
      assert.ok(tools.includes('slow__hang') && tools.includes('slow__quick'), tools.join());

      const started = Date.now();
      // The SDK's own timeout (also -32001) is set far beyond the gateway's, so -32001 here
      // can only come from the gateway.
      const hang = client.callTool({ name: 'slow__hang', arguments: {} }, undefined, { timeout: 20_000 })
        .then(() => assert.fail('slow__hang should not succeed'), (e) => ({ e, elapsed: Date.now() - started }));
      // While it hangs, other calls, to the same upstream and to another, answer promptly.
      assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'meanwhile' } })), 'Echo: meanwhile');
      assert.equal(resultText(await client.callTool({ name: 'slow__quick', arguments: {} })), 'quick-ok');
      assert.ok(Date.now() - started < 900, 'calls made during the hang were not held behind it');

      const { e, elapsed } = await hang;
      assert.equal(e.code, -32001, `expected -32001, got ${e.code}: ${e.message}`);
      assert.ok(elapsed >= 900 && elapsed < 4000, `timed out after ${elapsed} ms; upstream_timeout_ms is 1000`);

      assert.equal(resultText(await client.callTool({ name: 'slow__quick', arguments: {} })), 'quick-ok');
      assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'after' } })), 'Echo: after');
      assert.equal((await gw.get('/readyz')).status, 200);
    });
  });

// Runs without the gateway too: the fixture itself must be a working MCP server, or the slow
// upstream test above would prove nothing.
test('fixture: slow-server speaks MCP over stdio', { timeout: 15_000 }, async () => {
  const client = new Client({ name: 'mcpgate-e2e', version: '0.0.0' });
  await client.connect(new StdioClientTransport({ command: NODE, args: [SLOW_SERVER] }));
  try {
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['hang', 'quick']);
    assert.equal(resultText(await client.callTool({ name: 'quick', arguments: {} })), 'quick-ok');
    await assert.rejects(client.callTool({ name: 'hang', arguments: {} }, undefined, { timeout: 300 }), (e) => e.code === -32001);
  } finally {
    await client.close();
  }
});

// The client's sealed session id cannot change after initialize, so an HTTP upstream that was down
// then gets its session opened by the first call that needs it.
test('an HTTP upstream that comes up after the client initialized is usable by that client',
  { timeout: 60_000, skip: GATEWAY_ONLY }, async () => {
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    await once(probe, 'close');
    const front = await new Gateway({
      workers: 1,
      servers: [{ name: 'remote', url: `http://127.0.0.1:${port}/servers/everything/mcp`, required: false }],
    }).start();
    let back;
    try {
      const early = (await rawPost(front.url('/mcp'), initializeBody())).headers.get('mcp-session-id');
      assert.ok(early, 'initialize answered while the upstream is down');
      back = await new Gateway({ listen: [{ address: `127.0.0.1:${port}` }], servers: [everythingStdio()] }).start();
      await waitFor(async () => (await (await front.get('/readyz')).json()).servers.remote.ready,
        { timeoutMs: 40_000, what: 'remote ready' });
      const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'remote__echo', arguments: { message: 'x' } } };
      const answer = await rawPost(front.url('/mcp'), call,
        { headers: { 'mcp-session-id': early, 'mcp-protocol-version': '2025-11-25' } });
      assert.equal(JSON.parse(answer.text).result.content[0].text, 'Echo: x', answer.text);
    } finally {
      await front.stop();
      await back?.stop();
    }
  });

// A stdio server that dies is restarted (with backoff) and serves again; calls while it is down
// get a JSON-RPC error, not a hang.
test('a stdio upstream that dies is restarted and serves again', { timeout: 60_000, skip: GATEWAY_ONLY }, async () => {
  const gateway = await new Gateway({ workers: 2, servers: [everythingStdio()] }).start();
  try {
    const pidOf = () => [...gateway.stderr.matchAll(/"event":"upstream\.spawned"[^\n]*"pid":(\d+)/g)].map((m) => Number(m[1]));
    await waitFor(async () => (await gateway.get('/readyz')).status === 200, { timeoutMs: 30_000, what: 'ready' });
    const first = pidOf().at(-1);
    assert.ok(first > 0, 'the spawn was logged with its pid');
    process.kill(first, 'SIGKILL');
    await waitFor(async () => pidOf().length >= 2, { timeoutMs: 20_000, what: 'a new child' });
    await waitFor(async () => (await gateway.get('/readyz')).status === 200, { timeoutMs: 30_000, what: 'ready again' });
    assert.match(gateway.stderr, /"event":"upstream\.exit"[^\n]*"signal":9/);
    const session = (await rawPost(gateway.url('/mcp'), initializeBody())).headers.get('mcp-session-id');
    const call = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'everything__echo', arguments: { message: 'back' } } };
    const answer = await rawPost(gateway.url('/mcp'), call,
      { headers: { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(JSON.parse(answer.text).result.content[0].text, 'Echo: back', answer.text);
  } finally {
    await gateway.stop();
  }
});
