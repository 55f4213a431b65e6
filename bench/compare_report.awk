# SPDX-License-Identifier: Apache-2.0
# Turns the rows of the comparison programs (tab-separated lines starting with "row", see
# compare.hpp) into the table of scripts/bench.sh, its JSON (-v json=1), or gnuplot data
# (-v plot=header|touch: one block per system, one line per size). Ratios are to the raw
# floor's row of the same size, mode and run. POSIX awk.
BEGIN { FS = "\t" }
$1 != "row" { next }
{
  key = $2 SUBSEP $5 SUBSEP $6
  if (!(key in seen)) { seen[key] = 1; order[++n] = key }
  if (!($2 in label)) { label[$2] = $3; peers[$2] = $4; sysorder[++nsys] = $2 }
  for (i = 8; i <= 15; i++) v[key, $7, i] = $i
  have[key, $7] = 1
}
function size_text(s) {
  if (s >= 1048576) return (s / 1048576) " MiB"
  if (s >= 1024) return (s / 1024) " KiB"
  return s " B"
}
function ns(x) {
  if (x == "") return "-"
  if (x >= 1e6) return sprintf("%.2f ms", x / 1e6)
  if (x >= 1e4) return sprintf("%.1f us", x / 1e3)
  return sprintf("%.0f", x)
}
function rate_text(x) {
  if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
  if (x >= 1e3) return sprintf("%.1f k", x / 1e3)
  return sprintf("%.0f", x)
}
function floor_key(k,   parts) { split(k, parts, SUBSEP); return "raw" SUBSEP parts[2] SUBSEP parts[3] }
function ratio(k, run, col, inverse,   f) {
  f = floor_key(k)
  if (!have[k, run] || !have[f, run] || v[f, run, col] + 0 == 0 || v[k, run, col] + 0 == 0) return ""
  return inverse ? v[f, run, col] / v[k, run, col] : v[k, run, col] / v[f, run, col]
}
function jnum(x) { return x == "" ? "null" : x + 0 }
END {
  if (plot != "") {
    for (s = 1; s <= nsys; s++) {
      printf "# %s\n", label[sysorder[s]]
      idx = 0
      for (i = 1; i <= n; i++) {
        split(order[i], p, SUBSEP)
        if (p[1] != sysorder[s] || p[3] != plot || !have[order[i], "pingpong"]) continue
        k = order[i]
        printf "%d\t\"%s\"\t%s\t%s\t%s\t%s\t%s\n", idx++, size_text(p[2]), v[k, "pingpong", 9], \
               v[k, "pingpong", 10], v[k, "pingpong", 11], v[k, "pingpong", 12], v[k, "pingpong", 13]
      }
      printf "\n\n"
    }
    exit
  }
  if (json) {
    printf "{\"rows\":["
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      printf "%s{\"system\":\"%s\",\"label\":\"%s\",\"subscribers\":%d,\"size\":%d,\"mode\":\"%s\"", \
             (i > 1 ? "," : ""), p[1], label[p[1]], peers[p[1]], p[2], p[3]
      split("pingpong fixed", runs, " ")
      for (r = 1; r <= 2; r++) {
        run = runs[r]
        if (!have[k, run]) continue
        printf ",\"%s\":{\"samples\":%d,\"p50_ns\":%s,\"p90_ns\":%s,\"p99_ns\":%s,\"p99_9_ns\":%s,\"max_ns\":%s,\"round_trips_per_s\":%s,\"p50_vs_floor\":%s}", \
               (run == "fixed" ? "fixed_100khz" : run), v[k, run, 8], v[k, run, 9], v[k, run, 10], v[k, run, 11], \
               v[k, run, 12], v[k, run, 13], v[k, run, 14], jnum(ratio(k, run, 9, 0))
      }
      if (have[k, "stream"])
        printf ",\"stream\":{\"msgs_per_s\":%s,\"gb_per_s\":%s,\"vs_floor\":%s}", v[k, "stream", 14], \
               v[k, "stream", 15], jnum(ratio(k, "stream", 14, 0))
      printf "}"
    }
    printf "]}\n"
    exit
  }
  printf "%-34s %7s %6s | %8s %8s %8s %8s %9s %7s | %8s %8s %9s %9s %7s | %9s %7s %6s\n", \
         "one-way latency (ns) / throughput", "size", "mode", "p50", "p90", "p99", "p99.9", "max", \
         "p50/raw", "100k p50", "p99", "p99.9", "max", "kHz", "msgs/s", "GB/s", "x raw"
  last = ""
  for (i = 1; i <= n; i++) {
    k = order[i]; split(k, p, SUBSEP)
    if (p[1] != last && last != "") printf "\n"
    last = p[1]
    pr = ratio(k, "pingpong", 9, 0); tr = ratio(k, "stream", 14, 0)
    printf "%-34s %7s %6s | %8s %8s %8s %8s %9s %7s | %8s %8s %9s %9s %7s | %9s %7s %6s\n", \
           substr(label[p[1]], 1, 34), size_text(p[2]), p[3], \
           ns(v[k, "pingpong", 9]), ns(v[k, "pingpong", 10]), ns(v[k, "pingpong", 11]), \
           ns(v[k, "pingpong", 12]), ns(v[k, "pingpong", 13]), (pr == "" ? "-" : sprintf("%.2fx", pr)), \
           ns(v[k, "fixed", 9]), ns(v[k, "fixed", 11]), ns(v[k, "fixed", 12]), ns(v[k, "fixed", 13]), \
           (have[k, "fixed"] ? sprintf("%.1f", v[k, "fixed", 14] / 1e3) : "-"), \
           (have[k, "stream"] ? rate_text(v[k, "stream", 14]) : "-"), \
           (have[k, "stream"] ? sprintf("%.2f", v[k, "stream", 15]) : "-"), \
           (tr == "" ? "-" : sprintf("%.2f", tr))
  }
  targets()
}
# x / y of column col of run `run` for systems a and b at (size, mode); "" if either is missing.
function versus(a, b, size, mode, run, col,   ka, kb) {
  ka = a SUBSEP size SUBSEP mode; kb = b SUBSEP size SUBSEP mode
  if (!have[ka, run] || !have[kb, run] || v[kb, run, col] + 0 == 0) return ""
  return v[ka, run, col] / v[kb, run, col]
}
function cell(x, target, above,   ok) {
  if (x == "") return sprintf("%14s", "-")
  ok = above ? x >= target : x <= target
  return sprintf("%9.2f %-4s", x, ok ? "met" : "MISS")
}
# The data path's targets (issue 14), as ratios within this run.
function targets(   i, k, p, done) {
  if (!("ipcbus_poll" in label) || !("raw" in label)) return
  printf "\ntargets (issue 14), ipcbus busy-poll in this run:\n"
  printf "%7s %6s | %14s %14s %14s %14s %14s %14s\n", "size", "mode", "p50/raw<=1.5", \
         "p99.9/raw<=1.5", "p50/iox<=1.0", "p50/raw<=1.2", "stream/raw>=.3", "2pub/raw>=.25"
  for (i = 1; i <= n; i++) {
    k = order[i]; split(k, p, SUBSEP)
    if (p[1] != "ipcbus_poll" || done[p[2], p[3]]++) continue
    small = p[2] < 65536
    printf "%7s %6s | %s %s %s %s %s %s\n", size_text(p[2]), p[3], \
           small ? cell(versus("ipcbus_poll", "raw", p[2], p[3], "pingpong", 9), 1.5, 0) : cell("", 0, 0), \
           small ? cell(versus("ipcbus_poll", "raw", p[2], p[3], "pingpong", 12), 1.5, 0) : cell("", 0, 0), \
           small ? cell("", 0, 0) : cell(versus("ipcbus_poll", "iceoryx", p[2], p[3], "pingpong", 9), 1.0, 0), \
           small ? cell("", 0, 0) : cell(versus("ipcbus_poll", "raw", p[2], p[3], "pingpong", 9), 1.2, 0), \
           small ? cell(versus("ipcbus_poll", "raw", p[2], p[3], "stream", 14), 0.3, 1) : cell("", 0, 0), \
           small ? cell(versus("ipcbus_poll_2pub", "raw", p[2], p[3], "stream", 14), 0.25, 1) : cell("", 0, 0)
  }
  printf "(the issue's targets: 64 B for the first two and the stream columns, 1 MiB and 8 MiB touch\n"
  printf " for the iceoryx and raw columns; the other cells are there for comparison)\n"
}
