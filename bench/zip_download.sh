#!/usr/bin/env bash
# zip_download.sh — GET /zip/download throughput side by side with nginx
# (sendfile on) serving the very same bytes (the archive assetd produced,
# saved as a static file), and assetd's peak resident memory (VmHWM of a
# process started just for the downloads, so ingest memory is not counted).
#
# Cases: "1 GiB" = an asset of 8 files x 128 MiB; "4 GiB" = one 4 GiB file
# (skipped, with the reason, when the disk has less than 20 GiB free or
# BIG=0). The assets are created through the real POST /zip/upload (stored
# entries made with `zip -0`). Each download is timed with curl to
# /dev/null, best of RUNS (default 3), assetd and nginx alternating.
#
# Environment: BUILD (default /tmp/assetd-zipbench-build), CMAKE_EXTRA
# (extra cmake arguments), RUNS, BIG. Prints a Markdown table and writes it
# to bench/out/zip-download-<date>.md. Everything it starts is stopped on
# exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=zip-bench
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD=${BUILD:-/tmp/assetd-zipbench-build}
RUNS=${RUNS:-3}
OUT=$ROOT/bench/out
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
TMP=$(mktemp -d /tmp/assetd-zipbench.XXXXXX)
PIDS=()


cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in curl zip nginx python3; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh bench)"
done

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "no answer from $1"
}

log "building assetd (Release) in $BUILD"
# shellcheck disable=SC2086
# shellcheck disable=SC2086 # CMAKE_EXTRA is a list of arguments
bench_build "$ROOT" "$BUILD" ${CMAKE_EXTRA:-}

DATA=$TMP/data
PORT=$(freeport)
BASE=http://127.0.0.1:$PORT
start_assetd() {
  "$BUILD/assetd" --listen "127.0.0.1:$PORT" --data "$DATA" --log-level warn >>"$TMP/assetd.log" 2>&1 &
  APID=$!
  PIDS+=("$APID")
  wait_http "$BASE/healthz"
}

# make_bundle NAME COUNT MIB: a stored zip of COUNT files of MIB MiB each
make_bundle() {
  local name=$1 count=$2 mib=$3 dir=$TMP/src-$1 i
  mkdir -p "$dir"
  for ((i = 0; i < count; i++)); do
    head -c "$((mib * 1024 * 1024))" /dev/urandom >"$dir/part-$i.bin"
  done
  cat >"$dir/asset.json" <<EOF
{"asset_id":"$name","asset_uri":"bench://$name","asset_version":"v1","asset_profile_id":"p-$name",
 "asset_file_ids":[],"profiles":[{"asset_profile_id":"p-$name","asset_type":"model",
 "asset_sub_type":"bench","asset_id":"$name"}],"policies":[],"files":[],"apis":[],"index_mappings":[]}
EOF
  (cd "$dir" && zip -q -0 -r "$TMP/$name.zip" .)
  rm -rf "$dir"
}

upload() {
  local name=$1 id st i
  id=$(curl -sf -F "file=@$TMP/$name.zip" "$BASE/zip/upload" |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_id"])')
  for ((i = 0; i < 6000; i++)); do
    st=$(curl -sf "$BASE/zip/status/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$st" = success ] && { rm -f "$TMP/$name.zip"; return 0; }
    case "$st" in failed*) die "upload of $name: $st" ;; esac
    sleep 0.2
  done
  die "upload of $name did not finish"
}

# speed URL: bytes/s of one download to /dev/null
speed() { curl -s -o /dev/null -w '%{speed_download}' "$1"; }
best() {
  local url=$1 b=0 s r
  for ((r = 0; r < RUNS; r++)); do
    s=$(speed "$url")
    b=$(python3 -c "print(max($b, $s))")
  done
  echo "$b"
}

CASES=("zb1g 8 128")
FREE_GB=$(df -BG --output=avail "$TMP" | tail -1 | tr -dc 0-9)
BIG_NOTE=""
if [ "${BIG:-1}" = 1 ] && [ "$FREE_GB" -ge 20 ]; then
  CASES+=("zb4g 1 4096")
else
  BIG_NOTE="4 GiB case skipped: ${FREE_GB} GiB free (needs 20) or BIG=0"
  log "$BIG_NOTE"
fi

mkdir -p "$DATA"
start_assetd
for c in "${CASES[@]}"; do
  set -- $c
  log "creating $1 ($2 x $3 MiB) and uploading it"
  make_bundle "$1" "$2" "$3"
  upload "$1"
done
stop_pid "$APID"

# nginx serves each archive exactly as assetd produced it
NPORT=$(freeport)
mkdir -p "$TMP/www" "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    default_type application/zip;
    client_body_temp_path $TMP/nginx/tmp;
    proxy_temp_path $TMP/nginx/tmp;
    fastcgi_temp_path $TMP/nginx/tmp;
    uwsgi_temp_path $TMP/nginx/tmp;
    scgi_temp_path $TMP/nginx/tmp;
    server { listen 127.0.0.1:$NPORT; location / { root $TMP/www; } }
}
EOF

start_assetd # fresh: its VmHWM covers the downloads only
for c in "${CASES[@]}"; do
  set -- $c
  curl -sf -o "$TMP/www/$1.zip" "$BASE/zip/download/$1"
done
chmod -R a+rX "$TMP/www" "$TMP/nginx" && chmod a+x "$TMP" # nginx workers may run as another user
nginx -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" ||
  die "nginx config test failed"
nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx.log" &
NGPID=$!
PIDS+=("$NGPID")
wait_http "http://127.0.0.1:$NPORT/zb1g.zip"

REPORT=$TMP/report.md
{
  echo "### ZIP download ($(date -u +%F), $(nproc) CPUs, best of $RUNS, curl to /dev/null on 127.0.0.1)"
  echo
  echo "| asset | archive bytes | assetd MB/s | nginx (sendfile) MB/s | ratio | assetd peak RSS |"
  echo "|---|---:|---:|---:|---:|---:|"
} >"$REPORT"
for c in "${CASES[@]}"; do
  set -- $c
  size=$(stat -c %s "$TMP/www/$1.zip")
  log "timing $1 ($size bytes)"
  a=0; n=0
  for ((r = 0; r < RUNS; r++)); do
    s=$(speed "$BASE/zip/download/$1"); a=$(python3 -c "print(max($a, $s))")
    s=$(speed "http://127.0.0.1:$NPORT/$1.zip"); n=$(python3 -c "print(max($n, $s))")
  done
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$APID/status")
  python3 - "$1" "$2" "$3" "$size" "$a" "$n" "$hwm" >>"$REPORT" <<'EOF'
import sys
name, count, mib, size, a, n, hwm = sys.argv[1:]
label = f"{count} x {int(mib)} MiB" if int(count) > 1 else f"1 x {int(mib) // 1024} GiB"
print(f"| {label} | {int(size):,} | {float(a)/1e6:,.0f} | {float(n)/1e6:,.0f} | "
      f"{float(a)/float(n):.2f} | {int(hwm)/1024:.1f} MiB |")
EOF
done
[ -n "$BIG_NOTE" ] && { echo; echo "$BIG_NOTE"; } >>"$REPORT"
mkdir -p "$OUT"
cp "$REPORT" "$OUT/zip-download-$STAMP.md"
cat "$REPORT"
