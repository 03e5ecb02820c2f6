// resourceSubscriptions on a modern subscriptions/listen, served by a legacy server: 2026-07-28 has no
// resources/subscribe, so the gateway sends it to the legacy server on the principal's session, and
// the server's notifications/resources/updated come back on the client's listen stream.
//
// The server is the legacy conformance fixture (tests/conformance/fixture-server.mjs, official v1
// SDK): its tool test_touch_watched_resource changes test://watched-resource and says whether it is
// subscribed to; when it is, the server sends notifications/resources/updated (unsolicited: on the
// session's GET stream over HTTP, on stdout over stdio).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GATEWAY_ONLY, resultText, withGateway } from './lib/gateway.mjs';
import {
  NO_LEGACY_SDK, NO_MODERN_SDK, legacyStdio, modernStdio, openListen, resultOf, send, startLegacyHttp, startModernHttp,
  toolCall,
} from './lib/modern.mjs';

const SKIP = GATEWAY_ONLY || NO_LEGACY_SDK;
const WATCHED = 'test://watched-resource';
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Calls test_touch_watched_resource (as `name`) until the server says it is subscribed (the
 * subscribe is sent when the stream opens; it may still be on its way). Returns the last answer. */
async function touchUntilSubscribed(url, name) {
  let text = '';
  for (let i = 0; i < 50; i++) {
    const call = toolCall(name, {});
    text = resultText(resultOf(await send(url, call), call));
    if (text.endsWith('(subscribed)')) return text;
    await pause(100);
  }
  return text;
}

for (const kind of ['http', 'stdio']) {
  for (const path of ['/mcp', '/servers/old/mcp']) {
    test(`a modern listen on ${path} is told of a legacy ${kind} server's resource updates`,
      { timeout: 60_000, skip: SKIP }, async () => {
        const upstream = kind === 'http' ? await startLegacyHttp() : null;
        const server = kind === 'http' ? { name: 'old', url: upstream.url } : legacyStdio('old');
        const aggregated = path === '/mcp';
        const uri = aggregated ? `old+${WATCHED}` : WATCHED;
        try {
          await withGateway({ servers: [server] }, async (gw) => {
            const listen = await openListen(gw.url(path), { resourceSubscriptions: [uri, 'nobody+test://x'] });
            try {
              assert.equal(listen.status, 200);
              const ack = await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
              // what the gateway can watch: the URI of a server that declares resources.subscribe
              assert.deepEqual(ack.params.notifications.resourceSubscriptions, aggregated ? [uri] : [uri, 'nobody+test://x']);

              const text = await touchUntilSubscribed(gw.url(path), aggregated ? 'old__test_touch_watched_resource'
                : 'test_touch_watched_resource');
              assert.equal(text, `updated ${WATCHED} (subscribed)`);
              const update = await listen.next((m) => m.method === 'notifications/resources/updated');
              assert.equal(update.params.uri, uri);
              assert.equal(update.params._meta[SUBSCRIPTION_ID], listen.id);
            } finally {
              listen.close();
            }
          });
        } finally {
          await upstream?.stop();
        }
      });
  }
}

for (const kind of ['http', 'stdio']) {
  // A modern server gets a listen of the client's own naming the URIs in its words (over stdio next to
  // the gateway's own listen for list changes, which the hub shares).
  test(`a modern listen is told of a modern ${kind} server's resource updates`,
    { timeout: 60_000, skip: SKIP || NO_MODERN_SDK }, async () => {
      const upstream = kind === 'http' ? await startModernHttp() : null;
      const server = kind === 'http' ? { name: 'new', url: upstream.url } : modernStdio('new');
      try {
        await withGateway({ servers: [server] }, async (gw) => {
          const uri = `new+${WATCHED}`;
          const listen = await openListen(gw.url('/mcp'), { resourceSubscriptions: [uri], toolsListChanged: true });
          try {
            const ack = await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
            assert.deepEqual(ack.params.notifications, { resourceSubscriptions: [uri], toolsListChanged: true });
            await pause(300); // the server's own acknowledgement of the gateway's listen
            const touch = toolCall('new__test_touch_watched_resource', {});
            resultOf(await send(gw.url('/mcp'), touch), touch);
            const update = await listen.next((m) => m.method === 'notifications/resources/updated');
            assert.equal(update.params.uri, uri);
            assert.equal(update.params._meta[SUBSCRIPTION_ID], listen.id);
            // list changes still come once (over stdio through the gateway's own listen, not this one)
            const change = toolCall('new__test_trigger_tool_change', {});
            resultOf(await send(gw.url('/mcp'), change), change);
            await listen.next((m) => m.method === 'notifications/tools/list_changed');
            await pause(300);
            assert.equal(listen.messages.filter((m) => m.method === 'notifications/tools/list_changed').length, 1);
            assert.equal(listen.messages.filter((m) => m.method === 'notifications/resources/updated').length, 1);
          } finally {
            listen.close();
          }
        });
      } finally {
        await upstream?.stop();
      }
    });
}
