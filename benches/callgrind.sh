#!/usr/bin/env bash
# Instructions per op under callgrind (BENCHMARKS.md, How to rerun), noise-free on a
# shared machine: Ir/op = (Ir(3 passes) - Ir(1 pass)) / 2 / ops_per_pass.
# glibc's memcpy and the allocator are counted too. A case that names the
# function to count (`insn CASE 0` prints `collect FN`: the engine cases,
# whose inputs are built outside it) is counted inside that function only
# (--toggle-collect), callees included.
#
# Usage: benches/callgrind.sh [PATTERN]   (a grep -E pattern over case names;
#        default: every chunk case). Run from anywhere in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern="${1:-^chunk_}"
cargo build --quiet --profile bench -p benches --bin insn
insn="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/insn"

ir() { # case passes [function] -> total Ir
    valgrind --tool=callgrind --callgrind-out-file=/dev/null ${3:+"--toggle-collect=$3"} \
        "$insn" "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-52s %12s\n' case Ir/op
"$insn" list | grep -E -- "$pattern" | while read -r case; do
    read -r _ ops _ _ _ collect < <("$insn" "$case" 0)
    one=$(ir "$case" 1 "$collect")
    three=$(ir "$case" 3 "$collect")
    awk -v c="$case" -v a="$one" -v b="$three" -v n="$ops" \
        'BEGIN { printf "%-52s %12.0f\n", c, (b - a) / 2 / n }'
done
