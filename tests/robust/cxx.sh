#!/usr/bin/env bash
# C++ program under LD_PRELOAD (tests/robust/cxx_prog.cpp): containers,
# over-aligned, sized and nothrow new/delete, bad_alloc and new_handler,
# exceptions across threads, objects destroyed in another thread. stdout and
# the exit status must equal the plain run's.
# usage: tests/robust/cxx.sh <path-to-allocator.so> <path-to-cxx_prog>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../programs/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../programs/common.sh"
prog=${2:-}
[[ -n "$prog" ]] && prog=$(readlink -f -- "$prog")
hz_init "$1"
if [[ -z "$prog" || ! -x "$prog" ]]; then
  hz_abort "C++ test program '${2:-}' not built"
fi
hz_compare cxx-scale1 -- "$prog" 1
hz_compare cxx-scale4 -- "$prog" 4
hz_compare cxx-tcache-off -- env HZ_TCACHE=0 "$prog" 2
hz_compare cxx-purge0-nocache -- env HZ_PURGE_DELAY_MS=0 HZ_LARGE_CACHE_MB=0 "$prog" 2
hz_finish
