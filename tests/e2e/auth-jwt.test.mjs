// Identity, part 1: the gateway as an OAuth 2.1 protected resource, with tokens from a real
// identity provider (oidc-provider, tests/fixtures/idp.mjs) verified against its published keys.
// Every bad token of issue 4's list is refused with 401 and an RFC 6750 challenge, and the gateway
// keeps serving valid callers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startIdp } from '../fixtures/idp.mjs';
import { connectWithOAuth, decodeJwt } from './lib/oauth.mjs';
import { ALLOW_AUTHENTICATED, Gateway, everythingStdio, freePort, initializeBody } from './lib/gateway.mjs';

let idp, gw, resource, serverResource;

before(async () => {
  idp = await startIdp();
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  serverResource = `http://127.0.0.1:${port}/servers/everything/mcp`;
  gw = await new Gateway({
    listen: [`127.0.0.1:${port}`],
    servers: [everythingStdio()],
    auth: {
      resource,
      jwt: [{ issuer: idp.issuer, algorithms: ['RS256', 'ES256', 'EdDSA'] }],
      scopes_required: ['mcp:tools'],
    },
    ...ALLOW_AUTHENTICATED,
  }).start();
});

after(async () => {
  await gw?.stop();
  await idp?.stop();
});

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const challengeOf = (res) => res.headers.get('www-authenticate') ?? '';
const goodToken = (overrides = {}, signOpts = {}) =>
  idp.mintAccessToken(overrides, { resource, scope: 'mcp:tools', ...signOpts });

async function expectRefused(headers, { status = 401, error = 'invalid_token', description } = {}) {
  const res = await gw.post('/mcp', initializeBody(), { headers });
  assert.equal(res.status, status, res.text);
  const challenge = challengeOf(res);
  assert.match(challenge, /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
  if (error) assert.match(challenge, new RegExp(`error="${error}"`));
  else assert.doesNotMatch(challenge, /error=/);
  if (description) assert.match(challenge, description);
  assert.equal(res.json?.error?.code, -32003, res.text);
  return res;
}

describe('protected resource metadata (RFC 9728)', () => {
  test('the well-known documents name the resource, the issuer and the scopes', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await gw.get(path);
      assert.equal(res.status, 200, path);
      const doc = await res.json();
      assert.equal(doc.resource, resource);
      assert.deepEqual(doc.authorization_servers, [idp.issuer]);
      assert.deepEqual(doc.scopes_supported, ['mcp:tools']);
      assert.deepEqual(doc.bearer_methods_supported, ['header']);
    }
    const res = await gw.get('/.well-known/oauth-protected-resource/servers/everything/mcp');
    assert.equal((await res.json()).resource, serverResource);
    assert.equal((await gw.get('/.well-known/oauth-protected-resource/servers/nope/mcp')).status, 404);
  });
});

describe('challenges', () => {
  test('no credential: 401 with resource_metadata and scope, no error code', async () => {
    const res = await expectRefused({}, { error: null });
    assert.match(challengeOf(res), /scope="mcp:tools"/);
  });

  test('a server path points at its own metadata', async () => {
    const res = await gw.post('/servers/everything/mcp', initializeBody());
    assert.equal(res.status, 401);
    assert.match(challengeOf(res), /oauth-protected-resource\/servers\/everything\/mcp"/);
  });

  test('another scheme counts as no credential (RFC 6750 section 3.1): 401 without an error code', async () => {
    const res = await expectRefused({ authorization: 'Basic dXNlcjpwYXNz' }, { error: null });
    assert.match(res.json.error.message, /scheme must be Bearer/);
  });

  test('an empty bearer token or two Authorization headers: 400 invalid_request', async () => {
    await expectRefused({ authorization: 'Bearer ' }, { status: 400, error: 'invalid_request' });
  });
});

describe('tokens from the identity provider', () => {
  test('a client_credentials token for the gateway is accepted, and the session is bound to it', async () => {
    const token = await idp.clientCredentialsToken({ resource, scope: 'mcp:tools' });
    const init = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
    assert.equal(init.status, 200, init.text);
    const session = init.headers.get('mcp-session-id');
    assert.ok(session);
    const list = await gw.post('/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { headers: { ...bearer(token), 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.result.tools.length > 0);

    // the same session id with another principal's token: refused
    const other = await idp.mintAccessToken({ sub: 'mallory' }, { resource, scope: 'mcp:tools' });
    const stolen = await gw.post('/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/list' },
      { headers: { ...bearer(other), 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(stolen.status, 403, stolen.text);
    assert.match(stolen.json.error.message, /another principal/);
  });

  test('ES256 and EdDSA tokens verify too', async () => {
    for (const alg of ['ES256', 'EdDSA']) {
      const res = await gw.post('/mcp', initializeBody(), { headers: bearer(await goodToken({}, { alg })) });
      assert.equal(res.status, 200, `${alg}: ${res.text}`);
    }
  });

  test('a token for a server path works there and not on /mcp', async () => {
    const token = await idp.mintAccessToken({}, { resource: serverResource, scope: 'mcp:tools' });
    assert.equal((await gw.post('/servers/everything/mcp', initializeBody(), { headers: bearer(token) })).status, 200);
    await expectRefused(bearer(token), { description: /aud/ });
  });

  test('a token without the required scope: 403 insufficient_scope naming it', async () => {
    const token = await idp.mintAccessToken({}, { resource, scope: 'other' });
    const res = await expectRefused(bearer(token), { status: 403, error: 'insufficient_scope' });
    assert.match(challengeOf(res), /scope="mcp:tools"/);
  });
});

describe("the official SDK client's OAuth flow", () => {
  test('401 → metadata → registration → PKCE → token → tools, through the gateway', async () => {
    const conn = await connectWithOAuth(gw.url('/mcp'), idp, { loginHint: 'alice' });
    try {
      const { tools } = await conn.client.listTools();
      assert.ok(tools.some((t) => t.name === 'everything__echo'), JSON.stringify(tools.map((t) => t.name)));
      const token = decodeJwt(conn.provider.tokens().access_token);
      assert.equal(token.aud, resource);
      assert.equal(token.sub, 'alice');
      assert.match(token.scope, /mcp:tools/);
      const echoed = await conn.client.callTool({ name: 'everything__echo', arguments: { message: 'hi' } });
      assert.match(JSON.stringify(echoed.content), /hi/);
    } finally {
      await conn.close();
    }
  });
});

describe('bad tokens (issue 4)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases = [
    ['expired', () => goodToken({ exp: now() - 3600, iat: now() - 7200 }), /expired/],
    ['not yet valid', () => goodToken({ nbf: now() + 3600 }), /not valid before|not yet valid|nbf/],
    ['wrong issuer', () => goodToken({ iss: 'http://127.0.0.1:1/evil' }), /issuer/],
    ['wrong audience', () => goodToken({ aud: 'http://127.0.0.1:1/other' }), /aud/],
    ['alg none', () => goodToken({}, { alg: 'none' }), /alg/],
    ['HS256 signed with the public key', async () => goodToken({}, { alg: 'HS256', key: Buffer.from(JSON.stringify(idp.keys.RS256.publicJwk)) }), /alg/],
    ['signed by an untrusted key claiming a real kid', () => goodToken({}, { key: 'untrusted', kid: idp.keys.RS256.kid }), /signature/],
    ['unknown kid', () => goodToken({}, { key: 'untrusted', kid: 'no-such-key' }), /kid|key/],
  ];
  for (const [name, make, description] of cases) {
    test(name, async () => { await expectRefused(bearer(await make()), { description }); });
  }

  test('tampered payload', async () => {
    const [h, p, s] = (await goodToken()).split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.sub = 'admin';
    await expectRefused(bearer(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`),
      { description: /signature/ });
  });

  test('malformed base64url', async () => {
    const [h, p, s] = (await goodToken()).split('.');
    await expectRefused(bearer(`${h}.${p}=.${s}`));
    await expectRefused(bearer(`${h}.${p.replace(/.$/, '*')}.${s}`));
  });

  test('oversized token', async () => {
    const token = await goodToken({ padding: 'x'.repeat(20000) });
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer(token) });
    assert.equal(res.status, 401);
    assert.match(challengeOf(res), /invalid_token/);
  });

  test('an opaque token with no introspection configured', async () => {
    await expectRefused(bearer('not-a-jwt-at-all'));
  });

  test('the gateway keeps serving valid callers after all that', async () => {
    const res = await gw.post('/mcp', initializeBody(), { headers: bearer(await goodToken()) });
    assert.equal(res.status, 200);
  });
});
