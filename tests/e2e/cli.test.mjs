// The command line: version, usage, exit codes, check-config diagnostics (file:line:column),
// serve failures (bad config, address in use), JSON-lines logs and --log-level, API keys
// (keys create/list/revoke) and the encrypted secret store (secrets set/list/delete/init-key,
// ${secret:NAME} in check-config).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
 * (resolves {code, signal, stdout, stderr}). Killed with SIGKILL after `timeoutMs`. `input`, when
 * given, is written to its stdin (otherwise stdin is /dev/null).
 */
function start(args, { env = process.env, cwd = dir, timeoutMs = 10_000, input } = {}) {
  const stdin = input === undefined ? 'ignore' : 'pipe';
  const child = spawn(GATEWAY_BIN, args, { cwd, env, detached: true, stdio: [stdin, 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin.on('error', () => { /* exited without reading: EPIPE */ }).end(input);
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

// ---------------------------------------------------------------------------------------------
// keys and secrets

/** process.env without anything that would supply a master key or a secret. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('MCPGATE_SECRET_') || name.startsWith('MCPGATE_MASTER_KEY')) delete env[name];
  }
  return { ...env, ...extra };
}

/** A fresh directory under `dir` with a config naming state_dir `state` (plus `extra` YAML). */
function stateConfig(name, extra = '') {
  const sub = join(dir, name);
  mkdirSync(sub, { recursive: true });
  const path = join(sub, 'gw.yaml');
  writeFileSync(path, `state_dir: state\n${extra}`);
  return { sub, path, db: join(sub, 'state', 'mcpgate.db') };
}

const KEY_RE = /^mgk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

test('keys create prints the key once, alone on stdout; list and the database never show it', T, async () => {
  const { path, db } = stateConfig('keys-create');
  const env = cleanEnv();
  const created = await run(['keys', 'create', '-c', path, '--name', 'ci-bot', '--roles', 'developer,viewer', '--expires', '30d'], { env });
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trimEnd();
  assert.equal(created.stdout, `${key}\n`);
  assert.match(key, KEY_RE);
  const id = key.slice(4, 20);
  assert.match(created.stderr, /only time the key is shown/);
  assert.ok(created.stderr.includes(id) && !created.stderr.includes(key.slice(21)), created.stderr);
  assert.equal(statSync(join(db, '..')).mode & 0o777, 0o700);
  assert.equal(statSync(db).mode & 0o777, 0o600);

  const list = await run(['keys', 'list', '-c', path], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^NAME +ID +ROLES +STATUS +CREATED +EXPIRES +LAST USED +REVOKED\n/);
  assert.match(list.stdout, new RegExp(`\\nci-bot +${id} +developer,viewer +active +\\S+Z +\\S+Z +never +-\\n$`));
  const json = await run(['keys', 'list', '--json', '-c', path], { env });
  assert.equal(json.code, 0, json.stderr);
  const [entry, ...rest] = JSON.parse(json.stdout);
  assert.deepEqual(rest, []);
  assert.deepEqual(Object.keys(entry).sort(),
    ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'revoked_at', 'roles', 'status']);
  assert.deepEqual([entry.name, entry.id, entry.roles, entry.status, entry.last_used_at, entry.revoked_at],
    ['ci-bot', id, ['developer', 'viewer'], 'active', null, null]);
  const days = (Date.parse(entry.expires_at) - Date.parse(entry.created_at)) / 86_400_000;
  assert.equal(days, 30);
  for (const out of [list.stdout, list.stderr, json.stdout, json.stderr]) assert.ok(!out.includes(key.slice(21)), out);
  // Only a hash is stored: neither the key nor its secret part is in the database files.
  for (const file of [db, `${db}-wal`].filter(existsSync)) {
    const bytes = readFileSync(file);
    assert.ok(!bytes.includes(key.slice(21)) && !bytes.includes(key), `${file} holds the key`);
  }
});

test('keys revoke: by name, by id; again fails; the name can then be reused', T, async () => {
  const { path } = stateConfig('keys-revoke');
  const env = cleanEnv();
  const create = async (name) => {
    const res = await run(['keys', 'create', '-c', path, '--name', name, '--roles', 'viewer'], { env });
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.trim().slice(4, 20);
  };
  const first = await create('ci-bot');
  const other = await create('deploy');
  const byName = await run(['keys', 'revoke', 'ci-bot', '-c', path], { env });
  assert.equal(byName.code, 0, byName.stderr);
  assert.match(byName.stderr, new RegExp(`revoked key ${first}`));
  const again = await run(['keys', 'revoke', '-c', path, 'ci-bot'], { env });
  assert.equal(again.code, 1);
  assert.equal(again.stderr, `mcpgate: key "ci-bot" (id ${first}) is already revoked\n`);
  const byId = await run(['keys', 'revoke', '-c', path, other], { env });
  assert.equal(byId.code, 0, byId.stderr);
  const nobody = await run(['keys', 'revoke', '-c', path, 'nobody'], { env });
  assert.equal(nobody.code, 1);
  assert.equal(nobody.stderr, 'mcpgate: no key is named "nobody" or has that id\n');
  const reused = await create('ci-bot');
  const list = JSON.parse((await run(['keys', 'list', '--json', '-c', path], { env })).stdout);
  const byKey = Object.fromEntries(list.map((k) => [k.id, k]));
  assert.equal(byKey[first].status, 'revoked');
  assert.match(byKey[first].revoked_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(byKey[other].status, 'revoked');
  assert.equal(byKey[reused].status, 'active');
  assert.equal(byKey[reused].name, 'ci-bot');
});

test('keys: bad --expires, names and options are usage errors (exit 2); a duplicate name fails (exit 1)', T, async () => {
  const { path, db } = stateConfig('keys-usage');
  const env = cleanEnv();
  const create = (...extra) => run(['keys', 'create', '-c', path, ...extra], { env });
  const cases = [
    [['--name', 'a', '--roles', 'r', '--expires', '3x'],
      /^mcpgate: --expires "3x": expected a duration \(45s, 90m, 12h, 30d, 2w\) or a UTC date \(2027-01-01 or 2027-01-01T12:00:00Z\)\n$/],
    [['--name', 'a', '--roles', 'r', '--expires', '2020-01-01'], /^mcpgate: --expires 2020-01-01: that is not in the future\n$/],
    [['--name', 'a', '--roles', 'r', '--expires', '0d'], /expected a duration/],
    [['--name', 'a', '--roles', 'r', '--expires', '2027-02-30'], /expected a duration/],
    [['--name', 'a', '--roles', 'r', '--expires', '99999999999w'], /longer than 100 years/],
    [['--name', 'a b', '--roles', 'r'], /^mcpgate: --name "a b": 1 to 64 characters/],
    [['--name', 'a', '--roles', 'r,,s'], /^mcpgate: roles "r,,s": each role is 1 to 64 characters/],
    [['--name', 'a'], /keys create needs --name and --roles/],
    [['--name', 'a', '--roles', 'r', '--json'], /this command does not take --json/],
    [['--name', 'a', '--roles', 'r', 'extra'], /unexpected argument: extra/],
    [['--name', 'a', '--roles', 'r', '--bogus'], /unknown option or missing value: --bogus/],
  ];
  for (const [args, message] of cases) {
    const res = await create(...args);
    assert.equal(res.code, 2, `${args.join(' ')}: exit ${res.code}\n${res.stderr}`);
    assert.equal(res.stdout, '', args.join(' '));
    assert.match(res.stderr, message, args.join(' '));
  }
  assert.ok(!existsSync(db), 'a refused command creates nothing');
  for (const [args, code, stream, re] of [
    [['keys'], 2, 'stderr', /^usage: mcpgate keys create/],
    [['keys', 'frobnicate'], 2, 'stderr', /unknown keys command frobnicate/],
    [['keys', '--help'], 0, 'stdout', /^usage: mcpgate keys create --name NAME --roles ROLE\[,ROLE\.\.\.\] \[--expires WHEN\] \[-c FILE\]/],
    [['keys', 'revoke', '-c', path], 2, 'stderr', /missing argument/],
  ]) {
    const res = await run(args, { env });
    assert.equal(res.code, code, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res[stream], re, args.join(' '));
  }
  assert.equal((await create('--name', 'dup', '--roles', 'r')).code, 0);
  const dup = await create('--name', 'dup', '--roles', 'r');
  assert.equal(dup.code, 1);
  assert.equal(dup.stdout, '');
  assert.equal(dup.stderr, 'mcpgate: a key named "dup" exists and is not revoked\n');
});

test('keys and secrets without -c use the embedded quickstart configuration (state_dir ./var)', T, async () => {
  const cwd = join(dir, 'default-config');
  mkdirSync(cwd);
  const env = cleanEnv();
  const empty = await run(['keys', 'list'], { env, cwd });
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, '');
  assert.equal(empty.stderr, 'mcpgate: no API keys\n');
  assert.ok(!existsSync(join(cwd, 'var')), 'listing creates nothing');
  const created = await run(['keys', 'create', '--name', 'local', '--roles', 'viewer'], { env, cwd });
  assert.equal(created.code, 0, created.stderr);
  assert.ok(existsSync(join(cwd, 'var', 'mcpgate.db')));
  const secrets = await run(['secrets', 'list', '--json'], { env, cwd });
  assert.equal(secrets.code, 0, secrets.stderr);
  assert.deepEqual(JSON.parse(secrets.stdout), []);
});

/** `secrets init-key` into <sub>/<name>; returns the path. */
async function initKey(sub, name) {
  const path = join(sub, name);
  const res = await run(['secrets', 'init-key', path], { env: cleanEnv() });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, /wrote a new master key to .* \(mode 0600, fingerprint [0-9a-f]{16}\)/);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  return path;
}

const USES_SECRET = `servers:
  - name: search
    url: https://search.internal/mcp
    headers: {Authorization: "Bearer \${secret:search-token}"}
`;
const VALUE = 'v4lue-from-stdin ${NOT_EXPANDED}';

test('secrets set reads the value from stdin; check-config resolves ${secret:NAME}; list shows names only', T, async () => {
  const { sub, path, db } = stateConfig('secrets-set', USES_SECRET);
  const keyFile = await initKey(sub, 'master.key');
  const env = cleanEnv({ MCPGATE_MASTER_KEY_FILE: keyFile });
  const set = await run(['secrets', 'set', 'search-token', '-c', path], { env, input: `${VALUE}\n` });
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, '');
  assert.match(set.stderr, /^mcpgate: stored secret search-token in .*mcpgate\.db\n$/);

  const list = await run(['secrets', 'list', '-c', path], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^NAME {8}  UPDATED\nsearch-token  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
  const json = JSON.parse((await run(['secrets', 'list', '--json', '-c', path], { env })).stdout);
  assert.deepEqual(json.map((s) => Object.keys(s).sort()), [['name', 'updated_at']]);

  const check = await run(['check-config', '-c', path], { env });
  assert.equal(check.code, 0, check.stderr);
  assert.equal(check.stderr, '');
  // The same with the key named by the configuration instead of the environment.
  const byConfig = join(sub, 'by-config.yaml');
  writeFileSync(byConfig, `state_dir: state\nsecrets: {master_key_file: master.key}\n${USES_SECRET}`);
  const check2 = await run(['check-config', '-c', byConfig], { env: cleanEnv() });
  assert.equal(check2.code, 0, check2.stderr);

  for (const out of [set.stderr, list.stdout, check.stdout, check.stderr]) assert.ok(!out.includes('v4lue'), out);
  for (const file of [db, `${db}-wal`].filter(existsSync)) assert.ok(!readFileSync(file).includes('v4lue'), file);

  // The environment overrides the store, and needs no master key.
  const fromEnv = await run(['check-config', '-c', path], { env: cleanEnv({ MCPGATE_SECRET_SEARCH_TOKEN: 'x' }) });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);

  // delete, then it is missing.
  const del = await run(['secrets', 'delete', 'search-token', '-c', path], { env });
  assert.equal(del.code, 0, del.stderr);
  const again = await run(['secrets', 'delete', 'search-token', '-c', path], { env });
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'mcpgate: no secret named "search-token"\n');
});

test('check-config fails naming a missing secret and every place it looked', T, async () => {
  const { sub, path } = stateConfig('secrets-missing', `secrets: {dir: files}\n${USES_SECRET}`);
  const res = await run(['check-config', '-c', path], { env: cleanEnv() });
  assert.equal(res.code, 1);
  assert.equal(res.stdout, '');
  assert.equal(res.stderr, `${path}:6:30: servers[0].headers.Authorization: secret search-token not found (looked in: `
    + `environment variable MCPGATE_SECRET_SEARCH_TOKEN; file ${sub}/files/search-token; `
    + `encrypted store ${sub}/state/mcpgate.db, which does not exist)\n`);
  assert.ok(!existsSync(join(sub, 'state')), 'check-config creates no state_dir');
  // A file in secrets.dir that others may read is refused, not used.
  mkdirSync(join(sub, 'files'));
  writeFileSync(join(sub, 'files', 'search-token'), 'from-file\n', { mode: 0o644 });
  const open = await run(['check-config', '-c', path], { env: cleanEnv() });
  assert.equal(open.code, 1);
  assert.match(open.stderr, /secret search-token: .*\/files\/search-token has mode 0644, which lets others read or write it; run chmod o-rw /);
  assert.ok(!open.stderr.includes('from-file'));
});

test('a wrong or malformed master key gives a clear error, never a value', T, async () => {
  const { sub, path } = stateConfig('secrets-wrong-key', USES_SECRET);
  const right = await initKey(sub, 'right.key');
  const wrong = await initKey(sub, 'wrong.key');
  const set = await run(['secrets', 'set', 'search-token', '-c', path],
    { env: cleanEnv({ MCPGATE_MASTER_KEY_FILE: right }), input: VALUE });
  assert.equal(set.code, 0, set.stderr);

  const fingerprintRe = /the master key from .*wrong\.key \(MCPGATE_MASTER_KEY_FILE\) \(fingerprint [0-9a-f]{16}\) is not the one the secrets in .*mcpgate\.db are sealed with \(fingerprint [0-9a-f]{16}\)/;
  const check = await run(['check-config', '-c', path], { env: cleanEnv({ MCPGATE_MASTER_KEY_FILE: wrong }) });
  assert.equal(check.code, 1);
  assert.ok(check.stderr.startsWith(`${path}:5:30: servers[0].headers.Authorization: secret search-token: `), check.stderr);
  assert.match(check.stderr, fingerprintRe);
  const add = await run(['secrets', 'set', 'other', '-c', path], { env: cleanEnv({ MCPGATE_MASTER_KEY_FILE: wrong }), input: 'x' });
  assert.equal(add.code, 1);
  assert.match(add.stderr, fingerprintRe);

  const malformed = await run(['check-config', '-c', path], { env: cleanEnv({ MCPGATE_MASTER_KEY: 'not-a-key' }) });
  assert.equal(malformed.code, 1);
  assert.match(malformed.stderr, /but the master key cannot be loaded: MCPGATE_MASTER_KEY: expected 32 bytes written as 64 hex digits or base64, got 9 characters$/m);
  const none = await run(['check-config', '-c', path], { env: cleanEnv() });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /secret search-token is in the encrypted store .*, but there is no master key: set MCPGATE_MASTER_KEY/);
  const noKeySet = await run(['secrets', 'set', 'x', '-c', path], { env: cleanEnv(), input: 'x' });
  assert.equal(noKeySet.code, 1);
  assert.match(noKeySet.stderr, /^mcpgate: no master key: /);
  for (const res of [check, add, malformed, none, noKeySet]) assert.ok(!res.stderr.includes('v4lue'), res.stderr);
});

test('secrets: usage errors exit 2; the value never comes from the command line; init-key never overwrites', T, async () => {
  const { sub, path } = stateConfig('secrets-usage');
  const keyFile = await initKey(sub, 'master.key');
  const env = cleanEnv({ MCPGATE_MASTER_KEY_FILE: keyFile });
  for (const [args, re] of [
    [['secrets', 'set', 'name', 'the-value', '-c', path], /unexpected argument: the-value/],
    [['secrets', 'set', 'a/b', '-c', path], /secret name "a\/b": 1 to 128 characters/],
    [['secrets', 'set', '-c', path], /missing argument/],
    [['secrets', 'list', 'extra', '-c', path], /unexpected argument: extra/],
    [['secrets', 'init-key', '-c', path, 'k'], /this command does not take --config/],
    [['secrets'], /^usage: mcpgate secrets set NAME/],
    [['secrets', 'get', 'x'], /unknown secrets command get/],
  ]) {
    const res = await run(args, { env, input: 'x' });
    assert.equal(res.code, 2, `${args.join(' ')}: exit ${res.code}\n${res.stderr}`);
    assert.match(res.stderr, re, args.join(' '));
  }
  const empty = await run(['secrets', 'set', 'empty', '-c', path], { env, input: '\n' });
  assert.equal(empty.code, 1);
  assert.equal(empty.stderr, 'mcpgate: secret empty: the value is empty\n');
  const before = readFileSync(keyFile);
  const again = await run(['secrets', 'init-key', keyFile], { env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists; not overwriting a master key/);
  assert.deepEqual(readFileSync(keyFile), before);
});
