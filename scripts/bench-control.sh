#!/usr/bin/env bash
# Control-plane benchmark (figures, not a test): create MediaPipeline +
# WebRtcEndpoint + release over the Kurento Protocol at concurrency 1 and 8,
# then the leak gate (RSS and threads after 10,000 more cycles).
# The server and the benchmark client are pinned to different cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench control "$@"
