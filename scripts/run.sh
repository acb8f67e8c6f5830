#!/usr/bin/env bash
# run.sh — installs what assetd needs, builds it, and runs it on its
# embedded defaults: SQLite metadata and files under ./data, listening on
# 127.0.0.1:8080 and 127.0.0.1:8081. Extra arguments go to assetd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec ./build/assetd --data ./data "$@"
