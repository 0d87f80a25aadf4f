#!/usr/bin/env bash
# One death test: runs tests/robust/death.c's CASE in a child process under a
# line and judges exit status, signal and output against the line's cell in
# tests/robust/death_expectations.md.
#
# usage: death.sh LINE PRELOAD_DSO|- PROGRAM CASE
#   PRELOAD_DSO  the line's DSO to LD_PRELOAD, or - when PROGRAM is linked to it
set -euo pipefail
export LC_ALL=C

if [[ $# -ne 4 ]]; then
  echo "usage: $0 LINE PRELOAD_DSO|- PROGRAM CASE" >&2
  exit 2
fi
line=$1 dso=$2 prog=$3 case_name=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
table=$here/death_expectations.md
timeout_s=${HZ_DEATH_TIMEOUT:-60}

finish() { # passed failed
  echo "$1 passed, $2 failed"
  [[ $2 -eq 0 ]]
  exit $?
}

# ---- the cell: column named LINE in the header row, row named CASE ----
cell=$(awk -F'|' -v line="$line" -v c="$case_name" '
  function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
  /^\| *case *\|/ { for (i = 2; i < NF; i++) if (trim($i) == line) col = i; header = 1; next }
  header && col && trim($2) == c { print trim($col); found = 1; exit }
  END { if (!header) exit 3; if (!col) exit 4; if (!found) exit 5 }' "$table") || {
  rc=$?
  case $rc in
    4) echo "FAIL: no expectation for line '$line' in $table (add a column)" ;;
    5) echo "FAIL: no row for case '$case_name' in $table" ;;
    *) echo "FAIL: cannot read $table (awk status $rc)" ;;
  esac
  finish 0 1
}
cell=${cell%%#*}   # drop a trailing note
echo "expectation ($line): $cell"

outcome='' counted=0 envs=() err_res=() out_res=()
IFS=';' read -r -a tokens <<<"$cell"
for t in "${tokens[@]}"; do
  t="${t#"${t%%[![:space:]]*}"}"   # trim
  t="${t%"${t##*[![:space:]]}"}"
  [[ -z "$t" ]] && continue
  case "$t" in
    ok|taint|abort|signal) outcome=$t ;;
    counted) counted=1 ;;
    env=*) envs+=("${t#env=}") ;;
    err=*) err_res+=("${t#err=}") ;;
    out=*) out_res+=("${t#out=}") ;;
    *) echo "FAIL: unknown token '$t' in the expectation"; finish 0 1 ;;
  esac
done
[[ -n "$outcome" ]] || { echo "FAIL: no outcome (ok|taint|abort|signal) in '$cell'"; finish 0 1; }

mode=strict
[[ $outcome == taint ]] && mode=taint

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hz-death.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
cmd=(env -u LD_PRELOAD HZ_STATS=1 HZ_TEST_LINE="$line")
[[ $dso != - ]] && cmd+=(LD_PRELOAD="$dso")
cmd+=("${envs[@]}" "$prog" "$case_name" "$mode")
echo "run: ${cmd[*]}"
rc=0
(ulimit -c 0; timeout -k 5 "$timeout_s" "${cmd[@]}" >"$tmp/out" 2>"$tmp/err") || rc=$?

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

describe() {
  if [[ $1 -eq 124 || $1 -eq 137 ]]; then echo "timeout after ${timeout_s}s (hang)"
  elif [[ $1 -gt 128 ]]; then echo "killed by signal $(($1 - 128)) ($(kill -l $(($1 - 128)) 2>/dev/null || echo '?'))"
  else echo "exit $1"; fi
}

case $outcome in
  ok|taint)
    if [[ $rc -eq 0 ]] && grep -qE '^[0-9]+ passed, 0 failed$' "$tmp/out"; then
      ok "survived ($mode): witnesses intact, allocator kept working"
    else
      bad "expected to survive ($mode), got $(describe $rc)"
    fi ;;
  abort)
    if [[ $rc -eq 134 ]]; then ok "SIGABRT"
    else bad "expected SIGABRT, got $(describe $rc)"; fi ;;
  signal)
    if [[ $rc -gt 128 && $rc -ne 137 ]]; then ok "killed by a signal: $(describe $rc)"
    else bad "expected death by a signal, got $(describe $rc)"; fi ;;
esac
if [[ $counted -eq 1 ]]; then
  n=$(sed -n 's/^ *\([0-9][0-9]*\)[[:space:]]*frees of unallocated pointers inside our arena.*/\1/p' "$tmp/err" | head -n 1)
  if [[ -n "$n" && "$n" -ge 1 ]]; then ok "counted as an ignored invalid free ($n)"
  else bad "not counted: no 'frees of unallocated pointers inside our arena' >= 1 in the HZ_STATS summary (got '${n:-none}')"; fi
fi
for re in "${err_res[@]}"; do
  if grep -qE -- "$re" "$tmp/err"; then ok "stderr matches /$re/"; else bad "stderr does not match /$re/"; fi
done
for re in "${out_res[@]}"; do
  if grep -qE -- "$re" "$tmp/out"; then ok "stdout matches /$re/"; else bad "stdout does not match /$re/"; fi
done

if [[ $failed -ne 0 ]]; then
  echo "--- stdout (last 25 lines):"
  tail -n 25 "$tmp/out"
  echo "--- stderr (first 25 lines):"
  head -n 25 "$tmp/err"
fi
finish $passed $failed
