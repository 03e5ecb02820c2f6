// Protocol features that need streams in both directions, through the gateway to
// server-everything, once over a stdio upstream and once over a Streamable HTTP upstream:
// progress, cancellation, sampling, elicitation, and server notifications (logging,
// resources/updated, resources/list_changed) on the client's GET stream.
//
// With MCPGATE_E2E_DIRECT=1 the same tests run straight against server-everything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import {
  DIRECT, connect, everythingStdio, listAll, resultText, sleep, useEverythingHttp, useGateway, waitFor,
} from './lib/gateway.mjs';

const everything = useEverythingHttp();
const gate = useGateway(async () => ({
  servers: [everythingStdio('everything'), { name: 'remote', url: (await everything.ready()).url }],
}));

// How server-everything looks from where the client stands.
const targets = DIRECT
  ? [{ label: 'server-everything directly', url: () => everything.url, server: '' }]
  : [
    { label: '/mcp → stdio upstream', url: () => gate.gw.url('/mcp'), server: 'everything' },
    { label: '/mcp → HTTP upstream', url: () => gate.gw.url('/mcp'), server: 'remote' },
  ];

const T = { timeout: 30_000 };

for (const target of targets) {
  const tool = (n) => (target.server ? `${target.server}__${n}` : n);
  const uri = (u) => (target.server ? `${target.server}+${u}` : u);
  const open = async (opts) => {
    const conn = await connect(target.url(), opts);
    gate.clients.push(conn); // closed after the file even if a test fails
    return conn;
  };

  describe(target.label, () => {
    test('progress notifications reach the caller on the POST stream', T, async () => {
      const { client, seen } = await open();
      const progress = [];
      const result = await client.callTool(
        { name: tool('trigger-long-running-operation'), arguments: { duration: 1.2, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p), timeout: 20_000 },
      );
      assert.match(resultText(result), /Long running operation completed/);
      assert.ok(progress.length >= 2, `expected several progress notifications, got ${JSON.stringify(progress)}`);
      assert.deepEqual(progress.map((p) => p.progress), [...progress.map((p) => p.progress)].sort((a, b) => a - b));
      assert.equal(progress.at(-1).total, 4);
      const onStreams = seen.filter((s) => s.message.method === 'notifications/progress');
      assert.ok(onStreams.length > 0 && onStreams.every((s) => s.via === 'POST'),
        `progress should arrive on the POST response stream: ${JSON.stringify(onStreams)}`);
    });

    test('aborting a call rejects it and the gateway keeps serving', T, async () => {
      const { client } = await open();
      const controller = new AbortController();
      const started = Date.now();
      const call = client.callTool(
        { name: tool('trigger-long-running-operation'), arguments: { duration: 30, steps: 30 } },
        undefined,
        { signal: controller.signal, timeout: 60_000 },
      );
      setTimeout(() => controller.abort('e2e-abort'), 500);
      await assert.rejects(call, /e2e-abort/);
      assert.ok(Date.now() - started < 5000, 'abort should take effect at once');
      // The same session and a new one both still work.
      assert.equal(resultText(await client.callTool({ name: tool('echo'), arguments: { message: 'after abort' } })),
        'Echo: after abort');
      const { client: other } = await open();
      assert.equal(resultText(await other.callTool({ name: tool('echo'), arguments: { message: 'x' } })), 'Echo: x');
    });

    test('sampling: server-to-client request round trip', T, async () => {
      const requests = [];
      const { client, seen } = await open({
        capabilities: { sampling: {} },
        setup: (c) => c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
          requests.push(req.params);
          return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'sampled-answer-42' } };
        }),
      });
      const { items: tools } = await listAll(client, 'listTools', 'tools');
      assert.ok(tools.some((t) => t.name === tool('trigger-sampling-request')),
        'trigger-sampling-request is only listed when the upstream saw a sampling-capable client');
      const result = await client.callTool(
        { name: tool('trigger-sampling-request'), arguments: { prompt: 'hello sampler', maxTokens: 10 } });
      assert.equal(requests.length, 1);
      assert.match(JSON.stringify(requests[0].messages), /hello sampler/);
      assert.match(resultText(result), /sampled-answer-42/);
      assert.match(resultText(result), /e2e-model/);
      const req = seen.find((s) => s.message.method === 'sampling/createMessage');
      assert.equal(req?.via, 'POST', 'sampling request should arrive on the POST response stream');
    });

    test('elicitation: server-to-client request round trip', T, async () => {
      const requests = [];
      const { client, seen } = await open({
        capabilities: { elicitation: {} },
        setup: (c) => c.setRequestHandler(ElicitRequestSchema, async (req) => {
          requests.push(req.params);
          return { action: 'accept', content: { name: 'Ada Lovelace', check: true } };
        }),
      });
      const result = await client.callTool({ name: tool('trigger-elicitation-request'), arguments: {} });
      assert.equal(requests.length, 1);
      assert.equal(requests[0].requestedSchema?.type, 'object');
      const text = resultText(result);
      assert.match(text, /User provided the requested information/);
      assert.match(text, /Name: Ada Lovelace/);
      const req = seen.find((s) => s.message.method === 'elicitation/create');
      assert.equal(req?.via, 'POST', 'elicitation request should arrive on the POST response stream');
    });

    test('logging notifications arrive on the GET stream', T, async () => {
      const { client, seen } = await open();
      const logs = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
      await sleep(300); // let the SDK open its GET stream
      // The tool toggles a per-upstream-session timer; stdio upstreams are shared, so toggle
      // until it reports "Started" and always switch it off again.
      let text = resultText(await client.callTool({ name: tool('toggle-simulated-logging'), arguments: {} }));
      if (/Stopped/.test(text)) text = resultText(await client.callTool({ name: tool('toggle-simulated-logging'), arguments: {} }));
      try {
        assert.match(text, /Started/);
        // One message at once, then one every 5 s, each at a random level (a level the gateway
        // set upstream may filter some out, hence the long wait).
        await waitFor(() => logs.length > 0, { timeoutMs: 12_000, what: 'a notifications/message' });
        await waitFor(() => seen.some((s) => s.via === 'GET' && s.message.method === 'notifications/message'),
          { timeoutMs: 12_000, what: 'a logging notification on the GET stream' });
      } finally {
        await client.callTool({ name: tool('toggle-simulated-logging'), arguments: {} }).catch(() => {});
      }
    });

    test('resources/updated for a subscribed resource arrives on the GET stream', T, async () => {
      const { client, seen } = await open();
      const watched = uri('demo://resource/static/document/features.md');
      const updates = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));
      await sleep(300);
      await client.subscribeResource({ uri: watched });
      let text = resultText(await client.callTool({ name: tool('toggle-subscriber-updates'), arguments: {} }));
      if (/Stopped/.test(text)) text = resultText(await client.callTool({ name: tool('toggle-subscriber-updates'), arguments: {} }));
      try {
        assert.match(text, /Started/);
        await waitFor(() => updates.includes(watched), { timeoutMs: 8000, what: `resources/updated for ${watched}` });
        assert.ok(updates.every((u) => u === watched), `only the subscribed URI, as the client named it: ${updates}`);
        await waitFor(() => seen.some((s) => s.via === 'GET' && s.message.method === 'notifications/resources/updated'),
          { timeoutMs: 8000, what: 'resources/updated on the GET stream' });
      } finally {
        await client.callTool({ name: tool('toggle-subscriber-updates'), arguments: {} }).catch(() => {});
        await client.unsubscribeResource({ uri: watched }).catch(() => {});
      }
    });

    test('resources/list_changed arrives on the GET stream; the new resource is listed and readable', T, async () => {
      const { client, seen } = await open();
      let changed = 0;
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { changed++; });
      await sleep(300);
      // gzip-file-as-resource registers a new resource, which makes the server send list_changed.
      const name = `e2e-${process.pid}-${Date.now()}.gz`;
      const result = await client.callTool({
        name: tool('gzip-file-as-resource'),
        arguments: { name, data: `data:text/plain;base64,${Buffer.from('zip me').toString('base64')}`, outputType: 'resourceLink' },
      });
      const link = result.content.find((c) => c.type === 'resource_link');
      const expected = uri(`demo://resource/session/${name}`);
      assert.equal(link?.uri, expected, 'resource link in a tool result is rewritten to the client-facing URI');
      await waitFor(() => changed > 0, { timeoutMs: 8000, what: 'notifications/resources/list_changed' });
      assert.ok(seen.some((s) => s.via === 'GET' && s.message.method === 'notifications/resources/list_changed'),
        'list_changed should arrive on the GET stream');
      const { items } = await listAll(client, 'listResources', 'resources');
      assert.ok(items.some((r) => r.uri === expected), `${expected} should be listed`);
      const read = await client.readResource({ uri: expected });
      assert.equal(read.contents[0].mimeType, 'application/gzip');
      assert.ok(read.contents[0].blob, 'gzip resource has a blob');
    });
  });
}
