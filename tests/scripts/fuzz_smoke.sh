#!/usr/bin/env bash
# Short fuzz run in the suite: scripts/fuzz.sh with 60 s per target (JSON decoder, protobuf decoder,
# content store readers), in its own build dir beside the suite's (<build>/fuzz-smoke, fuzz targets
# only). Needs clang and its libFuzzer runtime (Debian 12: clang, libclang-rt-14-dev); without them it
# says why and passes, unless SPANPIPE_REQUIRE_FUZZ is set (then it fails).
# Usage (ctest): bash fuzz_smoke.sh <spanpipe-binary> <source-dir>
set -euo pipefail
BIN="$1"
SRC="$2"
BUILD_ROOT="$(cd "$(dirname "$BIN")" && pwd)"

skip() {
  echo "fuzz_smoke: skipped: $1"
  if [ -n "${SPANPIPE_REQUIRE_FUZZ:-}" ]; then
    echo "fuzz_smoke: SPANPIPE_REQUIRE_FUZZ is set: failing" >&2
    exit 1
  fi
  exit 0
}

CXX_FUZZ="${FUZZ_CXX:-clang++}"
command -v "$CXX_FUZZ" >/dev/null 2>&1 || skip "$CXX_FUZZ not found (install clang-14)"
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  >"$probe/p.cpp"
"$CXX_FUZZ" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >"$probe/log" 2>&1 ||
  skip "$CXX_FUZZ cannot link a libFuzzer target (install libclang-rt-14-dev): $(head -1 "$probe/log")"

export FUZZ_BUILD_DIR="$BUILD_ROOT/fuzz-smoke"
export CC="${FUZZ_CC:-clang}" CXX="$CXX_FUZZ"
export JOBS="${FUZZ_SMOKE_JOBS:-2}"
if [ -z "${SPANPIPE_SHARED_DIR:-}" ]; then
  if [ -d "$SRC/../shared/fixtures/otlp" ]; then SPANPIPE_SHARED_DIR="$(cd "$SRC/.." && pwd)/shared"; else SPANPIPE_SHARED_DIR="$SRC/tests/shared"; fi
fi
export SPANPIPE_SHARED_DIR
echo "fuzz_smoke: building fuzz targets in $FUZZ_BUILD_DIR"
start=$(date +%s)
cd "$SRC"
# Niced: the fuzz time is wall-clock bound anyway, and the suite runs other (timing-sensitive) tests
# beside this one.
nice -n 10 scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-60}"
echo "fuzz_smoke: done in $(($(date +%s) - start)) s"
