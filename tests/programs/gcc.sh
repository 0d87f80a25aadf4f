#!/usr/bin/env bash
# gcc/g++ under LD_PRELOAD (cc1, as, collect2/ld all inherit it): compile a
# generated C file with a few thousand functions at -O2, require the object
# file and the linked executable to be byte-for-byte identical to the plain
# toolchain's, then run the program under preload and compare its output.
# A C++ STL/threads program gets the same treatment with g++.
# usage: tests/programs/gcc.sh <path-to-allocator.so> [functions]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hz_init "$@"
NFUNC=${2:-2000}

cat >gen.awk <<'EOF'
# A C program with n small functions mixing loops, switches, structs, stdio
# and heap allocation; main() calls them all and prints running digests.
BEGIN {
  print "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stdint.h>"
  print "struct pt { int64_t x, y; double w; char tag[8]; };"
  print "__attribute__((noinline)) static uint64_t mix(uint64_t h, uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); return h; }"
  for (i = 0; i < n; i++) {
    k = i % 4
    printf "__attribute__((noinline)) uint64_t f%d(uint64_t x) {\n", i
    if (k == 0) {
      printf "  uint64_t h = %dULL;\n  for (uint64_t i = 0; i < (x & %d); i++)\n    h = mix(h, x + i * %d);\n", i * 2654435761 % 1000003, 7 + i % 24, 3 + i % 17
      printf "  switch (x %% 5) {\n"
      for (c = 0; c < 4; c++) printf "  case %d: h = h * %d + %d; break;\n", c, 2 * c + 3, (i * 7 + c) % 101
      printf "  default: h ^= h >> %d;\n  }\n  return h;\n}\n", 1 + i % 31
    } else if (k == 1) {
      printf "  size_t n = 16 + (x %% %d);\n  uint64_t *a = malloc(n * sizeof *a);\n  if (!a) abort();\n", 64 + i % 200
      printf "  for (size_t j = 0; j < n; j++) a[j] = x ^ (j * %d);\n", 1 + i % 13
      printf "  a = realloc(a, 2 * n * sizeof *a);\n  if (!a) abort();\n  memset(a + n, %d, n * sizeof *a);\n", i % 256
      printf "  uint64_t s = a[x %% n] + a[2 * n - 1];\n  free(a);\n  return mix(s, n);\n}\n"
    } else if (k == 2) {
      printf "  struct pt p = { (int64_t)(x >> %d), %d, (double)x / %d.5, \"\" };\n", i % 13, i % 1000, 1 + i % 7
      printf "  snprintf(p.tag, sizeof p.tag, \"t%%d\", (int)(x %% 1000));\n"
      printf "  return mix((uint64_t)(p.x + p.y + (int64_t)p.w), (unsigned char)p.tag[1]);\n}\n"
    } else {
      printf "  char *s = malloc(%d);\n  if (!s) abort();\n  int len = snprintf(s, %d, \"%%llu-%d-%%s\", (unsigned long long)x, \"abcdefghij\" + (x %% 10));\n", 64 + i % 1000, 64 + i % 1000, i
      printf "  char *d = strdup(s);\n  uint64_t h = mix((uint64_t)len, (unsigned char)d[len / 2]);\n  free(s);\n  free(d);\n  return h;\n}\n"
    }
  }
  printf "typedef uint64_t (*fn)(uint64_t);\nstatic const fn table[] = {\n"
  for (i = 0; i < n; i++) printf "  f%d,\n", i
  print "};"
  print "int main(void) {\n  uint64_t h = 0;\n  for (int r = 0; r < 3; r++)\n    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {\n      h = mix(h, table[i](h + i));\n      if (i % 500 == 0) printf(\"%zu %016llx\\n\", i, (unsigned long long)h);\n    }\n  printf(\"final %016llx\\n\", (unsigned long long)h);\n  return 0;\n}"
}
EOF

cat >stl.cc <<'EOF'
// STL containers, strings, shared_ptr and 4 threads; prints digests.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

template <typename T> static uint64_t fold(uint64_t h, const T &v) {
  return (h ^ std::hash<T>{}(v)) * 1099511628211ULL;
}

static uint64_t work(unsigned seed) {
  uint64_t h = 1469598103934665603ULL, x = seed * 2654435761u + 1;
  auto rnd = [&x] { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };
  std::map<std::string, std::vector<int>> m;
  std::unordered_map<uint64_t, std::string> u;
  std::vector<std::shared_ptr<std::string>> keep;
  for (int i = 0; i < 60000; i++) {
    std::string k = "key" + std::to_string(rnd() % 5000);
    m[k].push_back(i);
    u[rnd() % 20000] = std::string(rnd() % 300, char('a' + i % 26));
    if (i % 3 == 0) keep.push_back(std::make_shared<std::string>(k + k));
    if (keep.size() > 500) keep.erase(keep.begin(), keep.begin() + 250);
  }
  for (auto &kv : m) {
    h = fold(h, kv.first);
    h = fold(h, kv.second.size());
  }
  std::vector<std::pair<uint64_t, std::string>> v(u.begin(), u.end());
  std::sort(v.begin(), v.end());
  for (auto &p : v) h = fold(h, p.second.size() + p.first);
  std::ostringstream os;
  for (int i = 0; i < 20000; i++) os << i << ',';
  return fold(h, os.str());
}

int main() {
  uint64_t r[4];
  std::vector<std::thread> t;
  for (unsigned i = 0; i < 4; i++) t.emplace_back([&r, i] { r[i] = work(i); });
  for (auto &th : t) th.join();
  for (unsigned i = 0; i < 4; i++) std::printf("thread %u %016llx\n", i, (unsigned long long)r[i]);
  std::printf("main %016llx\n", (unsigned long long)work(99));
  return 0;
}
EOF

if hz_have gcc && ! hz_have awk; then
  hz_skip gcc "awk (needed to generate the source) not installed"
elif hz_have gcc; then
  env -u LD_PRELOAD awk -v n="$NFUNC" -f gen.awk >big.c
  echo "big.c: $NFUNC functions, $(wc -l <big.c) lines"
  hz_compare_output gcc-O2-object -- gcc -O2 -g -c big.c -o @OUT@
  if [[ -f plain.out.gcc-O2-object ]]; then
    cp plain.out.gcc-O2-object big.o
    hz_compare_output gcc-link -- gcc big.o -o @OUT@
    if [[ -x plain.out.gcc-link ]]; then
      cp plain.out.gcc-link big
      hz_compare gcc-program-run -- ./big
    fi
  fi
else
  hz_skip gcc "gcc not installed (linux/install_deps.sh)"
fi

if hz_have g++; then
  hz_compare_output g++-O1-object -- g++ -O1 -g -c stl.cc -o @OUT@
  if [[ -f plain.out.g++-O1-object ]]; then
    cp plain.out.g++-O1-object stl.o
    hz_compare_output g++-link -- g++ -pthread stl.o -o @OUT@
    if [[ -x plain.out.g++-link ]]; then
      cp plain.out.g++-link stl
      hz_compare g++-program-run -- ./stl
    fi
  fi
else
  hz_skip g++ "g++ not installed (linux/install_deps.sh)"
fi
hz_finish
