#!/bin/bash
# Runs every test suite of mcpgate, in order of cost, and prints one summary line.
# Called by `make test` (after the build and `npm ci`) and so by CI (.ci/run).
# Each suite runs even when an earlier one failed, so one run shows everything.
set -u
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
TSAN_BUILD=${TSAN_BUILD:-build-tsan}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
passed=0
failed=0
failures=""

suite() {
  local name=$1
  shift
  echo
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failures="$failures $name"
    echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

asan_build() {
  [ -f "$ASAN_BUILD/build.ninja" ] || meson setup "$ASAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
  meson compile -C "$ASAN_BUILD" >/dev/null
}

# Only the gateway: the unit tests run under ASan, and gcc under -fsanitize=thread rejects one of them
# (test_mirror.c: -Wformat-truncation, with -Werror).
tsan_build() {
  [ -f "$TSAN_BUILD/build.ninja" ] || meson setup "$TSAN_BUILD" -Db_sanitize=thread >/dev/null
  meson compile -C "$TSAN_BUILD" mcpgate >/dev/null
}

fuzz_all() {
  [ -f "$FUZZ_BUILD/build.ninja" ] || CC=clang meson setup "$FUZZ_BUILD" -Dfuzz=true >/dev/null
  meson compile -C "$FUZZ_BUILD" >"$FUZZ_BUILD/compile.log" 2>&1 || { grep -B2 -A8 'error' "$FUZZ_BUILD/compile.log" | head -40; return 1; }
  local target corpus work rc=0
  for target in jsonrpc json json_write session mirror tokens jwt jwks apikey introspection upstream_token policy \
    schema asked audit_verify traceparent scrub guard_scan webhook_verdict admin_route; do
    corpus=tests/fuzz/corpus/$target
    work=$(mktemp -d)
    cp "$corpus"/* "$work"/
    echo "fuzz_$target: ${FUZZ_SECONDS} s"
    "$FUZZ_BUILD/tests/fuzz/fuzz_$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$work" \
      >"$work.log" 2>&1 || { rc=1; tail -40 "$work.log"; }
    rm -rf "$work" "$work.log"
  done
  return $rc
}

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0

suite unit meson test -C "$BUILD" --print-errorlogs
suite jsonschema "$BUILD/tests/unit/schema_suite" ../shared/jsonschema-suite
suite e2e env MCPGATE_BIN="$BUILD/mcpgate" node --test --test-concurrency=1 tests/e2e/
suite conformance scripts/conformance.sh "$BUILD/mcpgate"
suite asan-build asan_build
suite asan-unit meson test -C "$ASAN_BUILD" --print-errorlogs
# Leak checking stays on for the unit tests; a gateway stopped with requests and streams in flight
# still holds their memory at exit, which LeakSanitizer would report (see docs/architecture.md).
suite asan-e2e env ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 MCPGATE_BIN="$ASAN_BUILD/mcpgate" MCPGATE_SANITIZED=1 node --test --test-concurrency=1 tests/e2e/
# Races between workers show only under concurrency and only sometimes; ThreadSanitizer sees them
# every time. Only the test written for it: the whole suite is slow under TSan.
suite tsan-build tsan_build
suite tsan-e2e env TSAN_OPTIONS=halt_on_error=0 MCPGATE_BIN="$TSAN_BUILD/mcpgate" MCPGATE_SANITIZED=1 node --test --test-concurrency=1 tests/e2e/workers.test.mjs
suite fuzz fuzz_all

echo
[ -n "$failures" ] && echo "failed suites:$failures"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
