#!/usr/bin/env bash
# redis.sh — a throwaway redis-server for the tests (Debian's, 7.0).
#
#   redis.sh start DIR   starts it in DIR on 127.0.0.1 and a free port, waits
#                        until PING answers, and prints on stdout:
#                          export ASSETD_TEST_REDIS_URL=redis://127.0.0.1:PORT/0
#                          export ASSETD_TEST_REDIS_DIR=DIR
#   redis.sh stop DIR    stops it (SHUTDOWN SAVE, so a later start in the same
#                        DIR comes back on the same port with the same data:
#                        what the fault tests use to stop and restart Redis).
#
# No persistence while it runs (no save points, no AOF); the only snapshot is
# the one written by stop. Loopback only, protected mode on.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 64; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
cli=(redis-cli -h 127.0.0.1)

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# the pid in DIR/redis.pid, if that process is still a redis-server
live_pid() {
  local pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "redis-server" ] && echo "$pid"
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local port tries=0
  while :; do
    if [ -s "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
    cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
dbfilename dump.rdb
save ""
appendonly no
CONF
    redis-server "$dir/redis.conf"
    local i
    for i in $(seq 1 200); do
      if [ "$("${cli[@]}" -p "$port" ping 2>/dev/null)" = "PONG" ]; then
        echo "$port" >"$dir/port"
        echo "export ASSETD_TEST_REDIS_URL=redis://127.0.0.1:$port/0"
        echo "export ASSETD_TEST_REDIS_DIR=$dir"
        return 0
      fi
      # it exits at once when the port was taken meanwhile
      if [ "$i" -gt 5 ] && ! live_pid >/dev/null; then break; fi
      sleep 0.1
    done
    tries=$((tries + 1))
    # a restart must come back on its port; a first start may try another
    if [ -s "$dir/port" ] || [ "$tries" -ge 3 ]; then
      echo "redis.sh: redis-server did not answer on 127.0.0.1:$port; its log:" >&2
      tail -n 20 "$dir/redis.log" >&2 || true
      return 1
    fi
  done
}

stop() {
  local pid port i
  pid=$(live_pid) || return 0
  port=$(cat "$dir/port" 2>/dev/null || true)
  if [ -n "$port" ]; then "${cli[@]}" -p "$port" shutdown save >/dev/null 2>&1 || true; fi
  for i in $(seq 1 100); do
    [ -d "/proc/$pid" ] || return 0
    [ "$i" -eq 50 ] && kill "$pid" 2>/dev/null
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
