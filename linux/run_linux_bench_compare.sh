#!/usr/bin/env bash
# Benchmark comparison: every hakozuna line against glibc, mimalloc, tcmalloc
# and jemalloc on the lanes of bench/runner/lanes.conf.
#
# usage: linux/run_linux_bench_compare.sh [--allocators LIST] [--lanes LIST]
#          [--threads LIST] [--runs N] [--outdir DIR] [--build-dir DIR]
#          [--skip-build] [--no-install] [--timeout SEC] [--quick] [--list]
#          [--dry-run] [-h|--help]
#
# The work is done by bench/runner/compare.py (python3, standard library
# only); see --help for the options and docs/benchmarks/README.md for the
# lanes and what is recorded. Exit status: 0 done (crashed or timed-out runs
# are shown in their table cells), 1 build/install/environment failure,
# 2 bad options.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

if ! command -v python3 >/dev/null 2>&1; then
  echo "$(basename "$0"): python3 not found; run linux/install_deps.sh" >&2
  exit 1
fi

# Neither the runner nor the tools it starts run under a caller's preload;
# each run sets LD_PRELOAD itself.
unset LD_PRELOAD || true
export PYTHONDONTWRITEBYTECODE=1
export HZ_BENCH_ENTRY
HZ_BENCH_ENTRY=$(basename "$0")
export HZ_BENCH_ENTRY_PATH="linux/$HZ_BENCH_ENTRY"
exec python3 "$repo/bench/runner/compare.py" "$@"
