// Identity, part 2: what upstreams see. The gateway authenticates itself to an upstream with the
// credential configured for it (servers[].credentials) and never forwards the client's own
// Authorization, cookies or API key (DESIGN.md section 7, invariant 1). The upstream is a real SDK
// server that records every request's headers and requires its own bearer token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startIdp } from '../fixtures/idp.mjs';
import { startRecordingServer } from '../fixtures/recording-server.mjs';
import { Gateway, freePort, initializeBody } from './lib/gateway.mjs';

let idp, withBearer, withHeaders, gw, resource;

before(async () => {
  idp = await startIdp();
  withBearer = await startRecordingServer({ requireBearer: 'upstream-secret' });
  withHeaders = await startRecordingServer({});
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  gw = await new Gateway({
    listen: [`127.0.0.1:${port}`],
    servers: [
      { name: 'bearer', url: withBearer.url, credentials: { bearer: 'upstream-secret' } },
      { name: 'keyed', url: withHeaders.url, credentials: { headers: { 'X-Upstream-Key': 'k-123' } } },
    ],
    auth: { resource, jwt: [{ issuer: idp.issuer }] },
  }).start();
});

after(async () => {
  await gw?.stop();
  await withBearer?.stop();
  await withHeaders?.stop();
  await idp?.stop();
});

test("upstreams get the gateway's credential, never the client's", async () => {
  const token = await idp.clientCredentialsToken({ resource });
  const clientHeaders = {
    authorization: `Bearer ${token}`,
    cookie: 'session=client-cookie',
    'proxy-authorization': 'Basic Y2xpZW50OnNlY3JldA==',
  };
  const init = await gw.post('/mcp', initializeBody(), { headers: clientHeaders });
  assert.equal(init.status, 200, init.text);
  const session = init.headers.get('mcp-session-id');
  const call = await gw.post('/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'bearer__echo', arguments: {} } },
    { headers: { ...clientHeaders, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
  assert.equal(call.status, 200, call.text);
  assert.match(JSON.stringify(call.json.result), /recording-server ok/);
  const keyed = await gw.post('/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'keyed__echo', arguments: {} } },
    { headers: { ...clientHeaders, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
  assert.equal(keyed.status, 200, keyed.text);

  assert.ok(withBearer.requests.length > 0);
  for (const request of withBearer.requests) {
    assert.equal(request.authorized, true, JSON.stringify(request.headers));
    const authorizations = request.rawHeaders
      .filter(([name]) => name.toLowerCase() === 'authorization').map(([, value]) => value);
    assert.deepEqual(authorizations, ['Bearer upstream-secret']);
  }
  assert.ok(withHeaders.requests.length > 0);
  for (const { headers } of [...withBearer.requests, ...withHeaders.requests]) {
    assert.equal(headers.cookie, undefined);
    assert.equal(headers['proxy-authorization'], undefined);
    assert.ok(!JSON.stringify(headers).includes(token), 'the client token reached an upstream');
  }
  for (const { headers } of withHeaders.requests) {
    assert.equal(headers['x-upstream-key'], 'k-123');
    assert.equal(headers.authorization, undefined);
  }
});
