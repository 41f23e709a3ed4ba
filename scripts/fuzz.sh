#!/usr/bin/env bash
# scripts/fuzz: builds the libFuzzer targets (fuzz/) and runs each for N seconds on its seed corpus.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
# Needs clang and its libFuzzer + sanitizer runtimes (Debian 12: clang, libclang-rt-14-dev).
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (targets run at once, default 1),
#   FUZZ_ARGS (extra libFuzzer flags), CC/CXX (default clang/clang++).
# The corpus a run grows is kept in $FUZZ_BUILD_DIR/corpus/<target> (next runs start from it);
# crashing inputs land in $FUZZ_BUILD_DIR/artifacts/<target>/ and make the script exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
shift || true
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
ALL_TARGETS=(otlp_json_decoder_fuzz otlp_proto_decoder_fuzz content_format_fuzz)
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
SHARED_DIR="${SPANPIPE_SHARED_DIR:-$(pwd)/../shared}"

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSPANPIPE_FUZZ=ON -DSPANPIPE_TESTS=OFF -DSPANPIPE_BENCH=OFF "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD" --target fuzz_targets -j "${JOBS:-$(nproc)}"

rm -rf "$BUILD/seeds"
"$BUILD/fuzz/make_fuzz_seeds" "$SHARED_DIR" "$BUILD/seeds" >/dev/null

max_len() {
  case "$1" in
    content_format_fuzz) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

run_one() {
  local t="$1" corpus="$BUILD/corpus/$1" art="$BUILD/artifacts/$1" log="$BUILD/logs/$1.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  local extra=() dirs=("$BUILD/seeds/$t")
  [ "$t" = otlp_json_decoder_fuzz ] && extra+=(-dict=fuzz/otlp_json.dict)
  # Inputs that once crashed (docs/perf/fuzz.md) are replayed first on every run.
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  # -timeout: one input taking > 10 s is a finding too; -rss_limit_mb: so is an allocation of > 2 GiB.
  # shellcheck disable=SC2086
  if "$BUILD/fuzz/$t" "$corpus" "${dirs[@]}" -max_total_time="$SECONDS_PER_TARGET" \
       -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
       -artifact_prefix="$art/" "${extra[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1; then
    echo "fuzz: $t ok: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions," \
         "$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1), corpus $(ls "$corpus" | wc -l) files"
  else
    echo "fuzz: $t FAILED (log: $log, artifacts: $art)" >&2
    grep -E 'ERROR|SUMMARY|invariant|runtime error|==[0-9]+==' "$log" | head -20 >&2 || true
    return 1
  fi
}

failed=0
pids=()
for t in "${TARGETS[@]}"; do
  if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
    run_one "$t" &
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS}" ]; do sleep 1; done
  else
    run_one "$t" || failed=1
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit "$failed"
