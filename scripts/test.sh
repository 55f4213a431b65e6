#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite with ctest.
#
#   scripts/test.sh                 release build, every test
#   scripts/test.sh asan            AddressSanitizer + UBSan build, every test
#   scripts/test.sh tsan [-L RE]    ThreadSanitizer build; extra arguments go to ctest
#
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

preset=${1:-release}
shift || true
ensure_packages "${IPCBUS_BUILD_PACKAGES[@]}"

echo "==> building ($preset)"
began=$SECONDS
configure_and_build "$preset"
echo "==> built ($preset) in $((SECONDS - began)) s"
began=$SECONDS

echo "==> testing ($preset)"
run=()
if [ "$preset" = tsan ]; then
  # ThreadSanitizer needs the classic address-space layout; newer kernels randomise more
  # bits than gcc 12's runtime expects.
  run=(setarch "$(uname -m)" -R)
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
fi
if [ "$preset" = asan ]; then
  export ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 ${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
fi
"${run[@]}" ctest --preset "$preset" -j "$(nproc)" --no-tests=error "$@"

leftovers=$(ls /dev/shm | grep '^ipcbus\.t[0-9]' || true)
if [ -n "$leftovers" ]; then
  echo "error: tests left shared memory behind:" $leftovers >&2
  exit 1
fi
echo "==> all tests passed ($preset) in $((SECONDS - began)) s (ctest's label summary above)"
