# lib.sh — what every benchmark script shares; sourced, not run.
#
# Set BENCH_NAME (the script's name, shown in log lines and failures)
# before sourcing. Gives:
#   log MSG...            a timestamped progress line on stderr
#   die MSG...            "NAME: FAIL: MSG" on stderr, exit 1
#   stop_pid PID [SECS]   SIGTERM, up to SECS (default 15) to exit, then SIGKILL
#   bench_build ROOT BUILD [CMAKE ARGS...]
#                         a Release build of assetd in BUILD; a build
#                         directory configured from another source tree (an
#                         old worktree or clone) is removed first, since
#                         CMake refuses to reuse it. Build output goes to
#                         BUILD/bench-build.log, shown on failure.

log() { printf '[%s %s] %s\n' "${BENCH_NAME:-bench}" "$(date +%T)" "$*" >&2; }
die() { printf '%s: FAIL: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; exit 1; }

stop_pid() {
  local pid=$1 secs=${2:-15} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

bench_build() {
  local root=$1 build=$2 home
  shift 2
  if [ -f "$build/CMakeCache.txt" ]; then
    home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
    if [ -n "$home" ] && [ "$(realpath -m "$home")" != "$(realpath -m "$root")" ]; then
      log "removing $build: it was configured from $home"
      rm -rf "$build"
    fi
  fi
  mkdir -p "$build"
  { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" &&
      cmake --build "$build" -j"$(nproc)" --target assetd; } >"$build/bench-build.log" 2>&1 ||
    { cat "$build/bench-build.log" >&2; die "build failed"; }
}
