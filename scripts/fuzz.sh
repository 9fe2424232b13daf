#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ one after another, each for a bounded
# time, and prints a table of executions and coverage per target.
#
#   scripts/fuzz.sh                      # every target, 30 s each (what CI runs)
#   scripts/fuzz.sh --time 600           # a 10-minute campaign per target
#   scripts/fuzz.sh --time 3600 engine_ops amf3
#   FUZZ_SECONDS=60 scripts/fuzz.sh      # the same as --time 60
#
# Options:
#   --time SECONDS     run time per target (default: $FUZZ_SECONDS, else 30)
#   --rss-mb MB        libFuzzer's -rss_limit_mb: a target that holds more fails (2048)
#   --timeout SECONDS  libFuzzer's -timeout: one input that runs longer fails (10)
#   --keep-corpus      grow the committed corpus in fuzz/corpus/<target> instead of
#                      a scratch copy under target/fuzz-work (for campaigns whose
#                      finds should be committed; then `cargo fuzz cmin`)
#   --summary FILE     also write the table to FILE (markdown)
#
# Exit status: 0 when every target ran its time without a crash, leak report,
# timeout or out-of-memory; 1 otherwise, after printing each failing target's
# reproducer (the input's path, its bytes in hex and base64, and the command
# that replays it). Runs on the stable toolchain: cargo-fuzz needs nightly
# flags, which RUSTC_BOOTSTRAP=1 allows.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1

seconds="${FUZZ_SECONDS:-30}"
rss_mb=2048
timeout=10
keep_corpus=0
summary=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --rss-mb) rss_mb="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --keep-corpus) keep_corpus=1; shift ;;
    --summary) summary="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets (optimized, debug assertions and overflow checks, address sanitizer)"
cargo fuzz build

work=target/fuzz-work
mkdir -p "$work"
rows=()
failed=()
for t in "${targets[@]}"; do
  log="$work/$t.log"
  if [ "$keep_corpus" = 1 ]; then
    corpora=("fuzz/corpus/$t")
  else
    # A scratch corpus first (libFuzzer writes new inputs into the first
    # directory), the committed seeds second (read only).
    rm -rf "${work:?}/corpus-$t"
    mkdir -p "$work/corpus-$t" "fuzz/corpus/$t"
    corpora=("$work/corpus-$t" "fuzz/corpus/$t")
  fi
  echo "== $t: ${seconds} s"
  status=0
  cargo fuzz run "$t" "${corpora[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  # The last status line of libFuzzer: "#123456 DONE cov: 1234 ft: 5678 corp: ..."
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  rows+=("| $t | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $([ $status = 0 ] && echo ok || echo FAILED) |")
  if [ $status != 0 ]; then
    failed+=("$t")
    echo "!! $t failed (exit $status); the end of its log:"
    tail -n 60 "$log"
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
      echo "!! reproducer: $artifact ($(wc -c <"$artifact") bytes)"
      echo "-- hex:"
      od -A x -t x1z -v "$artifact" | head -n 64
      echo "-- base64 (decode with: base64 -d > crash.bin):"
      base64 -w 76 "$artifact" | head -n 64
      echo "-- replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $artifact"
      echo "-- then add it to fuzz/corpus/$t and a regression test in the crate the fault is in"
    fi
  fi
done

table=$(
  echo "| target | executions | execs/s | cov | features | corpus (inputs/size) | result |"
  echo "|---|---:|---:|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
)
echo
echo "== fuzz summary: ${seconds} s per target, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$table"
if [ -n "$summary" ]; then
  echo "$table" >"$summary"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]} (logs in $work/)" >&2
  exit 1
fi
