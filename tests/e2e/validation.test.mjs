// Validation (docs/validation.md): tools/call arguments against the tool's inputSchema before the
// call leaves the gateway, structuredContent against the outputSchema, and every client message
// against the MCP schema of its protocol version. The upstream is a real SDK server
// (fixtures/validation-server.mjs) that counts the calls it receives, so "refused before the
// upstream" is read from the upstream itself; the reference filesystem server is behind it too.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  GATEWAY_ONLY, NODE, REPO_ROOT, answerTamperer, cleanupDir, filesystemStdio, initializeBody, resultText, tempDir, useGateway,
  waitFor,
} from './lib/gateway.mjs';
import { modernRequest, send, toolCall } from './lib/modern.mjs';

const FIXTURE = join(REPO_ROOT, 'tests/e2e/fixtures/validation-server.mjs');
const files = tempDir('mcpgate-validation-');
mkdirSync(join(files, 'docs'), { recursive: true });
writeFileSync(join(files, 'docs', 'a.txt'), 'hello');

const gate = useGateway(() => ({
  servers: [
    { name: 'v', command: [NODE, FIXTURE] },
    { name: 'vs', command: [NODE, FIXTURE], strict: true, validate_formats: true, output_validation: 'report' },
    filesystemStdio(files, 'fs'),
  ],
}));
const T = { timeout: 60_000, skip: GATEWAY_ONLY };
let v; // SDK client on /servers/v/mcp (2025-11-25)
let vs; // and on /servers/vs/mcp

before(async () => {
  if (GATEWAY_ONLY) return;
  ({ client: v } = await gate.connect('/servers/v/mcp'));
  ({ client: vs } = await gate.connect('/servers/vs/mcp'));
});
process.on('exit', () => cleanupDir(files));

const callsOn = async (client) => Number(resultText(await client.callTool({ name: 'calls', arguments: {} })));
const violationsOf = (result) => result._meta?.['io.mcpgate/violations'];

/** A refused call: isError, each expected "pointer: keyword" in the text and the structured list, nothing sent. */
async function assertRefused(client, name, args, expected) {
  const before = await callsOn(client);
  const result = await client.callTool({ name, arguments: args });
  assert.equal(result.isError, true, JSON.stringify(result));
  const text = resultText(result);
  const list = violationsOf(result);
  assert.ok(Array.isArray(list), `violations list in _meta: ${JSON.stringify(result)}`);
  for (const [pointer, keyword] of expected) {
    const shown = pointer === '' ? '(root)' : pointer; // the text's name for the arguments themselves
    assert.ok(text.includes(`${shown}: ${keyword}: `), `"${shown}: ${keyword}" in:\n${text}`);
    const found = list.find((x) => x.instancePath === pointer && x.keyword === keyword);
    assert.ok(found, `${pointer} ${keyword} in ${JSON.stringify(list)}`);
    assert.equal(typeof found.schemaPath, 'string');
    assert.ok(found.message.length > 0);
  }
  assert.equal(await callsOn(client), before, 'the refused call must not reach the upstream');
  return { result, text, list };
}

test('valid arguments pass through to the upstream, and its structured result back', T, async () => {
  const before = await callsOn(v);
  const result = await v.callTool({
    name: 'create_ticket',
    arguments: { title: 'Printer on fire', priority: 'high', tags: ['hw', 'urgent'], count: 2, owner: { email: 'a@b.example' } },
  });
  assert.equal(result.isError, undefined, JSON.stringify(result));
  assert.deepEqual(result.structuredContent, { id: before + 1 });
  assert.equal(await callsOn(v), before + 1);
});

test('invalid arguments: a tool execution error that names every violation, and no call upstream', T, async () => {
  const { text } = await assertRefused(v, 'create_ticket',
    { title: 'x'.repeat(41), priority: 'urgent', tags: ['ok', 'NOT OK', 'ok'], count: 0 },
    [['/title', 'maxLength'], ['/priority', 'enum'], ['/tags/1', 'pattern'], ['/tags', 'uniqueItems'], ['/count', 'minimum']]);
  assert.match(text, /^Invalid arguments for tool create_ticket \(the call was not made\)/);
  // wrong types everywhere, a missing required member, a $ref'd subschema
  await assertRefused(v, 'create_ticket', { title: 5, tags: 'hw', count: 1.5, owner: {} },
    [['/title', 'type'], ['', 'required'], ['/tags', 'type'], ['/count', 'type'], ['/owner', 'required']]);
  await assertRefused(v, 'create_ticket', {}, [['', 'required']]);
  // arguments left out entirely are checked as {}
  const absent = await v.callTool({ name: 'create_ticket' });
  assert.equal(absent.isError, true);
});

test('non-BMP characters count once for length keywords', T, async () => {
  const before = await callsOn(v);
  const title = '💩'.repeat(40); // 40 characters, 80 UTF-16 units, 160 bytes
  const ok = await v.callTool({ name: 'create_ticket', arguments: { title, priority: 'low' } });
  assert.equal(ok.isError, undefined, JSON.stringify(ok));
  assert.equal(await callsOn(v), before + 1);
  await assertRefused(v, 'create_ticket', { title: title + '💩', priority: 'low' }, [['/title', 'maxLength']]);
});

test('a draft-07 schema (definitions, $ref, additionalProperties) is honoured', T, async () => {
  const ok = await v.callTool({ name: 'legacy_draft7', arguments: { path: 'a/b', depth: 2 } });
  assert.equal(ok.isError, undefined, JSON.stringify(ok));
  const { list } = await assertRefused(v, 'legacy_draft7', { path: 'much/too/long', extra: 1 }, [['/path', 'maxLength']]);
  assert.ok(list.some((x) => x.keyword === 'additionalProperties'), JSON.stringify(list));
});

test('strict: true refuses undeclared properties; formats are checked only with validate_formats', T, async () => {
  const args = { title: 'A', priority: 'low', colour: 'red' };
  const loose = await v.callTool({ name: 'create_ticket', arguments: args });
  assert.equal(loose.isError, undefined, 'without strict an undeclared property passes');
  const { list } = await assertRefused(vs, 'create_ticket', args, []);
  assert.ok(list.some((x) => x.instancePath === '/colour' && x.keyword === 'additionalProperties'), JSON.stringify(list));
  // a free-form object stays free-form under strict
  const free = await vs.callTool({ name: 'free_form', arguments: { anything: [1, 2, 3] } });
  assert.equal(free.isError, undefined, JSON.stringify(free));
  // format: an annotation on v, a check on vs
  const owner = { title: 'A', priority: 'low', owner: { email: 'not an email' } };
  assert.equal((await v.callTool({ name: 'create_ticket', arguments: owner })).isError, undefined);
  await assertRefused(vs, 'create_ticket', owner, [['/owner/email', 'format']]);
});

test('an older protocol version gets -32602 with the violations in data', T, async () => {
  const url = gate.gw.url('/servers/v/mcp');
  const init = initializeBody();
  init.params.protocolVersion = '2025-06-18';
  const opened = await gate.gw.post('/servers/v/mcp', init);
  assert.equal(opened.json?.result?.protocolVersion, '2025-06-18', opened.text);
  const headers = { 'mcp-session-id': opened.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-06-18' };
  const res = await gate.gw.post('/servers/v/mcp',
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'create_ticket', arguments: { title: '', priority: 'low' } } },
    { headers });
  assert.equal(res.json?.error?.code, -32602, `${url}: ${res.text}`);
  assert.match(res.json.error.message, /^Invalid arguments: \/title: minLength: /);
  assert.deepEqual(res.json.error.data.violations.map((x) => [x.instancePath, x.keyword]), [['/title', 'minLength']]);
});

test('output_validation: enforce withholds a result that breaks the outputSchema; report passes it on', T, async () => {
  for (const name of ['bad_output', 'no_structured']) {
    const result = await v.callTool({ name, arguments: {} });
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.match(resultText(result), new RegExp(`^The tool ${name} returned a result that does not match its outputSchema`));
    assert.ok(Array.isArray(violationsOf(result)));
  }
  // report: the SDK client would itself reject the result, so read it raw
  const init = await gate.gw.post('/servers/vs/mcp', initializeBody());
  const headers = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
  const res = await gate.gw.post('/servers/vs/mcp',
    { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'bad_output', arguments: {} } }, { headers });
  assert.deepEqual(res.json?.result?.structuredContent, { id: 'not a number' }, res.text);
  assert.match(gate.gw.stderr, /"event":"validation.output".*bad_output.*report/);
});

test('a tool whose schema is not usable JSON Schema refuses calls, and /readyz says why', T, async () => {
  const before = await callsOn(v);
  for (const [name, why] of [['broken_schema', /not valid JSON Schema/], ['remote_ref', /not valid JSON Schema.*(remote|outside)/i]]) {
    const result = await v.callTool({ name, arguments: { a: 1 } });
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.match(resultText(result), why);
  }
  assert.equal(await callsOn(v), before);
  const ready = await (await gate.gw.get('/readyz')).json();
  const invalid = ready.servers.v.invalid_tool_schemas;
  assert.deepEqual(Object.keys(invalid ?? {}).sort(), ['broken_schema', 'remote_ref'], JSON.stringify(ready));
  assert.match(gate.gw.stderr, /"event":"tool.schema_invalid"/);
});

test('messages are checked against their version\'s MCP schema before routing', T, async () => {
  const init = await gate.gw.post('/servers/v/mcp', initializeBody());
  const headers = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
  const post = (body) => gate.gw.post('/servers/v/mcp', { jsonrpc: '2.0', id: 9, ...body }, { headers });
  const before = await callsOn(v);
  let res = await post({ method: 'tools/call', params: { name: 42 } });
  assert.equal(res.json?.error?.code, -32602, res.text);
  assert.ok(res.json.error.data.violations.some((x) => x.instancePath === '/params/name' && x.keyword === 'type'), res.text);
  res = await post({ method: 'tools/call' });
  assert.equal(res.json?.error?.code, -32602, res.text);
  res = await post({ method: 'tools/call', params: { name: 'create_ticket', arguments: [1, 2] } });
  assert.equal(res.json?.error?.code, -32602, res.text);
  assert.ok(res.json.error.data.violations.some((x) => x.instancePath === '/params/arguments'), res.text);
  res = await post({ method: 'resources/read', params: {} });
  assert.equal(res.json?.error?.code, -32602, res.text);
  res = await post({ method: 'no/such/method', params: {} });
  assert.equal(res.json?.error?.code, -32601, res.text);
  // the gateway's answer, not the server's: a method its version does not define is never forwarded
  assert.match(res.json.error.message, /no\/such\/method is not part of protocol version 2025-11-25/);
  assert.equal(await callsOn(v), before, 'nothing refused reached the upstream');
});

test('a client\'s answer to a server\'s request is checked: 400 to the client, an error to the server', T, async () => {
  // A real SDK client answers the fixture's elicitation; a fetch in between replaces its answer with one
  // that no ElicitResult allows (the SDK would not send it itself) and records the gateway's reply.
  const tamperer = answerTamperer();
  const { client } = await gate.connect('/servers/v/mcp', {
    capabilities: { elicitation: {} },
    fetch: tamperer.fetch,
    setup: (c) => c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { colour: 'red' } })),
  });
  client.onerror = () => {}; // the SDK reports the refused POST of its answer here
  // untouched, the answer goes through, under an id that names the asker and the method
  assert.equal(resultText(await client.callTool({ name: 'ask_colour', arguments: {} })),
    'answer: {"action":"accept","content":{"colour":"red"}}');
  await waitFor(() => tamperer.posted.length === 1, { what: 'the reply to the answer' });
  assert.equal(tamperer.posted[0].status, 202);
  assert.match(tamperer.posted[0].id, /^mcpgate:v:elicitation\/create:/);
  tamperer.replace = { action: 'maybe', content: { colour: { rgb: 1 } } };
  const text = resultText(await client.callTool({ name: 'ask_colour', arguments: {} }));
  // the server got the gateway's error, not the answer: the call ends at once, saying why
  assert.match(text, /^error: .*mcpgate refused the client's answer: Invalid result for elicitation\/create/);
  // the call's answer can arrive before the POST of the refused answer has its reply
  await waitFor(() => tamperer.posted.length === 2, { what: 'the reply to the refused answer' });
  const refused = tamperer.posted[1];
  assert.equal(refused.status, 400);
  assert.equal(refused.json?.id, null);
  assert.equal(refused.json?.error?.code, -32602);
  const list = refused.json.error.data.violations;
  assert.ok(list.some((x) => x.instancePath === '/result/action' && x.keyword === 'enum'), JSON.stringify(list));
  assert.ok(list.some((x) => x.instancePath.startsWith('/result/content/colour')), JSON.stringify(list));
});

test('a modern (2026-07-28) client gets the violations as a tool execution error', T, async () => {
  const before = await callsOn(v);
  const res = await send(gate.gw.url('/servers/v/mcp'), toolCall('create_ticket', { title: 'A', priority: 7 }));
  assert.equal(res.status, 200, res.text);
  const result = res.json?.result;
  assert.equal(result?.isError, true, res.text);
  assert.equal(result.resultType, 'complete');
  assert.ok(violationsOf(result).some((x) => x.instancePath === '/priority' && x.keyword === 'enum'), res.text);
  assert.equal(await callsOn(v), before);
});

test('the reference filesystem server is protected by its own schemas too', T, async () => {
  const { client } = await gate.connect('/servers/fs/mcp');
  const ok = await client.callTool({ name: 'read_text_file', arguments: { path: join(files, 'docs', 'a.txt') } });
  assert.equal(resultText(ok), 'hello');
  const bad = await client.callTool({ name: 'read_text_file', arguments: { path: 42 } });
  assert.equal(bad.isError, true);
  assert.ok(violationsOf(bad).some((x) => x.instancePath === '/path' && x.keyword === 'type'), JSON.stringify(bad));
});

test('pathological arguments get an answer and the gateway keeps serving', T, async () => {
  const nested = JSON.parse('['.repeat(12) + ']'.repeat(12));
  await assertRefused(v, 'create_ticket', { title: nested, priority: 'low' }, [['/title', 'type']]);
  const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
  const { list } = await assertRefused(vs, 'create_ticket', { title: 'A', priority: 'low', ...many }, []);
  assert.ok(list.length >= 1 && list.length <= 16, 'violations are capped');
  const ok = await v.callTool({ name: 'create_ticket', arguments: { title: 'still fine', priority: 'normal' } });
  assert.equal(ok.isError, undefined);
});

test('subscriptions/listen is checked against the 2026-07-28 schema before a stream opens', T, async () => {
  const res = await send(gate.gw.url('/mcp'), modernRequest('subscriptions/listen', { notifications: 'everything' }));
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json?.error?.code, -32602, res.text);
  assert.match(res.json.error.message, /^Invalid params: \/params\/notifications: type: /);
});
