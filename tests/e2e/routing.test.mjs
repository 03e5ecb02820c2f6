// Aggregation and routing: one gateway in front of server-everything (stdio), server-filesystem
// (stdio) and server-everything over Streamable HTTP ("remote").
//   /mcp                 every server; tools/prompts named <server>__<name>, URIs <server>+<uri>
//   /servers/<name>/mcp  one server, nothing renamed
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  DIRECT, GATEWAY_ONLY, cleanupDir, connect, everythingStdio, filesystemStdio, listAll, resultText,
  tempDir, useEverythingHttp, useGateway,
} from './lib/gateway.mjs';

const SERVERS = ['everything', 'fs', 'remote']; // config order = aggregated list order
const demoDir = tempDir('mcpgate-demo-');
writeFileSync(join(demoDir, 'hello.txt'), 'hello from the demo dir\n');
after(() => cleanupDir(demoDir));

const everything = useEverythingHttp();
const gate = useGateway(async () => ({
  servers: [everythingStdio('everything'), filesystemStdio(demoDir, 'fs'), { name: 'remote', url: (await everything.ready()).url }],
}));

const T = { timeout: 30_000, skip: GATEWAY_ONLY };
const names = (items) => items.map((i) => i.name);
const dupes = (xs) => xs.filter((x, i) => xs.indexOf(x) !== i);

/** What each server lists on its own path, with the prefix /mcp should put on it. */
async function perServer(method, key, rename) {
  const out = [];
  for (const server of SERVERS) {
    const { client } = await gate.connect(`/servers/${server}/mcp`);
    // A client only calls what the server advertised; server-filesystem has no prompts or
    // resources (and /servers/fs/mcp passes its capabilities through unchanged).
    const capability = { listTools: 'tools', listPrompts: 'prompts', listResources: 'resources', listResourceTemplates: 'resources' }[method];
    if (!client.getServerCapabilities()?.[capability]) continue;
    const { items } = await listAll(client, method, key);
    out.push(...items.map((i) => rename(server, i)));
  }
  return out;
}

test('/mcp tools/list: every server, prefixed, config order, pages without duplicates', T, async () => {
  const { client } = await gate.connect('/mcp');
  const { items, pages } = await listAll(client, 'listTools', 'tools');
  const got = names(items);
  assert.deepEqual(dupes(got), [], `duplicate tool names across ${pages} page(s)`);
  for (const n of ['everything__echo', 'everything__trigger-long-running-operation', 'fs__read_text_file', 'remote__echo']) {
    assert.ok(got.includes(n), `${n} missing from ${got}`);
  }
  assert.ok(got.every((n) => /^(everything|fs|remote)__./.test(n)), `unprefixed name in ${got}`);
  // Union of the pages = each server's own list, prefixed, servers in config order.
  const expected = await perServer('listTools', 'tools', (s, t) => `${s}__${t.name}`);
  assert.deepEqual(got, expected);
  // Descriptions and schemas pass through.
  const echo = items.find((t) => t.name === 'everything__echo');
  assert.equal(echo.inputSchema.type, 'object');
  assert.ok(echo.inputSchema.properties.message);
});

test('/mcp tools/call: everything__echo, fs__read_text_file, remote__get-sum', T, async () => {
  const { client } = await gate.connect('/mcp');
  assert.equal(resultText(await client.callTool({ name: 'everything__echo', arguments: { message: 'hi there' } })), 'Echo: hi there');
  const file = await client.callTool({ name: 'fs__read_text_file', arguments: { path: join(demoDir, 'hello.txt') } });
  assert.ok(!file.isError, resultText(file));
  assert.match(resultText(file), /hello from the demo dir/);
  assert.equal(resultText(await client.callTool({ name: 'remote__get-sum', arguments: { a: 2, b: 3 } })), 'The sum of 2 and 3 is 5.');
});

test('/mcp prompts: listed with prefix, prompts/get routed', T, async () => {
  const { client } = await gate.connect('/mcp');
  const { items } = await listAll(client, 'listPrompts', 'prompts');
  const got = names(items);
  assert.deepEqual(dupes(got), []);
  assert.deepEqual(got, await perServer('listPrompts', 'prompts', (s, p) => `${s}__${p.name}`));
  assert.ok(got.includes('everything__simple-prompt') && got.includes('remote__args-prompt'), got.join());
  const prompt = await client.getPrompt({ name: 'everything__args-prompt', arguments: { city: 'Paris', state: 'TX' } });
  assert.equal(prompt.messages[0].content.text, "What's weather in Paris, TX?");
  const remote = await client.getPrompt({ name: 'remote__simple-prompt' });
  assert.match(remote.messages[0].content.text, /simple prompt/);
});

test('/mcp resources: listed with <server>+ prefix, reads routed with the original URI', T, async () => {
  const { client } = await gate.connect('/mcp');
  const { items } = await listAll(client, 'listResources', 'resources');
  const uris = items.map((r) => r.uri);
  assert.deepEqual(dupes(uris), []);
  assert.deepEqual(uris, await perServer('listResources', 'resources', (s, r) => `${s}+${r.uri}`));
  const doc = 'everything+demo://resource/static/document/features.md';
  assert.ok(uris.includes(doc), uris.join('\n'));
  const read = await client.readResource({ uri: doc });
  assert.equal(read.contents.length, 1);
  assert.equal(read.contents[0].mimeType, 'text/markdown');
  // Same bytes as reading the original URI on the server's own path.
  const { client: direct } = await gate.connect('/servers/everything/mcp');
  const original = await direct.readResource({ uri: 'demo://resource/static/document/features.md' });
  assert.equal(read.contents[0].text, original.contents[0].text);
  // The remote copy is reachable under its own prefix.
  const remote = await client.readResource({ uri: 'remote+demo://resource/static/document/features.md' });
  assert.equal(remote.contents[0].text, original.contents[0].text);
});

test('/mcp resource templates: listed with prefix, instances readable', T, async () => {
  const { client } = await gate.connect('/mcp');
  const { items } = await listAll(client, 'listResourceTemplates', 'resourceTemplates');
  const templates = items.map((t) => t.uriTemplate);
  assert.deepEqual(dupes(templates), []);
  assert.deepEqual(templates, await perServer('listResourceTemplates', 'resourceTemplates', (s, t) => `${s}+${t.uriTemplate}`));
  assert.ok(templates.includes('everything+demo://resource/dynamic/text/{resourceId}'), templates.join('\n'));
  assert.ok(templates.includes('remote+demo://resource/dynamic/blob/{resourceId}'), templates.join('\n'));
  const read = await client.readResource({ uri: 'everything+demo://resource/dynamic/text/7' });
  assert.match(read.contents[0].text, /^Resource 7: This is a plaintext resource/);
});

test('resource links in tool results: rewritten on /mcp, untouched on /servers/everything/mcp', T, async () => {
  const { client } = await gate.connect('/mcp');
  const links = (r) => r.content.filter((c) => c.type === 'resource_link').map((c) => c.uri);
  const viaAll = links(await client.callTool({ name: 'everything__get-resource-links', arguments: { count: 2 } }));
  assert.deepEqual(viaAll, ['everything+demo://resource/dynamic/blob/1', 'everything+demo://resource/dynamic/text/2']);
  // A rewritten link can be read back through /mcp.
  const read = await client.readResource({ uri: viaAll[1] });
  assert.match(read.contents[0].text, /^Resource 2:/);
  const { client: one } = await gate.connect('/servers/everything/mcp');
  const viaOne = links(await one.callTool({ name: 'get-resource-links', arguments: { count: 2 } }));
  assert.deepEqual(viaOne, ['demo://resource/dynamic/blob/1', 'demo://resource/dynamic/text/2']);
});

// Runs in DIRECT mode too (against server-everything itself), which checks the test's own
// expectations about server-everything.
test('/servers/everything/mcp: original names and URIs, echo works', { timeout: 30_000 }, async () => {
  const { client } = DIRECT ? await connectDirect() : await gate.connect('/servers/everything/mcp');
  const { items: tools } = await listAll(client, 'listTools', 'tools');
  const got = names(tools);
  assert.ok(got.includes('echo') && got.includes('trigger-long-running-operation'), got.join());
  assert.ok(got.every((n) => !n.includes('__')), `renamed tool on a single-server path: ${got}`);
  const { items: resources } = await listAll(client, 'listResources', 'resources');
  assert.ok(resources.length > 0 && resources.every((r) => r.uri.startsWith('demo://')), resources.map((r) => r.uri).join());
  const { items: prompts } = await listAll(client, 'listPrompts', 'prompts');
  assert.ok(names(prompts).includes('simple-prompt'));
  assert.equal(resultText(await client.callTool({ name: 'echo', arguments: { message: 'plain' } })), 'Echo: plain');
});

async function connectDirect() {
  const conn = await connect(everything.url);
  gate.clients.push(conn);
  return conn;
}

test('/servers/fs/mcp and /servers/remote/mcp: original names, calls work', T, async () => {
  const { client: fs } = await gate.connect('/servers/fs/mcp');
  const file = await fs.callTool({ name: 'read_text_file', arguments: { path: join(demoDir, 'hello.txt') } });
  assert.match(resultText(file), /hello from the demo dir/);
  const { client: remote } = await gate.connect('/servers/remote/mcp');
  assert.equal(resultText(await remote.callTool({ name: 'echo', arguments: { message: 'r' } })), 'Echo: r');
  assert.equal(resultText(await remote.callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } })), 'The sum of 1 and 1 is 2.');
});

// server-everything registers these only when its client declared sampling / elicitation /
// roots / tasks, and the gateway may initialize an HTTP upstream session per client (with that
// client's capabilities) but share one stdio upstream; so they may differ between the two.
const CONDITIONAL = new Set(['get-roots-list', 'trigger-elicitation-request', 'trigger-url-elicitation',
  'trigger-sampling-request', 'trigger-sampling-request-async', 'trigger-elicitation-request-async']);

test('the HTTP upstream lists the same tools as the stdio one', T, async () => {
  const { client } = await gate.connect('/mcp');
  const got = names((await listAll(client, 'listTools', 'tools')).items);
  const of = (server) => got.filter((n) => n.startsWith(`${server}__`)).map((n) => n.slice(server.length + 2))
    .filter((n) => !CONDITIONAL.has(n));
  assert.ok(of('remote').length > 0);
  assert.deepEqual(of('remote'), of('everything'));
});
