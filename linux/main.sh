#!/usr/bin/env bash
# The main job: install what is missing, build every line in Release, and run
# the benchmark comparison in its quick form (every allocator: glibc, mimalloc,
# tcmalloc, jemalloc and each hakozuna line, on a small representative lane
# set, 3 runs, interleaved). Prints the table and where the report
# (summary.md), the samples (samples.csv) and the charts (chart*.svg) are.
#
# usage: linux/main.sh [--no-install] [--outdir DIR] [-h|--help]
#        extra runner options may follow `--`, e.g. -- --threads 2,4
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=1
outdir="$repo/build/bench-results/main_$(date +%Y%m%d_%H%M%S)"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-install) install=0 ;;
    --outdir) [[ $# -ge 2 ]] || { echo "main.sh: --outdir needs a value" >&2; exit 2; }
              outdir=$2; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "main.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $install -eq 1 ]]; then
  bash "$repo/linux/install_deps.sh"
fi
bash "$repo/linux/build_linux_release_lane.sh"
bash "$repo/linux/run_linux_bench_compare.sh" --quick --skip-build --outdir "$outdir" "${extra[@]}"
echo
echo "report: $outdir/summary.md"
echo "samples: $outdir/samples.csv"
echo "charts: $(ls "$outdir"/chart*.svg 2>/dev/null | tr '\n' ' ')"
