// Human approval (issue 8, docs/guards.md "Human approval"): tools/calls an `approvals` rule matches are held
// until an operator decides with `mcpgate approvals approve|deny ID` (another process, through the state
// store), or the rule's timeout denies them. Through the gateway with the official SDK client and the
// reference server-everything over stdio: a held call approved returns the server's real result; one denied
// gets -32042; one not decided in time gets -32043; a tool no rule names is never held; an id decides once;
// `approvals list` shows the calls with their binding (principal, tool, argument digest); the audit trail
// holds a `hold` event and the call's record says who decided; a held call whose client sent a
// progressToken hears that it waits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, cleanupDir, connect, everythingStdio, resultText, tempDir, waitFor,
  auditRecords as records,
} from './lib/gateway.mjs';
import { send, sseMessages, toolCall } from './lib/modern.mjs';

const T = { timeout: 90_000, skip: GATEWAY_ONLY };
const DENIED = -32042;
const TIMED_OUT = -32043;

function approvals(gw, ...args) {
  const run = spawnSync(GATEWAY_BIN, ['approvals', ...args, '-c', gw.configPath], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function listed(gw) {
  const run = approvals(gw, 'list', '--json');
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** The pending row of `tool` once the gateway wrote it. */
async function pendingRow(gw, tool, known = new Set()) {
  let row;
  await waitFor(() => {
    row = listed(gw).find((r) => r.tool === tool && r.state === 'pending' && !known.has(r.id));
    return row;
  }, { what: `a pending approval of ${tool}` });
  known.add(row.id);
  return row;
}

const canonicalDigest = (args) => createHash('sha256').update(JSON.stringify(
  Object.fromEntries(Object.entries(args).sort(([a], [b]) => (a < b ? -1 : 1))))).digest('hex');

describe('human approval, approver: admin', { skip: GATEWAY_ONLY }, () => {
  test('held calls: approved, denied, timed out; others pass; one decision per id; list; audit', T, async () => {
    const dir = tempDir('mcpgate-approvals-');
    const trail = join(dir, 'audit.jsonl');
    const gw = new Gateway({
      servers: [everythingStdio()],
      audit: { file: trail, fsync: 'never' },
      approvals: [
        { tools: ['everything/echo'], approver: 'admin', timeout_s: 60 },
        { tools: ['*/get-s*'], timeout_s: 1 },
      ],
    });
    let session;
    try {
      await gw.start();
      session = await connect(gw.url('/mcp'));
      const { client } = session;
      const known = new Set();

      // nothing matches: served at once, nothing recorded
      const env = await client.callTool({ name: 'everything__get-resource-links', arguments: { count: 1 } });
      assert.ok(Array.isArray(env.content));
      assert.deepEqual(listed(gw), []);

      // held, then approved: the server's real answer; the progressToken hears that it waits
      const progress = [];
      const approvedCall = client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } }, undefined,
        { onprogress: (p) => progress.push(p) });
      const row = await pendingRow(gw, 'echo', known);
      assert.match(row.id, /^apr_[0-9a-f]{32}$/);
      assert.equal(row.server, 'everything');
      assert.equal(row.rule, 'approvals[0]');
      assert.equal(row.approver, 'admin');
      assert.equal(row.principal, 'anonymous');
      assert.equal(row.arguments, '{"message":"hello"}');
      assert.equal(row.arguments_sha256, canonicalDigest({ message: 'hello' }));
      const table = approvals(gw, 'list');
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /^ID\s+STATE\s+PRINCIPAL\s+TOOL/);
      assert.match(table.stdout, new RegExp(`${row.id}\\s+pending\\s+anonymous\\s+everything/echo`));
      await waitFor(() => progress.length >= 1, { what: 'a progress notification' });
      assert.match(progress[0].message, new RegExp(`Waiting for approval ${row.id}`));

      const approve = approvals(gw, 'approve', row.id);
      assert.equal(approve.status, 0, approve.stderr);
      assert.equal(resultText(await approvedCall), 'Echo: hello');
      const again = approvals(gw, 'approve', row.id);
      assert.equal(again.status, 1, 'an id decides once');
      assert.match(again.stderr, /is approved already/);
      assert.equal(approvals(gw, 'deny', row.id).status, 1);
      const decided = listed(gw).find((r) => r.id === row.id);
      assert.equal(decided.state, 'approved');
      assert.match(decided.decided_by, /^operator:/);
      assert.equal(decided.arguments, null, 'the arguments are wiped once decided');

      // held, then denied
      const deniedCall = client.callTool({ name: 'everything__echo', arguments: { message: 'rm -rf' } });
      const denyRow = await pendingRow(gw, 'echo', known);
      assert.equal(approvals(gw, 'deny', denyRow.id).status, 0);
      const denied = await deniedCall.then(() => assert.fail('served'), (e) => e);
      assert.equal(denied.code, DENIED, String(denied));
      assert.match(denied.message, /denied by an approver/);
      assert.equal(denied.data.approval, denyRow.id);
      assert.equal(denied.data.rule, 'approvals[0]');
      assert.equal(approvals(gw, 'approve', denyRow.id).status, 1, 'a denied call cannot be approved later');

      // nobody decides within timeout_s: 1
      const started = Date.now();
      const late = await client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } })
        .then(() => assert.fail('served'), (e) => e);
      assert.equal(late.code, TIMED_OUT, String(late));
      assert.match(late.message, /not approved within 1s/);
      assert.ok(Date.now() - started >= 900, 'held for its timeout');
      const expired = listed(gw).find((r) => r.tool === 'get-sum');
      assert.equal(expired.state, 'expired');
      assert.equal(approvals(gw, 'approve', expired.id).status, 1, 'an expired call cannot be approved');

      // bad ids are usage errors
      assert.equal(approvals(gw, 'approve', 'nope').status, 2);
      assert.equal(approvals(gw, 'approve', 'apr_' + '0'.repeat(32)).status, 1);

      // the trail: hold events, and each call's record says what decided
      await waitFor(() => records(trail).filter((r) => r.method === 'tools/call').length >= 6,
        { what: 'the audit records' });
      const all = records(trail);
      const holds = all.filter((r) => r.decision === 'hold');
      assert.equal(holds.length, 3, JSON.stringify(holds));
      assert.ok(holds.every((r) => r.rule.startsWith('approvals[') && r.status === 'held'));
      const calls = all.filter((r) => r.method === 'tools/call' && r.decision !== 'hold');
      const ok = calls.find((r) => r.item === 'echo' && r.decision === 'allow');
      assert.equal(ok.rule, 'approvals[0]');
      assert.match(ok.reason, new RegExp(`^approved by operator:.* \\(${row.id}\\)$`));
      const no = calls.find((r) => r.item === 'echo' && r.decision === 'deny');
      assert.match(no.reason, /^denied by operator:/);
      assert.equal(no.error_code, DENIED);
      const timedOut = calls.find((r) => r.item === 'get-sum');
      assert.equal(timedOut.decision, 'deny');
      assert.equal(timedOut.error_code, TIMED_OUT);

      // the log lines
      for (const event of ['approvals.held', 'approvals.approved', 'approvals.denied', 'approvals.expired']) {
        await gw.logged(new RegExp(`"event":"${event.replace('.', '\\.')}"`));
      }
    } finally {
      await session?.close();
      await gw.stop();
      cleanupDir(dir);
    }
  });

  test('a 2026-07-28 request is held and approved the same way, progress on its stream', T, async () => {
    const gw = new Gateway({ servers: [everythingStdio()], approvals: [{ tools: ['everything/echo'] }] });
    try {
      await gw.start();
      const body = toolCall('everything__echo', { message: 'modern' });
      body.params._meta.progressToken = 'held-1';
      const answer = send(gw.url('/mcp'), body);
      const row = await pendingRow(gw, 'echo');
      assert.equal(approvals(gw, 'approve', row.id).status, 0);
      const res = await answer;
      assert.equal(res.status, 200, res.text);
      const messages = sseMessages(res.text);
      const progress = messages.find((m) => m.method === 'notifications/progress');
      assert.equal(progress.params.progressToken, 'held-1');
      const final = messages.find((m) => m.id === body.id);
      assert.equal(resultText(final.result), 'Echo: modern');
    } finally {
      await gw.stop();
    }
  });

  // h2o 2.2.5 does not read an HTTP/1.1 connection while its request is being answered, so a client that
  // leaves is noticed at the next write: a held call with a progressToken hears every 5 s that it waits.
  test('a caller that leaves takes its call with it: the row is abandoned, never approvable', T, async () => {
    const gw = new Gateway({ servers: [everythingStdio()], approvals: [{ tools: ['everything/echo'] }] });
    try {
      await gw.start();
      const session = await connect(gw.url('/mcp'));
      const progress = [];
      const call = session.client.callTool({ name: 'everything__echo', arguments: { message: 'bye' } }, undefined,
        { onprogress: (p) => progress.push(p) }).catch((e) => e);
      const row = await pendingRow(gw, 'echo');
      await waitFor(() => progress.length >= 1, { what: 'the first progress notification' });
      await session.close(); // aborts the POST still open
      await call;
      await waitFor(() => listed(gw).find((r) => r.id === row.id).state === 'abandoned',
        { timeoutMs: 12_000, what: 'the row to be abandoned' });
      const late = approvals(gw, 'approve', row.id);
      assert.equal(late.status, 1);
      assert.match(late.stderr, /is abandoned already/);
      await gw.logged(/"event":"approvals\.abandoned"/);
    } finally {
      await gw.stop();
    }
  });
});

describe('approvals configuration', () => {
  const check = (approvalsYaml) => {
    const dir = tempDir('mcpgate-approvals-config-');
    const path = join(dir, 'gw.yaml');
    const yaml = `servers:\n  - name: fs\n    command: [node, x.js]\n${approvalsYaml}`;
    spawnSync('sh', ['-c', `cat > ${path}`], { input: yaml });
    const run = spawnSync(GATEWAY_BIN, ['check-config', '-c', path], { encoding: 'utf8' });
    cleanupDir(dir);
    return run;
  };

  test('a valid section loads', () => {
    const run = check('approvals:\n  - tools: ["fs/write_*", "*/delete_*"]\n    approver: admin\n    timeout_s: 300\n');
    assert.equal(run.status, 0, run.stderr);
    const user = check('approvals:\n  - tools: ["fs/write_*"]\n    approver: user\n    timeout_s: 30\n');
    assert.equal(user.status, 0, user.stderr);
  });

  test('mistakes are refused with file:line:column', () => {
    const cases = [
      ['approvals:\n  - tools: ["fs/*"]\n    aprover: admin\n', /gw\.yaml:6:5: approvals\[0\]: unknown key "aprover"/],
      ['approvals:\n  - tools: ["fs/*"]\n    approver: root\n', /gw\.yaml:6:15: approvals\[0\]\.approver: "root" must be admin or user/],
      ['approvals:\n  - tools: ["write"]\n', /gw\.yaml:5:13: approvals\[0\]\.tools\[0\]: "write" must be <server>\/<name>/],
      ['approvals:\n  - tools: ["mail/send"]\n', /gw\.yaml:5:13: approvals\[0\]\.tools\[0\]: "mail\/send": no server named "mail"/],
      ['approvals:\n  - tools: ["fs/*"]\n    timeout_s: 0\n', /gw\.yaml:6:16: approvals\[0\]\.timeout_s/],
      ['approvals:\n  - approver: admin\n', /gw\.yaml:5:5: approvals\[0\]: needs tools/],
    ];
    for (const [yaml, expected] of cases) {
      const run = check(yaml);
      assert.notEqual(run.status, 0, yaml);
      assert.match(run.stderr, expected, yaml);
    }
  });
});
