// Human approval by the caller's own user (`approver: user`, issue 8, docs/guards.md "Human approval").
//
// A legacy (2025-era) client with a session is asked through an elicitation/create on the held call's own
// stream, and its answer, POSTed on its own (with two workers it may land on either), lets the call go on or
// refuses it. A 2026-07-28 client gets an InputRequiredResult with the same question and a sealed requestState
// bound to the call; its retry with the answer is checked against the call and spends the approval once.
// Through the gateway with the official SDK client, the reference server-everything, and a spy server that
// counts the calls it receives (so "nothing reached the server" is a fact).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, NODE, REPO_ROOT, cleanupDir, connect, everythingStdio, resultText, tempDir,
  waitFor, withGateway, auditRecords as records,
} from './lib/gateway.mjs';
import { NO_MODERN_SDK, modernStdio, nextRequestId, resultOf, send, toolCall } from './lib/modern.mjs';

const T = { timeout: 60_000, skip: GATEWAY_ONLY };
const DENIED = -32042;
const TIMED_OUT = -32043;
const KEY = 'mcpgate-approval';
const SPY = join(REPO_ROOT, 'tests/e2e/fixtures/spy-server.cjs');
const ELICITATION = { elicitation: {} };

const approve = { action: 'accept', content: { approve: true } };
const decline = { action: 'decline' };

function listed(gw) {
  const run = spawnSync(GATEWAY_BIN, ['approvals', 'list', '--json', '-c', gw.configPath], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

let gw;
let dir;
let trail;
before(async () => {
  dir = tempDir('mcpgate-approvals-user-');
  trail = join(dir, 'audit.jsonl');
  gw = new Gateway({
    workers: 2,
    servers: [everythingStdio(), { name: 'spy', command: [NODE, SPY] }],
    audit: { file: trail, fsync: 'never' },
    approvals: [
      { tools: ['everything/echo', 'spy/*'], approver: 'user', timeout_s: 60 },
      { tools: ['everything/get-sum'], approver: 'user', timeout_s: 1 },
      { tools: ['everything/get-env'], approver: 'admin' },
    ],
  });
  await gw.start();
});
after(async () => {
  await gw?.stop();
  cleanupDir(dir);
});

/** A legacy SDK client whose user answers each approval question with `answer(request)`. */
async function legacyClient(answer, capabilities = ELICITATION) {
  const asked = [];
  const session = await connect(gw.url('/mcp'), {
    capabilities,
    setup: (client) => {
      if (capabilities.elicitation) {
        client.setRequestHandler(ElicitRequestSchema, async (request) => {
          asked.push(request);
          return answer(request);
        });
      }
    },
  });
  return { ...session, asked };
}

describe('approver: user, legacy client (elicitation on the call\'s stream)', { skip: GATEWAY_ONLY }, () => {
  test('the user approves: the call reaches the server; the question names server, tool and arguments', T, async () => {
    const session = await legacyClient(() => approve);
    try {
      const result = await session.client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } });
      assert.equal(resultText(result), 'Echo: hello');
      assert.equal(session.asked.length, 1);
      const { params } = session.asked[0];
      assert.match(params.message, /tool "echo" on server "everything"/);
      assert.match(params.message, /"message":"hello"/);
      assert.match(params.message, /approval apr_[0-9a-f]{32}/);
      assert.equal(params.requestedSchema.properties.approve.type, 'boolean');
      assert.deepEqual(params.requestedSchema.required, ['approve']);
      // the same client, again: each call is asked on its own
      await session.client.callTool({ name: 'everything__echo', arguments: { message: 'again' } });
      assert.equal(session.asked.length, 2);
      await gw.logged(/"event":"approvals\.asked"/);
      await gw.logged(/"event":"approvals\.approved".*"approver":"user"/);
    } finally {
      await session.close();
    }
  });

  test('the user declines, or accepts without approving: -32042, nothing reaches the server', T, async () => {
    let answer = decline;
    const session = await legacyClient(() => answer);
    try {
      const declined = await session.client.callTool({ name: 'spy__echo-params', arguments: { n: 1 } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(declined.code, DENIED, String(declined));
      assert.match(declined.message, /declined by the caller's user/);
      assert.match(declined.data.approval, /^apr_[0-9a-f]{32}$/);
      assert.equal(declined.data.rule, 'approvals[0]');

      answer = { action: 'accept', content: { approve: false } };
      const unticked = await session.client.callTool({ name: 'spy__echo-params', arguments: { n: 2 } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(unticked.code, DENIED, String(unticked));

      answer = { action: 'cancel' };
      const dismissed = await session.client.callTool({ name: 'spy__echo-params', arguments: { n: 3 } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(dismissed.code, DENIED, String(dismissed));
      assert.match(dismissed.message, /dismissed by the caller's user/);

      answer = approve;
      const served = await session.client.callTool({ name: 'spy__echo-params', arguments: { n: 4 } });
      assert.equal(JSON.parse(resultText(served)).calls, 1, 'only the approved call reached the server');
      await gw.logged(/"event":"approvals\.denied"/);
    } finally {
      await session.close();
    }
  });

  test('an error answer is a refusal', T, async () => {
    const session = await legacyClient(() => { throw new Error('no screen to ask on'); });
    try {
      const refused = await session.client.callTool({ name: 'everything__echo', arguments: { message: 'x' } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(refused.code, DENIED, String(refused));
      assert.match(refused.message, /answered with an error: no screen to ask on/);
    } finally {
      await session.close();
    }
  });

  test('only the session asked can answer: another session\'s approval under the same id does nothing', T, async () => {
    let release;
    let questionId;
    const userSaid = new Promise((resolve) => { release = resolve; });
    const asking = await connect(gw.url('/mcp'), {
      capabilities: ELICITATION,
      setup: (client) => client.setRequestHandler(ElicitRequestSchema, async (_request, extra) => {
        questionId = extra.requestId;
        return userSaid;
      }),
    });
    const other = await legacyClient(() => approve);
    try {
      const call = asking.client.callTool({ name: 'spy__echo-params', arguments: { n: 'other' } }).catch((e) => e);
      await waitFor(() => questionId !== undefined, { what: 'the question' });
      assert.match(questionId, /^mcpgate:user_approval:elicitation\/create:\d+:apr_[0-9a-f]{32}$/);
      await other.client.transport.send({ jsonrpc: '2.0', id: questionId, result: approve });
      release(decline);
      const refused = await call;
      assert.equal(refused.code, DENIED, String(refused));
      assert.match(refused.message, /declined by the caller's user/);
    } finally {
      release(decline);
      await other.close();
      await asking.close();
    }
  });

  test('a client that did not declare elicitation is refused at once, never held', T, async () => {
    const session = await legacyClient(() => approve, {});
    try {
      const refused = await session.client.callTool({ name: 'everything__echo', arguments: { message: 'x' } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(refused.code, DENIED, String(refused));
      assert.match(refused.message, /cannot be asked/);
      await gw.logged(/"event":"approvals\.unaskable"/);
    } finally {
      await session.close();
    }
  });

  test('no answer within timeout_s: -32043', T, async () => {
    const session = await legacyClient(() => new Promise(() => {})); // the user never answers
    try {
      const started = Date.now();
      const late = await session.client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(late.code, TIMED_OUT, String(late));
      assert.match(late.message, /not approved by the user within 1s/);
      assert.ok(Date.now() - started >= 900, 'held for its timeout');
      await gw.logged(/"event":"approvals\.expired"/);
    } finally {
      await session.close();
    }
  });

  test('an approver: admin rule beside it still waits for an operator', T, async () => {
    const session = await legacyClient(() => approve);
    try {
      const call = session.client.callTool({ name: 'everything__get-env', arguments: {} }).catch((e) => e);
      await waitFor(() => listed(gw).find((r) => r.tool === 'get-env' && r.state === 'pending'),
        { what: 'a pending admin row' });
      assert.equal(session.asked.length, 0, 'the user is not asked for an admin rule');
      const row = listed(gw).find((r) => r.tool === 'get-env');
      spawnSync(GATEWAY_BIN, ['approvals', 'deny', row.id, '-c', gw.configPath]);
      assert.equal((await call).code, DENIED);
    } finally {
      await session.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const post = (body) => send(gw.url('/mcp'), body);

function retryOf(request, requestState, inputResponses, args) {
  const params = structuredClone(request.params);
  Object.assign(params, { requestState, inputResponses });
  if (args !== undefined) params.arguments = args;
  return { ...request, id: nextRequestId(), params };
}

function assertRefused(res, request, code, re) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 600)}`;
  assert.equal(res.json?.id, request.id, detail);
  assert.equal(res.json?.error?.code, code, detail);
  if (re) assert.match(res.json.error.message, re, detail);
}

/** A first call: the InputRequiredResult's question and state. */
async function asked(request) {
  const result = resultOf(await post(request), request);
  const detail = JSON.stringify(result).slice(0, 800);
  assert.equal(result.resultType, 'input_required', detail);
  assert.deepEqual(Object.keys(result.inputRequests), [KEY], detail);
  assert.equal(result.inputRequests[KEY].method, 'elicitation/create', detail);
  assert.match(result.requestState, /^mcpgate\.rs1\./);
  return { question: result.inputRequests[KEY].params, state: result.requestState };
}

describe('approver: user, 2026-07-28 client (input required, then the retry)', { skip: GATEWAY_ONLY }, () => {
  test('approve: the retry is served; the question names the call', T, async () => {
    const first = toolCall('everything__echo', { message: 'modern' }, ELICITATION);
    const { question, state } = await asked(first);
    assert.match(question.message, /tool "echo" on server "everything"/);
    assert.match(question.message, /"message":"modern"/);
    const retry = retryOf(first, state, { [KEY]: approve });
    assert.equal(resultText(resultOf(await post(retry), retry)), 'Echo: modern');
  });

  test('changed arguments, a replayed state, a decline, a forged state: refused before the server', T, async () => {
    const first = toolCall('spy__echo-params', { n: 1 }, ELICITATION);
    const { state } = await asked(first);

    const changed = retryOf(first, state, { [KEY]: approve }, { n: 2 });
    assertRefused(await post(changed), changed, DENIED, /approval was given for another call/);
    await gw.logged(/"event":"approvals\.mismatch"/);

    const forged = retryOf(first, `${state.slice(0, -4)}AAAA`, { [KEY]: approve });
    assertRefused(await post(forged), forged, -32602, /Invalid requestState/);

    const retry = retryOf(first, state, { [KEY]: approve });
    const calls = JSON.parse(resultText(resultOf(await post(retry), retry))).calls;

    const replay = retryOf(first, state, { [KEY]: approve });
    assertRefused(await post(replay), replay, DENIED, /used already/);
    await gw.logged(/"event":"approvals\.replayed"/);

    const second = toolCall('spy__echo-params', { n: 3 }, ELICITATION);
    const declined = await asked(second);
    const no = retryOf(second, declined.state, { [KEY]: decline });
    assertRefused(await post(no), no, DENIED, /declined by the caller's user/);
    const changedMind = retryOf(second, declined.state, { [KEY]: approve });
    assertRefused(await post(changedMind), changedMind, DENIED, /used already/);

    const third = toolCall('spy__echo-params', { n: 4 }, ELICITATION);
    const fresh = await asked(third);
    const ok = retryOf(third, fresh.state, { [KEY]: approve });
    assert.equal(JSON.parse(resultText(resultOf(await post(ok), ok))).calls, calls + 1,
      'nothing refused reached the server');
  });

  test('an answer after timeout_s: -32043, as a legacy client hears it, not an invalid state', T, async () => {
    const first = toolCall('everything__get-sum', { a: 2, b: 3 }, ELICITATION);
    const { state } = await asked(first);
    await new Promise((res) => setTimeout(res, 3100)); // the state's expiry is in whole seconds: now + 1
    const late = retryOf(first, state, { [KEY]: approve });
    const refused = await post(late);
    assertRefused(refused, late, TIMED_OUT, /not approved by the user within 1s \(approval apr_/);
    await gw.logged(/"event":"approvals\.expired".*answer came after/);
    const id = refused.json.error.message.match(/apr_[0-9a-f]+/)[0];
    await waitFor(() => listed(gw).some((r) => r.id === id && r.state === 'expired' && r.approver === 'user'),
      { what: `the expired row of ${id}` });
    const other = retryOf(first, state, { [KEY]: approve }, { a: 2, b: 4 });
    assertRefused(await post(other), other, DENIED, /approval was given for another call/);
  });

  test('a retry without the answer is asked again; a client without elicitation is refused at once', T, async () => {
    const first = toolCall('everything__echo', { message: 'm' }, ELICITATION);
    const { state } = await asked(first);
    const empty = retryOf(first, state, {});
    const again = resultOf(await post(empty), empty);
    assert.equal(again.resultType, 'input_required');
    assert.notEqual(again.requestState, state);

    const blind = toolCall('everything__echo', { message: 'm' }, {});
    assertRefused(await post(blind), blind, DENIED, /cannot be asked/);
  });

  test('every decision is visible: rows decided by the user, hold events, the calls\' records', T, async () => {
    const rows = listed(gw).filter((r) => r.approver === 'user');
    assert.ok(rows.some((r) => r.state === 'approved' && r.decided_by === 'user'), JSON.stringify(rows));
    assert.ok(rows.some((r) => r.state === 'denied'), JSON.stringify(rows));
    assert.ok(rows.some((r) => r.state === 'expired' && r.tool === 'get-sum'), JSON.stringify(rows));
    await waitFor(() => records(trail).some((r) => r.decision === 'allow' && /caller's user/.test(r.reason ?? '')),
      { what: 'the audit records' });
    const all = records(trail);
    const holds = all.filter((r) => r.decision === 'hold' && r.status === 'held');
    assert.ok(holds.some((r) => r.findings?.[0]?.approver === 'user'), JSON.stringify(holds[0]));
    const calls = all.filter((r) => r.method === 'tools/call' && r.decision !== 'hold');
    assert.ok(calls.some((r) => r.decision === 'allow' && /^approved by the caller's user \(apr_/.test(r.reason)));
    assert.ok(calls.some((r) => r.decision === 'deny' && /^declined by the caller's user/.test(r.reason) &&
      r.error_code === DENIED));
    assert.ok(calls.some((r) => r.decision === 'deny' && r.error_code === TIMED_OUT));
  });
});

// A 2026-07-28 server that itself answers input_required: the approval travels in the gateway's wrap state, so
// the retry that carries the server's answers continues the approved call instead of asking again.
test('approver: user on a modern server that asks for input: asked once, then the server\'s own rounds',
  { timeout: 60_000, skip: GATEWAY_ONLY || NO_MODERN_SDK }, async () => {
    const config = {
      servers: [modernStdio('modern')],
      approvals: [{ tools: ['modern/test_input_required_result_elicitation'], approver: 'user' }],
    };
    await withGateway(config, async (gw) => {
      const postTo = (body) => send(gw.url('/mcp'), body);
      const first = toolCall('modern__test_input_required_result_elicitation', {}, ELICITATION);
      const approval = resultOf(await postTo(first), first);
      assert.deepEqual(Object.keys(approval.inputRequests ?? {}), [KEY], JSON.stringify(approval));
      const approved = retryOf(first, approval.requestState, { [KEY]: approve });
      const serverAsks = resultOf(await postTo(approved), approved);
      assert.equal(serverAsks.resultType, 'input_required', JSON.stringify(serverAsks));
      assert.deepEqual(Object.keys(serverAsks.inputRequests), ['user_name'], 'the server\'s own question now');
      const answered = retryOf(first, serverAsks.requestState, { user_name: { action: 'accept', content: { name: 'Ada' } } });
      assert.equal(resultText(resultOf(await postTo(answered), answered)), 'Hello, Ada!');
      // the server's round with other arguments is not the approved call
      const changed = retryOf(first, serverAsks.requestState, { user_name: { action: 'accept', content: { name: 'Eve' } } },
        { other: 1 });
      const refused = await postTo(changed);
      assert.equal(refused.json?.error?.code, DENIED, refused.text.slice(0, 400));
      assert.match(refused.json.error.message, /approval was given for another call/);
    });
  });
