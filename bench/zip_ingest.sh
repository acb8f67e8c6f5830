#!/usr/bin/env bash
# zip_ingest.sh — ZIP upload ingest benchmark: for an archive of 8 stored
# entries of 128 MiB (1 GiB) and one of a single 4 GiB stored entry, the
# time from the start of POST /zip/upload until GET /zip/status says
# success, side by side with `cp` of the same archive on the same file
# system (plain, and followed by an fsync of the copy, since assetd fsyncs
# every object it stores), and the peak resident memory of assetd (VmHWM
# from /proc/<pid>/status, one fresh assetd per archive).
#
# Usage: bench/zip_ingest.sh [ASSETD_BIN]   (default: builds Release into
# build-bench/). Work files go to $BENCH_TMP (default /var/tmp), which must
# have ~14 GiB free for the 4 GiB case (archive, spool, stored copy, cp
# copy); the 4 GiB case is skipped, with the reason, when it has not.
# Prints a Markdown table and writes it to bench/out/zip-ingest-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
BIN=${1:-}
if [ -z "$BIN" ]; then
  cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$ROOT/build-bench" -j"$(nproc)" --target assetd >/dev/null
  BIN=$ROOT/build-bench/assetd
fi
TMP=$(mktemp -d "${BENCH_TMP:-/var/tmp}/assetd-zipbench.XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

log() { printf '[zip-bench %s] %s\n' "$(date +%T)" "$*" >&2; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# make_zip OUT ENTRIES MIB: ENTRIES stored entries of MIB MiB of random bytes
make_zip() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys, zipfile
out, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
aid = os.path.basename(out).replace(".zip", "") + "-" + os.urandom(4).hex()
asset = {"asset_id": aid, "asset_uri": f"bench://{aid}", "asset_version": "v1",
         "asset_profile_id": "p", "asset_file_ids": [],
         "profiles": [{"asset_profile_id": "p", "asset_type": "model", "asset_sub_type": "llm",
                       "asset_id": aid}]}
block = os.urandom(1 << 20)
with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
    z.writestr("asset.json", json.dumps(asset))
    for i in range(n):
        with z.open(f"part{i}.bin", "w", force_zip64=True) as f:
            for j in range(mib):
                # vary each MiB a little so no two blocks are equal
                f.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])
PY
}

# ingest NAME ZIP: prints "seconds peak_kib upload_seconds" (upload_seconds:
# until the 202, i.e. the body spooled)
ingest() {
  local name=$1 zip=$2 port data
  port=$(free_port)
  data=$TMP/data-$name
  "$BIN" --listen "127.0.0.1:$port" --data "$data" --access-log off --workers 2 \
    --upload-max $((16 << 30)) >"$TMP/assetd-$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  python3 - "http://127.0.0.1:$port" "$zip" "$PID" <<'PY'
import json, subprocess, sys, time, urllib.request
base, path, pid = sys.argv[1:4]
t0 = time.monotonic()
out = subprocess.run(["curl", "-sS", "-F", f"file=@{path}", base + "/zip/upload"],
                     check=True, capture_output=True).stdout
uid = json.loads(out)["upload_id"]
t1 = time.monotonic()
while True:
    st = json.load(urllib.request.urlopen(f"{base}/zip/status/{uid}"))
    if st["status"] != "queued" and st["status"] != "processing":
        break
    time.sleep(0.02)
dt = time.monotonic() - t0
if st["status"] != "success":
    sys.exit(f"upload failed: {st['status']}")
hwm = next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM"))
print(f"{dt:.3f} {hwm} {t1 - t0:.3f}")
PY
  kill -TERM "$PID"; wait "$PID" || true; PID=
  rm -rf "$data"
}

# copy ZIP: prints "cp_seconds cp_fsync_seconds"
copy() {
  local zip=$1 t0 t1 t2
  t0=$(date +%s.%N); cp "$zip" "$TMP/copy1"; t1=$(date +%s.%N)
  cp "$zip" "$TMP/copy2"; sync "$TMP/copy2"; t2=$(date +%s.%N)
  rm -f "$TMP/copy1" "$TMP/copy2"
  python3 -c "print(f'{$t1-$t0:.3f} {$t2-$t1:.3f}')"
}

ROWS=()
run_case() { # run_case NAME ENTRIES MIB
  local name=$1 zip=$TMP/$1.zip size cps cpf secs hwm up
  log "$name: writing the archive"
  make_zip "$zip" "$2" "$3"
  size=$(stat -c %s "$zip")
  sync
  read -r cps cpf < <(copy "$zip")
  log "$name: ingest"
  read -r secs hwm up < <(ingest "$name" "$zip")
  rm -f "$zip"
  ROWS+=("$(python3 -c "
s=$size; mib=s/2**20
print(f'| $name | {mib:.0f} MiB | {mib/$secs:.0f} MiB/s ({$secs:.2f} s: {$up:.2f} s to the 202, {$secs-$up:.2f} s of job) | {mib/$cps:.0f} MiB/s | {mib/$cpf:.0f} MiB/s | {mib/$secs/(mib/$cps):.2f}× / {mib/$secs/(mib/$cpf):.2f}× | {$hwm/1024:.1f} MiB |')")")
}

run_case "1GiB-8x128MiB" 8 128
FREE=$(df --output=avail -B1 "$TMP" | tail -1)
NEED=$((15 << 30))
if [ "$FREE" -ge "$NEED" ]; then
  run_case "4GiB-1x4GiB" 1 4096
else
  ROWS+=("| 4GiB-1x4GiB | skipped: $((FREE >> 20)) MiB free in $TMP, needs $((NEED >> 20)) MiB | | | | | |")
fi

mkdir -p "$OUT"
{
  echo "ZIP ingest, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r), filesystem of $TMP: $(df --output=fstype "$TMP" | tail -1)"
  echo
  echo "| archive | size | upload → success | cp | cp + fsync | ingest vs cp / cp+fsync | assetd peak RSS |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/zip-ingest-$STAMP.md"
