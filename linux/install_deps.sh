#!/usr/bin/env bash
# Install the Debian packages hakozuna needs to build, test and benchmark.
#
# Idempotent: asks dpkg which packages are already installed and only runs
# apt-get (update + install) when something is missing. Safe to call from CI
# on every run.
#
# usage: linux/install_deps.sh [--check] [-h|--help]
#   --check   only report missing packages; exit 1 if any are missing
set -euo pipefail

usage() {
  cat <<'EOF'
usage: linux/install_deps.sh [--check] [-h|--help]

Installs (via apt-get, only when missing) the toolchain, the programs used by
tests/programs/*.sh, the benchmark baseline allocators and redis:
  build:      cmake gcc g++ make binutils
  tests:      python3 perl gawk coreutils tar gzip xz-utils bzip2 grep findutils
              valgrind gdb
  baselines:  libmimalloc2.0 libgoogle-perftools4 libjemalloc2
  services:   redis-server redis-tools

  --check     do not install; list missing packages and exit 1 if any
  -h, --help  show this help
EOF
}

check_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --check) check_only=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install_deps.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  cmake gcc g++ make binutils
  python3 perl gawk coreutils tar gzip xz-utils bzip2 grep findutils valgrind gdb
  libmimalloc2.0 libgoogle-perftools4 libjemalloc2
  redis-server redis-tools
  clang libclang-rt-14-dev
)

is_installed() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [[ "$status" == installed ]]
}

missing=()
for p in "${packages[@]}"; do
  if ! is_installed "$p"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install_deps: missing: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
  exit 1
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install_deps: not root and sudo is not available" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  if ! is_installed "$p"; then
    still+=("$p")
  fi
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "install_deps: still missing after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "install_deps: installed ${missing[*]}"
