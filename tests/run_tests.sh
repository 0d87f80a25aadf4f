#!/usr/bin/env bash
# The test command: installs what is missing, builds every line and runs the
# whole ctest suite (conformance, stress, real programs under LD_PRELOAD)
# against each line, preloaded and linked.
#
# usage: tests/run_tests.sh [--build-dir DIR] [--jobs N] [--no-install] [-- ctest args...]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo/build-tests"
jobs=$(nproc 2>/dev/null || echo 2)
install=1
ctest_args=()

usage() {
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) [[ $# -ge 2 ]] || { echo "run_tests.sh: --build-dir needs a value" >&2; exit 2; }
                 build_dir=$2; shift ;;
    --jobs) [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || { echo "run_tests.sh: --jobs needs a positive number" >&2; exit 2; }
            jobs=$2; shift ;;
    --no-install) install=0 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "run_tests.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $install -eq 1 ]]; then
  bash "$repo/linux/install_deps.sh"
fi

cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DHZ_BUILD_TESTS=ON
cmake --build "$build_dir" -j"$jobs"
cd "$build_dir"
ctest --output-on-failure -j"$jobs" "${ctest_args[@]}"
