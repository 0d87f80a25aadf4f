#!/usr/bin/env bash
# Every option in the single table (common/hz_options.h) must be documented in
# docs/options.md and README.md, and the docs must name no option that does not
# exist. Takes the DSO path as $1 (unused: the docs are the same for every line).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pass=0 fail=0
table=$(grep -o '"HZ_[A-Z_]*"' "$repo/common/hz_options.h" | tr -d '"' | sort -u)
[[ -n "$table" ]] || { echo "no options found in hz_options.h"; echo "0 passed, 1 failed"; exit 1; }
for opt in $table; do
  for doc in docs/options.md README.md; do
    if grep -q "\`$opt\`" "$repo/$doc"; then pass=$((pass+1)); else echo "FAIL: $opt missing from $doc"; fail=$((fail+1)); fi
  done
done
for opt in $(grep -o '`HZ_[A-Z_]*`' "$repo/docs/options.md" | tr -d '`' | sort -u); do
  case "$opt" in HZ_LINES|HZ_BUILD_TESTS|HZ_BUILD_BENCH|HZ_WERROR|HZ_OPTION_TABLE|HZ_FAULT_INJECTION|HZ_SANITIZE) continue ;; esac
  if grep -qx "$opt" <<<"$table"; then pass=$((pass+1)); else echo "FAIL: docs/options.md names unknown option $opt"; fail=$((fail+1)); fi
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
