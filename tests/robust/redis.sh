#!/usr/bin/env bash
# redis-server under LD_PRELOAD, driven by redis-cli and redis-benchmark over
# 127.0.0.1 only (a free port, bounded request counts; the server is always
# stopped by a trap).
#
# The same steps run against a plain server (Debian's redis-server uses the
# jemalloc it links) and a preloaded one; their outputs must be identical:
#   load      a Lua script builds ~100 MB in database 1: 20000 strings, 200
#             large strings (300..500 KB), lists, hashes, sorted sets, sets,
#             APPEND-grown strings, then deletes a third of the strings
#   read      DEBUG DIGEST plus sample reads of every type
#   reload    DEBUG RELOAD (dump + reload the whole dataset), digest again
#   churn     redis-benchmark (bounded: -n per command) in database 0, then
#             FLUSHDB 0 and the digest of database 1 once more
# The preloaded server must map the DSO, and must exit 0 on SHUTDOWN NOSAVE.
#
# usage: tests/robust/redis.sh <path-to-allocator.so> [requests-per-command]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../programs/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../programs/common.sh"
hz_init "$1"
requests=${2:-20000}

for tool in redis-server redis-cli redis-benchmark python3; do
  if ! hz_have "$tool"; then
    hz_skip redis "$tool not installed (linux/install_deps.sh)"
    hz_finish
  fi
done

server_pid='' port=''
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    timeout 10 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
  fi
  if [[ -n "$server_pid" ]]; then
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
trap 'stop_server; hz_cleanup' EXIT

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cli() { timeout -k 5 120 redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# start_server LABEL PRELOAD(-|dso): sets server_pid and port
start_server() {
  local label=$1 pre=$2 try
  mkdir -p "$HZ_TMP/$label"
  for try in 1 2 3; do
    port=$(free_port)
    local envs=(env -u LD_PRELOAD)
    [[ $pre != - ]] && envs+=(LD_PRELOAD="$pre")
    "${envs[@]}" redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
      --save '' --appendonly no --dir "$HZ_TMP/$label" --dbfilename dump.rdb \
      --enable-debug-command local --lua-time-limit 60000 \
      --logfile "$HZ_TMP/$label/server.log" --daemonize no &
    server_pid=$!
    for _ in $(seq 100); do
      if [[ "$(cli ping 2>/dev/null)" == PONG ]]; then return 0; fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    stop_server
    echo "redis-server ($label) did not come up on port $port (try $try):"
    tail -n 5 "$HZ_TMP/$label/server.log" 2>/dev/null | sed 's/^/    /' || true
  done
  return 1
}

load_script='
for i = 1, 20000 do
  redis.call("SET", "s:" .. i, string.rep(string.char(65 + i % 26), (i * 37) % 2000))
end
for i = 1, 200 do
  redis.call("SET", "big:" .. i, string.rep(string.char(97 + i % 26), 300000 + i * 1000))
end
for i = 1, 100 do
  for j = 1, 300 do redis.call("RPUSH", "l:" .. i, j .. ":" .. string.rep("y", j % 50)) end
  for j = 1, 200 do redis.call("HSET", "h:" .. i, "f" .. j, string.rep("z", (i * j) % 300)) end
  for j = 1, 150 do redis.call("APPEND", "app:" .. i, string.rep("q", j)) end
end
for i = 1, 50 do
  for j = 1, 500 do redis.call("ZADD", "z:" .. i, j * 1.5, "m" .. j) end
  for j = 1, 400 do redis.call("SADD", "set:" .. i, "e" .. (j * 7)) end
end
for i = 1, 20000, 3 do redis.call("DEL", "s:" .. i) end
for i = 1, 200, 4 do redis.call("SETRANGE", "big:" .. i, 700000, "tail") end
return redis.call("DBSIZE")'

# run_all LABEL PRELOAD -> writes $HZ_TMP/LABEL.out; returns non-zero on a broken run
run_all() {
  local label=$1 pre=$2 out="$HZ_TMP/$1.out"
  : >"$out"
  start_server "$label" "$pre" || return 1
  if [[ $pre != - ]]; then
    if grep -qF -- "$HZ_LIB_REAL" "/proc/$server_pid/maps"; then
      hz_pass "$label: server maps the DSO"
    else
      hz_fail "$label: server" "$HZ_LIB_REAL is not in /proc/$server_pid/maps"
    fi
  fi
  {
    echo "load: $(cli -n 1 eval "$load_script" 0)"
    echo "digest: $(cli -n 1 debug digest)"
    cli -n 1 get s:2 | cut -c1-40
    echo "strlen big:100 $(cli -n 1 strlen big:100) big:1 $(cli -n 1 strlen big:1) app:77 $(cli -n 1 strlen app:77)"
    echo "getrange: $(cli -n 1 getrange big:5 0 9) $(cli -n 1 getrange big:5 700000 700003)"
    cli -n 1 lrange l:5 0 5
    cli -n 1 hget h:7 f13
    cli -n 1 zrange z:3 0 5 withscores
    cli -n 1 sort set:1 alpha limit 0 5
    echo "dbsize: $(cli -n 1 dbsize)"
    echo "reload: $(cli -n 1 debug reload)"
    echo "digest after reload: $(cli -n 1 debug digest)"
  } >>"$out" 2>&1
  local bench_rc=0
  timeout -k 5 300 redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 16 -P 4 -r 20000 \
    -d 300 -q --csv -t set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset \
    >"$HZ_TMP/$label.bench" 2>&1 || bench_rc=$?
  local measured
  measured=$(grep -cE '^"[^"]+","[0-9.]+"' "$HZ_TMP/$label.bench" || true)
  if [[ $bench_rc -eq 0 && $measured -ge 14 ]]; then
    hz_pass "$label: redis-benchmark" "$measured commands x $requests requests"
  else
    hz_fail "$label: redis-benchmark" "status $bench_rc, $measured of 14 commands measured"
    head -n 20 "$HZ_TMP/$label.bench" | sed 's/^/    /'
  fi
  {
    echo "flush 0: $(cli -n 0 flushdb)"
    echo "digest after benchmark: $(cli -n 1 debug digest)"
    echo "dbsize after benchmark: $(cli -n 1 dbsize)"
  } >>"$out" 2>&1
  # SHUTDOWN NOSAVE: the server must exit by itself with status 0
  cli shutdown nosave >/dev/null 2>&1 || true
  local rc=0
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    hz_fail "$label: shutdown" "server still running 10 s after SHUTDOWN NOSAVE"
    stop_server
    return 0
  fi
  wait "$server_pid" || rc=$?
  server_pid=
  if [[ $rc -eq 0 ]]; then
    hz_pass "$label: server exited cleanly"
  else
    hz_fail "$label: server" "exit status $(hz_describe_rc "$rc")"
    tail -n 30 "$HZ_TMP/$label/server.log" | sed 's/^/    /'
  fi
}

t0=$(date +%s%N)
if ! run_all plain -; then
  hz_skip redis "the plain redis-server does not start here (ports?)"
  hz_finish
fi
run_all preload "$HZ_LIB" || hz_fail "preload: server" "did not start under LD_PRELOAD"
if [[ -s "$HZ_TMP/plain.out" ]] && cmp -s "$HZ_TMP/plain.out" "$HZ_TMP/preload.out"; then
  hz_pass "redis-data-identical" "$(hz_elapsed "$t0"), $(wc -l <"$HZ_TMP/plain.out") lines"
else
  hz_fail "redis-data-identical" "outputs differ"
  hz_show_diff "$HZ_TMP/plain.out" "$HZ_TMP/preload.out"
fi
echo "--- output (plain run):"
head -n 8 "$HZ_TMP/plain.out" | cut -c1-120 | sed 's/^/    /'
hz_finish
