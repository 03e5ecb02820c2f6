// The audit trail's commands: `audit verify` names each kind of tampering in a copy of a real
// trail (edited, deleted, inserted, reordered records, a bad checkpoint signature), verifies a chain
// across rotated files, and `audit query` filters the SQLite index. `audit pubkey` gives the key.
//
// The trail is written by tests/unit/audit_write_tool (built next to the gateway; AUDIT_WRITE_TOOL
// overrides), which emits records through the real src/audit/ module, so that the trails are exactly
// as long as each case needs; audit-events.test.mjs checks the records the request path writes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';

import { GATEWAY_BIN, GATEWAY_ONLY, cleanupDir, tempDir } from './lib/gateway.mjs';

const WRITE_TOOL = process.env.AUDIT_WRITE_TOOL ?? join(dirname(GATEWAY_BIN), 'tests/unit/audit_write_tool');
const T = { timeout: 30_000, skip: GATEWAY_ONLY || (!existsSync(WRITE_TOOL) && `no ${WRITE_TOOL}`) };
const dir = tempDir('mcpgate-audit-');
after(() => cleanupDir(dir));

const seed = randomBytes(32).toString('base64');

/** Run a program to completion; returns {code, stdout, stderr}. */
function run(bin, args, cwd = dir) {
  const result = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const mcpgate = (...args) => run(GATEWAY_BIN, args);

/** A config with an audit section in a fresh directory; returns {dir, config}. */
function trailDir(name, extra = '') {
  const where = join(dir, name);
  run('mkdir', ['-p', where]);
  const config = join(where, 'gw.yaml');
  writeFileSync(config, `audit:\n  file: audit.jsonl\n  sqlite: audit.sqlite\n  fsync: always\n` +
    `  signing_key: "${seed}"\n  checkpoint_every: 4\n${extra}`);
  return { dir: where, config };
}

function writeTrail(config, count) {
  const r = run(WRITE_TOOL, [config, String(count)]);
  assert.equal(r.code, 0, r.stderr);
}

const readLines = (path) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
const writeLines = (path, lines) => writeFileSync(path, lines.map((l) => `${l}\n`).join(''));

// 10 records, checkpoints after seq 4 and 8 and at the end:
// line 1-4 seq 1-4 · 5 checkpoint · 6-9 seq 5-8 · 10 checkpoint · 11-12 seq 9-10 · 13 checkpoint
const main = trailDir('main');
let publicKey;

test('a trail written through the module verifies, with its checkpoint signatures', T, () => {
  writeTrail(main.config, 10);
  const lines = readLines(join(main.dir, 'audit.jsonl'));
  assert.equal(lines.length, 13);
  assert.equal(JSON.parse(lines[4]).type, 'checkpoint');
  const key = mcpgate('audit', 'pubkey', '-c', main.config);
  assert.equal(key.code, 0, key.stderr);
  publicKey = key.stdout.trim();
  assert.match(publicKey, /^[A-Za-z0-9+/]{43}=$/);
  const r = mcpgate('audit', 'verify', join(main.dir, 'audit.jsonl'), '--key', publicKey);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^intact: 10 records \(seq 1 to 10\), 3 checkpoints, 3 signatures verified/);
  const json = JSON.parse(mcpgate('audit', 'pubkey', '-c', main.config, '--json').stdout);
  assert.equal(json.public_key, publicKey);
  assert.equal(json.key_id, JSON.parse(lines[4]).key_id);
});

/** Verify a tampered copy of the main trail; returns the verify result. */
function verifyTampered(name, tamper, ...options) {
  const lines = readLines(join(main.dir, 'audit.jsonl'));
  const path = join(dir, `${name}.jsonl`);
  writeLines(path, tamper(lines));
  return { path, ...mcpgate('audit', 'verify', path, ...options) };
}

test('an edited record is named', T, () => {
  const r = verifyTampered('edited', (l) => { l[1] = l[1].replace('"subject":"bob"', '"subject":"eve"'); return l; });
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^${r.path}:2: edited: record edited: line 2 of .* \\(seq 2\\)`));
});

test('a deleted record is named', T, () => {
  const r = verifyTampered('deleted', (l) => { l.splice(2, 1); return l; });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /:3: deleted: record deleted: seq 3 is missing before line 3 \(seq 4\)/);
});

test('an inserted record is named', T, () => {
  const r = verifyTampered('inserted', (l) => { l.splice(7, 0, l[6]); return l; });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /:8: inserted: record inserted: line 8 repeats the record seq 6 before it/);
});

test('reordered records are named', T, () => {
  const r = verifyTampered('reordered', (l) => { [l[5], l[6]] = [l[6], l[5]]; return l; });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /:6: reordered: records reordered: seq 6 at line 6 comes before seq 5 at line 7/);
});

test('a forged checkpoint signature is caught with the key, and only with it', T, () => {
  const forge = (l) => {
    const cp = JSON.parse(l[12]);
    cp.sig = randomBytes(64).toString('base64');
    l[12] = JSON.stringify(cp);
    return l;
  };
  assert.equal(verifyTampered('forged-nokey', forge).code, 0);
  const r = verifyTampered('forged', forge, '--key', publicKey);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /:13: signature: checkpoint at line 13 \(seq 10\): the signature does not verify/);
  const other = verifyTampered('other-key', (l) => l, '--key', randomBytes(32).toString('base64'));
  assert.equal(other.code, 1);
  assert.match(other.stdout, /:5: signature: checkpoint at line 5 is signed by key [0-9a-f]{16}, not by the given key/);
});

test('usage errors exit 2', T, () => {
  assert.equal(mcpgate('audit', 'verify').code, 2);
  assert.equal(mcpgate('audit', 'verify', 'x.jsonl', '--key', 'short').code, 2);
  assert.equal(mcpgate('audit', 'frobnicate').code, 2);
  assert.equal(mcpgate('audit', 'query').code, 2);
  assert.equal(mcpgate('audit', 'query', '--db', 'x', '--decision', 'maybe').code, 2);
  assert.equal(mcpgate('audit', 'query', '--db', 'x', '--since', 'yesterday').code, 2);
});

test('query filters the index by principal, tool, server, decision and time', T, () => {
  const q = (...args) => {
    const r = mcpgate('audit', 'query', '-c', main.config, '--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return readLines0(r.stdout).map((l) => JSON.parse(l));
  };
  const all = q();
  assert.deepEqual(all.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // record i (from 0): alice when even; tool add on math when i % 3 == 2; denied when i % 4 == 3
  assert.deepEqual(q('--principal', 'alice').map((r) => r.seq), [1, 3, 5, 7, 9]);
  assert.deepEqual(q('--decision', 'deny').map((r) => r.seq), [4, 8]);
  assert.deepEqual(q('--tool', 'add').map((r) => r.seq), [3, 6, 9]);
  assert.deepEqual(q('--tool', 'math/add', '--principal', 'bob').map((r) => r.seq), [6]);
  assert.deepEqual(q('--server', 'everything', '--decision', 'allow').map((r) => r.seq), [1, 2, 5, 7, 10]);
  assert.deepEqual(q('--since', '1h', '--limit', '3').map((r) => r.seq), [8, 9, 10]);
  assert.deepEqual(q('--until', '2000-01-01'), []);
  // each JSON line is the file's own line
  const fileLines = readLines(join(main.dir, 'audit.jsonl'));
  const fromQuery = mcpgate('audit', 'query', '--db', join(main.dir, 'audit.sqlite'), '--json', '--limit', '1');
  assert.equal(fromQuery.stdout.trim(), fileLines[11]);
  const text = mcpgate('audit', 'query', '-c', main.config, '--decision', 'deny');
  assert.match(text.stdout, /seq=4 deny principal=bob method=tools\/call server=everything item=echo rule=roles\[0\]\.deny\[0\]/);
  // nothing secret in the trail: arguments are redacted by default
  assert.ok(!readFileSync(join(main.dir, 'audit.jsonl'), 'utf8').includes('secret text'));
});

const readLines0 = (text) => text.split('\n').filter((l) => l !== '');

test('query first catches the index up with the trail; a deleted index is rebuilt from it', T, () => {
  const t = trailDir('catch-up');
  // the same trail written by a process without the index (as when audit.sqlite is added later)
  const noIndex = join(t.dir, 'no-index.yaml');
  writeFileSync(noIndex, `audit:\n  file: audit.jsonl\n  fsync: always\n  signing_key: "${seed}"\n  checkpoint_every: 4\n`);
  const seqs = (...args) => {
    const r = mcpgate('audit', 'query', '--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return readLines0(r.stdout).map((l) => JSON.parse(l).seq);
  };
  const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  writeTrail(t.config, 6); // its own indexer may stop before it has caught up: the query adds the rest
  assert.deepEqual(seqs('-c', t.config), range(1, 6));
  writeTrail(noIndex, 4);
  assert.deepEqual(seqs('-c', t.config, '--no-catch-up'), range(1, 6), 'read as it is, the index lacks 7-10');
  // with --db alone the index names its trail
  assert.deepEqual(seqs('--db', join(t.dir, 'audit.sqlite')), range(1, 10));
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(t.dir, `audit.sqlite${suffix}`), { force: true });
  assert.deepEqual(seqs('-c', t.config), range(1, 10));
  assert.deepEqual(seqs('-c', t.config, '--decision', 'deny'), [4, 10]); // each run of the tool counts from 0
  // a line that is not a record is reported, skipped, and the records after it are indexed
  writeTrail(noIndex, 1);
  const lines = readLines(join(t.dir, 'audit.jsonl'));
  writeLines(join(t.dir, 'audit.jsonl'), [...lines.slice(0, -1), 'not a record', lines.at(-1)]);
  const r = mcpgate('audit', 'query', '-c', t.config, '--json', '--limit', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).seq, 11);
  assert.match(r.stderr, /1 line\(s\) of .*audit\.jsonl are not records and were not indexed/);
  // the trail the index names has moved: --db still answers from the index, and says it may be stale
  renameSync(join(t.dir, 'audit.jsonl'), join(t.dir, 'moved.jsonl'));
  const moved = mcpgate('audit', 'query', '--db', join(t.dir, 'audit.sqlite'), '--json');
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(readLines0(moved.stdout).length, 11);
  assert.match(moved.stderr, /the index follows .*audit\.jsonl, which is not there \(No such file or directory\)/);
});

test('rotated files verify as one chain, oldest first; a later file alone needs --partial', T, () => {
  const rot = trailDir('rotated', '  rotate: {size: 4096}\n');
  writeTrail(rot.config, 60);
  writeTrail(rot.config, 40); // a restart continues the chain across the files
  const rotated = readdirSync(rot.dir).filter((n) => n.startsWith('audit.jsonl.')).sort();
  assert.ok(rotated.length >= 5, `rotated: ${rotated}`);
  const files = [...rotated, 'audit.jsonl'].map((n) => join(rot.dir, n));
  const r = mcpgate('audit', 'verify', ...files, '--key', publicKey);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^intact: 100 records \(seq 1 to 100\)/);
  const seqs = files.flatMap(readLines).map((l) => JSON.parse(l)).filter((x) => x.type === undefined).map((x) => x.seq);
  assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 1));
  const last = files.at(-1);
  assert.match(mcpgate('audit', 'verify', last).stdout, /start: line 1 \(seq \d+\) continues an earlier trail/);
  assert.equal(mcpgate('audit', 'verify', last, '--partial', '--key', publicKey).code, 0);
  // a whole rotated file missing from the middle shows as deleted records
  const gap = mcpgate('audit', 'verify', ...files.filter((_, i) => i !== 2));
  assert.equal(gap.code, 1);
  assert.match(gap.stdout, /: deleted: records? deleted/);
});
