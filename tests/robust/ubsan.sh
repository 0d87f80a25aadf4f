#!/usr/bin/env bash
# UBSan build of the lines and the conformance + stress tests, run clean:
# configures SOURCE with -DHZ_SANITIZE=undefined (-fno-sanitize-recover=all:
# the first undefined behaviour aborts the test) into BUILD, builds only the
# lines and the conformance/stress programs, and runs `ctest -L
# 'conformance|stress'` there (every line, preloaded and linked).
#
# usage: tests/robust/ubsan.sh SOURCE BUILD [LINES]
#   LINES  ;- or |-separated line list (default: the project's default HZ_LINES)
# Environment: HZ_UBSAN_JOBS (default 2), HZ_UBSAN_LABELS (default
# 'conformance|stress'; e.g. '.' for the whole suite).
set -euo pipefail
export LC_ALL=C
if [[ $# -lt 2 ]]; then
  echo "usage: $0 SOURCE BUILD [LINES]" >&2
  exit 2
fi
src=$1 build=$2 lines=${3:-}
lines=${lines//|/;}
jobs=${HZ_UBSAN_JOBS:-2}
labels=${HZ_UBSAN_LABELS:-conformance|stress}
t0=$(date +%s)

args=(-S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHZ_SANITIZE=undefined
      -DHZ_BUILD_TESTS=ON -DHZ_BUILD_BENCH=OFF -DHZ_ROBUST_NESTED=ON)
[[ -n "$lines" ]] && args+=("-DHZ_LINES=$lines")
if ! cmake "${args[@]}" >"$build.configure.log" 2>&1; then
  mkdir -p "$build"
  tail -n 30 "$build.configure.log"
  echo "FAIL ubsan: configure failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# Only what the chosen labels run: the lines and the test programs named by
# the tests (<prog>.<line>.preload runs <prog>, <prog>.<line>.linked runs
# <prog>.<line>), as far as they are build targets.
mapfile -t tests < <(cd "$build" && ctest -N -L "$labels" 2>/dev/null |
  sed -n 's/^ *Test *#[0-9]*: \(.*\)$/\1/p')
if [[ ${#tests[@]} -eq 0 ]]; then
  echo "FAIL ubsan: no tests with labels '$labels' in $build"
  echo "0 passed, 1 failed"
  exit 1
fi
all_targets=$(cmake --build "$build" --target help 2>/dev/null | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p')
has_target() { grep -qxF -- "$1" <<<"$all_targets"; }
build_targets=()
for t in "${tests[@]}"; do
  prog=${t%%.*} rest=${t#*.} line=${rest%%.*}
  for cand in "$prog" "$prog.$line" "$line"; do
    if has_target "$cand" && [[ " ${build_targets[*]} " != *" $cand "* ]]; then
      build_targets+=("$cand")
    fi
  done
done
targets=("${build_targets[@]}")
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "$t"); done
if ! cmake --build "$build" -j"$jobs" "${build_targets[@]}" >"$build.build.log" 2>&1; then
  grep -E 'error|Error' "$build.build.log" | head -n 30
  echo "FAIL ubsan: build failed (log: $build.build.log)"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "ubsan: built ${#targets[@]} targets for ${#tests[@]} tests in $(($(date +%s) - t0))s"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
(cd "$build" && ctest -j"$jobs" -L "$labels" --output-on-failure) >"$build.ctest.log" 2>&1 || rc=$?
grep -E 'tests passed|Test +#|runtime error' "$build.ctest.log" | grep -vE ' Passed ' | head -n 40 || true
n_ok=$(grep -cE 'Test +#[0-9]+: .* Passed' "$build.ctest.log" || true)
n_bad=$(grep -cE 'Test +#[0-9]+: .*\*\*\*|Test +#[0-9]+: .*(Failed|Timeout)' "$build.ctest.log" || true)
if grep -q 'runtime error' "$build.ctest.log"; then
  echo "ubsan: undefined behaviour reported (see above, full log $build.ctest.log)"
  [[ $n_bad -eq 0 ]] && n_bad=1
fi
[[ $rc -ne 0 && $n_bad -eq 0 ]] && n_bad=1
echo "ubsan: $(($(date +%s) - t0))s total"
echo "$n_ok passed, $n_bad failed"
[[ $n_bad -eq 0 ]]
