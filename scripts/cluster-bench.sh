#!/usr/bin/env bash
# The cluster measurements of BENCHMARKS.md (K1-K4), in one run: a
# redis-server and release builds of the example server on loopback, then
# loadgen against
#   one   a single server without Redis (the anchor),
#   local three servers with --redis, the writer on the SO's owner,
#   fwd   the same with the writer on another process (its writes forwarded),
#   kill  the owner killed (kill -9) in the middle of writes from another
#         process: the first write acknowledged after the kill.
# Each cluster case uses its own SO, so that its owner is the process whose
# client USEs it first (loadgen --owner-server).
#
#   scripts/cluster-bench.sh                 # 100 clients, 100 updates/s, 5 s each
#   CLIENTS=1000 RATE=500 scripts/cluster-bench.sh
#
# Environment: CLIENTS, RATE (updates/s), DURATION (s), LEASE_MS (the
# cluster's --cluster-lease-ms), BASE_PORT (this and the next 4 ports).
# Needs redis-server (apt-get install redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."

clients="${CLIENTS:-100}"
rate="${RATE:-100}"
duration="${DURATION:-5}"
lease_ms="${LEASE_MS:-1000}"
base="${BASE_PORT:-19500}"
redis_port=$base

command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install redis-server" >&2; exit 1; }
cargo build --release -q -p adapter-tokio --example server
cargo build --release -q -p loadgen
server=target/release/examples/server
loadgen=target/release/loadgen

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

listening() { # port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  exit 1
}

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" >/dev/null &
pids+=($!)
disown
listening "$redis_port"

start() { # port [server flags...]
  local port=$1
  shift
  RUST_LOG=warn "$server" --listen "127.0.0.1:$port" --http-listen off \
    --data-dir "$work/data-$port" "$@" &
  pids+=($!)
  # No job notices when loadgen or the cleanup kills it.
  disown
  listening "$port"
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # title, loadgen arguments...
  echo
  echo "== $1"
  shift
  "$loadgen" "$@" --clients "$clients" --duration "$duration" --floor-writes 0
}

start $((base + 4))
one=${pids[-1]}
run "one: a single server, no Redis" "rtmp://127.0.0.1:$((base + 4))/bench" \
  --rate "$rate" --so one --server-pid "$one"

cluster=(--redis "redis://127.0.0.1:$redis_port/" --cluster-lease-ms "$lease_ms")
urls=()
cpids=()
for i in 1 2 3; do
  start $((base + i)) "${cluster[@]}"
  cpids+=("${pids[-1]}")
  urls+=("rtmp://127.0.0.1:$((base + i))/bench")
done
measure=(--server-pid "${cpids[0]}" --server-pid "${cpids[1]}" --server-pid "${cpids[2]}")

run "local: three processes, the writer on the owner (#0)" "${urls[@]}" \
  --rate "$rate" --so local --owner-server 0 --writer-server 0 "${measure[@]}"
run "fwd: three processes, the writer on #0, the owner #1 (writes forwarded)" "${urls[@]}" \
  --rate "$rate" --so fwd --owner-server 1 --writer-server 0 "${measure[@]}"
run "kill: kill -9 of the owner (#0) 2 s in, the writer on #1 (lease $lease_ms ms)" "${urls[@]}" \
  --rate 100 --window 1 --so kill --owner-server 0 --writer-server 1 "${measure[@]}" \
  --kill-pid "${cpids[0]}" --kill-after 2
echo
echo "== load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
