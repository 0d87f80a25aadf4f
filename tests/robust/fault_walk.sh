#!/usr/bin/env bash
# The fault walk: runs `WORKLOAD walk` (tests/robust/fault_workload.c) under a
# line built with -DHZ_FAULT_INJECTION=ON, once for every N with
# HZ_FAULT_MMAP=N (the N-th OS mapping of the process fails with ENOMEM), for
# N = 1 .. (mappings the workload makes + 10), in two option sets:
#   default                                  (large-block cache, purge delay)
#   HZ_LARGE_CACHE_MB=0 HZ_PURGE_DELAY_MS=0  (every large block and every
#                                             empty segment is a fresh mapping)
# and at least HZ_FAULT_WALK_MIN (default 200) values of N in total.
#
# Every run must exit 0 with "N passed, 0 failed": every failed call returned
# NULL / ENOMEM, repeating it succeeded, contents intact, and the allocator
# kept working afterwards; no crash, no hang (HZ_FAULT_TIMEOUT seconds, 20).
#
# usage: fault_walk.sh FAULT_DSO WORKLOAD [MAX_N]
#   MAX_N  walk only N = 1..MAX_N per option set (default: all mappings + 10)
set -euo pipefail
export LC_ALL=C
if [[ $# -lt 2 ]]; then
  echo "usage: $0 FAULT_DSO WORKLOAD [MAX_N]" >&2
  exit 2
fi
dso=$(readlink -f -- "$1") prog=$2 max_arg=${3:-}
timeout_s=${HZ_FAULT_TIMEOUT:-20}
min_total=${HZ_FAULT_WALK_MIN:-200}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hz-fault.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
passed=0 failed=0 runs=0 t0=$(date +%s)

fail() { failed=$((failed + 1)); echo "FAIL $1"; }
pass() { passed=$((passed + 1)); echo "PASS $1"; }
finish() {
  echo "fault_walk: $runs runs in $(($(date +%s) - t0))s"
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}

[[ -f "$dso" ]] || { fail "fault-injection DSO $1 missing"; finish; }
# The hook must be compiled in: HZ_VERBOSE=1 lists HZ_FAULT_MMAP only then.
if ! env HZ_VERBOSE=1 LD_PRELOAD="$dso" true 2>&1 | grep -q HZ_FAULT_MMAP; then
  fail "$dso was built without -DHZ_FAULT_INJECTION=ON (HZ_VERBOSE=1 does not list HZ_FAULT_MMAP)"
  finish
fi

# ...and must fire: failing one of the first mappings changes what the line
# ends up mapping (hz3: the tag table is refused, the arena is halved).
mapped() { # env...
  env "$@" HZ_STATS=1 LD_PRELOAD="$dso" "$prog" walk 2>&1 >/dev/null |
    sed -n 's/^ *\([0-9][0-9]*\)[[:space:]]*bytes mapped from the OS$/\1/p' | head -n 1
}
clean=$(mapped HZ_FAULT_MMAP=0)
fired=0
for n in 1 2 3; do
  m=$(mapped HZ_FAULT_MMAP=$n)
  if [[ -n "$m" && "$m" != "$clean" ]]; then
    fired=$n
    break
  fi
done
if [[ $fired -eq 0 ]]; then
  # Not fatal: a line may retry a refused mapping with the same size. The
  # hook itself is common/hz_os.c, shared by every line.
  echo "NOTE: HZ_FAULT_MMAP=1..3 map the same bytes as a clean run ($clean): the hook's effect is not visible in HZ_STATS"
else
  pass "the hook fires: HZ_FAULT_MMAP=$fired changes the bytes mapped ($clean -> $m)"
fi

describe() {
  if [[ $1 -eq 124 || $1 -eq 137 ]]; then echo "hang: timeout after ${timeout_s}s"
  elif [[ $1 -gt 128 ]]; then echo "crash: signal $(($1 - 128)) ($(kill -l $(($1 - 128)) 2>/dev/null || echo '?'))"
  else echo "exit $1"; fi
}

backtrace() { # env...
  command -v gdb >/dev/null 2>&1 || return 0
  echo "    --- gdb backtrace of a rerun:"
  timeout -k 5 60 gdb -q -nx -batch -ex 'set pagination off' \
    -ex "set exec-wrapper env LD_PRELOAD=$dso $*" -ex run -ex 'thread apply all bt 20' \
    --args "$prog" walk </dev/null 2>&1 | grep -E '^(#|Thread|Program)' | head -n 60 | sed 's/^/    /' || true
}

walk_set() { # name env...
  local name=$1
  shift
  # How many mappings does a clean run make? (HZ_STATS "mmap calls")
  local k
  k=$(env "$@" HZ_STATS=1 LD_PRELOAD="$dso" "$prog" walk 2>&1 >/dev/null |
      sed -n 's/^ *\([0-9][0-9]*\)[[:space:]]*mmap calls$/\1/p' | head -n 1)
  [[ -n "$k" ]] || { fail "$name: no 'mmap calls' in the HZ_STATS=1 output of a clean run"; return; }
  local max=$((k + 10))
  [[ -n "$max_arg" ]] && max=$max_arg
  if [[ -z "$max_arg" && $((runs + max)) -lt $min_total && $name != default ]]; then
    max=$((min_total - runs))
  fi
  echo "=== $name ($*): a clean run makes $k mappings; N = 1..$max"
  local n rc visible=0 visible_list="" set_failed=0
  for ((n = 1; n <= max; n++)); do
    runs=$((runs + 1))
    rc=0
    (ulimit -c 0; timeout -k 5 "$timeout_s" env "$@" HZ_FAULT_MMAP=$n LD_PRELOAD="$dso" \
       "$prog" walk >"$tmp/out" 2>"$tmp/err") || rc=$?
    if [[ $rc -eq 0 ]] && grep -qE '^[0-9]+ passed, 0 failed$' "$tmp/out"; then
      local f
      f=$(sed -n 's/^faults: \([0-9]*\) failed calls$/\1/p' "$tmp/out")
      if [[ -n "$f" && "$f" != 0 ]]; then
        visible=$((visible + 1))
        [[ ${#visible_list} -lt 300 ]] && visible_list+=" $n($f)"
      fi
      continue
    fi
    set_failed=$((set_failed + 1))
    fail "$name: HZ_FAULT_MMAP=$n: $(describe $rc)"
    grep -E '^FAIL' "$tmp/err" | head -n 8 | sed 's/^/    /' || true
    tail -n 3 "$tmp/out" | sed 's/^/    out: /'
    if [[ $rc -gt 128 && $set_failed -le 2 ]]; then backtrace "$@" HZ_FAULT_MMAP=$n; fi
    if [[ $set_failed -ge 10 ]]; then
      echo "    (stopping this option set after 10 failures)"
      return
    fi
  done
  if [[ $set_failed -eq 0 ]]; then
    pass "$name: $max runs clean; $visible saw failed calls (N(calls)):${visible_list:- none}"
  fi
}

walk_set default HZ_FAULT_SET=default
walk_set nocache-purge0 HZ_LARGE_CACHE_MB=0 HZ_PURGE_DELAY_MS=0
finish
