#!/usr/bin/env bash
# ceph.sh — a throw-away one-node Ceph cluster with the RADOS Gateway (S3),
# for tests and benchmarks, from Debian's packages (ceph-mon, ceph-osd,
# radosgw, ceph-common).
#
#   scripts/servers/ceph.sh start DIR   # prints export lines on stdout
#   scripts/servers/ceph.sh stop DIR    # stops every daemon it started
#   scripts/servers/ceph.sh stop-rgw DIR   # stops only radosgw (for fault tests)
#   scripts/servers/ceph.sh start-rgw DIR  # starts it again on the same port
#                                          # and waits until it answers
#
# Stopping the whole cluster loses every object (memstore); stopping only
# the gateway keeps them (they live in the OSD), as do multipart uploads in
# progress, so a test can take S3 away under a running assetd and bring it
# back.
#
# Everything lives in DIR (config, monitor store, logs, pid files) and
# listens on 127.0.0.1 only, on free ports. What makes it start in about
# 15 s: one monitor made with monmaptool --create / ceph-mon --mkfs, one OSD
# on memstore (objects in RAM, nothing to format), pools of size 1, cephx
# off (auth_*_required = none), no manager, pg autoscaling off and few
# placement groups per pool, and RGW on its beast frontend.
#
# Capacity: memstore keeps objects in the OSD's memory. CEPH_MEMSTORE_GB
# (default 8) is the size the OSD reports; memory is only used as objects
# come (and freed by RGW's garbage collector a few seconds after a delete).
#
# On success stdout has exactly:
#   export ASSETD_TEST_S3_URL='s3://KEY:SECRET@assetd-test?endpoint=...'
#   export ASSETD_TEST_S3_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
#   export ASSETD_TEST_RGW_LOG=DIR/log/client.rgw.a.log   (one access line per request)
#   export ASSETD_TEST_CEPH_DIR=DIR   (for stop-rgw / start-rgw)
# (also saved in DIR/env); diagnostics go to stderr.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|stop-rgw|start-rgw DIR" >&2
  exit 64
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

log() { echo "ceph.sh: $*" >&2; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

rand_str() { # N characters from the set in $2
  local n=$1 set=$2 out=""
  while [ ${#out} -lt "$n" ]; do
    out+=$(head -c 256 /dev/urandom | tr -dc "$set" | head -c $((n - ${#out})) || true)
  done
  printf '%s' "$out"
}

stop_cluster() {
  local d=$1
  [ -d "$d/pids" ] || return 0
  # the gateway and the OSD together, then the monitor they report to
  stop_daemons "$d" rgw osd
  stop_daemons "$d" mon
}

stop_daemons() { # DIR NAME...: SIGTERM, up to 5 s to exit, then SIGKILL
  local d=$1 f pid alive pids=()
  shift
  for f in "$@"; do
    [ -f "$d/pids/$f" ] || continue
    pid=$(cat "$d/pids/$f")
    rm -f "$d/pids/$f"
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ $alive -eq 1 ] || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

wait_for() { # seconds description command...
  local secs=$1 what=$2 i
  shift 2
  for i in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "timed out after ${secs}s waiting for $what (logs in $dir/log)"
  return 1
}

start_cluster() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pids/mon" ] && kill -0 "$(cat "$dir/pids/mon")" 2>/dev/null; then
    log "a cluster is already running in $dir; stop it first"
    exit 1
  fi
  rm -rf "$dir/mon" "$dir/osd" "$dir/run" "$dir/log" "$dir/pids" "$dir/rgw" "$dir/monmap" "$dir/keyring" "$dir/env"
  mkdir -p "$dir/mon" "$dir/osd/ceph-0" "$dir/run" "$dir/log" "$dir/pids" "$dir/rgw"
  # anything started below is stopped again if a later step fails
  trap 'rc=$?; if [ $rc -ne 0 ]; then stop_cluster "$dir"; fi' EXIT

  local mon_port rgw_port fsid osd_uuid conf access secret bucket
  mon_port=$(free_port)
  rgw_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  conf=$dir/ceph.conf
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_initial_members = a
mon_host = v2:127.0.0.1:$mon_port
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = $dir/keyring
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
pid_file = $dir/run/\$name.pid
log_to_stderr = false
err_to_stderr = false
mon_cluster_log_file = $dir/log/cluster.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_data = $dir/mon/\$cluster-\$id
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = $(( ${CEPH_MEMSTORE_GB:-8} * 1024 * 1024 * 1024 ))
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
mon_data_avail_warn = 10
[client.rgw.a]
# tcp_nodelay: without it every GET with a body waits ~40 ms (Nagle on
# RGW's side against the client's delayed ACK)
# radosgw's own defaults ask for cephx and a "secure" monitor session
auth_client_required = none
ms_mon_client_mode = crc
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw_data = $dir/rgw
rgw_dns_name = localhost
rgw_enable_usage_log = false
# deleted objects' data is freed by RGW's garbage collector, by default two
# hours later: memstore would fill up in a benchmark
rgw_gc_obj_min_wait = 2
rgw_gc_processor_period = 2
rgw_gc_processor_max_time = 5
rgw_thread_pool_size = 64
EOF
  local c=(-c "$conf")

  # monitor
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon "${c[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
    >"$dir/log/mkfs-mon.out" 2>&1
  ceph-mon "${c[@]}" -f -i a </dev/null >"$dir/log/mon.out" 2>&1 &
  echo $! >"$dir/pids/mon"
  wait_for 20 "the monitor" timeout 5 ceph "${c[@]}" mon stat

  # one OSD on memstore
  ceph "${c[@]}" osd new "$osd_uuid" 0 >/dev/null
  ceph-osd "${c[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/mkfs-osd.out" 2>&1
  ceph-osd "${c[@]}" -f -i 0 </dev/null >"$dir/log/osd.out" 2>&1 &
  echo $! >"$dir/pids/osd"
  wait_for 30 "the OSD to come up" osd_up "${c[@]}"

  # the gateway and an S3 user
  start_rgw "$dir" 40
  access=$(rand_str 20 'A-Z0-9')
  secret=$(rand_str 40 'A-Za-z0-9')
  radosgw-admin "${c[@]}" user create --uid=assetd --display-name="assetd tests" \
    --access-key="$access" --secret="$secret" >"$dir/log/user.json" 2>"$dir/log/user.err"
  rm -f "$dir/log/user.json" # holds the secret

  bucket=assetd-test
  {
    echo "export ASSETD_TEST_S3_URL='s3://$access:$secret@$bucket?endpoint=http://127.0.0.1:$rgw_port&region=us-east-1&addressing=path'"
    echo "export ASSETD_TEST_S3_ENDPOINT=http://127.0.0.1:$rgw_port AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret"
    echo "export ASSETD_TEST_RGW_LOG=$dir/log/client.rgw.a.log"
    echo "export ASSETD_TEST_CEPH_DIR=$dir"
  } >"$dir/env"
  chmod 600 "$dir/env"
  cat "$dir/env"
  log "RGW up on http://127.0.0.1:$rgw_port (cluster in $dir, ${SECONDS}s)"
  trap - EXIT
}

# Starts radosgw of the cluster in DIR (its port is in ceph.conf) and waits
# up to SECS seconds until it answers HTTP.
start_rgw() {
  local d=$1 secs=$2 port
  port=$(sed -n 's/^rgw_frontends = beast endpoint=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/ceph.conf")
  [ -n "$port" ] || { log "no RGW port in $d/ceph.conf"; return 1; }
  radosgw -c "$d/ceph.conf" -f -n client.rgw.a </dev/null >>"$d/log/rgw.out" 2>&1 &
  echo $! >"$d/pids/rgw"
  wait_for "$secs" "the RADOS Gateway on 127.0.0.1:$port" \
    curl -sf --noproxy '*' -o /dev/null "http://127.0.0.1:$port/"
}

osd_up() {
  ceph "$@" osd dump 2>/dev/null | grep -q '^osd.0 up'
}

case "$cmd" in
  start) start_cluster ;;
  stop)
    [ -d "$dir" ] || exit 0
    stop_cluster "$(cd "$dir" && pwd)"
    ;;
  stop-rgw)
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/pids/mon" ] || { log "no cluster in $dir"; exit 1; }
    stop_daemons "$dir" rgw
    # the port is closed once the process is gone
    log "radosgw stopped (the monitor and the OSD keep running)"
    ;;
  start-rgw)
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/pids/mon" ] && kill -0 "$(cat "$dir/pids/mon")" 2>/dev/null ||
      { log "no cluster running in $dir"; exit 1; }
    if [ -f "$dir/pids/rgw" ] && kill -0 "$(cat "$dir/pids/rgw")" 2>/dev/null; then
      log "radosgw is already running"
      exit 0
    fi
    start_rgw "$dir" 60
    log "radosgw up again"
    ;;
  *) usage ;;
esac
