#!/usr/bin/env bash
# s3.sh — assetd on S3 (Ceph RGW) against raw RGW: the ingest and the
# download of a 1 GiB archive (8 stored entries of 128 MiB) through assetd
# with --blobs s3://…, side by side with `curl --aws-sigv4` PUT and GET of
# the same 1 GiB to the same RGW, plus assetd's peak resident memory.
#
#   ingest   POST /zip/upload until GET /zip/status says success, against
#            one curl PUT of the archive: the big stored entries go through
#            SHA-256 + CRC-32 into multipart uploads to RGW while the body
#            arrives (--store-while-uploading), and the job after the 202
#            only checks them against the central directory and registers
#            the asset (both parts are shown);
#   download GET /zip/download/<id> to /dev/null (assetd reads every file
#            with one streamed GET), against curl GET of the 1 GiB object;
#   memory   VmHWM of the assetd process (one for ingest, a fresh one for
#            the downloads).
# Each timing is the best of RUNS (default 3); the downloads, cheap, run
# DL_RUNS pairs (default 7) of one curl GET and one assetd download back to
# back (which goes first alternates), and the table gives, beside the ratio
# of the bests, the median of the pairs' ratios: the two halves of a pair
# ran under about the same load from other work, so that median moves less
# from run to run than the ratio of two bests. A one-node RGW on memstore
# keeps the objects in memory (CEPH_MEMSTORE_GB, default 8, must hold about
# 2 GiB at a time); objects are deleted between runs, with pauses for RGW's
# garbage collector (deleting in the background slows RGW down).
#
# Usage: bench/s3.sh   (builds Release into $BUILD, default
# /tmp/assetd-s3bench-build; starts its own cluster with
# scripts/servers/ceph.sh and stops it on exit). Prints a Markdown table and
# writes it to bench/out/s3-<date>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=s3-bench
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD=${BUILD:-/tmp/assetd-s3bench-build}
RUNS=${RUNS:-3}
DL_RUNS=${DL_RUNS:-7}
OUT=$ROOT/bench/out
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
TMP=$(mktemp -d "${BENCH_TMP:-/var/tmp}/assetd-s3bench.XXXXXX")
PIDS=()


cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  bash "$ROOT/scripts/servers/ceph.sh" stop "$TMP/ceph" || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in curl python3 radosgw; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh test bench)"
done
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

log "building assetd (Release) in $BUILD"
bench_build "$ROOT" "$BUILD"

log "starting Ceph RGW"
eval "$(CEPH_MEMSTORE_GB=${CEPH_MEMSTORE_GB:-8} bash "$ROOT/scripts/servers/ceph.sh" start "$TMP/ceph")"
BUCKET=assetd-bench
S3=(curl -sS --fail --noproxy '*' --aws-sigv4 aws:amz:us-east-1:s3
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
"${S3[@]}" -X PUT "$ASSETD_TEST_S3_ENDPOINT/$BUCKET" -o /dev/null
URL="s3://$BUCKET?endpoint=$ASSETD_TEST_S3_ENDPOINT&region=us-east-1" # credentials: environment

log "writing the 1 GiB archive"
ZIP=$TMP/bundle.zip
python3 - "$ZIP" <<'PY'
import json, os, sys, zipfile
out = sys.argv[1]
aid = "s3bench-" + os.urandom(4).hex()
asset = {"asset_id": aid, "asset_uri": f"bench://{aid}", "asset_version": "v1",
         "asset_profile_id": "p", "asset_file_ids": [],
         "profiles": [{"asset_profile_id": "p", "asset_type": "model", "asset_sub_type": "llm",
                       "asset_id": aid}]}
block = os.urandom(1 << 20)
with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
    z.writestr("asset.json", json.dumps(asset))
    for i in range(8):
        with z.open(f"part{i}.bin", "w", force_zip64=True) as f:
            for j in range(128):
                f.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])
PY
AID=$(python3 -c "import json,zipfile,sys; print(json.loads(zipfile.ZipFile(sys.argv[1]).read('asset.json'))['asset_id'])" "$ZIP")
SIZE=$(stat -c %s "$ZIP")

PORT=$(freeport)
BASE=http://127.0.0.1:$PORT
start_assetd() {
  AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    "$BUILD/assetd" --listen "127.0.0.1:$PORT" --data "$TMP/data" --blobs "$URL" \
    --upload-max $((4 << 30)) --log-level warn >>"$TMP/assetd.log" 2>&1 &
  APID=$!
  PIDS+=("$APID")
  for _ in $(seq 100); do curl -sf -o /dev/null "$BASE/healthz" && return 0; sleep 0.1; done
  die "assetd did not start: $(tail -5 "$TMP/assetd.log")"
}
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# CPU seconds (user + system) the process has used
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$1/stat"; }

best() { printf '%s\n' "$@" | sort -g | head -1; }

# --- raw RGW: curl PUT of the same bytes ------------------------------------
PUTS=()
for r in $(seq "$RUNS"); do
  t0=$(now); "${S3[@]}" -T "$ZIP" "$ASSETD_TEST_S3_ENDPOINT/$BUCKET/raw.bin" -o /dev/null; t1=$(now)
  PUTS+=("$(python3 -c "print($t1-$t0)")")
  "${S3[@]}" -X DELETE "$ASSETD_TEST_S3_ENDPOINT/$BUCKET/raw.bin" -o /dev/null
  log "run $r: curl PUT ${PUTS[-1]} s"
  sleep 10 # RGW's garbage collector frees the memstore's memory
done

# --- assetd ingest ----------------------------------------------------------
INGS=() UPS=() JOBS=()
for r in $(seq "$RUNS"); do
  rm -rf "$TMP/data"
  start_assetd
  read -r tot up < <(python3 - "$BASE" "$ZIP" <<'PY'
import json, subprocess, sys, time, urllib.request
base, path = sys.argv[1:3]
t0 = time.monotonic()
out = subprocess.run(["curl", "-sS", "--noproxy", "*", "-F", f"file=@{path}", base + "/zip/upload"],
                     check=True, capture_output=True).stdout
uid = json.loads(out)["upload_id"]
t1 = time.monotonic()
while True:
    st = json.load(urllib.request.urlopen(f"{base}/zip/status/{uid}"))
    if st["status"] not in ("queued", "processing"):
        break
    time.sleep(0.02)
if st["status"] != "success":
    sys.exit(f"upload failed: {st['status']}")
print(f"{time.monotonic() - t0:.3f} {t1 - t0:.3f}")
PY
)
  INGS+=("$tot") UPS+=("$up") JOBS+=("$(python3 -c "print($tot-$up)")")
  ING_HWM=$(hwm "$APID") ING_CPU=$(cpu "$APID")
  log "run $r: ingest $tot s ($up s to the 202), peak RSS $ING_HWM KiB, $ING_CPU CPU s"
  if [ "$r" -lt "$RUNS" ]; then
    curl -sf -X DELETE "$BASE/assets/$AID" -o /dev/null || die "delete failed"
    sleep 10 # the garbage collector frees 1 GiB
  fi
  stop_pid "$APID"
done

# --- downloads: curl GET of the same bytes and assetd, alternating ------------
"${S3[@]}" -T "$ZIP" "$ASSETD_TEST_S3_ENDPOINT/$BUCKET/raw.bin" -o /dev/null
sleep 10 # let the garbage collector finish with the deleted runs first
start_assetd # a fresh process: its peak memory is the downloads'
DLS=() GETS=()
C0=$(cpu "$APID")
raw_get() { "${S3[@]}" "$ASSETD_TEST_S3_ENDPOINT/$BUCKET/raw.bin" -o /dev/null; }
zip_get() { curl -sS --fail --noproxy '*' "$BASE/zip/download/$AID" -o /dev/null; }
for r in $(seq "$DL_RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then
    t0=$(now); raw_get; t1=$(now); zip_get; t2=$(now)
    GETS+=("$(python3 -c "print($t1-$t0)")") DLS+=("$(python3 -c "print($t2-$t1)")")
  else
    t0=$(now); zip_get; t1=$(now); raw_get; t2=$(now)
    DLS+=("$(python3 -c "print($t1-$t0)")") GETS+=("$(python3 -c "print($t2-$t1)")")
  fi
  log "run $r: curl GET ${GETS[-1]} s, assetd download ${DLS[-1]} s"
done
DL_HWM=$(hwm "$APID")
DL_CPU=$(python3 -c "print(f'{($(cpu "$APID") - $C0) / $DL_RUNS:.2f}')")
# the median of the pairs' ratios (raw GET time / assetd download time)
DL_PAIRED=$(python3 -c "import statistics, sys; g, d = sys.argv[1].split(), sys.argv[2].split(); print(f'{statistics.median(float(a) / float(b) for a, b in zip(g, d)):.2f}')" "${GETS[*]}" "${DLS[*]}")
curl -sf -X DELETE "$BASE/assets/$AID" -o /dev/null || true
"${S3[@]}" -X DELETE "$ASSETD_TEST_S3_ENDPOINT/$BUCKET/raw.bin" -o /dev/null
stop_pid "$APID"

PUT=$(best "${PUTS[@]}") GET=$(best "${GETS[@]}") ING=$(best "${INGS[@]}") JOB=$(best "${JOBS[@]}")
UP=$(best "${UPS[@]}") DL=$(best "${DLS[@]}")
mkdir -p "$OUT"
python3 - "$SIZE" "$PUT" "$GET" "$ING" "$UP" "$JOB" "$DL" "$ING_HWM" "$DL_HWM" "$RUNS" \
  "$ING_CPU" "$DL_CPU" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$DL_RUNS" "$DL_PAIRED" \
  >"$OUT/s3-$STAMP.md" <<'PY'
import sys
size, put, get, ing, up, job, dl, ihwm, dhwm, runs, icpu, dcpu, ncpu, load, dlruns, paired = sys.argv[1:]
mib = int(size) / 2**20
f = lambda s: mib / float(s)
print(f"1 GiB archive ({mib:.0f} MiB, 8 stored entries of 128 MiB), one-node Ceph RGW "
      f"(memstore) on 127.0.0.1, best of {runs} (downloads: best of {dlruns} pairs; "
      f"in brackets the median of the pairs' ratios):\n")
print("| operation | assetd | raw RGW (curl --aws-sigv4) | ratio | assetd peak RSS | assetd CPU |")
print("|---|---|---|---|---|---|")
print(f"| ingest: upload to status success (big entries stored in S3 while the body arrives, "
      f"then the job) | {f(ing):.0f} MiB/s ({float(ing):.2f} s; {float(up):.2f} s to the 202, "
      f"{float(job):.2f} s of job) | PUT {f(put):.0f} MiB/s ({float(put):.2f} s) | "
      f"{float(put)/float(ing):.2f}× | {int(ihwm)/1024:.0f} MiB | {float(icpu):.1f} s |")
print(f"| GET /zip/download | {f(dl):.0f} MiB/s ({float(dl):.2f} s) | GET {f(get):.0f} MiB/s "
      f"({float(get):.2f} s) | {float(get)/float(dl):.2f}× ({paired}×) | {int(dhwm)/1024:.0f} MiB | "
      f"{float(dcpu):.1f} s per download |")
print(f"\n{ncpu} CPUs shared by assetd, RGW, the OSD, the monitor and curl (and whatever else "
      f"runs: load average at the end {load}).")
PY
cat "$OUT/s3-$STAMP.md"
