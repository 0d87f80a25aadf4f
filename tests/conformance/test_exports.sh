#!/bin/bash
# Export surface of a line's DSO (prior-art.md §3.1):
#   - every malloc-family, glibc-alias and C++ operator symbol is exported as a
#     defined function;
#   - no other function is exported, except the public hz_* API;
#   - the DSO does not depend on libstdc++.
# Usage: test_exports.sh <path-to-libline.so>
# Prints a closing "N passed, N failed" line; exits non-zero on any failure.
set -u

dso=${1:-}
passed=0
failed=0
check() { # check <condition-exit-status> <message>
  if [ "$1" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL test_exports.sh: $2" >&2
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
  exit $?
}

[ -n "$dso" ] && [ -r "$dso" ]
check $? "DSO '$dso' not readable"
[ "$failed" -eq 0 ] || finish
for tool in nm readelf; do
  command -v $tool >/dev/null
  check $? "$tool not found"
done
[ "$failed" -eq 0 ] || finish

required=(
  malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign
  valloc pvalloc malloc_usable_size cfree free_sized free_aligned_sized
  malloc_trim mallinfo mallinfo2 mallopt malloc_stats malloc_info
  __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign
  __libc_valloc __libc_pvalloc __posix_memalign
  # the 20 replaceable C++ operators (Itanium ABI, 64-bit size_t = m)
  _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t
  _ZnwmSt11align_val_t _ZnamSt11align_val_t
  _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t
  _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t
  _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
  _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t
  _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t
)

syms=$(nm -D --defined-only "$dso" 2>&1)
check $? "nm -D --defined-only $dso failed: $syms"
# "addr type name[@version]" -> "type name" (version suffix dropped).
table=$(printf '%s\n' "$syms" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $2, $3 }')
# Functions: T/t text, W/w weak, i ifunc.
funcs=$(printf '%s\n' "$table" | awk '$1 ~ /^[TtWwi]$/ { print $2 }' | sort -u)

missing=()
for s in "${required[@]}"; do
  if ! grep -qxF -- "$s" <<<"$funcs"; then
    how=$(printf '%s\n' "$table" | awk -v s="$s" '$2 == s { print $1 }')
    missing+=("$s${how:+ (type $how, not a function)}")
  fi
done
[ ${#missing[@]} -eq 0 ]
check $? "${#missing[@]} required symbol(s) not exported as functions: ${missing[*]:-}"

extra=()
while read -r s; do
  [ -z "$s" ] && continue
  case "$s" in hz_*) continue ;; esac
  if ! printf '%s\n' "${required[@]}" | grep -qxF -- "$s"; then extra+=("$s"); fi
done <<<"$funcs"
[ ${#extra[@]} -eq 0 ]
check $? "${#extra[@]} unexpected exported function(s): ${extra[*]:-}"

# Data and other symbols are not part of the contract: report them.
others=$(printf '%s\n' "$table" | awk '$1 !~ /^[TtWwiA]$/ { print $1 ":" $2 }' | tr '\n' ' ')
[ -n "$others" ] && echo "note: other dynamic symbols exported: $others"

needed=$(readelf -d "$dso" 2>&1)
check $? "readelf -d $dso failed: $needed"
libs=$(printf '%s\n' "$needed" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $NF); print $NF }' | tr '\n' ' ')
echo "DT_NEEDED: $libs"
! grep -q 'libstdc++' <<<"$libs"
check $? "DSO depends on libstdc++ (DT_NEEDED: $libs)"

echo "exported functions: $(wc -w <<<"$funcs") (required ${#required[@]})"
finish
