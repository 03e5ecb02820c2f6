// Tests of the OAuth test fixtures themselves: the oidc-provider IdP (tests/fixtures/idp.mjs), the
// SDK OAuth helper (lib/oauth.mjs) and the recording upstream (tests/fixtures/recording-server.mjs).
// No gateway: a stub protected resource in this file plays the part the gateway will play.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';

import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

import { startIdp, followAuthorization } from '../fixtures/idp.mjs';
import { startRecordingServer } from '../fixtures/recording-server.mjs';
import { NODE, REPO_ROOT, connect, resultText, sleep } from './lib/gateway.mjs';
import {
  InMemoryOAuthClientProvider, bearer, bearerChallenge, connectWithOAuth, decodeJwt, decodeJwtHeader,
  fetchProtectedResourceMetadata, parseWwwAuthenticate, tamperJwt,
} from './lib/oauth.mjs';

const RESOURCE = 'http://127.0.0.1:9/mcp'; // an audience nobody listens on: tokens are only inspected
const OPAQUE = 'http://127.0.0.1:9/opaque';
const SHORT = 'http://127.0.0.1:9/short';

let idp;
before(async () => {
  idp = await startIdp({
    accounts: {
      alice: { groups: ['eng'], claims: { name: 'Alice' } },
      bob: { groups: ['ops'] },
      carol: { groups: [], scopes: ['mcp:read'] }, // consents to mcp:read at most
    },
    clients: [
      { clientId: 'svc', groups: ['robots'] },
      { clientId: 'reader', scopes: ['mcp:read'] },
    ],
    resources: {
      [OPAQUE]: { format: 'opaque', scopes: ['mcp:read', 'mcp:write'] },
      [SHORT]: { format: 'opaque', scopes: ['mcp:read'], ttl: 1 },
      'http://127.0.0.1:9/es256': { alg: 'ES256', scopes: ['mcp:read'] },
      'http://127.0.0.1:9/eddsa': { alg: 'EdDSA', scopes: ['mcp:read'] },
    },
  });
});
after(() => idp?.stop());

const verifyAgainstIdp = (token, opts = {}) =>
  jwtVerify(token, createRemoteJWKSet(new URL(idp.jwksUri)), {
    issuer: idp.issuer, audience: RESOURCE, typ: 'at+jwt', ...opts,
  });

describe('IdP: metadata and keys', () => {
  test('OpenID discovery and the RFC 8414 document name the endpoints, S256 and the iss parameter', async () => {
    for (const url of [idp.discoveryUrl, idp.oauthMetadataUrl]) {
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      const d = await res.json();
      assert.equal(d.issuer, idp.issuer);
      assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(d.jwks_uri, idp.jwksUri);
      assert.equal(d.token_endpoint, idp.tokenEndpoint);
      assert.equal(d.introspection_endpoint, idp.introspectionEndpoint);
      assert.equal(d.revocation_endpoint, idp.revocationEndpoint);
      assert.equal(d.registration_endpoint, idp.registrationEndpoint);
      assert.equal(d.authorization_endpoint, idp.authorizationEndpoint);
      assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
      assert.equal(d.authorization_response_iss_parameter_supported, true);
      assert.ok(d.grant_types_supported.includes('client_credentials'));
      assert.ok(d.grant_types_supported.includes('authorization_code'));
      assert.ok(d.response_types_supported.includes('code'));
    }
  });

  test('the JWKS publishes one RS256, ES256 and EdDSA public key each, nothing private', async () => {
    const { keys } = await (await fetch(idp.jwksUri)).json();
    const byKid = Object.fromEntries(keys.map((k) => [k.kid, k]));
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const k = byKid[idp.keys[alg].kid];
      assert.ok(k, `${alg} key published`);
      assert.equal(k.kty, { RS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' }[alg]);
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, `${alg} key has no ${priv}`);
    }
    assert.equal(keys.length, 3);
    for (const k of Object.values(idp.untrustedKeys)) assert.equal(byKid[k.kid], undefined, 'untrusted keys are not published');
    assert.deepEqual(idp.publicJwks.keys.map((k) => k.kid).sort(), keys.map((k) => k.kid).sort());
    assert.ok(idp.privateJwks.keys.every((k) => typeof k.d === 'string'));
    assert.ok(idp.requests.some((r) => r.method === 'GET' && r.path === '/jwks'), 'requests are logged');
  });

  test('options: either discovery path hidden, unknown resources refused, IdP-wide TTLs', async () => {
    const strict = await startIdp({
      oauthServerMetadata: false,
      unknownResources: false,
      resources: { [RESOURCE]: { scope: 'mcp:read' } },
      ttl: { clientCredentials: 42 },
    });
    try {
      assert.equal((await fetch(strict.oauthMetadataUrl)).status, 404);
      assert.equal((await fetch(strict.discoveryUrl)).status, 200);
      const oauthOnly = await startIdp({ openidConfiguration: false });
      try {
        assert.equal((await fetch(oauthOnly.discoveryUrl)).status, 404);
        assert.equal((await (await fetch(oauthOnly.oauthMetadataUrl)).json()).issuer, oauthOnly.issuer);
      } finally {
        await oauthOnly.stop();
      }
      const t = await strict.clientCredentials({ resource: RESOURCE, scope: 'mcp:read mcp:write' });
      assert.equal(t.scope, 'mcp:read', 'only the registered scopes');
      assert.equal(t.expires_in, 42);
      await assert.rejects(strict.clientCredentials({ resource: 'http://127.0.0.1:9/unknown', scope: 'mcp:read' }), /invalid_target/);
      assert.equal(strict.clients[0].clientId, 'mcp-service', 'the default static client');
      assert.notEqual(strict.keys.RS256.kid, idp.keys.RS256.kid, 'fresh keys per IdP');
    } finally {
      await strict.stop();
    }
  });
});

describe('IdP: client_credentials', () => {
  test('an RFC 9068 JWT for the resource that verifies against the JWKS', async () => {
    const t = await idp.clientCredentials({ clientId: 'svc', resource: RESOURCE, scope: 'mcp:read mcp:write' });
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.scope, 'mcp:read mcp:write');
    const { payload, protectedHeader } = await verifyAgainstIdp(t.access_token);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(protectedHeader.kid, idp.keys.RS256.kid);
    assert.equal(payload.iss, idp.issuer);
    assert.equal(payload.aud, RESOURCE);
    assert.equal(payload.sub, 'svc');
    assert.equal(payload.client_id, 'svc');
    assert.equal(payload.scope, 'mcp:read mcp:write');
    assert.deepEqual(payload.groups, ['robots']);
    assert.equal(payload.exp - payload.iat, 300);
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 10);
    assert.equal(typeof payload.jti, 'string');
  });

  test('ES256 and EdDSA resources get tokens signed with those keys', async () => {
    for (const [alg, resource] of [['ES256', 'http://127.0.0.1:9/es256'], ['EdDSA', 'http://127.0.0.1:9/eddsa']]) {
      const token = await idp.clientCredentialsToken({ clientId: 'svc', resource, scope: 'mcp:read' });
      const { protectedHeader, payload } = await verifyAgainstIdp(token, { audience: resource });
      assert.equal(protectedHeader.alg, alg);
      assert.equal(protectedHeader.kid, idp.keys[alg].kid);
      assert.equal(payload.scope, 'mcp:read');
    }
  });

  test('a client gets at most its configured scopes; a wrong secret or unknown client is refused', async () => {
    const t = await idp.clientCredentials({ clientId: 'reader', resource: RESOURCE, scope: 'mcp:read mcp:admin' });
    assert.equal(t.scope, 'mcp:read');
    assert.equal(decodeJwt(t.access_token).scope, 'mcp:read');
    await assert.rejects(idp.clientCredentials({ clientId: 'svc', clientSecret: 'nope', resource: RESOURCE }), /HTTP 401.*invalid_client/);
    await assert.rejects(idp.clientCredentials({ clientId: 'ghost', clientSecret: 'x', resource: RESOURCE }), /HTTP 401.*invalid_client/);
  });

  test('the resource decides the audience; without a resource the token is opaque with no audience', async () => {
    const other = 'http://127.0.0.1:9/other';
    assert.equal(decodeJwt(await idp.clientCredentialsToken({ clientId: 'svc', resource: other, scope: 'x' })).aud, other);
    const bare = await idp.clientCredentialsToken({ clientId: 'svc' });
    assert.equal(bare.split('.').length, 1, 'opaque');
    const answer = await idp.introspect(bare);
    assert.equal(answer.active, true);
    assert.equal(answer.aud, undefined);
  });
});

describe('IdP: opaque tokens and introspection', () => {
  test('active for the introspection client, with aud, scope, sub and groups; inactive after revocation', async () => {
    const token = await idp.clientCredentialsToken({ clientId: 'svc', resource: OPAQUE, scope: 'mcp:read mcp:admin' });
    assert.equal(token.split('.').length, 1, 'not a JWT');
    const answer = await idp.introspect(token);
    assert.equal(answer.active, true);
    assert.equal(answer.iss, idp.issuer);
    assert.equal(answer.aud, OPAQUE);
    assert.equal(answer.scope, 'mcp:read', 'mcp:admin is not a scope of this resource');
    assert.equal(answer.client_id, 'svc');
    assert.equal(answer.sub, 'svc');
    assert.deepEqual(answer.groups, ['robots']);
    assert.equal(answer.token_type, 'Bearer');
    assert.ok(answer.exp > Date.now() / 1000);

    // Raw RFC 7662 request, as the gateway will make it (Basic auth with the introspection client).
    const { clientId, clientSecret } = idp.introspectionClient;
    const raw = await fetch(idp.introspectionEndpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }),
    });
    assert.equal(raw.status, 200);
    assert.equal((await raw.json()).active, true);

    const wrong = await idp.post('/token/introspection', { token }, { clientId, clientSecret: 'wrong' });
    assert.equal(wrong.status, 401);
    // Another client may not look at svc's token.
    assert.deepEqual(await idp.introspect(token, { clientId: 'reader' }), { active: false });

    assert.equal(await idp.revoke(token), 200);
    assert.deepEqual(await idp.introspect(token), { active: false });
  });

  test('a user token at an opaque resource introspects with the user as sub and their groups', async () => {
    const t = await idp.userToken({ account: 'alice', resource: OPAQUE, scope: 'mcp:read' });
    const answer = await idp.introspect(t.access_token);
    assert.equal(answer.active, true);
    assert.equal(answer.sub, 'alice');
    assert.deepEqual(answer.groups, ['eng']);
    assert.equal(answer.client_id, idp.publicClient.clientId);
  });

  test('tokens expire: a 1 s resource TTL, and a 1 s JWT minted by hand', async () => {
    const opaque = await idp.clientCredentialsToken({ clientId: 'svc', resource: SHORT, scope: 'mcp:read' });
    const jwt = await idp.mintAccessToken({}, { resource: RESOURCE, ttl: 1 });
    assert.equal((await idp.introspect(opaque)).active, true);
    await verifyAgainstIdp(jwt);
    await sleep(2100);
    assert.deepEqual(await idp.introspect(opaque), { active: false });
    await assert.rejects(verifyAgainstIdp(jwt), { code: 'ERR_JWT_EXPIRED' });
  });
});

describe('IdP: forged tokens', () => {
  test('a token minted with the real key verifies; every forgery fails for its own reason', async () => {
    const ok = await idp.mintAccessToken({ groups: ['eng'] }, { resource: RESOURCE, scope: 'mcp:read' });
    const { payload } = await verifyAgainstIdp(ok);
    assert.equal(payload.sub, idp.clients[0].clientId);
    assert.deepEqual(payload.groups, ['eng']);
    for (const alg of ['ES256', 'EdDSA']) await verifyAgainstIdp(await idp.mintAccessToken({}, { resource: RESOURCE, alg }));

    const now = Math.floor(Date.now() / 1000);
    const forged = {
      'wrong issuer': [await idp.mintAccessToken({ iss: 'http://127.0.0.1:1' }, { resource: RESOURCE }), 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
      'no issuer': [await idp.mintAccessToken({ iss: undefined }, { resource: RESOURCE }), 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
      'expired': [await idp.mintAccessToken({ iat: now - 600, exp: now - 60 }, { resource: RESOURCE }), 'ERR_JWT_EXPIRED'],
      'not yet valid': [await idp.mintAccessToken({ nbf: now + 600 }, { resource: RESOURCE }), 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
      'other audience': [await idp.mintAccessToken({}, { resource: 'http://127.0.0.1:9/else' }), 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
      'wrong typ': [await idp.mintAccessToken({}, { resource: RESOURCE, typ: 'JWT' }), 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
      'tampered payload': [tamperJwt(ok, { scope: 'mcp:admin' }), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'],
      'untrusted key': [await idp.mintAccessToken({}, { resource: RESOURCE, key: 'untrusted' }), 'ERR_JWKS_NO_MATCHING_KEY'],
      'untrusted key, real kid': [await idp.mintAccessToken({}, { resource: RESOURCE, key: 'untrusted', kid: idp.keys.RS256.kid }), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'],
      'alg none': [await idp.mintAccessToken({}, { resource: RESOURCE, alg: 'none' }), 'ERR_JOSE_ALG_NOT_ALLOWED'],
      'HS256 keyed with the public key': [await idp.mintAccessToken({}, {
        resource: RESOURCE, alg: 'HS256', key: JSON.stringify(idp.keys.RS256.publicJwk), kid: idp.keys.RS256.kid,
      }), 'ERR_JOSE_ALG_NOT_ALLOWED'],
    };
    const jwks = createLocalJWKSet(idp.publicJwks);
    for (const [name, [token, code]] of Object.entries(forged)) {
      await assert.rejects(
        jwtVerify(token, jwks, { issuer: idp.issuer, audience: RESOURCE, typ: 'at+jwt', algorithms: ['RS256', 'ES256', 'EdDSA'] }),
        (err) => { assert.equal(err.code, code, `${name}: ${err.message}`); return true; },
        name,
      );
    }
    assert.equal(decodeJwtHeader(forged['alg none'][0]).alg, 'none');
    assert.equal(decodeJwt(forged['tampered payload'][0]).scope, 'mcp:admin');
  });

  test('signJwt signs arbitrary claims with the real key, an untrusted one, or a key you bring', async () => {
    const claims = { iss: idp.issuer, aud: RESOURCE, sub: 'mallory' };
    const real = await idp.signJwt(claims, { alg: 'ES256' });
    assert.equal((await verifyAgainstIdp(real)).payload.sub, 'mallory');
    const own = await idp.signJwt(claims, { alg: 'RS256', key: idp.untrustedKeys.RS256.privateJwk, typ: null });
    assert.equal(decodeJwtHeader(own).kid, idp.untrustedKeys.RS256.kid);
    assert.equal(decodeJwtHeader(own).typ, undefined);
    const noKid = await idp.signJwt(claims, { kid: null });
    assert.equal(decodeJwtHeader(noKid).kid, undefined);
    await verifyAgainstIdp(noKid); // jose tries every key of the right type
  });
});

describe('IdP: authorization code + PKCE with the automated login', () => {
  test('userToken signs in the account and puts its groups in the access token', async () => {
    const a = await idp.userToken({ account: 'alice', resource: RESOURCE, scope: 'mcp:read mcp:write' });
    const { payload } = await verifyAgainstIdp(a.access_token);
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.groups, ['eng']);
    assert.equal(payload.scope, 'mcp:read mcp:write');
    assert.equal(payload.client_id, idp.publicClient.clientId);
    assert.ok(a.refresh_token, 'a refresh token for a client allowed the grant');
    const b = await idp.userToken({ account: 'bob', resource: RESOURCE, scope: 'mcp:read' });
    assert.deepEqual(decodeJwt(b.access_token).groups, ['ops']);
  });

  test('an account with a scope limit is granted only what it may have', async () => {
    const c = await idp.userToken({ account: 'carol', resource: RESOURCE, scope: 'mcp:read mcp:admin' });
    assert.equal(c.scope, 'mcp:read');
    assert.equal(decodeJwt(c.access_token).scope, 'mcp:read');
  });

  test('an unknown account is denied (access_denied at the redirect URI, with iss)', async () => {
    await assert.rejects(idp.userToken({ account: 'nobody', resource: RESOURCE }), /access_denied/);
  });

  test('the refresh token yields a new access token for the same resource', async () => {
    const first = await idp.userToken({ account: 'alice', resource: RESOURCE, scope: 'mcp:read' });
    const next = await idp.refresh(first.refresh_token);
    assert.notEqual(next.access_token, first.access_token);
    const { payload } = await verifyAgainstIdp(next.access_token);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.aud, RESOURCE);
  });

  test('the authorization endpoint insists on PKCE with S256', async () => {
    const base = () => {
      const u = new URL(idp.authorizationEndpoint);
      u.searchParams.set('response_type', 'code');
      u.searchParams.set('client_id', idp.publicClient.clientId);
      u.searchParams.set('redirect_uri', idp.publicClient.redirectUri);
      u.searchParams.set('scope', 'mcp:read');
      u.searchParams.set('resource', RESOURCE);
      return u;
    };
    const none = await followAuthorization(base(), { redirectUri: idp.publicClient.redirectUri });
    assert.equal(none.error, 'invalid_request');
    assert.match(none.error_description, /PKCE/);
    assert.equal(none.iss, idp.issuer, 'RFC 9207 iss on error responses too');
    const plain = base();
    plain.searchParams.set('code_challenge', 'a'.repeat(43));
    plain.searchParams.set('code_challenge_method', 'plain');
    const refused = await followAuthorization(plain, { redirectUri: idp.publicClient.redirectUri });
    assert.equal(refused.error, 'invalid_request');
  });
});

// ---------------------------------------------------------------------------------------------
// A stub protected resource: PRM naming the IdP, 401 with resource_metadata, JWT validation
// against the IdP's JWKS with its own URL as audience, 403 insufficient_scope for one tool.

async function startStubResource({ scopesSupported = ['mcp:read'], adminScope = 'mcp:admin' } = {}) {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${server.address().port}`;
  const resource = `${origin}/mcp`;
  const prmUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
  const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
  const seen = [];
  const challenge = (extra = '') => `Bearer resource_metadata="${prmUrl}"${extra}`;
  server.on('request', (req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });
  const handle = async (req, res) => {
    const path = req.url.split('?')[0];
    if (req.method === 'GET' && (path === '/.well-known/oauth-protected-resource/mcp' || path === '/.well-known/oauth-protected-resource')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        resource, authorization_servers: [idp.issuer], scopes_supported: scopesSupported, bearer_methods_supported: ['header'],
      }));
      return;
    }
    if (path !== '/mcp') { res.writeHead(404).end(); return; }
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    seen.push({ method: req.method, token });
    if (!token) {
      res.writeHead(401, { 'www-authenticate': challenge(`, scope="${scopesSupported.join(' ')}"`) }).end();
      return;
    }
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: resource, typ: 'at+jwt' }));
    } catch (err) {
      res.writeHead(401, { 'www-authenticate': challenge(`, error="invalid_token", error_description="${err.code}"`) }).end();
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const scopes = String(claims.scope ?? '').split(' ');
    if (body?.method === 'tools/call' && body.params?.name === 'admin_only' && !scopes.includes(adminScope)) {
      res.writeHead(403, {
        'www-authenticate': challenge(`, error="insufficient_scope", scope="${[...scopesSupported, adminScope].join(' ')}"`),
      }).end();
      return;
    }
    if (req.method !== 'POST') { res.writeHead(405, { allow: 'POST' }).end(); return; } // no GET stream
    // Stateless MCP: a fresh server and transport per request.
    const mcp = new McpServer({ name: 'stub-resource', version: '0.0.0' });
    mcp.registerTool('whoami', { description: 'the validated token claims' }, async () =>
      ({ content: [{ type: 'text', text: JSON.stringify(claims) }] }));
    mcp.registerTool('admin_only', { description: `needs ${adminScope}` }, async () =>
      ({ content: [{ type: 'text', text: 'admin ok' }] }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { void transport.close(); void mcp.close(); });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  };
  return {
    resource, prmUrl, seen,
    stop: async () => { server.closeAllConnections(); await new Promise((r) => server.close(() => r())); },
  };
}

describe('lib/oauth.mjs: the SDK flow against a stub protected resource', () => {
  let stub;
  before(async () => { stub = await startStubResource(); });
  after(() => stub?.stop());

  test('the stub answers like an MCP resource server (what the SDK relies on)', async () => {
    const res = await fetch(stub.resource, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 401);
    const params = bearerChallenge(res);
    assert.equal(params.resource_metadata, stub.prmUrl);
    const { url, metadata } = await fetchProtectedResourceMetadata(stub.resource, { resourceMetadataUrl: params.resource_metadata });
    assert.equal(url, stub.prmUrl);
    assert.deepEqual(metadata.authorization_servers, [idp.issuer]);
    assert.equal((await fetchProtectedResourceMetadata(stub.resource)).metadata.resource, stub.resource);
  });

  test('connectWithOAuth: discovery, registration, PKCE, resource indicator, then tool calls as alice', async () => {
    const registrationsBefore = idp.events.filter((e) => e.event === 'registration_create.success').length;
    const conn = await connectWithOAuth(stub.resource, idp);
    try {
      assert.equal(conn.authorized, true);
      const claims = JSON.parse(resultText(await conn.client.callTool({ name: 'whoami', arguments: {} })));
      assert.equal(claims.sub, 'alice');
      assert.deepEqual(claims.groups, ['eng']);
      assert.equal(claims.aud, stub.resource);
      assert.equal(claims.iss, idp.issuer);
      assert.equal(claims.scope, 'mcp:read');
      const { client_id: clientId } = conn.provider.clientInformation();
      assert.equal(claims.client_id, clientId, 'the dynamically registered client');
      assert.equal(idp.events.filter((e) => e.event === 'registration_create.success').length, registrationsBefore + 1);

      const [authUrl] = conn.provider.authorizationUrls;
      assert.equal(authUrl.origin + authUrl.pathname, idp.authorizationEndpoint);
      assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
      assert.equal(authUrl.searchParams.get('resource'), stub.resource);
      assert.equal(authUrl.searchParams.get('scope'), 'mcp:read');
      assert.equal(conn.provider.authorizationResponses[0].iss, idp.issuer);
      assert.ok(conn.provider.tokens().refresh_token);
      assert.ok(stub.seen.some((s) => s.token === conn.provider.tokens().access_token));
    } finally {
      await conn.close();
    }
  });

  test('loginHint picks the account; stored tokens are reused without a new authorization', async () => {
    const conn = await connectWithOAuth(stub.resource, idp, { loginHint: 'bob' });
    const provider = conn.provider;
    try {
      const claims = JSON.parse(resultText(await conn.client.callTool({ name: 'whoami', arguments: {} })));
      assert.equal(claims.sub, 'bob');
      assert.deepEqual(claims.groups, ['ops']);
    } finally {
      await conn.close();
    }
    const again = await connectWithOAuth(stub.resource, idp, { provider });
    try {
      assert.equal(again.authorized, false);
      assert.equal(provider.authorizationUrls.length, 1);
    } finally {
      await again.close();
    }
  });

  test('step-up: 403 insufficient_scope → a new authorization with the wider scope → the call succeeds', async () => {
    // keepRefreshToken: false — see InMemoryOAuthClientProvider (SDK 1.32.2 would refresh instead).
    const conn = await connectWithOAuth(stub.resource, idp, { keepRefreshToken: false });
    try {
      const result = await conn.withReauth(() => conn.client.callTool({ name: 'admin_only', arguments: {} }));
      assert.equal(resultText(result), 'admin ok');
      assert.equal(conn.provider.authorizationUrls.length, 2);
      assert.equal(conn.provider.authorizationUrls[1].searchParams.get('scope'), 'mcp:read mcp:admin');
      assert.equal(decodeJwt(conn.provider.tokens().access_token).scope, 'mcp:read mcp:admin');
    } finally {
      await conn.close();
    }
  });

  test('SDK 1.32.2 with a refresh token: step-up refreshes and gives up (typescript-sdk#2255)', async () => {
    // A canary: when an SDK upgrade fixes this, this test fails; then drop keepRefreshToken: false.
    const conn = await connectWithOAuth(stub.resource, idp);
    try {
      assert.ok(conn.provider.tokens().refresh_token);
      await assert.rejects(
        conn.withReauth(() => conn.client.callTool({ name: 'admin_only', arguments: {} })),
        /403 after trying upscoping/,
      );
      assert.equal(conn.provider.authorizationUrls.length, 1, 'no second authorization');
    } finally {
      await conn.close();
    }
  });

  test('a pre-registered client skips registration; a wrong AS is caught', async () => {
    const registrationsBefore = idp.events.filter((e) => e.event === 'registration_create.success').length;
    const conn = await connectWithOAuth(stub.resource, idp, {
      clientInformation: { client_id: idp.publicClient.clientId }, redirectUrl: idp.publicClient.redirectUri,
    });
    try {
      const claims = JSON.parse(resultText(await conn.client.callTool({ name: 'whoami', arguments: {} })));
      assert.equal(claims.client_id, idp.publicClient.clientId);
      assert.equal(idp.events.filter((e) => e.event === 'registration_create.success').length, registrationsBefore);
    } finally {
      await conn.close();
    }
    await assert.rejects(connectWithOAuth(stub.resource, { issuer: 'http://127.0.0.1:1' }), /expected http:\/\/127\.0\.0\.1:1/);
  });

  test('a denied login surfaces as an error, not a hang', async () => {
    await assert.rejects(connectWithOAuth(stub.resource, idp, { loginHint: 'nobody' }), /access_denied/);
  });

  test('InMemoryOAuthClientProvider refuses a response whose iss is not the issuer (RFC 9207)', () => {
    const p = new InMemoryOAuthClientProvider();
    p.saveDiscoveryState({ authorizationServerMetadata: { issuer: idp.issuer, authorization_response_iss_parameter_supported: true } });
    assert.match(p._checkAuthorizationResponse({ code: 'c', iss: 'http://127.0.0.1:1' }), /not the issuer/);
    assert.match(p._checkAuthorizationResponse({ code: 'c' }), /not the issuer/);
    assert.equal(p._checkAuthorizationResponse({ code: 'c', iss: idp.issuer }), undefined);
  });

  test('parseWwwAuthenticate reads several challenges and quoted values', () => {
    assert.deepEqual(
      parseWwwAuthenticate('Bearer resource_metadata="http://a/x", error="insufficient_scope", scope="a b", Basic realm="r"'),
      [
        { scheme: 'Bearer', params: { resource_metadata: 'http://a/x', error: 'insufficient_scope', scope: 'a b' } },
        { scheme: 'Basic', params: { realm: 'r' } },
      ],
    );
    assert.deepEqual(parseWwwAuthenticate('Bearer'), [{ scheme: 'Bearer', params: {} }]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('recording server', () => {
  test('records every request\'s headers, in process and through seen_headers', async () => {
    const rec = await startRecordingServer();
    try {
      const conn = await connect(rec.url, {
        fetch: (url, init) => {
          const headers = new Headers(init?.headers);
          headers.set('cookie', 'sid=client-cookie');
          headers.set('authorization', 'Bearer client-token');
          headers.set('x-e2e-probe', 'probe-1');
          return fetch(url, { ...init, headers });
        },
      });
      try {
        const seen = JSON.parse(resultText(await conn.client.callTool({ name: 'seen_headers', arguments: {} })));
        const call = seen.at(-1);
        assert.equal(call.rpc.method, 'tools/call', 'its own request is the last one');
        assert.equal(call.headers.cookie, 'sid=client-cookie');
        assert.equal(call.headers.authorization, 'Bearer client-token');
        assert.equal(call.headers['x-e2e-probe'], 'probe-1');
        assert.ok(call.rawHeaders.some(([name, value]) => name.toLowerCase() === 'x-e2e-probe' && value === 'probe-1'));
        assert.ok(seen.some((r) => r.rpc?.method === 'initialize'));
        assert.equal(call.authorized, undefined, 'no bearer required');
        assert.equal(resultText(await conn.client.callTool({ name: 'echo', arguments: {} })), 'recording-server ok');
      } finally {
        await conn.close();
      }
      const init = rec.requests.find((r) => r.rpc?.method === 'initialize');
      assert.equal(init.headers['x-e2e-probe'], 'probe-1');
      assert.ok(init.rawHeaders.some(([name, value]) => name.toLowerCase() === 'authorization' && value === 'Bearer client-token'));
      assert.equal(rec.last().method, 'DELETE', 'the session was terminated');
      rec.clear();
      assert.equal(rec.requests.length, 0);
    } finally {
      await rec.stop();
    }
  });

  test('a required fixed bearer: 401 without it or with another, served with it', async () => {
    const rec = await startRecordingServer({ requireBearer: 'upstream-secret' });
    try {
      const init = JSON.stringify({
        jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
      });
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      const none = await fetch(rec.url, { method: 'POST', headers, body: init });
      assert.equal(none.status, 401);
      assert.deepEqual(bearerChallenge(none), {});
      const wrong = await fetch(rec.url, { method: 'POST', headers: { ...headers, ...bearer('nope') }, body: init });
      assert.equal(wrong.status, 401);
      assert.equal(bearerChallenge(wrong).error, 'invalid_token');
      assert.deepEqual(rec.requests.map((r) => r.authorized), [false, false]);

      const conn = await connect(rec.url, {
        fetch: (url, i) => fetch(url, { ...i, headers: { ...Object.fromEntries(new Headers(i?.headers)), ...bearer('upstream-secret') } }),
      });
      try {
        assert.equal(resultText(await conn.client.callTool({ name: 'echo', arguments: {} })), 'recording-server ok');
      } finally {
        await conn.close();
      }
      assert.ok(rec.requests.slice(2).every((r) => r.authorized === true));
    } finally {
      await rec.stop();
    }
  });

  test('a bearer checked by introspection at the IdP: active, audience and scope; revoked → 401', async () => {
    const rec = await startRecordingServer({ requireBearer: { idp, audience: OPAQUE, scope: 'mcp:read' } });
    const withToken = (token) => (url, i) =>
      fetch(url, { ...i, headers: { ...Object.fromEntries(new Headers(i?.headers)), ...bearer(token) } });
    try {
      const token = await idp.clientCredentialsToken({ clientId: 'svc', resource: OPAQUE, scope: 'mcp:read' });
      const conn = await connect(rec.url, { fetch: withToken(token) });
      try {
        const who = JSON.parse(resultText(await conn.client.callTool({ name: 'whoami', arguments: {} })));
        assert.equal(who.active, true);
        assert.equal(who.client_id, 'svc');
        assert.equal(await idp.revoke(token), 200);
        await assert.rejects(conn.client.callTool({ name: 'echo', arguments: {} }), { code: 401 });
      } finally {
        await conn.close();
      }
      const otherAudience = await idp.clientCredentialsToken({ clientId: 'svc', resource: SHORT, scope: 'mcp:read' });
      await assert.rejects(connect(rec.url, { fetch: withToken(otherAudience) }), { code: 401 });
      const noScope = await idp.clientCredentialsToken({ clientId: 'svc', resource: OPAQUE, scope: 'mcp:write' });
      await assert.rejects(connect(rec.url, { fetch: withToken(noScope) }), { code: 401 });
    } finally {
      await rec.stop();
    }
  });

  test('runs as a process too: fixture.ready on stdout, the bearer from the command line', async () => {
    const proc = spawn(NODE, [`${REPO_ROOT}/tests/fixtures/recording-server.mjs`, '--http', '0', '--require-bearer', 'cli-secret'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const ready = await new Promise((resolve, reject) => {
        createInterface({ input: proc.stdout }).on('line', (line) => {
          try { const rec = JSON.parse(line); if (rec.event === 'fixture.ready') resolve(rec); } catch { /* not ours */ }
        });
        proc.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      const res = await fetch(ready.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 401);
      const conn = await connect(ready.url, {
        fetch: (url, i) => fetch(url, { ...i, headers: { ...Object.fromEntries(new Headers(i?.headers)), ...bearer('cli-secret') } }),
      });
      try {
        const seen = JSON.parse(resultText(await conn.client.callTool({ name: 'seen_headers', arguments: {} })));
        assert.equal(seen.at(-1).headers.authorization, 'Bearer cli-secret');
      } finally {
        await conn.close();
      }
    } finally {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
  });
});
