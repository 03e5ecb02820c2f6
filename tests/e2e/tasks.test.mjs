// The tasks extension (io.modelcontextprotocol/tasks) through the gateway.
//
// A modern server may answer tools/call with a task; the client polls tasks/get, answers
// tasks/update and may tasks/cancel, naming only the taskId. Behind the gateway the taskId a
// client sees is the gateway's sealed handle (mcpgate.task1.…), routed back to the server that
// issued the task. The servers are tests/fixtures/modern-server.mjs with --tasks (the official
// modern SDK plus the extension), over HTTP ("remote") and stdio ("local").
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { GATEWAY_ONLY, sleep, useGateway, waitFor } from './lib/gateway.mjs';
import {
  NO_MODERN_SDK, modernRequest, modernStdio, openListen, resultOf, send, startModernHttp, toolCall,
} from './lib/modern.mjs';

const TASKS = { extensions: { 'io.modelcontextprotocol/tasks': {} } };
const TASKS_AND_ELICITATION = { ...TASKS, elicitation: {} };
const HANDLE = /^mcpgate\.task1\.[A-Za-z0-9_-]+$/;
const T = { timeout: 60_000, skip: GATEWAY_ONLY || NO_MODERN_SDK };

let remote;
after(() => remote?.stop());
const gate = useGateway(async () => {
  remote = await startModernHttp(['--tasks']);
  return { workers: 2, servers: [{ name: 'remote', url: remote.url }, modernStdio('local', ['--tasks'])] };
});
const post = (body, path = '/mcp') => send(gate.gw.url(path), body);

/** tools/call that must come back as a task; returns the handle. */
async function startTask(tool, args, path = '/mcp', capabilities = TASKS) {
  const call = toolCall(tool, args, capabilities);
  const created = resultOf(await post(call, path), call);
  assert.equal(created.resultType, 'task', JSON.stringify(created));
  assert.match(created.taskId, HANDLE, 'the client sees the gateway\'s handle, not the server\'s id');
  assert.equal(created.status, 'working');
  return created.taskId;
}

const taskRequest = (method, taskId, extra = {}, capabilities = TASKS) =>
  modernRequest(method, { taskId, ...extra }, capabilities);

/** Polls tasks/get until `done(task)`; returns the last task. */
async function pollUntil(taskId, done, path = '/mcp', ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const get = taskRequest('tasks/get', taskId);
    const task = resultOf(await post(get, path), get);
    assert.equal(task.taskId, taskId, 'tasks/get answers with the very handle the client asked about');
    assert.equal(task.resultType, 'complete');
    if (done(task)) return task;
    if (Date.now() > deadline) assert.fail(`task still ${task.status}: ${JSON.stringify(task)}`);
    await sleep(100);
  }
}

function assertNotFound(res, request) {
  const detail = `HTTP ${res.status}: ${res.text.slice(0, 500)}`;
  assert.equal(res.status, 200, detail);
  assert.equal(res.json?.id, request.id, detail);
  assert.equal(res.json?.error?.code, -32602, detail);
  assert.equal(res.json.error.message, 'Failed to retrieve task: Task not found', detail);
}

/** How many tasks.refused records the gateway logged. */
const refusals = () => gate.gw.stderr.split('\n').filter((l) => l.includes('"tasks.refused"')).length;

test('server/discover on /mcp lists the extension when a server behind the gateway has it', T, async () => {
  const discover = modernRequest('server/discover', {});
  const result = resultOf(await post(discover), discover);
  assert.deepEqual(result.capabilities.extensions, { 'io.modelcontextprotocol/tasks': {} }, JSON.stringify(result));
});

for (const server of ['remote', 'local']) {
  test(`a task with input, end to end on /mcp (${server}: ${server === 'remote' ? 'HTTP' : 'stdio'})`, T, async () => {
    const handle = await startTask(`${server}__task_with_input`, {}, '/mcp', TASKS_AND_ELICITATION);
    const asking = await pollUntil(handle, (t) => t.status === 'input_required');
    assert.equal(asking.inputRequests?.answer?.method, 'elicitation/create', JSON.stringify(asking));
    const update = taskRequest('tasks/update', handle, {
      inputResponses: { answer: { action: 'accept', content: { answer: '42' } } },
    });
    const ack = resultOf(await post(update), update);
    assert.equal(ack.resultType, 'complete');
    const done = await pollUntil(handle, (t) => t.status === 'completed');
    assert.equal(done.result?.content?.[0]?.text, 'You answered: 42', JSON.stringify(done));
  });
}

test('tasks/cancel reaches the server that holds the task', T, async () => {
  const handle = await startTask('slow_task', { ms: 20_000, text: 'never' }, '/servers/remote/mcp');
  const cancel = taskRequest('tasks/cancel', handle);
  assert.equal(resultOf(await post(cancel, '/servers/remote/mcp'), cancel).resultType, 'complete');
  const task = await pollUntil(handle, (t) => t.status !== 'working', '/servers/remote/mcp');
  assert.equal(task.status, 'cancelled');
});

test('a handle is refused on another server\'s path, altered, or not the gateway\'s; nothing reaches a server', T, async () => {
  const handle = await startTask('slow_task', { ms: 100, text: 'mine' }, '/servers/remote/mcp');
  const before = refusals();
  const cases = [
    ['another server\'s path', handle, '/servers/local/mcp'],
    ['altered', handle.slice(0, -4) + (handle.endsWith('AAAA') ? 'BBBB' : 'AAAA'), '/mcp'],
    ['a server\'s own id shape', '786512e2-9e0d-44bd-8f29-789f320fe840', '/mcp'],
    ['empty', '', '/mcp'],
  ];
  for (const [what, taskId, path] of cases) {
    for (const method of ['tasks/get', 'tasks/update', 'tasks/cancel']) {
      const request = taskRequest(method, taskId, method === 'tasks/update' ? { inputResponses: {} } : {});
      assertNotFound(await post(request, path), request);
    }
    assert.ok(true, what);
  }
  // every refusal was the gateway's own (logged), not a server's "not found"
  await waitFor(() => refusals() - before >= cases.length * 3, { what: 'the gateway\'s tasks.refused records' });
  assert.equal(refusals() - before, cases.length * 3);
  // the handle still works where it belongs
  const done = await pollUntil(handle, (t) => t.status === 'completed');
  assert.equal(done.result.content[0].text, 'mine');
});

test('tasks/* from a client that did not declare the extension: -32021 with the capability it needs', T, async () => {
  const handle = await startTask('remote__slow_task', { ms: 100, text: 'x' });
  const get = taskRequest('tasks/get', handle, {}, {});
  const res = await post(get);
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.code, -32021, res.text);
  assert.deepEqual(res.json.error.data, { requiredCapabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } });
});

test('a tool that needs a task, called without the extension: the server\'s -32021 reaches the client', T, async () => {
  const call = toolCall('remote__slow_task', { ms: 10, text: 'x' }, {});
  const res = await post(call);
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.code, -32021, res.text);
});

test('params.taskId must be a string', T, async () => {
  const get = modernRequest('tasks/get', { taskId: 7 }, TASKS);
  const res = await post(get);
  assert.equal(res.json?.error?.code, -32602, res.text);
  assert.equal(res.json.error.message, 'params.taskId must be a string');
});

test('Mcp-Name must carry the handle the body names', T, async () => {
  const handle = await startTask('remote__slow_task', { ms: 100, text: 'x' });
  const get = taskRequest('tasks/get', handle);
  const res = await send(gate.gw.url('/mcp'), get, { headers: { 'mcp-name': 'something-else' } });
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.code, -32020, res.text);
});

test('subscriptions/listen with taskIds: -32021 without the extension; with it, only handles it can serve', T, async () => {
  const refused = await openListen(gate.gw.url('/mcp'), { taskIds: ['anything'] }, {});
  try {
    assert.equal(refused.status, 400);
  } finally {
    refused.close();
  }
  const http = await startTask('remote__slow_task', { ms: 1500, text: 'over http' });
  const stdio = await startTask('local__slow_task', { ms: 1500, text: 'over stdio' });
  const listen = await openListen(gate.gw.url('/mcp'), { taskIds: [http, stdio, 'mcpgate.task1.forged'] }, TASKS);
  try {
    const ack = await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
    assert.deepEqual(ack.params.notifications, { taskIds: [http, stdio] },
      'the modern servers\' tasks are acknowledged; a forged handle is not');
    // each server's notification, under the handle the client listed, tagged with its subscription
    for (const [handle, text] of [[http, 'over http'], [stdio, 'over stdio']]) {
      const done = await listen.next((m) => m.method === 'notifications/tasks' && m.params.status === 'completed' &&
        m.params.taskId === handle);
      assert.equal(done.params.result?.content?.[0]?.text, text, JSON.stringify(done));
      assert.equal(done.params._meta['io.modelcontextprotocol/subscriptionId'], listen.id);
    }
  } finally {
    listen.close();
  }
});
