#!/usr/bin/env bash
# The ops dashboard in headless Chromium (Debian's chromium driven by playwright-core; both installed
# by scripts/setup.sh) against a `spanpipe demo` run: tests/browser/dashboard_test.js says what is
# checked. Screenshots: <build>/test-artifacts/dashboard-*.png.
# Usage: bash dashboard_browser_test.sh <spanpipe-binary> <source-dir>
set -euo pipefail

BIN="$(realpath "${1:?usage: dashboard_browser_test.sh <spanpipe-binary> <source-dir>}")"
SRC="$(realpath "${2:?usage: dashboard_browser_test.sh <spanpipe-binary> <source-dir>}")"
ARTIFACTS="$(dirname "$BIN")/test-artifacts"

fail() {
  echo "dashboard_browser_test: FAIL: $*" >&2
  exit 1
}

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing (scripts/setup.sh installs it)"
[ -f "$SRC/tests/node_modules/playwright-core/package.json" ] ||
  fail "playwright-core is missing from tests/node_modules (scripts/setup.sh installs it)"

tmp="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ]; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# A clean environment: spanpipe reads every SPANPIPE_* variable as a config key. The demo runs open
# on loopback (no API keys configured); --duration bounds it if this script dies.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$BIN" demo --duration 240 --rate 200 --data "$tmp/demo" \
  --http "127.0.0.1:$port" >"$tmp/demo.out" 2>"$tmp/demo.err" &
demo_pid=$!

# Ready, then data in every view the page shows: threads, 1-minute rollups and a trace's content,
# and at least 20 LLM calls, so that the latency chart's p50 and p95 are two points apart (with
# one or two calls they are the same duration and draw one dot).
requests_at_least() {
  python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if sum(p["request_count"] for p in d["data"]) >= int(sys.argv[1]) else 1)' "$1"
}
ok=0
for _ in $(seq 120); do
  kill -0 "$demo_pid" 2>/dev/null || { tail -20 "$tmp/demo.err" >&2; fail "the demo exited early"; }
  if curl -fsS "$base/readyz" >/dev/null 2>&1 &&
    curl -fsS "$base/group?group_by=thread&limit=1" 2>/dev/null | grep -q '"thread_id"' &&
    curl -fsS "$base/api/v1/metrics?interval=1min" 2>/dev/null | grep -q '"request_count":[1-9]' &&
    curl -fsS "$base/api/v1/metrics?interval=1hour" 2>/dev/null | requests_at_least 20; then
    ok=1
    break
  fi
  sleep 1
done
[ "$ok" = 1 ] || { tail -20 "$tmp/demo.err" >&2; fail "the demo served no threads, rollups and 20 LLM calls within 120 s"; }

cd "$SRC/tests"
node browser/dashboard_test.js "$base/" "$ARTIFACTS"
