// Identity, part 2: what upstreams see. The gateway authenticates itself to an upstream with the
// credential configured for it (servers[].credentials) and never forwards the client's own
// Authorization, cookies or API key (DESIGN.md section 7, invariant 1). The upstream is a real SDK
// server that records every request's headers and requires its own bearer token.
//
// credentials.oauth: the gateway obtains its own access tokens from a real IdP (oidc-provider, the
// client credentials grant with an RFC 8707 resource indicator) and refreshes them; the upstreams
// verify each token's signature against the IdP's JWKS and its audience and client id.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';

import { startIdp } from '../fixtures/idp.mjs';
import { startRecordingServer } from '../fixtures/recording-server.mjs';
import { ALLOW_AUTHENTICATED, Gateway, freePort, initializeBody, waitFor } from './lib/gateway.mjs';

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
    ...ALLOW_AUTHENTICATED,
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

// ---------------------------------------------------------------------------------------------
// credentials.oauth

describe('credentials.oauth: client credentials from a real IdP', () => {
  const clientId = 'gateway-upstream';
  const clientSecret = 'gw-upstream-secret-4f9a1c';
  const wrongSecret = 'not-the-secret-77e2b0';
  const clientToken = 'client-own-token-should-stay-home';
  let oauthIdp, main, short, broken, gw2, session;
  const revoked = new Set();

  // What each upstream accepts: a JWT signed by the IdP, for this upstream (aud), issued to the
  // gateway's client, not revoked. Its payload is what `whoami` answers.
  let jwks;
  const verifier = (audience) => async (token) => {
    if (revoked.has(token)) return undefined;
    try {
      jwks ??= createRemoteJWKSet(new URL(oauthIdp.jwksUri));
      const { payload } = await jwtVerify(token, jwks, { issuer: oauthIdp.issuer, audience, typ: 'at+jwt' });
      return payload.client_id === clientId ? payload : undefined;
    } catch {
      return undefined;
    }
  };
  const bearersOf = (rec) => rec.requests.map((r) => r.rawHeaders
    .filter(([name]) => name.toLowerCase() === 'authorization').map(([, value]) => value));
  const call = (name, id) => gw2.post('/mcp', { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } },
    { headers: { authorization: `Bearer ${clientToken}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
  let nextId = 10;
  const echo = async (server) => {
    const res = await call(`${server}__echo`, nextId++);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };

  before(async () => {
    oauthIdp = await startIdp({ clients: [{ clientId, clientSecret }] });
    main = await startRecordingServer({ requireBearer: (token) => verifier(main.url)(token) });
    short = await startRecordingServer({ requireBearer: (token) => verifier(short.url)(token) });
    broken = await startRecordingServer({ requireBearer: (token) => verifier(broken.url)(token) });
    assert.ok(!(await verifier(main.url)(await oauthIdp.clientCredentialsToken({ clientId, resource: short.url }))),
      'the upstream check must refuse a token for another resource');
    oauthIdp.addResource(main.url, { scopes: ['tools:call'] });
    oauthIdp.addResource(short.url, { scopes: ['tools:call'], ttl: 3 }); // refreshed every 1.5 s
    oauthIdp.addResource(broken.url, { scopes: ['tools:call'] });
    const oauth = (resource, secret) => ({
      token_url: oauthIdp.tokenEndpoint, client_id: clientId, client_secret: secret, scope: 'tools:call', resource,
    });
    process.env.MCPGATE_SECRET_UPSTREAM_OAUTH = clientSecret; // the gateway inherits it
    try {
      gw2 = await new Gateway({ // no auth section: the upstream credential agent works without one
        servers: [
          { name: 'main', url: main.url, credentials: { oauth: oauth(main.url, '${secret:UPSTREAM_OAUTH}') } },
          { name: 'short', url: short.url, credentials: { oauth: oauth(short.url, '${secret:UPSTREAM_OAUTH}') } },
          { name: 'broken', url: broken.url, required: false, credentials: { oauth: oauth(broken.url, wrongSecret) } },
        ],
      }).start();
    } finally {
      delete process.env.MCPGATE_SECRET_UPSTREAM_OAUTH;
    }
    const init = await gw2.post('/mcp', initializeBody(), { headers: { authorization: `Bearer ${clientToken}` } });
    assert.equal(init.status, 200, init.text);
    session = init.headers.get('mcp-session-id');
  });

  afterEach((t) => {
    if (!t.passed && gw2) console.error(`diagnostics for "${t.name}":\n${gw2.diagnostics()}\n${oauthIdp.diagnostics()}`);
  });

  after(async () => {
    await gw2?.stop();
    await Promise.allSettled([main, short, broken].map((rec) => rec?.stop()));
    await oauthIdp?.stop();
  });

  test("the upstream gets the gateway's own token for its resource, never the client's", async () => {
    assert.match(JSON.stringify((await echo('main')).result), /recording-server ok/);
    assert.ok(main.requests.length > 0);
    for (const [i, request] of main.requests.entries()) {
      assert.equal(request.authorized, true, JSON.stringify(request.headers));
      const bearers = bearersOf(main)[i];
      assert.equal(bearers.length, 1, JSON.stringify(request.rawHeaders));
      const claims = decodeJwt(bearers[0].replace(/^Bearer /, ''));
      assert.equal(claims.aud, main.url);
      assert.equal(claims.client_id, clientId);
      assert.equal(claims.iss, oauthIdp.issuer);
      assert.equal(claims.scope, 'tools:call');
      assert.ok(!JSON.stringify(request.rawHeaders).includes(clientToken), 'the client token reached the upstream');
    }
    // whoami: what the upstream's own check accepted, seen through the gateway
    const whoami = await call('main__whoami', nextId++);
    assert.equal(JSON.parse(whoami.json.result.content[0].text).client_id, clientId);
    // the secret came from ${secret:UPSTREAM_OAUTH}: the IdP accepted it (client_secret_basic)
    assert.ok(oauthIdp.events.some((e) => e.event === 'grant.success'), oauthIdp.diagnostics());
  });

  test('a token endpoint failure (wrong secret) is logged without the secret; other servers keep working', async () => {
    await waitFor(() => /"event":"upstream\.oauth_failed"[^\n]*"server":"broken"|"server":"broken"[^\n]*upstream\.oauth_failed/.test(gw2.stderr),
      { timeoutMs: 10000, what: 'upstream.oauth_failed for broken in the gateway log' });
    const line = gw2.stderr.split('\n').find((l) => l.includes('upstream.oauth_failed') && l.includes('broken'));
    assert.match(line, /invalid_client/);
    const failed = await call('broken__echo', nextId++);
    assert.ok(failed.json?.error, failed.text); // the upstream refused the call without a token (or is down)
    assert.ok(broken.requests.every((r) => r.authorized !== true));
    assert.ok(broken.requests.every((r) => bearersOf({ requests: [r] })[0].length === 0), 'no token was sent to broken');
    assert.match(JSON.stringify((await echo('main')).result), /recording-server ok/);
    assert.match(JSON.stringify((await echo('short')).result), /recording-server ok/);
    assert.ok(!gw2.stderr.includes(wrongSecret), 'the wrong secret is in the log');
    assert.ok(!gw2.stderr.includes(clientSecret), 'the secret is in the log');
  });

  test('a short-lived token is replaced before it expires', async () => {
    await echo('short');
    const firstToken = bearersOf(short).flat()[0].replace(/^Bearer /, '');
    const firstExp = decodeJwt(firstToken).exp;
    // poll through the gateway until the upstream has accepted a token issued after the first expired
    await waitFor(async () => {
      const res = await call('short__echo', nextId++);
      const last = short.requests.at(-1);
      const token = (bearersOf({ requests: [last] })[0][0] ?? '').replace(/^Bearer /, '');
      return res.json?.result && last.authorized === true && token !== firstToken && Date.now() / 1000 > firstExp;
    }, { timeoutMs: 15000, what: 'a call through a refreshed token after the first one expired' });
  });

  test("a 401 to the gateway's token makes it fetch a new one early", async () => {
    await echo('main');
    const current = bearersOf(main).flat().at(-1).replace(/^Bearer /, '');
    revoked.add(current);
    const refused = await call('main__echo', nextId++);
    assert.ok(refused.json?.error, refused.text);
    await waitFor(async () => {
      const res = await call('main__echo', nextId++);
      return res.json?.result && main.requests.at(-1).authorized === true;
    }, { timeoutMs: 20000, what: 'a new token for main after the 401' });
    const latest = bearersOf(main).flat().at(-1).replace(/^Bearer /, '');
    assert.notEqual(latest, current);
    for (const token of bearersOf(main).flat().concat(bearersOf(short).flat())) {
      assert.ok(!gw2.stderr.includes(token.replace(/^Bearer /, '')), 'a token is in the gateway log');
    }
  });
});
