// Upstreams of the 2026-07-28 ("modern") era behind the gateway, used by legacy clients.
//
// The gateway asks every server its era first (server/discover) and speaks to a modern one
// statelessly; a legacy client must not notice any of it. The modern server is
// tests/fixtures/modern-server.mjs (the official modern SDK), over stdio and over HTTP; the
// legacy one is server-everything. Each test runs its own gateway: each needs its own servers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

import {
  GATEWAY_ONLY, NODE, REPO_ROOT, everythingStdio, initializeBody, listAll, rawPost, resultText, sleep,
  startEverythingHttp, waitFor, withGateway,
} from './lib/gateway.mjs';

const MODERN_SERVER = join(REPO_ROOT, 'tests/fixtures/modern-server.mjs');
// The fixture loads @modelcontextprotocol/server from tests/conformance (npm ci there).
const NO_MODERN_SDK = !existsSync(join(REPO_ROOT, 'tests/conformance/node_modules/@modelcontextprotocol/server'))
  ? 'needs `npm ci` in tests/conformance (the modern SDK)' : false;
const SKIP = GATEWAY_ONLY || NO_MODERN_SDK;

const modernStdio = (name = 'modern') => ({ name, command: [NODE, MODERN_SERVER, '--stdio'] });

/** Starts the modern fixture over HTTP; resolves to {url, stop()}. */
async function startModernHttp() {
  const proc = spawn(NODE, [MODERN_SERVER, '--http', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((res) => proc.once('exit', res));
  const ready = new Promise((res, rej) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const rec = JSON.parse(line);
        if (rec.event === 'fixture.ready') res(rec.url);
      } catch { /* not ours */ }
    });
    exited.then((code) => rej(new Error(`modern fixture exited (code ${code}):\n${log}`)));
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  try {
    const url = await ready;
    return { url, stop: async () => { proc.kill('SIGTERM'); await exited; } };
  } finally {
    clearTimeout(timer);
  }
}

/** The gateway's "upstream.era" log records, as {server: era}. */
function erasLogged(gw) {
  const eras = {};
  for (const line of gw.stderr.split('\n')) {
    if (!line.includes('"upstream.era"')) continue;
    const rec = JSON.parse(line);
    eras[rec.server] = rec.era;
  }
  return eras;
}

/** What every legacy client does with a server: list its tools, call echo (on /mcp and on its own path). */
async function assertEchoWorks(connectTo, server) {
  const { client } = await connectTo('/mcp');
  const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
  assert.ok(tools.includes(`${server}__echo`), tools.join());
  assert.equal(resultText(await client.callTool({ name: `${server}__echo`, arguments: { text: 'via /mcp' } })), 'via /mcp');

  const { client: direct } = await connectTo(`/servers/${server}/mcp`);
  const own = (await listAll(direct, 'listTools', 'tools')).items.map((t) => t.name);
  assert.ok(own.includes('echo') && own.includes('regional_echo'), own.join());
  assert.equal(resultText(await direct.callTool({ name: 'echo', arguments: { text: 'via its path' } })), 'via its path');
  // server/discover's serverInfo reaches the client as the upstream's identity
  assert.equal(direct.getServerVersion()?.name, 'mcpgate-modern-fixture');
}

test('a modern stdio upstream serves a legacy client', { timeout: 60_000, skip: SKIP }, async () => {
  await withGateway({ servers: [modernStdio()] }, async (gw, connectTo) => {
    await assertEchoWorks(connectTo, 'modern');
    assert.deepEqual(erasLogged(gw), { modern: 'modern' });
    assert.doesNotMatch(gw.stderr, /refused initialize/);
  });
});

test('a modern HTTP upstream serves a legacy client, with mirrored headers', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  try {
    await withGateway({ servers: [{ name: 'remote', url: upstream.url }] }, async (gw, connectTo) => {
      await assertEchoWorks(connectTo, 'remote');
      assert.deepEqual(erasLogged(gw), { remote: 'modern' });
      // regional_echo's `region` is annotated x-mcp-header: the server refuses (-32020) a call
      // without a matching Mcp-Param-Region, so an answer proves the gateway mirrored it.
      const { client } = await connectTo('/mcp');
      await listAll(client, 'listTools', 'tools'); // the gateway learns the tool's inputSchema
      const answer = await client.callTool({ name: 'remote__regional_echo', arguments: { region: 'eu-west-3' } });
      assert.equal(resultText(answer), 'region=eu-west-3 header=eu-west-3');
    });
  } finally {
    await upstream.stop();
  }
});

test('a raw legacy session on a modern HTTP upstream needs no upstream session', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  try {
    await withGateway({ servers: [{ name: 'remote', url: upstream.url }] }, async (gw) => {
      const init = await rawPost(gw.url('/mcp'), initializeBody());
      assert.equal(init.status, 200, init.text);
      assert.ok(init.json.result.capabilities.tools, init.text);
      const session = init.headers.get('mcp-session-id');
      const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
      const list = await rawPost(gw.url('/mcp'), { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { headers });
      assert.ok(list.json.result.tools.some((t) => t.name === 'remote__echo'), list.text);
      const call = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'remote__echo', arguments: { text: 'raw' } } };
      const answer = await rawPost(gw.url('/mcp'), call, { headers });
      assert.equal(answer.json.result.content[0].text, 'raw', answer.text);
    });
  } finally {
    await upstream.stop();
  }
});

test('legacy and modern upstreams aggregate on /mcp', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  const legacyHttp = await startEverythingHttp();
  try {
    const config = {
      servers: [everythingStdio('everything'), { name: 'old', url: legacyHttp.url }, modernStdio('modern'),
        { name: 'remote', url: upstream.url }],
    };
    await withGateway(config, async (gw, connectTo) => {
      const { client } = await connectTo('/mcp');
      const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
      for (const name of ['everything__echo', 'old__echo', 'modern__echo', 'remote__echo']) {
        assert.ok(tools.includes(name), tools.join());
      }
      assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'old' } })), 'Echo: old');
      assert.equal(resultText(await client.callTool({ name: 'old__echo', arguments: { message: 'older' } })), 'Echo: older');
      assert.equal(resultText(await client.callTool({ name: 'modern__echo', arguments: { text: 'new' } })), 'new');
      assert.equal(resultText(await client.callTool({ name: 'remote__echo', arguments: { text: 'newer' } })), 'newer');
      assert.deepEqual(erasLogged(gw), { everything: 'legacy', old: 'legacy', modern: 'modern', remote: 'modern' });
    });
  } finally {
    await upstream.stop();
    await legacyHttp.stop();
  }
});

test('progress from a modern upstream reaches the legacy client before the result', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  try {
    const config = { servers: [modernStdio('modern'), { name: 'remote', url: upstream.url }] };
    await withGateway(config, async (gw, connectTo) => {
      const { client } = await connectTo('/mcp');
      for (const server of ['modern', 'remote']) {
        const progress = [];
        const result = await client.callTool({ name: `${server}__test_tool_with_progress`, arguments: {} }, undefined,
          { onprogress: (p) => progress.push(p.progress) });
        assert.deepEqual(progress, [0, 50, 100], `${server}: ${JSON.stringify(result)}`);
      }
    });
  } finally {
    await upstream.stop();
  }
});

// A legacy stdio server that is slow to answer server/discover: after 3 s the gateway initializes
// it as before, and the answer that finally comes (here even a DiscoverResult) is dropped.
const SLOW_LEGACY = `
const rl = require('node:readline').createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...m }) + '\\n');
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  if (m.method === 'server/discover') return setTimeout(() => send({ id: m.id, result: {
    supportedVersions: ['2026-07-28'], capabilities: {} } }), 3500);
  if (m.method === 'initialize') return send({ id: m.id, result: { protocolVersion: '2025-11-25',
    capabilities: { tools: {} }, serverInfo: { name: 'slow-legacy', version: '0' } } });
  if (m.method === 'tools/list') return send({ id: m.id, result: { tools: [{ name: 'hi', inputSchema: { type: 'object' } }] } });
  if (m.method === 'tools/call') return send({ id: m.id, result: { content: [{ type: 'text', text: 'hi there' }] } });
});`;

test('a legacy stdio server silent on server/discover is initialized after 3 s', { timeout: 60_000, skip: GATEWAY_ONLY }, async () => {
  const config = { servers: [{ name: 'silent', command: [NODE, '-e', SLOW_LEGACY] }] };
  await withGateway(config, async (gw, connectTo) => {
    const { client } = await connectTo('/mcp');
    assert.equal(resultText(await client.callTool({ name: 'silent__hi', arguments: {} })), 'hi there');
    assert.deepEqual(erasLogged(gw), { silent: 'legacy' });
    assert.match(gw.stderr, /no answer to server\/discover within 3 s/);
    await waitFor(() => /"event":"upstream\.late_discover"/.test(gw.stderr), { timeoutMs: 5000, what: 'the late answer' });
    assert.equal(resultText(await client.callTool({ name: 'silent__hi', arguments: {} })), 'hi there');
    assert.deepEqual(erasLogged(gw), { silent: 'legacy' }, 'the late answer changed nothing');
  });
});

// A minimal modern HTTP server whose `hang` tool never answers; it reports when the gateway closes
// the connection of a call, which is how 2026-07-28 cancels over HTTP.
async function startHangingModernHttp() {
  const closed = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const m = JSON.parse(body);
      const answer = (result) => res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
      if (m.method === 'server/discover') {
        return answer({ supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, resultType: 'complete' });
      }
      if (m.method === 'tools/list') {
        return answer({ tools: [{ name: 'hang', inputSchema: { type: 'object' } }], resultType: 'complete' });
      }
      if (m.method === 'tools/call') {
        res.on('close', () => closed.push(m.params._meta['io.modelcontextprotocol/protocolVersion']));
        return; // never answers
      }
      res.writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}/mcp`,
    closed,
    stop: () => { server.closeAllConnections(); server.close(); },
  };
}

test('cancelling a call to a modern HTTP upstream closes its connection', { timeout: 60_000, skip: GATEWAY_ONLY }, async () => {
  const upstream = await startHangingModernHttp();
  try {
    // one worker: the client's cancellation must reach the worker that runs the call
    await withGateway({ workers: 1, servers: [{ name: 'remote', url: upstream.url }] }, async (gw, connectTo) => {
      const { client } = await connectTo('/mcp');
      await listAll(client, 'listTools', 'tools');
      const abort = new AbortController();
      const call = client.callTool({ name: 'remote__hang', arguments: {} }, undefined, { signal: abort.signal });
      await sleep(300);
      abort.abort('enough');
      await assert.rejects(call);
      await waitFor(() => upstream.closed.length === 1, { timeoutMs: 3000, what: 'the upstream connection to close' });
      assert.deepEqual(upstream.closed, ['2026-07-28']);
      assert.equal((await gw.get('/readyz')).status, 200);
    });
  } finally {
    upstream.stop();
  }
});

// A modern server that speaks no version the gateway speaks: modern (no initialize is tried,
// as stdio.mdx requires), never ready, and said so in the log.
const FUTURE_ONLY = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32022,
    message: 'Unsupported protocol version', data: { supported: ['2099-01-01'], requested: '2026-07-28' } } }) + '\\n');
});`;

test('a modern stdio server without our version is refused, not initialized', { timeout: 60_000, skip: GATEWAY_ONLY }, async () => {
  const config = { servers: [everythingStdio('everything'), { name: 'future', command: [NODE, '-e', FUTURE_ONLY], required: true }] };
  await withGateway(config, async (gw) => {
    await waitFor(() => /"event":"upstream\.incompatible"/.test(gw.stderr), { timeoutMs: 15_000, what: 'upstream.incompatible' });
    assert.match(gw.stderr, /future cannot be used: it does not support 2026-07-28 \(it supports 2099-01-01\)/);
    assert.equal(erasLogged(gw).future, 'modern');
    assert.doesNotMatch(gw.stderr, /future refused initialize/);
    const ready = await gw.get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).servers.future.ready, false);
  }, { waitReady: false });
});
