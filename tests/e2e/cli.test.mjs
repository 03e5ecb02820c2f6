// The command line: version, usage, exit codes, check-config diagnostics (file:line:column),
// serve failures (bad config, address in use), JSON-lines logs and --log-level.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  GATEWAY_BIN, GATEWAY_ONLY, Gateway, NODE, cleanupDir, connect, everythingStdio, resultText, sleep,
  tempDir, waitFor,
} from './lib/gateway.mjs';

// generous: the sanitized build starting a reference server on a busy 2-core machine takes a while
const T = { timeout: 45_000, skip: GATEWAY_ONLY };
const dir = tempDir('mcpgate-cli-');
after(() => cleanupDir(dir));

// Every process started here; anything still running at the end is killed (with its group).
const live = new Set();
after(() => { for (const p of live) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } });

/**
 * Start `mcpgate ...args`; returns the child with `.out`, `.err` (text so far) and `.done`
 * (resolves {code, signal, stdout, stderr}). Killed with SIGKILL after `timeoutMs`.
 */
function start(args, { env = process.env, cwd = dir, timeoutMs = 10_000 } = {}) {
  const child = spawn(GATEWAY_BIN, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.out = '';
  child.err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { child.out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { child.err += d; });
  const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
  child.done = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout: child.out, stderr: child.err }));
  }).finally(() => { clearTimeout(timer); live.delete(child); });
  return child;
}

/** Run `mcpgate ...args` to completion. */
const run = (args, opts) => start(args, opts).done;

/** SIGTERM a started serve and wait for it (SIGKILL to the group after 5 s). */
async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
  const result = await child.done;
  clearTimeout(timer);
  return result;
}

async function freePort() {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Write `text` to <dir>/<name> and return the absolute path. */
function fixture(name, text) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const lines = (text) => text.split('\n').filter((l) => l !== '');

/** Each stderr line parsed; fails naming the first line that is not a JSON log record. */
function parseLog(stderr) {
  return lines(stderr).map((line) => {
    let rec;
    try { rec = JSON.parse(line); } catch { assert.fail(`stderr line is not JSON: ${line}`); }
    assert.equal(typeof rec, 'object', line);
    assert.match(rec.ts ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `ts in ${line}`);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(rec.level), `level in ${line}`);
    assert.ok(typeof rec.event === 'string' && rec.event !== '', `event in ${line}`);
    assert.equal(typeof rec.msg, 'string', `msg in ${line}`);
    return rec;
  });
}

// ---------------------------------------------------------------------------------------------
// version, usage, exit codes

test('version prints "mcpgate <semver>" and exits 0', T, async () => {
  const { code, stdout, stderr } = await run(['version']);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^mcpgate \d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?\n$/);
  assert.equal(stderr, '');
});

test('--help, -h, serve --help, check-config --help: usage on stdout, exit 0', T, async () => {
  for (const [args, expect] of [
    [['--help'], [/^usage: mcpgate <command>/, /\bserve\b/, /\bcheck-config\b/, /\bversion\b/]],
    [['-h'], [/^usage: mcpgate <command>/]],
    [['serve', '--help'], [/^usage: mcpgate serve/, /-c, --config FILE/, /--log-level/]],
    [['check-config', '--help'], [/^usage: mcpgate check-config -c FILE/]],
  ]) {
    const { code, stdout, stderr } = await run(args);
    assert.equal(code, 0, `${args.join(' ')}: exit ${code}\n${stderr}`);
    for (const re of expect) assert.match(stdout, re, args.join(' '));
  }
});

test('usage errors exit 2 with a message on stderr: unknown command, no command, bad option, bad log level', T, async () => {
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command frobnicate/);
  assert.equal(unknown.stdout, '');

  const none = await run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /usage: mcpgate/);

  const option = await run(['check-config', '--no-such-option']);
  assert.equal(option.code, 2);
  assert.match(option.stderr, /usage: mcpgate check-config/);

  const level = await run(['serve', '--log-level', 'verbose', '-c', fixture('empty-for-level.yaml', '')]);
  assert.equal(level.code, 2);
  assert.match(level.stderr, /unknown log level verbose/);
});

// ---------------------------------------------------------------------------------------------
// check-config

const GOOD = `# a valid file using most keys; paths need not exist, \${VAR} comes from the environment
listen:
  - address: 127.0.0.1:0
    tls: {cert: certs/server.crt, key: certs/server.key}
  - "[::1]:0"
workers: 2
state_dir: var
tool_separator: "__"
allowed_origins: ["http://localhost:*"]
log_level: info
limits: {max_body_bytes: 65536, max_json_depth: 16, upstream_timeout_ms: 5000}
servers:
  - name: everything
    command: [node, server.js, stdio]
    env: {LOG_LEVEL: info}
    timeout_ms: 3000
  - name: search
    url: https://search.internal/mcp
    headers: {Authorization: "Bearer \${MCPGATE_E2E_TOKEN}"}
    tls_verify: true
    ca_file: ca.pem
    required: false
`;
const withToken = { ...process.env, MCPGATE_E2E_TOKEN: 'secret-token' };

test('check-config: a valid file exits 0 (empty file too)', T, async () => {
  const good = await run(['check-config', '-c', fixture('good.yaml', GOOD)], { env: withToken });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(good.stderr, '');
  assert.match(good.stdout, /ok \(2 server\(s\), 2 listener\(s\)\)/);
  const empty = await run(['check-config', '--config', fixture('empty.yaml', '')]);
  assert.equal(empty.code, 0, empty.stderr);
});

// [file name, content, line, column, rest of the message]. Positions count from 1.
const env = { ...process.env };
delete env.MCPGATE_E2E_UNSET_VAR;
const BAD = [
  ['syntax-flow.yaml', 'workers: 2\nservers:\n  - name: a\n    command: [x, y\n', 5, 1,
    /did not find expected ',' or ']' \(while parsing a flow sequence started at line 4, column 14\)/],
  ['syntax-mapping.yaml', 'workers: 2\nlog_level: debug: x\n', 2, 17, /mapping values are not allowed/],
  ['typo.yaml', 'workers: 2\nservers:\n  - name: a\n    comand: [x]\n', 4, 5,
    /^servers\[0\]: unknown key "comand" \(did you mean "command"\?\)$/],
  ['type-int.yaml', 'log_level: warn\nworkers: two\n', 2, 10, /^workers: expected an integer, got "two"$/],
  ['type-bool.yaml', 'servers:\n  - name: a\n    command: [x]\n    required: yes\n', 4, 15,
    /^servers\[0\]\.required: expected true or false, got "yes"$/],
  ['type-list.yaml', 'servers: {name: a}\n', 1, 10, /^servers: expected a list, got a mapping$/],
  ['range.yaml', 'limits:\n  max_json_depth: 1001\n', 2, 19, /^limits\.max_json_depth: 1001 is out of range 1\.\.1000$/],
  ['name.yaml', 'servers:\n  - name: everything\n    command: [x]\n  - name: Search\n    command: [x]\n', 4, 11,
    /^servers\[1\]\.name: "Search" must match \[a-z0-9-\]\+$/],
  ['both.yaml', 'servers:\n  - name: a\n    command: [x]\n    url: http://127.0.0.1:1/mcp\n', 4, 5,
    /^servers\[0\]: has both command \(line 3\) and url/],
  ['env.yaml', 'servers:\n  - name: a\n    url: https://h/mcp\n    headers: {Authorization: "Bearer ${MCPGATE_E2E_UNSET_VAR}"}\n', 4, 30,
    /^servers\[0\]\.headers\.Authorization: environment variable MCPGATE_E2E_UNSET_VAR is not set$/],
  ['duplicate.yaml', 'workers: 1\nlog_level: info\nworkers: 2\n', 3, 1, /^duplicate key "workers" \(first at line 1\)$/],
  ['ipv6.yaml', 'listen:\n  - address: "::1:8080"\n', 2, 14, /an IPv6 address must be in brackets/],
  ['utf8-column.yaml', 'allowed_origins: ["ü", "a b"]\n', 1, 24, /^allowed_origins\[1\]: /], // columns count characters
  ['crlf.yaml', 'workers: 2\r\nservers:\r\n  - name: a\r\n    comand: [x]\r\n', 4, 5, /unknown key "comand"/],
];

test('check-config: each bad file exits 1 with "<path>:<line>:<column>: " at the offending node', T, async () => {
  for (const [name, text, line, column, rest] of BAD) {
    const path = fixture(name, text);
    const { code, stdout, stderr } = await run(['check-config', '-c', path], { env });
    assert.equal(code, 1, `${name}: exit ${code}\n${stderr}`);
    assert.equal(stdout, '', name);
    const prefix = `${path}:${line}:${column}: `;
    assert.ok(stderr.startsWith(prefix), `${name}: expected "${prefix}…", got: ${stderr}`);
    assert.match(stderr.slice(prefix.length).trimEnd(), rest, name);
    assert.equal(lines(stderr).length, 1, `${name}: one line: ${stderr}`);
    assert.ok(!stderr.includes('secret-token'), 'no expanded secret');
  }
});

test('check-config: an unreadable file exits 1 naming it; a relative path is reported as given', T, async () => {
  const missing = join(dir, 'does-not-exist.yaml');
  const res = await run(['check-config', '-c', missing]);
  assert.equal(res.code, 1);
  assert.ok(res.stderr.startsWith(`${missing}: `), res.stderr);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  fixture('sub/rel.yaml', 'workers: 0\n');
  const rel = await run(['check-config', '-c', 'sub/rel.yaml']);
  assert.equal(rel.code, 1);
  assert.ok(rel.stderr.startsWith('sub/rel.yaml:1:10: workers: 0 is out of range 1..256'), rel.stderr);
});

// ---------------------------------------------------------------------------------------------
// serve failures

test('serve -c <bad file> exits 1 with the same message as check-config, without listening', T, async () => {
  for (const [name, text] of BAD.filter(([n]) => ['typo.yaml', 'env.yaml', 'syntax-mapping.yaml'].includes(n))) {
    const path = fixture(`serve-${name}`, text);
    const check = await run(['check-config', '-c', path], { env });
    const serve = await run(['serve', '-c', path], { env });
    assert.equal(serve.code, 1, `${name}: exit ${serve.code}\n${serve.stderr}`);
    assert.equal(serve.stderr, check.stderr, name);
    assert.ok(!serve.stderr.includes('listen.ready'));
  }
  const missing = await run(['serve', '-c', join(dir, 'does-not-exist.yaml')]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /does-not-exist\.yaml: cannot open/);
});

test('serve on an address another process listens on exits 1 with "Address already in use"', T, async () => {
  const holder = createServer(); // a plain Node listener (no SO_REUSEPORT)
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  try {
    const { port } = holder.address();
    const path = fixture('in-use.yaml', `listen: ["127.0.0.1:${port}"]\nstate_dir: var\nworkers: 2\n`);
    const res = await run(['serve', '-c', path], { timeoutMs: 5000 });
    assert.equal(res.code, 1, `exit ${res.code} (${res.signal})\n${res.stderr}`);
    const recs = parseLog(res.stderr);
    assert.ok(!recs.some((r) => r.event === 'listen.ready'), res.stderr);
    const failed = recs.find((r) => r.level === 'error');
    assert.ok(failed, res.stderr);
    assert.equal(failed.msg, `listen 127.0.0.1:${port}: Address already in use`);
  } finally {
    holder.close();
  }
});

// Listeners use SO_REUSEPORT (one socket per worker), which would also let a second gateway of
// the same user bind an address a running gateway serves, the kernel then splitting new
// connections between the two. It must be refused like a foreign listener.
test('serve on an address a running gateway already serves is refused', T, async () => {
  const first = await new Gateway({}).start();
  let second;
  try {
    second = new Gateway({ listen: [{ address: new URL(first.baseUrl).host }] });
    const outcome = await second.start({ timeoutMs: 3000, waitReady: false }).then(() => 'listening', (e) => e);
    assert.ok(outcome instanceof Error && /exited before listen\.ready/.test(outcome.message),
      `the second gateway is ${outcome === 'listening' ? 'listening on the same address' : outcome}`);
    assert.match(second.stderr, /Address already in use/);
  } finally {
    await second?.stop();
    await first.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// logs

test('logs: every stderr line of a serve run is a JSON record with ts, level, event, msg', T, async () => {
  const gw = new Gateway({ log_level: 'debug', servers: [everythingStdio('everything')] });
  let result;
  try {
    await gw.start();
    const conn = await connect(gw.url('/mcp'));
    assert.equal(resultText(await conn.client.callTool({ name: 'everything__echo', arguments: { message: 'log me' } })), 'Echo: log me');
    await conn.close();
    await (await gw.get('/nope')).text();
  } finally {
    result = await gw.stop();
  }
  assert.deepEqual(result, { code: 0, signal: null });
  const recs = parseLog(gw.stderr); // also fails on any stdout output ("[stdout] …" lines)
  const events = new Set(recs.map((r) => r.event));
  for (const e of ['listen.ready', 'server.started', 'upstream.spawned', 'server.stopping', 'server.stopped']) {
    assert.ok(events.has(e), `no ${e} in ${[...events]}`);
  }
});

// Upstream stderr is logged line by line; jansson refuses strings that are not valid UTF-8, so
// invalid bytes, or a character split by the 1024-byte cut, must not cost the record its msg.
test('logs: an upstream writing invalid UTF-8 or long non-ASCII lines to stderr still yields records with msg', T, async () => {
  const noisy = [
    "const w = (b) => process.stderr.write(b);",
    "w('plain line\\n');",
    "w(Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x0a]));", // "bad \xff\xfe"
    "w('x' + 'é'.repeat(600) + '\\n');", // 1201 bytes: the 1024-byte cut falls inside a character
    "w('marker-done\\n');",
    "setInterval(() => {}, 1000);",
  ].join('\n');
  const gw = new Gateway({ servers: [{ name: 'noisy', command: [NODE, '-e', noisy], required: false, timeout_ms: 1000 }] });
  try {
    await gw.start({ waitReady: false });
    await waitFor(() => gw.stderr.includes('marker-done'), { what: 'the upstream\'s stderr lines in the log' });
  } finally {
    await gw.stop();
  }
  parseLog(gw.stderr);
  const msgs = lines(gw.stderr).map((l) => JSON.parse(l)).filter((r) => r.event === 'upstream.stderr').map((r) => r.msg);
  assert.equal(msgs.length, 4, gw.stderr);
  assert.equal(msgs[0], 'plain line');
  assert.ok(msgs[1].startsWith('bad '), msgs[1]); // the invalid bytes themselves may be replaced
  assert.ok(msgs[2].startsWith('xéé'), msgs[2].slice(0, 20));
  assert.equal(msgs[3], 'marker-done');
});

test('--log-level warn suppresses info (and debug) lines; -l error suppresses warn', T, async () => {
  const port = await freePort();
  const dead = await freePort(); // nothing listens there: the optional upstream logs a warning
  const path = fixture('levels.yaml', [
    `listen: ["127.0.0.1:${port}"]`, 'state_dir: var', 'workers: 1', 'log_level: debug',
    'servers:', '  - name: gone', `    url: http://127.0.0.1:${dead}/mcp`, '    required: false', '',
  ].join('\n'));

  const healthy = () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
  const serveUntil = async (args, condition, settleMs = 0) => {
    const child = start(['serve', '-c', path, ...args]);
    try {
      await waitFor(async () => (await healthy()) && condition(child), { timeoutMs: 8000, what: `serve ${args.join(' ')}` });
      await sleep(settleMs);
    } catch (err) {
      err.message += `\n${child.err}`;
      throw err;
    } finally {
      await stop(child);
    }
    return child;
  };

  // Reference run: the file's debug level gives info lines and the warning.
  const warned = (c) => /"level":"warn"/.test(c.err);
  const base = await serveUntil([], warned);
  assert.ok(parseLog(base.err).some((r) => r.level === 'info'), base.err);

  const warn = await serveUntil(['--log-level', 'warn'], warned);
  assert.equal(warn.exitCode, 0, warn.err);
  const recs = parseLog(warn.err);
  assert.ok(recs.length > 0 && recs.every((r) => r.level === 'warn' || r.level === 'error'), warn.err);
  assert.ok(recs.some((r) => r.event === 'upstream.unreachable'), warn.err);

  const error = await serveUntil(['-l', 'error'], () => true, 500); // time for the warning to be (not) logged
  assert.equal(error.exitCode, 0, error.err);
  assert.ok(parseLog(error.err).every((r) => r.level === 'error'), error.err);
});
