#!/usr/bin/env bash
# Runs the libFuzzer target fuzz_alloc.<line> for a bounded time, in two
# option sets (the default one, then HZ_TCACHE=0 HZ_PURGE_DELAY_MS=0
# HZ_LARGE_CACHE_MB=0, which sends every free straight to its span and every
# released page straight back to the OS), starting from the checked-in seeds.
# New corpus entries go to a temp dir; the seeds are never modified.
#
# usage: fuzz.sh FUZZER SEED_DIR [SECONDS [EXTRA libFuzzer args...]]
#   SECONDS  total time for both runs (default 45: two thirds default options)
#
# A crash leaves its input in $HZ_FUZZ_ARTIFACTS (default: a temp dir that is
# kept); turn it into a named regression test by copying it to
# tests/robust/regress/<name> (see docs/reliability.md).
set -euo pipefail
export LC_ALL=C
if [[ $# -lt 2 ]]; then
  echo "usage: $0 FUZZER SEED_DIR [SECONDS [libFuzzer args...]]" >&2
  exit 2
fi
fuzzer=$1 seeds=$2 total=${3:-45}
shift $(($# < 3 ? $# : 3))
[[ -x "$fuzzer" ]] || { echo "FAIL: fuzzer $fuzzer not built"; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hz-fuzz.XXXXXX")
art=${HZ_FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$work/corpus" "$art"
cleanup() {
  if compgen -G "$art/*" >/dev/null; then
    echo "fuzz.sh: artifacts kept in $art"
    rm -rf -- "$work/corpus"
  else
    rm -rf -- "$work"
  fi
}
trap cleanup EXIT

first=$((total * 2 / 3))
second=$((total - first))
passed=0 failed=0
run() { # name seconds env...
  local name=$1 secs=$2
  shift 2
  echo "=== $name: ${secs}s ($*)"
  local rc=0
  # HZ_FUZZ_ARGS: extra libFuzzer flags, split on purpose.
  # shellcheck disable=SC2086
  (ulimit -c 0
   env "$@" "$fuzzer" -max_total_time="$secs" -timeout=25 -rss_limit_mb=3072 -max_len=4096 \
     -print_final_stats=1 -artifact_prefix="$art/" ${HZ_FUZZ_ARGS:-} "$work/corpus" "$seeds" \
     >"$work/$name.log" 2>&1) || rc=$?
  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/$name.log" || true
  if [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
    echo "FAIL $name: the fuzzer stopped with status $rc"
    grep -E '^fuzz_alloc:|ERROR: libFuzzer|SUMMARY|Test unit written|Base64' "$work/$name.log" | head -n 20 || true
    grep -E '^ +#[0-9]+ ' "$work/$name.log" | head -n 25 || true
    echo "    reproduce: $fuzzer <the input above>; keep it as tests/robust/regress/<name>"
  else
    passed=$((passed + 1))
    echo "PASS $name"
  fi
}
run default "$first" HZ_FUZZ_PASS=default
[[ $failed -eq 0 ]] && run tcache-off-purge-0 "$second" HZ_TCACHE=0 HZ_PURGE_DELAY_MS=0 HZ_LARGE_CACHE_MB=0
echo "corpus after the run: $(find "$work/corpus" -type f | wc -l) entries"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
