#!/usr/bin/env bash
# Soak test: mixed workloads over a constant live set under each line for
# MINUTES, RSS sampled every second; fails when RSS grows without bound.
#
# usage: tests/soak.sh [options] MINUTES [line...]
#   line        a line name (its DSO is BUILD/lib/lib<line>.so), a path to a
#               DSO, or "glibc" (no preload: the reference); default: hz3
#   --build DIR build tree holding lib/lib<line>.so (default: $HZ_BUILD_DIR,
#               else ./build, else /tmp/robust-build)
#   --out DIR   where CSVs, logs and the plot go (default: a new
#               ${TMPDIR:-/tmp}/hz-soak.<date> directory)
#   --threads N worker threads (default 4); --live MIB live MiB per thread (16)
#
# Per line: LINE.csv ("seconds,rss_kb,live_kb,ops", one row a second) and
# LINE.log; for all lines: soak.svg (RSS solid, live set dashed) and
# summary.txt. A line fails when the median RSS of the last quarter of its run
# exceeds the median of the second quarter by more than 20 % (the live set is
# constant; quarters are counted in whole 20 s pattern cycles, so a verdict
# needs at least 80 s: shorter runs print SHORT), when its workload reports a
# corrupted block, or when it crashes.
# Exit status 0 when every line passed. The workload (tests/robust/
# soak_workload.c) is compiled into the output directory with cc -O2.
set -euo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
build=${HZ_BUILD_DIR:-}
out=
threads=4
live=16
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --live) live=$2; shift 2 ;;
    -*) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  usage >&2
  exit 2
fi
minutes=$1
shift
lines=("$@")
[[ ${#lines[@]} -eq 0 ]] && lines=(hz3)
if [[ -z "$build" ]]; then
  for d in "$repo/build" /tmp/robust-build; do
    if [[ -d "$d/lib" ]]; then build=$d; break; fi
  done
fi
out=${out:-${TMPDIR:-/tmp}/hz-soak.$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); print (s < 8 ? 8 : s) }')

cc=${CC:-cc}
"$cc" -O2 -g -D_GNU_SOURCE -o "$out/soak_workload" "$repo/tests/robust/soak_workload.c" -lpthread

median() { # file column from to  (rows from..to, 1-based after the header)
  awk -F, -v c="$2" -v a="$3" -v b="$4" 'NR > 1 && NR - 1 >= a && NR - 1 <= b { print $c }' "$1" |
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

failed=0
plot_args=()
: >"$out/summary.txt"
for line in "${lines[@]}"; do
  name=$line dso=
  case "$line" in
    glibc) ;;
    */*|*.so*) dso=$(readlink -f -- "$line"); name=$(basename "$dso"); name=${name%%.so*}; name=${name#lib} ;;
    *) dso="$build/lib/lib$line.so" ;;
  esac
  if [[ -n "$dso" && ! -f "$dso" ]]; then
    echo "soak.sh: $dso not found (build first: cmake -S . -B build && cmake --build build)" >&2
    failed=1
    continue
  fi
  csv="$out/$name.csv"
  echo "=== $name: ${seconds}s, $threads threads x $live MiB live${dso:+, LD_PRELOAD=$dso}"
  rc=0
  envs=(env -u LD_PRELOAD)
  [[ -n "$dso" ]] && envs+=(LD_PRELOAD="$dso")
  timeout -k 10 $((seconds + 120)) "${envs[@]}" "$out/soak_workload" "$seconds" "$csv" "$threads" "$live" \
    >"$out/$name.log" 2>&1 || rc=$?
  rows=$(($(wc -l <"$csv") - 1))
  # Quarters in whole 20 s pattern cycles (soak_workload.c: 4 patterns x 5 s),
  # so both windows see the same mix of patterns.
  cycles=$((rows / 20))
  verdict=PASS why=""
  if [[ $rc -ne 0 ]]; then
    verdict=FAIL why="workload exit status $rc: $(tail -n 2 "$out/$name.log" | tr '\n' ' ')"
  elif [[ $cycles -lt 4 ]]; then
    verdict=SHORT why="no verdict: fewer than 4 pattern cycles (80 s)"
  fi
  # shellcheck disable=SC2017 # rounding down to whole cycles is the point
  a=$((cycles / 4 * 20 + 1)) b=$((cycles / 2 * 20)) c=$((cycles * 3 / 4 * 20 + 1)) d=$((cycles * 20))
  if [[ $cycles -lt 4 ]]; then a=1 b=$((rows / 2)) c=$((rows / 2 + 1)) d=$rows; fi
  q2=$(median "$csv" 2 "$a" "$b")
  q4=$(median "$csv" 2 "$c" "$d")
  l2=$(median "$csv" 3 "$a" "$b")
  l4=$(median "$csv" 3 "$c" "$d")
  peak=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print m + 0 }' "$csv")
  growth=$(awk -v a="$q2" -v b="$q4" 'BEGIN { if (a > 0) printf "%+.1f", (b - a) * 100 / a; else print "n/a" }')
  if [[ $verdict == PASS ]] && awk -v a="$q2" -v b="$q4" 'BEGIN { exit !(b > a * 1.2) }'; then
    verdict=FAIL why="RSS grows: median ${q4} KiB over seconds $c..$d > median ${q2} KiB over seconds $a..$b + 20 %"
  fi
  summary="$name: $verdict  samples $rows  RSS median Q2 (s $a..$b) $((q2 / 1024)) MiB, Q4 (s $c..$d) $((q4 / 1024)) MiB ($growth %), peak $((peak / 1024)) MiB; live median Q2 $((l2 / 1024)) MiB, Q4 $((l4 / 1024)) MiB${why:+  ($why)}"
  echo "$summary" | tee -a "$out/summary.txt"
  [[ $verdict == FAIL ]] && failed=1
  plot_args+=("$name=$csv")
done

if [[ ${#plot_args[@]} -gt 0 ]] && command -v python3 >/dev/null 2>&1; then
  python3 "$repo/tests/robust/soak_plot.py" "$out/soak.svg" \
    "soak: ${minutes} min, $threads threads x $live MiB live (constant), mixed patterns" "${plot_args[@]}" &&
    echo "plot: $out/soak.svg"
fi
echo "results: $out"
exit $failed
