#!/usr/bin/env node
// NOT mcpgate. A rough stand-in written with the MCP SDK, only to check the e2e tests' own
// logic before the real gateway works:  MCPGATE_BIN=tests/e2e/tools/mock-gateway.mjs node --test tests/e2e/
// It does aggregation/renaming and stream routing (one upstream connection set per client
// session) but none of the gateway's input checks, timeouts or health logic, so bad-input,
// upstream-failure and SIGTERM tests are expected to fail against it.
// Reads only the `servers:` entries the harness writes (crude regex, not a YAML parser).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as T from '@modelcontextprotocol/sdk/types.js';

const yaml = readFileSync(process.argv[process.argv.indexOf('-c') + 1], 'utf8');
// crude: extract servers
const servers = [];
for (const m of yaml.matchAll(/- name: "([^"]+)"\n\s+(command|url): (.*)/g)) servers.push({ name: m[1], [m[2]]: JSON.parse(m[3]) });

async function upstreams(only, ctx) {
  const out = [];
  for (const s of servers.filter((s) => !only || s.name === only)) {
    const c = new Client({ name: 'mock', version: '0' }, { capabilities: { sampling: {}, elicitation: {} } });
    c.setRequestHandler(T.CreateMessageRequestSchema, (r) => ctx.extra.sendRequest(r, T.CreateMessageResultSchema));
    c.setRequestHandler(T.ElicitRequestSchema, (r) => ctx.extra.sendRequest(r, T.ElicitResultSchema));
    const tr = s.command ? new StdioClientTransport({ command: s.command[0], args: s.command.slice(1), stderr: 'ignore' })
      : new StreamableHTTPClientTransport(new URL(s.url));
    await c.connect(tr);
    out.push({ name: s.name, c });
  }
  return out;
}

function makeServer(only) {
  const ctx = {};
  const srv = new Server({ name: 'mockgw', version: '0' }, { capabilities: { tools: { listChanged: true }, prompts: {}, resources: { subscribe: true, listChanged: true }, logging: {} } });
  const ready = upstreams(only, ctx);
  const pre = (n, x) => (only ? x : `${n}__${x}`);
  const preU = (n, u) => (only ? u : `${n}+${u}`);
  const split = (x, sep) => { if (only) return [only, x]; const i = x.indexOf(sep); return i < 0 ? [null, x] : [x.slice(0, i), x.slice(i + sep.length)]; };
  const find = async (n, code) => { const u = (await ready).find((u) => u.name === n); if (!u) throw new T.McpError(code, 'unknown'); return u.c; };
  const all = async (fn) => { const r = []; for (const u of await ready) { try { r.push(...(await fn(u))); } catch {} } return r; };
  ready.then((us) => us.forEach((u) => {
    u.c.setNotificationHandler(T.ResourceUpdatedNotificationSchema, (n) => srv.notification({ method: n.method, params: { uri: preU(u.name, n.params.uri) } }));
    u.c.setNotificationHandler(T.ResourceListChangedNotificationSchema, (n) => srv.notification(n));
    u.c.setNotificationHandler(T.LoggingMessageNotificationSchema, (n) => srv.notification(n));
  }));
  srv.setRequestHandler(T.ListToolsRequestSchema, async () => ({ tools: await all(async (u) => (await u.c.listTools()).tools.map((t) => ({ ...t, name: pre(u.name, t.name) }))) }));
  srv.setRequestHandler(T.ListPromptsRequestSchema, async () => ({ prompts: await all(async (u) => (await u.c.listPrompts()).prompts.map((t) => ({ ...t, name: pre(u.name, t.name) }))) }));
  srv.setRequestHandler(T.ListResourcesRequestSchema, async () => ({ resources: await all(async (u) => (await u.c.listResources()).resources.map((t) => ({ ...t, uri: preU(u.name, t.uri) }))) }));
  srv.setRequestHandler(T.ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: await all(async (u) => (await u.c.listResourceTemplates()).resourceTemplates.map((t) => ({ ...t, uriTemplate: preU(u.name, t.uriTemplate) }))) }));
  srv.setRequestHandler(T.CallToolRequestSchema, async (req, extra) => {
    const [n, name] = split(req.params.name, '__');
    const c = await find(n, -32602);
    ctx.extra = extra;
    const tok = req.params._meta?.progressToken;
    const r = await c.callTool({ name, arguments: req.params.arguments }, undefined, {
      signal: extra.signal, timeout: 60000,
      onprogress: tok === undefined ? undefined : (p) => extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: tok } }),
    });
    if (r.isError) throw new T.McpError(-32602, 'unknown tool');
    r.content = r.content.map((x) => (x.type === 'resource_link' ? { ...x, uri: preU(n, x.uri) } : x));
    return r;
  });
  srv.setRequestHandler(T.GetPromptRequestSchema, async (req) => { const [n, name] = split(req.params.name, '__'); return (await find(n, -32602)).getPrompt({ ...req.params, name }); });
  srv.setRequestHandler(T.ReadResourceRequestSchema, async (req) => { const [n, uri] = split(req.params.uri, '+'); return (await find(n, -32002)).readResource({ uri }); });
  srv.setRequestHandler(T.SubscribeRequestSchema, async (req) => { const [n, uri] = split(req.params.uri, '+'); return (await find(n, -32002)).subscribeResource({ uri }); });
  srv.setRequestHandler(T.UnsubscribeRequestSchema, async (req) => { const [n, uri] = split(req.params.uri, '+'); return (await find(n, -32002)).unsubscribeResource({ uri }); });
  return srv;
}

const sessions = new Map();
const hs = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/healthz' || url.pathname === '/readyz') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{}'); }
  const m = url.pathname === '/mcp' ? [null, null] : url.pathname.match(/^\/servers\/([^/]+)\/mcp$/);
  if (!m || (m[1] && !servers.some((s) => s.name === m[1]))) { res.writeHead(404); return res.end(); }
  const sid = req.headers['mcp-session-id'];
  let t = sid && sessions.get(sid);
  if (!t) {
    if (sid) { res.writeHead(404); return res.end(); }
    t = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => sessions.set(id, t) });
    await makeServer(m[1]).connect(t);
  }
  await t.handleRequest(req, res);
});
hs.listen(0, '127.0.0.1', () => console.error(JSON.stringify({ event: 'listen.ready', address: `127.0.0.1:${hs.address().port}` })));
process.on('SIGTERM', () => process.exit(0));
