#!/usr/bin/env bash
# Run a command, and without a command a fixed set of programs, under
# LD_PRELOAD of a hakozuna line.
#
# usage: linux/run_linux_preload_smoke.sh [--build-dir DIR] <line|/path/lib.so> [cmd [args...]]
#   line      hz3, hz4, ... -> <build-dir>/lib/lib<line>.so
#   cmd       run just this command preloaded (its exit status is the result)
# Without cmd: /bin/true, python3, sort (compared to the plain sort), gcc
# (hello world, built and run preloaded) and perl. Environment such as
# HZ_STATS=1 is passed through to the programs unchanged.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
build_dir="$repo/build"
me=$(basename "$0")

usage() {
  cat <<EOF
usage: $me [--build-dir DIR] <line|/path/to/lib.so> [cmd [args...]]

Runs programs with LD_PRELOAD set to a hakozuna allocator line.
  line        a line name (hz3, hz4, ...): uses <build-dir>/lib/lib<line>.so
  /path.so    any allocator DSO (a path containing '/' or ending in .so)
  cmd args    run only this command preloaded (default: the smoke set below)

Smoke set (no cmd): /bin/true; python3 -c (dicts, json, threads); sort of a
generated file compared to the plain sort; gcc building hello world, run
preloaded; perl -e (hashes, regex, sort). Prints a line per program and a
summary; exits non-zero if anything failed.

  --build-dir DIR  build tree holding lib/lib<line>.so (default: $repo/build)
  -h, --help       show this help

Environment variables (HZ_STATS=1, ...) are passed through unchanged.
EOF
}

die_usage() {
  echo "$me: $1" >&2
  echo "Try '$me --help'." >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
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
    --) shift; break ;;
    -*) die_usage "unknown option: $1" ;;
    *) break ;;
  esac
done

if [[ $# -lt 1 ]]; then
  die_usage "missing the line name or DSO path (e.g. hz3)"
fi
target=$1
shift

if [[ "$target" == */* || "$target" == *.so || "$target" == *.so.* ]]; then
  lib=$target
  if [[ ! -f "$lib" ]]; then
    echo "$me: DSO '$lib' does not exist" >&2
    exit 1
  fi
else
  if [[ ! "$target" =~ ^[A-Za-z0-9_]+$ ]]; then
    die_usage "bad line name '$target' (expected e.g. hz3, or a path to a .so)"
  fi
  lib="$build_dir/lib/lib$target.so"
  if [[ ! -f "$lib" ]]; then
    echo "$me: $lib not found: line '$target' is not built." >&2
    echo "Build it first: $repo/linux/build_linux_release_lane.sh" >&2
    exit 1
  fi
fi
lib=$(readlink -f -- "$lib")

unset LD_PRELOAD || true
passed=0
failed=0
skipped=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hz-smoke.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

ok() { passed=$((passed + 1)); printf 'PASS %-14s %s\n' "$1" "${2:-}"; }
bad() { failed=$((failed + 1)); printf 'FAIL %-14s %s\n' "$1" "$2"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP: %-13s %s\n' "$1" "$2"; }

describe_rc() {
  local rc=$1
  if [[ $rc -gt 128 ]]; then
    echo "exit $rc (signal $((rc - 128)): $(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
  else
    echo "exit $rc"
  fi
}

# Is the DSO actually mapped into a preloaded process?
maps_err="$tmp/maps.err"
# cat itself must be the preloaded process whose maps we read.
# shellcheck disable=SC2002
if ! LD_PRELOAD="$lib" cat /proc/self/maps 2>"$maps_err" | grep -F -- "$lib" >/dev/null ||
   grep -F "cannot be preloaded" "$maps_err" >/dev/null; then
  echo "FAIL: $lib is not loaded by ld.so under LD_PRELOAD: $(head -n 1 "$maps_err")" >&2
  exit 1
fi
echo "preload: $lib"

# A single command: run it preloaded, in the caller's directory, with the
# caller's stdin/stdout/stderr.
if [[ $# -gt 0 ]]; then
  rc=0
  LD_PRELOAD="$lib" "$@" || rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "PASS $*" >&2
  else
    echo "FAIL $* ($(describe_rc "$rc"))" >&2
  fi
  exit "$rc"
fi

# run_pre NAME EXPECTED_STDOUT cmd...: run preloaded; exit 0 and, when
# EXPECTED_STDOUT is not empty, stdout equal to it.
run_pre() {
  local name=$1 want=$2 rc=0 t0 t1
  shift 2
  t0=$(date +%s%N)
  (cd "$tmp" && LD_PRELOAD="$lib" timeout -k 5 120 "$@") >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  t1=$(date +%s%N)
  local took="$(((t1 - t0) / 1000000)) ms"
  if grep -F "cannot be preloaded" "$tmp/$name.err" >/dev/null; then
    bad "$name" "ld.so refused the DSO: $(head -n 1 "$tmp/$name.err")"
  elif [[ $rc -ne 0 ]]; then
    bad "$name" "$(describe_rc "$rc"): $(head -c 300 "$tmp/$name.err")"
  elif [[ -n "$want" && "$(cat "$tmp/$name.out")" != "$want" ]]; then
    bad "$name" "unexpected output: $(head -c 200 "$tmp/$name.out")"
  else
    ok "$name" "$took"
  fi
  # Allocator diagnostics (e.g. HZ_STATS=1) are shown, not judged.
  if [[ -s "$tmp/$name.err" && $rc -eq 0 ]]; then
    sed 's/^/    | /' "$tmp/$name.err" | head -n 30
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }

run_pre true "" /bin/true

if have python3; then
  # shellcheck disable=SC2016
  py='import json, threading
d = {str(i): [i] * (i % 7) for i in range(50000)}
s = json.dumps(d); assert json.loads(s) == d
out = [0] * 4
def w(t):
    out[t] = sum(len(str(list(range(j % 300)))) for j in range(3000))
ts = [threading.Thread(target=w, args=(t,)) for t in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(len(s), sum(out))'
  want=$(python3 -c "$py")
  run_pre python3 "$want" python3 -c "$py"
else
  skip python3 "not installed (linux/install_deps.sh)"
fi

if have sort && have awk; then
  awk 'BEGIN { srand(11); for (i = 0; i < 200000; i++) printf "%d %x %s\n", int(rand() * 1e6), i, substr("qwertyuiopasdfgh", 1 + i % 9, 5) }' >"$tmp/in.txt"
  sort -k2 "$tmp/in.txt" >"$tmp/sort.plain"
  run_pre sort "" sort -k2 -o sort.pre in.txt
  if [[ -f "$tmp/sort.pre" ]]; then
    if cmp -s "$tmp/sort.plain" "$tmp/sort.pre"; then
      ok sort-compare "sha256 $(sha256sum <"$tmp/sort.pre" | cut -c1-16) = plain sort"
    else
      bad sort-compare "preloaded sort output differs from the plain sort"
    fi
  fi
else
  skip sort "sort/awk not installed"
fi

if have gcc; then
  printf '#include <stdio.h>\n#include <stdlib.h>\nint main(void) { char *p = malloc(64); snprintf(p, 64, "hello, %%s", "world"); puts(p); free(p); return 0; }\n' >"$tmp/hello.c"
  run_pre gcc "" gcc -O2 -o hello hello.c
  if [[ -x "$tmp/hello" ]]; then
    run_pre hello "hello, world" ./hello
  fi
else
  skip gcc "not installed (linux/install_deps.sh)"
fi

if have perl; then
  # shellcheck disable=SC2016
  pl='my %h; $h{$_ % 977} .= "x$_" for 1 .. 200000;
my @k = sort { length($h{$b}) <=> length($h{$a}) || $a <=> $b } keys %h;
my $n = () = join("", values %h) =~ /x\d*7\b/g;
print scalar(@k), " $k[0] $n\n";'
  want=$(perl -e "$pl")
  run_pre perl "$want" perl -e "$pl"
else
  skip perl "not installed (linux/install_deps.sh)"
fi

total=$((passed + failed))
summary="$passed passed, $failed failed"
if [[ $skipped -gt 0 ]]; then
  summary+=", $skipped skipped"
fi
echo "smoke: $(basename "$lib"): $passed of $total checks passed"
echo "$summary"
if [[ $failed -ne 0 || $passed -eq 0 ]]; then
  exit 1
fi
