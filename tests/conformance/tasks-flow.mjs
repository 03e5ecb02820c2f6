#!/usr/bin/env node
// A hand-run walk through the tasks extension (io.modelcontextprotocol/tasks,
// SEP-2663) against ../fixtures/modern-server.mjs: every request and response
// of a full task flow is printed, and each step is checked. It needs nothing
// but Node >= 22 (no SDK client: the requests are built by hand, so what is
// printed is exactly what goes on the wire).
//
//   node tests/conformance/tasks-flow.mjs                 start the fixture (--http 0 --tasks) and walk it
//   node tests/conformance/tasks-flow.mjs --stdio         start the fixture (--stdio --tasks) and walk it
//   node tests/conformance/tasks-flow.mjs --url URL       walk a running endpoint, e.g. through mcpgate:
//        --url http://127.0.0.1:PORT/servers/fixture/mcp
//   add --quiet to print only the step results.
//
// HTTP requests carry MCP-Protocol-Version: 2026-07-28, Mcp-Method: <method>
// and, for tools/call, Mcp-Name: <tool name>; for tasks/get, tasks/update and
// tasks/cancel, Mcp-Name: <params.taskId> (SEP-2663 "Streamable HTTP: Routing
// Headers"). Exit status 0 when every step held, 1 otherwise.
//
// The flow:
//   1. server/discover shows capabilities.extensions["io.modelcontextprotocol/tasks"]
//   2. tools/call slow_task without the extension declared -> -32021, data.requiredCapabilities
//   3. tools/call slow_task {ms: 300, text} with it -> CreateTaskResult (resultType "task")
//   4. tasks/get -> working ... completed, result.content[0].text == text
//   5. tools/call task_with_input -> task; tasks/get until input_required (inputRequests.answer
//      is an elicitation/create form request); tasks/update {inputResponses: {answer: accept}}
//      -> empty ack; tasks/get until completed "You answered: ..."
//   6. tools/call slow_task {ms: 60000}; tasks/cancel -> empty ack; tasks/get -> cancelled
//   7. tasks/get for an unknown taskId -> -32602; tasks/get without the extension -> -32021
//   8. (HTTP) tasks/get whose Mcp-Name is not the taskId -> HTTP 400, -32020

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.resolve(HERE, '..', 'fixtures', 'modern-server.mjs');
const TASKS = 'io.modelcontextprotocol/tasks';
const REVISION = '2026-07-28';

const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const stdio = args.includes('--stdio');
const urlArg = args.includes('--url') ? args[args.indexOf('--url') + 1] : undefined;
if (args.includes('--url') && !urlArg) {
  console.error('usage: tasks-flow.mjs [--url URL | --stdio] [--quiet]');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const show = (...a) => quiet || console.log(...a);
let failures = 0;
function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || detail === undefined ? '' : `: ${detail}`}`);
  if (!ok) failures++;
}

const envelope = (capabilities) => ({
  'io.modelcontextprotocol/protocolVersion': REVISION,
  'io.modelcontextprotocol/clientInfo': { name: 'tasks-flow', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': capabilities
});
const WITH_TASKS = { elicitation: {}, extensions: { [TASKS]: {} } };
const WITHOUT_TASKS = { elicitation: {} };

function nameFor(method, params) {
  if (method === 'tools/call' || method === 'prompts/get') return params.name;
  if (method === 'resources/read') return params.uri;
  if (method.startsWith('tasks/')) return params.taskId;
  return undefined;
}

// ---------------------------------------------------------------------------
// Transports: each returns { status?, message } for one request.
// ---------------------------------------------------------------------------

let nextId = 1;

function httpTransport(url) {
  return {
    label: `HTTP ${url}`,
    async send(body, { mcpName } = {}) {
      const headers = {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'MCP-Protocol-Version': REVISION,
        'Mcp-Method': body.method
      };
      const name = mcpName ?? nameFor(body.method, body.params);
      if (name !== undefined) headers['Mcp-Name'] = name;
      show(`> POST ${url}`);
      for (const [k, v] of Object.entries(headers)) show(`> ${k}: ${v}`);
      show(`> ${JSON.stringify(body)}`);
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
      const type = res.headers.get('content-type') ?? '';
      const raw = await res.text();
      let message;
      if (type.includes('text/event-stream')) {
        // The response to this request is the data: line carrying its id.
        for (const line of raw.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const m = JSON.parse(line.slice(5));
          if (m.id === body.id) message = m;
        }
      } else {
        message = raw ? JSON.parse(raw) : undefined;
      }
      show(`< HTTP ${res.status} ${type}`);
      show(`< ${JSON.stringify(message)}\n`);
      return { status: res.status, message };
    },
    close() {}
  };
}

function stdioTransport(child) {
  const pending = new Map();
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      const m = JSON.parse(line);
      if (m.id !== undefined && pending.has(m.id)) {
        pending.get(m.id)(m);
        pending.delete(m.id);
      }
    }
  });
  return {
    label: 'stdio',
    async send(body) {
      show(`> ${JSON.stringify(body)}`);
      const reply = new Promise((resolve) => pending.set(body.id, resolve));
      child.stdin.write(JSON.stringify(body) + '\n');
      const message = await Promise.race([reply, sleep(10_000).then(() => ({ timeout: true }))]);
      show(`< ${JSON.stringify(message)}\n`);
      return { message };
    },
    close() {
      child.stdin.end();
    }
  };
}

async function startHttpFixture() {
  const child = spawn(process.execPath, [FIXTURE, '--http', '0', '--tasks'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.includes('fixture.ready'));
      if (line) resolve(JSON.parse(line).url);
    });
    child.once('exit', (code) => reject(new Error(`fixture exited (${code})`)));
  });
  return { child, url };
}

// ---------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------

async function flow(t) {
  const rpc = async (method, params, capabilities = WITH_TASKS, opts) => {
    const body = { jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: envelope(capabilities) } };
    return t.send(body, opts);
  };
  const poll = async (taskId, until, limitMs = 10_000) => {
    const start = Date.now();
    for (;;) {
      const { message } = await rpc('tasks/get', { taskId });
      const task = message?.result;
      if (!task || until.includes(task.status) || ['completed', 'failed', 'cancelled'].includes(task.status)) return task;
      if (Date.now() - start > limitMs) return task;
      await sleep(task.pollIntervalMs ?? 200);
    }
  };

  console.log(`# tasks flow over ${t.label}`);

  const discover = (await rpc('server/discover', {})).message?.result;
  check(discover?.capabilities?.extensions?.[TASKS] !== undefined, '1. server/discover advertises the tasks extension');

  const refused = await rpc('tools/call', { name: 'slow_task', arguments: { ms: 300, text: 'x' } }, WITHOUT_TASKS);
  check(
    refused.message?.error?.code === -32021 &&
      refused.message.error.data?.requiredCapabilities?.extensions?.[TASKS] !== undefined &&
      (refused.status === undefined || refused.status === 400),
    `2. slow_task without the extension: -32021 with requiredCapabilities${refused.status === undefined ? '' : ' (HTTP 400)'}`,
    JSON.stringify(refused)
  );

  const created = (await rpc('tools/call', { name: 'slow_task', arguments: { ms: 300, text: 'slow hello' } })).message?.result;
  const wellFormed =
    created?.resultType === 'task' &&
    typeof created.taskId === 'string' &&
    created.status === 'working' &&
    !('content' in created) &&
    Number.isInteger(created.ttlMs) &&
    Number.isInteger(created.pollIntervalMs) &&
    !Number.isNaN(Date.parse(created.createdAt)) &&
    !Number.isNaN(Date.parse(created.lastUpdatedAt));
  check(wellFormed, '3. slow_task: CreateTaskResult', JSON.stringify(created));
  if (created?.taskId) {
    const first = (await rpc('tasks/get', { taskId: created.taskId })).message?.result;
    check(
      first?.resultType === 'complete' && first.status === 'working' && first.taskId === created.taskId,
      '4a. tasks/get: working, the same taskId',
      JSON.stringify(first)
    );
    const done = await poll(created.taskId, ['completed']);
    check(
      done?.status === 'completed' && done.result?.content?.[0]?.text === 'slow hello',
      '4b. tasks/get: completed with the result inlined',
      JSON.stringify(done)
    );
  }

  const asking = (await rpc('tools/call', { name: 'task_with_input', arguments: { message: 'Your answer?' } })).message?.result;
  check(asking?.resultType === 'task', '5a. task_with_input: CreateTaskResult', JSON.stringify(asking));
  if (asking?.taskId) {
    const waiting = await poll(asking.taskId, ['input_required']);
    const request = waiting?.inputRequests?.answer;
    check(
      waiting?.status === 'input_required' &&
        waiting.taskId === asking.taskId &&
        request?.method === 'elicitation/create' &&
        request.params?.mode === 'form',
      '5b. tasks/get: input_required with inputRequests.answer (elicitation/create, form)',
      JSON.stringify(waiting)
    );
    const ack = (
      await rpc('tasks/update', {
        taskId: asking.taskId,
        inputResponses: { answer: { action: 'accept', content: { answer: 'forty-two' } } }
      })
    ).message?.result;
    const { _meta: _m, ...ackRest } = ack ?? {};
    check(JSON.stringify(ackRest) === '{"resultType":"complete"}', '5c. tasks/update: empty ack', JSON.stringify(ack));
    const answered = await poll(asking.taskId, ['completed']);
    check(
      answered?.status === 'completed' && answered.result?.content?.[0]?.text === 'You answered: forty-two',
      '5d. tasks/get: completed with the elicited answer',
      JSON.stringify(answered)
    );
  }

  const long = (await rpc('tools/call', { name: 'slow_task', arguments: { ms: 60_000, text: 'never' } })).message?.result;
  if (long?.taskId) {
    const ack = (await rpc('tasks/cancel', { taskId: long.taskId })).message?.result;
    check(ack?.resultType === 'complete' && !('status' in ack), '6a. tasks/cancel: empty ack', JSON.stringify(ack));
    const after = (await rpc('tasks/get', { taskId: long.taskId })).message?.result;
    check(after?.status === 'cancelled', '6b. tasks/get: cancelled', JSON.stringify(after));
  } else check(false, '6. slow_task for cancellation', JSON.stringify(long));

  const unknown = (await rpc('tasks/get', { taskId: 'no-such-task' })).message;
  check(unknown?.error?.code === -32602, '7a. tasks/get unknown taskId: -32602', JSON.stringify(unknown));
  const gated = (await rpc('tasks/get', { taskId: created?.taskId ?? 'x' }, WITHOUT_TASKS)).message;
  check(gated?.error?.code === -32021, '7b. tasks/get without the extension: -32021', JSON.stringify(gated));

  if (t.label.startsWith('HTTP') && created?.taskId) {
    const mismatch = await rpc('tasks/get', { taskId: created.taskId }, WITH_TASKS, { mcpName: 'not-the-task-id' });
    check(
      mismatch.status === 400 && mismatch.message?.error?.code === -32020,
      '8. tasks/get with Mcp-Name != taskId: HTTP 400, -32020',
      JSON.stringify(mismatch)
    );
  }
}

let child;
try {
  if (urlArg) await flow(httpTransport(urlArg));
  else if (stdio) {
    child = spawn(process.execPath, [FIXTURE, '--stdio', '--tasks'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const t = stdioTransport(child);
    await flow(t);
    t.close();
  } else {
    const started = await startHttpFixture();
    child = started.child;
    await flow(httpTransport(started.url));
  }
} catch (err) {
  console.error(err?.stack ?? err);
  failures++;
} finally {
  if (child && child.exitCode === null) child.kill('SIGTERM');
}
console.log(failures ? `${failures} step(s) failed` : 'all steps held');
process.exit(failures ? 1 : 0);
