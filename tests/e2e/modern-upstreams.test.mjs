// Upstreams of the 2026-07-28 ("modern") era behind the gateway, used by legacy clients.
//
// The gateway asks every server its era first (server/discover) and speaks to a modern one
// statelessly; a legacy client must not notice any of it. The modern server is
// tests/fixtures/modern-server.mjs (the official modern SDK), over stdio and over HTTP; the
// legacy one is server-everything. Each test runs its own gateway: each needs its own servers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { test } from 'node:test';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  GATEWAY_ONLY, NODE, answerTamperer, everythingStdio, initializeBody, listAll, rawPost, resultText, sleep,
  startEverythingHttp, waitFor, withGateway,
} from './lib/gateway.mjs';
import { NO_MODERN_SDK, modernStdio, openListen, resultOf, send, startModernHttp, toolCall } from './lib/modern.mjs';

const SKIP = GATEWAY_ONLY || NO_MODERN_SDK;

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

test('a legacy client answers a modern server\'s question; an answer that is no ElicitResult stops at the gateway', { timeout: 60_000, skip: SKIP }, async () => {
  await withGateway({ servers: [modernStdio()] }, async (gw, connectTo) => {
    const tamperer = answerTamperer();
    const { client } = await connectTo('/servers/modern/mcp', {
      capabilities: { elicitation: {} },
      fetch: tamperer.fetch,
      setup: (c) => c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } })),
    });
    client.onerror = () => {}; // the SDK reports the refused POST of its answer here
    await listAll(client, 'listTools', 'tools'); // the gateway learns the catalog
    assert.equal(resultText(await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} })), 'Hello, Ada!');
    await waitFor(() => tamperer.posted.length === 1, { what: 'the reply to the answer' });
    assert.match(tamperer.posted[0].id, /^mcpgate:ask:elicitation\/create:/);
    tamperer.replace = { content: { name: 'Ada' } }; // no action
    await assert.rejects(client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }),
      /mcpgate refused the client's answer: Invalid result for elicitation\/create: \/result: required/);
    // the call's error can arrive before the POST of the answer has its reply
    await waitFor(() => tamperer.posted.length === 2, { what: 'the reply to the refused answer' });
    assert.equal(tamperer.posted[1].status, 400);
    assert.equal(tamperer.posted[1].json?.error?.code, -32602);
    assert.equal(resultText(await client.callTool({ name: 'echo', arguments: { text: 'still here' } })), 'still here');
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

// ---------------------------------------------------------------------------------------------
// Change notifications from a modern server: it has no GET stream, only subscriptions/listen, so
// the gateway opens a listen stream of its own at the server for each client stream (modern
// subscription or legacy GET stream), with that client's filter in the server's own words.

test('a modern client\'s subscription on /mcp gets a modern HTTP server\'s list changes', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  try {
    await withGateway({ workers: 1, servers: [{ name: 'remote', url: upstream.url }] }, async (gw) => {
      const listen = await openListen(gw.url('/mcp'), { toolsListChanged: true });
      try {
        assert.equal(listen.status, 200);
        const ack = await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
        assert.deepEqual(ack.params.notifications, { toolsListChanged: true });
        // the gateway's listen at the server may not be open yet when the first trigger runs
        await waitFor(async () => {
          const trigger = toolCall('remote__test_trigger_tool_change', {});
          resultOf(await send(gw.url('/mcp'), trigger), trigger);
          return listen.messages.some((m) => m.method === 'notifications/tools/list_changed');
        }, { timeoutMs: 10_000, what: 'tools/list_changed on the subscription' });
        const changed = listen.messages.find((m) => m.method === 'notifications/tools/list_changed');
        assert.equal(changed.params._meta['io.modelcontextprotocol/subscriptionId'], listen.id,
          'tagged with the client\'s own subscription id, not the gateway\'s at the server');
        // the server's own acknowledgement of the gateway's listen is not passed on
        assert.equal(listen.messages.filter((m) => m.method === 'notifications/subscriptions/acknowledged').length, 1);
        // what the client did not opt in to does not arrive
        const prompts = toolCall('remote__test_trigger_prompt_change', {});
        resultOf(await send(gw.url('/mcp'), prompts), prompts);
        await sleep(500);
        assert.ok(!listen.messages.some((m) => m.method === 'notifications/prompts/list_changed'),
          JSON.stringify(listen.messages));
      } finally {
        listen.close();
      }
    });
  } finally {
    await upstream.stop();
  }
});

test('a legacy client\'s GET stream gets a modern HTTP server\'s list changes', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  try {
    await withGateway({ workers: 1, servers: [{ name: 'remote', url: upstream.url }] }, async (gw, connectTo) => {
      const { client, seen } = await connectTo('/mcp');
      await sleep(300); // let the SDK open its GET stream
      await waitFor(async () => {
        await client.callTool({ name: 'remote__test_trigger_tool_change', arguments: {} });
        return seen.some((s) => s.via === 'GET' && s.message.method === 'notifications/tools/list_changed');
      }, { timeoutMs: 10_000, what: 'tools/list_changed on the GET stream' });
      const changed = seen.find((s) => s.via === 'GET' && s.message.method === 'notifications/tools/list_changed');
      assert.equal(changed.message.params?._meta?.['io.modelcontextprotocol/subscriptionId'], undefined,
        'a legacy client is not shown the gateway\'s subscription at the server');
    });
  } finally {
    await upstream.stop();
  }
});

// A modern stdio server is one process shared by every client: the gateway holds one listen stream
// there and hands what comes on it to every client stream, as it does a legacy child's notifications.
test('a modern stdio server\'s list changes reach modern subscriptions and legacy GET streams', { timeout: 60_000, skip: SKIP }, async () => {
  await withGateway({ workers: 2, servers: [modernStdio('modern')] }, async (gw, connectTo) => {
    const listen = await openListen(gw.url('/mcp'), { promptsListChanged: true });
    const { client, seen } = await connectTo('/mcp');
    try {
      await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
      await sleep(300); // let the SDK open its GET stream
      await waitFor(async () => {
        await client.callTool({ name: 'modern__test_trigger_prompt_change', arguments: {} });
        return listen.messages.some((m) => m.method === 'notifications/prompts/list_changed') &&
          seen.some((s) => s.via === 'GET' && s.message.method === 'notifications/prompts/list_changed');
      }, { timeoutMs: 10_000, what: 'prompts/list_changed on both streams' });
      const tagged = listen.messages.find((m) => m.method === 'notifications/prompts/list_changed');
      assert.equal(tagged.params._meta['io.modelcontextprotocol/subscriptionId'], listen.id);
      const legacy = seen.find((s) => s.via === 'GET' && s.message.method === 'notifications/prompts/list_changed');
      assert.equal(legacy.message.params?._meta?.['io.modelcontextprotocol/subscriptionId'], undefined);
      assert.ok(!seen.some((s) => s.message.method === 'notifications/subscriptions/acknowledged'),
        'the server\'s acknowledgement of the gateway\'s listen stays with the gateway');
    } finally {
      listen.close();
    }
  });
});
