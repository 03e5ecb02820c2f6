// Modern (2026-07-28) requests for e2e tests: stateless, each on its own connection, with the
// headers that mirror the body; and subscriptions/listen streams read as they arrive.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { NODE, REPO_ROOT } from './gateway.mjs';

export const MODERN = '2026-07-28';

let nextId = 1;
/** A fresh request id (numbers, unique in this process). */
export const nextRequestId = () => nextId++;

/** A modern request: params plus the _meta every 2026-07-28 request carries. */
export function modernRequest(method, params, capabilities = {}) {
  return {
    jsonrpc: '2.0', id: nextId++, method,
    params: {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': MODERN,
        'io.modelcontextprotocol/clientCapabilities': capabilities,
        'io.modelcontextprotocol/clientInfo': { name: 'mcpgate-e2e', version: '0.0.0' },
      },
    },
  };
}
export const toolCall = (name, args, capabilities) => modernRequest('tools/call', { name, arguments: args }, capabilities);

/** The headers that mirror a modern body: Mcp-Method, and Mcp-Name where the method has one. */
export function mirrorHeaders(body) {
  const headers = {
    'content-type': 'application/json', accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN, 'mcp-method': body.method,
  };
  const name = body.method?.startsWith('tasks/') ? body.params?.taskId : body.params?.name ?? body.params?.uri;
  if (['tools/call', 'prompts/get', 'resources/read', 'tasks/get', 'tasks/update', 'tasks/cancel'].includes(body.method) &&
      typeof name === 'string') {
    headers['mcp-name'] = name;
  }
  return headers;
}

/** The JSON-RPC messages of an SSE body. */
export function sseMessages(text) {
  return text.replace(/\r\n?/g, '\n').split('\n\n')
    .map((e) => e.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'))
    .filter(Boolean).map((d) => JSON.parse(d));
}

/** POST on a fresh connection (agent: false) with the headers that mirror the body; gives up after timeoutMs.
 * Resolves to {status, headers, text, json (the response message)}. */
export function send(url, body, { timeoutMs = 30_000, headers: extra = {} } = {}) {
  const headers = { ...mirrorHeaders(body), ...extra };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let messages;
        if ((res.headers['content-type'] ?? '').includes('text/event-stream')) {
          messages = sseMessages(text);
        } else {
          try { messages = [JSON.parse(text)]; } catch { messages = []; }
        }
        const json = messages.findLast((m) => 'result' in m || 'error' in m);
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to ${body.method} within ${timeoutMs} ms`)));
    req.end(JSON.stringify(body));
  });
}

/** The result of a 200 answer to `request`, asserting it is one. */
export function resultOf(res, request) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 800)}`;
  assert.equal(res.status, 200, detail);
  assert.equal(res.json?.id, request.id, `the answer carries the request's own id; ${detail}`);
  assert.ok(res.json?.result, `expected a result; ${detail}`);
  return res.json.result;
}

/** Opens subscriptions/listen on `url`; resolves once the response head is in, to
 * {status, messages (grows as they arrive), next(predicate, ms), close()}. */
export function openListen(url, notifications, capabilities = {}) {
  const body = modernRequest('subscriptions/listen', { notifications }, capabilities);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: mirrorHeaders(body), agent: false }, (res) => {
      const messages = [];
      let buffer = '';
      const waiters = [];
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          messages.push(...sseMessages(buffer.slice(0, end + 2)));
          buffer = buffer.slice(end + 2);
        }
        for (const w of [...waiters]) w();
      });
      res.on('error', () => {});
      const next = (predicate, ms = 10_000) => new Promise((res2, rej2) => {
        const check = () => {
          const found = messages.find(predicate);
          if (found === undefined) return false;
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          res2(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          rej2(new Error(`no matching message within ${ms} ms; got ${JSON.stringify(messages).slice(0, 800)}`));
        }, ms);
        waiters.push(check);
        check();
      });
      resolve({ id: body.id, status: res.statusCode, messages, next, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

// ---------------------------------------------------------------------------------------------
// The modern fixture server (tests/fixtures/modern-server.mjs, on the official modern SDK).

export const MODERN_SERVER = join(REPO_ROOT, 'tests/fixtures/modern-server.mjs');
// The fixture loads @modelcontextprotocol/server from tests/conformance (npm ci there).
export const NO_MODERN_SDK = !existsSync(join(REPO_ROOT, 'tests/conformance/node_modules/@modelcontextprotocol/server'))
  ? 'needs `npm ci` in tests/conformance (the modern SDK)' : false;

export const modernStdio = (name = 'modern', args = []) => ({ name, command: [NODE, MODERN_SERVER, '--stdio', ...args] });

/** Starts the modern fixture over HTTP (with extra `args`, e.g. ['--tasks']); resolves to {url, stop()}. */
export const startModernHttp = (args = []) => startFixtureHttp(MODERN_SERVER, args);

// The legacy (2025-11-25) fixture of the conformance suite (tests/conformance/fixture-server.mjs, on the
// official v1 SDK): stateful HTTP sessions with GET streams, logging/setLevel, resources/subscribe.
export const LEGACY_SERVER = join(REPO_ROOT, 'tests/conformance/fixture-server.mjs');
export const NO_LEGACY_SDK = !existsSync(join(REPO_ROOT, 'tests/conformance/node_modules/@modelcontextprotocol/sdk'))
  ? 'needs `npm ci` in tests/conformance (the v1 SDK)' : false;
export const legacyStdio = (name = 'legacy') => ({ name, command: [NODE, LEGACY_SERVER, '--stdio'] });
/** Starts the legacy fixture over HTTP; resolves to {url, stop()}. */
export const startLegacyHttp = () => startFixtureHttp(LEGACY_SERVER, []);

/** Starts a fixture that prints {"event":"fixture.ready","url":...} once bound; resolves to {url, stop()}. */
async function startFixtureHttp(script, args) {
  const proc = spawn(NODE, [script, '--http', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((res) => proc.once('exit', res));
  const ready = new Promise((res, rej) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const rec = JSON.parse(line);
        if (rec.event === 'fixture.ready') res(rec.url);
      } catch { /* not ours */ }
    });
    exited.then((code) => rej(new Error(`fixture ${script} exited (code ${code}):\n${log}`)));
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  try {
    const url = await ready;
    return { url, stop: async () => { proc.kill('SIGTERM'); await exited; } };
  } finally {
    clearTimeout(timer);
  }
}

