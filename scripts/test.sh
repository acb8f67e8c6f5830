#!/usr/bin/env bash
# test.sh — installs what the tests need, builds assetd with AddressSanitizer
# and UndefinedBehaviorSanitizer (a leak fails the run), runs the C unit
# tests (CTest), the fuzz targets for a bounded time (tests/fuzz/run.sh;
# FUZZ_SECONDS per target, default 30) and then the end-to-end tests
# (pytest) against real assetd processes started on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test

build=build-test
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DASSETD_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# Servers the tests talk to, each started by scripts/servers/<name>.sh in a
# temporary directory on 127.0.0.1 and stopped on exit (CLEANUP runs in
# order; add a server with one more start block).
CLEANUP=()
cleanup() {
  local c
  for c in "${CLEANUP[@]}"; do eval "$c" || true; done
}
trap cleanup EXIT

# --- PostgreSQL (meta store: tests/unit/test_meta_pg.c) ---
PG_DIR=$(mktemp -d /tmp/assetd-test-pg.XXXXXX)
CLEANUP+=("bash '$PWD/scripts/servers/postgres.sh' stop '$PG_DIR'; rm -rf '$PG_DIR'")
pg_env=$(bash scripts/servers/postgres.sh start "$PG_DIR") # ASSETD_TEST_PG_URL, _DIR
eval "$pg_env"
echo "PostgreSQL for the tests: $ASSETD_TEST_PG_URL"
# --- end PostgreSQL ---

echo "== unit tests (CTest) =="
(cd "$build" && ctest --output-on-failure)

echo "== fuzz targets (libFuzzer, clang; ${FUZZ_SECONDS:-30} s each) =="
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"

echo "== graphql-js for the GraphQL conformance test (npm ci in tests/graphql) =="
(cd tests/graphql && npm ci --no-audit --no-fund)

echo "== end-to-end tests (pytest) =="
export ASSETD_BIN="$PWD/$build/assetd" ASSETCTL_BIN="$PWD/$build/assetctl"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e "$@"
