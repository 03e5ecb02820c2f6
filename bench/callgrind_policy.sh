#!/usr/bin/env bash
# bench/callgrind_policy.sh - instructions per tools/call under a policy, counted by callgrind
# (deterministic, unlike wall-clock figures on a shared machine).
#
# Usage: bench/callgrind_policy.sh MCPGATE_BIN one|many [CALLS]
#   one:  a one-role policy that allows everything
#   many: bench/run.sh's 300-rule policy (make_policy), the caller bound to its 14 roles through an
#         API key's own roles, the call passing 13 distinct conditional denies and a conditional allow
# ERA=modern sends bench/tools_call.lua's stateless 2026-07-28 tools/call (headers mirrored, no session)
# instead of the legacy one inside a session (ERA=legacy, the default).
# AUTH=jwt identifies the caller by bench/run.sh's RS256 JWT (make_jwt: its JWKS served on loopback)
# instead of an API key (AUTH=apikey, the default); KIND one then binds its role to every authenticated
# caller, as bench/run.sh's mcpgate-jwt, and KIND many is bench/run.sh's mcpgate-policy (the roles
# bound by the token's groups). AUTH=none has no auth and no policy (bench/run.sh's mcpgate).
# EXTRA_YAML is appended to the configuration (e.g. bench/run.sh's observed_yaml: audit, metrics, limits).
# METRICS=1 adds a `metrics` section (the endpoint on the main listener, open), so that the difference
# is what counting each request costs.
# Prints the worker thread's instructions per call, and every other thread's that counted more than a
# few per call (the audit writer); the callgrind files (one per thread) stay in $OUT (default /tmp).
# Needs valgrind, python3 and bench/.build/fast_upstream (bench/run.sh builds it).
set -euo pipefail
BIN=$1 KIND=$2 CALLS=${3:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/mcpgate-callgrind.XXXXXX)}
mkdir -p "$OUT"
read -r UP GW <<<"$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')"
"$ROOT/bench/.build/fast_upstream" "$UP" >"$OUT/up.log" 2>&1 &
UPPID=$!
trap 'kill $UPPID 2>/dev/null; wait 2>/dev/null' EXIT
mkdir -p "$OUT/state"
AUTH=${AUTH:-apikey}
if [ "$AUTH" = jwt ]; then
    # bench/run.sh's own make_jwt (and what it uses), so that both measure the same token
    PIDS=() TMP=$OUT
    eval "$(sed -n '/^wait_port()/,/^}/p; /^make_jwt()/,/^}/p' "$ROOT/bench/run.sh")"
    JWKS=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    make_jwt "$GW" "$JWKS" || { echo "make_jwt: $FAIL_REASON" >&2; exit 1; }
    trap 'kill $UPPID "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
fi
{
    printf 'listen:\n  - address: 127.0.0.1:%s\nworkers: 1\nlog_level: warn\nstate_dir: %s\n' "$GW" "$OUT/state"
    [ "$AUTH" = apikey ] && printf 'auth:\n  resource: http://127.0.0.1:%s/mcp\n  api_keys: {enabled: true}\n' "$GW"
    printf 'servers:\n  - name: fast\n    url: http://127.0.0.1:%s/mcp\n' "$UP"
    if [ "$AUTH" = jwt ] && [ "$KIND" = one ]; then
        printf '%s\n%s\n' "$JWT_AUTH_YAML" "$ALLOW_ALL_YAML"
    elif [ "$AUTH" = jwt ]; then
        # bench/run.sh's mcpgate-policy row exactly: make_policy with its bindings (the token's groups)
        printf '%s\n' "$JWT_AUTH_YAML"
        sed -n '/^make_policy()/,/^}/p' "$ROOT/bench/run.sh" | sed -n '/<<.PYEOF./,/^PYEOF/p' | sed '1d;$d' | python3 -
    elif [ "$AUTH" = none ]; then
        :
    elif [ "$KIND" = one ]; then
        printf 'roles:\n  - name: everyone\n    allow: [{tools: ["*"]}]\n'
    else
        # the roles of bench/run.sh's make_policy (its bindings are for JWT groups; here the key has the roles)
        sed -n '/^make_policy()/,/^}/p' "$ROOT/bench/run.sh" | sed -n '/<<.PYEOF./,/^PYEOF/p' | sed '1d;$d' |
            python3 - | sed '/^bindings:/,$d'
    fi
    if [ "${METRICS:-0}" = 1 ]; then printf 'metrics:\n  require: none\n'; fi
    [ -z "${EXTRA_YAML:-}" ] || printf '%s\n' "$EXTRA_YAML"
} >"$OUT/gw.yaml"
if [ "$KIND" = one ]; then ROLES=everyone; else
    ROLES=$(python3 -c 'print(",".join([f"role-{r}" for r in range(0, 60, 5)] + ["role-7", "echoer"]))'); fi
case $AUTH in
apikey) KEY=$("$BIN" keys create --name bench --roles "$ROLES" -c "$OUT/gw.yaml") ;;
jwt) KEY=$JWT_TOKEN ;;
*) KEY=none ;;
esac
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" --collect-atstart=yes --separate-threads=yes \
    "$BIN" serve -c "$OUT/gw.yaml" >"$OUT/gw.log" 2>&1 &
GWPID=$!
for _ in $(seq 1 900); do (exec 3<>/dev/tcp/127.0.0.1/"$GW") 2>/dev/null && break; sleep 0.2; done
coproc CLIENT { python3 - "$GW" "$CALLS" "$KEY" "${ERA:-legacy}" <<'PY'
import http.client, sys
port, n, key, era = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port)
h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
     "MCP-Protocol-Version": "2025-11-25"}
if key != "none":
    h["Authorization"] = "Bearer " + key
if era == "modern":  # as bench/tools_call.lua sends it
    h.update({"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"})
    body = ('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},'
            '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
else:
    c.request("POST", "/servers/fast/mcp", '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}', h)
    r = c.getresponse(); r.read(); h["Mcp-Session-Id"] = r.getheader("Mcp-Session-Id")
    body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
def one():
    c.request("POST", "/servers/fast/mcp", body, h); r = c.getresponse(); b = r.read()
    assert r.status == 200 and b'"hello"' in b, (r.status, b)
for _ in range(50): one()
print("warm", flush=True); sys.stdin.readline()
for _ in range(n): one()
print("done", flush=True)
PY
}
read -r _ <&"${CLIENT[0]}"
callgrind_control -z "$GWPID" >/dev/null
echo go >&"${CLIENT[1]}"
read -r _ <&"${CLIENT[0]}"
callgrind_control -d "$GWPID" >/dev/null
sleep 1
kill -TERM "$GWPID"; wait "$GWPID" 2>/dev/null || true
# one file per thread (--separate-threads) in the dump of the measured calls, callgrind.out.1-NN: the
# worker's is the one that ran worker_main (else the one that counted the most); the other threads
# (the audit writer, ...) are listed when they counted more than a few per call
TOTAL=0 WORKER="" OTHERS="" LARGEST=0 LARGEST_FILE=""
for f in "$OUT"/callgrind.out.1-*; do
    n=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' || true)
    n=${n:-0}
    if [ "$n" -gt "$LARGEST" ]; then LARGEST=$n LARGEST_FILE=$f; fi
    if grep -q ' worker_main$' "$f"; then
        TOTAL=$n WORKER=$f
    elif [ "$n" -gt $((CALLS * 100)) ]; then
        OTHERS+="  $((n / CALLS)) per call on the thread of $f"$'\n'
    fi
done
if [ -z "$WORKER" ]; then TOTAL=$LARGEST WORKER=$LARGEST_FILE; fi
printf '%s' "$OTHERS" | grep -v "$WORKER\$" || true
echo "$KIND ${ERA:-legacy} $AUTH: $((TOTAL / CALLS)) instructions per tools/call on the worker thread ($CALLS calls; $WORKER)"
