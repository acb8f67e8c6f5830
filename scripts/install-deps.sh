#!/usr/bin/env bash
# install-deps.sh — installs, from Debian 12's packages, everything assetd
# needs to build and run (default), to test ("test") or to benchmark
# ("bench"). Run as root. Skips apt entirely when everything is present.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev
            libpcre2-dev libcurl4-openssl-dev zlib1g-dev
            libarchive-dev libssl-dev libmagic-dev # zip reading, SHA-256, MIME (ZIP upload)
            libdeflate-dev # CRC-32 of stored files (5x zlib's on this hardware)
            libpq-dev # the PostgreSQL meta store (libpq)
            libmongoc-dev libbson-dev # the MongoDB meta store
            libhiredis-dev # the Redis job store
            libyaml-dev) # assetctl's YAML manifests (apply, get -o yaml)
# the four zip readers every ZIP download is checked with
test_pkgs=(python3 python3-pytest python3-requests curl nodejs unzip p7zip-full libarchive-tools
           zip # zip (Info-ZIP) writes upload test archives
           python3-yaml # reads assetctl's YAML output (tests/e2e/test_assetctl_manifests.py)
           openssl # makes the CA and server certificate of the TLS tests
           redis-server # the Redis job store's tests (scripts/servers/redis.sh; brings redis-tools)
           # the fuzz targets (tests/fuzz): clang with its sanitizer and libFuzzer
           # runtimes (libclang-rt-14-dev is only a Recommends of clang-14), and
           # llvm for llvm-symbolizer (readable stack traces)
           clang libclang-rt-14-dev llvm
           # the PostgreSQL server the meta store tests run against
           # (scripts/servers/postgres.sh)
           postgresql
           # Ceph RGW for the S3 blob store tests (scripts/servers/ceph.sh)
           ceph-mon ceph-osd radosgw ceph-common)
# npm, for graphql-js (tests/graphql); a nodejs package that ships npm itself
# (NodeSource's) conflicts with Debian's separate npm package
command -v npm >/dev/null 2>&1 || test_pkgs+=(npm)
bench_pkgs=(wrk nginx-light sqlite3 curl python3 zip postgresql) # postgresql: bench/meta_pg.sh

pkgs=("${build_pkgs[@]}")
for what in "$@"; do
  case "$what" in
    run) ;;
    test) pkgs+=("${test_pkgs[@]}") ;;
    bench) pkgs+=("${bench_pkgs[@]}") ;;
    *) echo "install-deps.sh: unknown set '$what' (run, test, bench)" >&2; exit 64 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: these packages are missing and installing them needs root: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
