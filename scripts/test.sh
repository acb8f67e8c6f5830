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

# --- Ceph RGW (S3 blob store tests): scripts/servers/ceph.sh -----------
# on_exit: cleanup functions run on EXIT, shared by every server block
declare -p on_exit >/dev/null 2>&1 || {
  on_exit=()
  trap 'for f in "${on_exit[@]}"; do "$f" || true; done' EXIT
}
ceph_dir=$(mktemp -d /tmp/assetd-ceph-XXXXXX)
stop_ceph() { bash scripts/servers/ceph.sh stop "$ceph_dir"; rm -rf "$ceph_dir"; }
on_exit+=(stop_ceph)
eval "$(bash scripts/servers/ceph.sh start "$ceph_dir")"
# --- end Ceph RGW --------------------------------------------------------

echo "== unit tests (CTest) =="
(cd "$build" && ctest --output-on-failure)

echo "== fuzz targets (libFuzzer, clang; ${FUZZ_SECONDS:-30} s each) =="
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"

echo "== graphql-js for the GraphQL conformance test (npm ci in tests/graphql) =="
(cd tests/graphql && npm ci --no-audit --no-fund)

echo "== end-to-end tests (pytest) =="
export ASSETD_BIN="$PWD/$build/assetd" ASSETCTL_BIN="$PWD/$build/assetctl"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e "$@"
