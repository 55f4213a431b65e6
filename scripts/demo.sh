#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: one publisher and three
# subscribers in separate processes, each printing what it receives, its sequence
# numbers, any loss, and the latency it sees.
#
#   scripts/demo.sh [--count N] [--rate HZ]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

count=5000
rate=2000
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "usage: scripts/demo.sh [--count N] [--rate HZ]" >&2; exit 2 ;;
  esac
done

ensure_packages "${IPCBUS_BUILD_PACKAGES[@]}"
echo "==> building the daemon and the examples"
configure_and_build release ipcbusd quickstart_publisher quickstart_subscriber >/dev/null
bin=build/release/examples

# A domain of our own, so the demo never meets other users of the bus.
export IPCBUS_DOMAIN="demo-$$"
pids=()
sub_pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# The daemon: topic registry, segments, cleanup after crashes. (Any client would also start
# one by itself; we start it here to show its log.)
echo "==> starting ipcbusd for domain $IPCBUS_DOMAIN"
exec {daemon_out}< <(exec build/release/daemon/ipcbusd --domain "$IPCBUS_DOMAIN" 2>&1)
pids+=($!)
read -r ready <&"$daemon_out"
[ "$ready" = ready ] || { echo "error: ipcbusd did not start: $ready" >&2; exit 1; }
sed -u 's/^[^]]*] /    [ipcbusd] /' <&"$daemon_out" &

echo "==> one publisher, three subscribers: $count ticks at $rate Hz"
for name in strategy-A strategy-B risk-monitor; do
  "$bin/quickstart_subscriber" --name "$name" &
  pids+=($!)
  sub_pids+=($!)
done
"$bin/quickstart_publisher" --subscribers 3 --count "$count" --rate "$rate"
for pid in "${sub_pids[@]}"; do wait "$pid"; done
echo "==> done. Latency here includes scheduling: 4 processes share $(nproc) cores and the"
echo "    subscribers yield the CPU when idle. For the busy-poll floor see bench/README.md."
