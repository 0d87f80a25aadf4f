#!/usr/bin/env bash
# The option tables of docs/options.md and README.md are generated from the
# single table in code (HZ_OPTION_TABLE, common/hz_options.h) by
# tools/gen_options_md.py: regenerate them and fail when the committed files
# differ (stale docs). Also: every option in the table is named in both, and
# docs/options.md names no option that does not exist.
# Takes the DSO path as $1 (unused: the docs are the same for every line).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pass=0 fail=0
if python3 "$repo/tools/gen_options_md.py" --check; then pass=$((pass+1)); else echo "FAIL: generated option tables are stale"; fail=$((fail+1)); fi
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
