#!/bin/sh
# Installs what building, running and testing mcpgate needs on Debian 12, and only
# what is missing (so a second run costs a dpkg query). Needs root or sudo for apt.
set -eu

packages="gcc clang meson ninja-build pkg-config python3 curl ca-certificates
  libh2o-evloop-dev libssl-dev libjansson-dev libsodium-dev libyaml-dev libcmocka-dev
  libcjose-dev libcurl4-openssl-dev libsqlite3-dev libpcre2-dev
  libvectorscan-dev libutf8proc-dev
  libclang-rt-14-dev wrk nginx-light prometheus"
# prometheus: for its promtool, which checks the /metrics text (tests/e2e/metrics.test.mjs); the
# server it also installs is not needed, and is stopped below where systemd started it.

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js 18+ and npm run the reference MCP servers and the end-to-end tests.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ -n "$missing" ] && [ -z "${missing##* prometheus*}" ] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
