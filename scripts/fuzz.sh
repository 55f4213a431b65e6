#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds the libFuzzer targets (preset fuzz: clang, ASan + UBSan)
# and runs them on copies of their corpora (fuzz/corpus/<target>, which stay untouched;
# what a run adds is kept in build/fuzz/runs/<target>/corpus), for a fixed total time
# shared equally, however many targets there are.
#
#   scripts/fuzz.sh            90 seconds in all
#   scripts/fuzz.sh 3600       an hour in all
#
# Prints each target's number of executions. Exits non-zero if any target finds a crash,
# leak, timeout or sanitizer report; the input is left in build/fuzz/runs/<target>/ (crash-*,
# leak-*, timeout-*, oom-*) and the log next to it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

total=${1:-90}
if ! [[ $total =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [TOTAL_SECONDS]" >&2
  exit 2
fi
targets=(fuzz_protocol fuzz_segment fuzz_config)
seconds=$(( total / ${#targets[@]} ))
[ "$seconds" -ge 1 ] || seconds=1

# clang 14 with its runtime libraries (libclang_rt.fuzzer, asan, ubsan) on Debian 12.
ensure_packages "${IPCBUS_BUILD_PACKAGES[@]}" clang libclang-rt-14-dev

echo "==> building (fuzz)"
configure_and_build fuzz fuzzers
bin=build/fuzz/fuzz

export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"

declare -A result
failed=0
for target in "${targets[@]}"; do
  run=build/fuzz/runs/$target
  rm -rf "$run"
  mkdir -p "$run/corpus"
  cp -R "fuzz/corpus/$target/." "$run/corpus/"
  if [ "$target" = fuzz_segment ]; then
    # Fresh seeds from this build, so they match the current layout version.
    "$bin/make_corpus" "$run/corpus" >/dev/null
  fi
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$run/")
  [ -f "fuzz/$target.dict" ] && args+=(-dict="fuzz/$target.dict")

  echo "==> $target for ${seconds}s (log: $run/fuzz.log)"
  status=0
  "$bin/$target" "${args[@]}" "$run/corpus" >"$run/fuzz.log" 2>&1 || status=$?
  done_line=$(grep -E '^Done [0-9]+ runs' "$run/fuzz.log" | tail -n 1 || true)
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/fuzz.log" | tail -n 1)
  corpus_files=$(find "$run/corpus" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    failed=1
    artifacts=$(find "$run" -maxdepth 1 -type f -name '*-*' ! -name fuzz.log | tr '\n' ' ')
    result[$target]="FAILED (exit $status) after ${executed:-?} runs; input: ${artifacts:-none}"
    echo "error: $target failed (exit $status); the end of its log:" >&2
    # The sanitizer's report and the input, without libFuzzer's progress lines.
    grep -vE '^#[0-9]+' "$run/fuzz.log" | tail -n 60 >&2 || true
  else
    result[$target]="$done_line; corpus now $corpus_files files"
  fi
  echo "    ${result[$target]}"
done

echo "==> summary (${total}s in all: ${seconds}s per target)"
for target in "${targets[@]}"; do
  printf '    %-14s %s\n' "$target" "${result[$target]}"
done
if [ "$failed" -ne 0 ]; then
  echo "error: a fuzz target found a problem (see above)" >&2
  exit 1
fi
echo "==> no crash found"
