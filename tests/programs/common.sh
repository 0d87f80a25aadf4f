# shellcheck shell=bash
# Shared helpers for tests/programs/*.sh: run a real program with and without
# the allocator DSO in LD_PRELOAD and require identical results.
#
# A test script does:
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#   hz_init "$@"              # $1 = DSO path; verifies it really gets loaded
#   hz_compare NAME -- cmd... # stdout + exit status must match the plain run
#   hz_finish                 # closing "N passed, N failed" line + exit code
#
# Checks print one line each: "PASS name", "FAIL name: why", "SKIP: name: why".
# Skips count as neither pass nor fail, but a run where everything was skipped
# fails. HZ_PROG_TIMEOUT (seconds, default 120) bounds every single run.

set -euo pipefail
export LC_ALL=C
unset LD_PRELOAD || true

HZ_PASSED=0
HZ_FAILED=0
HZ_SKIPPED=0
HZ_PREFLIGHT=0 # checks done by hz_init (DSO mapped, malloc bound)
HZ_LIB=
HZ_LIB_REAL=
HZ_TMP=
HZ_SCRIPT_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
HZ_PROG_TIMEOUT=${HZ_PROG_TIMEOUT:-120}
HZ_T0=$(date +%s%N)

hz_pass() { HZ_PASSED=$((HZ_PASSED + 1)); echo "PASS $1${2:+ ($2)}"; }
hz_fail() { HZ_FAILED=$((HZ_FAILED + 1)); echo "FAIL $1: $2"; }
hz_skip() { HZ_SKIPPED=$((HZ_SKIPPED + 1)); echo "SKIP: $1: $2"; }

hz_elapsed() { # seconds since $1 (a `date +%s%N` stamp), one decimal
  local ds=$((($(date +%s%N) - $1) / 100000000))
  echo "$((ds / 10)).$((ds % 10))s"
}

hz_cleanup() {
  if [[ -n "$HZ_TMP" && -d "$HZ_TMP" ]]; then
    rm -rf -- "$HZ_TMP"
  fi
}

# Finish early with a failure (bad DSO path, DSO not loaded, ...).
hz_abort() {
  echo "FAIL $HZ_SCRIPT_NAME: $1"
  HZ_FAILED=$((HZ_FAILED + 1))
  hz_finish
}

hz_finish() {
  local tail=""
  if [[ $HZ_FAILED -eq 0 && $HZ_PASSED -le $HZ_PREFLIGHT ]]; then
    hz_fail "$HZ_SCRIPT_NAME" "no program check ran (everything skipped)"
  fi
  if [[ $HZ_SKIPPED -gt 0 ]]; then
    tail=", $HZ_SKIPPED skipped"
  fi
  echo "$HZ_SCRIPT_NAME: $(hz_elapsed "$HZ_T0") total"
  echo "$HZ_PASSED passed, $HZ_FAILED failed$tail"
  if [[ $HZ_FAILED -ne 0 ]]; then
    exit 1
  fi
  exit 0
}

# Does the preloaded run's stderr show that ld.so refused the DSO?
hz_preload_refused() { grep -q "from LD_PRELOAD cannot be preloaded" "$1"; }

hz_init() {
  if [[ $# -lt 1 || -z "$1" ]]; then
    echo "usage: $0 <path-to-allocator.so>" >&2
    hz_abort "no DSO path given"
  fi
  HZ_LIB=$1
  if [[ ! -f "$HZ_LIB" ]]; then
    hz_abort "DSO '$HZ_LIB' does not exist (build it with linux/build_linux_release_lane.sh)"
  fi
  HZ_LIB_REAL=$(readlink -f -- "$HZ_LIB")
  # ld.so wants an absolute path or it searches the library path instead.
  HZ_LIB=$HZ_LIB_REAL
  HZ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hz-$HZ_SCRIPT_NAME.XXXXXX")
  trap hz_cleanup EXIT
  trap 'exit 130' INT TERM

  # The DSO must really be mapped into a preloaded process...
  local maps="$HZ_TMP/.maps" err="$HZ_TMP/.maps.err"
  if ! LD_PRELOAD="$HZ_LIB" cat /proc/self/maps >"$maps" 2>"$err"; then
    hz_abort "cat /proc/self/maps under LD_PRELOAD=$HZ_LIB failed: $(head -c 500 "$err")"
  fi
  if hz_preload_refused "$err" || ! grep -qF -- "$HZ_LIB_REAL" "$maps"; then
    hz_abort "DSO not loaded: $HZ_LIB_REAL is not in /proc/<pid>/maps of a preloaded process ($(head -c 500 "$err"))"
  fi
  hz_pass "dso-mapped" "$HZ_LIB_REAL in /proc/self/maps"

  # ...and malloc/free must bind to it rather than to libc.
  local bind="$HZ_TMP/.bind" sym ok=1
  LD_PRELOAD="$HZ_LIB" LD_DEBUG=bindings cat /dev/null 2>"$bind" || true
  for sym in malloc free; do
    grep -F -- " to $HZ_LIB_REAL [" "$bind" >"$bind.to" || true
    if ! grep -F -- "symbol \`$sym'" "$bind.to" >/dev/null; then
      ok=0
      hz_fail "dso-binds-$sym" "no binding of \`$sym' to $HZ_LIB_REAL (LD_DEBUG=bindings)"
    fi
  done
  if [[ $ok -eq 1 ]]; then
    hz_pass "dso-binds-malloc-free"
  fi
  rm -f -- "$maps" "$err" "$bind" "$bind.to"
  HZ_PREFLIGHT=$((HZ_PASSED + HZ_FAILED))
  cd "$HZ_TMP"
}

hz_have() { command -v "$1" >/dev/null 2>&1; }

# hz_run_plain OUT ERR cmd...   run without the DSO; returns the exit status
hz_run_plain() {
  local out=$1 err=$2
  shift 2
  local rc=0
  env -u LD_PRELOAD timeout -k 5 "$HZ_PROG_TIMEOUT" "$@" >"$out" 2>"$err" || rc=$?
  return $rc
}

# hz_run_pre OUT ERR cmd...     run with LD_PRELOAD=DSO; returns the exit status
hz_run_pre() {
  local out=$1 err=$2
  shift 2
  local rc=0
  env -u LD_PRELOAD timeout -k 5 "$HZ_PROG_TIMEOUT" \
    env LD_PRELOAD="$HZ_LIB" "$@" >"$out" 2>"$err" || rc=$?
  return $rc
}

hz_describe_rc() {
  local rc=$1
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "exit $rc (timeout after ${HZ_PROG_TIMEOUT}s?)"
  elif [[ $rc -gt 128 ]]; then
    echo "exit $rc (signal $((rc - 128)): $(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
  else
    echo "exit $rc"
  fi
}

# After a preloaded run died of a crash signal: rerun it under gdb (when
# installed and HZ_PROGRAMS_GDB is not 0) and print the backtraces. Best
# effort: gdb follows the first process only.
hz_maybe_backtrace() { # rc cmd...
  local rc=$1
  shift
  case "$rc" in
    132|134|135|136|139) ;;  # SIGILL SIGABRT SIGBUS SIGFPE SIGSEGV
    *) return 0 ;;
  esac
  if [[ "${HZ_PROGRAMS_GDB:-1}" == 0 ]] || ! hz_have gdb; then
    return 0
  fi
  echo "    --- gdb backtrace of a rerun (HZ_PROGRAMS_GDB=0 disables):"
  env -u LD_PRELOAD timeout -k 5 "$HZ_PROG_TIMEOUT" gdb -q -nx -batch \
    -ex 'set pagination off' -ex 'set confirm off' \
    -ex "set exec-wrapper env LD_PRELOAD=$HZ_LIB" \
    -ex run -ex 'info registers rip' -ex 'thread apply all bt 25' \
    --args "$@" </dev/null 2>&1 | grep -v -e '^\[New Thread' -e '^\[Thread debugging' \
    -e '^Using host libthread_db' -e '^\[Detaching after' -e '^\[Inferior .* exited' |
    head -n 80 | sed 's/^/    /' || true
}

# Print the start of a diff between two files, indented.
hz_show_diff() {
  diff -u --label plain --label preload "$1" "$2" 2>&1 | head -n 40 | sed 's/^/    /' || true
}

hz_show_file() { # label file
  if [[ -s "$2" ]]; then
    echo "    --- $1 (first lines):"
    head -n 20 "$2" | sed 's/^/    /'
  fi
}

# hz_compare NAME [--stderr] -- cmd...
# Runs cmd without and with the DSO (from $HZ_TMP); the exit status and stdout
# must be identical (and stderr too with --stderr). If they differ, the plain
# run is repeated once: when the plain run itself is not reproducible (e.g. a
# package got installed under /usr meanwhile) the preloaded output may match
# either plain run.
hz_compare() {
  local name=$1 cmp_err=0
  shift
  while [[ $# -gt 0 && "$1" != "--" ]]; do
    case "$1" in
      --stderr) cmp_err=1 ;;
      *) echo "hz_compare: bad option $1" >&2; exit 2 ;;
    esac
    shift
  done
  shift # --
  local d="$HZ_TMP/.cmp.$name"
  mkdir -p -- "$d"
  local rc_a=0 rc_b=0 rc_c=0 t0
  t0=$(date +%s%N)
  hz_run_plain "$d/a.out" "$d/a.err" "$@" || rc_a=$?
  hz_run_pre "$d/b.out" "$d/b.err" "$@" || rc_b=$?
  local why=""
  if hz_preload_refused "$d/b.err"; then
    why="ld.so refused the DSO: $(head -n 1 "$d/b.err")"
  elif [[ $rc_a -ne $rc_b ]]; then
    why="plain $(hz_describe_rc "$rc_a"), preloaded $(hz_describe_rc "$rc_b")"
  elif ! cmp -s "$d/a.out" "$d/b.out"; then
    why="stdout differs"
  elif [[ $cmp_err -eq 1 ]] && ! cmp -s "$d/a.err" "$d/b.err"; then
    why="stderr differs"
  fi
  if [[ -n "$why" && "$why" != ld.so* ]]; then
    # Is the plain run reproducible at all?
    hz_run_plain "$d/c.out" "$d/c.err" "$@" || rc_c=$?
    if [[ $rc_c -eq $rc_b ]] && cmp -s "$d/c.out" "$d/b.out" &&
       { [[ $cmp_err -eq 0 ]] || cmp -s "$d/c.err" "$d/b.err"; }; then
      if ! cmp -s "$d/a.out" "$d/c.out" || [[ $rc_a -ne $rc_c ]]; then
        why="" # the environment changed between runs; preloaded == 2nd plain
      fi
    fi
  fi
  if [[ -z "$why" ]]; then
    if [[ $rc_a -ne 0 ]]; then
      # Both agree, but the plain program failing means the test is broken.
      hz_fail "$name" "plain run itself failed: $(hz_describe_rc "$rc_a")"
      hz_show_file "plain stderr" "$d/a.err"
    else
      hz_pass "$name" "$(hz_elapsed "$t0"), $(wc -c <"$d/a.out") bytes"
    fi
  else
    hz_fail "$name" "$why"
    echo "    command: $*"
    if [[ "$why" == "stdout differs" ]]; then
      hz_show_diff "$d/a.out" "$d/b.out"
    elif [[ "$why" == "stderr differs" ]]; then
      hz_show_diff "$d/a.err" "$d/b.err"
    fi
    hz_show_file "preloaded stderr" "$d/b.err"
    hz_maybe_backtrace "$rc_b" "$@"
  fi
  rm -rf -- "$d"
}

# hz_check_pre NAME -- cmd...   the preloaded command alone must exit 0
hz_check_pre() {
  local name=$1
  shift
  [[ "${1:-}" == "--" ]] && shift
  local d="$HZ_TMP/.pre.$name" rc=0 t0
  t0=$(date +%s%N)
  mkdir -p -- "$d"
  hz_run_pre "$d/out" "$d/err" "$@" || rc=$?
  if hz_preload_refused "$d/err"; then
    hz_fail "$name" "ld.so refused the DSO: $(head -n 1 "$d/err")"
  elif [[ $rc -ne 0 ]]; then
    hz_fail "$name" "preloaded $(hz_describe_rc "$rc")"
    echo "    command: $*"
    hz_show_file "preloaded stdout" "$d/out"
    hz_show_file "preloaded stderr" "$d/err"
    hz_maybe_backtrace "$rc" "$@"
  else
    hz_pass "$name" "$(hz_elapsed "$t0")"
  fi
  rm -rf -- "$d"
}

# hz_compare_output NAME -- cmd...
# For commands that write a file: every argument "@OUT@" is replaced by
# plain.out.NAME for the plain run and preload.out.NAME for the preloaded run
# (both in $HZ_TMP); both runs must succeed and the two files must be
# byte-for-byte identical. The files are left in place for later steps.
hz_compare_output() {
  local name=$1
  shift
  [[ "${1:-}" == "--" ]] && shift
  local pa="$HZ_TMP/plain.out.$name" pb="$HZ_TMP/preload.out.$name"
  local d="$HZ_TMP/.cmpo.$name" a=() b=() x rc_a=0 rc_b=0 t0
  for x in "$@"; do
    a+=("${x//@OUT@/$pa}")
    b+=("${x//@OUT@/$pb}")
  done
  mkdir -p -- "$d"
  t0=$(date +%s%N)
  hz_run_plain "$d/a.out" "$d/a.err" "${a[@]}" || rc_a=$?
  hz_run_pre "$d/b.out" "$d/b.err" "${b[@]}" || rc_b=$?
  if hz_preload_refused "$d/b.err"; then
    hz_fail "$name" "ld.so refused the DSO: $(head -n 1 "$d/b.err")"
  elif [[ $rc_a -ne 0 ]]; then
    hz_fail "$name" "plain run itself failed: $(hz_describe_rc "$rc_a")"
    hz_show_file "plain stderr" "$d/a.err"
  elif [[ $rc_b -ne 0 ]]; then
    hz_fail "$name" "preloaded $(hz_describe_rc "$rc_b") (plain exit 0)"
    echo "    command: ${b[*]}"
    hz_show_file "preloaded stdout" "$d/b.out"
    hz_show_file "preloaded stderr" "$d/b.err"
    hz_maybe_backtrace "$rc_b" "${b[@]}"
  elif [[ ! -f "$pa" || ! -f "$pb" ]]; then
    hz_fail "$name" "output file missing ($(basename "$pa") or $(basename "$pb"))"
  elif ! cmp -s -- "$pa" "$pb"; then
    hz_fail "$name" "output files differ: $(cmp -- "$pa" "$pb" 2>&1 | head -n 1)"
    echo "    command: ${b[*]}"
    hz_show_file "preloaded stderr" "$d/b.err"
  else
    hz_pass "$name" "$(hz_elapsed "$t0"), $(wc -c <"$pa") bytes identical"
  fi
  rm -rf -- "$d"
}

# hz_same_file NAME FILE_PLAIN FILE_PRELOAD   byte-for-byte comparison
hz_same_file() {
  if cmp -s -- "$2" "$3"; then
    hz_pass "$1" "$(wc -c <"$2") bytes identical"
  else
    hz_fail "$1" "$(basename "$2") and $(basename "$3") differ"
    hz_show_diff "$2" "$3"
  fi
}
