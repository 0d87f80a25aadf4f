#!/usr/bin/env bash
# Installation as a user does it: `cmake --install` into a scratch prefix, a
# program built against it with pkg-config and one with find_package, hzrun
# from the prefix, then the .deb from `cpack -G DEB` unpacked with dpkg -x and
# hzrun run from there.  usage: test_install.sh <build-dir>
set -uo pipefail
build=${1:?usage: test_install.sh <build-dir>}
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
check() { local what=$1; shift; if "$@" >/tmp/hz_install_check.$$ 2>&1; then ok "$what"; else bad "$what"; sed 's/^/    /' /tmp/hz_install_check.$$ | tail -20; fi; }
work=$(mktemp -d)
trap 'rm -rf "$work" /tmp/hz_install_check.$$' EXIT
prefix=$work/prefix

check "cmake --install" cmake --install "$build" --prefix "$prefix"
lib=$(find "$prefix" -name 'libhz3.so' | head -1)
[[ -n "$lib" ]] && ok "libhz3.so installed ($lib)" || bad "libhz3.so not installed"
libdir=$(dirname "${lib:-/nonexistent}")
[[ -L "$libdir/libhz3.so" && -e "$libdir/libhz3.so.0" ]] && ok "soname symlinks" || bad "soname symlinks"
check "soname is libhz3.so.0" bash -c "readelf -d '$libdir/libhz3.so.0' | grep -q 'SONAME.*libhz3.so.0'"
for f in include/hakozuna.h bin/hzrun share/man/man1/hzrun.1 share/doc/hakozuna/README.md; do
  [[ -e "$prefix/$f" ]] && ok "installed $f" || bad "missing $f"
done

cat > "$work/app.c" <<'C'
#include <hakozuna.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  char *p = malloc(100);
  if (!p) return 1;
  strcpy(p, "hello");
  int found = 0;
  long long delay = (long long)hz_option_get("HZ_PURGE_DELAY_MS", &found);
  printf("%s %s %s found=%d delay=%lld\n", hz_line_name(), hz_version(), p, found, delay);
  free(p);
  return 0;
}
C
export PKG_CONFIG_PATH=$libdir/pkgconfig
check "pkg-config finds hakozuna" pkg-config --exists hakozuna
check "pkg-config build" bash -c "cc '$work/app.c' -o '$work/app_pc' \$(pkg-config --cflags --libs hakozuna)"
out=$(LD_LIBRARY_PATH=$libdir "$work/app_pc" 2>&1)
[[ "$out" == "hz3 "*" hello found=1 delay=100" ]] && ok "pkg-config program runs on hz3: $out" || bad "pkg-config program output: $out"
check "program is linked to libhz3.so.0" bash -c "readelf -d '$work/app_pc' | grep -q 'NEEDED.*libhz3.so.0'"

mkdir -p "$work/cm"
cp "$work/app.c" "$work/cm/app.c"
cat > "$work/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(hakozuna REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE hakozuna::hz3)
CM
check "find_package configure" cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$prefix"
check "find_package build" cmake --build "$work/cm/build"
out=$(LD_LIBRARY_PATH=$libdir "$work/cm/build/app" 2>&1)
[[ "$out" == "hz3 "* ]] && ok "find_package program runs on hz3: $out" || bad "find_package program output: $out"

hzrun=$prefix/bin/hzrun
check "hzrun preloads libhz3" bash -c "'$hzrun' -- cat /proc/self/maps | grep -q libhz3.so"
out=$("$hzrun" -- python3 -c 'print(sum(range(1000)))' 2>&1)
[[ "$out" == "499500" ]] && ok "hzrun -- python3" || bad "hzrun -- python3: $out"
check "hzrun --stats prints statistics" bash -c "'$hzrun' --stats -- /bin/true 2>&1 | grep -q 'statistics'"
check "hzrun --stats=json prints one JSON object" bash -c "'$hzrun' --stats=json -- /bin/true 2>&1 >/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"hakozuna\"][\"line\"]==\"hz3\" and d[\"hakozuna\"][\"counters\"][\"os_mapped\"]>0'"
check "hzrun keeps an existing LD_PRELOAD" bash -c "LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 '$hzrun' -- sh -c 'echo \$LD_PRELOAD' | grep -q 'libm.so.6:.*libhz3'"
check "hzrun --list" bash -c "'$hzrun' --list | grep -q '^hz3'"
for args in "--line nosuch -- true" "--bogus -- true" "--" "--set FOO -- true"; do
  # shellcheck disable=SC2086
  "$hzrun" $args >/dev/null 2>"$work/err"; rc=$?
  [[ $rc -eq 2 && -s "$work/err" ]] && ok "hzrun $args -> exit 2 with a message" || bad "hzrun $args -> rc=$rc"
done

if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null; then
  (cd "$build" && cpack -G DEB -B "$work/deb") >"$work/cpack.log" 2>&1 && ok "cpack -G DEB" || { bad "cpack -G DEB"; tail -20 "$work/cpack.log"; }
  deb=$(ls "$work"/deb/hakozuna_*.deb 2>/dev/null | head -1)
  if [[ -n "$deb" ]]; then
    ok "built $(basename "$deb")"
    check "deb metadata" bash -c "dpkg-deb -I '$deb' | grep -q 'Package: hakozuna'"
    check "dpkg -x" dpkg -x "$deb" "$work/root"
    out=$("$work/root/usr/bin/hzrun" -- python3 -c 'import json; print(json.dumps({"a": [1, 2]}))' 2>&1)
    [[ "$out" == '{"a": [1, 2]}' ]] && ok "hzrun from the unpacked .deb" || bad "hzrun from the .deb: $out"
    check "the .deb's hzrun preloads its own library" bash -c "'$work/root/usr/bin/hzrun' -- cat /proc/self/maps | grep -q '$work/root/usr/lib.*libhz3.so'"
  else
    bad "no .deb produced"
  fi
else
  echo "SKIP: cpack or dpkg-deb missing"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 && $pass -gt 0 ]]
