#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's C++ example, compiled as written (tests/CMakeLists.txt), run twice: with no
# daemon reachable it must print the library's message and exit 1 (it once died of
# SIGSEGV in Expected::value()), and with one it must publish, receive and report.
#   check_readme_example.sh EXAMPLE IPCBUSD
set -euo pipefail
example=$1 ipcbusd=$2
domain="t$$-readme"
out=$(mktemp) err=$(mktemp)
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -f "$out" "$err"
}
trap cleanup EXIT
export IPCBUS_DOMAIN=$domain IPCBUS_NO_AUTOSTART=1

rc=0
"$example" >"$out" 2>"$err" || rc=$?
[ "$rc" -eq 1 ] || { echo "without a daemon the example exited $rc, not 1: $(cat "$err")" >&2; exit 1; }
grep -q "^daemon_unreachable: daemon not reachable for domain '$domain'" "$err" ||
  { echo "without a daemon the example said: $(cat "$err")" >&2; exit 1; }

coproc DAEMON { exec "$ipcbusd" --domain "$domain" --log-level warn; }
daemon_pid=$DAEMON_PID
read -r -t 30 ready <&"${DAEMON[0]}" && [ "$ready" = ready ] || { echo "ipcbusd did not start" >&2; exit 1; }
"$example" >"$out" 2>"$err" || { echo "with a daemon the example failed: $(cat "$err")" >&2; exit 1; }
grep -qx "lost 0" "$out" || { echo "the example printed: $(cat "$out")" >&2; exit 1; }
echo "README example: a clear error without a daemon, a clean run with one"
