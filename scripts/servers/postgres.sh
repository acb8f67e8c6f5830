#!/usr/bin/env bash
# postgres.sh — a throwaway PostgreSQL 15 (Debian's package) for the tests.
#
#   postgres.sh start DIR   initdb in DIR/data on first use, start the server
#                           on 127.0.0.1 and a free port (unix socket in DIR),
#                           create the database "assetd", wait until it
#                           answers, print
#                             export ASSETD_TEST_PG_URL=postgresql://...
#                             export ASSETD_TEST_PG_DIR=DIR
#                           Starting a DIR that was stopped reuses its port, so
#                           the URL stays valid across a stop/start (the
#                           PostgreSQL fault tests rely on this).
#   postgres.sh stop DIR    stop it (fast shutdown: clients are disconnected).
#                           DIR is kept; the caller removes it.
#
# PostgreSQL refuses to run as root: when started by root, the server runs
# as the unprivileged user "postgres" (created by the postgresql package),
# which is given DIR. Authentication is "trust" for the superuser "assetd";
# nothing listens beyond 127.0.0.1 and the socket in DIR. Durability is off
# (fsync=off): this is a test server.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
RUN_AS=postgres
DB=assetd
DBUSER=assetd

die() { printf 'postgres.sh: %s\n' "$*" >&2; exit 1; }

as_pg() { # runs a command as the server's user
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$RUN_AS" -- "$@"
  else
    "$@"
  fi
}

free_port() { # a port nobody listens on at the moment (the kernel's pick)
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local dir=$1 data port i
  [ -x "$PGBIN/postgres" ] || die "no PostgreSQL 15 in $PGBIN (apt-get install postgresql)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  data=$dir/data
  if [ "$(id -u)" -eq 0 ]; then
    getent passwd "$RUN_AS" >/dev/null || die "user $RUN_AS does not exist (install postgresql)"
    chown "$RUN_AS" "$dir"
    as_pg test -w "$dir" ||
      die "$dir is not writable by $RUN_AS (its parent directories must be searchable by it)"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_pg "$PGBIN/initdb" -D "$data" -U "$DBUSER" --auth=trust -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    die "a server is already running in $data"
  fi
  # first start: pick a port; a restart keeps the one in DIR/port. A port
  # taken between picking and binding makes the start fail: pick again.
  for ((i = 0; i < 5; i++)); do
    if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
    if as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c max_connections=200 -c shared_buffers=64MB" start >/dev/null 2>&1; then
      echo "$port" >"$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
      break
    fi
    [ -f "$dir/port" ] && { tail -20 "$dir/postgres.log" >&2; die "restart on port $port failed"; }
    port=
  done
  [ -n "$port" ] || { tail -20 "$dir/postgres.log" >&2; die "could not start PostgreSQL"; }
  for ((i = 0; i < 100; i++)); do
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" || die "PostgreSQL on port $port does not answer"
  if ! "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U "$DBUSER" -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U "$DBUSER" "$DB" || die "createdb failed"
  fi
  echo "export ASSETD_TEST_PG_URL=postgresql://$DBUSER@127.0.0.1:$port/$DB"
  echo "export ASSETD_TEST_PG_DIR=$dir"
}

stop() {
  local dir=$1
  [ -f "$dir/data/PG_VERSION" ] || return 0
  if as_pg "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
}

case "${1:-}" in
  start) [ $# -eq 2 ] || die "usage: postgres.sh start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: postgres.sh stop DIR"; stop "$2" ;;
  *) die "usage: postgres.sh start|stop DIR" ;;
esac
