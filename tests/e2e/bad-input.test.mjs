// Bad input gets a precise error and leaves the gateway serving everyone else (design §7.7).
// Every case is sent raw (fetch) to /mcp; after each one, a client that connected before it must
// still get an answer.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import {
  GATEWAY_ONLY, everythingStdio, initializeBody, resultText, useGateway,
} from './lib/gateway.mjs';

const gate = useGateway(() => ({
  servers: [everythingStdio('everything')],
  limits: { max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 5000 },
}));

const T = { timeout: 45_000, skip: GATEWAY_ONLY }; // an upper bound for slow (sanitized) runs, not a timing check
let bystander; // a client connected before the bad input, which must keep working

before(async () => {
  if (GATEWAY_ONLY) return;
  ({ client: bystander } = await gate.connect('/mcp')); // connect() waits for the gateway
});

async function stillServing() {
  const r = await bystander.callTool({ name: 'everything__echo', arguments: { message: 'still here' } });
  assert.equal(resultText(r), 'Echo: still here', 'existing session should still work');
  const health = await gate.gw.get('/healthz');
  assert.equal(health.status, 200, '/healthz after bad input');
}

const post = (body, opts) => gate.gw.post('/mcp', body, opts);
const initJson = JSON.stringify(initializeBody());

/** A JSON-RPC error response: HTTP status, error code, and (for parse errors) id null. */
function assertRpcError(res, { status, code, idNull = false }) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 500)}`;
  assert.equal(res.status, status, detail);
  assert.equal(res.json?.jsonrpc, '2.0', detail);
  assert.equal(res.json?.error?.code, code, detail);
  assert.equal(typeof res.json.error.message, 'string', detail);
  assert.equal('result' in res.json, false, detail);
  if (idNull) assert.equal(res.json.id, null, detail);
}

test('malformed JSON → 400, -32700, id null', T, async () => {
  assertRpcError(await post('{"jsonrpc":"2.0","id":1,"method":"initialize",'), { status: 400, code: -32700, idNull: true });
  assertRpcError(await post('not json at all'), { status: 400, code: -32700, idNull: true });
  await stillServing();
});

test('duplicate object keys → -32700', T, async () => {
  const body = initJson.replace('"id":1,', '"id":1,"id":2,');
  assert.notEqual(body, initJson);
  assertRpcError(await post(body), { status: 400, code: -32700, idNull: true });
  // Duplicate keys nested inside params too.
  const nested = initJson.replace('"capabilities":{}', '"capabilities":{},"capabilities":{"sampling":{}}');
  assertRpcError(await post(nested), { status: 400, code: -32700, idNull: true });
  await stillServing();
});

test('invalid UTF-8 in the body → -32700', T, async () => {
  const [head, tail] = initJson.split('mcpgate-e2e-raw');
  const body = Buffer.concat([Buffer.from(head + 'bad'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(tail)]);
  assertRpcError(await post(body), { status: 400, code: -32700, idNull: true });
  // An overlong encoding of "/" and a lone surrogate encoded in UTF-8 are also invalid.
  for (const bytes of [[0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
    const b = Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
    assertRpcError(await post(b), { status: 400, code: -32700, idNull: true });
  }
  await stillServing();
});

test('nesting deeper than max_json_depth → -32700', T, async () => {
  const deep = (n) => '['.repeat(n) + ']'.repeat(n);
  const body = initJson.replace('"capabilities":{}', `"capabilities":{},"x":${deep(64)}`);
  assertRpcError(await post(body), { status: 400, code: -32700, idNull: true });
  // Very deep input must not crash the parser (stack exhaustion) either.
  const huge = initJson.replace('"capabilities":{}', `"capabilities":{},"x":${deep(30000)}`);
  const res = await post(huge);
  assert.ok([400, 413].includes(res.status), `HTTP ${res.status}`);
  await stillServing();
});

test('a batch array → -32600', T, async () => {
  const res = await post(`[${initJson}]`);
  assertRpcError(res, { status: 400, code: -32600 });
  assertRpcError(await post('[]'), { status: 400, code: -32600 });
  await stillServing();
});

test('missing or wrong "jsonrpc" member → -32600', T, async () => {
  const missing = JSON.stringify({ ...initializeBody(), jsonrpc: undefined });
  assertRpcError(await post(missing), { status: 400, code: -32600 });
  assertRpcError(await post(JSON.stringify({ ...initializeBody(), jsonrpc: '1.0' })), { status: 400, code: -32600 });
  assertRpcError(await post(JSON.stringify({ ...initializeBody(), jsonrpc: 2 })), { status: 400, code: -32600 });
  // Valid JSON but not a JSON-RPC object at all.
  assertRpcError(await post('"just a string"'), { status: 400, code: -32600 });
  await stillServing();
});

test('body over max_body_bytes → 413', T, async () => {
  const big = JSON.stringify({ ...initializeBody(), params: { ...initializeBody().params, pad: 'x'.repeat(70_000) } });
  assert.ok(big.length > 65536);
  const res = await post(big);
  assert.equal(res.status, 413, res.text.slice(0, 300));
  await stillServing();
});

test('Content-Type other than application/json → 415', T, async () => {
  const res = await post(initJson, { headers: { 'content-type': 'text/plain' } });
  assert.equal(res.status, 415, res.text.slice(0, 300));
  // (A Buffer body, because fetch labels a string body text/plain by itself.)
  const none = await post(Buffer.from(initJson), { headers: { 'content-type': null } });
  assert.equal(none.status, 415, none.text.slice(0, 300));
  // Parameters on the right type are fine.
  const withCharset = await post(initJson, { headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(withCharset.status, 200, withCharset.text.slice(0, 300));
  await stillServing();
});

test('Accept lacking application/json or text/event-stream → 406', T, async () => {
  for (const accept of ['text/html', 'application/json', 'text/event-stream']) {
    const res = await post(initJson, { headers: { accept } });
    assert.equal(res.status, 406, `Accept: ${accept} → HTTP ${res.status} ${res.text.slice(0, 300)}`);
  }
  await stillServing();
});

test('Origin not allowed → 403; allowed or absent Origin is served', T, async () => {
  for (const origin of ['http://evil.example', 'https://localhost:3000', 'http://localhost.evil.example:80', 'null']) {
    const res = await post(initJson, { headers: { origin } });
    assert.equal(res.status, 403, `Origin: ${origin} → HTTP ${res.status}`);
  }
  const ok = await post(initJson, { headers: { origin: 'http://localhost:5173' } });
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
  const absent = await post(initJson);
  assert.equal(absent.status, 200, absent.text.slice(0, 300));
  await stillServing();
});

test('unknown tool → -32602', T, async () => {
  for (const name of ['everything__no-such-tool', 'nope__echo', 'echo']) {
    await assert.rejects(bystander.callTool({ name, arguments: {} }), (e) => e.code === -32602, name);
  }
  await stillServing();
});

test('unknown prompt → -32602', T, async () => {
  for (const name of ['everything__no-such-prompt', 'nope__simple-prompt', 'simple-prompt']) {
    await assert.rejects(bystander.getPrompt({ name }), (e) => e.code === -32602, name);
  }
  await stillServing();
});

test('unknown resource → -32002', T, async () => {
  // A server name the gateway does not have, and a URI with no server prefix at all.
  for (const uri of ['nope+demo://resource/static/document/features.md', 'demo://resource/static/document/features.md']) {
    await assert.rejects(bystander.readResource({ uri }), (e) => e.code === -32002, uri);
  }
  await stillServing();
});

test('unknown server path /servers/nope/mcp → 404', T, async () => {
  const res = await gate.gw.post('/servers/nope/mcp', initJson);
  assert.equal(res.status, 404, res.text.slice(0, 300));
  await stillServing();
});
