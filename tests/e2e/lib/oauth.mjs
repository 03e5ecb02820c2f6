// OAuth for the e2e tests: an in-memory OAuthClientProvider for the official SDK's client
// transports whose "browser" is the IdP fixture's automated login (tests/fixtures/idp.mjs), a
// connectWithOAuth() that runs the SDK's whole authorization dance, and small token helpers.
//
// The SDK's flow (1.32.2, client/auth.js + client/streamableHttp.js), which connectWithOAuth drives:
//   POST initialize → 401 + WWW-Authenticate: Bearer resource_metadata="…"
//   → GET protected resource metadata (RFC 9728) → GET AS metadata (RFC 8414, then OIDC discovery)
//   → POST registration (RFC 7591) unless the provider has client information
//   → provider.redirectToAuthorization(url)   [PKCE S256, `resource` (RFC 8707), scope from the
//                                               challenge or the PRM's scopes_supported]
//   → auth() returns 'REDIRECT' and the transport throws UnauthorizedError
//   → transport.finishAuth(code): token request with code_verifier and `resource`
//   → a new transport (the failed connect closed the first one) sends the bearer token.
// Here redirectToAuthorization() follows the authorization URL with fetch through the IdP's
// automated login and keeps the code, so finishAuth can be called at once.
import { randomBytes } from 'node:crypto';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { DEFAULT_REDIRECT_URI, followAuthorization } from '../../fixtures/idp.mjs';

export { followAuthorization, DEFAULT_REDIRECT_URI, UnauthorizedError };

/**
 * An OAuthClientProvider (SDK interface) that keeps everything in memory and "redirects" by
 * following the authorization URL through the IdP's automated login.
 *
 * Options: `redirectUrl` (default DEFAULT_REDIRECT_URI, never contacted), `loginHint` (which IdP
 * account signs in; default: the IdP's defaultAccount), `clientMetadata` (merged into the RFC 7591
 * registration body), `clientInformation` (a pre-registered `{client_id, client_secret?}`: no DCR),
 * `scope` (fallback scope when neither the challenge nor the PRM gives one), `fetch`,
 * `keepRefreshToken` (default true; false stores tokens without their refresh_token — see below).
 *
 * Step-up with SDK 1.32.2: on 403 insufficient_scope the SDK's auth() refreshes the token when it
 * holds a refresh token, and a refresh cannot widen the scope (RFC 6749 section 6), so the retry
 * gets the same 403 and the transport gives up ("Server returned 403 after trying upscoping";
 * modelcontextprotocol/typescript-sdk#2255). Tests of step-up use `keepRefreshToken: false`, which
 * sends the SDK to a new authorization with the challenged scope.
 *
 * After a redirect, `authorizationCode` holds the code (or `authorizationError` the reason), and
 * `authorizationUrls` / `authorizationResponses` every URL followed and what came back.
 */
export class InMemoryOAuthClientProvider {
  constructor({
    redirectUrl = DEFAULT_REDIRECT_URI, loginHint, clientMetadata = {}, clientInformation, scope, fetch: fetchImpl,
    keepRefreshToken = true,
  } = {}) {
    this.keepRefreshToken = keepRefreshToken;
    this._redirectUrl = String(redirectUrl);
    this.loginHint = loginHint;
    this._clientMetadata = {
      client_name: 'mcpgate-e2e',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(scope && { scope }),
      ...clientMetadata,
    };
    this._clientInformation = clientInformation;
    this._fetch = fetchImpl;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this._state = undefined;
    this._discovery = undefined;
    this.authorizationCode = undefined;
    this.authorizationError = undefined;
    this.authorizationUrls = [];
    this.authorizationResponses = [];
    this.invalidations = [];
  }

  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() { return this._clientMetadata; }

  state() {
    this._state = randomBytes(16).toString('base64url');
    return this._state;
  }

  clientInformation() { return this._clientInformation; }
  saveClientInformation(info) { this._clientInformation = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) {
    if (this.keepRefreshToken) this._tokens = tokens;
    else { const { refresh_token: _dropped, ...rest } = tokens; this._tokens = rest; } // eslint-disable-line no-unused-vars
  }
  saveCodeVerifier(v) { this._codeVerifier = v; }
  codeVerifier() {
    if (!this._codeVerifier) throw new Error('no code verifier saved');
    return this._codeVerifier;
  }
  saveDiscoveryState(state) { this._discovery = state; }
  discoveryState() { return this._discovery; }

  invalidateCredentials(scope) {
    this.invalidations.push(scope);
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }

  /** The "browser": follow the URL through the automated login; keep the code (checked first). */
  async redirectToAuthorization(authorizationUrl) {
    this.authorizationCode = undefined;
    this.authorizationError = undefined;
    this.authorizationUrls.push(new URL(authorizationUrl));
    const answer = await followAuthorization(authorizationUrl, {
      redirectUri: this._redirectUrl, loginHint: this.loginHint, fetch: this._fetch,
    });
    this.authorizationResponses.push(answer);
    const problem = this._checkAuthorizationResponse(answer);
    if (problem) this.authorizationError = problem;
    else this.authorizationCode = answer.code;
  }

  // What a careful client checks before sending the code anywhere: `state`, and RFC 9207 `iss`
  // (required by the 2026-07-28 MCP authorization spec when the AS advertises
  // authorization_response_iss_parameter_supported; compared as strings, no normalisation).
  _checkAuthorizationResponse(answer) {
    if (answer.error) return `${answer.error}${answer.error_description ? `: ${answer.error_description}` : ''}`;
    if (this._state !== undefined && answer.state !== this._state) return 'state mismatch in the authorization response';
    const metadata = this._discovery?.authorizationServerMetadata;
    if (answer.iss !== undefined || metadata?.authorization_response_iss_parameter_supported) {
      if (answer.iss !== metadata?.issuer) return `iss ${answer.iss} in the authorization response is not the issuer ${metadata?.issuer}`;
    }
    if (!answer.code) return 'no code in the authorization response';
    return undefined;
  }
}

/**
 * Connect an SDK Client to the MCP endpoint `url` that requires OAuth, doing the whole dance
 * (see the top of this file). `idp` (the startIdp handle, or null) is the authorization server
 * expected to be found by discovery: the connection fails if discovery lands elsewhere.
 *
 * Options: `provider` (an InMemoryOAuthClientProvider to reuse, e.g. already holding tokens or
 * client information), else the InMemoryOAuthClientProvider options (`loginHint`, `scope`,
 * `clientMetadata`, `clientInformation`, `redirectUrl`, `keepRefreshToken`); `capabilities`, `clientInfo`, `fetch`
 * (for the MCP requests and the OAuth ones), `transportOptions` (more StreamableHTTPClientTransport options).
 *
 * Resolves to `{ client, transport, provider, authorized (false when stored tokens sufficed),
 * withReauth(fn), close() }`. `withReauth(fn)` runs `fn()` and, if it throws UnauthorizedError
 * (the SDK's step-up after a 403 insufficient_scope, or a 401 once the token expired), finishes
 * the new authorization and runs `fn()` once more.
 */
export async function connectWithOAuth(url, idp, options = {}) {
  const { provider: given, capabilities = {}, clientInfo, fetch: fetchImpl, transportOptions = {}, ...providerOptions } = options;
  const provider = given ?? new InMemoryOAuthClientProvider({ fetch: fetchImpl, ...providerOptions });
  const makeTransport = () => new StreamableHTTPClientTransport(new URL(url), {
    authProvider: provider,
    ...(fetchImpl && { fetch: fetchImpl }),
    reconnectionOptions: { maxRetries: 1, initialReconnectionDelay: 200, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 1 },
    ...transportOptions,
  });
  const makeClient = () => new Client(clientInfo ?? { name: 'mcpgate-e2e-oauth', version: '0.0.0' }, { capabilities });

  const finish = async (transport) => {
    if (!provider.authorizationCode) {
      throw new Error(`authorization did not produce a code: ${provider.authorizationError ?? 'no redirect happened'}`);
    }
    const found = provider.discoveryState()?.authorizationServerUrl;
    if (idp && found && !sameIssuer(found, idp.issuer)) {
      throw new Error(`discovery found authorization server ${found}, expected ${idp.issuer}`);
    }
    const code = provider.authorizationCode;
    provider.authorizationCode = undefined; // a code is good once
    await transport.finishAuth(code);
  };

  let client = makeClient();
  let transport = makeTransport();
  let authorized = false;
  try {
    await client.connect(transport);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    await finish(transport); // the failed connect closed `client` and `transport`
    authorized = true;
    client = makeClient();
    transport = makeTransport();
    await client.connect(transport);
  }
  const conn = {
    client,
    transport,
    provider,
    authorized,
    async withReauth(fn) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
        await finish(conn.transport);
        return fn();
      }
    },
    async close() {
      await conn.transport.terminateSession().catch(() => {});
      await conn.client.close();
    },
  };
  return conn;
}

const sameIssuer = (a, b) => {
  const strip = (s) => String(s).replace(/\/$/, '');
  return strip(a) === strip(b);
};

// ---------------------------------------------------------------------------------------------
// Tokens

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** The payload of a compact JWT (not verified). */
export const decodeJwt = (token) => b64json(String(token).split('.')[1]);
/** The protected header of a compact JWT (not verified). */
export const decodeJwtHeader = (token) => b64json(String(token).split('.')[0]);

/**
 * `token` with its payload changed (`changes` merged; a claim set to undefined removed) or its
 * header (`{ header: {...} }`), keeping the original signature: a tampered token that must fail
 * verification.
 */
export function tamperJwt(token, changes = {}, { header: headerChanges } = {}) {
  const [h, p, sig] = String(token).split('.');
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const merge = (obj, ch) => {
    const out = { ...obj, ...ch };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  };
  const header = headerChanges ? enc(merge(b64json(h), headerChanges)) : h;
  return `${header}.${enc(merge(b64json(p), changes))}.${sig}`;
}

/** `{ authorization: 'Bearer <token>' }`, for fetch headers. */
export const bearer = (token) => ({ authorization: `Bearer ${token}` });

// ---------------------------------------------------------------------------------------------
// Protected resource side

/**
 * Parse a WWW-Authenticate header value into its challenges: `[{ scheme, params: {k: v} }]`
 * (scheme as sent, param names lowercased, quoted values unescaped).
 */
export function parseWwwAuthenticate(value) {
  const challenges = [];
  const s = String(value ?? '');
  let i = 0;
  const skipWs = () => { while (i < s.length && /[\s,]/.test(s[i])) i++; };
  const token = () => { const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i)); if (!m) return ''; i += m[0].length; return m[0]; };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) break;
    const challenge = { scheme, params: {} };
    challenges.push(challenge);
    for (;;) {
      const save = i;
      while (i < s.length && /[\s,]/.test(s[i])) i++;
      const name = token();
      while (i < s.length && s[i] === ' ') i++;
      if (!name || s[i] !== '=') { i = save; break; } // next challenge (or token68, ignored)
      i++;
      while (i < s.length && s[i] === ' ') i++;
      let v = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') { if (s[i] === '\\') i++; v += s[i++] ?? ''; }
        i++;
      } else {
        v = token();
      }
      challenge.params[name.toLowerCase()] = v;
    }
  }
  return challenges;
}

/** The parameters of the Bearer challenge in a response's WWW-Authenticate (or undefined). */
export function bearerChallenge(response) {
  const value = response.headers.get?.('www-authenticate') ?? response.headers['www-authenticate'];
  return parseWwwAuthenticate(value).find((c) => c.scheme.toLowerCase() === 'bearer')?.params;
}

/**
 * Fetch the RFC 9728 protected resource metadata for the MCP endpoint `mcpUrl`: from
 * `resourceMetadataUrl` when given (e.g. bearerChallenge(res).resource_metadata), else the
 * well-known URLs in the spec's order (path-inserted, then root). Resolves to
 * `{ url, metadata }`; throws when none answers 200 with JSON.
 */
export async function fetchProtectedResourceMetadata(mcpUrl, { resourceMetadataUrl, fetch: fetchImpl = fetch } = {}) {
  const u = new URL(mcpUrl);
  const candidates = resourceMetadataUrl ? [String(resourceMetadataUrl)] : [
    ...(u.pathname !== '/' ? [new URL(`/.well-known/oauth-protected-resource${u.pathname.replace(/\/$/, '')}`, u).href] : []),
    new URL('/.well-known/oauth-protected-resource', u).href,
  ];
  const tried = [];
  for (const url of candidates) {
    const res = await fetchImpl(url, { headers: { accept: 'application/json' } });
    tried.push(`${url} → ${res.status}`);
    if (res.status === 200) return { url, metadata: await res.json() };
    await res.body?.cancel();
  }
  throw new Error(`no protected resource metadata: ${tried.join(', ')}`);
}
