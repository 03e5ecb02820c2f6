#!/bin/sh
# `make run`: the gateway on the quickstart configuration, with a fresh API key to call it with.
# The key named "quickstart" is replaced on every run (the old one is revoked) and expires in a day.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CONFIG=${CONFIG:-examples/quickstart.yaml}
mcpgate="$BUILD/mcpgate"

"$mcpgate" keys revoke quickstart -c "$CONFIG" >/dev/null 2>&1 || true
key=$("$mcpgate" keys create --name quickstart --roles admin --expires 1d -c "$CONFIG" 2>/dev/null)
echo "mcpgate: MCP endpoint http://127.0.0.1:8080/mcp (all servers), http://127.0.0.1:8080/servers/<name>/mcp (one)"
echo "mcpgate: API key (valid for a day, shown once): $key"
echo "mcpgate: send it as the header 'Authorization: Bearer $key'"
echo "mcpgate: e.g. npx @modelcontextprotocol/inspector, transport Streamable HTTP, URL http://127.0.0.1:8080/mcp,"
echo "mcpgate:      Authentication > Bearer token: the key above"
exec "$mcpgate" serve -c "$CONFIG"
