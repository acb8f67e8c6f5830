#!/usr/bin/env bash
# zip_ingest.sh — ZIP upload ingest benchmark: for an archive of 8 stored
# entries of 128 MiB (1 GiB) and one of a single 4 GiB stored entry, the
# time from the start of POST /zip/upload until GET /zip/status says
# success, side by side with `cp` of the same archive on the same file
# system, and the peak resident memory of assetd (VmHWM from
# /proc/<pid>/status, one fresh assetd per run).
#
# The reference is the raw storage work of moving the same bytes: `cp`
# followed by an fsync of the copy, because assetd only says success once
# every stored object is on the disk (fsync) — plain `cp`, which leaves the
# copy in dirty page cache, is shown too. Each round runs cp, cp + fsync
# and the ingest back to back, each after a `sync` so none pays for the
# previous one's writeback; ROUNDS rounds (default 3) per archive, and the
# table gives the median of each (every run is in the log).
#
# Usage: bench/zip_ingest.sh [ASSETD_BIN]   (default: builds Release into
# build-bench/). Work files go to $BENCH_TMP (default /var/tmp), which must
# have ~15 GiB free for the 4 GiB case (archive, spool, stored copy, cp
# copy); the 4 GiB case is skipped, with the reason, when it has not.
# Prints a Markdown table and writes it to bench/out/zip-ingest-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=zip-bench
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT=$ROOT/bench/out
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
ROUNDS=${ROUNDS:-3}
BIN=${1:-}
if [ -z "$BIN" ]; then
  bench_build "$ROOT" "$ROOT/build-bench"
  BIN=$ROOT/build-bench/assetd
fi
TMP=$(mktemp -d "${BENCH_TMP:-/var/tmp}/assetd-zipbench.XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM


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

# ingest NAME ZIP: prints "seconds peak_kib upload_seconds cpu_seconds"
# (upload_seconds: until the 202, i.e. the body received; cpu_seconds:
# assetd's user + system CPU for the whole ingest, which the load of other
# work on the machine moves much less than the wall clock)
ingest() {
  local name=$1 zip=$2 port data
  port=$(free_port)
  data=$TMP/data-$name
  "$BIN" --listen "127.0.0.1:$port" --data "$data" --access-log off --workers 2 \
    --upload-max $((16 << 30)) >"$TMP/assetd-$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  python3 - "http://127.0.0.1:$port" "$zip" "$PID" <<'PY'
import json, os, subprocess, sys, time, urllib.request
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
f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
cpu = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
print(f"{dt:.3f} {hwm} {t1 - t0:.3f} {cpu:.2f}")
PY
  kill -TERM "$PID"; wait "$PID" || true; PID=
  rm -rf "$data"
}

# copy ZIP FSYNC: prints the seconds of `cp` (and of the fsync of the copy
# when FSYNC is 1); the copy is removed (and its removal synced) after
copy() {
  local zip=$1 t0 t1
  sync
  t0=$(date +%s.%N)
  cp "$zip" "$TMP/copy"
  if [ "$2" = 1 ]; then sync "$TMP/copy"; fi
  t1=$(date +%s.%N)
  rm -f "$TMP/copy"; sync
  python3 -c "print(f'{$t1-$t0:.3f}')"
}

ROWS=()
run_case() { # run_case NAME ENTRIES MIB
  local name=$1 zip=$TMP/$1.zip size r cps cpf secs hwm up cpu all=()
  log "$name: writing the archive"
  make_zip "$zip" "$2" "$3"
  size=$(stat -c %s "$zip")
  for r in $(seq "$ROUNDS"); do
    cps=$(copy "$zip" 0)
    cpf=$(copy "$zip" 1)
    sync
    read -r secs hwm up cpu < <(ingest "$name" "$zip")
    log "$name round $r: cp ${cps}s, cp+fsync ${cpf}s, ingest ${secs}s (${up}s to the 202, ${cpu} CPU s), peak ${hwm} KiB"
    all+=("$cps $cpf $secs $up $hwm $cpu")
  done
  rm -f "$zip"
  ROWS+=("$(printf '%s\n' "${all[@]}" | python3 -c "
import statistics, sys
runs = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = lambda i: statistics.median(r[i] for r in runs)
cps, cpf, secs, up = med(0), med(1), med(2), med(3)
hwm = max(r[4] for r in runs)
cpu = statistics.median(r[5] for r in runs)
mib = $size / 2**20
print(f'| $name | {mib:.0f} MiB | {mib/secs:.0f} MiB/s ({secs:.2f} s: {up:.2f} s to the 202, {secs-up:.2f} s of job) '
      f'| {mib/cpf:.0f} MiB/s | {mib/cps:.0f} MiB/s | **{cpf/secs:.2f}×** / {cps/secs:.2f}× '
      f'| {hwm/1024:.1f} MiB | {cpu:.2f} s |')")")
}

run_case "1GiB-8x128MiB" 8 128
FREE=$(df --output=avail -B1 "$TMP" | tail -1)
NEED=$((15 << 30))
if [ "$FREE" -ge "$NEED" ]; then
  run_case "4GiB-1x4GiB" 1 4096
else
  ROWS+=("| 4GiB-1x4GiB | skipped: $((FREE >> 20)) MiB free in $TMP, needs $((NEED >> 20)) MiB | | | | | | |")
fi

mkdir -p "$OUT"
{
  echo "ZIP ingest, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r), filesystem of $TMP: $(df --output=fstype "$TMP" | tail -1), median of $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| archive | size | upload → success | cp + fsync (reference) | cp | ingest vs cp+fsync / vs cp | assetd peak RSS (max) | assetd CPU |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/zip-ingest-$STAMP.md"
