// Health endpoints, legacy-era sessions (sealed Mcp-Session-Id), and shutdown on SIGTERM.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  EVERYTHING_ENTRY, GATEWAY_ONLY, Gateway, NODE, connect, everythingStdio, initializeBody, rawPost, sleep,
  useGateway, waitFor,
} from './lib/gateway.mjs';

const gate = useGateway(() => ({ servers: [everythingStdio('everything')] }));
const T = { timeout: 45_000, skip: GATEWAY_ONLY }; // an upper bound for slow (sanitized) runs, not a timing check
const VERSION = '2025-11-25';

test('/healthz and /readyz answer 200 with JSON', T, async () => {
  for (const path of ['/healthz', '/readyz']) {
    const res = await gate.gw.get(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, path);
    assert.equal(typeof await res.json(), 'object', path);
  }
});

test('legacy session: initialize issues a session id; missing → 400, tampered or unknown → 404', T, async () => {
  const url = gate.gw.url('/mcp');
  const init = await rawPost(url, initializeBody());
  assert.equal(init.status, 200, init.text);
  assert.equal(init.json?.result?.protocolVersion, VERSION, init.text);
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid && /^[\x21-\x7e]+$/.test(sid), `Mcp-Session-Id must be visible ASCII: ${sid}`);
  assert.ok(sid.length >= 22, 'a sealed token, not a counter');

  const withSid = (id) => ({ headers: { 'mcp-session-id': id, 'mcp-protocol-version': VERSION } });
  const initialized = await rawPost(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, withSid(sid));
  assert.equal(initialized.status, 202, initialized.text);

  const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
  const ok = await rawPost(url, list, withSid(sid));
  assert.equal(ok.status, 200, ok.text);
  assert.ok(ok.json?.result?.tools?.some((t) => t.name === 'everything__echo'), ok.text.slice(0, 300));

  const missing = await rawPost(url, list, { headers: { 'mcp-protocol-version': VERSION } });
  assert.equal(missing.status, 400, missing.text);

  const mid = Math.floor(sid.length / 2);
  const tampered = sid.slice(0, mid) + (sid[mid] === 'A' ? 'B' : 'A') + sid.slice(mid + 1);
  for (const bad of [tampered, sid.slice(0, -4), randomUUID(), 'x']) {
    const res = await rawPost(url, list, withSid(bad));
    assert.equal(res.status, 404, `session id ${bad} → HTTP ${res.status} ${res.text.slice(0, 200)}`);
  }

  // A second initialize gets a different id (ids are not reused or predictable).
  const again = await rawPost(url, initializeBody());
  assert.notEqual(again.headers.get('mcp-session-id'), sid);

  // GET opens the session's SSE stream.
  const controller = new AbortController();
  const stream = await fetch(url, {
    headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': VERSION },
    signal: controller.signal,
  });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
  controller.abort();

  // DELETE is accepted (nothing is stored server-side to end).
  const del = await rawPost(url, undefined, { method: 'DELETE', ...withSid(sid) });
  assert.ok([200, 204].includes(del.status), `DELETE → HTTP ${del.status}`);
});

test('SIGTERM: exits 0 within 5 s with sessions, streams and a call in flight; no upstream left behind',
  { timeout: 40_000, skip: GATEWAY_ONLY }, async () => {
    // A marker argument (server-everything ignores it) lets us find the upstream process later.
    const marker = `--mcpgate-e2e-${randomUUID()}`;
    const gw = new Gateway({ servers: [{ name: 'everything', command: [NODE, EVERYTHING_ENTRY, 'stdio', marker] }] });
    let conn;
    try {
      await gw.start();
      assert.ok(findProcesses(marker).length > 0, 'the stdio upstream is running');
      conn = await connect(gw.url('/mcp'));
      await sleep(300); // GET stream open
      const inFlight = conn.client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 30, steps: 30 } },
        undefined, { timeout: 60_000 }).catch(() => {});
      await sleep(300);

      const started = Date.now();
      gw.proc.kill('SIGTERM');
      const { code, signal } = await Promise.race([gw.proc.exited, sleep(5000).then(() => ({ code: 'still running after 5 s' }))]);
      assert.ok(!signal, `killed by ${signal}`);
      assert.equal(code, 0, `exit code ${code} after ${Date.now() - started} ms`);
      await waitFor(() => findProcesses(marker).length === 0, { timeoutMs: 3000, what: 'the stdio upstream to exit with the gateway' });
      await inFlight;
    } catch (err) {
      err.message += `\n${gw.diagnostics()}`;
      throw err;
    } finally {
      await conn?.client.close().catch(() => {});
      await gw.stop();
    }
  });

/** PIDs of processes whose command line contains `needle` (Linux /proc). */
function findProcesses(needle) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) pids.push(Number(pid));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}
