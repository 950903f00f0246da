#!/usr/bin/env bash
# Cluster benchmark (figures with a verdict): control-plane cycles (create
# MediaPipeline + WebRtcEndpoint, release) through the entry beside the same
# on a media node directly, at concurrency 1 and 8, then the placement of
# 1,000 pipelines over two nodes. Starts its own Redis, two nodes and the
# entry on loopback (release builds). Fails when the entry carries less than
# --min-ratio (0.3) of a node's rate or placement leaves 45..55 %.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench cluster "$@"
