#!/usr/bin/env bash
# Starts a cluster on this machine: Redis, NODES media nodes (2 by default)
# and the entry, on 127.0.0.x addresses; prints `ws_uri=...` (the entry:
# point applications there) and stops everything on SIGTERM or SIGINT.
#
#   scripts/cluster-up.sh [NODES]
#
# Redis listens on 127.0.0.2:6390, the entry on 127.0.0.2:8890, node i on
# 127.0.0.(10+i):8888 with media on 127.0.0.1 in a port range of its own.
# Logs: $CLUSTER_LOGS (default /tmp/kms-cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
nodes=${1:-2}
logs=${CLUSTER_LOGS:-/tmp/kms-cluster}
mkdir -p "$logs"
cargo build --release -q -p kms-server
bin="$CARGO_TARGET_DIR/release/kurento-media-server"
pids=()
stop() {
  trap - TERM INT EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "cluster stopped"
  exit 0
}
trap stop TERM INT EXIT
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1:$2 (logs in $logs)" >&2
  return 1
}
redis-server --bind 127.0.0.2 --port 6390 --save '' --appendonly no >"$logs/redis.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.2 6390
export KMS_CLUSTER_REDIS_URL=redis://127.0.0.2:6390/
for i in $(seq 1 "$nodes"); do
  addr=127.0.0.$((10 + i))
  min=$((40000 + i * 1000))
  KMS_CLUSTER_ROLE=node KMS_CLUSTER_NODE_ID="node-$i" KMS_NETWORK_INTERFACES=lo KMS_MIN_PORT=$min KMS_MAX_PORT=$((min + 999)) \
    "$bin" -f config/kurento.conf.json --address "$addr" --port 8888 >"$logs/node-$i.log" 2>&1 &
  pids+=($!)
  wait_port "$addr" 8888
done
KMS_CLUSTER_ROLE=entry "$bin" -f config/kurento.conf.json --address 127.0.0.2 --port 8890 >"$logs/entry.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.2 8890
for _ in $(seq 50); do
  [ "$(grep -c 'node joined' "$logs/entry.log")" -ge "$nodes" ] && break
  sleep 0.2
done
echo "nodes=$nodes logs=$logs"
echo "ws_uri=ws://127.0.0.2:8890/kurento"
wait -n "${pids[@]}" || true
echo "a cluster process ended (logs in $logs); stopping the rest" >&2
