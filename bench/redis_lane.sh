#!/usr/bin/env bash
# Redis lane of the benchmark comparison: redis-server under LD_PRELOAD of one
# allocator, driven by redis-benchmark over 127.0.0.1.
#
# usage: bench/redis_lane.sh [options] <allocator>
#   allocator   path to an allocator DSO (preloaded into redis-server only),
#               'glibc' (glibc malloc: libc.so.6 is preloaded so that it wins
#               over the jemalloc Debian links redis-server with), or 'native'
#               (no preload: the jemalloc redis-server is linked with)
#   -n N        requests per command (default 200000)
#   -P N        pipeline depth (default 16)
#   -c N        parallel clients (default 50)
#   -r N        random key space for SET/GET (default 100000)
#   -d N        value size in bytes (default 128)
#   -t SECONDS  bound on the whole redis-benchmark run (default 240)
#
# Prints redis-benchmark's CSV, then one line in the benchmark contract:
#   RESULT bench=redis ops=<requests> seconds=<s> ops_per_s=<mean req/s of the
#   commands> peak_rss_kb=<server VmHWM> post_rss_kb=<server VmRSS>
#   set_rps=.. get_rps=.. lpush_rps=.. lpop_rps=.. clients=.. pipeline=..
# RSS is read from /proc/<server pid>/status after the load, before shutdown.
# The server is always stopped (trap on exit, INT, TERM). Exit 0 only when
# every command was measured; redis-server or redis-benchmark missing: exit 3
# (run linux/install_deps.sh).
set -euo pipefail

me=$(basename "$0")
requests=200000
pipeline=16
clients=50
keyspace=100000
datasize=128
bench_timeout=240

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die_usage() { echo "$me: $1" >&2; echo "Try '$me --help'." >&2; exit 2; }
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die_usage "$1 needs a positive integer, got '$2'"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -n|-P|-c|-r|-d|-t)
      [[ $# -ge 2 ]] || die_usage "$1 needs a value"
      posint "$1" "$2"
      case "$1" in
        -n) requests=$2 ;; -P) pipeline=$2 ;; -c) clients=$2 ;;
        -r) keyspace=$2 ;; -d) datasize=$2 ;; -t) bench_timeout=$2 ;;
      esac
      shift 2 ;;
    --) shift; break ;;
    -*) die_usage "unknown option: $1" ;;
    *) break ;;
  esac
done
[[ $# -eq 1 ]] || die_usage "expected one allocator (a DSO path, glibc or native)"
alloc=$1

for tool in redis-server redis-benchmark redis-cli python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$me: $tool not found; run linux/install_deps.sh" >&2
    exit 3
  fi
done

preload=
case "$alloc" in
  native) ;;
  glibc|system)
    for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib64 /usr/lib64; do
      if [[ -e "$d/libc.so.6" ]]; then preload="$d/libc.so.6"; break; fi
    done
    [[ -n "$preload" ]] || { echo "$me: libc.so.6 not found" >&2; exit 3; }
    ;;
  *)
    [[ -f "$alloc" ]] || die_usage "allocator DSO '$alloc' does not exist"
    preload=$(readlink -f -- "$alloc")
    ;;
esac

# The allocator is for the server only: neither this script nor the client
# runs under it.
unset LD_PRELOAD || true

work=$(mktemp -d "${TMPDIR:-/tmp}/hz-redis-lane.XXXXXX")
server_pid=
stop_server() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      kill -TERM "$server_pid" 2>/dev/null || true
      sleep 0.5
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf -- "$work"
  exit "$rc"
}
# Die by the server's signal, so the runner shows CRASH(SIGxxx) for the lane.
die_by_signal() {
  trap - EXIT INT TERM
  rm -rf -- "$work"
  kill -s "$1" $$
  exit 1
}
port=0
trap stop_server EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Start the server on a free port; another process may grab the port between
# the probe and the bind, so try a few times.
started=0
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  : >"$work/redis.log"
  if [[ -n "$preload" ]]; then
    env LD_PRELOAD="$preload" redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --daemonize no --protected-mode yes --dir "$work" --logfile "$work/redis.log" &
  else
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --daemonize no --protected-mode yes --dir "$work" --logfile "$work/redis.log" &
  fi
  server_pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
      started=1
      break
    fi
    sleep 0.1
  done
  [[ $started -eq 1 ]] && break
  rc=0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || rc=$?
  if [[ $rc -gt 128 ]]; then
    echo "$me: redis-server died with signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?')) at start-up" >&2
    tail -n 20 "$work/redis.log" >&2 || true
    die_by_signal "$(kill -l $((rc - 128)))"
  fi
  echo "$me: redis-server did not start on port $port (attempt $attempt): $(tail -n 3 "$work/redis.log" | tr '\n' ' ')" >&2
  server_pid=
done
if [[ $started -ne 1 ]]; then
  echo "$me: could not start redis-server" >&2
  exit 1
fi

if [[ -n "$preload" ]] && ! grep -qF -- "$preload" "/proc/$server_pid/maps"; then
  echo "$me: $preload is not mapped into redis-server (preload refused?)" >&2
  tail -n 5 "$work/redis.log" >&2 || true
  exit 1
fi

echo "redis-server pid $server_pid port $port preload ${preload:-none} ($(redis-server --version | head -n 1))"
t0=$(date +%s.%N)
rc=0
timeout -k 5 "$bench_timeout" redis-benchmark -h 127.0.0.1 -p "$port" -t set,get,lpush,lpop \
  -P "$pipeline" -c "$clients" -n "$requests" -r "$keyspace" -d "$datasize" -q --csv \
  >"$work/bench.csv" 2>"$work/bench.err" || rc=$?
t1=$(date +%s.%N)
cat "$work/bench.csv"

if ! kill -0 "$server_pid" 2>/dev/null; then
  src=0
  wait "$server_pid" 2>/dev/null || src=$?
  server_pid=
  echo "$me: redis-server died during the benchmark (status $src)" >&2
  tail -n 30 "$work/redis.log" >&2 || true
  if [[ $src -gt 128 ]]; then
    die_by_signal "$(kill -l $((src - 128)))"
  fi
  exit 1
fi
if [[ $rc -ne 0 ]]; then
  echo "$me: redis-benchmark failed (exit $rc): $(head -c 300 "$work/bench.err")" >&2
  exit 1
fi

status=/proc/$server_pid/status
hwm=$(awk '/^VmHWM:/ {print $2}' "$status")
rss=$(awk '/^VmRSS:/ {print $2}' "$status")

python3 - "$work/bench.csv" "$requests" "$t0" "$t1" "$hwm" "$rss" "$clients" "$pipeline" <<'EOF'
import csv, sys
path, requests, t0, t1, hwm, rss, clients, pipeline = sys.argv[1:]
rps = {}
with open(path, newline="") as fh:
    for row in csv.reader(fh):
        if len(row) >= 2 and row[0] != "test":
            name = row[0].split()[0].lower()
            rps[name] = float(row[1])
want = ["set", "get", "lpush", "lpop"]
missing = [w for w in want if w not in rps]
if missing:
    sys.exit("redis_lane: no figure for %s in redis-benchmark output" % ", ".join(missing))
mean = sum(rps[w] for w in want) / len(want)
total = int(requests) * len(want)
secs = float(t1) - float(t0)
print("RESULT bench=redis ops=%d seconds=%.3f ops_per_s=%.1f peak_rss_kb=%s post_rss_kb=%s %s clients=%s pipeline=%s"
      % (total, secs, mean, hwm, rss, " ".join("%s_rps=%.1f" % (w, rps[w]) for w in want), clients, pipeline))
EOF
