#!/usr/bin/env bash
# coreutils and friends under LD_PRELOAD: ls -lR, tar/gzip/xz/bzip2 round
# trips, grep -r, find, awk aggregation, sed, a shell pipeline, diff, sha256sum.
# Every output must equal the plain run's.
# usage: tests/programs/coreutils.sh <path-to-allocator.so>
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hz_init "$@"

# --- ls / find / grep over system directories --------------------------------
if [[ -d /usr/include ]]; then
  hz_compare ls-lR-usr-include -- ls -lR /usr/include
  hz_compare grep-r-usr-include -- grep -rn -E '^#[[:space:]]*define[[:space:]]+_?[A-Z0-9_]+_H(_|$)' /usr/include
  hz_compare grep-r-count-fixed -- grep -rc -F 'struct' /usr/include/linux
else
  hz_skip ls-lR "/usr/include does not exist"
fi
hz_compare find-usr-share-txt -- find /usr/share -name '*.txt'
hz_compare find-count-pipeline -- sh -c "find /usr/share -name '*.txt' | wc -l"

# --- tar / compressors round trip ---------------------------------------------
mkdir src
for d in /usr/include/linux /usr/include/x86_64-linux-gnu /usr/share/perl5; do
  if [[ -d "$d" ]]; then
    cp -a "$d" "src/$(echo "${d#/}" | tr / _)"
  fi
done
# Generated files of assorted sizes next to the copied ones.
if hz_have awk; then
  env -u LD_PRELOAD awk 'BEGIN { srand(7); for (f = 0; f < 40; f++) {
      n = int(2 ^ (f % 20)); file = sprintf("src/gen/f%02d.dat", f);
      system("mkdir -p src/gen");
      for (i = 0; i < n; i += 64) printf "%s-%d-%.8f\n", file, i, rand() > file
      close(file) } }'
fi
echo "tar source: $(du -sk src | cut -f1) KiB, $(find src | wc -l) entries"

if hz_have tar; then
  hz_compare_output tar-create -- tar --sort=name -cf @OUT@ -C src .
  if [[ -f plain.out.tar-create ]]; then
    mv plain.out.tar-create src.tar
    rm -f preload.out.tar-create
    hz_compare tar-list -- tar -tvf src.tar
    mkdir extracted
    hz_check_pre tar-extract -- tar -xf src.tar -C extracted
    if diff -r src extracted >diff.out 2>&1; then
      hz_pass tar-extract-matches-source
    else
      hz_fail tar-extract-matches-source "diff -r src extracted: $(head -n 5 diff.out)"
    fi
    for z in gzip xz bzip2; do
      if ! hz_have "$z"; then
        hz_skip "$z" "$z not installed"
        continue
      fi
      case "$z" in
        gzip) zopt=(-6 -n) ;;
        xz) zopt=(-1 -T2) ;;
        bzip2) zopt=(-9) ;;
      esac
      hz_compare "$z-compress" -- "$z" "${zopt[@]}" -c src.tar
      env -u LD_PRELOAD "$z" "${zopt[@]}" -c src.tar >"src.tar.$z"
      hz_compare "$z-decompress" -- "$z" -dc "src.tar.$z"
      if [[ "$z" == gzip ]]; then
        hz_compare "$z-pipe-roundtrip" -- sh -c "$z ${zopt[*]} -c src.tar | $z -dc | sha256sum"
      fi
      rm -f "src.tar.$z"
    done
  fi
else
  hz_skip tar "tar not installed"
fi

# --- awk / sed / pipelines over generated data ---------------------------------
if ! hz_have awk; then
  hz_skip awk-sed-pipelines "awk (needed to generate the data) not installed"
else
  env -u LD_PRELOAD awk 'BEGIN { srand(99); for (i = 0; i < 400000; i++)
      printf "%s%d %d %.4f %s\n", substr("abcdefghijklmnopqrstuvwxyz", 1 + int(rand() * 26), 1 + int(rand() * 3)),
        int(rand() * 500), int(rand() * 100000) - 50000, rand() * 1000, (i % 7 ? "ok" : "err") }' >data.txt
  for awkbin in gawk mawk; do
    if ! hz_have "$awkbin"; then
      hz_skip "$awkbin" "$awkbin not installed"
      continue
    fi
    # shellcheck disable=SC2016 # awk program, not shell
    hz_compare "$awkbin-aggregate" -- "$awkbin" '
      { cnt[$1]++; sum[$1] += $2; if (!($1 in mx) || $3 > mx[$1]) mx[$1] = $3
        st[$1] = st[$1] " " NR % 10; if ($5 == "err") del[$1] = 1 }
      END { for (k in del) delete st[k]
            for (k in cnt) printf "%s %d %d %d %s\n", k, cnt[k], sum[k], mx[k], (k in st) ? st[k] : "-" }' data.txt
    # shellcheck disable=SC2016 # awk program, not shell
    hz_compare "$awkbin-split-join" -- "$awkbin" '
      { n = split($0, a, / /); s = ""; for (i = n; i > 0; i--) s = s a[i] ","; out[NR % 1000] = out[NR % 1000] substr(s, 1, 12) }
      END { for (i = 0; i < 1000; i++) print i, length(out[i]), substr(out[i], 1, 40) }' data.txt
  done
  hz_compare sed-regex -- sed -E 's/([a-z]+)([0-9]+)/<\2:\1>/; s/\.([0-9]{2})/,\1/g; /err$/d' data.txt
  hz_compare pipeline-uniq -- sh -c 'cut -d" " -f1 data.txt | tr a-z A-Z | sort | uniq -c | sort -k1,1nr -k2 | head -n 200'
  hz_compare sha256sum-md5sum -- sh -c 'sha256sum data.txt; md5sum data.txt; wc data.txt'
  head -n 200000 data.txt >a.txt
  sed -n '1~3!p' data.txt | sed 's/ok$/OK/' >b.txt
  hz_compare diff-files -- sh -c 'diff a.txt b.txt; test $? -le 1'
fi
hz_finish
