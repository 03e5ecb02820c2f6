#!/usr/bin/env bash
# bench/run.sh - tools/call throughput and latency: direct vs nginx vs mcpgate.
#
# Usage: bench/run.sh [--record] [--no-build] [-h|--help]
#
#   --record     append a dated block (command, machine, table) to bench/RESULTS.md
#   --no-build   do not run meson; use the existing mcpgate binary
#
# Everything runs on this machine, on 127.0.0.1, on free ports, one worker per
# server; every process started here is stopped on exit (trap). See bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_DURATION      wrk -d per measured run                      [10s]
#   BENCH_WARMUP        wrk -d of the warm-up before each run         [2s]
#   BENCH_RUNS          measured runs per row; the median (by req/s)
#                       is reported -- use 3 on a noisy machine       [1]
#   BENCH_CONNECTIONS   wrk -c (wrk always runs with -t1)             [32]
#   BENCH_CPU_LOAD      CPU for wrk                                   [0]
#   BENCH_CPU_SUT       CPU for the server under test                 [1]
#   BENCH_CPU_UPSTREAM  CPU for the fast upstream when it sits behind
#                       a proxy (it is the server under test, on
#                       BENCH_CPU_SUT, for the "direct" row)          [$BENCH_CPU_SUT]
#   BENCH_TARGETS       rows to run, space separated
#                       ["direct nginx mcpgate mcpgate-modern mcpgate-jwt mcpgate-policy mcpgate-observed
#                       mcpgate-guards"]; mcpgate is a
#                       legacy (2025-11-25) tools/call inside a session, mcpgate-modern a
#                       stateless MCP 2026-07-28 one (no initialize; Mcp-Method/Mcp-Name
#                       headers), both through the same gateway process and URL;
#                       mcpgate-jwt the legacy call through a second gateway that requires
#                       auth, with an RS256 JWT (Authorization: Bearer) on every request
#                       and a one-role policy that allows everything; mcpgate-policy the
#                       same with a policy of 300 rules (61 roles, the caller bound to 14),
#                       the call allowed by a rule with argument conditions; mcpgate-observed
#                       the legacy call through a gateway with the audit trail (file + SQLite
#                       index, fsync every 1000 ms), metrics and two rate-limit rules on
#                       (one rate, one concurrency; neither refuses), against mcpgate;
#                       mcpgate-guards the legacy call through a gateway with the guards of
#                       issue 8's example on (secrets, personal data, injection, poisoning:
#                       arguments and answers scanned; nothing in them is found), against mcpgate
#   MCPGATE_BUILD_DIR   meson build dir for the release build         [bench/.build/mcpgate-release]
#   MCPGATE_BIN         use this binary instead of building           [$MCPGATE_BUILD_DIR/mcpgate]
#   BENCH_KEEP_TMP=1    keep the temp dir (configs, logs) for inspection
#
# Exit status: 0 when every requested row was measured without errors, 1 otherwise.
# The mcpgate/nginx ratio is reported against the 0.7 target, never asserted.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
ORIG_CMD="bench/run.sh${*:+ $*}"
for v in $(compgen -e | grep -E '^(BENCH|MCPGATE)_' | sort -r); do ORIG_CMD="$v=${!v} $ORIG_CMD"; done

RECORD=0
BUILD=1
for arg in "$@"; do
    case "$arg" in
    --record) RECORD=1 ;;
    --no-build) BUILD=0 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
RUNS=${BENCH_RUNS:-1}
CONNS=${BENCH_CONNECTIONS:-32}
CPU_LOAD=${BENCH_CPU_LOAD:-0}
CPU_SUT=${BENCH_CPU_SUT:-1}
CPU_UPSTREAM=${BENCH_CPU_UPSTREAM:-$CPU_SUT}
TARGETS=${BENCH_TARGETS:-direct nginx mcpgate mcpgate-modern mcpgate-jwt mcpgate-policy mcpgate-observed mcpgate-guards}
BUILD_DIR=${MCPGATE_BUILD_DIR:-$BENCH_DIR/.build/mcpgate-release}
MCPGATE=${MCPGATE_BIN:-$BUILD_DIR/mcpgate}
PROTO=2025-11-25
CALL_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
MODERN_PROTO=2026-07-28
MODERN_CALL_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
ERA=legacy # legacy | modern: which request mcp_post, verify_call and tools_call.lua (MCP_ERA) send
AUTHORIZATION="" # sent as the Authorization header by mcp_post and tools_call.lua (MCP_AUTHORIZATION) when set

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf '[bench] error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- dependencies
need_pkgs=()
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx-light)
dpkg -s libh2o-evloop-dev >/dev/null 2>&1 || need_pkgs+=(libh2o-evloop-dev)
dpkg -s libjansson-dev >/dev/null 2>&1 || need_pkgs+=(libjansson-dev)
for c in curl taskset python3 cc; do command -v "$c" >/dev/null 2>&1 || die "missing command: $c"; done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing missing Debian packages: ${need_pkgs[*]}"
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need_pkgs[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

NCPU=$(nproc)
for c in "$CPU_LOAD" "$CPU_SUT" "$CPU_UPSTREAM"; do
    [ "$c" -lt "$NCPU" ] 2>/dev/null || die "CPU $c does not exist (nproc=$NCPU); set BENCH_CPU_*"
done

# ---------------------------------------------------------------- processes, cleanup
TMP=$(mktemp -d /tmp/mcpgate-bench.XXXXXX)
PIDS=()

descendants() { # pid -> pids of all its descendants
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

stop_pid() {
    local pid=$1 all
    kill -0 "$pid" 2>/dev/null || return 0
    all="$pid $(descendants "$pid" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -TERM $all 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $all 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() { # n -> n distinct free TCP ports on 127.0.0.1
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() { # port pid seconds -> 0 when something accepts on 127.0.0.1:port
    local port=$1 pid=$2 tries=$(($3 * 10))
    while [ $tries -gt 0 ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

cpu_ticks() { # pid -> utime+stime (clock ticks) of pid and all its descendants
    local p total=0 stat
    for p in "$1" $(descendants "$1"); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        stat=${stat##*) } # fields after "(comm) "; utime/stime are fields 14/15 -> 12/13 here
        set -- $stat
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

thread_ticks() { # pid -> one "name ticks" line per thread of pid (utime+stime; mcpgate names its threads)
    local t comm stat
    for t in /proc/"$1"/task/*; do
        read -r comm <"$t/comm" 2>/dev/null || continue
        stat=$(cat "$t/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        set -- $stat
        echo "$comm $((${12} + ${13}))"
    done
}
# thread_split BEFORE AFTER REQUESTS -> "name=us,name=us" per request, threads that used CPU, busiest first
thread_split() {
    join <(awk '{ a[$1] += $2 } END { for (k in a) print k, a[k] }' <<<"$1" | sort) \
        <(awk '{ a[$1] += $2 } END { for (k in a) print k, a[k] }' <<<"$2" | sort) |
        awk -v r="$3" -v hz="$CLK_TCK" '$3 > $2 && r > 0 { printf "%s %.2f\n", $1, ($3 - $2) / hz * 1e6 / r }' |
        sort -k2,2 -rn | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $1, $2 } END { if (NR == 0) printf "-" }'
}
core_stat() { # cpu -> "busy total" jiffies of that core, from /proc/stat
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
core_busy() { # "busy0 total0" "busy1 total1" -> percentage
    awk -v a="$1" -v b="$2" 'BEGIN{ split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; if (d > 0) printf "%.0f%%", 100 * (y[1] - x[1]) / d; else print "-" }'
}

# ---------------------------------------------------------------- MCP helpers (curl)
# mcp_post URL SESSION BODY OUTPREFIX -> writes OUTPREFIX.h / OUTPREFIX.b, echoes HTTP status
mcp_post() {
    local url=$1 session=$2 body=$3 out=$4
    local hdr=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
    if [ "$ERA" = modern ]; then
        hdr+=(-H "MCP-Protocol-Version: $MODERN_PROTO" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: echo')
    else
        hdr+=(-H "MCP-Protocol-Version: $PROTO")
    fi
    [ -z "$session" ] || hdr+=(-H "Mcp-Session-Id: $session")
    [ -z "$AUTHORIZATION" ] || hdr+=(-H "Authorization: $AUTHORIZATION")
    curl -sS --max-time 5 -o "$out.b" -D "$out.h" -w '%{http_code}' "${hdr[@]}" --data-binary "$body" "$url" 2>"$out.err" ||
        echo "curl-failed"
}

# check_call BODYFILE HEADERFILE -> 0 when the body is a tools/call result echoing "hello"
# (accepts application/json and text/event-stream framing); with ERA=modern the result
# must also say "resultType":"complete"
check_call() {
    python3 - "$1" "$2" "$ERA" <<'EOF'
import json, sys
modern = sys.argv[3] == "modern"
body = open(sys.argv[1], encoding="utf-8", errors="replace").read()
hdrs = open(sys.argv[2], encoding="latin-1").read().lower()
msgs = []
if "content-type: text/event-stream" in hdrs:
    data = []
    for line in body.splitlines() + [""]:
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "" and data:
            msgs.append("\n".join(data)); data = []
else:
    msgs.append(body)
for m in msgs:
    try:
        j = json.loads(m)
    except ValueError:
        continue
    if isinstance(j, dict) and j.get("id") == 1 and "result" in j:
        r = j["result"]
        ok = (not r.get("isError")) and r.get("content", [{}])[0].get("text") == "hello"
        if modern:
            ok = ok and r.get("resultType") == "complete"
        sys.exit(0 if ok else 1)
sys.exit(1)
EOF
}

# mcp_handshake NAME URL -> sets SESSION (may be empty) or returns 1 with FAIL_REASON
mcp_handshake() {
    local name=$1 url=$2 code
    SESSION=""
    code=$(mcp_post "$url" "" \
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"$PROTO\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mcpgate-bench\",\"version\":\"1\"}}}" \
        "$TMP/$name.init")
    if [ "$code" != 200 ]; then
        FAIL_REASON="initialize -> HTTP $code $(head -c 200 "$TMP/$name.init.b" 2>/dev/null; cat "$TMP/$name.init.err" 2>/dev/null)"
        return 1
    fi
    SESSION=$(sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$TMP/$name.init.h" | head -n1)
    code=$(mcp_post "$url" "$SESSION" '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$TMP/$name.notif")
    if [ "$code" != 202 ] && [ "$code" != 200 ]; then
        FAIL_REASON="notifications/initialized -> HTTP $code $(head -c 200 "$TMP/$name.notif.b")"
        return 1
    fi
    return 0
}

verify_call() { # NAME URL SESSION
    local name=$1 url=$2 session=$3 code
    local body=$CALL_BODY
    [ "$ERA" != modern ] || body=$MODERN_CALL_BODY
    code=$(mcp_post "$url" "$session" "$body" "$TMP/$name.call")
    if [ "$code" != 200 ] || ! check_call "$TMP/$name.call.b" "$TMP/$name.call.h"; then
        FAIL_REASON="tools/call check failed: HTTP $code, body: $(head -c 300 "$TMP/$name.call.b" 2>/dev/null; cat "$TMP/$name.call.err" 2>/dev/null)"
        return 1
    fi
}

# ---------------------------------------------------------------- results
declare -A RPS P50 P99 ERRS CPU SUTBUSY LOADBUSY THREADS STATUS
ORDER=()

# measure_once NAME URL SUT_PID RUN -> one wrk run; appends "rps p50 p99 errors cpu_us sutbusy loadbusy" to $TMP/NAME.runs
measure_once() {
    local name=$1 url=$2 pid=$3 run=$4 line t0 t1 s0 s1 l0 l1 out th0="" th1=""
    out="$TMP/$name.wrk.$run"
    [[ $name != mcpgate* ]] || th0=$(thread_ticks "$pid")
    t0=$(cpu_ticks "$pid")
    s0=$(core_stat "$CPU_SUT")
    l0=$(core_stat "$CPU_LOAD")
    MCP_ERA=$ERA MCP_SESSION_ID=$SESSION MCP_AUTHORIZATION=$AUTHORIZATION BENCH_LABEL=$name taskset -c "$CPU_LOAD" \
        wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$BENCH_DIR/tools_call.lua" "$url" >"$out" 2>&1 || true
    t1=$(cpu_ticks "$pid")
    s1=$(core_stat "$CPU_SUT")
    l1=$(core_stat "$CPU_LOAD")
    [[ $name != mcpgate* ]] || th1=$(thread_ticks "$pid")
    line=$(grep '^BENCH ' "$out" | tail -n1 || true)
    if [ -z "$line" ]; then
        FAIL_REASON="wrk produced no result: $(tail -n3 "$out" | tr '\n' ' ')"
        return 1
    fi
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    # CPU time the server under test (and its children) used per request during the run
    printf '%s %s %s %s %s %s %s %s\n' "$(field rps)" "$(field p50_us)" "$(field p99_us)" \
        "$(($(field non200) + $(field socket_errors)))" \
        "$(awk -v r="$(field requests)" -v t="$((t1 - t0))" -v hz="$CLK_TCK" \
            'BEGIN{ if (r > 0) printf "%.1f", t / hz * 1e6 / r; else print "-" }')" \
        "$(core_busy "$s0" "$s1")" "$(core_busy "$l0" "$l1")" \
        "$(if [ -n "$th0" ]; then thread_split "$th0" "$th1" "$(field requests)"; else echo -; fi)" >>"$TMP/$name.runs"
}

# bench_target NAME URL SUT_PID [ERA] -- ERA modern: stateless, no handshake, no session
bench_target() {
    local name=$1 url=$2 pid=$3 run errs=0 median
    ERA=${4:-legacy}
    SESSION=""
    ORDER+=("$name")
    if [ "$ERA" != modern ] && ! mcp_handshake "$name" "$url"; then
        STATUS[$name]="FAILED: $FAIL_REASON"
        return 1
    fi
    if ! verify_call "$name" "$url" "$SESSION"; then
        STATUS[$name]="FAILED: $FAIL_REASON"
        return 1
    fi
    log "$name: session '$(printf '%.24s' "${SESSION:-<none>}")', tools/call verified; warm-up $WARMUP, $RUNS x $DURATION (wrk -t1 -c$CONNS on CPU $CPU_LOAD)"
    MCP_ERA=$ERA MCP_SESSION_ID=$SESSION MCP_AUTHORIZATION=$AUTHORIZATION BENCH_LABEL=$name taskset -c "$CPU_LOAD" \
        wrk -t1 -c"$CONNS" -d"$WARMUP" -s "$BENCH_DIR/tools_call.lua" "$url" >"$TMP/$name.warmup" 2>&1 || true
    : >"$TMP/$name.runs"
    for run in $(seq 1 "$RUNS"); do
        if ! measure_once "$name" "$url" "$pid" "$run"; then
            STATUS[$name]="FAILED: $FAIL_REASON"
            return 1
        fi
    done
    # the run with the median req/s stands for the row; errors are summed over all runs
    errs=$(awk '{ s += $4 } END { print s + 0 }' "$TMP/$name.runs")
    median=$(sort -n -k1,1 "$TMP/$name.runs" | sed -n "$(((RUNS + 1) / 2))p")
    read -r RPS[$name] P50[$name] P99[$name] _ CPU[$name] SUTBUSY[$name] LOADBUSY[$name] THREADS[$name] <<<"$median"
    ERRS[$name]=$errs
    [ "$RUNS" -eq 1 ] || log "$name: req/s of the $RUNS runs: $(cut -d' ' -f1 "$TMP/$name.runs" | tr '\n' ' ')(median reported)"
    # check again after the runs: the target must still answer correctly
    if ! verify_call "$name.after" "$url" "$SESSION"; then
        STATUS[$name]="FAILED after the run: $FAIL_REASON"
        return 1
    fi
    if [ "${ERRS[$name]}" -ne 0 ]; then
        STATUS[$name]="ERRORS: ${ERRS[$name]} non-200 responses or socket errors; numbers not valid"
        return 1
    fi
    STATUS[$name]=ok
}

want() { [[ " $TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- build
mkdir -p "$BENCH_DIR/.build"
log "compiling fast upstream -> bench/.build/fast_upstream"
cc -O2 -g -Wall -Wextra -DH2O_USE_LIBUV=0 -o "$BENCH_DIR/.build/fast_upstream" "$BENCH_DIR/fast_upstream.c" \
    -lh2o-evloop -lssl -lcrypto -ljansson

MCPGATE_BUILD_FAILED=""
if { want mcpgate || want mcpgate-modern || want mcpgate-jwt || want mcpgate-policy || want mcpgate-observed ||
    want mcpgate-guards; } && [ $BUILD -eq 1 ] && [ -z "${MCPGATE_BIN:-}" ]; then
    log "building mcpgate (release) in ${BUILD_DIR#"$ROOT"/}"
    if { [ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" "$ROOT" --buildtype=release; } >"$TMP/build.log" 2>&1 &&
        meson compile -C "$BUILD_DIR" >>"$TMP/build.log" 2>&1; then
        :
    else
        MCPGATE_BUILD_FAILED="release build failed: $(grep -m1 -E 'error|ERROR' "$TMP/build.log" || tail -n1 "$TMP/build.log")"
        log "mcpgate $MCPGATE_BUILD_FAILED"
        tail -n 15 "$TMP/build.log" | sed 's/^/[bench]   | /' >&2
    fi
fi

read -r UP_PORT NGX_PORT GW_PORT JWT_GW_PORT JWKS_PORT <<<"$(free_ports 5)"

# Other work on the machine skews every row; say so rather than hide it.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN{ exit !(l > 0.5) }'; then
    log "warning: load average is $LOAD_BEFORE before the run; other processes will skew the numbers"
fi

# ---------------------------------------------------------------- fast upstream
taskset -c "$CPU_SUT" "$BENCH_DIR/.build/fast_upstream" "$UP_PORT" >"$TMP/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_port "$UP_PORT" "$UP_PID" 5 || die "fast upstream did not start: $(cat "$TMP/upstream.log")"

# direct: the upstream is the server under test, on the SUT CPU
if want direct; then
    taskset -pc "$CPU_SUT" "$UP_PID" >/dev/null
    bench_target direct "http://127.0.0.1:$UP_PORT/mcp" "$UP_PID" || log "direct: ${STATUS[direct]}"
fi
# behind a proxy the upstream runs on BENCH_CPU_UPSTREAM (default: next to the proxy, see README)
taskset -pc "$CPU_UPSTREAM" "$UP_PID" >/dev/null

# ---------------------------------------------------------------- nginx
if want nginx; then
    mkdir -p "$TMP/nginx"
    chmod 755 "$TMP" "$TMP/nginx" # the worker may run as "nobody" when we are root
    sed -e "s|@TMP@|$TMP/nginx|g" -e "s|@PORT@|$NGX_PORT|g" -e "s|@UPSTREAM_PORT@|$UP_PORT|g" \
        "$BENCH_DIR/nginx.conf.template" >"$TMP/nginx/nginx.conf"
    taskset -c "$CPU_SUT" "$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
        >"$TMP/nginx/stdout.log" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
    if wait_port "$NGX_PORT" "$NGX_PID" 5; then
        bench_target nginx "http://127.0.0.1:$NGX_PORT/mcp" "$NGX_PID" || log "nginx: ${STATUS[nginx]}"
    else
        ORDER+=(nginx)
        STATUS[nginx]="FAILED: nginx did not start: $(tail -n3 "$TMP/nginx/error.log" "$TMP/nginx/stdout.log" 2>/dev/null | tr '\n' ' ')"
        log "${STATUS[nginx]}"
    fi
    stop_pid "$NGX_PID" # free its CPU before the next row
fi

# ---------------------------------------------------------------- mcpgate
GW_ROWS=()
want mcpgate && GW_ROWS+=(mcpgate)
want mcpgate-modern && GW_ROWS+=(mcpgate-modern)
want mcpgate-jwt && GW_ROWS+=(mcpgate-jwt)
want mcpgate-policy && GW_ROWS+=(mcpgate-policy)
want mcpgate-observed && GW_ROWS+=(mcpgate-observed)
want mcpgate-guards && GW_ROWS+=(mcpgate-guards)

# start_gateway NAME PORT EXTRA_YAML -> GW_PID set (empty, with the rows of NAME's process failed, when
# it does not start); NAME mcpgate serves the mcpgate and mcpgate-modern rows
start_gateway() {
    local name=$1 port=$2 extra=$3 rows=("$1") rc n
    [ "$name" != mcpgate ] || rows=(mcpgate mcpgate-modern)
    mkdir -p "$TMP/$name/state"
    cat >"$TMP/$name/mcpgate.yaml" <<EOF
# generated by bench/run.sh
listen:
  - address: 127.0.0.1:$port
workers: 1
log_level: warn
state_dir: $TMP/$name/state
servers:
  - name: fast
    url: http://127.0.0.1:$UP_PORT/mcp
$extra
EOF
    taskset -c "$CPU_SUT" "$MCPGATE" serve -c "$TMP/$name/mcpgate.yaml" >"$TMP/$name/stdout.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_port "$port" "$GW_PID" 10 && return 0
    if kill -0 "$GW_PID" 2>/dev/null; then
        FAIL_REASON="gateway not listening on 127.0.0.1:$port after 10s"
    else
        wait "$GW_PID" && rc=0 || rc=$?
        FAIL_REASON="gateway exited (status $rc) before listening: $(tail -n3 "$TMP/$name/stdout.log" | tr '\n' ' ')"
    fi
    stop_pid "$GW_PID"
    GW_PID=""
    for n in "${rows[@]}"; do
        if want "$n"; then
            ORDER+=("$n")
            STATUS[$n]="FAILED: $FAIL_REASON"
        fi
    done
}

# make_jwt GATEWAY_PORT JWKS_PORT -> JWT_TOKEN (RS256, valid 1 h) and JWT_AUTH_YAML (the auth section
# trusting its key, served as a JWKS by a static HTTP server); 1 with FAIL_REASON on failure
make_jwt() {
    local gw_port=$1 jwks_port=$2 dir="$TMP/idp" http_pid
    mkdir -p "$dir/www"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null ||
        { FAIL_REASON="openssl genpkey failed"; return 1; }
    JWT_TOKEN=$(python3 - "$dir/key.pem" "$dir/www/jwks.json" "http://127.0.0.1:$gw_port/mcp" <<'PYEOF'
import base64, json, subprocess, sys, time
key, jwks_path, audience = sys.argv[1:4]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
modulus = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"], capture_output=True, check=True,
                         text=True).stdout.strip().split("=", 1)[1]
jwk = {"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig", "n": b64(bytes.fromhex(modulus)), "e": "AQAB"}
json.dump({"keys": [jwk]}, open(jwks_path, "w"))
now = int(time.time())
header = b64(json.dumps({"alg": "RS256", "kid": "bench", "typ": "at+jwt"}).encode())
claims = b64(json.dumps({"iss": "https://bench.idp", "aud": audience, "sub": "bench-client", "scope": "mcp:tools",
                         "groups": ["bench", "team-7"], "iat": now, "exp": now + 3600}).encode())
signing_input = f"{header}.{claims}".encode()
signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input, capture_output=True,
                           check=True).stdout
print(f"{header}.{claims}.{b64(signature)}")
PYEOF
    ) || { FAIL_REASON="cannot make the JWT"; return 1; }
    python3 -m http.server "$jwks_port" --bind 127.0.0.1 --directory "$dir/www" >"$dir/http.log" 2>&1 &
    http_pid=$!
    PIDS+=("$http_pid")
    wait_port "$jwks_port" "$http_pid" 5 || { FAIL_REASON="the JWKS server did not start"; return 1; }
    JWT_AUTH_YAML="auth:
  resource: http://127.0.0.1:$gw_port/mcp
  jwt:
    - issuer: https://bench.idp
      jwks_uri: http://127.0.0.1:$jwks_port/jwks.json
      algorithms: [RS256]
  scopes_required: [mcp:tools]"
    ALLOW_ALL_YAML="roles:
  - name: everyone
    allow: [{tools: [\"*\"]}]
bindings:
  - role: everyone
    match: {authenticated: true}"
}

# make_policy -> POLICY_YAML: 60 roles of 5 rules each (300 rules: tool globs, argument conditions,
# denies) and one more, 61 bindings of which 14 match the bench token (groups bench and team-7); the benchmarked
# call (fast/echo {"text":"hello"}) passes 13 conditional denies that all differ (so none is shared, and each is
# evaluated) and is allowed by the last role's conditional rule only (max_length and a pattern)
make_policy() {
    POLICY_YAML=$(python3 - <<'PYEOF'
lines = ["roles:"]
for r in range(60):
    lines += [f"  - name: role-{r}", "    allow:",
              f"      - tools: [\"fast/search_{r}_*\", \"*/get_{r}_*\", \"*/other_{r}_*\"]",
              f"      - tools: [\"fast/update_{r}\"]",
              f"        when: {{args: {{/id: {{pattern: \"[a-z]{{3}}-[0-9]+\"}}, /count: {{min: 0, max: {r + 10}}}}}}}",
              f"      - prompts: [\"fast/prompt_{r}_*\"]",
              "    deny:",
              f"      - tools: [\"fast/delete_{r}_*\", \"*/drop_{r}\"]"]
    lines += ["      - tools: [\"fast/echo\"]", f"        when: {{args: {{/text: {{prefix: \"forbidden-{r}-\"}}}}}}"]
lines += ["  - name: echoer", "    allow:", "      - tools: [\"fast/echo\"]",
          "        when: {args: {/text: {max_length: 64, pattern: \"[a-z ]+\"}}}"]
lines += ["bindings:"]
for r in range(60):
    group = "bench" if r % 5 == 0 else f"team-{r}"
    lines += [f"  - role: role-{r}", f"    match: {{claim: groups, contains: {group}}}"]
lines += ["  - role: echoer", "    match: {claim: groups, contains: bench}"]
print("\n".join(lines))
PYEOF
    )
}
# guards_yaml -> the mcpgate-guards row's section: issue 8's example of the guards
guards_yaml() {
    cat <<EOF
guards:
  secrets: {requests: block, responses: redact}
  pii: {requests: redact, responses: redact, types: [email, card, ssn]}
  injection: {responses: flag}
  poisoning: {tools: quarantine}
EOF
}

# observed_yaml -> the sections of the mcpgate-observed row: an audit trail with its index, metrics, and
# rate-limit rules that apply to every call and never refuse one
observed_yaml() {
    cat <<EOF
audit:
  file: $TMP/mcpgate-observed/audit.jsonl
  sqlite: $TMP/mcpgate-observed/audit.sqlite
  fsync: 1000
metrics:
  require: none
rate_limits:
  rules:
    - name: per-caller
      key: principal
      rate: 100000000/second
    - name: parallel
      key: principal+server
      concurrency: 10000
EOF
}
gw_fail_all() { # reason -> every requested gateway row fails with it
    local n
    for n in "${GW_ROWS[@]}"; do
        ORDER+=("$n")
        STATUS[$n]="FAILED: $1"
    done
}
if [ ${#GW_ROWS[@]} -gt 0 ]; then
    if [ -n "$MCPGATE_BUILD_FAILED" ]; then
        gw_fail_all "$MCPGATE_BUILD_FAILED"
    elif [ ! -x "$MCPGATE" ]; then
        gw_fail_all "no executable at $MCPGATE"
    else
        GW_PID=""
        ! { want mcpgate || want mcpgate-modern; } || start_gateway mcpgate "$GW_PORT" ""
        if [ -n "$GW_PID" ]; then
            # same URL for both eras: the per-server endpoint, tool names unprefixed
            ! want mcpgate || bench_target mcpgate "http://127.0.0.1:$GW_PORT/servers/fast/mcp" "$GW_PID" legacy || true
            ! want mcpgate-modern ||
                bench_target mcpgate-modern "http://127.0.0.1:$GW_PORT/servers/fast/mcp" "$GW_PID" modern || true
            stop_pid "$GW_PID"
        fi
        if want mcpgate-jwt && make_jwt "$JWT_GW_PORT" "$JWKS_PORT"; then
            start_gateway mcpgate-jwt "$JWT_GW_PORT" "$JWT_AUTH_YAML"$'\n'"$ALLOW_ALL_YAML"
            if [ -n "$GW_PID" ]; then
                AUTHORIZATION="Bearer $JWT_TOKEN"
                bench_target mcpgate-jwt "http://127.0.0.1:$JWT_GW_PORT/servers/fast/mcp" "$GW_PID" legacy || true
                AUTHORIZATION=""
                stop_pid "$GW_PID"
            fi
        elif want mcpgate-jwt; then
            ORDER+=(mcpgate-jwt)
            STATUS[mcpgate-jwt]="FAILED: $FAIL_REASON"
        fi
        # the same gateway, port and token, with 300 rules instead of one
        if want mcpgate-policy && [ -n "${JWT_TOKEN:-}" ] && make_policy; then
            start_gateway mcpgate-policy "$JWT_GW_PORT" "$JWT_AUTH_YAML"$'\n'"$POLICY_YAML"
            if [ -n "$GW_PID" ]; then
                AUTHORIZATION="Bearer $JWT_TOKEN"
                bench_target mcpgate-policy "http://127.0.0.1:$JWT_GW_PORT/servers/fast/mcp" "$GW_PID" legacy || true
                AUTHORIZATION=""
                stop_pid "$GW_PID"
            fi
        elif want mcpgate-policy; then
            ORDER+=(mcpgate-policy)
            STATUS[mcpgate-policy]="FAILED: ${FAIL_REASON:-no JWT (the mcpgate-jwt row makes it)}"
        fi
        # no auth, as the mcpgate row, with what issue 7 adds on: the audit trail, metrics, rate limits
        if want mcpgate-observed; then
            start_gateway mcpgate-observed "$GW_PORT" "$(observed_yaml)"
            if [ -n "$GW_PID" ]; then
                bench_target mcpgate-observed "http://127.0.0.1:$GW_PORT/servers/fast/mcp" "$GW_PID" legacy || true
                stop_pid "$GW_PID"
            fi
        fi
        # no auth, as the mcpgate row, with the guards on
        if want mcpgate-guards; then
            start_gateway mcpgate-guards "$GW_PORT" "$(guards_yaml)"
            if [ -n "$GW_PID" ]; then
                bench_target mcpgate-guards "http://127.0.0.1:$GW_PORT/servers/fast/mcp" "$GW_PID" legacy || true
                stop_pid "$GW_PID"
            fi
        fi
    fi
    for n in "${GW_ROWS[@]}"; do [ "${STATUS[$n]}" = ok ] || log "$n: ${STATUS[$n]}"; done
fi

# ---------------------------------------------------------------- report
us_to_ms() { [ -n "${1:-}" ] && awk -v u="$1" 'BEGIN{printf "%.3f ms", u/1000}' || echo "-"; }
TABLE=$(
    printf '| %-16s | %10s | %10s | %10s | %6s | %14s | %13s | %13s |\n' target 'req/s' p50 p99 errors 'SUT CPU us/req' \
        "CPU $CPU_SUT busy" "CPU $CPU_LOAD busy"
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------ ------------ ------------ ------------ -------- ---------------- \
        --------------- ---------------
    for n in "${ORDER[@]}"; do
        if [ -n "${RPS[$n]:-}" ]; then
            printf '| %-16s | %10.0f | %10s | %10s | %6s | %14s | %13s | %13s |\n' "$n" "${RPS[$n]}" "$(us_to_ms "${P50[$n]}")" \
                "$(us_to_ms "${P99[$n]}")" "${ERRS[$n]}" "${CPU[$n]}" "${SUTBUSY[$n]}" "${LOADBUSY[$n]}"
        else
            printf '| %-16s | %10s | %10s | %10s | %6s | %14s | %13s | %13s |\n' "$n" FAILED - - - - - -
        fi
    done
)
NOTES=""
for n in "${ORDER[@]}"; do
    [ "${STATUS[$n]}" = ok ] || NOTES+="- $n: ${STATUS[$n]}"$'\n'
done
# ratio_line ROW -> "ROW/nginx throughput ratio ...; nginx/ROW CPU-per-request ratio ...; vs direct ..."
ratio_line() {
    local g=$1 line
    if [ -n "${RPS[$g]:-}" ] && [ -n "${RPS[nginx]:-}" ]; then
        line=$(awk -v g="$g" -v m="${RPS[$g]}" -v n="${RPS[nginx]}" 'BEGIN{
            r = m / n; printf "%s/nginx throughput ratio: %.2f (target >= 0.70: %s)", g, r, (r >= 0.7 ? "met" : "NOT met")}')
        if [ "${CPU[$g]}" != - ] && [ "${CPU[nginx]}" != - ]; then
            line+=$(awk -v g="$g" -v m="${CPU[$g]}" -v n="${CPU[nginx]}" 'BEGIN{ if (m > 0) printf "; nginx/%s CPU-per-request ratio: %.2f", g, n / m }')
        fi
    else
        line="$g/nginx throughput ratio: n/a (a row is missing)"
    fi
    if [ -n "${RPS[$g]:-}" ] && [ -n "${RPS[direct]:-}" ]; then
        line+=$(awk -v g="$g" -v m="${RPS[$g]}" -v d="${RPS[direct]}" -v mc="${CPU[$g]}" -v dc="${CPU[direct]}" 'BEGIN{
            printf "; %s/direct throughput ratio: %.2f", g, m / d; if (mc + 0 > 0 && dc != "-") printf ", direct/%s CPU-per-request ratio: %.2f", g, dc / mc }')
    fi
    echo "$line"
}
RATIO_LINE=""
for g in "${GW_ROWS[@]}"; do RATIO_LINE+="${RATIO_LINE:+$'\n'}$(ratio_line "$g")"; done
if [ -n "${RPS[mcpgate]:-}" ] && [ -n "${RPS[mcpgate-modern]:-}" ]; then
    RATIO_LINE+=$'\n'$(awk -v m="${RPS[mcpgate-modern]}" -v l="${RPS[mcpgate]}" -v mc="${CPU[mcpgate-modern]}" -v lc="${CPU[mcpgate]}" 'BEGIN{
        printf "mcpgate-modern/mcpgate (modern vs legacy) throughput ratio: %.2f", m / l; if (mc + 0 > 0) printf ", CPU-per-request modern/legacy: %.2f", mc / lc }')
fi
if [ -n "${RPS[mcpgate]:-}" ] && [ -n "${RPS[mcpgate-jwt]:-}" ]; then
    RATIO_LINE+=$'\n'$(awk -v j="${RPS[mcpgate-jwt]}" -v l="${RPS[mcpgate]}" -v jc="${CPU[mcpgate-jwt]}" -v lc="${CPU[mcpgate]}" 'BEGIN{
        r = j / l; printf "mcpgate-jwt/mcpgate (a JWT on every request vs no auth) throughput ratio: %.2f (target >= 0.90: %s)", r, (r >= 0.9 ? "met" : "NOT met"); if (lc + 0 > 0) printf ", CPU-per-request jwt/none: %.2f", jc / lc }')
fi
if [ -n "${RPS[mcpgate-jwt]:-}" ] && [ -n "${RPS[mcpgate-policy]:-}" ]; then
    RATIO_LINE+=$'\n'$(awk -v p="${RPS[mcpgate-policy]}" -v j="${RPS[mcpgate-jwt]}" -v pc="${CPU[mcpgate-policy]}" -v jc="${CPU[mcpgate-jwt]}" 'BEGIN{
        printf "mcpgate-policy/mcpgate-jwt (300 rules vs one) throughput ratio: %.2f", p / j; if (jc + 0 > 0) printf ", CPU-per-request policy/one rule: %.2f", pc / jc }')
fi
if [ -n "${RPS[mcpgate]:-}" ] && [ -n "${RPS[mcpgate-observed]:-}" ]; then
    RATIO_LINE+=$'\n'$(awk -v o="${RPS[mcpgate-observed]}" -v l="${RPS[mcpgate]}" -v oc="${CPU[mcpgate-observed]}" -v lc="${CPU[mcpgate]}" 'BEGIN{
        r = o / l; printf "mcpgate-observed/mcpgate (audit + metrics + rate limits vs none) throughput ratio: %.2f (target >= 0.85: %s)", r, (r >= 0.85 ? "met" : "NOT met"); if (lc + 0 > 0) printf ", CPU-per-request observed/none: %.2f", oc / lc }')
fi
if [ -n "${RPS[mcpgate]:-}" ] && [ -n "${RPS[mcpgate-guards]:-}" ]; then
    RATIO_LINE+=$'\n'$(awk -v o="${RPS[mcpgate-guards]}" -v l="${RPS[mcpgate]}" -v oc="${CPU[mcpgate-guards]}" -v lc="${CPU[mcpgate]}" 'BEGIN{
        r = o / l; printf "mcpgate-guards/mcpgate (guards on vs off) throughput ratio: %.2f (target >= 0.8: %s)", r, (r >= 0.8 ? "met" : "NOT met"); if (lc + 0 > 0) printf ", CPU-per-request guards/none: %.2f", oc / lc }')
fi
[ -n "$RATIO_LINE" ] || RATIO_LINE="mcpgate/nginx throughput ratio: n/a (no gateway row requested)"
# where a gateway row's CPU went, thread by thread (the median run; the upstream is not in it)
for n in "${ORDER[@]}"; do
    [ -n "${THREADS[$n]:-}" ] && [ "${THREADS[$n]}" != - ] || continue
    split=${THREADS[$n]//=/ }
    RATIO_LINE+=$'\n'"$n CPU us per request by thread: ${split//,/, }"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
SETUP="wrk -t1 -c$CONNS -d$DURATION x $RUNS (median; after a $WARMUP warm-up), bench/tools_call.lua; CPUs: wrk $CPU_LOAD, server under test $CPU_SUT, upstream behind proxies $CPU_UPSTREAM"

echo
echo "tools/call, one worker per server; $SETUP"
echo
echo "$TABLE"
echo
echo "$RATIO_LINE"
echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
[ -z "$NOTES" ] || printf '\n%s' "$NOTES"

if [ $RECORD -eq 1 ]; then
    CPU_MODEL=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "Command: \`$ORIG_CMD\`"
        echo
        echo "- machine: nproc=$NCPU, CPU: ${CPU_MODEL:-unknown}, kernel $(uname -r)"
        echo "- software: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), mcpgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")"
        echo "- setup: $SETUP"
        echo "- load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
        echo
        echo "$TABLE"
        echo
        echo "$RATIO_LINE"
        [ -z "$NOTES" ] || printf '\n%s' "$NOTES"
    } >>"$BENCH_DIR/RESULTS.md"
    log "appended to bench/RESULTS.md"
fi

for n in "${ORDER[@]}"; do [ "${STATUS[$n]}" = ok ] || exit 1; done
exit 0
