#!/usr/bin/env bash
# Guards the fast path against silent growth: counts instructions per
# malloc+free pair with callgrind (deterministic, unlike time) and compares
# them with tests/perf/fastpath_golden.txt.
# usage: test_fastpath_golden.sh <lib.so> <bench_fastpath> <line>
set -uo pipefail
lib=${1:?lib} bench=${2:?bench_fastpath} line=${3:?line}
golden=$(dirname "${BASH_SOURCE[0]}")/fastpath_golden.txt
pass=0 fail=0
command -v valgrind >/dev/null || { echo "valgrind missing (linux/install_deps.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
count() {  # total instructions of one run
  LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" "$1" "$2" 2>&1 \
    | sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
found=0
while read -r gline size limit; do
  [[ "$gline" == "$line" ]] || continue
  found=1
  a=$(count "$size" 20000); b=$(count "$size" 120000)
  if [[ -z "$a" || -z "$b" ]]; then echo "FAIL: $line size $size: callgrind gave no count"; fail=$((fail+1)); continue; fi
  per=$(( (b - a) / 100000 ))
  max=$(( limit + limit / 10 ))
  if (( per <= max )); then
    echo "ok: $line size $size: $per instructions per pair (golden $limit, limit $max)"
    pass=$((pass+1))
  else
    echo "FAIL: $line size $size: $per instructions per pair, golden $limit (+10 % = $max)"
    fail=$((fail+1))
  fi
  (( per * 10 < limit * 8 )) && echo "note: $line size $size is now $per, well below golden $limit: lower the golden count"
done < <(grep -v '^#' "$golden")
(( found )) || { echo "FAIL: no golden counts for line $line in $golden"; fail=$((fail+1)); }
echo "$pass passed, $fail failed"
(( fail == 0 ))
