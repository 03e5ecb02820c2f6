// Several workers at once: every answer right under concurrent traffic, and a clean exit.
//
// With two workers a stdio server's pipes live on one of them (server index modulo workers), each
// worker has its own HTTP connections, and workers post closures to each other. An h2o socket
// belongs to the thread that made it: its read buffers come from that thread's unlocked recycle
// list (core/worker.h). A socket made on the wrong thread corrupts memory only under concurrency
// and only sometimes, so this test is written for ThreadSanitizer, where it fails every time
// (scripts/test.sh runs it so as `tsan-e2e`): the race report lands on the gateway's stderr and
// the exit status becomes 66. Without a sanitizer it still checks every answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  GATEWAY_ONLY, Gateway, connect, everythingStdio, listAll, resultText, startEverythingHttp,
} from './lib/gateway.mjs';
import { NO_MODERN_SDK, modernRequest, modernStdio, resultOf, send, startModernHttp, toolCall } from './lib/modern.mjs';

const ROUNDS = 20;

// Each server's echo tool: its arguments and its answer for a text.
const ECHO = {
  everything: { args: (text) => ({ message: text }), answer: (text) => `Echo: ${text}` },
  modern: { args: (text) => ({ text }), answer: (text) => text },
};
const SERVERS = [
  { name: 'everything', echo: ECHO.everything }, // stdio, legacy; index 0: its pipes on worker 0
  { name: 'modern', echo: ECHO.modern }, //         stdio, 2026-07-28; index 1: on worker 1
  { name: 'remote', echo: ECHO.everything }, //     HTTP, legacy
  { name: 'mremote', echo: ECHO.modern }, //        HTTP, 2026-07-28
];

/** A text of a different length each round, so that reads end at different places in the buffers. */
const textFor = (lane, round) => `${lane}/${round}:${'x'.repeat((round * 389) % 3000)}`;

/** A legacy session on `path` calling `toolOf(round)` ROUNDS times, listing tools now and then. */
async function legacyLane(gw, clients, lane, path, toolOf) {
  const conn = await connect(gw.url(path));
  clients.push(conn);
  for (let round = 0; round < ROUNDS; round++) {
    const { server, name } = toolOf(round);
    if (round % 5 === 0) {
      const tools = (await listAll(conn.client, 'listTools', 'tools')).items.map((t) => t.name);
      assert.ok(tools.includes(name), `${lane}: ${name} not in ${tools.join()}`);
    }
    const text = textFor(lane, round);
    const result = await conn.client.callTool({ name, arguments: server.echo.args(text) });
    assert.equal(resultText(result), server.echo.answer(text), `${lane}, round ${round}, ${name}`);
  }
}

/** Stateless 2026-07-28 requests on /mcp, each on a fresh connection (so on either worker). */
async function modernLane(gw, lane, toolOf) {
  for (let round = 0; round < ROUNDS; round++) {
    const { server, name } = toolOf(round);
    if (round % 5 === 0) {
      const list = modernRequest('tools/list', {});
      const tools = resultOf(await send(gw.url('/mcp'), list), list).tools.map((t) => t.name);
      assert.ok(tools.includes(name), `${lane}: ${name} not in ${tools.join()}`);
    }
    const text = textFor(lane, round);
    const call = toolCall(name, server.echo.args(text));
    const result = resultOf(await send(gw.url('/mcp'), call), call);
    assert.equal(resultText(result), server.echo.answer(text), `${lane}, round ${round}, ${name}`);
  }
}

test('two workers answer concurrent legacy and modern calls to stdio and HTTP servers, then exit cleanly',
  { timeout: 240_000, skip: GATEWAY_ONLY || NO_MODERN_SDK }, async () => {
    const remote = await startEverythingHttp();
    const modernRemote = await startModernHttp();
    const gw = new Gateway({
      workers: 2,
      servers: [everythingStdio('everything'), modernStdio('modern'),
        { name: 'remote', url: remote.url }, { name: 'mremote', url: modernRemote.url }],
    });
    const clients = [];
    let exit;
    try {
      await gw.start({ timeoutMs: 60_000 });
      const own = (server) => () => ({ server, name: 'echo' });
      const aggregated = (offset) => (round) => {
        const server = SERVERS[(round + offset) % SERVERS.length];
        return { server, name: `${server.name}__echo` };
      };
      const lanes = [];
      for (const copy of [1, 2]) {
        for (const server of SERVERS) {
          lanes.push(legacyLane(gw, clients, `legacy ${server.name} ${copy}`, `/servers/${server.name}/mcp`, own(server)));
        }
        lanes.push(legacyLane(gw, clients, `legacy /mcp ${copy}`, '/mcp', aggregated(copy)));
        lanes.push(modernLane(gw, `modern /mcp ${copy}a`, aggregated(copy)));
        lanes.push(modernLane(gw, `modern /mcp ${copy}b`, aggregated(copy + 2)));
      }
      await Promise.all(lanes);
    } catch (err) {
      if (err instanceof Error) err.message += `\n${gw.diagnostics()}`;
      throw err;
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
      exit = await gw.stop();
      await remote.stop();
      await modernRemote.stop();
    }
    const report = gw.stderr.indexOf('WARNING: ThreadSanitizer');
    assert.equal(report, -1, `a data race between the workers:\n${gw.stderr.slice(report, report + 8000)}`);
    assert.deepEqual(exit, { code: 0, signal: null }, `the gateway's exit\n${gw.diagnostics()}`);
  });
