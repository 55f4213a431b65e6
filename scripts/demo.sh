#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the quickstart and the three examples of
# examples/ (trading, robotics, order events), every process a program of its own, all in
# one bus domain served by an ipcbusd this script starts. After each example, what each of
# its processes printed, labelled; at the end a table of messages, losses and latency
# percentiles. Takes about 15 s once built; needs no terminal (stdin is not read).
#
#   scripts/demo.sh [--count N] [--rate HZ]    the quickstart's ticks (default 5000 at 2000 Hz)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
exec </dev/null  # unattended: nothing below may wait for a terminal

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
programs=(quickstart_publisher quickstart_subscriber
          trading_feed_handler trading_strategy trading_execution trading_signal_service
          trading_risk_check robotics_camera robotics_imu robotics_fusion robotics_viewer
          order_events_service order_events_subscriber order_events_worker)
configure_and_build release ipcbusd "${programs[@]}" >/dev/null
bin=build/release/examples

# A domain of our own, so the demo never meets other users of the bus.
export IPCBUS_DOMAIN="demo-$$"
logs=$(mktemp -d)
daemon_pid=""
example=""  # the example running now: its processes' pids and labels
pids=()
labels=()
cleanup() {
  # SIGTERM: every example process stops cleanly (and prints its summary) on it. The
  # daemon goes last, once no client is left to miss it.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ ${#pids[@]} -gt 0 ]; then  # interrupted: show what the example got done
    echo "==> stopped; what the processes of ${example#*-} printed:"
    for label in "${labels[@]}"; do sed 's/^/    /' "$logs/$example/$label.log"; done
  fi
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT

# The daemon: topic registry, segments, cleanup after crashes. (The first client would start
# one by itself; we start it to show what it does.) Its log goes to a file; after each
# example we show the topics and consumer groups it created.
echo "==> starting ipcbusd for domain $IPCBUS_DOMAIN"
exec {daemon_out}< <(exec build/release/daemon/ipcbusd --domain "$IPCBUS_DOMAIN" \
                       2>"$logs/ipcbusd.log")
daemon_pid=$!
read -r ready <&"$daemon_out" || true
if [ "$ready" != ready ]; then
  echo "error: ipcbusd did not start" >&2
  cat "$logs/ipcbusd.log" >&2
  exit 1
fi
export IPCBUS_NO_AUTOSTART=1  # ours serves the domain: no client may start another

failures=0
daemon_mark=0

# begin N-NAME TITLE: starts an example; its processes' output goes to $logs/N-NAME/.
begin() {
  example=$1
  labels=()
  pids=()
  mkdir -p "$logs/$example"
  daemon_mark=$(wc -l <"$logs/ipcbusd.log")
  echo
  echo "==> ${example#*-}: $2"
}

# spawn LABEL PROGRAM [ARG...]: starts one process of the example in the background.
spawn() {
  local label=$1 program=$2
  shift 2
  "$bin/$program" "$@" >"$logs/$example/$label.log" 2>&1 &
  pids+=($!)
  labels+=("$label")
}

# wait_for_line LABEL TEXT: until process LABEL has printed TEXT (10 s at most).
wait_for_line() {
  local tries=0
  until grep -qF "$2" "$logs/$example/$1.log"; do
    tries=$((tries + 1))
    [ $tries -le 200 ] || { echo "    !! $1 never printed '$2'"; return 1; }
    sleep 0.05
  done
}

# finish: waits for the example's processes (each ends by itself), then shows the topics
# the daemon created for them and what each process printed.
finish() {
  local i
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      echo "    !! ${labels[$i]} failed"
      failures=$((failures + 1))
    fi
  done
  pids=()
  tail -n +"$((daemon_mark + 1))" "$logs/ipcbusd.log" |
    grep -E "topic '[^']*' created by|consumer group '[^']*' created" |
    sed -E 's/^.* info: /    [ipcbusd] /' || true
  for i in "${!labels[@]}"; do sed 's/^/    /' "$logs/$example/${labels[$i]}.log"; done
}

begin 1-quickstart "1 publisher, 3 subscribers: $count ticks at $rate Hz"
spawn publisher quickstart_publisher --subscribers 3 --count "$count" --rate "$rate"
for name in strategy-A strategy-B risk-monitor; do
  spawn "$name" quickstart_subscriber --name "$name"
done
finish

begin 2-trading "feed handler -> busy-polling strategy -> signal services; execution -> risk group"
spawn feed-handler trading_feed_handler --count 20000 --rate 10000
spawn strategy trading_strategy
spawn execution trading_execution
spawn notification trading_signal_service --service notification
spawn logging trading_signal_service --service logging
spawn risk-1 trading_risk_check --name risk-1
spawn risk-2 trading_risk_check --name risk-2
finish

begin 3-robotics "camera (6 MB frames, zero-copy) + IMU -> fusion on a WaitSet; a late viewer"
spawn camera robotics_camera --count 90
spawn imu robotics_imu --count 3000
spawn fusion robotics_fusion
wait_for_line camera "frame seq=30 published"  # a second in: the viewer comes late
spawn viewer robotics_viewer --frames 5
finish

begin 4-order_events "order service -> 4 services (each sees all) + 3 fulfilment workers (share)"
spawn order-service order_events_service --count 90
for service in email inventory billing analytics; do
  spawn "$service" order_events_subscriber --service "$service"
done
for id in 1 2 3; do spawn "fulfilment-$id" order_events_worker --id "$id"; done
finish

echo
echo "==> summary: messages each process published or received, losses, one-way latency"
echo "    (publish to receive; 'lost' counts what a reader was overrun by, in overwrite mode)"
awk '
  BEGIN {
    printf "    %-13s %-20s %-9s %9s %6s %10s %10s\n", "EXAMPLE", "PROCESS", "", "MESSAGES",
           "LOST", "P50", "P99"
  }
  /\] summary: / {
    ex = FILENAME; sub(/\/[^\/]*$/, "", ex); sub(/.*\//, "", ex); sub(/^[0-9]+-/, "", ex)
    label = $0; sub(/^\[/, "", label); sub(/\].*/, "", label)
    rest = $0; sub(/.*\] summary: /, "", rest)
    n = split(rest, word, " ")
    kind = ""; messages = "-"; lost = "-"; p50 = "-"; p99 = "-"
    for (i = 1; i <= n; i++) {
      eq = index(word[i], "="); if (eq == 0) continue
      key = substr(word[i], 1, eq - 1); value = substr(word[i], eq + 1)
      # The quickstart prints nanoseconds ("p50=1234 ns"); the examples microseconds.
      if (word[i + 1] == "ns" && value ~ /^[0-9]+$/) value = sprintf("%.1fus", value / 1000)
      if (key == "received" || key == "published") { kind = key; messages = value }
      else if (key == "lost") lost = value
      else if (key == "p50") p50 = value
      else if (key == "p99") p99 = value
      else if (key == "stream") label = label "/" value
    }
    printf "    %-13s %-20s %-9s %9s %6s %10s %10s\n", ex, label, kind, messages, lost, p50, p99
    if (kind == "received") { received += messages; lost_total += lost }
    else published += messages
  }
  END {
    printf "    total: %d message(s) published, %d received, %d lost\n", published, received,
           lost_total
  }' "$logs"/[0-9]-*/*.log

echo "    Latency includes scheduling: about 20 processes share $(nproc) core(s), and all but the"
echo "    trading strategy sleep while idle. For the busy-poll floor see bench/README.md."
if [ "$failures" -gt 0 ]; then
  echo "==> $failures process(es) failed" >&2
  exit 1
fi
echo "==> done"
