#!/usr/bin/env bash
# Instructions per op under callgrind (performance.md §1.4), noise-free on a
# shared machine: Ir/op = (Ir(3 passes) - Ir(1 pass)) / 2 / ops_per_pass.
# glibc's memcpy and the allocator are counted too.
#
# Usage: benches/callgrind.sh [PATTERN]   (a grep -E pattern over case names;
#        default: every chunk case). Run from anywhere in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern="${1:-^chunk_}"
cargo build --quiet --profile bench -p benches --bin insn
insn="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/insn"

ir() { # case passes -> total Ir
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$insn" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-52s %12s\n' case Ir/op
"$insn" list | grep -E -- "$pattern" | while read -r case; do
    ops=$("$insn" "$case" 0 | awk '{print $2}')
    one=$(ir "$case" 1)
    three=$(ir "$case" 3)
    awk -v c="$case" -v a="$one" -v b="$three" -v n="$ops" \
        'BEGIN { printf "%-52s %12.0f\n", c, (b - a) / 2 / n }'
done
