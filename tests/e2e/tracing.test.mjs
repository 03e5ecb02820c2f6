// OpenTelemetry traces (docs/observability.md, "Traces"): the gateway's spans reach a real OTLP/HTTP
// receiver (decoded with the official opentelemetry-proto code, lib/otlp.mjs), the client's context
// (traceparent header, and params._meta for a 2026-07-28 request) is the parent of the gateway's root
// span, the stage spans are its children, and the upstream sees a traceparent (header and
// params._meta) whose parent is the gateway's upstream-call span. Sampling respects the client's flag;
// a dead collector does not hurt requests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';

import { join } from 'node:path';

import { Gateway, GATEWAY_ONLY, NODE, REPO_ROOT, waitFor, sleep } from './lib/gateway.mjs';
import { MODERN, send, toolCall } from './lib/modern.mjs';
import { startOtlpReceiver, decodeOtlpJson } from './lib/otlp.mjs';

const LEGACY = '2025-11-25';
const SPY = join(REPO_ROOT, 'tests/e2e/fixtures/spy-server.cjs');
const SERVER_KIND = 2;
const CLIENT_KIND = 3;
const INTERNAL_KIND = 1;

const hex = (bytes) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
const parseTraceparent = (value) => {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value ?? '');
  assert.ok(m, `a version-00 traceparent: ${value}`);
  return { traceId: m[1], parentId: m[2], flags: m[3] };
};

/** A legacy (2025-11-25) Streamable HTTP MCP server that records, for every request, the traceparent and
 * tracestate headers and params._meta it got. */
async function startRecordingUpstream() {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') { res.writeHead(405).end(); return; }
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      seen.push({ method: message.method, traceparent: req.headers.traceparent, tracestate: req.headers.tracestate,
        meta: message.params?._meta ?? null });
      const reply = (result, headers = {}) => {
        res.writeHead(200, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, ...result }));
      };
      if (message.id === undefined) { res.writeHead(202).end(); return; }
      switch (message.method) {
      case 'initialize':
        return reply({ result: { protocolVersion: message.params.protocolVersion, capabilities: { tools: {} },
          serverInfo: { name: 'recorder', version: '1' } } }, { 'mcp-session-id': 'recorder-session' });
      case 'tools/list':
        return reply({ result: { tools: [{ name: 'whoami', inputSchema: { type: 'object' } }] } });
      case 'tools/call':
        return reply({ result: { content: [{ type: 'text', text: 'recorded' }] } });
      case 'ping':
        return reply({ result: {} });
      default: /* server/discover too: a legacy server does not know it */
        return reply({ error: { code: -32601, message: 'Method not found' } });
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}/mcp`,
    seen,
    calls: () => seen.filter((s) => s.method === 'tools/call'),
    close: async () => { server.closeAllConnections?.(); server.close(); },
  };
}

function config(upstream, tracing) {
  return {
    servers: [{ name: 'up', url: upstream.url }],
    tracing: { sample_ratio: 1, export_interval_ms: 50, ...tracing },
  };
}

/** A legacy session: initialize and initialized; returns the headers later requests need. */
async function legacySession(gw, extra = {}) {
  const init = await gw.post('/mcp', { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'trace-test', version: '1' } } }, { headers: extra });
  assert.equal(init.status, 200, init.text);
  const headers = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': LEGACY };
  const initialized = await gw.post('/mcp', { jsonrpc: '2.0', method: 'notifications/initialized' }, { headers });
  assert.equal(initialized.status, 202);
  return headers;
}

async function callWhoami(gw, headers, id = 2) {
  const res = await gw.post('/mcp', { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'up__whoami', arguments: {} } },
    { headers });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json?.result?.content?.[0]?.text, 'recorded', res.text);
  return res;
}

/** Checks one traced tools/call: the root's parent is the client's span, the stages and the upstream call are
 * children of the root, and the upstream's traceparent names the upstream-call span. */
function checkCallTrace(receiver, upstreamSeen, { traceId, clientSpanId, toolName }) {
  const spans = receiver.trace(traceId);
  const roots = spans.filter((s) => s.kind === SERVER_KIND && s.name === `tools/call ${toolName}`);
  assert.equal(roots.length, 1, `one root span: ${JSON.stringify(spans.map((s) => s.name))}`);
  const root = roots[0];
  assert.equal(root.parentSpanId, clientSpanId, 'the root span is a child of the client\'s span');
  assert.equal(root.attributes['mcp.method.name'], 'tools/call');
  assert.equal(root.attributes['gen_ai.tool.name'], toolName);
  assert.equal(root.attributes['mcp.server'], 'up');
  assert.equal(root.status.code, 0);
  assert.equal(root.resource['service.name'], 'mcpgate-e2e');
  assert.ok(root.start <= root.end);
  const children = spans.filter((s) => s.parentSpanId === root.spanId);
  for (const name of ['mcpgate.identify', 'mcpgate.validate', 'mcpgate.authorize', 'mcpgate.rate_limit']) {
    const stage = children.find((s) => s.name === name);
    assert.ok(stage, `a ${name} span under the root: ${JSON.stringify(children.map((s) => s.name))}`);
    assert.equal(stage.kind, INTERNAL_KIND);
    assert.ok(stage.start >= root.start && stage.end <= root.end, `${name} lies within the root span`);
  }
  assert.ok(children.some((s) => s.name === 'mcpgate.validate' && s.attributes['mcpgate.validate.check'] === 'arguments'));
  const upstreamSpan = children.find((s) => s.kind === CLIENT_KIND && s.name === 'tools/call whoami');
  assert.ok(upstreamSpan, 'a CLIENT span for the upstream call');
  assert.equal(upstreamSpan.attributes['mcp.server'], 'up');
  // what the upstream got: header and params._meta, both naming the upstream-call span
  const call = upstreamSeen.find((s) => s.method === 'tools/call' && s.meta?.traceparent?.includes(traceId));
  assert.ok(call, `the upstream saw the trace: ${JSON.stringify(upstreamSeen)}`);
  assert.equal(call.traceparent, call.meta.traceparent, 'header and _meta carry the same context');
  const sent = parseTraceparent(call.traceparent);
  assert.equal(sent.traceId, traceId);
  assert.equal(sent.parentId, upstreamSpan.spanId, 'the upstream\'s parent is the gateway\'s upstream-call span');
  assert.equal(sent.flags, '01');
  return { root, call, spans };
}

describe('tracing', { skip: GATEWAY_ONLY }, () => {
  let receiver;
  let upstream;
  before(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startRecordingUpstream();
  });
  after(async () => {
    await receiver?.close();
    await upstream?.close();
  });

  test('the receiver decodes with the official schema and refuses what it does not define', () => {
    const span = { traceId: hex(16), spanId: hex(8), name: 'x', kind: 1, startTimeUnixNano: '1', endTimeUnixNano: '2' };
    const body = (s) => JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 's' }, spans: [s] }] }] });
    assert.equal(decodeOtlpJson(body(span)).resourceSpans[0].scopeSpans[0].spans[0].name, 'x');
    assert.throws(() => decodeOtlpJson(body({ ...span, colour: 'blue' })), /not a field of the OTLP schema/);
    assert.throws(() => decodeOtlpJson(body({ ...span, spanId: span.spanId.toUpperCase() + 'A' })), /lowercase hex/);
    assert.throws(() => decodeOtlpJson(body({ ...span, kind: 'server' })), /kind/);
  });

  test('a legacy call: the client\'s traceparent header parents the gateway\'s spans, and the upstream gets the call span',
    async () => {
      const gw = await new Gateway({ ...config(upstream, { otlp_endpoint: receiver.endpoint, service_name: 'mcpgate-e2e' }),
        workers: 2 }).start();
      try {
        const headers = await legacySession(gw);
        const traceId = hex(16);
        const clientSpanId = hex(8);
        await callWhoami(gw, { ...headers, traceparent: `00-${traceId}-${clientSpanId}-01`, tracestate: 'vendor=abc' });
        await waitFor(() => receiver.trace(traceId).some((s) => s.kind === SERVER_KIND),
          { what: 'the root span at the receiver', timeoutMs: 5000 });
        const { call, root } = checkCallTrace(receiver, upstream.seen, { traceId, clientSpanId, toolName: 'up__whoami' });
        assert.equal(call.tracestate, 'vendor=abc');
        assert.equal(call.meta.tracestate, 'vendor=abc');
        assert.equal(root.attributes['mcp.protocol.version'], LEGACY);
        assert.equal(root.attributes['jsonrpc.request.id'], '2');
        assert.deepEqual(receiver.errors, []);
      } finally {
        await gw.stop();
      }
    });

  test('a 2026-07-28 call: params._meta.traceparent parents the trace (before the header)', async () => {
    const gw = await new Gateway(config(upstream, { otlp_endpoint: receiver.endpoint, service_name: 'mcpgate-e2e' })).start();
    try {
      const traceId = hex(16);
      const clientSpanId = hex(8);
      const otherTraceId = hex(16);
      const body = toolCall('up__whoami', {});
      body.params._meta.traceparent = `00-${traceId}-${clientSpanId}-01`;
      const res = await send(gw.url('/mcp'), body, { headers: { traceparent: `00-${otherTraceId}-${hex(8)}-01` } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json?.result?.content?.[0]?.text, 'recorded', res.text);
      await waitFor(() => receiver.trace(traceId).some((s) => s.kind === SERVER_KIND),
        { what: 'the root span at the receiver', timeoutMs: 5000 });
      const { root } = checkCallTrace(receiver, upstream.seen, { traceId, clientSpanId, toolName: 'up__whoami' });
      assert.equal(root.attributes['mcp.protocol.version'], MODERN);
      assert.equal(receiver.trace(otherTraceId).length, 0, 'the header lost to _meta');
      assert.deepEqual(receiver.errors, []);
    } finally {
      await gw.stop();
    }
  });

  test('a stdio upstream gets the upstream-call span in params._meta.traceparent', async () => {
    const gw = await new Gateway({ servers: [{ name: 'spy', command: [NODE, SPY] }],
      tracing: { otlp_endpoint: receiver.endpoint, export_interval_ms: 50 } }).start();
    try {
      const headers = await legacySession(gw);
      const traceId = hex(16);
      const clientSpanId = hex(8);
      const res = await gw.post('/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/call',
        params: { name: 'spy__echo-params', arguments: {}, _meta: { traceparent: `00-${traceId}-${clientSpanId}-01`, progressToken: 'p' } } },
      { headers });
      assert.equal(res.status, 200, res.text);
      const got = JSON.parse(res.json.result.content[0].text).params; // what the stdio server received
      const sent = parseTraceparent(got._meta.traceparent);
      assert.equal(sent.traceId, traceId);
      assert.notEqual(sent.parentId, clientSpanId, 'the gateway\'s span, not the client\'s');
      await waitFor(() => receiver.trace(traceId).some((s) => s.kind === SERVER_KIND), { what: 'the root span' });
      const spans = receiver.trace(traceId);
      const root = spans.find((s) => s.kind === SERVER_KIND);
      assert.equal(root.parentSpanId, clientSpanId, 'a legacy client\'s _meta.traceparent is read too');
      const upstreamSpan = spans.find((s) => s.kind === CLIENT_KIND && s.name === 'tools/call echo-params');
      assert.ok(upstreamSpan, JSON.stringify(spans.map((s) => s.name)));
      assert.equal(upstreamSpan.parentSpanId, root.spanId);
      assert.equal(sent.parentId, upstreamSpan.spanId);
    } finally {
      await gw.stop();
    }
  });

  test('sample_ratio 0: an unsampled parent exports nothing but is passed on; a sampled one is exported', async () => {
    const gw = await new Gateway(config(upstream, { otlp_endpoint: receiver.endpoint, sample_ratio: 0 })).start();
    try {
      const headers = await legacySession(gw);
      const unsampled = hex(16);
      const before = upstream.calls().length;
      await callWhoami(gw, { ...headers, traceparent: `00-${unsampled}-${hex(8)}-00` }, 3);
      const call = upstream.calls()[before];
      const sent = parseTraceparent(call.traceparent);
      assert.equal(sent.traceId, unsampled, 'the trace goes on upstream');
      assert.equal(sent.flags, '00', 'not sampled');
      assert.equal(call.meta.traceparent, call.traceparent);
      // a sampled parent in the same gateway is exported: the exporter works, so silence above means something
      const sampled = hex(16);
      await callWhoami(gw, { ...headers, traceparent: `00-${sampled}-${hex(8)}-01` }, 4);
      await waitFor(() => receiver.trace(sampled).some((s) => s.kind === SERVER_KIND), { what: 'the sampled trace' });
      await sleep(300); // several export intervals
      assert.equal(receiver.trace(unsampled).length, 0, 'nothing of the unsampled trace was exported');
      // no parent at all and ratio 0: nothing exported, and no traceparent invented for the upstream
      const count = receiver.spans.length;
      const beforeNone = upstream.calls().length;
      await callWhoami(gw, headers, 5);
      await sleep(300);
      assert.equal(receiver.spans.length, count);
      assert.equal(upstream.calls()[beforeNone].traceparent, undefined);
    } finally {
      await gw.stop();
    }
  });

  test('a malformed traceparent starts a new trace and never fails the request', async () => {
    const gw = await new Gateway(config(upstream, { otlp_endpoint: receiver.endpoint })).start();
    try {
      const headers = await legacySession(gw);
      const badTraceId = '0AF7651916CD43DD8448EB211C80319C';
      const before = upstream.calls().length;
      await callWhoami(gw, { ...headers, traceparent: `00-${badTraceId}-00F067AA0BA902B7-01` }, 6);
      const sent = parseTraceparent(upstream.calls()[before].traceparent);
      assert.notEqual(sent.traceId, badTraceId.toLowerCase());
      await waitFor(() => receiver.trace(sent.traceId).some((s) => s.kind === SERVER_KIND), { what: 'the new trace' });
      assert.equal(receiver.trace(sent.traceId).find((s) => s.kind === SERVER_KIND).parentSpanId, null);
    } finally {
      await gw.stop();
    }
  });

  test('spans queued at shutdown are exported before the gateway exits', async () => {
    const gw = await new Gateway(config(upstream, { otlp_endpoint: receiver.endpoint, export_interval_ms: 600000 })).start();
    const headers = await legacySession(gw);
    const traceId = hex(16);
    await callWhoami(gw, { ...headers, traceparent: `00-${traceId}-${hex(8)}-01` }, 7);
    await sleep(200);
    assert.equal(receiver.trace(traceId).length, 0, 'not exported before the interval');
    const { code } = await gw.stop();
    assert.equal(code, 0);
    assert.ok(receiver.trace(traceId).some((s) => s.kind === SERVER_KIND), 'exported at shutdown');
  });

  test('a dead OTLP endpoint does not hurt requests', async () => {
    // a port nothing listens on: connections are refused at once
    const dead = http.createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const endpoint = `http://127.0.0.1:${dead.address().port}/v1/traces`;
    dead.close();
    const gw = await new Gateway(config(upstream, { otlp_endpoint: endpoint, export_timeout_ms: 500 })).start();
    try {
      const headers = await legacySession(gw);
      const started = Date.now();
      for (let i = 0; i < 20; i++) await callWhoami(gw, { ...headers, traceparent: `00-${hex(16)}-${hex(8)}-01` }, 100 + i);
      assert.ok(Date.now() - started < 5000, `20 calls took ${Date.now() - started} ms`);
      await waitFor(() => gw.stderr.includes('"trace.export_failed"'), { what: 'trace.export_failed in the log' });
    } finally {
      const { code } = await gw.stop();
      assert.equal(code, 0);
    }
  });
});
