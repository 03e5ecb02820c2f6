// TLS on both sides of the gateway, with a throwaway CA made by the openssl CLI:
//   A   listens with TLS (cert for IP 127.0.0.1 and DNS localhost) in front of server-everything;
//       clients: node:https, node:http2 (ALPN h2), the SDK in-process and in a child process.
//   B   plain gateway whose HTTP upstream is https://A/servers/everything/mcp with ca_file: works.
//   C   the same upstream without ca_file (system store, which does not know our CA): refused,
//       whether the server is required or optional; with tls_verify: false: works.
//   A'  TLS with a certificate for "other.example" only; B' with ca_file refuses it by name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, NODE, REPO_ROOT, cleanupDir, connect, everythingStdio, initializeBody,
  listAll, rawPost, resultText, tempDir, waitFor, withGateway,
} from './lib/gateway.mjs';
import { makePki, trustingFetch } from './lib/tls.mjs';

const T = { timeout: 45_000, skip: GATEWAY_ONLY }; // an upper bound for slow (sanitized) runs, not a timing check
const VERSION = '2025-11-25';
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

let pki; // {ca, caPem, server: {cert, key}, other: {cert, key}}
let httpsFetch; // fetch trusting pki.ca
let gwA; // TLS gateway, cert for 127.0.0.1 + localhost
let gwA2; // TLS gateway, cert for other.example only
let upstreamA; // https://127.0.0.1:<A>/servers/everything/mcp
let upstreamA2;

const tlsListen = (leaf) => [{ address: '127.0.0.1:0', tls: { cert: leaf.cert, key: leaf.key } }];

before(async () => {
  if (GATEWAY_ONLY) return;
  pki = await makePki(tempDir('mcpgate-pki-'), {
    server: 'IP:127.0.0.1,DNS:localhost',
    other: 'DNS:other.example',
  });
  httpsFetch = trustingFetch(pki.caPem);
  const starting = [
    new Gateway({ listen: tlsListen(pki.server), servers: [everythingStdio('everything')] }, { fetch: httpsFetch }).start(),
    new Gateway({ listen: tlsListen(pki.other), servers: [everythingStdio('everything')] }, { fetch: httpsFetch })
      .start({ waitReady: false }), // our fetch checks names too, so it cannot probe /readyz here
  ];
  const [a, a2] = await Promise.allSettled(starting);
  gwA = a.value; // assigned before throwing so that `after` stops whichever started
  gwA2 = a2.value;
  for (const r of [a, a2]) if (r.status === 'rejected') throw r.reason;
  upstreamA = gwA.url('/servers/everything/mcp');
  upstreamA2 = gwA2.url('/servers/everything/mcp');
}, { timeout: 30_000 });

afterEach((t) => {
  if (t.passed) return;
  for (const gw of [gwA, gwA2]) if (gw) console.error(`diagnostics for "${t.name}":\n${gw.diagnostics()}`);
});

after(async () => {
  await Promise.allSettled([gwA?.stop(), gwA2?.stop()]);
  if (pki) cleanupDir(pki.dir);
});

/** Wait until the gateway has logged a line matching `re` (e.g. the upstream's TLS failure). */
const waitForLog = (gw, re, what) => waitFor(() => re.test(gw.stderr), { timeoutMs: 10_000, what });

/** /readyz status and body. */
async function readyz(gw) {
  const res = await gw.get('/readyz');
  return { status: res.status, body: await res.json() };
}

/** One HTTPS request with node:https trusting our CA; resolves {status, headers, text, socket info}. */
function httpsPost(url, body, headers = MCP_HEADERS, extra = {}) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', headers, ca: pki.caPem, agent: false, ...extra }, (res) => {
      const peer = res.socket.getPeerCertificate();
      const protocol = res.socket.getProtocol();
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text, peer, protocol }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** First JSON-RPC message of a JSON or SSE body. */
function firstMessage(text, contentType = '') {
  if (contentType.includes('text/event-stream')) {
    const line = text.split(/\r?\n/).find((l) => l.startsWith('data:'));
    return line ? JSON.parse(line.slice(5)) : undefined;
  }
  return JSON.parse(text);
}

// ---------------------------------------------------------------------------------------------
// Gateway A: the TLS listener

test('TLS listener: listen.ready says tls, HTTPS initialize → 200 with Mcp-Session-Id, our certificate', T, async () => {
  assert.ok(gwA.baseUrl.startsWith('https://127.0.0.1:'), gwA.baseUrl);
  const ready = gwA.stderr.split('\n').filter((l) => l.includes('"listen.ready"')).map((l) => JSON.parse(l));
  assert.equal(ready.length, 1, 'one listen.ready line per listener');
  assert.equal(ready[0].tls, true);

  const res = await httpsPost(gwA.url('/servers/everything/mcp'), initializeBody());
  assert.equal(res.status, 200, res.text);
  const sid = res.headers['mcp-session-id'];
  assert.ok(sid && /^[\x21-\x7e]{22,}$/.test(sid), `Mcp-Session-Id: ${sid}`);
  assert.equal(firstMessage(res.text, res.headers['content-type'])?.result?.protocolVersion, VERSION, res.text);
  assert.match(res.peer.subjectaltname ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(res.protocol, /^TLSv1\.[23]$/);

  // The certificate also carries DNS:localhost: a client that checks that name accepts it.
  const byName = await httpsPost(gwA.url('/mcp'), initializeBody(), MCP_HEADERS, { servername: 'localhost' });
  assert.equal(byName.status, 200, byName.text);
  // A client that does not trust our CA refuses the connection (our PKI is what makes it work).
  await assert.rejects(
    new Promise((resolve, reject) => {
      const req = httpsRequest(gwA.url('/healthz'), { agent: false }, resolve);
      req.on('error', reject);
      req.end();
    }),
    (e) => /certificate/i.test(e.code ?? '') || /certificate/i.test(e.message));
});

test('TLS listener: plain HTTP on the TLS port gets no HTTP answer, and the listener keeps serving', T, async () => {
  const plain = gwA.baseUrl.replace('https://', 'http://');
  const res = await fetch(`${plain}/healthz`, { signal: AbortSignal.timeout(5000) }).catch((e) => e);
  assert.ok(res instanceof Error || res.status !== 200, `plain HTTP to the TLS port answered ${res.status}`);
  const health = await gwA.get('/healthz');
  assert.equal(health.status, 200);
});

test('TLS listener: HTTP/2 via ALPN: initialize, GET stream, 20 concurrent calls, oversized body, on one connection', T, async () => {
  const session = h2connect(gwA.baseUrl, { ca: pki.caPem });
  try {
    await new Promise((resolve, reject) => { session.once('connect', resolve); session.once('error', reject); });
    assert.equal(session.alpnProtocol, 'h2');

    const h2post = (path, body, headers = {}) => new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': path, ...MCP_HEADERS, ...headers });
      let status;
      let resHeaders;
      let text = '';
      req.setEncoding('utf8');
      req.on('response', (h) => { status = h[':status']; resHeaders = h; });
      req.on('data', (d) => { text += d; });
      req.on('end', () => resolve({ status, headers: resHeaders, text }));
      req.on('error', reject);
      req.setTimeout(10_000, () => req.close());
      req.end(typeof body === 'string' ? body : JSON.stringify(body));
    });

    const init = await h2post('/servers/everything/mcp', initializeBody());
    assert.equal(init.status, 200, init.text);
    const sid = init.headers['mcp-session-id'];
    assert.ok(sid, 'Mcp-Session-Id over h2');
    assert.equal(firstMessage(init.text, init.headers['content-type'])?.result?.protocolVersion, VERSION, init.text);

    const withSid = { 'mcp-session-id': sid, 'mcp-protocol-version': VERSION };
    const initialized = await h2post('/servers/everything/mcp', { jsonrpc: '2.0', method: 'notifications/initialized' }, withSid);
    assert.equal(initialized.status, 202, initialized.text);
    const call = await h2post('/servers/everything/mcp',
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { message: 'over h2' } } }, withSid);
    assert.equal(call.status, 200, call.text);
    const msg = firstMessage(call.text, call.headers['content-type']);
    assert.equal(resultText(msg?.result ?? {}), 'Echo: over h2', call.text);

    // The session's GET event stream stays open on its own h2 stream while POSTs go on.
    const events = session.request({ ':method': 'GET', ':path': '/servers/everything/mcp', accept: 'text/event-stream', ...withSid });
    events.on('error', () => {}); // reset when we close it
    const eventsHead = await new Promise((resolve, reject) => { events.once('response', resolve); events.once('error', reject); });
    assert.equal(eventsHead[':status'], 200);
    assert.match(eventsHead['content-type'] ?? '', /text\/event-stream/);

    // Multiplexed requests: each answer on its own stream, matching its id.
    const calls = await Promise.all(Array.from({ length: 20 }, (_, i) => h2post('/servers/everything/mcp',
      { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'echo', arguments: { message: `m${i}` } } }, withSid)));
    calls.forEach((c, i) => {
      assert.equal(c.status, 200, c.text);
      const m = firstMessage(c.text, c.headers['content-type']);
      assert.equal(m?.id, 100 + i, c.text);
      assert.equal(resultText(m?.result ?? {}), `Echo: m${i}`, c.text);
    });

    // A body over max_body_bytes (65536) is not processed: 413 over HTTP/1.1; h2o 2.2.5 resets
    // the h2 stream (REFUSED_STREAM) instead. Either way the connection keeps serving.
    const big = await h2post('/servers/everything/mcp', 'x'.repeat(70_000), withSid).catch((e) => e);
    assert.ok(big instanceof Error ? /REFUSED_STREAM|stream/i.test(big.message) : big.status === 413,
      big instanceof Error ? big.message : `HTTP ${big.status}`);
    const after = await h2post('/servers/everything/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/list' }, withSid);
    assert.equal(after.status, 200, after.text);
    assert.ok(firstMessage(after.text, after.headers['content-type'])?.result?.tools?.some((t) => t.name === 'echo'));
    events.close();
  } finally {
    session.close();
  }
});

test('TLS listener: the SDK client (fetch trusting the CA) lists and calls everything__echo', T, async () => {
  const conn = await connect(gwA.url('/mcp'), { fetch: httpsFetch });
  try {
    const tools = (await listAll(conn.client, 'listTools', 'tools')).items.map((t) => t.name);
    assert.ok(tools.includes('everything__echo'), tools.join());
    const result = await conn.client.callTool({ name: 'everything__echo', arguments: { message: 'over https' } });
    assert.equal(resultText(result), 'Echo: over https');
  } finally {
    await conn.close();
  }
});

// Node 20's own fetch has no CA option; NODE_EXTRA_CA_CERTS (read at start) is the way, so this
// runs in a child process: the SDK as an application would use it, unmodified.
const SDK_CHILD = `
  import { Client } from '@modelcontextprotocol/sdk/client/index.js';
  import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
  const client = new Client({ name: 'mcpgate-e2e-child', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL));
  await client.connect(transport);
  const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'from a child' } });
  process.stdout.write(JSON.stringify(r));
  await transport.terminateSession().catch(() => {});
  await client.close();
`;

/** Run SDK_CHILD against A with NODE_EXTRA_CA_CERTS = `extraCa` (or unset). */
function runSdkChild(extraCa) {
  const env = { ...process.env, MCP_URL: gwA.url('/mcp') };
  delete env.NODE_EXTRA_CA_CERTS;
  if (extraCa) env.NODE_EXTRA_CA_CERTS = extraCa;
  return new Promise((resolve) => {
    execFile(NODE, ['--input-type=module', '-e', SDK_CHILD], {
      cwd: REPO_ROOT, // resolves @modelcontextprotocol/sdk from the repo's node_modules
      env,
      timeout: 15_000,
      killSignal: 'SIGKILL',
    }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
  });
}

test('TLS listener: the SDK with Node\'s global fetch and NODE_EXTRA_CA_CERTS (child process)', T, async () => {
  const ok = await runSdkChild(pki.ca);
  assert.ok(!ok.error, `child failed: ${ok.error?.message}\n${ok.stderr}`);
  assert.equal(resultText(JSON.parse(ok.stdout)), 'Echo: from a child');
  // Control: without the CA, the same client cannot connect.
  const refused = await runSdkChild(null);
  assert.ok(refused.error, 'a client without our CA must fail');
  assert.match(refused.stderr, /certificate|fetch failed/i);
});

// ---------------------------------------------------------------------------------------------
// The gateway as a TLS client: HTTP upstreams over https
//
// Gateways that must reach the upstream run one worker. Each worker probes an HTTP upstream on its
// own and /readyz answers for the worker that accepted it, so with several workers a first 200
// does not mean every worker is ready; and a client whose initialize lands on a worker that is not
// ready yet never gets a session on that upstream (its calls then fail). See the report.

test('B: https upstream with ca_file → ready, tools/call through both gateways', T, async () => {
  const config = { workers: 1, servers: [{ name: 'remote', url: upstreamA, ca_file: pki.ca }] };
  await withGateway(config, async (gw, connectTo) => {
    const { status, body } = await readyz(gw);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.servers?.remote?.ready, true, JSON.stringify(body));

    const { client } = await connectTo('/mcp');
    const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
    assert.ok(tools.includes('remote__echo'), tools.join());
    assert.equal(resultText(await client.callTool({ name: 'remote__echo', arguments: { message: 'via B and A' } })), 'Echo: via B and A');

    const { client: direct } = await connectTo('/servers/remote/mcp');
    assert.equal(resultText(await direct.callTool({ name: 'echo', arguments: { message: 'one server' } })), 'Echo: one server');
  });
});

test('C: https upstream without ca_file (system store), required → /readyz 503, calls fail, /healthz 200', T, async () => {
  const config = { servers: [{ name: 'remote', url: upstreamA, required: true }] };
  await withGateway(config, async (gw, connectTo) => {
    await waitForLog(gw, /"upstream\.unreachable".*remote/, 'the upstream to be reported unreachable');
    assert.match(gw.stderr, /unable to get local issuer certificate|certificate verify failed/);
    const { status, body } = await readyz(gw);
    assert.equal(status, 503, JSON.stringify(body));
    assert.equal(body.servers?.remote?.ready, false, JSON.stringify(body));
    assert.equal((await gw.get('/healthz')).status, 200);

    // The gateway still answers initialize on the server's path; a call is a prompt JSON-RPC
    // error (naming the server), not a hang.
    const init = await rawPost(gw.url('/servers/remote/mcp'), initializeBody());
    assert.equal(init.status, 200, init.text);
    const call = await rawPost(gw.url('/servers/remote/mcp'),
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x' } } },
      { headers: { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': VERSION } });
    assert.equal(typeof call.json?.error?.code, 'number', `${call.status} ${call.text}`);
    assert.match(call.json.error.message, /remote/, call.text);
    const { client } = await connectTo('/mcp');
    await assert.rejects(client.callTool({ name: 'remote__echo', arguments: { message: 'x' } }, undefined, { timeout: 10_000 }),
      (e) => typeof e.code === 'number' && !/Request timed out/.test(e.message));
    assert.equal((await gw.get('/healthz')).status, 200);
  }, { waitReady: false });
});

test('C: the same upstream optional → left out of tools/list, its calls fail, the other server works', T, async () => {
  const config = { servers: [{ name: 'remote', url: upstreamA, required: false }, everythingStdio('local')] };
  await withGateway(config, async (gw, connectTo) => {
    await waitForLog(gw, /"upstream\.unreachable".*remote/, 'the upstream to be reported unreachable');
    const { status, body } = await readyz(gw);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.servers?.remote?.ready, false, JSON.stringify(body));

    const { client } = await connectTo('/mcp');
    const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
    assert.ok(tools.includes('local__echo'), tools.join());
    assert.ok(!tools.some((n) => n.startsWith('remote__')), tools.join());
    await assert.rejects(client.callTool({ name: 'remote__echo', arguments: { message: 'x' } }, undefined, { timeout: 10_000 }),
      (e) => typeof e.code === 'number' && !/Request timed out/.test(e.message));
    assert.equal(resultText(await client.callTool({ name: 'local__echo', arguments: { message: 'still here' } })), 'Echo: still here');
    assert.equal((await gw.get('/healthz')).status, 200);
  });
});

test('C: tls_verify: false (no ca_file) → ready and working', T, async () => {
  const config = { workers: 1, servers: [{ name: 'remote', url: upstreamA, tls_verify: false }] };
  await withGateway(config, async (gw, connectTo) => {
    const { client } = await connectTo('/mcp');
    assert.equal(resultText(await client.callTool({ name: 'remote__echo', arguments: { message: 'unverified' } })), 'Echo: unverified');
  });
});

test('B\': a certificate for another name is refused even with ca_file (tls_verify: false still connects)', T, async () => {
  const config = {
    workers: 1,
    servers: [
      { name: 'strict', url: upstreamA2, ca_file: pki.ca, required: true },
      { name: 'lax', url: upstreamA2, tls_verify: false, required: false }, // A' itself is fine
    ],
  };
  await withGateway(config, async (gw, connectTo) => {
    await waitForLog(gw, /"upstream\.unreachable".*strict/, 'strict to be reported unreachable');
    assert.match(gw.stderr, /upstream strict unreachable: [^"]*mismatch/i);
    const { body } = await waitFor(async () => {
      const r = await readyz(gw);
      return r.status === 503 && r.body.servers?.lax?.ready === true ? r : null;
    }, { timeoutMs: 10_000, what: '/readyz 503 with lax ready' });
    assert.equal(body.servers?.strict?.ready, false, JSON.stringify(body));

    const { client } = await connectTo('/mcp');
    const tools = (await listAll(client, 'listTools', 'tools')).items.map((t) => t.name);
    assert.ok(tools.includes('lax__echo') && !tools.some((n) => n.startsWith('strict__')), tools.join());
    assert.equal(resultText(await client.callTool({ name: 'lax__echo', arguments: { message: 'lax' } })), 'Echo: lax');
    await assert.rejects(client.callTool({ name: 'strict__echo', arguments: { message: 'x' } }, undefined, { timeout: 10_000 }),
      (e) => typeof e.code === 'number' && !/Request timed out/.test(e.message));
  }, { waitReady: false });
});

// ---------------------------------------------------------------------------------------------
// Missing TLS files

/** Run `mcpgate serve -c <yaml>` to its exit (killed after 8 s); resolves {code, stderr}. */
function serveToExit(yaml) {
  const dir = tempDir('mcpgate-tls-bad-');
  const path = join(dir, 'config.yaml');
  writeFileSync(path, yaml);
  return new Promise((resolve) => {
    execFile(GATEWAY_BIN, ['serve', '-c', path], { cwd: dir, timeout: 8000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => { cleanupDir(dir); resolve({ code: error ? (error.code ?? error.signal) : 0, stderr }); });
  });
}

const MISSING = [
  ['a listener certificate', (d) => `listen: [{address: "127.0.0.1:0", tls: {cert: "${d}/none.crt", key: "${d}/none.key"}}]\n`,
    (d) => `cannot load certificate ${d}/none.crt`],
  ['an upstream ca_file', (d) => `listen: ["127.0.0.1:0"]\nservers:\n  - name: remote\n    url: "${upstreamA}"\n    ca_file: "${d}/none.pem"\n    required: false\n`,
    (d) => `cannot load trusted certificates from ${d}/none.pem`],
];

test('serve with a missing certificate or ca_file exits 1 naming the file', T, async () => {
  const d = tempDir('mcpgate-none-');
  try {
    for (const [what, yaml, expected] of MISSING) {
      const { code, stderr } = await serveToExit(`state_dir: var\nworkers: 1\n${yaml(d)}`);
      assert.equal(code, 1, `${what}: exit ${code}\n${stderr}`);
      assert.ok(stderr.includes(expected(d)), `${what}:\n${stderr}`);
    }
  } finally {
    cleanupDir(d);
  }
});

// ERR_reason_error_string() is NULL for the system errors OpenSSL 3 records (file not found);
// the gateway must still name a reason (this once printed "(null)").
test('... and the message gives a reason rather than "(null)"', T, async () => {
  const d = tempDir('mcpgate-none-');
  try {
    for (const [what, yaml] of MISSING) {
      const { stderr } = await serveToExit(`state_dir: var\nworkers: 1\n${yaml(d)}`);
      assert.ok(!stderr.includes('(null)'), `${what}:\n${stderr}`);
    }
  } finally {
    cleanupDir(d);
  }
});
