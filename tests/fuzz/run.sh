#!/usr/bin/env bash
# run.sh — builds the libFuzzer targets of tests/fuzz with clang
# (-fsanitize=fuzzer,address,undefined; CMake option ASSETD_FUZZ, build
# directory build-fuzz/) and runs each for a bounded time.
#
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]   # default 30 s, every target
#   bash tests/fuzz/run.sh 600 graphql             # one target, 10 minutes
#
# For each target it first replays tests/fuzz/regressions/<name>/ (inputs
# that once crashed), then fuzzes from the committed seed corpus
# tests/fuzz/corpus/<name>/ plus a working corpus kept in
# build-fuzz/fuzz-corpus/<name>/ (new inputs go there, so later runs start
# from what earlier ones found; the committed corpus is never written).
# A crash, an assertion, undefined behaviour, a leak, a timeout (-timeout=10
# per input) or running out of memory (-rss_limit_mb=2048) fails the run;
# the input is saved in build-fuzz/fuzz-artifacts/<name>/ and its replay
# command printed. Keep such an input as a regression once fixed:
#   cp build-fuzz/fuzz-artifacts/<name>/crash-... tests/fuzz/regressions/<name>/
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-30}
shift || true
case "$secs" in '' | *[!0-9]*) echo "run.sh: SECONDS must be a number" >&2; exit 64 ;; esac

all=()
for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; all+=("${n%.c}"); done
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")

# The longest input each target is given: about what the server accepts.
max_len() {
  case "$1" in
    json) echo 1048576 ;;         # the server's default body cap (--max-body)
    filter) echo 65536 ;;
    graphql) echo 69632 ;;        # 64 KiB query + variables
    router) echo 8192 ;;          # a request target
    multipart) echo 196608 ;;     # several 64 KiB parser windows
    archive_rules) echo 2048 ;;   # entry names are at most 900 bytes
    s3_xml) echo 65536 ;;         # S3 answers (the adapter reads up to 1 MiB)
    webhook) echo 65536 ;;        # service answers (bounded by --webhook-max-response)
    *) echo 65536 ;;
  esac
}

command -v clang >/dev/null 2>&1 || {
  echo "run.sh: clang is missing (bash scripts/install-deps.sh test installs it)" >&2
  exit 1
}

build=build-fuzz
echo "== fuzz: building the targets (clang, libFuzzer + ASan + UBSan) into $build/ =="
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASSETD_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS_EXTRA:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Targets that need files (the GraphQL target's SQLite registry) make them
# under TMPDIR, a directory of this run's own.
TMPDIR=$(mktemp -d "$PWD/$build/tmp.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
  bin=$build/fuzz_$t
  [ -x "$bin" ] || { echo "run.sh: no target '$t' (have: ${all[*]})" >&2; exit 64; }
  seeds=tests/fuzz/corpus/$t
  work=$build/fuzz-corpus/$t
  arts=$build/fuzz-artifacts/$t
  log=$build/fuzz-$t.log
  mkdir -p "$work" "$arts"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  opts=(-timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -max_len="$(max_len "$t")"
        -artifact_prefix="$arts/" "${dict[@]}")

  regs=()
  if [ -d "tests/fuzz/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regs+=("$f"); done \
      < <(find "tests/fuzz/regressions/$t" -type f ! -name '*.md' -print0 | sort -z)
  fi
  if [ "${#regs[@]}" -gt 0 ]; then
    echo "== fuzz $t: replaying ${#regs[@]} regression input(s) =="
    if ! "$bin" "${opts[@]}" -runs=1 "${regs[@]}" >"$log.regressions" 2>&1; then
      tail -n 40 "$log.regressions"
      echo "FAIL fuzz $t: a regression input fails again (log: $log.regressions)"
      failed+=("$t(regression)")
      summary+=("FAIL $t: a regression input fails again")
      continue
    fi
  fi

  echo "== fuzz $t: ${secs}s, max_len $(max_len "$t") =="
  rc=0
  "$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$work" "$seeds" \
    >"$log" 2>&1 || rc=$?
  last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse|RELOAD)' "$log" |
         tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  line=$(printf '%-14s %10s execs %7s exec/s  cov %5s  ft %6s  corpus %s' "$t" "${execs:-?}" \
         "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR: |SUMMARY: |invariant failed|changed the outcome|runtime error' "$log" |
      head -n 5 || true
    art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "FAIL fuzz $t (exit $rc; log: $log)"
    [ -n "$art" ] && echo "  input: $art — replay: $bin $art"
    failed+=("$t")
    summary+=("FAIL $line")
  else
    summary+=("ok   $line")
  fi
done

echo "== fuzz summary (${secs}s per target) =="
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) passed"
