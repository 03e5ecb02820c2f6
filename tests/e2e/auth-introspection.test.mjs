// Identity, part 3: opaque tokens judged by the authorization server (RFC 7662 introspection), and
// requests that wait for the identity provider instead of being refused: an opaque token while it
// is being introspected, a JWT signed by a key the issuer has just started using (key rotation).
// The introspection answers come from the real identity provider (oidc-provider).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

import { startIdp } from '../fixtures/idp.mjs';
import { ALLOW_AUTHENTICATED, Gateway, everythingStdio, freePort, initializeBody, waitFor } from './lib/gateway.mjs';

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const SCOPE = 'mcp:tools';
const logLines = (gw) => gw.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

describe('RFC 7662 introspection of opaque tokens', () => {
  let idp, gw, resource, otherResource;
  const introspections = () => idp.requests.filter((r) => r.path === '/token/introspection').length;

  before(async () => {
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    otherResource = 'http://127.0.0.1:1/elsewhere';
    idp = await startIdp({
      resources: {
        [resource]: { format: 'opaque', scopes: [SCOPE, 'mcp:other'] },
        [otherResource]: { format: 'opaque', scopes: [SCOPE] },
      },
    });
    gw = await new Gateway({
      listen: [`127.0.0.1:${port}`],
      servers: [everythingStdio()],
      auth: {
        resource,
        jwt: [{ issuer: idp.issuer }],
        introspection: {
          url: idp.introspectionEndpoint,
          client_id: idp.introspectionClient.clientId,
          client_secret: idp.introspectionClient.clientSecret,
          cache_s: 2,
        },
        scopes_required: [SCOPE],
      },
      ...ALLOW_AUTHENTICATED,
    }).start();
  });

  after(async () => {
    await gw?.stop();
    await idp?.stop();
  });

  const opaqueToken = (opts = {}) => idp.clientCredentialsToken({ resource, scope: SCOPE, ...opts });

  test('an active opaque token for the gateway opens a session bound to its subject', async () => {
    const token = await opaqueToken();
    assert.doesNotMatch(token, /\./, 'the IdP issued an opaque token');
    const init = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
    assert.equal(init.status, 200, init.text);
    const session = init.headers.get('mcp-session-id');
    const list = await gw.post('/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { headers: { ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.result.tools.length > 0);
    // a JWT for another subject cannot use that session
    const other = await idp.mintAccessToken({ sub: 'mallory' }, { resource, scope: SCOPE });
    const stolen = await gw.post('/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/list' },
      { headers: { ...bearer(other), 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(stolen.status, 403, stolen.text);
    // the log says who tried, by principal
    const line = logLines(gw).find((l) => l.event === 'session.wrong_principal');
    assert.equal(line?.principal, `jwt:${idp.issuer}#mallory`, gw.diagnostics());
  });

  test('concurrent requests with one new token share the question (at most one per worker)', async () => {
    const token = await opaqueToken();
    const before = introspections();
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      gw.post('/mcp', initializeBody(i + 1), { headers: bearer(token) })));
    for (const res of answers) assert.equal(res.status, 200, res.text);
    const asked = introspections() - before;
    assert.ok(asked >= 1 && asked <= 2, `${asked} introspections for 12 requests on 2 workers`);
  });

  test('a revoked token stops working once its cached answer is older than cache_s', async () => {
    const token = await opaqueToken();
    assert.equal((await gw.post('/mcp', initializeBody(), { headers: bearer(token) })).status, 200);
    assert.equal(await idp.revoke(token), 200);
    const res = await waitFor(async () => {
      const r = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
      return r.status === 401 ? r : null;
    }, { timeoutMs: 8000, what: 'the revoked token to be refused' });
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.match(res.json.error.message, /not active/);
  });

  test('an unknown opaque token: 401 invalid_token, not active', async () => {
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer('no-such-token-0123456789') });
    assert.equal(res.status, 401, res.text);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.match(res.json.error.message, /not active/);
    assert.equal(res.json.error.code, -32003);
    const line = await waitFor(() => logLines(gw).find((l) => l.event === 'auth.refused' && /not active/.test(l.msg)));
    assert.equal(line.status, 401);
    assert.equal(line.error, 'invalid_token');
    assert.doesNotMatch(gw.stderr, /no-such-token-0123456789/, 'tokens are never logged');
  });

  test("an opaque token for another resource: 401, the audience is not the gateway's", async () => {
    const token = await idp.clientCredentialsToken({ resource: otherResource, scope: SCOPE });
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.error.message, /audience/);
  });

  test('an opaque token without the required scope: 403 insufficient_scope', async () => {
    const token = await opaqueToken({ scope: 'mcp:other' });
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
    assert.equal(res.status, 403, res.text);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="mcp:tools", error="insufficient_scope"/);
  });

  test('JWTs from the configured issuer are still verified locally, without introspection', async () => {
    const before = introspections();
    const token = await idp.mintAccessToken({}, { resource, scope: SCOPE });
    assert.equal((await gw.post('/mcp', initializeBody(), { headers: bearer(token) })).status, 200);
    assert.equal(introspections(), before);
  });
});

describe('an introspection endpoint that fails', () => {
  test('wrong client secret, or an endpoint that never answers: 503 with Retry-After, no challenge', async () => {
    // a server that accepts connections and never answers
    const silent = http.createServer(() => {});
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const idp = await startIdp({ unknownResources: { format: 'opaque' } });
    const gws = [];
    try {
      for (const [url, secret] of [
        [idp.introspectionEndpoint, 'not-the-secret'],
        [`http://127.0.0.1:${silent.address().port}/introspect`, 'x'],
      ]) {
        const port = await freePort();
        const resource = `http://127.0.0.1:${port}/mcp`;
        const gw = await new Gateway({
          listen: [`127.0.0.1:${port}`],
          servers: [everythingStdio()],
          auth: { resource, introspection: { url, client_id: idp.introspectionClient.clientId, client_secret: secret } },
          ...ALLOW_AUTHENTICATED,
        }).start();
        gws.push(gw);
        const token = await idp.clientCredentialsToken({ resource, scope: SCOPE });
        const res = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
        assert.equal(res.status, 503, res.text);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.equal(res.headers.get('www-authenticate'), null);
        assert.match(res.json.error.message, /cannot be checked now/);
        assert.doesNotMatch(gw.stderr, new RegExp(token), 'the token is never logged');
        assert.doesNotMatch(gw.stderr, /not-the-secret/, 'the client secret is never logged');
        // the gateway goes on serving: its health endpoint answers
        assert.equal((await gw.get('/healthz')).status, 200);
      }
    } finally {
      for (const gw of gws) await gw.stop();
      silent.closeAllConnections();
      silent.close();
      await idp.stop();
    }
  });
});

// Key rotation: the issuer publishes a new key and signs with it at once. The first token with the
// new kid waits for the key set to be fetched again, then is accepted; a kid that is still unknown
// after that fetch is refused, and does not make the gateway fetch again within the rate limit.
describe('a JWT signed by a key the gateway has not fetched yet', () => {
  let gw, jwks, fetches = 0, server, resource;
  const issuer = 'https://issuer.rotation.test';
  const keys = [];
  const newKey = async (kid) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
  };
  const sign = (key, claims = {}) => new SignJWT({ scope: SCOPE, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
    .setIssuer(issuer).setAudience(resource).setSubject('svc').setIssuedAt().setExpirationTime('5m')
    .sign(key.privateKey);

  before(async () => {
    keys.push(await newKey('first'));
    jwks = () => ({ keys: keys.map((k) => k.publicJwk) });
    server = http.createServer((req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks()));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    gw = await new Gateway({
      listen: [`127.0.0.1:${port}`],
      workers: 1,
      servers: [everythingStdio()],
      auth: {
        resource,
        jwt: [{ issuer, jwks_uri: `http://127.0.0.1:${server.address().port}/jwks`, algorithms: ['ES256'] }],
      },
      ...ALLOW_AUTHENTICATED,
    }).start();
  });

  after(async () => {
    await gw?.stop();
    server?.closeAllConnections();
    server?.close();
  });

  test('the first key works; a rotated-in key is fetched while the request waits', async () => {
    const first = await gw.post('/mcp', initializeBody(), { headers: bearer(await sign(keys[0])) });
    assert.equal(first.status, 200, first.text + gw.diagnostics());
    const before = fetches;
    keys.push(await newKey('second'));
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer(await sign(keys[1])) });
    assert.equal(res.status, 200, res.text);
    assert.equal(fetches, before + 1, 'one fetch of the key set');
  });

  test('a kid that the fresh key set does not have either: refused, and no second fetch right away', async () => {
    const stranger = await newKey('stranger');
    // the last fetch was moments ago: refused at once, without fetching
    const before = fetches;
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer(await sign(stranger)) });
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.error.message, /kid|key/);
    assert.equal(fetches, before);
  });
});
