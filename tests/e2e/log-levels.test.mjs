// Log levels across protocol eras. 2026-07-28 sets the level per request
// (_meta io.modelcontextprotocol/logLevel; without it a server sends no notifications/message);
// earlier versions set it per session (logging/setLevel). The gateway carries a legacy session's
// level to modern servers on every request, and holds a legacy server's log messages to the level
// a modern request asked for.
//
// Servers: the legacy conformance fixture (tests/conformance/fixture-server.mjs, official v1 SDK;
// test_log_levels logs at debug, info, warning and error, honouring logging/setLevel) and the
// modern fixture (tests/fixtures/modern-server.mjs, official modern SDK; test_logging_tool logs
// one info message when the request carries a logLevel).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { GATEWAY_ONLY, initializeBody, rawPost, resultText, withGateway } from './lib/gateway.mjs';
import {
  NO_LEGACY_SDK, NO_MODERN_SDK, modernStdio, resultOf, send, startLegacyHttp, startModernHttp, toolCall,
} from './lib/modern.mjs';

const SKIP = GATEWAY_ONLY || NO_MODERN_SDK || NO_LEGACY_SDK;
const LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

/** A modern tools/call, with `level` as its _meta logLevel unless undefined. */
function loggedCall(name, level) {
  const request = toolCall(name, {});
  if (level !== undefined) request.params._meta[LOG_LEVEL] = level;
  return request;
}

/** The levels of the log messages on a modern answer's stream. */
const levelsOf = (res) => res.text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)))
  .filter((m) => m.method === 'notifications/message').map((m) => m.params.level);
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

test('a modern request gets a legacy server\'s log messages at or above its logLevel, and none without one',
  { timeout: 60_000, skip: SKIP }, async () => {
    const upstream = await startLegacyHttp();
    try {
      await withGateway({ servers: [{ name: 'old', url: upstream.url }] }, async (gw) => {
        const url = gw.url('/servers/old/mcp');
        // the legacy server logs everything on its (gateway-held) session: the gateway filters
        const warning = loggedCall('test_log_levels', 'warning');
        const res = await send(url, warning);
        assert.equal(resultText(resultOf(res, warning)), 'logged at debug, info, warning and error');
        assert.deepEqual(levelsOf(res), ['warning', 'error'], res.text);

        const debug = loggedCall('test_log_levels', 'debug');
        const all = await send(url, debug);
        resultOf(all, debug);
        assert.deepEqual(levelsOf(all), ['debug', 'info', 'warning', 'error'], all.text);

        const none = loggedCall('test_log_levels', undefined);
        const quiet = await send(url, none);
        resultOf(quiet, none);
        assert.deepEqual(levelsOf(quiet), [], quiet.text);

        // on /mcp too (the aggregated path rewrites what it relays)
        const viaMcp = loggedCall('old__test_log_levels', 'error');
        const agg = await send(gw.url('/mcp'), viaMcp);
        resultOf(agg, viaMcp);
        assert.deepEqual(levelsOf(agg), ['error'], agg.text);
      });
    } finally {
      await upstream.stop();
    }
  });

test('a modern request\'s logLevel reaches a modern server', { timeout: 60_000, skip: SKIP }, async () => {
  const upstream = await startModernHttp();
  try {
    await withGateway({ servers: [{ name: 'new', url: upstream.url }] }, async (gw) => {
      const url = gw.url('/servers/new/mcp');
      const info = loggedCall('test_logging_tool', 'info');
      const res = await send(url, info);
      resultOf(res, info);
      assert.deepEqual(levelsOf(res), ['info'], res.text);
      const error = loggedCall('test_logging_tool', 'error');
      const above = await send(url, error);
      resultOf(above, error);
      assert.deepEqual(levelsOf(above), [], above.text);
    });
  } finally {
    await upstream.stop();
  }
});

/** A legacy SDK client that records the log messages it gets, on any of its streams. */
async function loggingClient(connectTo, path) {
  const messages = [];
  const conn = await connectTo(path, {
    setup: (client) => client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => messages.push(n.params)),
  });
  return { client: conn.client, messages };
}

for (const kind of ['http', 'stdio']) {
  test(`a legacy session's logging/setLevel reaches a modern ${kind} server as each request's logLevel`,
    { timeout: 60_000, skip: SKIP }, async () => {
      const upstream = kind === 'http' ? await startModernHttp() : null;
      const server = kind === 'http' ? { name: 'new', url: upstream.url } : modernStdio('new');
      try {
        await withGateway({ servers: [server] }, async (gw, connectTo) => {
          // without a level, a modern server sends none
          const quiet = await loggingClient(connectTo, '/servers/new/mcp');
          const { client, messages } = await loggingClient(connectTo, '/servers/new/mcp');
          await quiet.client.callTool({ name: 'test_logging_tool', arguments: {} });
          await pause(300);
          assert.deepEqual([...quiet.messages, ...messages], [], 'no level set: no log messages');

          await client.setLoggingLevel('info');
          await client.callTool({ name: 'test_logging_tool', arguments: {} });
          // over stdio a log message is not tied to its call: it comes on the GET streams
          for (let i = 0; i < 50 && messages.length === 0; i++) await pause(100);
          assert.deepEqual(messages.map((m) => [m.level, m.data]), [['info', 'test_logging_tool ran']]);

          await client.setLoggingLevel('error');
          await client.callTool({ name: 'test_logging_tool', arguments: {} });
          await pause(300);
          assert.equal(messages.length, 1, JSON.stringify(messages));
        });
      } finally {
        await upstream?.stop();
      }
    });
}

test('logging/setLevel with a level that is none is refused with -32602', { timeout: 30_000, skip: SKIP }, async () => {
  await withGateway({ servers: [modernStdio('new')] }, async (gw) => {
    const init = await rawPost(gw.url('/mcp'), initializeBody());
    const headers = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
    const res = await rawPost(gw.url('/mcp'),
      { jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'loud' } }, { headers });
    assert.equal(res.json?.error?.code, -32602, res.text);
    // the MCP schema check answers first, naming the allowed levels
    assert.match(res.json.error.message, /^Invalid params: \/params\/level: enum: must be one of "alert", /);
    assert.deepEqual(res.json.error.data.violations.map((v) => [v.instancePath, v.keyword]), [['/params/level', 'enum']]);
  });
});
