#!/usr/bin/env bash
# GNU sort under LD_PRELOAD on a generated ~36 MB / 1.2 million line file:
# in-memory, external (-S 20M, 2 threads, temp files), numeric key, stable
# key, unique, and compressed temp files (gzip children preloaded too).
# Outputs are compared to the plain runs by sha256.
# usage: tests/programs/sort.sh <path-to-allocator.so> [lines]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hz_init "$@"
LINES_N=${2:-1200000}

if ! hz_have sort || ! hz_have awk; then
  hz_skip sort "sort or awk not installed (linux/install_deps.sh)"
  hz_finish
fi

# Deterministic data: "<word> <signed int> <short tail>", seeded awk rand().
cat >gen.awk <<'EOF'
BEGIN {
  srand(seed)
  cs = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
  pool = ""
  for (i = 0; i < 8192; i++) pool = pool substr(cs, 1 + int(rand() * 62), 1)
  tail = "lorem ipsum dolor sit amet"
  for (i = 0; i < lines; i++) {
    printf "%s %d %s\n", substr(pool, 1 + int(rand() * 8000), 4 + int(rand() * 26)),
      int(rand() * 2000000) - 1000000, substr(tail, 1 + int(rand() * 20), int(rand() * 8))
  }
}
EOF
env -u LD_PRELOAD awk -v seed=4242 -v lines="$LINES_N" -f gen.awk >data.txt
echo "data: $LINES_N lines, $(wc -c <data.txt) bytes, sha256 $(sha256sum <data.txt | cut -c1-16)"
head -n 500000 data.txt >small.txt
mkdir -p sorttmp
hz_compare awk-generate -- awk -v seed=4242 -v lines="$LINES_N" -f gen.awk

hz_compare sort-default -- sort data.txt
hz_compare sort-S20M-parallel2 -- sort -S 20M --parallel=2 -T sorttmp data.txt
hz_compare sort-numeric-k2 -- sort -n -k2 data.txt
hz_compare sort-stable-k3-reverse -- sort -s -r -k3,3 data.txt
hz_compare sort-unique-fold -- sort -u -f -k1,1 data.txt
hz_compare sort-compress-gzip -- sort -S 8M --parallel=2 -T sorttmp --compress-program=gzip small.txt
if locale -a 2>/dev/null | grep -ix 'c.utf-\?8' >/dev/null; then
  hz_compare sort-small-C.UTF-8 -- env LC_ALL=C.UTF-8 sort -k3,3 -k1,1 small.txt
fi
hz_compare sort-check-sorted -- sh -c 'sort -S 20M data.txt | sort -c && echo sorted'
hz_finish
