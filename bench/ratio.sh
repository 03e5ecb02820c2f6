#!/usr/bin/env bash
# bench/ratio.sh - one of bench/run.sh's ratios, measured in several short rounds, the median reported.
#
# Usage: bench/ratio.sh [--record] ROW [ROUNDS]
#
#   ROW       mcpgate-modern | mcpgate-jwt | mcpgate-policy | mcpgate-observed | mcpgate-guards: the row
#             compared with its base row (mcpgate-policy with mcpgate-jwt, the others with mcpgate)
#   ROUNDS    how many times bench/run.sh measures the pair                        [7]
#   --record  append the rounds and the medians to bench/RESULTS.md
#
# Why: on a shared machine the speed of a core drifts by tens of percent from one minute to the next,
# so two rows measured with BENCH_RUNS=3 each (a minute apart) can differ by more than what is being
# measured. Here each round runs the two rows back to back (BENCH_RUNS=1, ~30 s), the ratio is taken
# within the round, and the median of the rounds' ratios is reported, with every round shown: drift
# between rounds cancels, a round hit by a burst of noise is an outlier, not the answer.
# Everything else (environment variables, the binary, CPUs) is bench/run.sh's; see its --help. It is
# built once, before the first round, unless MCPGATE_BIN is set.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECORD=0
if [ "${1:-}" = --record ]; then
    RECORD=1
    shift
fi
ROW=${1:-}
ROUNDS=${2:-7}
case "$ROW" in
mcpgate-policy) BASE=mcpgate-jwt ;;
mcpgate-modern | mcpgate-jwt | mcpgate-observed | mcpgate-guards) BASE=mcpgate ;;
*)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || {
    echo "ratio.sh: ROUNDS must be a positive number, not '$ROUNDS'" >&2
    exit 2
}

OUT=$(mktemp -d /tmp/mcpgate-ratio.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
BUILD=()
[ -n "${MCPGATE_BIN:-}" ] || BUILD=(--no-build)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$OUT/rounds"
: >"$OUT/threads"
for round in $(seq 1 "$ROUNDS"); do
    args=()
    [ "$round" -gt 1 ] && args=("${BUILD[@]}") # the first round builds (unless MCPGATE_BIN is set)
    if ! BENCH_TARGETS="$BASE $ROW" BENCH_RUNS=1 bash "$BENCH_DIR/run.sh" "${args[@]}" >"$OUT/run.$round" 2>&1; then
        echo "ratio.sh: round $round failed; bench/run.sh said:" >&2
        tail -n 15 "$OUT/run.$round" >&2
        exit 1
    fi
    # "ROW/BASE (...) throughput ratio: R[ (target ...)], CPU-per-request ...: C"
    line=$(grep -F "$ROW/$BASE " "$OUT/run.$round")
    ratio=$(sed -n 's/.* throughput ratio: \([0-9.]*\).*/\1/p' <<<"$line")
    cpu=$(sed -n 's/.*CPU-per-request [^:]*: \([0-9.]*\).*/\1/p' <<<"$line")
    rps_base=$(awk -v r="$BASE" '$2 == r { print $4 }' "$OUT/run.$round")
    rps_row=$(awk -v r="$ROW" '$2 == r { print $4 }' "$OUT/run.$round")
    # "ROW CPU us per request by thread: mg-worker-0 19.71, mg-audit 1.68, ..." (the row's median run)
    threads=$(sed -n "s/^$ROW CPU us per request by thread: //p" "$OUT/run.$round")
    printf '%s %s %s %s %s\n' "$round" "$ratio" "${cpu:--}" "$rps_base" "$rps_row" >>"$OUT/rounds"
    printf '%s\n' "${threads:--}" >>"$OUT/threads"
    printf '[ratio] round %s: %s %s req/s, %s %s req/s: ratio %s, CPU per request %s; %s by thread (us/req): %s\n' \
        "$round" "$BASE" "$rps_base" "$ROW" "$rps_row" "$ratio" "${cpu:--}" "$ROW" "${threads:--}" >&2
done
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
MEDIAN=$(cut -d' ' -f2 "$OUT/rounds" | median)
CPU_MEDIAN=$(cut -d' ' -f3 "$OUT/rounds" | grep -v '^-$' | median || true)
SPREAD=$(cut -d' ' -f2 "$OUT/rounds" | sort -n | sed -n '1p;$p' | paste -sd- -)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
SUMMARY="$ROW/$BASE over $ROUNDS rounds (bench/run.sh, BENCH_RUNS=1 each): median throughput ratio $MEDIAN (rounds $SPREAD: $(cut -d' ' -f2 "$OUT/rounds" | paste -sd' ' -)), median CPU-per-request ratio ${CPU_MEDIAN:--}"
echo "$SUMMARY"
echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
if [ $RECORD -eq 1 ]; then
    ROOT=$(cd "$BENCH_DIR/.." && pwd)
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC') (bench/ratio.sh)"
        echo
        echo "Command: \`$(for v in $(compgen -e | grep -E '^(BENCH|MCPGATE)_' | sort); do printf '%s=%s ' "$v" "${!v}"; done)bench/ratio.sh --record $ROW $ROUNDS\`"
        echo
        echo "- mcpgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)"), nproc=$(nproc), load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
        echo
        echo "| round | $BASE req/s | $ROW req/s | throughput ratio | CPU-per-request ratio | $ROW CPU us/req by thread |"
        echo "|---|---|---|---|---|---|"
        paste -d'|' "$OUT/rounds" "$OUT/threads" |
            awk -F'|' '{ split($1, f, " "); printf "| %s | %s | %s | %s | %s | %s |\n", f[1], f[4], f[5], f[2], f[3], $2 }'
        echo
        echo "$SUMMARY"
    } >>"$BENCH_DIR/RESULTS.md"
    echo "[ratio] appended to bench/RESULTS.md" >&2
fi
