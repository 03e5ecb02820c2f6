// Multi round-trip requests (2026-07-28, basic/patterns/mrtr.mdx) bridged to legacy servers.
//
// server-everything asks its client things in the middle of a call (trigger-elicitation-request,
// trigger-sampling-request). A modern client cannot be asked: the gateway parks the call, answers
// the client with an InputRequiredResult and a sealed requestState, and resumes the parked call
// when the client retries the same request with inputResponses. Every request here goes on a new
// connection, so with two workers the retry lands on either one.
//
// A requestState is attacker-controlled input: forged, altered, replayed or misapplied states are
// refused with -32602 "Invalid requestState: ..." and reach no server.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  GATEWAY_ONLY, NODE, REPO_ROOT, everythingStdio, resultText, startEverythingHttp, useEverythingHttp,
  useGateway, withGateway,
} from './lib/gateway.mjs';
import { modernRequest, nextRequestId, resultOf, send, toolCall } from './lib/modern.mjs';

// ---------------------------------------------------------------------------------------------
// Modern requests, each on its own connection (lib/modern.mjs).

const ELICITATION = { elicitation: {} };
const SAMPLING = { sampling: {} };
const BOTH = { elicitation: {}, sampling: {} };

/** The retry: the same request under a new id, plus the answers and the state (mrtr.mdx). */
function retryOf(request, requestState, inputResponses) {
  const params = structuredClone(request.params);
  Object.assign(params, { requestState, inputResponses });
  return { ...request, id: nextRequestId(), params };
}

/** Asserts an InputRequiredResult asking exactly one `method`; returns {key, request, state}. */
function assertInputRequired(result, method) {
  const detail = JSON.stringify(result).slice(0, 800);
  assert.equal(result.resultType, 'input_required', detail);
  assert.equal(typeof result.requestState, 'string', detail);
  assert.match(result.requestState, /^mcpgate\.rs1\.[A-Za-z0-9_-]+$/, 'the gateway\'s own sealed state');
  const keys = Object.keys(result.inputRequests ?? {});
  assert.equal(keys.length, 1, detail);
  const request = result.inputRequests[keys[0]];
  assert.equal(request.method, method, detail);
  return { key: keys[0], request, state: result.requestState };
}

function assertInvalidState(res, request, reason) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 600)}`;
  assert.equal(res.status, 200, detail);
  assert.equal(res.json?.id, request.id, detail);
  assert.equal(res.json?.error?.code, -32602, detail);
  assert.ok(res.json.error.message.startsWith('Invalid requestState'), detail);
  if (reason) assert.match(res.json.error.message, reason, detail);
}

const accept = (name) => ({ action: 'accept', content: { name, check: true } });

// ---------------------------------------------------------------------------------------------
// A legacy stdio server in plain Node that counts the calls it receives and reports their
// params: "nothing reached the upstream" is then a fact, not a guess.

const SPY = join(REPO_ROOT, 'tests/e2e/fixtures/spy-server.cjs');

// ---------------------------------------------------------------------------------------------

const everything = useEverythingHttp();
const gate = useGateway(async () => ({
  workers: 2,
  servers: [everythingStdio('everything'), { name: 'remote', url: (await everything.ready()).url }, { name: 'spy', command: [NODE, SPY] }],
}));
const T = { timeout: 45_000, skip: GATEWAY_ONLY };
const post = (body, path = '/mcp') => send(gate.gw.url(path), body);

/** Starts an elicitation flow; returns the first request and what the gateway asked. */
async function startElicitation(tool = 'everything__trigger-elicitation-request', capabilities = ELICITATION) {
  const first = toolCall(tool, {}, capabilities);
  const asked = assertInputRequired(resultOf(await post(first), first), 'elicitation/create');
  return { first, ...asked };
}

async function finishElicitation(flow, name) {
  const retry = retryOf(flow.first, flow.state, { [flow.key]: accept(name) });
  const result = resultOf(await post(retry), retry);
  assert.equal(result.resultType, 'complete', JSON.stringify(result).slice(0, 500));
  assert.match(resultText(result), new RegExp(`Name: ${name}`));
  return result;
}

async function spyCalls() {
  const request = toolCall('spy__echo-params', {});
  return JSON.parse(resultText(resultOf(await post(request), request))).calls;
}

// Runs first: no call of this file is parked yet, so the stdio server's question has nobody to go to.
test('stdio upstream, a client that did not declare elicitation: the question is refused, the tool says so', T, async () => {
  const request = toolCall('everything__trigger-elicitation-request', {}, SAMPLING);
  const started = Date.now();
  const result = resultOf(await post(request), request);
  assert.ok(Date.now() - started < 4000, 'answered at once, not after the upstream timeout');
  assert.equal(result.resultType, 'complete');
  assert.equal(result.inputRequests, undefined);
  assert.equal(result.isError, true, JSON.stringify(result));
  assert.match(resultText(result), /-32601.*elicitation\/create/);
});

for (const [label, server, capabilities] of [['stdio upstream', 'everything', ELICITATION], ['HTTP upstream', 'remote', BOTH]]) {
  // (Every request to the HTTP upstream declares both capabilities: see the first-client tests below.)
  describe(label, () => {
    const tool = `${server}__trigger-elicitation-request`;

    test('elicitation: input_required, then the retry with the answer completes the call', T, async () => {
      const first = toolCall(tool, {}, capabilities);
      const res = await post(first);
      assert.match(res.headers['content-type'], /^application\/json/);
      const { key, request, state } = assertInputRequired(resultOf(res, first), 'elicitation/create');
      assert.equal(request.params.requestedSchema.type, 'object');
      assert.ok(request.params.requestedSchema.properties.name, 'the server\'s own schema, unchanged');
      assert.match(request.params.message, /Please provide inputs/);
      const retry = retryOf(first, state, { [key]: accept('Ada Lovelace') });
      const result = resultOf(await post(retry), retry);
      assert.equal(result.resultType, 'complete');
      assert.equal(result.requestState, undefined);
      assert.match(resultText(result), /User provided the requested information/);
      assert.match(resultText(result), /Name: Ada Lovelace/);
      assert.match(resultText(result), /Agreed to terms: true/);
    });

    test('sampling: the server\'s createMessage goes to the client and its answer back', T, async () => {
      const first = toolCall(`${server}__trigger-sampling-request`, { prompt: 'hello sampler', maxTokens: 7 },
        server === 'remote' ? BOTH : SAMPLING);
      const { key, request, state } = assertInputRequired(resultOf(await post(first), first), 'sampling/createMessage');
      assert.match(JSON.stringify(request.params.messages), /hello sampler/);
      assert.equal(request.params.maxTokens, 7);
      const answer = { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'sampled-answer-42' } };
      const retry = retryOf(first, state, { [key]: answer });
      const result = resultOf(await post(retry), retry);
      assert.equal(result.resultType, 'complete');
      assert.match(resultText(result), /sampled-answer-42/);
      assert.match(resultText(result), /e2e-model/);
    });

    test('decline and cancel reach the server as given', T, async () => {
      for (const [action, said] of [['decline', /User declined/], ['cancel', /User cancelled/]]) {
        const flow = await startElicitation(tool, capabilities);
        const retry = retryOf(flow.first, flow.state, { [flow.key]: { action } });
        assert.match(resultText(resultOf(await post(retry), retry)), said);
      }
    });
  });
}

test('eight round trips on fresh connections: each retry resumes its own call, on whichever worker', T, async () => {
  for (let i = 0; i < 8; i++) {
    const flow = await startElicitation();
    await finishElicitation(flow, `Person ${i}`);
  }
});

test('two flows at once stay apart', T, async () => {
  const a = await startElicitation();
  const b = await startElicitation();
  assert.notEqual(a.key, b.key, 'each question has its own key');
  assert.notEqual(a.state, b.state);
  // Finished in the other order, each with its own answer.
  await finishElicitation(b, 'Bea');
  await finishElicitation(a, 'Al');
});

test('a retry that does not answer is asked again; then the answer completes it', T, async () => {
  const flow = await startElicitation();
  const empty = retryOf(flow.first, flow.state, {});
  const again = assertInputRequired(resultOf(await post(empty), empty), 'elicitation/create');
  assert.equal(again.key, flow.key, 'the same question');
  await finishElicitation({ ...flow, state: again.state }, 'Second Try');
});

test('forged or altered requestState → -32602, and the real one still works', T, async () => {
  const flow = await startElicitation();
  const flip = (s, at) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  const forgeries = [
    flip(flow.state, 20), // a byte of the sealed part
    flip(flow.state, flow.state.length - 1),
    flow.state.slice(0, -4),
    `${flow.state}AAAA`,
    'mcpgate.rs1.' + 'A'.repeat(120),
    flow.state.replace('mcpgate.rs1.', 'mcpgate.rs2.'),
    'not-a-state',
    '',
  ];
  for (const state of forgeries) {
    const retry = retryOf(flow.first, state, { [flow.key]: accept('Mallory') });
    assertInvalidState(await post(retry), retry, /not issued by this gateway, or altered/);
  }
  // A legacy session id is sealed with the same key, yet is no requestState.
  const init = await fetch(gate.gw.url('/mcp'), {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '0' } } }),
  });
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  assert.ok(sessionId);
  const withSession = retryOf(flow.first, sessionId, { [flow.key]: accept('Mallory') });
  assertInvalidState(await post(withSession), withSession, /not issued by this gateway, or altered/);
  // Not a string at all: the MCP schema check refuses it before the bridge looks at it.
  const number = retryOf(flow.first, 42, { [flow.key]: accept('Mallory') });
  const res = await post(number);
  assert.equal(res.json?.error?.code, -32602, res.text);
  assert.match(res.json.error.message, /\/params\/requestState: type: must be string/);
  // None of the forged answers reached the server: the real retry gets the real answer only.
  const result = await finishElicitation(flow, 'Ada');
  assert.doesNotMatch(resultText(result), /Mallory/);
});

test('a requestState applied to another request → -32602; nothing reaches that server', T, async () => {
  const flow = await startElicitation();
  const before = await spyCalls();
  const others = [
    ['another tool', toolCall('spy__echo-params', {}, ELICITATION), '/mcp'],
    ['another tool on the same server', toolCall('everything__echo', { message: 'x' }, ELICITATION), '/mcp'],
    ['another method', modernRequest('prompts/get', { name: 'everything__trigger-elicitation-request' }, ELICITATION), '/mcp'],
    ['the same tool on its server\'s own path', toolCall('trigger-elicitation-request', {}, ELICITATION), '/servers/everything/mcp'],
  ];
  for (const [what, request, path] of others) {
    const misapplied = retryOf(request, flow.state, { [flow.key]: accept('Mallory') });
    const res = await post(misapplied, path);
    assertInvalidState(res, misapplied, /issued for another request/);
    assert.ok(res.json.error, what);
  }
  assert.equal(await spyCalls(), before + 1, 'the spy saw only the counting call itself');
  const result = await finishElicitation(flow, 'Ada');
  assert.doesNotMatch(resultText(result), /Mallory/);
});

test('a requestState replayed after its call finished → -32602', T, async () => {
  const flow = await startElicitation();
  await finishElicitation(flow, 'Once');
  for (let i = 0; i < 3; i++) { // on fresh connections, so both workers refuse it
    const replay = retryOf(flow.first, flow.state, { [flow.key]: accept('Twice') });
    assertInvalidState(await post(replay), replay, /the request it continues has ended or expired/);
  }
});

test('a legacy client\'s elicitation works while a modern call is parked on the same stdio server', T, async () => {
  const flow = await startElicitation();
  const legacy = await gate.connect('/mcp', {
    capabilities: { elicitation: {} },
    setup: (c) => c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Legacy Lee' } })),
  });
  const result = await legacy.client.callTool({ name: 'everything__trigger-elicitation-request', arguments: {} });
  assert.match(resultText(result), /Name: Legacy Lee/);
  await finishElicitation(flow, 'Modern Mo');
});

// ---------------------------------------------------------------------------------------------
// Cases that need a gateway of their own: one worker, so which client came first is certain.

describe('HTTP upstream: the gateway-held session and capabilities', { skip: GATEWAY_ONLY }, () => {
  let server;
  before(async () => { server = await startEverythingHttp(); });
  after(() => server?.stop());

  test('a client without elicitation gets a clean refusal, not a question it cannot answer', { timeout: 45_000 }, async () => {
    await withGateway({ workers: 1, servers: [{ name: 'remote', url: server.url }] }, async (gw) => {
      const warm = toolCall('remote__echo', { message: 'first' }, ELICITATION);
      assert.equal(resultText(resultOf(await send(gw.url('/mcp'), warm), warm)), 'Echo: first');
      const request = toolCall('remote__trigger-elicitation-request', {}, {});
      const result = resultOf(await send(gw.url('/mcp'), request), request);
      assert.equal(result.resultType, 'complete');
      assert.equal(result.isError, true, JSON.stringify(result));
      assert.match(resultText(result), /the client cannot answer elicitation\/create during tools\/call/);
    });
  });

  // The gateway holds one session on a legacy HTTP server for all modern clients (per worker) and
  // opens it with the capabilities of whichever modern request needed it first. server-everything
  // registers its elicitation tool only for sessions whose client declared elicitation, so a
  // client that does declare it cannot use the tool once a client that did not came first.
  test('a client that declares elicitation can use it even when one that did not came first', { timeout: 45_000 }, async () => {
    await withGateway({ workers: 1, servers: [{ name: 'remote', url: server.url }] }, async (gw) => {
      const warm = toolCall('remote__echo', { message: 'first' }, {});
      assert.equal(resultText(resultOf(await send(gw.url('/mcp'), warm), warm)), 'Echo: first');
      const first = toolCall('remote__trigger-elicitation-request', {}, ELICITATION);
      const { key, state } = assertInputRequired(resultOf(await send(gw.url('/mcp'), first), first), 'elicitation/create');
      const retry = retryOf(first, state, { [key]: accept('Late Comer') });
      assert.match(resultText(resultOf(await send(gw.url('/mcp'), retry), retry)), /Name: Late Comer/);
    });
  });

  // The HTTP twin of the stdio test below: the server's question arrives on the call's own SSE
  // response, which then stays quiet until the answer; neither the call's deadline nor the
  // connection's idle bound (both upstream_timeout_ms) may end it.
  test('a retry after longer than upstream_timeout_ms still resumes the parked call', { timeout: 45_000 }, async () => {
    const limits = { max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 1000 };
    await withGateway({ workers: 1, limits, servers: [{ name: 'remote', url: server.url }] }, async (gw) => {
      const first = toolCall('remote__trigger-elicitation-request', {}, ELICITATION);
      const { key, state } = assertInputRequired(resultOf(await send(gw.url('/mcp'), first), first), 'elicitation/create');
      await new Promise((r) => setTimeout(r, 2500)); // the user reads the form
      const retry = retryOf(first, state, { [key]: accept('Patient') });
      assert.match(resultText(resultOf(await send(gw.url('/mcp'), retry), retry)), /Name: Patient/);
    });
  });
});

// A parked call stays "in flight" on the shared stdio server until it is resumed or its upstream
// call times out. The stdio upstream routes a server's question to the newest call in flight
// whose client declared the capability, so another client's question lands in the parked call:
// that client waits for the upstream timeout (here 15 s; 60 s by default), and the parked client,
// when it retries, would be asked the other client's question too.
test('an abandoned parked call does not capture another client\'s server request', { ...T, timeout: 45_000 }, async () => {
  const limits = { max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 15_000 };
  await withGateway({ workers: 1, limits, servers: [everythingStdio('everything')] }, async (gw) => {
    const abandoned = toolCall('everything__trigger-elicitation-request', {}, ELICITATION);
    const asked = assertInputRequired(resultOf(await send(gw.url('/mcp'), abandoned), abandoned), 'elicitation/create');
    const other = toolCall('everything__trigger-elicitation-request', {}, {});
    const result = resultOf(await send(gw.url('/mcp'), other, { timeoutMs: 4000 }), other);
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.match(resultText(result), /elicitation\/create/);
    // The abandoned call, resumed after all, is asked only its own question.
    const retry = retryOf(abandoned, asked.state, { [asked.key]: accept('Own Answer') });
    const final = resultOf(await send(gw.url('/mcp'), retry), retry);
    assert.equal(final.resultType, 'complete', JSON.stringify(final).slice(0, 500));
    assert.match(resultText(final), /Name: Own Answer/);
  });
});

// upstream_timeout_ms is "how long to wait for an upstream server's reply" (configuration.md).
// Once the server has asked the client something, the call waits for the answer instead: a person
// may take longer than upstream_timeout_ms over a form (MG_UPSTREAM_ANSWER_TIMEOUT_MS, 10 min).
test('a retry after longer than upstream_timeout_ms still resumes the parked call', { ...T, timeout: 45_000 }, async () => {
  const limits = { max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 1000 };
  await withGateway({ workers: 1, limits, servers: [everythingStdio('everything')] }, async (gw) => {
    const first = toolCall('everything__trigger-elicitation-request', {}, ELICITATION);
    const { key, state } = assertInputRequired(resultOf(await send(gw.url('/mcp'), first), first), 'elicitation/create');
    await new Promise((r) => setTimeout(r, 1500)); // the user reads the form
    const retry = retryOf(first, state, { [key]: accept('Thoughtful') });
    const result = resultOf(await send(gw.url('/mcp'), retry), retry);
    assert.match(resultText(result), /Name: Thoughtful/);
  });
});
