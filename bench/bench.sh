#!/usr/bin/env bash
# bench.sh — the assetd benchmark: builds assetd (Release, build-bench/),
# then on 127.0.0.1 only:
#   1. loads 10 000 assets with wrk (POST /assets, creates/s);
#   2. GET /query/by-id side by side with nginx serving the same bytes as a
#      static file (alternating runs, best of 2), plus a random-id variant and
#      one run with the access log on;
#   3. by-type / by-tag / by-api-route / search latency at 1k, 10k and 100k
#      stored assets, with result sizes held constant;
#   4. peak and final memory of assetd and nginx, data dir size at 10k and
#      100k.
# Prints a Markdown report and writes it to bench/out/report-<date>.md.
# Every server it starts is stopped on exit, failure included. ~5-10 min.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BENCH=$ROOT/bench
BUILD=$ROOT/build-bench
OUT=$BENCH/out
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
START_S=$SECONDS
export BENCH_DIR=$BENCH
CLK_TCK=$(getconf CLK_TCK)
SERVER_PIDS=


TMP=$(mktemp -d /tmp/assetd-bench.XXXXXX)
RESULTS=$TMP/results.txt
FACTS=$TMP/facts.tsv
: >"$RESULTS"
: >"$FACTS"
PIDS=()


cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
    mkdir -p "$OUT/failed-$STAMP"
    cp -r "$TMP"/*.log "$TMP"/*.txt "$OUT/failed-$STAMP/" 2>/dev/null || true
    log "failed (exit $rc); logs kept in bench/out/failed-$STAMP/"
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() { # forget_pid PID: drop PID from the cleanup list
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

fact() { printf '%s\t%s\n' "$1" "$2" >>"$FACTS"; }
freeport() { python3 "$BENCH/benchlib.py" freeport; }
count() { python3 "$BENCH/benchlib.py" "count" "$@"; }

wait_http() { # wait_http URL PID LOG: poll URL until it answers 200
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "server (pid $2) exited at startup"; }
    sleep 0.1
  done
  cat "$3" >&2
  die "$1 did not answer within 10 s"
}

# start_assetd DATA_DIR LOG [extra args…] — sets ASSETD_PID, ASSETD_URL
start_assetd() {
  local data=$1 logf=$2 port
  shift 2
  port=$(freeport)
  "$BUILD/assetd" --listen "127.0.0.1:$port" --data "$data" "$@" 2>"$logf" &
  ASSETD_PID=$!
  PIDS+=("$ASSETD_PID")
  ASSETD_URL=http://127.0.0.1:$port
  wait_http "$ASSETD_URL/healthz" "$ASSETD_PID" "$logf"
  log "assetd pid $ASSETD_PID on $ASSETD_URL ($*)"
}

stop_assetd() {
  stop_pid "$ASSETD_PID"
  forget_pid "$ASSETD_PID"
  grep -q 'level=error' "$1" && { cat "$1" >&2; die "assetd logged errors (see above)"; }
  return 0
}

mem() { # mem PROC WHEN SIZE PID…: records VmHWM/VmRSS (summed over PIDs)
  local proc=$1 when=$2 size=$3 hwm=0 rss=0 h r pid
  shift 3
  for pid in "$@"; do
    read -r h r <<<"$(python3 "$BENCH/benchlib.py" mem "$pid")" || die "no memory figures for $pid"
    hwm=$((hwm + h)) rss=$((rss + r))
  done
  echo "mem proc=$proc when=$when size=$size hwm_kb=$hwm rss_kb=$rss" >>"$RESULTS"
  log "memory $proc after $when: VmHWM ${hwm} KiB, VmRSS ${rss} KiB"
}

cpu_ticks() { # cpu_ticks PID…: user+system CPU time of the PIDs, in clock ticks
  local s=0 pid
  for pid in "$@"; do s=$((s + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$s"
}

# run_wrk PHASE LABEL SIZE EXTRA DURATION_S wrk-args… — runs wrk (bounded
# by timeout), fails on any non-2xx or socket error, records the RESULT line
# plus the CPU time the server (the PIDs in $SERVER_PIDS) spent per request.
run_wrk() {
  local phase=$1 label=$2 size=$3 extra=$4 dur=$5 f res c0 c1 n
  shift 5
  f=$TMP/wrk-$phase-$label-$size-$RANDOM.log
  # shellcheck disable=SC2086 # SERVER_PIDS is a list
  c0=$(cpu_ticks $SERVER_PIDS)
  { echo "### $phase $label $size: wrk $*"; } >>"$TMP/wrk-all.log"
  # in the background so that a signal to bench.sh is handled at once
  timeout --foreground --signal=KILL $((dur + 30)) wrk "$@" >"$f" 2>&1 &
  WRK_PID=$!
  PIDS+=("$WRK_PID")
  wait "$WRK_PID" || { cat "$f" >&2; die "wrk failed: $*"; }
  forget_pid "$WRK_PID"
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $SERVER_PIDS)
  res=$(grep '^RESULT ' "$f") || { cat "$f" >&2; die "no RESULT from wrk: $*"; }
  cat "$f" >>"$TMP/wrk-all.log"
  res=${res#RESULT }
  n=$(sed -E 's/^requests=([0-9]+) .*/\1/' <<<"$res")
  res="$res cpu_us_per_req=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" \
    'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')"
  [[ " $res " == *" non2xx=0 "* ]] || { cat "$f" >&2; die "$label: non-2xx responses"; }
  [[ " $res " == *" sock_errors=0 "* ]] || { cat "$f" >&2; die "$label: socket errors"; }
  echo "wrk phase=$phase label=$label size=$size $extra $res" >>"$RESULTS"
  log "$label @ $size: $res"
  LAST_RESULT=$res
}

# load URL KIND COUNT BASE SIZE_BEFORE LABEL — creates COUNT assets with
# sequence numbers BASE+1..BASE+COUNT through wrk + load.lua.
load() {
  local url=$1 kind=$2 n=$3 base=$4 before=$5 label=$6 bound conns=64 secs
  bound=$((20 + n / 200))
  [ "$n" -lt "$conns" ] && conns=$n
  rm -rf "$TMP/sync" && mkdir "$TMP/sync"
  LOAD_COUNT=$n LOAD_BASE=$base LOAD_THREADS=2 LOAD_KIND=$kind LOAD_SYNC_DIR=$TMP/sync \
    run_wrk load "$label" $((before + n)) "from=$before" "$bound" \
    -t2 -c"$conns" -d"${bound}s" --latency -s "$BENCH/load.lua" "$url/"
  [[ " $LAST_RESULT " == *" requests=$n "* ]] || die "$label: expected $n creates: $LAST_RESULT"
  # load.lua counts every answer but 201 (wrk's own count skips 3xx)
  ! grep -qv ' failed=0 ' "$TMP"/sync/done.* || die "$label: answers other than 201 Created"
  secs=$(sed -E 's/.* duration_s=([0-9.]+) .*/\1/' <<<"$LAST_RESULT")
  awk -v s="$secs" -v b="$bound" 'BEGIN { exit !(s < b - 1) }' ||
    die "$label: the loader ran into its ${bound}s bound (did not finish)"
}

data_size() { # data_size SIZE DIR: records the sizes of the store's files
  local f
  for f in "$2"/registry.db "$2"/registry.db-wal "$2"/registry.db-shm; do
    [ -e "$f" ] && echo "file size=$1 name=$(basename "$f") bytes=$(stat -c %s "$f")" >>"$RESULTS"
  done
  echo "file size=$1 name=whole_data_dir_(du) bytes=$(du -sb "$2" | cut -f1)" >>"$RESULTS"
}

expect_count() { # expect_count N URL [BODY]
  local n=$1 got
  shift
  got=$(count "$@") || die "counting $1 failed"
  [ "$got" = "$n" ] || die "$1 ${2:-}: expected $n results, got $got"
}

# ------------------------------------------------------------------ setup --
mkdir -p "$OUT"
log "installing dependencies (scripts/install-deps.sh bench)"
bash "$ROOT/scripts/install-deps.sh" bench
for tool in wrk nginx curl python3 cmake; do
  command -v "$tool" >/dev/null || die "$tool not found after install-deps.sh"
done

log "building assetd (Release) into build-bench/"
bench_build "$ROOT" "$BUILD"

fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
fact loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
read -r _ u0 n0 s0 i0 w0 q0 sq0 st0 _ </proc/stat
awk '{ exit !($1 > 1.0) }' /proc/loadavg &&
  log "warning: load average $(cut -d' ' -f1 /proc/loadavg) before the start; figures will be noisy"
fact nproc "$(nproc)"
fact cpu "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
fact kernel "$(uname -sr)"
fact mem "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt 2>/dev/null)" ]; then
  commit="$commit + uncommitted changes in src/"
fi
fact commit "$commit"
fact wrk "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
fact nginx "$(nginx -v 2>&1 | sed 's/.*nginx\///') (nginx-light)"
fact sqlite "$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null || echo '?')"
fact mhd "$(dpkg-query -W -f='${Version}' libmicrohttpd12 2>/dev/null || echo '?')"

# ------------------------------------------------- phase 1: 10 000 creates --
log "phase 1: POST /assets, 10 000 assets into a fresh store"
start_assetd "$TMP/data-a" "$TMP/assetd-a.log" --access-log off
A_URL=$ASSETD_URL A_PID=$ASSETD_PID
SERVER_PIDS=$A_PID
load "$A_URL" asset 10000 0 0 "10k-into-empty-store"
fact post_bytes "$(cat "$TMP"/sync/done.* | sed -E 's/.*body_bytes=([0-9]+).*/\1/' |
  awk '{ s += $1 } END { printf "%d", s / 10000 }')"
expect_count 10000 "$A_URL/assets?fields=asset_id&limit=10010"
mem assetd-A "load_of_10k" 10000 "$A_PID"
data_size 10000 "$TMP/data-a"

# ------------------------------------------------ phase 2: by-id vs nginx --
HOT_ID=asset-0005000
fact hot_id "$HOT_ID"
log "phase 2: GET /query/by-id vs nginx"
NGX=$TMP/nginx
mkdir -p "$NGX/www/query/by-id" "$NGX/tmp"
curl -sf -o "$NGX/www/query/by-id/$HOT_ID" "$A_URL/query/by-id/$HOT_ID" || die "GET by-id failed"
fact body_bytes "$(stat -c %s "$NGX/www/query/by-id/$HOT_ID")"
NGX_PORT=$(freeport)
sed -e "s|@DIR@|$NGX|g" -e "s|@PORT@|$NGX_PORT|g" "$BENCH/nginx.conf.in" >"$NGX/nginx.conf"
chmod -R a+rX "$NGX" && chmod a+x "$TMP" # nginx workers may run as another user
nginx -t -q -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" 2>"$TMP/nginx-t.log" ||
  { cat "$TMP/nginx-t.log" >&2; die "nginx config test failed"; }
nginx -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" 2>"$TMP/nginx.log" &
NGX_PID=$!
PIDS+=("$NGX_PID")
NGX_URL=http://127.0.0.1:$NGX_PORT
wait_http "$NGX_URL/query/by-id/$HOT_ID" "$NGX_PID" "$NGX/error.log"
curl -sf "$NGX_URL/query/by-id/$HOT_ID" | cmp -s - "$NGX/www/query/by-id/$HOT_ID" ||
  die "nginx does not serve the by-id body"
curl -sfI "$NGX_URL/query/by-id/$HOT_ID" | grep -qi '^content-type: application/json' ||
  die "nginx does not answer application/json"
log "nginx pid $NGX_PID on $NGX_URL"

mapfile -t NGX_WORKERS < <(python3 "$BENCH/benchlib.py" children "$NGX_PID")
[ "${#NGX_WORKERS[@]}" -eq 2 ] || die "expected 2 nginx workers, found ${#NGX_WORKERS[@]}"
NGX_PIDS="$NGX_PID ${NGX_WORKERS[*]}"

WRK_ID=(-t2 -c64 -d10s --latency)
log "warm-up (2 s each)"
SERVER_PIDS=$NGX_PIDS run_wrk warmup nginx 10000 "" 2 -t2 -c64 -d2s -s "$BENCH/get.lua" \
  "$NGX_URL/query/by-id/$HOT_ID"
run_wrk warmup assetd 10000 "" 2 -t2 -c64 -d2s -s "$BENCH/get.lua" "$A_URL/query/by-id/$HOT_ID"
for round in 1 2; do
  SERVER_PIDS=$NGX_PIDS run_wrk byid nginx-static-file 10000 "round=$round" 10 "${WRK_ID[@]}" \
    -s "$BENCH/get.lua" "$NGX_URL/query/by-id/$HOT_ID"
  run_wrk byid assetd-hot-id 10000 "round=$round" 10 "${WRK_ID[@]}" \
    -s "$BENCH/get.lua" "$A_URL/query/by-id/$HOT_ID"
  BYID_COUNT=10000 run_wrk byid assetd-random-id 10000 "round=$round" 10 "${WRK_ID[@]}" \
    -s "$BENCH/byid_random.lua" "$A_URL/"
done
mem assetd-A "by-id_runs" 10000 "$A_PID"
mem nginx "by-id_runs_(master_+_${#NGX_WORKERS[@]}_workers)" 0 "$NGX_PID" "${NGX_WORKERS[@]}"
stop_pid "$NGX_PID"
forget_pid "$NGX_PID"
stop_assetd "$TMP/assetd-a.log"

log "phase 2b: by-id with the access log on (same data, restarted)"
start_assetd "$TMP/data-a" "$TMP/access.log" --access-log on
SERVER_PIDS=$ASSETD_PID
run_wrk warmup assetd-access-log 10000 "" 2 -t2 -c64 -d2s -s "$BENCH/get.lua" \
  "$ASSETD_URL/query/by-id/$HOT_ID"
lines0=$(wc -l <"$TMP/access.log") bytes0=$(stat -c %s "$TMP/access.log")
run_wrk byid assetd-hot-id-access-log 10000 "round=1" 10 "${WRK_ID[@]}" \
  -s "$BENCH/get.lua" "$ASSETD_URL/query/by-id/$HOT_ID"
fact access_log_lines $(($(wc -l <"$TMP/access.log") - lines0))
fact access_log_bytes $(($(stat -c %s "$TMP/access.log") - bytes0))
mem assetd-A′ "access-log_run" 10000 "$ASSETD_PID"
stop_assetd "$TMP/access.log"
rm -rf "$TMP/data-a"

# ---------------------------------------------- phase 3: queries vs size --
log "phase 3: queries at 1k, 10k, 100k assets (fresh store)"
start_assetd "$TMP/data-b" "$TMP/assetd-b.log" --access-log off
B_URL=$ASSETD_URL B_PID=$ASSETD_PID
SERVER_PIDS=$B_PID
load "$B_URL" probe 10 0 0 "10-probe-assets"

fact "q:by-type-probe" "GET /query/by-type/probe (10)"
fact "q:by-tag-probe" "GET /query/by-tag/probe-tag (10)"
fact "q:by-api-route-probe" "GET /query/by-api-route/api/v1/probe/infer (10)"
fact "q:search-type-probe" 'POST /query/search {"profiles.asset_type": "probe"} (10)'
fact "q:search-params-range" 'POST /query/search {"profiles.asset_metadata.params": {"$gte": 500, "$lt": 510}} (10)'
fact "q:by-type-common-limit10" "GET /query/by-type/model?limit=10 (10 of ~6.7 %)"
SEARCH_TYPE='{"profiles.asset_type": "probe"}'
SEARCH_RANGE='{"profiles.asset_metadata.params": {"$gte": 500, "$lt": 510}}'
WRK_Q=(-t2 -c8 -d5s --latency --timeout 10s) # a slow query is a finding, not an error

measure_queries() { # measure_queries SIZE
  local size=$1 u=$B_URL
  expect_count "$size" "$u/assets?fields=asset_id&limit=$((size + 10))"
  expect_count 10 "$u/query/by-type/probe"
  expect_count 10 "$u/query/by-tag/probe-tag"
  expect_count 10 "$u/query/by-api-route/api/v1/probe/infer"
  expect_count 10 "$u/query/search" "$SEARCH_TYPE"
  expect_count 10 "$u/query/search" "$SEARCH_RANGE"
  expect_count 10 "$u/query/by-type/model?limit=10"
  run_wrk query by-type-probe "$size" "" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
    "$u/query/by-type/probe"
  run_wrk query by-tag-probe "$size" "" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
    "$u/query/by-tag/probe-tag"
  run_wrk query by-api-route-probe "$size" "" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
    "$u/query/by-api-route/api/v1/probe/infer"
  SEARCH_BODY=$SEARCH_TYPE run_wrk query search-type-probe "$size" "" 5 "${WRK_Q[@]}" \
    -s "$BENCH/search.lua" "$u/query/search"
  SEARCH_BODY=$SEARCH_RANGE run_wrk query search-params-range "$size" "" 5 "${WRK_Q[@]}" \
    -s "$BENCH/search.lua" "$u/query/search"
  run_wrk query by-type-common-limit10 "$size" "" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
    "$u/query/by-type/model?limit=10"
  mem assetd-B "queries_at_$size" "$size" "$B_PID"
}

# sequence numbers: 1..990, 991..9990, 9991..99990 (+ the 10 probes)
load "$B_URL" asset 990 0 10 "fill-to-1k"
measure_queries 1000
load "$B_URL" asset 9000 990 1000 "fill-to-10k"
measure_queries 10000
load "$B_URL" asset 90000 9990 10000 "fill-to-100k"
measure_queries 100000
data_size 100000 "$TMP/data-b"
stop_assetd "$TMP/assetd-b.log"

# ----------------------------------------------------------------- report --
fact runtime_s $((SECONDS - START_S))
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
fact steal_pct "$(awk -v st=$((st1 - st0)) \
  -v all=$((u1 + n1 + s1 + i1 + w1 + q1 + sq1 + st1 - u0 - n0 - s0 - i0 - w0 - q0 - sq0 - st0)) \
  'BEGIN { printf "%.1f", all ? 100 * st / all : 0 }')"
fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
REPORT=$OUT/report-$STAMP.md
python3 "$BENCH/benchlib.py" report "$RESULTS" "$FACTS" >"$REPORT"
cp "$TMP/wrk-all.log" "$OUT/wrk-$STAMP.log"
cat "$REPORT"
log "done in $((SECONDS - START_S)) s; report in ${REPORT#"$ROOT"/}"
