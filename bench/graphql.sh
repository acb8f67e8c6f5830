#!/usr/bin/env bash
# graphql.sh — the GraphQL benchmark: requests/s of
#   POST /graphql  { getAssetById(assetId: …) { five fields } }
# side by side with REST GET /query/by-id/<id> on the same data, and the
# ratio GraphQL / REST (target: >= 0.5).
#
# Builds assetd (Release) into build-bench-graphql/, starts it on a free
# loopback port with a temporary data directory, loads ASSETS assets
# (default 1000, ~2 KB each), checks both requests answer the same asset,
# then runs wrk (-t2 -c64, DURATION seconds, default 10) alternately:
# REST, GraphQL, REST, GraphQL, ... (ROUNDS rounds, default 3); the best
# run of each side counts. A third
# row, POST /graphql { __typename } (no store access), shows what the POST
# transport alone costs. Prints a
# Markdown table and writes it to bench/out/graphql-<date>.md. Not a test:
# it asserts nothing about speed, only that every answer was a 200.
# Every process it starts is stopped on exit. Takes about two minutes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=graphql-bench
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BUILD=$ROOT/build-bench-graphql
OUT=$ROOT/bench/out
ASSETS=${ASSETS:-1000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
TMP=$(mktemp -d /tmp/assetd-gql-bench.XXXXXX)
ASSETD_PID=


cleanup() {
  local rc=$?
  if [ -n "$ASSETD_PID" ]; then
    kill -TERM "$ASSETD_PID" 2>/dev/null || true
    wait "$ASSETD_PID" 2>/dev/null || true
  fi
  [ "$rc" -ne 0 ] && [ -f "$TMP/assetd.log" ] && tail -20 "$TMP/assetd.log" >&2
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$ROOT/scripts/install-deps.sh" bench
for tool in wrk curl python3 cmake; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

log "building assetd (Release) into build-bench-graphql/"
bench_build "$ROOT" "$BUILD"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$BUILD/assetd" --listen "127.0.0.1:$PORT" --data "$TMP/data" --access-log off \
  2>"$TMP/assetd.log" &
ASSETD_PID=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null --max-time 1 "$URL/healthz" && break
  kill -0 "$ASSETD_PID" 2>/dev/null || die "assetd exited at startup"
  sleep 0.1
done
curl -sf -o /dev/null "$URL/healthz" || die "assetd did not answer"

log "loading $ASSETS assets"
python3 - "$URL" "$ASSETS" <<'PY' || die "loading failed"
import json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    aid = f"bench-{i:06d}"
    asset = {
        "asset_id": aid, "asset_uri": f"models://bench.example.com/{aid}",
        "asset_version": f"v{i % 7}", "asset_profile_id": f"{aid}-p",
        "asset_file_ids": [f"{aid}-f{j}" for j in range(3)],
        "asset_brief_description": f"Benchmark asset number {i}, a model of moderate size.",
        "profiles": [{"asset_profile_id": f"{aid}-p", "asset_type": "model",
                      "asset_sub_type": "llm", "asset_id": aid,
                      "asset_tags": ["bench", f"group-{i % 20}"],
                      "asset_metadata": {"framework": "pytorch", "params": 7000000000 + i,
                                         "license": "apache-2.0", "notes": "x" * 200}}],
        "files": [{"asset_file_id": f"{aid}-f{j}", "asset_file_type": "weights",
                   "asset_file_mime_type": "application/octet-stream",
                   "asset_file_url": f"s3://bench/{aid}/f{j}"} for j in range(3)],
        "apis": [{"asset_api_id": f"{aid}-api", "asset_id": aid,
                  "asset_api_route": f"/api/v1/{aid}", "asset_api_protocol": "http"}],
        "policies": [], "index_mappings": [],
    }
    req = urllib.request.Request(url + "/assets", data=json.dumps(asset).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 201, r.status
PY

ID=bench-$(printf '%06d' $((ASSETS / 2)))
QUERY="{ getAssetById(assetId: \\\"$ID\\\") { assetId assetUri assetVersion assetProfileId assetBriefDescription } }"
BODY="{\"query\": \"$QUERY\"}"
FLOOR_BODY='{"query": "{ __typename }"}'
REST_BYTES=$(curl -sf "$URL/query/by-id/$ID" | wc -c)
GQL_ANSWER=$(curl -sf -X POST "$URL/graphql" -H 'Content-Type: application/json' -d "$BODY")
GQL_BYTES=${#GQL_ANSWER}
python3 - "$GQL_ANSWER" "$ID" <<'PY' || die "the GraphQL answer is wrong: $GQL_ANSWER"
import json, sys
d = json.loads(sys.argv[1])
assert "errors" not in d and d["data"]["getAssetById"]["assetId"] == sys.argv[2], d
assert len(d["data"]["getAssetById"]) == 5
PY

# run SIDE: one wrk run; prints requests/s, p50 ms, p99 ms
run() {
  local side=$1 f=$TMP/wrk-$1-$RANDOM.log rps
  if [ "$side" = rest ]; then
    GQL_BODY= timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
      -s "$ROOT/bench/graphql.lua" "$URL/query/by-id/$ID" >"$f" 2>&1 || { cat "$f" >&2; die "wrk failed"; }
  elif [ "$side" = floor ]; then
    GQL_BODY=$FLOOR_BODY timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
      -s "$ROOT/bench/graphql.lua" "$URL/graphql" >"$f" 2>&1 || { cat "$f" >&2; die "wrk failed"; }
  else
    GQL_BODY=$BODY timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
      -s "$ROOT/bench/graphql.lua" "$URL/graphql" >"$f" 2>&1 || { cat "$f" >&2; die "wrk failed"; }
  fi
  grep -q '^BAD 0$' "$f" || { cat "$f" >&2; die "$side: answers other than 200"; }
  ! grep -q 'Socket errors' "$f" || { cat "$f" >&2; die "$side: socket errors"; }
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
  echo "$rps $(python3 - "$f" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
print("%.2f %.2f" % (ms("50"), ms("99")))
PY
)"
}

log "wrk -t$THREADS -c$CONNS -d${DURATION}s, alternating REST and GraphQL, $ROUNDS runs each"
best_rest="0 0 0" best_gql="0 0 0" best_floor="0 0 0"
for round in $(seq "$ROUNDS"); do
  r=$(run rest); log "round $round REST:    $r"
  g=$(run graphql); log "round $round GraphQL: $g"
  t=$(run floor); log "round $round __typename: $t"
  awk -v a="${r%% *}" -v b="${best_rest%% *}" 'BEGIN { exit !(a > b) }' && best_rest=$r
  awk -v a="${g%% *}" -v b="${best_gql%% *}" 'BEGIN { exit !(a > b) }' && best_gql=$g
  awk -v a="${t%% *}" -v b="${best_floor%% *}" 'BEGIN { exit !(a > b) }' && best_floor=$t
done

read -r rest_rps rest_p50 rest_p99 <<<"$best_rest"
read -r gql_rps gql_p50 gql_p99 <<<"$best_gql"
read -r floor_rps floor_p50 floor_p99 <<<"$best_floor"
ratio=$(awk -v g="$gql_rps" -v r="$rest_rps" 'BEGIN { printf "%.2f", g / r }')
mkdir -p "$OUT"
REPORT=$OUT/graphql-$STAMP.md
{
  echo "### GraphQL getAssetById vs REST GET /query/by-id ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "$(nproc) CPUs; assetd Release, default threads, access log off; $ASSETS assets (~2 KB each);"
  echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, best of $ROUNDS alternating runs; response bodies: REST $REST_BYTES bytes, GraphQL $GQL_BYTES bytes."
  echo
  echo "| request | requests/s | p50 ms | p99 ms |"
  echo "|---|---:|---:|---:|"
  echo "| REST \`GET /query/by-id/$ID\` | $rest_rps | $rest_p50 | $rest_p99 |"
  echo "| GraphQL \`getAssetById\`, 5 fields | $gql_rps | $gql_p50 | $gql_p99 |"
  echo "| GraphQL \`{ __typename }\` (POST, no store access) | $floor_rps | $floor_p50 | $floor_p99 |"
  echo
  echo "GraphQL / REST = **$ratio** (target >= 0.5)"
} | tee "$REPORT"
log "report written to bench/out/$(basename "$REPORT")"
awk -v x="$ratio" 'BEGIN { exit !(x < 0.5) }' && log "WARNING: below the 0.5 target"
exit 0
