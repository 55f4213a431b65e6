#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The comparison benchmark (bench/README.md, "Comparison"): ipcbus against the raw
# shared-memory floor, iceoryx, ZeroMQ and Boost.Interprocess, in one table.
#
#   scripts/bench.sh               installs what is missing, builds, runs, prints the table
#   scripts/bench.sh --json        the same rows as one JSON object on stdout
#   scripts/bench.sh --scale F     multiplies every sample/message count (default 1)
#   scripts/bench.sh --plot FILE   also draws the latency percentiles (gnuplot PNG)
#   scripts/bench.sh --guard       CI: a short ipcbus-vs-raw ping-pong; prints the ratio,
#                                  fails only if the harness breaks, never on speed
#
# The two sides of every row run on the first two CPUs (side A on the first, side B on the
# second). RouDi (iceoryx's daemon) is started here and only that process is stopped.
# Rows, JSON and RouDi's log go to build/release/bench-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

json=0 guard=0 scale=1 plot=""
while [ $# -gt 0 ]; do
  case $1 in
    --json) json=1 ;;
    --guard) guard=1 ;;
    --scale) scale=$2; shift ;;
    --plot) plot=$(realpath -m "$2"); shift ;;
    -h|--help) sed -n '3,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

bin=build/release/bench
out=build/release/bench-results
report=bench/compare_report.awk

if [ "$guard" = 1 ]; then
  # A few seconds: 64 B header ping-pong, raw floor and ipcbus busy-poll. The ratio is
  # printed for the log; a slow or noisy machine never fails CI, a broken harness does.
  configure_and_build release ipcbus_bench_compare >/dev/null
  rows=$("$bin/ipcbus_bench_compare" --systems raw,ipcbus_poll --sizes 64 --modes header \
         --runs pingpong,stream --scale 0.5 2>/dev/null) || {
    echo "bench guard: the comparison harness failed" >&2
    exit 1
  }
  awk -F'\t' '$1 == "row" && $7 == "pingpong" { p50[$2] = $9 }
              $1 == "row" && $7 == "stream" { rate[$2] = $14 }
              END {
                if (!(p50["raw"] > 0 && p50["ipcbus_poll"] > 0 && rate["raw"] > 0)) {
                  print "bench guard: rows missing" > "/dev/stderr"; exit 1
                }
                printf "bench guard (64 B, not asserted): one-way p50 ipcbus %.0f ns / raw %.0f ns = %.2fx; stream ipcbus/raw = %.2f\n",
                       p50["ipcbus_poll"], p50["raw"], p50["ipcbus_poll"] / p50["raw"],
                       rate["ipcbus_poll"] / rate["raw"]
              }' <<<"$rows"
  exit
fi

ensure_packages "${IPCBUS_BUILD_PACKAGES[@]}" libiceoryx-posh-dev iceoryx libzmq3-dev \
                libboost-dev gnuplot-nox
echo "==> building the comparison programs (release)" >&2
configure_and_build release ipcbus_bench_compare ipcbus_peer_iceoryx ipcbus_peer_zmq \
                    ipcbus_peer_boost >&2
mkdir -p "$out"
rows_file=$out/compare-rows.tsv
: >"$rows_file"

roudi_pid=""
stop_roudi() {
  if [ -n "$roudi_pid" ]; then
    kill -TERM "$roudi_pid" 2>/dev/null || true
    wait "$roudi_pid" 2>/dev/null || true
    roudi_pid=""
  fi
}
trap stop_roudi EXIT
trap 'exit 130' INT TERM

if pgrep -x iox-roudi >/dev/null; then
  echo "error: an iox-roudi is already running (not ours, left alone); stop it first" >&2
  exit 1
fi
echo "==> starting iox-roudi" >&2
iox-roudi -c bench/peers/roudi_config.toml -l info >"$out/roudi.log" 2>&1 &
roudi_pid=$!
# Ready when it says so; bounded (RouDi maps ~0.5 GiB of mempools first).
for _ in $(seq 300); do
  grep -q "RouDi is ready for clients" "$out/roudi.log" && break
  kill -0 "$roudi_pid" 2>/dev/null || { cat "$out/roudi.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "RouDi is ready for clients" "$out/roudi.log" ||
  { echo "error: iox-roudi did not get ready in 30 s" >&2; exit 1; }

start=$SECONDS
for program in ipcbus_bench_compare peers/ipcbus_peer_iceoryx peers/ipcbus_peer_zmq \
               peers/ipcbus_peer_boost; do
  echo "==> $program" >&2
  "$bin/$program" --scale "$scale" | grep '^row' >>"$rows_file"
done
stop_roudi
echo "==> measured in $((SECONDS - start)) s; rows in $rows_file" >&2

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, Linux $(uname -r)"
if [ "$json" = 1 ]; then
  awk -v json=1 -f "$report" "$rows_file" |
    sed "s|^{|{\"machine\":\"${machine//\"/}\",|" | tee "$out/compare.json"
else
  echo "machine: $machine"
  echo "one-way = RTT/2 from ping-pong; 100k = fixed 100 kHz schedule, latency from the"
  echo "scheduled send time (kHz: the rate achieved); msgs/s, GB/s: one-way stream;"
  echo "p50/raw and x raw: against the raw floor of the same size and mode"
  awk -f "$report" "$rows_file"
fi

if [ -n "$plot" ]; then
  for mode in header touch; do awk -v plot=$mode -f "$report" "$rows_file" >"$out/plot-$mode.dat"; done
  systems=$(awk -F'\t' '$1 == "row" && !seen[$2]++ { n++ } END { print n }' "$rows_file")
  titles=$(awk -F'\t' '$1 == "row" && !seen[$2]++ { printf "%s%s", sep, $3; sep = "|" }' "$rows_file")
  gnuplot <<GNUPLOT
set terminal pngcairo size 1400,620 font ",10" noenhanced
set output "$plot"
set multiplot layout 1,2 title "One-way latency (ping-pong RTT/2), p50 (solid) and p99 (dashed) - $machine"
set logscale y
set ylabel "ns"
set grid ytics
set key top left font ",9"
set xrange [-0.3:3.3]
titles = "$titles"
title(i) = system(sprintf("echo '%s' | cut -d'|' -f%d", titles, i + 1))
do for [mode in "header touch"] {
  set title (mode eq "header" ? "header mode (8-byte sequence number only)" : "touch mode (every byte written and read)")
  file = "$out/plot-" . mode . ".dat"
  plot for [i=0:$systems-1] file index i using 1:3:xtic(2) with linespoints lw 2 lc i+1 pt 7 title title(i), \
       for [i=0:$systems-1] file index i using 1:5 with linespoints lw 1 dt 2 lc i+1 pt 6 notitle
}
unset multiplot
GNUPLOT
  echo "==> plot: $plot" >&2
fi
