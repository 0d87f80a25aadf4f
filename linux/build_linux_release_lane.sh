#!/usr/bin/env bash
# Configure and build every allocator line (hz3, hz4, ...) in Release.
#
# usage: linux/build_linux_release_lane.sh [--build-dir DIR] [--clean] [-h|--help]
#   --build-dir DIR  build tree to use (default: <repo>/build)
#   --clean          remove the build tree first
# Extra CMake cache settings can be passed through CMAKE_ARGS, e.g.
#   CMAKE_ARGS="-DHZ_WERROR=ON" linux/build_linux_release_lane.sh
# Prints the paths of the built lib*.so at the end.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
build_dir="$repo/build"
clean=0

usage() {
  cat <<EOF
usage: $(basename "$0") [--build-dir DIR] [--clean] [-h|--help]

Configures and builds all hakozuna lines in Release:
  cmake -S $repo -B <build-dir> -DCMAKE_BUILD_TYPE=Release
  cmake --build <build-dir> -j\$(nproc)

  --build-dir DIR  build tree (default: $repo/build)
  --clean          delete the build tree before configuring
  -h, --help       show this help

Environment: CMAKE_ARGS  extra arguments for the configure step.
EOF
}

die_usage() {
  echo "$(basename "$0"): $1" >&2
  echo "Try '$(basename "$0") --help'." >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir)
      [[ $# -ge 2 && -n "$2" ]] || die_usage "--build-dir needs a directory argument"
      build_dir=$2
      shift 2
      ;;
    --build-dir=*)
      build_dir=${1#--build-dir=}
      [[ -n "$build_dir" ]] || die_usage "--build-dir needs a directory argument"
      shift
      ;;
    --clean) clean=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option: $1" ;;
  esac
done

# Relative build dirs are taken relative to the caller's directory.
if [[ "$build_dir" != /* ]]; then
  build_dir="$PWD/$build_dir"
fi

for tool in cmake cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$(basename "$0"): '$tool' not found; run linux/install_deps.sh" >&2
    exit 1
  fi
done

if [[ $clean -eq 1 && -e "$build_dir" ]]; then
  if [[ "$(cd "$build_dir" && pwd)" == "$repo" ]]; then
    echo "$(basename "$0"): refusing to --clean the source tree ($build_dir)" >&2
    exit 1
  fi
  echo "== removing $build_dir"
  rm -rf -- "$build_dir"
fi

jobs=$(nproc 2>/dev/null || echo 2)
extra=()
if [[ -n "${CMAKE_ARGS:-}" ]]; then
  read -r -a extra <<<"$CMAKE_ARGS"
fi

echo "== configure: $build_dir (Release)"
cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "${extra[@]}"
echo "== build: -j$jobs"
cmake --build "$build_dir" -j"$jobs"

shopt -s nullglob
libs=("$build_dir"/lib/lib*.so)
if [[ ${#libs[@]} -eq 0 ]]; then
  echo "$(basename "$0"): build finished but no lib*.so in $build_dir/lib" >&2
  exit 1
fi
echo "== built libraries:"
for lib in "${libs[@]}"; do
  echo "$lib"
done
