// Harness for the mcpgate end-to-end tests.
//
// It starts real processes (the gateway binary, reference MCP servers from npm) on kernel-chosen
// ports, talks to them with the official MCP SDK client or with raw fetch, and always tears them
// down. Everything a test needs is here so the test files read as plain scenarios.
//
// Environment:
//   MCPGATE_BIN          gateway binary (default: <repo>/build/mcpgate)
//   MCPGATE_E2E_DIRECT=1 run the protocol-feature tests straight against server-everything (no
//                        gateway); gateway-only tests are skipped. Validates the tests themselves.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const GATEWAY_BIN = process.env.MCPGATE_BIN
  ? resolve(process.env.MCPGATE_BIN)
  : join(REPO_ROOT, 'build/mcpgate');
export const DIRECT = process.env.MCPGATE_E2E_DIRECT === '1';
/** Pass as `skip` to tests that only make sense with the gateway in front. */
export const GATEWAY_ONLY = DIRECT ? 'needs the gateway (MCPGATE_E2E_DIRECT=1)' : false;

const MODULES = join(REPO_ROOT, 'node_modules/@modelcontextprotocol');
export const EVERYTHING_ENTRY = join(MODULES, 'server-everything/dist/index.js');
export const FILESYSTEM_ENTRY = join(MODULES, 'server-filesystem/dist/index.js');
export const SLOW_SERVER = join(REPO_ROOT, 'tests/e2e/fixtures/slow-server.mjs');

/**
 * Absolute path of this node binary, for upstream commands: the gateway may scrub PATH from
 * the environment of the processes it launches, so a bare "node" might not resolve.
 */
export const NODE = process.execPath;

/** Upstream config entries for the reference servers (gateway `servers:` list items). */
export const everythingStdio = (name = 'everything') =>
  ({ name, command: [NODE, EVERYTHING_ENTRY, 'stdio'] });
export const filesystemStdio = (dir, name = 'fs') =>
  ({ name, command: [NODE, FILESYSTEM_ENTRY, dir] });

/**
 * The authorization policy that lets every authenticated caller use everything: with `auth`, the
 * gateway denies what no role allows, so tests about identity (not authorization) spread this in.
 */
export const ALLOW_AUTHENTICATED = {
  roles: [{ name: 'everyone', allow: [{ tools: ['*'] }, { prompts: ['*'] }, { resources: ['*'] }] }],
  bindings: [{ role: 'everyone', match: { authenticated: true } }],
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value; throw naming `what` after `timeoutMs`. */
export async function waitFor(fn, { timeoutMs = 5000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// Every process we spawn is tracked so an interrupted run (Ctrl-C, a crashed test file) does not
// leave gateways or servers behind. Each gets its own process group (detached) so the gateway's
// stdio children go with it.
const live = new Set();
process.on('exit', () => { for (const p of live) killGroup(p, 'SIGKILL'); });

function killGroup(proc, signal) {
  if (proc.pid === undefined) return; // never started
  try { process.kill(-proc.pid, signal); } catch { /* already gone */ }
}

function spawnTracked(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(proc);
  // 'error' without 'exit' happens when the binary cannot be started at all (ENOENT).
  proc.exited = new Promise((res) => {
    proc.once('exit', (code, signal) => res({ code, signal }));
    proc.once('error', (error) => { if (proc.pid === undefined) res({ code: null, signal: null, error }); });
  }).finally(() => live.delete(proc));
  return proc;
}

/** Stop a spawned process: `signal`, then SIGKILL to its whole group after `graceMs`. */
async function stopProcess(proc, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), graceMs);
  const result = await proc.exited;
  clearTimeout(timer);
  killGroup(proc, 'SIGKILL'); // children the process left behind
  return result;
}

export async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** A fresh temp dir (real path: server-filesystem compares resolved paths). */
export function tempDir(prefix = 'mcpgate-e2e-') {
  return realpathSync(mkdtempSync(join(tmpdir(), prefix)));
}

// ---------------------------------------------------------------------------------------------
// YAML: a tiny emitter so the config the gateway reads is readable in diagnostics. Strings are
// JSON-quoted, which is valid YAML double-quoted style, so no value can be misparsed.

function toYaml(value, indent = '') {
  const scalar = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const isScalar = (v) => v === null || typeof v !== 'object';
  if (Array.isArray(value)) {
    if (value.every(isScalar)) return `[${value.map(scalar).join(', ')}]`;
    return value.map((item) => `\n${indent}- ${toYaml(item, indent + '  ').trimStart()}`).join('');
  }
  if (!isScalar(value)) {
    return Object.entries(value).map(([k, v]) => {
      const rendered = toYaml(v, indent + '  ');
      const sep = isScalar(v) || (Array.isArray(v) && v.every(isScalar)) ? ' ' : '';
      const body = !isScalar(v) && !Array.isArray(v) ? `\n${rendered}` : `${sep}${rendered}`;
      return `${indent}${k}:${body}`;
    }).join('\n');
  }
  return scalar(value);
}

// ---------------------------------------------------------------------------------------------
// The gateway process

export class Gateway {
  /**
   * `options.fetch`: the fetch used by get/post and for the /readyz wait (default: global fetch);
   * e.g. one that trusts a test CA when the first listener has `tls` (see lib/tls.mjs).
   */
  constructor(config, options = {}) {
    this.fetchImpl = options.fetch;
    this.dir = tempDir('mcpgate-gw-');
    this.config = {
      listen: [{ address: '127.0.0.1:0' }],
      workers: 2,
      state_dir: join(this.dir, 'var'),
      log_level: 'debug',
      allowed_origins: ['http://localhost:*'],
      limits: { max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 5000 },
      ...config,
    };
    mkdirSync(this.config.state_dir, { recursive: true });
    this.configPath = join(this.dir, 'config.yaml');
    writeFileSync(this.configPath, toYaml(this.config) + '\n');
    this.stderr = '';
    this.proc = null;
    this.baseUrl = null;
  }

  /** Start `mcpgate serve`, wait for listen.ready and (unless waitReady is false) /readyz 200. */
  async start({ timeoutMs = 15000, waitReady = true } = {}) {
    this.proc = spawnTracked(GATEWAY_BIN, ['serve', '-c', this.configPath], { cwd: this.dir });
    this.proc.stdout.on('data', (d) => { this.stderr += `[stdout] ${d}`; });
    const ready = new Promise((resolveReady, rejectReady) => {
      let pending = '';
      this.proc.stderr.on('data', (d) => {
        this.stderr += d;
        pending += d;
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          let rec;
          try { rec = JSON.parse(line); } catch { continue; } // tolerate non-JSON lines
          if (rec?.event === 'listen.ready' && typeof rec.address === 'string') resolveReady(rec);
        }
      });
      this.proc.on('error', rejectReady); // e.g. binary missing
      this.proc.exited.then(({ code, signal }) =>
        rejectReady(new Error(`gateway exited before listen.ready (code ${code}, signal ${signal})`)));
    });
    try {
      const { address, tls } = await withTimeout(ready, timeoutMs, 'listen.ready on gateway stderr');
      this.baseUrl = `${tls === true ? 'https' : 'http'}://${address}`;
      if (waitReady) {
        await waitFor(async () => (await this.get('/readyz').catch(() => null))?.status === 200,
          { timeoutMs, what: 'GET /readyz to return 200' });
      }
    } catch (err) {
      err.message += `\n${this.diagnostics()}`;
      await this.stop();
      throw err;
    }
    return this;
  }

  /** SIGTERM; resolves to {code, signal}. Kills the process group if it lingers. */
  async stop() {
    if (!this.proc) return null;
    const result = await stopProcess(this.proc);
    this.proc = null;
    cleanupDir(this.dir);
    return result;
  }

  /**
   * Wait until stderr has a line matching `re`. Log lines travel through a pipe and arrive on a
   * later turn of the event loop than the answer that follows them, so assert on them with this.
   */
  async logged(re, { timeoutMs = 5000 } = {}) {
    await waitFor(() => re.test(this.stderr), { timeoutMs, what: `a gateway log line matching ${re}` });
  }

  diagnostics(maxChars = 8000) {
    const tail = this.stderr.length > maxChars ? `…${this.stderr.slice(-maxChars)}` : this.stderr;
    return `--- gateway config (${this.configPath}) ---\n${toYaml(this.config)}\n` +
      `--- gateway stderr (tail) ---\n${tail || '(empty)'}\n--- end ---`;
  }

  url(path) { return new URL(path, this.baseUrl).href; }

  get(path, headers = {}) { return (this.fetchImpl ?? fetch)(this.url(path), { headers }); }

  /** Raw POST; see rawPost. */
  post(path, body, opts) { return rawPost(this.url(path), body, { fetch: this.fetchImpl, ...opts }); }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Register before/after hooks that run one gateway for the whole test file, and print its
 * config and stderr after any failed test. `makeConfig` may be async (it runs in `before`).
 * Returns a handle whose `.gw` is the started Gateway; clients from `handle.connect()` are closed
 * at the end. In DIRECT mode nothing is started.
 */
export function useGateway(makeConfig) {
  let starting;
  const handle = { gw: null, clients: [] };
  // Another `before` hook that needs the gateway must `await handle.ready()` (see useEverythingHttp).
  handle.ready = () => (starting ??= (async () => {
    if (!DIRECT) handle.gw = await new Gateway(await makeConfig()).start();
    return handle;
  })());
  handle.connect = async (path, opts) => {
    await handle.ready();
    const conn = await connect(handle.gw.url(path), opts);
    handle.clients.push(conn);
    return conn;
  };
  before(() => handle.ready());
  afterEach((t) => {
    if (!t.passed && handle.gw) console.error(`diagnostics for "${t.name}":\n${handle.gw.diagnostics()}`);
  });
  after(async () => {
    await starting?.catch(() => {});
    await Promise.allSettled(handle.clients.map((c) => c.close()));
    await handle.gw?.stop();
  });
  return handle;
}

/**
 * Run `fn(gw, connectTo)` against a gateway started just for it, for tests that need their own
 * configuration. Always stops the gateway and closes clients; a failure carries the gateway's
 * config and stderr in its message.
 */
export async function withGateway(config, fn, startOpts, gatewayOpts) {
  const gw = new Gateway(config, gatewayOpts);
  const clients = [];
  const connectTo = async (path, opts) => {
    const conn = await connect(gw.url(path), { fetch: gw.fetchImpl, ...opts });
    clients.push(conn);
    return conn;
  };
  try {
    await gw.start(startOpts); // its own failures already carry diagnostics
    try {
      return await fn(gw, connectTo);
    } catch (err) {
      if (err instanceof Error) err.message += `\n${gw.diagnostics()}`;
      throw err;
    }
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// server-everything over Streamable HTTP (the "remote" upstream, and the target of DIRECT mode)

/** Start `server-everything streamableHttp` on a free port. Its endpoint is `${url}` (/mcp). */
export async function startEverythingHttp({ timeoutMs = 15000 } = {}) {
  const port = await freePort();
  const proc = spawnTracked(NODE, [EVERYTHING_ENTRY, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
  });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  const listening = new Promise((res, rej) => {
    proc.stderr.on('data', (d) => { log += d; if (/listening on port/.test(log)) res(); });
    proc.exited.then(({ code }) => rej(new Error(`server-everything exited (code ${code}):\n${log}`)));
  });
  await withTimeout(listening, timeoutMs, 'server-everything to listen');
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    log: () => log,
    stop: () => stopProcess(proc, { graceMs: 2000 }),
  };
}

/**
 * Hooks that run server-everything over HTTP for the whole file; `.url` once started.
 * A gateway config that needs the URL must `await handle.ready()`: Node 20 runs a file's
 * top-level `before` hooks concurrently, so hook order alone does not sequence them.
 */
export function useEverythingHttp() {
  let starting;
  const handle = {
    url: null,
    server: null,
    ready: () => (starting ??= startEverythingHttp().then((server) => {
      Object.assign(handle, { server, url: server.url });
      return handle;
    })),
  };
  before(() => handle.ready());
  after(async () => { await starting?.catch(() => {}); await handle.server?.stop(); });
  return handle;
}

// ---------------------------------------------------------------------------------------------
// MCP clients

/**
 * A fetch that hands the SDK its responses unchanged but also records every JSON-RPC message
 * that arrives on an SSE stream, with the HTTP method of the request that opened the stream.
 * Tests use it to check *which* stream a message came on: server notifications on the GET
 * stream, request-scoped messages (progress, sampling, elicitation) on the POST stream.
 */
function recordingFetch(seen, fetchImpl) {
  return async (url, init) => {
    const res = await (fetchImpl ?? fetch)(url, init);
    const type = res.headers.get('content-type') ?? '';
    if (!type.includes('text/event-stream') || !res.body) return res;
    const via = (init?.method ?? 'GET').toUpperCase();
    const [forSdk, forUs] = res.body.tee();
    readSse(forUs, (message) => seen.push({ via, message })).catch(() => {});
    return new Response(forSdk, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** Parse an SSE byte stream and call onMessage with each event's JSON data. */
async function readSse(stream, onMessage) {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = event.split('\n').filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (data) { try { onMessage(JSON.parse(data)); } catch { /* not JSON: ignore */ } }
    }
  }
}

/**
 * Connect an SDK client over Streamable HTTP. `fetch` replaces the global fetch (e.g. for https
 * with a test CA).
 * @returns {{client: Client, seen: {via: string, message: object}[], close(): Promise<void>}}
 */
export async function connect(url, { capabilities = {}, setup, fetch: fetchImpl } = {}) {
  const seen = [];
  const client = new Client({ name: 'mcpgate-e2e', version: '0.0.0' }, { capabilities });
  setup?.(client); // request handlers must be set before connect (capability checks)
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: recordingFetch(seen, fetchImpl),
    // A dropped GET stream should surface as a test failure, not be retried for seconds.
    reconnectionOptions: { maxRetries: 1, initialReconnectionDelay: 200, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 1 },
  });
  await client.connect(transport);
  return {
    client,
    seen,
    close: async () => { await transport.terminateSession().catch(() => {}); await client.close(); },
  };
}

/**
 * A fetch for connect() that lets a test change what the SDK client answers to a server's requests: while
 * `replace` is set, each JSON-RPC response the client POSTs has its result replaced by `replace`. Every
 * answer posted is recorded in `posted` as {id, status, json} (the gateway's reply).
 */
export function answerTamperer() {
  const tamperer = { posted: [], replace: undefined };
  tamperer.fetch = async (url, init) => {
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    if (!body?.result || body.method !== undefined) return fetch(url, init);
    const sent = tamperer.replace !== undefined ? { ...body, result: tamperer.replace } : body;
    const res = await fetch(url, { ...init, body: JSON.stringify(sent) });
    tamperer.posted.push({ id: body.id, status: res.status, json: await res.clone().json().catch(() => undefined) });
    return res;
  };
  return tamperer;
}

/** Page through a list method; returns every item across pages and the number of pages. */
export async function listAll(client, method, key) {
  const items = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client[method](cursor ? { cursor } : {});
    items.push(...page[key]);
    cursor = page.nextCursor;
    pages++;
    if (pages > 100) throw new Error(`${method}: more than 100 pages, cursor loop?`);
  } while (cursor);
  return { items, pages };
}

/** The audit trail's records (JSON lines, checkpoints left out); [] while the file does not exist. */
export function auditRecords(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((r) => r.type !== 'checkpoint');
}

/** The error a tools/call is refused with; fails the test when the call is served. */
export async function callToolError(client, name, args) {
  try {
    await client.callTool({ name, arguments: args });
  } catch (err) {
    return err;
  }
  throw new Error(`${name} was served`);
}

/** All text of a tool result's text content blocks, joined. */
export const resultText = (result) =>
  (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');

// ---------------------------------------------------------------------------------------------
// Raw HTTP, for the bad-input tests

export const ACCEPT_BOTH = 'application/json, text/event-stream';

export const initializeBody = (id = 1) => ({
  jsonrpc: '2.0', id, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'mcpgate-e2e-raw', version: '0.0.0' } },
});

/**
 * POST `body` (object → JSON, or string/Buffer sent as is) with MCP's usual headers, overridable
 * (a header set to null is omitted). Resolves to {status, headers, json, text}; `json` is the
 * JSON body or the first SSE event's data, or undefined.
 */
export async function rawPost(url, body, { headers = {}, method = 'POST', fetch: fetchImpl } = {}) {
  const h = { 'content-type': 'application/json', accept: ACCEPT_BOTH };
  for (const [k, v] of Object.entries(headers)) {
    if (v === null) delete h[k.toLowerCase()]; else h[k.toLowerCase()] = v;
  }
  const payload = typeof body === 'string' || Buffer.isBuffer(body) || body === undefined
    ? body : JSON.stringify(body);
  const res = await (fetchImpl ?? fetch)(url, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const first = text.split(/\r?\n/).find((l) => l.startsWith('data:'));
    if (first) { try { json = JSON.parse(first.slice(5)); } catch { /* leave undefined */ } }
  } else {
    try { json = JSON.parse(text); } catch { /* leave undefined */ }
  }
  return { status: res.status, headers: res.headers, json, text };
}

export function cleanupDir(dir) { rmSync(dir, { recursive: true, force: true }); }
