// Audit events on the request path (issue 7): every request the gateway decides on leaves exactly one
// record in the trail, with the decision and the rule that made it. A gateway with API keys, a policy
// with an argument condition, a rate limit and a schema-checked tool, in front of server-everything:
// allowed calls, a denial by condition, a hidden tool, an unknown tool, arguments that break the
// inputSchema, a rate-limited call, a missing credential and a body that is not JSON each appear once,
// found by their request ids; `audit verify` accepts the trail and `audit query` finds the denial.
// Then durability: with `fsync: always`, a gateway killed with SIGKILL under load has on disk the
// record of every call whose answer reached the client.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, cleanupDir, connect, everythingStdio, freePort, rawPost, tempDir,
} from './lib/gateway.mjs';
import { MODERN, modernRequest, send, toolCall } from './lib/modern.mjs';

const T = { timeout: 90_000, skip: GATEWAY_ONLY };
const exec = promisify(execFile);

/** The trail's records (checkpoints left out); a torn last line (a killed writer) is ignored. */
function records(path) {
  if (!existsSync(path)) return [];
  const out = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    let rec;
    try { rec = JSON.parse(line); } catch { continue; }
    if (rec.type !== 'checkpoint') out.push(rec);
  }
  return out;
}

/** The one record of request `id` (asserting there is exactly one). */
function recordOf(all, id) {
  const found = all.filter((r) => r.request_id === id);
  assert.equal(found.length, 1, `request ${id}: ${found.length} records\n${JSON.stringify(found)}`);
  return found[0];
}

describe('one audit event per decision', { skip: GATEWAY_ONLY }, () => {
  let gw, dir, trail, key;
  const call = (name, args) => send(gw.url('/mcp'), toolCall(name, args), { headers: { 'x-api-key': key } });

  before(async () => {
    dir = tempDir('mcpgate-audit-events-');
    trail = join(dir, 'audit.jsonl');
    const port = await freePort();
    gw = new Gateway({
      listen: [`127.0.0.1:${port}`],
      state_dir: join(dir, 'var'),
      servers: [everythingStdio('everything')],
      auth: { resource: `http://127.0.0.1:${port}/mcp`, api_keys: { enabled: true } },
      roles: [{
        name: 'user',
        allow: [
          { tools: ['everything/echo', 'everything/no-such-tool'] },
          { tools: ['everything/get-sum'], when: { args: { '/a': { max: 10 } } } },
        ],
      }],
      bindings: [{ role: 'user', match: { authenticated: true } }],
      rate_limits: { rules: [{ name: 'sums', key: 'principal', rate: '2/minute', tools: ['everything/get-sum'] }] },
      audit: { file: trail, sqlite: join(dir, 'audit.sqlite'), fsync: 'always' },
    });
    key = (await exec(GATEWAY_BIN, ['keys', 'create', '--name', 'alice', '--roles', 'user', '-c', gw.configPath])).stdout.trim();
    await gw.start();
  });
  after(async () => { await gw?.stop(); if (dir) cleanupDir(dir); });

  test('allow, deny, hidden, unknown, invalid, rate-limited: one record each, with the rule', T, async () => {
    const asked = {};
    const remember = async (what, name, args) => {
      const body = toolCall(name, args);
      asked[what] = { id: body.id, res: await send(gw.url('/mcp'), body, { headers: { 'x-api-key': key } }) };
    };
    await remember('allowed', 'everything__echo', { message: 'a secret-looking string' });
    await remember('sum', 'everything__get-sum', { a: 1, b: 2 });
    await remember('denied', 'everything__get-sum', { a: 100, b: 2 });
    await remember('hidden', 'everything__get-tiny-image', {});
    await remember('unknown', 'everything__no-such-tool', {});
    await remember('invalid', 'everything__echo', { message: 5 });
    await remember('sum2', 'everything__get-sum', { a: 2, b: 2 });
    await remember('limited', 'everything__get-sum', { a: 3, b: 2 });
    assert.equal(asked.allowed.res.status, 200, asked.allowed.res.text);
    assert.equal(asked.limited.res.status, 429, asked.limited.res.text);

    // fsync: always: each record is on disk before its answer leaves
    const all = records(trail);
    const allowed = recordOf(all, asked.allowed.id);
    assert.equal(allowed.decision, 'allow');
    assert.equal(allowed.method, 'tools/call');
    assert.equal(allowed.server, 'everything');
    assert.equal(allowed.item_kind, 'tool');
    assert.equal(allowed.item, 'echo');
    assert.equal(allowed.status, 'ok');
    assert.equal(allowed.protocol_version, MODERN);
    assert.equal(allowed.era, 'modern');
    assert.deepEqual({ subject: allowed.principal.subject, method: allowed.principal.method },
      { subject: 'alice', method: 'api_key' });
    assert.match(allowed.rule, /allow\[0\]/);
    assert.equal(allowed.client_address, '127.0.0.1');
    assert.ok(allowed.total_us > 0 && allowed.upstream_us > 0 && allowed.upstream_us <= allowed.total_us,
      JSON.stringify(allowed));
    assert.ok(allowed.bytes_in > 0 && allowed.bytes_out > 0);
    assert.deepEqual(allowed.arguments, { message: '[REDACTED]' }); // the default: strings never in clear
    assert.match(allowed.arguments_sha256, /^[0-9a-f]{64}$/);
    assert.doesNotMatch(JSON.stringify(all), /secret-looking/);

    const denied = recordOf(all, asked.denied.id);
    assert.equal(denied.decision, 'deny');
    assert.match(denied.rule, /allow\[1\]/);
    assert.equal(denied.status, 'error');
    assert.equal(denied.error_code, -32003);
    assert.doesNotMatch(denied.reason, /100/); // the failing value stays out of the trail

    const hidden = recordOf(all, asked.hidden.id);
    assert.equal(hidden.decision, 'hidden');
    assert.equal(hidden.item, 'get-tiny-image');
    assert.equal(hidden.error_code, -32602);

    const unknown = recordOf(all, asked.unknown.id);
    assert.equal(unknown.decision, 'error');
    assert.match(unknown.reason, /Unknown tool/);

    const invalid = recordOf(all, asked.invalid.id);
    assert.equal(invalid.decision, 'deny');
    assert.equal(invalid.rule, 'schema:input');
    assert.equal(invalid.status, 'tool_error'); // 2026-07-28: a tool execution error the model can read

    for (const what of ['sum', 'sum2']) assert.equal(recordOf(all, asked[what].id).decision, 'allow');
    const limited = recordOf(all, asked.limited.id);
    assert.equal(limited.decision, 'rate_limited');
    assert.equal(limited.rule, 'rate_limits.sums');
    assert.equal(limited.error_code, -32029);
    // no assertion on upstream_us: a worker whose catalog is still empty asks the server for its tool list
    // before it can know the tool exists (and only known tools are charged), and that time is upstream time
  });

  test('refusals before routing: no credential, a body that is not JSON, a header mismatch', T, async () => {
    const before = records(trail).length;
    const noKey = await send(gw.url('/mcp'), toolCall('everything__echo', { message: 'x' }));
    assert.equal(noKey.status, 401);
    const badJson = await rawPost(gw.url('/mcp'), '{"jsonrpc":"2.0",', { headers: { 'x-api-key': key } });
    assert.equal(badJson.status, 400);
    const body = toolCall('everything__echo', { message: 'x' });
    const mismatch = await send(gw.url('/mcp'), body, { headers: { 'x-api-key': key, 'mcp-name': 'everything__other' } });
    assert.equal(mismatch.status, 400);
    const added = records(trail).slice(before);
    assert.equal(added.length, 3, JSON.stringify(added));
    assert.deepEqual(added.map((r) => [r.decision, r.error_code]),
      [['deny', -32003], ['error', -32700], ['error', -32020]]);
    assert.equal(added[0].principal, undefined); // nobody was identified
    assert.equal(added[2].request_id, body.id);
    assert.equal(added[2].principal.subject, 'alice');
  });

  test('a legacy session through the official SDK client: initialize, list and call each recorded', T, async () => {
    const before = records(trail).length;
    const session = await connect(gw.url('/mcp'), {
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        headers.set('x-api-key', key);
        return fetch(url, { ...init, headers });
      },
    });
    await session.client.listTools();
    await session.client.callTool({ name: 'everything__echo', arguments: { message: 'legacy' } });
    await session.close();
    const added = records(trail).slice(before);
    const methods = added.map((r) => r.method);
    assert.deepEqual(methods.filter((m) => m !== undefined), ['initialize', 'tools/list', 'tools/call'],
      JSON.stringify(added));
    const callRecord = added.find((r) => r.method === 'tools/call');
    assert.equal(callRecord.era, 'legacy');
    assert.equal(callRecord.decision, 'allow');
    assert.equal(callRecord.item, 'echo');
  });

  test('the trail verifies, and audit query finds the denial by decision and tool', T, async () => {
    const verify = spawnSync(GATEWAY_BIN, ['audit', 'verify', trail], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const query = spawnSync(GATEWAY_BIN, ['audit', 'query', '-c', gw.configPath, '--decision', 'deny',
      '--tool', 'everything/get-sum', '--json'], { encoding: 'utf8' });
    assert.equal(query.status, 0, query.stderr);
    const rows = query.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(rows.length, 1, query.stdout);
    assert.equal(rows[0].item, 'get-sum');
  });

  test('its threads are named, so top -H and ps -L tell the writer and the indexer from a worker', T, () => {
    const tasks = `/proc/${gw.proc.pid}/task`;
    const names = readdirSync(tasks).map((id) => readFileSync(`${tasks}/${id}/comm`, 'utf8').trim());
    for (const name of ['mg-worker-0', 'mg-audit', 'mg-audit-index', 'mg-auth']) {
      assert.ok(names.includes(name), `no thread named ${name}: ${names.join(' ')}`);
    }
  });
});

describe('fsync: always survives kill -9', { skip: GATEWAY_ONLY }, () => {
  test('every answered call has its record after SIGKILL under load', T, async () => {
    const dir = tempDir('mcpgate-audit-kill-');
    const trail = join(dir, 'audit.jsonl');
    const gw = new Gateway({
      servers: [everythingStdio('everything')],
      audit: { file: trail, fsync: 'always' },
    });
    try {
      await gw.start();
      const answered = [];
      let killed = false;
      const worker = async () => {
        while (!killed) {
          const body = modernRequest('tools/call', { name: 'everything__echo', arguments: { message: 'load' } });
          try {
            const res = await send(gw.url('/mcp'), body, { timeoutMs: 10_000 });
            if (res.status === 200 && res.json?.result) answered.push(body.id);
          } catch { /* the gateway died under this call: it was never acknowledged */ }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      while (answered.length < 150) await new Promise((r) => setTimeout(r, 10));
      gw.proc.kill('SIGKILL');
      killed = true;
      await Promise.all(workers);
      const ids = new Set(records(trail).map((r) => r.request_id));
      const missing = answered.filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${answered.length} acknowledged calls have no record`);
    } finally {
      await gw.stop();
      cleanupDir(dir);
    }
  });
});
