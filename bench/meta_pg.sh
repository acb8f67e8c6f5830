#!/usr/bin/env bash
# meta_pg.sh — by-id and search throughput of assetd on the PostgreSQL meta
# store beside the embedded SQLite one: the same data, the same requests,
# the same load tool (wrk with bench/'s Lua scripts) as bench/bench.sh.
#
#   bench/meta_pg.sh [N]      N assets (default 10 000: 10 probes + N-10)
#
# Builds assetd (Release, build-bench/), starts PostgreSQL 15 with
# scripts/servers/postgres.sh in a temporary directory and two assetd on
# 127.0.0.1: one with --meta sqlite (its --data dir), one with
# --meta postgresql://…?schema=bench. Both get the same N assets through
# POST /assets, then every query runs on one and then the other, twice
# (best of 2). The server CPU per request counts assetd plus, for
# PostgreSQL, every postgres process. Writes the Markdown report to
# docs/backends/postgresql-bench.md, between its "bench/meta_pg.sh" markers
# (and the whole report to bench/out/). Everything it starts
# is stopped on exit, failure included. ~6 min.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=meta_pg
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BENCH=$ROOT/bench
BUILD=$ROOT/build-bench
OUT=$BENCH/out
DOC=$ROOT/docs/backends/postgresql-bench.md
N=${1:-10000}
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
export BENCH_DIR=$BENCH
CLK_TCK=$(getconf CLK_TCK)

[ "$N" -ge 100 ] || die "N must be at least 100"

TMP=$(mktemp -d /tmp/assetd-bench-pg.XXXXXX)
RESULTS=$TMP/results.txt
: >"$RESULTS"
PIDS=()
PG_STARTED=


cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  [ -n "$PG_STARTED" ] && bash "$ROOT/scripts/servers/postgres.sh" stop "$TMP/pg" || true
  if [ "$rc" -ne 0 ]; then
    mkdir -p "$OUT/failed-pg-$STAMP"
    cp "$TMP"/*.log "$TMP"/*.txt "$OUT/failed-pg-$STAMP/" 2>/dev/null || true
    log "failed (exit $rc); logs kept in bench/out/failed-pg-$STAMP/"
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

freeport() { python3 "$BENCH/benchlib.py" freeport; }
count() { python3 "$BENCH/benchlib.py" count "$@"; }
fact() { echo "fact $1=$2" >>"$RESULTS"; }

cpu_ticks() { # user+system CPU ticks of the PIDs (gone ones count 0)
  local s=0 pid t
  for pid in "$@"; do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || t=0
    s=$((s + t))
  done
  echo "$s"
}

pg_pids() { # the postmaster and its children (backends, walwriter, …)
  local pm
  pm=$(head -1 "$TMP/pg/data/postmaster.pid")
  echo "$pm $(python3 "$BENCH/benchlib.py" children "$pm" | tr '\n' ' ')"
}

server_pids() { # server_pids sqlite|pg
  if [ "$1" = sqlite ]; then echo "$S_PID"; else echo "$P_PID $(pg_pids)"; fi
}

# start_assetd NAME DATA_DIR [args…]: sets ASSETD_PID and ASSETD_URL
start_assetd() {
  local name=$1 data=$2 port i
  shift 2
  port=$(freeport)
  "$BUILD/assetd" --listen "127.0.0.1:$port" --data "$data" --access-log off "$@" \
    2>"$TMP/assetd-$name.log" &
  ASSETD_PID=$!
  PIDS+=("$ASSETD_PID")
  ASSETD_URL=http://127.0.0.1:$port
  for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null --max-time 1 "$ASSETD_URL/readyz" && return 0
    kill -0 "$ASSETD_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/assetd-$name.log" >&2
  die "assetd $name did not become ready"
}

# run_wrk BACKEND LABEL ROUND DURATION wrk-args…: one RESULT line, plus
# the servers' CPU per request
run_wrk() {
  local backend=$1 label=$2 round=$3 dur=$4 f res c0 c1 n pids
  shift 4
  pids=$(server_pids "$backend")
  f=$TMP/wrk-$backend-$label-$round.log
  # shellcheck disable=SC2086
  c0=$(cpu_ticks $pids)
  timeout --foreground --signal=KILL $((dur + 30)) wrk "$@" >"$f" 2>&1 ||
    { cat "$f" >&2; die "wrk failed: $*"; }
  pids="$pids $(server_pids "$backend")" # backends started during the run
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $(tr ' ' '\n' <<<"$pids" | sort -u))
  res=$(grep '^RESULT ' "$f") || { cat "$f" >&2; die "no RESULT from wrk: $*"; }
  res=${res#RESULT }
  [[ " $res " == *" non2xx=0 "* ]] || { cat "$f" >&2; die "$backend $label: non-2xx answers"; }
  [[ " $res " == *" sock_errors=0 "* ]] || { cat "$f" >&2; die "$backend $label: socket errors"; }
  n=$(sed -E 's/^requests=([0-9]+) .*/\1/' <<<"$res")
  res="$res cpu_us_per_req=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" \
    'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')"
  echo "wrk backend=$backend label=$label round=$round $res" >>"$RESULTS"
  log "$backend $label (round $round): $res"
}

# load BACKEND URL KIND COUNT: COUNT assets (sequence numbers 1..COUNT)
load() {
  local backend=$1 url=$2 kind=$3 n=$4 bound conns=64
  bound=$((30 + n / 100))
  [ "$n" -lt "$conns" ] && conns=$n
  rm -rf "$TMP/sync" && mkdir "$TMP/sync"
  LOAD_COUNT=$n LOAD_BASE=0 LOAD_THREADS=2 LOAD_KIND=$kind LOAD_SYNC_DIR=$TMP/sync \
    run_wrk "$backend" "create-$kind" 1 "$bound" -t2 -c"$conns" -d"${bound}s" --latency \
    -s "$BENCH/load.lua" "$url/"
  ! grep -qv ' failed=0 ' "$TMP"/sync/done.* || die "$backend: answers other than 201 Created"
}

# ------------------------------------------------------------------ setup --
mkdir -p "$OUT" "$(dirname "$DOC")"
bash "$ROOT/scripts/install-deps.sh" bench
for tool in wrk curl python3 cmake; do
  command -v "$tool" >/dev/null || die "$tool not found after install-deps.sh"
done
log "building assetd (Release) into build-bench/"
bench_build "$ROOT" "$BUILD"

log "starting PostgreSQL (scripts/servers/postgres.sh)"
PG_STARTED=1
chmod a+x "$TMP" # the server runs as the user postgres when we are root
pg_env=$(bash "$ROOT/scripts/servers/postgres.sh" start "$TMP/pg") || die "PostgreSQL did not start"
eval "$pg_env"
PG_URL="$ASSETD_TEST_PG_URL?schema=bench"

fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
fact loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
fact nproc "$(nproc)"
fact cpu "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
fact commit "$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
fact postgres "$(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}')"
fact sqlite "$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null || echo '?')"
fact libpq "$(dpkg-query -W -f='${Version}' libpq5 2>/dev/null || echo '?')"
fact wrk "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
fact assets "$N"

start_assetd sqlite "$TMP/data-sqlite"
S_URL=$ASSETD_URL S_PID=$ASSETD_PID
start_assetd pg "$TMP/data-pg" --meta "$PG_URL"
P_URL=$ASSETD_URL P_PID=$ASSETD_PID
log "assetd sqlite $S_URL (pid $S_PID), assetd postgresql $P_URL (pid $P_PID)"

# --------------------------------------------------------------- the data --
for b in sqlite pg; do
  url=$S_URL
  [ "$b" = pg ] && url=$P_URL
  log "$b: loading 10 probes and $((N - 10)) assets"
  load "$b" "$url" probe 10
  load "$b" "$url" asset $((N - 10))
  [ "$(count "$url/assets?fields=asset_id&limit=$((N + 10))")" = "$N" ] ||
    die "$b does not hold $N assets"
done

# autovacuum would vacuum and analyze the new rows within a minute or two;
# do it now, so the planner knows the tables (assets, and the value table
# its trigger fills) and no autovacuum runs (and is counted) during the
# measurements
/usr/lib/postgresql/15/bin/psql -qX "$ASSETD_TEST_PG_URL" \
  -c "VACUUM (ANALYZE) bench.assets, bench.asset_values" \
  >/dev/null || die "VACUUM failed"

# -------------------------------------------------------------- the runs --
HOT_ID=asset-$(printf '%07d' $((N / 2)))
SEARCH_TYPE='{"profiles.asset_type": "probe"}'
SEARCH_RANGE='{"profiles.asset_metadata.params": {"$gte": 500, "$lt": 510}}'
SEARCH_REGEX='{"asset_id": {"$regex": "probe-0[0-4]$"}}'
# check_same PATH [BODY]: both stores give the same documents (as a set: the
# creation order of concurrently loaded assets differs between the stores)
check_same() {
  local a b
  a=$(curl -sf ${2:+-H 'Content-Type: application/json' -d "$2"} "$S_URL$1") || die "sqlite $1"
  b=$(curl -sf ${2:+-H 'Content-Type: application/json' -d "$2"} "$P_URL$1") || die "pg $1"
  python3 -c 'import json, sys
def docs(t):
    d = json.loads(t)["data"]
    return sorted(json.dumps(x, sort_keys=True) for x in (d if isinstance(d, list) else [d]))
sys.exit(docs(sys.argv[1]) != docs(sys.argv[2]))' "$a" "$b" ||
    die "the stores answer $1 ${2:-} differently"
}
check_same "/query/by-id/$HOT_ID"
check_same /query/by-type/probe
check_same /query/by-tag/probe-tag
check_same /query/by-api-route/api/v1/probe/infer
check_same /query/search "$SEARCH_TYPE"
check_same /query/search "$SEARCH_RANGE"
check_same /query/search "$SEARCH_REGEX"
[ "$(count "$S_URL/query/by-type/model?limit=10")" = 10 ] &&
  [ "$(count "$P_URL/query/by-type/model?limit=10")" = 10 ] || die "by-type/model?limit=10"
log "both stores give the same answers"

WRK_ID=(-t2 -c64 -d10s --latency)
WRK_Q=(-t2 -c8 -d5s --latency --timeout 10s)
for b in sqlite pg; do # warm-up
  url=$S_URL
  [ "$b" = pg ] && url=$P_URL
  run_wrk "$b" warmup 0 2 -t2 -c64 -d2s -s "$BENCH/get.lua" "$url/query/by-id/$HOT_ID"
done
for round in 1 2; do
  for b in sqlite pg; do
    url=$S_URL
    [ "$b" = pg ] && url=$P_URL
    run_wrk "$b" by-id-hot "$round" 10 "${WRK_ID[@]}" -s "$BENCH/get.lua" \
      "$url/query/by-id/$HOT_ID"
    BYID_COUNT=$((N - 10)) run_wrk "$b" by-id-random "$round" 10 "${WRK_ID[@]}" \
      -s "$BENCH/byid_random.lua" "$url/"
    run_wrk "$b" by-type-probe "$round" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
      "$url/query/by-type/probe"
    run_wrk "$b" by-tag-probe "$round" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
      "$url/query/by-tag/probe-tag"
    run_wrk "$b" by-api-route-probe "$round" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
      "$url/query/by-api-route/api/v1/probe/infer"
    SEARCH_BODY=$SEARCH_TYPE run_wrk "$b" search-type-probe "$round" 5 "${WRK_Q[@]}" \
      -s "$BENCH/search.lua" "$url/query/search"
    SEARCH_BODY=$SEARCH_RANGE run_wrk "$b" search-params-range "$round" 5 "${WRK_Q[@]}" \
      -s "$BENCH/search.lua" "$url/query/search"
    SEARCH_BODY=$SEARCH_REGEX run_wrk "$b" search-regex-scan "$round" 10 \
      -t1 -c1 -d10s --latency --timeout 20s -s "$BENCH/search.lua" "$url/query/search"
    run_wrk "$b" by-type-common-limit10 "$round" 5 "${WRK_Q[@]}" -s "$BENCH/get.lua" \
      "$url/query/by-type/model?limit=10"
  done
done
fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
for b in sqlite pg; do grep -q 'level=error' "$TMP/assetd-$b.log" &&
  { cat "$TMP/assetd-$b.log" >&2; die "assetd $b logged errors"; }
done

# ----------------------------------------------------------------- report --
python3 - "$RESULTS" "$N" >"$TMP/report.md" <<'PY'
import sys

facts, runs = {}, []
for line in open(sys.argv[1]):
    kind, _, rest = line.strip().partition(" ")
    if kind == "fact":
        k, _, v = rest.partition("=")
        facts[k] = v
    elif kind == "wrk":
        runs.append(dict(kv.split("=", 1) for kv in rest.split()))
n = int(sys.argv[2])

def best(backend, label):
    rs = [r for r in runs if r["backend"] == backend and r["label"] == label]
    return max(rs, key=lambda r: float(r["rps"])) if rs else None

rows = [
    ("by-id-hot", "GET /query/by-id/<one id>", "-c64"),
    ("by-id-random", "GET /query/by-id/<random id>", "-c64"),
    ("by-type-probe", "GET /query/by-type/probe (10 hits)", "-c8"),
    ("by-tag-probe", "GET /query/by-tag/probe-tag (10 hits)", "-c8"),
    ("by-api-route-probe", "GET /query/by-api-route/api/v1/probe/infer (10 hits)", "-c8"),
    ("search-type-probe", 'POST /query/search {"profiles.asset_type": "probe"} (10)', "-c8"),
    ("search-params-range", 'POST /query/search {"profiles.asset_metadata.params": '
     '{"$gte": 500, "$lt": 510}} (10)', "-c8"),
    ("search-regex-scan", 'POST /query/search {"asset_id": {"$regex": "probe-0[0-4]$"}} '
     '(5; evaluated on every document by both stores)', "-c1"),
    ("by-type-common-limit10", "GET /query/by-type/model?limit=10 (10 of ~6.7 %)", "-c8"),
]
ms = lambda us: "%.2f" % (int(us) / 1000)
print("Measured by `bench/meta_pg.sh` on %s; %s assets in each store (the same "
      "ones, created through `POST /assets`), assetd Release build, wrk -t2, loopback. "
      "Best of 2 runs, the two stores alternating. CPU is the servers' user+system time "
      "per request: assetd, plus every postgres process for PostgreSQL.\n"
      % (facts.get("date", "?"), f"{n:,}".replace(",", " ")))
print("| query | conns | SQLite req/s | PostgreSQL req/s | PG / SQLite | p50 ms SQLite / PG "
      "| p99 ms SQLite / PG | CPU µs/req SQLite / PG |")
print("|---|---|---:|---:|---:|---|---|---|")
for label, what, conns in rows:
    s, p = best("sqlite", label), best("pg", label)
    if not s or not p:
        continue
    ratio = float(p["rps"]) / float(s["rps"]) if float(s["rps"]) else 0
    print(f"| {what} | {conns} | {float(s['rps']):,.0f} | {float(p['rps']):,.0f} | "
          f"{ratio:.2f}× | {ms(s['p50_us'])} / {ms(p['p50_us'])} | "
          f"{ms(s['p99_us'])} / {ms(p['p99_us'])} | "
          f"{s['cpu_us_per_req']} / {p['cpu_us_per_req']} |")
for b, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
    c = [r for r in runs if r["backend"] == b and r["label"] == "create-asset"]
    if c:
        print(f"\nCreating the {int(c[0]['requests']):,} assets (`POST /assets`, wrk -c64) on "
              f"{name}: {float(c[0]['rps']):,.0f} creates/s, p99 {ms(c[0]['p99_us'])} ms.",
              end="")
print(" (PostgreSQL ran with fsync=off and synchronous_commit=off — the test "
      "server's settings — so its create rate is not a durable one; the reads are "
      "unaffected.)\n")
print("Machine: %s, %s CPUs; load average %s at the start, %s at the end (the machine is "
      "shared, so figures move between runs). PostgreSQL %s (Debian), libpq %s, SQLite %s, "
      "wrk %s; commit %s.\n" % (facts.get("cpu"), facts.get("nproc"),
      facts.get("loadavg_start"), facts.get("loadavg_end"), facts.get("postgres"),
      facts.get("libpq"), facts.get("sqlite"), facts.get("wrk"), facts.get("commit")))
PY
cp "$TMP/report.md" "$OUT/meta-pg-$STAMP.md"
# the figures go between the markers of the doc; the prose around them stays
python3 - "$DOC" "$TMP/report.md" <<'PY'
import os, sys
doc, fig = sys.argv[1], open(sys.argv[2]).read()
begin, end = "<!-- bench/meta_pg.sh: begin -->\n", "<!-- bench/meta_pg.sh: end -->\n"
text = open(doc).read() if os.path.exists(doc) else begin + end
if begin not in text or end not in text:
    text = text.rstrip("\n") + "\n\n" + begin + end
head, rest = text.split(begin, 1)
tail = rest.split(end, 1)[1]
open(doc, "w").write(head + begin + fig + end + tail)
PY
cat "$TMP/report.md"
log "report in ${DOC#"$ROOT"/} and bench/out/meta-pg-$STAMP.md"
