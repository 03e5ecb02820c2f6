// The Prometheus endpoint (issue 7), end to end. A gateway with API keys, a policy with an argument
// condition, a rate limit and an audit trail in front of server-everything, with `metrics` on the main
// listener limited to the `ops` role: without credentials 401, with a key that lacks the role 403, with
// the scraper's key 200. Known traffic through the official SDK client (allowed calls, a denial by
// condition, a rate-limited call, an unknown tool, a made-up name) shows up as exact counts, by label;
// a made-up tool name never becomes a label value; an upstream killed behind the gateway's back is
// counted as an exit and a restart; the text passes `promtool check metrics`. Then the endpoint on its
// own listener: served there, 404 on the main one.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, cleanupDir, connect, everythingStdio, freePort, tempDir, waitFor,
} from './lib/gateway.mjs';

const T = { timeout: 90_000, skip: GATEWAY_ONLY };
const exec = promisify(execFile);

/** promtool is required: the issue asks for the exposition to pass it (Debian: apt-get install prometheus). */
function promtoolCheck(text) {
  const found = spawnSync('promtool', ['--version']);
  assert.ok(!found.error, 'promtool is missing: install Debian\'s prometheus package (scripts/install-deps.sh)');
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(checked.status, 0, `promtool check metrics failed:\n${checked.stdout}${checked.stderr}`);
}

/** The samples of an exposition: name{labels} -> value (labels as written). */
function samples(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The sum of the samples of `name` whose labels include every pair of `match`. */
function sum(all, name, match = {}) {
  let total = 0;
  for (const [key, value] of all) {
    if (!key.startsWith(`${name}{`) && key !== name) continue;
    if (Object.entries(match).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
  }
  return total;
}

const toolLabels = (tool, more = {}) => ({ server: 'everything', tool, method: 'tools/call', ...more });

describe('metrics on the main listener, for the ops role', { skip: GATEWAY_ONLY }, () => {
  let gw, dir;
  const keys = {};
  const scrape = async (key) => {
    const res = await gw.get('/metrics', key ? { 'x-api-key': key } : {});
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const metrics = async () => {
    const res = await scrape(keys.scraper);
    assert.equal(res.status, 200, res.text);
    return samples(res.text);
  };

  before(async () => {
    dir = tempDir('mcpgate-metrics-');
    const port = await freePort();
    gw = new Gateway({
      listen: [`127.0.0.1:${port}`],
      workers: 2,
      state_dir: join(dir, 'var'),
      servers: [everythingStdio('everything')],
      auth: { resource: `http://127.0.0.1:${port}/mcp`, api_keys: { enabled: true } },
      roles: [
        {
          name: 'user',
          allow: [
            { tools: ['everything/echo'] },
            { tools: ['everything/get-sum'], when: { args: { '/a': { max: 10 } } } },
          ],
        },
        { name: 'ops', allow: [{ tools: ['everything/echo'] }] },
      ],
      bindings: [
        { role: 'user', match: { authenticated: true } },
        { role: 'ops', match: { api_key: 'scraper' } },
      ],
      rate_limits: { rules: [{ name: 'echo-rate', key: 'principal', rate: '3/minute', tools: ['everything/echo'] }] },
      audit: { file: join(dir, 'audit.jsonl'), sqlite: join(dir, 'audit.sqlite'), fsync: 'always', queue: 64 },
      metrics: { roles: ['ops'] },
    });
    const create = async (name) =>
      (await exec(GATEWAY_BIN, ['keys', 'create', '--name', name, '--roles', 'user', '-c', gw.configPath])).stdout.trim();
    keys.alice = await create('alice');
    keys.scraper = await create('scraper');
    await gw.start();
  });
  after(async () => { await gw?.stop(); if (dir) cleanupDir(dir); });

  test('401 without credentials, 403 without the role, 200 for the scraper', T, async () => {
    const anonymous = await scrape();
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.doesNotMatch(anonymous.text, /mcpgate_/);
    const alice = await scrape(keys.alice);
    assert.equal(alice.status, 403, alice.text);
    assert.doesNotMatch(alice.text, /mcpgate_/);
    const scraper = await scrape(keys.scraper);
    assert.equal(scraper.status, 200, scraper.text);
    assert.equal(scraper.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const post = await gw.post('/metrics', {}, { headers: { 'x-api-key': keys.scraper } });
    assert.equal(post.status, 405);
  });

  test('known traffic gives exact counts by server, tool, method, decision and status', T, async () => {
    const before = await metrics();
    const { client, close } = await connect(gw.url('/mcp'), {
      fetch: (url, init = {}) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'x-api-key': keys.alice } }),
    });
    const refused = async (name, args) => {
      const result = await client.callTool({ name, arguments: args }).then((r) => ({ result: r }), (error) => ({ error }));
      assert.ok(result.error || result.result?.isError, `${name} should fail: ${JSON.stringify(result)}`);
      return result;
    };
    try {
      for (let i = 0; i < 3; i++) await client.callTool({ name: 'everything__echo', arguments: { message: `hi ${i}` } });
      await refused('everything__echo', { message: 'one too many' }); // rate-limited
      await client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } });
      await client.callTool({ name: 'everything__get-sum', arguments: { a: 3, b: 4 } });
      await refused('everything__get-sum', { a: 13, b: 1 }); // denied by the condition
      await refused('everything__no-such-tool', {}); // unknown
      await refused('made-up-tool-xyz', {}); // names no server
    } finally {
      await close();
    }
    const after = await metrics();
    const delta = (name, match) => sum(after, name, match) - sum(before, name, match);
    const requests = 'mcpgate_requests_total';
    assert.equal(delta(requests, toolLabels('echo', { decision: 'allow', status: 'ok' })), 3);
    assert.equal(delta(requests, toolLabels('echo', { decision: 'rate_limited', status: 'error' })), 1);
    assert.equal(delta(requests, toolLabels('get-sum', { decision: 'allow', status: 'ok' })), 2);
    assert.equal(delta(requests, toolLabels('get-sum', { decision: 'deny', status: 'error' })), 1);
    // the hidden tool is answered as unknown and labelled so; the made-up name routes to no server
    assert.equal(delta(requests, { server: 'everything', tool: '(unknown)', method: 'tools/call', decision: 'hidden' }), 1);
    assert.equal(delta(requests, { server: '', tool: '', method: 'tools/call', decision: 'error', status: 'error' }), 1);
    assert.equal(delta(requests, { method: 'tools/call' }), 9);
    assert.equal(delta(requests, { method: 'initialize', decision: 'allow', status: 'ok' }), 1);
    assert.equal(delta('mcpgate_sessions_opened_total'), 1);
    // a name the client made up is never a label value
    const text = (await scrape(keys.scraper)).text;
    assert.doesNotMatch(text, /no-such-tool|made-up-tool-xyz/);
    // latency: every call has a total; only those that reached the upstream an upstream one
    const histogram = (name) => delta(`${name}_count`, toolLabels('echo'));
    assert.equal(histogram('mcpgate_request_duration_seconds'), 4);
    assert.equal(histogram('mcpgate_upstream_duration_seconds'), 3);
    assert.equal(delta('mcpgate_request_duration_seconds_bucket', toolLabels('echo', { le: '+Inf' })), 4);
    assert.ok(delta('mcpgate_request_bytes_total', { server: 'everything', direction: 'in' }) > 0);
    // the limiter's own count of the rule agrees
    assert.equal(delta('mcpgate_rate_limit_decisions_total', { rule: 'echo-rate', result: 'limited' }), 1);
    assert.equal(delta('mcpgate_rate_limit_decisions_total', { rule: 'echo-rate', result: 'allowed' }), 3);
    // one audit record per request observed: the two come from the same event
    assert.equal(sum(after, 'mcpgate_audit_records_emitted_total'), sum(after, requests));
    assert.equal(sum(after, 'mcpgate_audit_records_written_total'), sum(after, requests));
    assert.equal(sum(after, 'mcpgate_audit_queue_capacity'), 64);
    assert.equal(sum(after, 'mcpgate_audit_queue_depth'), 0);
    assert.equal(sum(after, 'mcpgate_upstream_up', { server: 'everything' }), 1);
    // the index follows the file at idle priority: it catches up, and the lag gauge says when it has
    await waitFor(async () => {
      const now = await metrics();
      return sum(now, 'mcpgate_audit_index_lag') === 0 &&
        sum(now, 'mcpgate_audit_records_indexed_total') === sum(now, 'mcpgate_audit_records_written_total');
    }, { timeoutMs: 20_000, what: 'the audit index to catch up' });
    assert.equal(sum(after, 'mcpgate_audit_index_errors_total'), 0);
    promtoolCheck(text);
  });

  test('a killed upstream is counted as an exit and a restart', T, async () => {
    const children = execFileSync('pgrep', ['-P', String(gw.proc.pid)], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(children.length, 1, `one stdio child expected: ${children}`);
    process.kill(Number(children[0]), 'SIGKILL');
    await waitFor(async () => sum(await metrics(), 'mcpgate_upstream_restarts_total', { server: 'everything' }) === 1,
      { timeoutMs: 10_000, what: 'the restart counted' });
    const after = await metrics();
    assert.equal(sum(after, 'mcpgate_upstream_errors_total', { server: 'everything', kind: 'exit' }), 1);
    assert.equal(sum(after, 'mcpgate_upstream_errors_total', { server: 'everything', kind: 'spawn' }), 0);
    await waitFor(async () => sum(await metrics(), 'mcpgate_upstream_up', { server: 'everything' }) === 1,
      { timeoutMs: 15_000, what: 'the upstream back up' });
  });
});

describe('metrics on their own listener', { skip: GATEWAY_ONLY }, () => {
  let gw, dir, metricsPort;

  before(async () => {
    dir = tempDir('mcpgate-metrics-own-');
    const port = await freePort();
    metricsPort = await freePort();
    gw = new Gateway({
      listen: [`127.0.0.1:${port}`],
      state_dir: join(dir, 'var'),
      servers: [everythingStdio('everything')],
      metrics: { listen: `127.0.0.1:${metricsPort}`, path: '/prom' },
    });
    await gw.start();
  });
  after(async () => { await gw?.stop(); if (dir) cleanupDir(dir); });

  test('served on its own address and path, not on the main listener', T, async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/prom`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^mcpgate_upstream_up\{server="everything"\} 1$/m);
    promtoolCheck(text);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/mcp`)).status, 404);
    assert.equal((await gw.get('/prom')).status, 404);
    assert.equal((await gw.get('/metrics')).status, 404);
    assert.match(gw.stderr, /"event":"metrics.listen.ready"/);
  });

  test('a legacy GET stream is counted while it is open', T, async () => {
    const scrapeStreams = async () =>
      sum(samples(await (await fetch(`http://127.0.0.1:${metricsPort}/prom`)).text()), 'mcpgate_event_streams');
    const { close } = await connect(gw.url('/mcp'));
    try {
      await waitFor(async () => (await scrapeStreams()) === 1, { what: 'one event stream' });
    } finally {
      await close();
    }
    // h2o notices a client that left an idle stream when it next writes: the 15 s keepalive comment
    await waitFor(async () => (await scrapeStreams()) === 0, { timeoutMs: 20_000, what: 'no event stream' });
  });
});
