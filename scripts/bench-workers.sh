#!/usr/bin/env bash
# Media-worker scaling (figures): the viewers benchmark with several
# pipelines (a PlayerEndpoint each, the viewers shared out), once with one
# media worker and once with N (KMS_MEDIA_WORKERS), then each worker's
# pipelines and busy time from the server's /metrics.
#
#   scripts/bench-workers.sh [--workers N] [--pipelines P] [--viewers V] [--runs R]
#
# Defaults: N = cores, P = 2 x N, V = 50 x P. With N cores for the server the
# server is not pinned; the load client runs beside it, so on a machine with
# few cores (this one has 2) the figures show the split (every worker has
# pipelines and is busy), not a speed-up: give the server N cores and the
# load client others for that.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
workers=$(nproc) pipelines= viewers= runs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) workers=$2; shift ;;
    --pipelines) pipelines=$2; shift ;;
    --viewers) viewers=$2; shift ;;
    --runs) runs=$2; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
pipelines=${pipelines:-$((2 * workers))}
viewers=${viewers:-$((50 * pipelines))}
cargo build --release --bin kurento-media-server --bin kms-bench
source scripts/bench-lib.sh
bin="$CARGO_TARGET_DIR/release"
media=$(bench_media 120)
echo "machine: $(nproc) cores; $pipelines pipelines, $viewers viewers of a 1.2 Mbit/s source"
for n in 1 "$workers"; do
  echo "== KMS_MEDIA_WORKERS=$n"
  KMS_SIMULCAST=false KMS_MEDIA_WORKERS=$n "$bin/kms-bench" viewers --target ours --server "$bin/kurento-media-server" --media "$media" \
    --viewers "$viewers" --pipelines "$pipelines" --runs "$runs" --warmup 3 --window 10
done
