// Identity, part 4: client certificates (auth.mtls). A TLS listener asks for a certificate and
// verifies it against auth.mtls.client_ca, but never fails the handshake over it: a request with
// a bearer token or API key is identified by that credential; one without is identified by a
// trusted certificate (principal mtls:<identity>), refused with 401 and the reason when the
// certificate is untrusted, expired or has no identity of the configured kind, and challenged
// with 401 like any credential-less request when there is no certificate.
//
// PKI (openssl CLI, lib/tls.mjs): a server CA and certificate for 127.0.0.1; the clients' CA and
//   bot       CN=ci-bot   URI:spiffe://acme/ci-bot   DNS:ci-bot.acme.internal
//   other     CN=ci-bot   URI:spiffe://acme/other-bot DNS:other-bot.acme.internal (same CN as bot)
//   dnsOnly   CN=dns-bot  DNS:dns-bot.acme.internal
//   expired   CN=old-bot  URI:spiffe://acme/old-bot  (January 2020)
//   untrusted CN=ci-bot   URI:spiffe://acme/ci-bot   signed by another CA
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, afterEach, before, test } from 'node:test';

import {
  ALLOW_AUTHENTICATED,
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, cleanupDir, connect, everythingStdio, freePort, initializeBody, listAll,
  rawPost, resultText, tempDir, waitFor,
} from './lib/gateway.mjs';
import { makeClientCa, makeClientCert, makePki, trustingFetch } from './lib/tls.mjs';

const T = { timeout: 45_000, skip: GATEWAY_ONLY }; // an upper bound for slow (sanitized) runs, not a timing check
const VERSION = '2025-11-25';
const exec = promisify(execFile);

let dir;
let pki; // server side: {ca, caPem, server: {cert, key}}
let clientsCa;
const certs = {}; // name → {cert, key}
let gw; // identity: san_uri, API keys on
let apiKey;

/** A gateway with a TLS listener and auth.mtls (`identity`), plus API keys. Not started. */
async function mtlsGateway(identity) {
  const port = await freePort();
  return new Gateway({
    listen: [{ address: `127.0.0.1:${port}`, tls: { cert: pki.server.cert, key: pki.server.key } }],
    servers: [everythingStdio()],
    auth: {
      resource: `https://127.0.0.1:${port}/mcp`,
      api_keys: { enabled: true },
      mtls: { client_ca: clientsCa.ca, identity },
    },
    ...ALLOW_AUTHENTICATED,
  }, { fetch: trustingFetch(pki.caPem) });
}

before(async () => {
  if (GATEWAY_ONLY) return;
  dir = tempDir('mcpgate-mtls-');
  pki = await makePki(dir, { server: 'IP:127.0.0.1' });
  clientsCa = await makeClientCa(dir, 'clients-ca', 'mcpgate-e2e clients CA');
  const stranger = await makeClientCa(dir, 'stranger-ca', 'mcpgate-e2e stranger CA');
  certs.bot = await makeClientCert(clientsCa, 'bot', { cn: 'ci-bot', san: 'URI:spiffe://acme/ci-bot,DNS:ci-bot.acme.internal' });
  certs.other = await makeClientCert(clientsCa, 'other',
    { cn: 'ci-bot', san: 'URI:spiffe://acme/other-bot,DNS:other-bot.acme.internal' });
  certs.dnsOnly = await makeClientCert(clientsCa, 'dns-only', { cn: 'dns-bot', san: 'DNS:dns-bot.acme.internal' });
  certs.expired = await makeClientCert(clientsCa, 'expired', { cn: 'old-bot', san: 'URI:spiffe://acme/old-bot', expired: true });
  certs.untrusted = await makeClientCert(stranger, 'untrusted', { cn: 'ci-bot', san: 'URI:spiffe://acme/ci-bot' });
  gw = await mtlsGateway('san_uri');
  apiKey = (await exec(GATEWAY_BIN, ['keys', 'create', '--name', 'ci-key', '--roles', 'developer', '-c', gw.configPath])).stdout.trim();
  await gw.start();
}, { timeout: 30_000 });

afterEach((t) => {
  if (!t.passed && gw) console.error(`diagnostics for "${t.name}":\n${gw.diagnostics()}`);
});

after(async () => {
  await gw?.stop();
  if (dir) cleanupDir(dir);
});

/** POST `body` to `path` of `target` over a new HTTPS connection presenting `cert` (null: none). */
const post = (target, path, body, { cert = null, headers = {} } = {}) =>
  rawPost(target.url(path), body, { fetch: trustingFetch(pki.caPem, cert), headers });

const sessionHeaders = (res) => ({ 'mcp-session-id': res.headers.get('mcp-session-id'), 'mcp-protocol-version': VERSION });
const toolsList = { jsonrpc: '2.0', id: 2, method: 'tools/list' };

/** The 401 of a certificate that identifies nobody: a challenge without an error code, the reason in JSON-RPC. */
function assertRefused(res, reason) {
  assert.equal(res.status, 401, res.text);
  const challenge = res.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer resource_metadata="https:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
  assert.doesNotMatch(challenge, /error=/, 'a certificate is not a bearer token: RFC 6750 section 3.1 (no error code)');
  assert.equal(res.json?.error?.code, -32003, res.text);
  assert.match(res.json.error.message, reason);
}

test('a trusted certificate identifies the caller: the SDK lists and calls tools', T, async () => {
  const conn = await connect(gw.url('/mcp'), { fetch: trustingFetch(pki.caPem, certs.bot) });
  try {
    const tools = (await listAll(conn.client, 'listTools', 'tools')).items.map((t) => t.name);
    assert.ok(tools.includes('everything__echo'), tools.join());
    const result = await conn.client.callTool({ name: 'everything__echo', arguments: { message: 'from ci-bot' } });
    assert.equal(resultText(result), 'Echo: from ci-bot');
  } finally {
    await conn.close();
  }
});

test('the session is bound to the certificate\'s identity: another certificate gets 403', T, async () => {
  const init = await post(gw, '/mcp', initializeBody(), { cert: certs.bot });
  assert.equal(init.status, 200, init.text);
  // the same certificate on a new connection is the same principal
  const again = await post(gw, '/mcp', toolsList, { cert: certs.bot, headers: sessionHeaders(init) });
  assert.equal(again.status, 200, again.text);
  const stolen = await post(gw, '/mcp', toolsList, { cert: certs.other, headers: sessionHeaders(init) });
  assert.equal(stolen.status, 403, stolen.text);
  assert.match(stolen.json.error.message, /this session was opened by another principal/);
  await waitFor(() => /of mtls:spiffe:\/\/acme\/ci-bot presented by mtls:spiffe:\/\/acme\/other-bot/.test(gw.stderr),
    { what: 'the session.wrong_principal warning naming both principals' });
});

test('an untrusted certificate is refused with 401 and the reason, not a TLS alert', T, async () => {
  assertRefused(await post(gw, '/mcp', initializeBody(), { cert: certs.untrusted }),
    /^Unauthorized: the client certificate is not trusted: unable to verify the first certificate$/);
});

test('an expired certificate is refused with 401', T, async () => {
  assertRefused(await post(gw, '/mcp', initializeBody(), { cert: certs.expired }),
    /^Unauthorized: the client certificate is not trusted: certificate has expired$/);
});

test('a certificate without the configured identity (no URI SAN) is refused with 401', T, async () => {
  assertRefused(await post(gw, '/mcp', initializeBody(), { cert: certs.dnsOnly }),
    /^Unauthorized: the client certificate has no URI SAN$/);
});

test('no certificate and no credential: the usual 401 challenge', T, async () => {
  const res = await post(gw, '/mcp', initializeBody());
  assert.equal(res.status, 401, res.text);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer resource_metadata="/);
  assert.match(res.json.error.message, /authentication is required/);
});

test('a token or key takes precedence over the certificate', T, async () => {
  // without a certificate, the key works as before
  const keyOnly = await post(gw, '/mcp', initializeBody(), { headers: { 'x-api-key': apiKey } });
  assert.equal(keyOnly.status, 200, keyOnly.text);
  // with a trusted certificate and the key, the key names the caller: its session works without the certificate
  const both = await post(gw, '/mcp', initializeBody(), { cert: certs.bot, headers: { authorization: `Bearer ${apiKey}` } });
  assert.equal(both.status, 200, both.text);
  const byKey = await post(gw, '/mcp', toolsList, { headers: { 'x-api-key': apiKey, ...sessionHeaders(both) } });
  assert.equal(byKey.status, 200, byKey.text);
  const byCert = await post(gw, '/mcp', toolsList, { cert: certs.bot, headers: sessionHeaders(both) });
  assert.equal(byCert.status, 403, byCert.text);
  // an untrusted certificate does not spoil a valid key, and a bad key is not rescued by a good certificate
  const untrusted = await post(gw, '/mcp', initializeBody(), { cert: certs.untrusted, headers: { 'x-api-key': apiKey } });
  assert.equal(untrusted.status, 200, untrusted.text);
  const badKey = await post(gw, '/mcp', initializeBody(), { cert: certs.bot, headers: { 'x-api-key': 'mgk_short' } });
  assert.equal(badKey.status, 401, badKey.text);
  assert.match(badKey.json.error.message, /malformed/);
});

test('HTTP/2: several requests on one connection are identified by its certificate', T, async () => {
  const h2 = (cert) => h2connect(gw.baseUrl, { ca: pki.caPem, cert: readFileSync(cert.cert), key: readFileSync(cert.key) });
  const h2post = (session, body, headers = {}) => new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': '/mcp', 'content-type': 'application/json',
      accept: 'application/json, text/event-stream', ...headers });
    let status;
    let text = '';
    let resHeaders;
    req.setEncoding('utf8');
    req.on('response', (h) => { status = h[':status']; resHeaders = h; });
    req.on('data', (d) => { text += d; });
    req.on('end', () => resolve({ status, headers: resHeaders, text }));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
  const session = h2(certs.bot);
  try {
    await new Promise((resolve, reject) => { session.once('connect', resolve); session.once('error', reject); });
    assert.equal(session.alpnProtocol, 'h2');
    const init = await h2post(session, initializeBody());
    assert.equal(init.status, 200, init.text);
    const headers = { 'mcp-session-id': init.headers['mcp-session-id'], 'mcp-protocol-version': VERSION };
    const lists = await Promise.all(Array.from({ length: 5 }, () => h2post(session, toolsList, headers)));
    for (const list of lists) assert.equal(list.status, 200, list.text);
  } finally {
    session.close();
  }
  const refused = h2(certs.untrusted);
  try {
    const res = await h2post(refused, initializeBody());
    assert.equal(res.status, 401, res.text);
    assert.match(JSON.parse(res.text).error.message, /not trusted/);
  } finally {
    refused.close();
  }
});

test('a resumed TLS session keeps its certificate and identity', T, async () => {
  const identity = { ca: pki.caPem, cert: readFileSync(certs.bot.cert), key: readFileSync(certs.bot.key) };
  let ticket = null; // the first connection's TLS session, to resume
  const once = (headers = {}) => new Promise((resolve, reject) => {
    const req = httpsRequest(gw.url('/mcp'), { method: 'POST', agent: false, ...identity, ...(ticket ? { session: ticket } : {}),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text, reused: res.socket.isSessionReused() }));
    });
    req.on('socket', (socket) => socket.on('session', (session) => { ticket ??= session; }));
    req.on('error', reject);
    req.end(JSON.stringify(initializeBody()));
  });
  const first = await once();
  assert.equal(first.status, 200, first.text);
  assert.equal(first.reused, false);
  // the session ticket comes after the handshake, before the response ends
  assert.ok(ticket, 'the gateway issued a TLS session');
  const second = await once();
  assert.equal(second.status, 200, second.text);
  assert.equal(second.reused, true, 'the second connection resumes the first one\'s session');
  const stolen = await post(gw, '/mcp', toolsList, { cert: certs.other, headers: sessionHeaders({ headers: new Headers(second.headers) }) });
  assert.equal(stolen.status, 403, 'the resumed connection was identified as ci-bot');
});

test('identity: subject_cn names the caller by the subject CN', T, async () => {
  const cnGw = await mtlsGateway('subject_cn');
  try {
    await cnGw.start();
    const init = await post(cnGw, '/mcp', initializeBody(), { cert: certs.bot });
    assert.equal(init.status, 200, init.text);
    // `other` has the same CN: the same principal under subject_cn
    const sameCn = await post(cnGw, '/mcp', toolsList, { cert: certs.other, headers: sessionHeaders(init) });
    assert.equal(sameCn.status, 200, sameCn.text);
    const otherCn = await post(cnGw, '/mcp', toolsList, { cert: certs.dnsOnly, headers: sessionHeaders(init) });
    assert.equal(otherCn.status, 403, otherCn.text);
    await waitFor(() => /of mtls:ci-bot presented by mtls:dns-bot/.test(cnGw.stderr), { what: 'the CN principals in the log' });
  } catch (err) {
    err.message += `\n${cnGw.diagnostics()}`;
    throw err;
  } finally {
    await cnGw.stop();
  }
});

test('identity: san_dns names the caller by the first DNS SAN', T, async () => {
  const dnsGw = await mtlsGateway('san_dns');
  try {
    await dnsGw.start();
    const init = await post(dnsGw, '/mcp', initializeBody(), { cert: certs.dnsOnly });
    assert.equal(init.status, 200, init.text);
    const stolen = await post(dnsGw, '/mcp', toolsList, { cert: certs.bot, headers: sessionHeaders(init) });
    assert.equal(stolen.status, 403, stolen.text);
    await waitFor(() => /of mtls:dns-bot\.acme\.internal presented by mtls:ci-bot\.acme\.internal/.test(dnsGw.stderr),
      { what: 'the DNS principals in the log' });
  } catch (err) {
    err.message += `\n${dnsGw.diagnostics()}`;
    throw err;
  } finally {
    await dnsGw.stop();
  }
});

test('serve with a client_ca that does not load exits 1 naming the file', T, async () => {
  const bad = join(dir, 'not-a-ca.pem');
  writeFileSync(bad, 'not a certificate\n');
  for (const clientCa of [join(dir, 'missing.pem'), bad]) {
    const config = join(dir, 'bad-ca.yaml');
    writeFileSync(config, [
      `state_dir: ${JSON.stringify(join(dir, 'bad-ca-state'))}`,
      'workers: 1',
      `listen: [{address: "127.0.0.1:0", tls: {cert: ${JSON.stringify(pki.server.cert)}, key: ${JSON.stringify(pki.server.key)}}}]`,
      `auth: {resource: "https://127.0.0.1/mcp", mtls: {client_ca: ${JSON.stringify(clientCa)}}}`,
      '',
    ].join('\n'));
    const { code, stderr } = await new Promise((resolve) => {
      execFile(GATEWAY_BIN, ['serve', '-c', config], { cwd: dir, timeout: 8000, killSignal: 'SIGKILL' },
        (error, stdout, stderrText) => resolve({ code: error ? (error.code ?? error.signal) : 0, stderr: stderrText }));
    });
    assert.equal(code, 1, `${clientCa}: exit ${code}\n${stderr}`);
    assert.ok(stderr.includes(`auth.mtls.client_ca: cannot load trusted certificates from ${clientCa}: `), stderr);
    assert.ok(!stderr.includes('(null)'), stderr);
  }
});
