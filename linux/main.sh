#!/usr/bin/env bash
# The main job: install what is missing, build every line in Release, and run
# the preload smoke (real programs under each library, output compared with
# the run without it). When the benchmark runner lands this becomes the
# benchmark comparison.
#
# usage: linux/main.sh [--no-install] [-h|--help]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-install) install=0 ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "main.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $install -eq 1 ]]; then
  bash "$repo/linux/install_deps.sh"
fi
bash "$repo/linux/build_linux_release_lane.sh"

status=0
for lib in "$repo"/build/lib/libhz*.so; do
  [[ -e "$lib" ]] || { echo "main.sh: no libhz*.so was built" >&2; exit 1; }
  line=$(basename "$lib" .so); line=${line#lib}
  echo "== preload smoke: $line"
  bash "$repo/linux/run_linux_preload_smoke.sh" "$line" || status=1
done
exit $status
