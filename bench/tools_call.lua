-- tools_call.lua - wrk script: MCP tools/call over Streamable HTTP (POST, keep-alive).
--
--   MCP_SESSION_ID=... wrk -t1 -c32 -d10s -s bench/tools_call.lua http://127.0.0.1:PORT/mcp
--
-- Env:
--   MCP_SESSION_ID  sent as Mcp-Session-Id when set and non-empty
--   MCP_AUTHORIZATION  sent as Authorization when set and non-empty (e.g. "Bearer <jwt>")
--   BENCH_LABEL     printed in the result line (default "target")
--   MCP_ERA         "legacy" (default): MCP 2025-11-25 tools/call inside a session;
--                   "modern": stateless MCP 2026-07-28 tools/call (no session, no initialize;
--                   MCP-Protocol-Version/Mcp-Method/Mcp-Name headers and params._meta)
--
-- done() prints one machine-readable line that bench/run.sh parses:
--   BENCH label=direct requests=N duration_s=D rps=R p50_us=X p99_us=Y non200=K socket_errors=E
-- non200 counts responses whose status is not 200 (counted per thread in response()).
-- socket_errors = connect + read + write + timeout errors as counted by wrk itself.

local session = os.getenv("MCP_SESSION_ID")
local label = os.getenv("BENCH_LABEL") or "target"
local era = os.getenv("MCP_ERA") or "legacy"
local authorization = os.getenv("MCP_AUTHORIZATION")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
if era == "modern" then
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = "echo"
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},'
    .. '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
elseif era == "legacy" then
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
  if session ~= nil and session ~= "" then
    wrk.headers["Mcp-Session-Id"] = session
  end
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
else
  error("MCP_ERA must be legacy or modern, not " .. era)
end

-- Pre-format the request once; request() returning the same string is the cheapest path.
local req
function init(args)
  req = wrk.format()
end
function request()
  return req
end

-- Per-thread counter of non-200 responses (each wrk thread has its own Lua state).
non200 = 0
function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

-- Keep a handle on every thread so done() can collect their counters.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
  end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH label=%s requests=%d duration_s=%.3f rps=%.1f p50_us=%d p99_us=%d non200=%d socket_errors=%d\n",
    label, summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), bad, sock))
end
