// Scrubbing upstream text (security invariant 6, docs/guards.md): a rogue server
// (fixtures/hostile-server.mjs) puts escape sequences, OSC 8 links, OSC 52 clipboard writes, C1
// controls, tag characters, zero-width and bidi characters into every string it sends; through the
// gateway a client sees none of them, and sees the visible text exactly. The same server runs over
// stdio and over Streamable HTTP (SSE answers and JSON answers), so each place the transports parse an
// upstream message is crossed; the clients are the official SDK (legacy) and modern 2026-07-28 requests.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { GATEWAY_ONLY, NODE, REPO_ROOT, useGateway, waitFor } from './lib/gateway.mjs';
import { modernRequest, send, sseMessages, toolCall } from './lib/modern.mjs';
import { startHostileHttp } from './fixtures/hostile-server.mjs';
import { FORBIDDEN, clean, dirty, forbiddenIn } from './fixtures/hostile-text.mjs';

const FIXTURE = join(REPO_ROOT, 'tests/e2e/fixtures/hostile-server.mjs');
const T = { timeout: 60_000, skip: GATEWAY_ONLY };
const http = {};

const gate = useGateway(async () => {
  http.sse = await startHostileHttp();
  http.json = await startHostileHttp({ json: true });
  return {
    servers: [
      { name: 'h', command: [NODE, FIXTURE] },
      { name: 'hs', url: http.sse.url },
      { name: 'hj', url: http.json.url },
    ],
  };
});
after(async () => { await http.sse?.stop(); await http.json?.stop(); });

/** Control characters written as JSON escapes (the gateway writes tab, LF and CR as \t \n \r). */
const CONTROL_ESCAPE = /\\u00(?:[01][0-9a-f]|7f|[89][0-9a-f])|\\[bf]/i;

/**
 * An SDK client on `path` that answers elicitation (decline) and records what it was asked and logged;
 * `received()` is every message that reached it (SSE events, recorded by the harness, and JSON bodies).
 */
async function client(path) {
  const asked = [];
  const logs = [];
  const bodies = [];
  const recordJson = async (url, init) => {
    const res = await fetch(url, init);
    if ((res.headers.get('content-type') ?? '').includes('application/json')) {
      const text = await res.clone().text();
      assert.doesNotMatch(text, CONTROL_ESCAPE, 'no control escapes on the wire');
      bodies.push(JSON.parse(text));
    }
    return res;
  };
  const conn = await gate.connect(path, {
    fetch: recordJson,
    capabilities: { elicitation: {} },
    setup: (c) => {
      c.setRequestHandler(ElicitRequestSchema, async (request) => { asked.push(request.params); return { action: 'decline' }; });
      c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params); });
    },
  });
  return { ...conn, asked, logs, received: () => [...conn.seen.map((s) => s.message), ...bodies] };
}

const assertNothingForbidden = (value, what) => assert.deepEqual(forbiddenIn(value), [], `${what} carries forbidden characters`);

test('the fixture really is hostile', () => {
  const text = dirty('x');
  assert.match(text, FORBIDDEN);
  for (const piece of ['\x1b[', '\x1b]8;;', '\x1b]52;', '\u009b', '\u200b', '\u202e', '\u{e0069}']) assert.ok(text.includes(piece), piece);
  assert.notEqual(forbiddenIn({ [text]: text }).length, 0);
});

for (const [server, transport] of [['h', 'stdio'], ['hs', 'HTTP with SSE answers'], ['hj', 'HTTP with JSON answers']]) {
  test(`${transport}: a legacy client sees the visible text of everything and none of the escapes`, T, async () => {
    const { client: c, received, asked, logs } = await client(`/servers/${server}/mcp`);

    assert.equal(c.getServerVersion().title, clean('Hostile server'));
    assert.equal(c.getInstructions(), clean('Use these tools'));

    const { tools } = await c.listTools();
    const echo = tools.find((t) => t.name === 'echo');
    assert.equal(echo.description, clean('Echoes a file'));
    assert.deepEqual(Object.keys(echo.inputSchema.properties), ['path', 'mode'], 'parameter names, in order');
    assert.equal(echo.inputSchema.properties.path.description, clean('Which file'));
    assert.deepEqual(echo.inputSchema.properties.mode.enum, [clean('read'), clean('write')]);
    assert.equal(echo.inputSchema.properties.mode.default, clean('read'));

    const progress = [];
    const result = await c.callTool({ name: 'echo', arguments: { path: 'a.txt' } }, undefined, { onprogress: (p) => progress.push(p) });
    assert.equal(result.content[0].text, clean('File contents'));
    assert.deepEqual(result.structuredContent, { status: clean('Done'), nested: { list: [clean('first'), clean('second')] } });
    if (server !== 'hj') { // a JSON answer carries no notifications
      assert.deepEqual(progress.map((p) => p.message), [clean('Half way')]);
      await waitFor(() => logs.length > 0, { what: 'the log notification' });
      assert.equal(logs[0].logger, clean('hostile logger'));
      assert.deepEqual(logs[0].data, { note: clean('Log line') });
    }

    await assert.rejects(c.callTool({ name: 'fail', arguments: {} }), (err) => {
      assert.ok(err.message.includes(clean('No such file')), err.message);
      assert.doesNotMatch(err.message, FORBIDDEN);
      assert.deepEqual(err.data, { detail: clean('gone') });
      return true;
    });

    if (server !== 'hj') { // a JSON answer cannot carry the server's question
      const answer = await c.callTool({ name: 'ask', arguments: {} });
      assert.equal(answer.content[0].text, 'answer: decline');
      assert.equal(asked.length, 1);
      assert.equal(asked[0].message, clean('Which colour'));
      assert.deepEqual(Object.keys(asked[0].requestedSchema.properties), ['colour']);
      assert.equal(asked[0].requestedSchema.properties.colour.description, clean('A colour'));
    }

    const { prompts } = await c.listPrompts();
    assert.equal(prompts[0].description, clean('Greets someone'));
    assert.equal(prompts[0].arguments[0].description, clean('Whom'));
    const prompt = await c.getPrompt({ name: 'greet', arguments: { who: 'you' } });
    assert.equal(prompt.description, clean('A greeting'));
    assert.equal(prompt.messages[0].content.text, clean('Hello there'));

    const { resources } = await c.listResources();
    assert.equal(resources[0].title, clean('Notes'));
    assert.equal(resources[0].description, clean('Some notes'));
    const read = await c.readResource({ uri: resources[0].uri });
    assert.equal(read.contents[0].text, clean('The notes'));

    // and nothing anywhere in what the client received
    // initialize, 2 lists and 2 reads or gets, 2 calls; with SSE also ask, its question, progress and a log
    assert.ok(received().length >= (server === 'hj' ? 8 : 12), `messages received: ${received().length}`);
    assertNothingForbidden(received(), 'a message to the SDK client');
  });
}

test('aggregated on /mcp: the catalog and the gateway\'s merged lists are clean', T, async () => {
  const { client: c, received } = await client('/mcp');
  const { tools } = await c.listTools();
  for (const server of ['h', 'hs', 'hj']) {
    const echo = tools.find((t) => t.name === `${server}__echo`);
    assert.ok(echo, `${server}__echo in ${tools.map((t) => t.name)}`);
    assert.equal(echo.description, clean('Echoes a file'));
    assert.deepEqual(Object.keys(echo.inputSchema.properties), ['path', 'mode']);
  }
  const result = await c.callTool({ name: 'hs__echo', arguments: { mode: clean('write') } });
  assert.equal(result.content[0].text, clean('File contents'));
  const { resources } = await c.listResources();
  assert.deepEqual(resources.map((r) => r.description), [clean('Some notes'), clean('Some notes'), clean('Some notes')]);
  assert.ok(received().length >= 4, `messages received: ${received().length}`);
  assertNothingForbidden(received(), 'a message to the SDK client');
});

/** Every JSON-RPC message of a modern answer (JSON or SSE). */
const messagesOf = (res) => ((res.headers['content-type'] ?? '').includes('text/event-stream') ? sseMessages(res.text) : [JSON.parse(res.text)]);

test('modern requests: lists, calls, prompts, resources and errors come back clean', T, async () => {
  const url = gate.gw.url('/mcp');
  const list = await send(url, modernRequest('tools/list', {}));
  assert.equal(list.status, 200, list.text);
  const echo = list.json.result.tools.find((t) => t.name === 'h__echo');
  assert.equal(echo.description, clean('Echoes a file'));
  assert.deepEqual(Object.keys(echo.inputSchema.properties), ['path', 'mode']);

  const answers = [list];
  for (const server of ['h', 'hs', 'hj']) {
    const call = await send(url, toolCall(`${server}__echo`, { path: 'a.txt' }));
    assert.equal(call.json.result.content[0].text, clean('File contents'), call.text);
    assert.deepEqual(call.json.result.structuredContent.nested.list, [clean('first'), clean('second')]);
    const fail = await send(url, toolCall(`${server}__fail`, {}));
    assert.ok(fail.json.error.message.includes(clean('No such file')), fail.text);
    assert.deepEqual(fail.json.error.data, { detail: clean('gone') });
    const prompt = await send(url, modernRequest('prompts/get', { name: `${server}__greet`, arguments: { who: 'you' } }));
    assert.equal(prompt.json.result.messages[0].content.text, clean('Hello there'), prompt.text);
    const read = await send(url, modernRequest('resources/read', { uri: `${server}+file:///notes.txt` }));
    assert.equal(read.json.result.contents[0].text, clean('The notes'), read.text);
    answers.push(call, fail, prompt, read);
  }
  const discover = await send(url, modernRequest('server/discover', {}));
  answers.push(discover);
  for (const answer of answers) {
    assert.doesNotMatch(answer.text, CONTROL_ESCAPE, 'no control escapes on the wire');
    assertNothingForbidden(messagesOf(answer), 'a modern answer');
  }
});
