#!/usr/bin/env bash
# HZ_STATS under a line: runs tests/stats/stats_workload.c (a known pattern of
# allocations in every size band across two threads, cross-thread frees
# included) with HZ_STATS=json and checks the report against what the
# workload says it did; then checks that HZ_STATS=1 prints the table.
# Both with thread caches (default) and without (HZ_TCACHE=0).
# usage: test_stats.sh <lib.so> <stats_workload>
set -uo pipefail
lib=${1:?lib} prog=${2:?stats_workload}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for tcache in 1 0; do
  if ! env HZ_STATS=json HZ_TCACHE=$tcache LD_PRELOAD="$lib" "$prog" >"$tmp/expect.json" 2>"$tmp/stats.json"; then
    echo "FAIL: HZ_TCACHE=$tcache: the workload failed"; cat "$tmp/stats.json"; fail=$((fail+1)); continue
  fi
  out=$(python3 "$here/check_stats.py" "$tmp/expect.json" "$tmp/stats.json" "HZ_TCACHE=$tcache")
  echo "$out" | grep -v '^ok' || true
  pass=$((pass + $(grep -c '^ok' <<<"$out")))
  fail=$((fail + $(grep -c '^FAIL' <<<"$out")))
  grep -q '^RESULT ok' <<<"$out" || fail=$((fail+1))
done

# The table: headings of every section, one row per band, the counters kept.
env HZ_STATS=1 LD_PRELOAD="$lib" "$prog" >/dev/null 2>"$tmp/table.txt"
for heading in "statistics" "size band" "allocs" "frees" "live bytes" "peak live" "peak bytes" \
               "<= 64 B" "<= 256 B" "<= 1 KiB" "<= 4 KiB" "<= 16 KiB" "<= 64 KiB" "<= 256 KiB" "large" "total" \
               "memory" "mapped now" "committed now" "returned to the OS" "remote frees" "threads" "seen" \
               "counters" "mmap calls" "bytes mapped from the OS"; do
  if grep -qF -- "$heading" "$tmp/table.txt"; then pass=$((pass+1)); else echo "FAIL: HZ_STATS=1 output lacks '$heading'"; fail=$((fail+1)); fi
done
# Each band row starts with exactly its label and then a number.
for label in "<= 64 B" "<= 256 B" "<= 1 KiB" "<= 4 KiB" "<= 16 KiB" "<= 64 KiB" "<= 256 KiB" "large" "total"; do
  if grep -qE -- "^  ${label} +[0-9]" "$tmp/table.txt"; then pass=$((pass+1)); else echo "FAIL: no table row starting with '$label' and a count"; fail=$((fail+1)); fi
done
if [[ $(grep -c 'statistics' "$tmp/table.txt") -eq 1 ]]; then pass=$((pass+1)); else echo "FAIL: not exactly one report"; fail=$((fail+1)); fi
[[ $fail -eq 0 ]] || cat "$tmp/table.txt"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
