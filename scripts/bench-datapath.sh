#!/usr/bin/env bash
# The C1 data-path cases of BENCHMARKS.md, for both adapters, in one go:
#   b1   1,000 clients, 1 writer, window 1   (server CPU per delivery vs the b1 floor)
#   b8   1,000 clients, 8 writers on 8 keys  (vs the b8 floor)
#   10k  10,000 clients, 1 writer at 2/s     (peak RSS, every client converges)
# Each case gets a fresh server; the loadgen measures the floor in the same
# run. Prints each run's key lines, then one summary line per case.
#
#   scripts/bench-datapath.sh                 # both adapters, every case once
#   RUNS=3 ADAPTERS=tokio CASES="b1 b8" scripts/bench-datapath.sh
#
# With RUNS > 1 it also prints the median ratio per adapter and case.
# VARIANTS="direct queued" runs each case with the engine's direct writes
# on and off (--direct-writes false), alternating, for a same-run
# comparison of the two paths.
# Environment: RUNS (default 1), ADAPTERS (tokio smol), CASES (b1 b8 10k),
# VARIANTS (direct), PORT (19391), DURATION (5 seconds), OUT (a directory
# for the full reports).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
ADAPTERS=${ADAPTERS:-tokio smol}
CASES=${CASES:-b1 b8 10k}
VARIANTS=${VARIANTS:-direct}
PORT=${PORT:-19391}
DURATION=${DURATION:-5}
OUT=${OUT:-$(mktemp -d /tmp/bench-datapath.XXXXXX)}
mkdir -p "$OUT"

cargo build --release -q -p adapter-tokio --example server
cargo build --release -q -p adapter-smol --example smol-server
cargo build --release -q -p loadgen
ulimit -n 20000

server_bin() {
    case $1 in
        tokio) echo target/release/examples/server ;;
        smol) echo target/release/examples/smol-server ;;
        *) echo "unknown adapter $1" >&2; exit 2 ;;
    esac
}

summary=()
ratios="$OUT/ratios.txt"
: >"$ratios"
for adapter in $ADAPTERS; do
    for case in $CASES; do
        for run in $(seq 1 "$RUNS"); do
          for variant in $VARIANTS; do
            case $variant in
                direct) extra=() ;;
                queued) extra=(--direct-writes false) ;;
                *) echo "unknown variant $variant" >&2; exit 2 ;;
            esac
            name="$adapter-$case-$variant-$run"
            data=$(mktemp -d /tmp/bench-datapath-data.XXXXXX)
            RUST_LOG=warn "$(server_bin "$adapter")" --listen "127.0.0.1:$PORT" \
                --http-listen off --data-dir "$data" --max-connections 12000 "${extra[@]}" \
                >"$OUT/$name.server.log" 2>&1 &
            server=$!
            # Wait for the port.
            for _ in $(seq 1 100); do
                if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
                sleep 0.1
            done
            lg=(target/release/loadgen "rtmp://127.0.0.1:$PORT/bench" --server-pid "$server"
                --duration "$DURATION")
            case $case in
                b1) lg+=(--clients 1000 --writers 1 --window 1 --max) ;;
                b8) lg+=(--clients 1000 --writers 8 --max) ;;
                10k) lg+=(--clients 10000 --rate 2 --threads 2 --floor-writes 0) ;;
                *) echo "unknown case $case" >&2; exit 2 ;;
            esac
            report="$OUT/$name.txt"
            status=0
            "${lg[@]}" >"$report" 2>&1 || status=$?
            kill "$server" 2>/dev/null || true
            wait "$server" 2>/dev/null || true
            rm -rf "$data"
            echo "== $adapter $case $variant run $run (load: $(cut -d' ' -f1-3 /proc/loadavg))"
            grep -E '^(deliveries|wire|converged|server|verdict|problems)' "$report" || true
            grep -E '^ +b[18]:' "$report" || true
            if [ "$status" -ne 0 ]; then
                echo "   loadgen failed ($status): $(tail -1 "$report")"
            fi
            ratio=$(sed -n 's/^verdict .*delivery \([0-9.]*\)× the \(b[18]\).*: \(.*\)$/\1× \2 floor (\3)/p' "$report")
            if [ -n "$ratio" ]; then echo "$adapter $case $variant ${ratio%%×*}" >>"$ratios"; fi
            rss=$(sed -n 's/^server .*peak RSS \([0-9.]* MiB\).*/\1/p' "$report")
            conv=$(sed -n 's/^converged *\([0-9]* of [0-9]*\) clients.*/\1 converged/p' "$report")
            summary+=("$(printf '%-6s %-4s %-6s run %s: %s, peak RSS %s, %s' "$adapter" "$case" \
                "$variant" "$run" "${ratio:-no ratio}" "${rss:-?}" "${conv:-convergence not shown}")")
          done
        done
    done
done

echo
echo "== summary (targets: b1 ≤ 1.15×, b8 ≤ 1.5×, 10k RSS ≤ 200 MB and every client converged; reports in $OUT)"
printf '%s\n' "${summary[@]}"
if [ "$RUNS" -gt 1 ]; then
    echo "== medians of the ratios"
    for adapter in $ADAPTERS; do
        for case in $CASES; do
          for variant in $VARIANTS; do
            awk -v a="$adapter" -v c="$case" -v w="$variant" '$1 == a && $2 == c && $3 == w { print $4 }' "$ratios" | sort -g |
                awk -v a="$adapter" -v c="$case" -v w="$variant" '{ v[NR] = $1 } END {
                    if (NR) printf "%-6s %-4s %-6s median %.2f× over %d runs (%.2f–%.2f)\n", a, c, w,
                        (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR, v[1], v[NR] }'
          done
        done
    done
fi
