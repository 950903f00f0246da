#!/usr/bin/env bash
# Media leak gate (figures with a verdict): 1,000 cycles of create a pipeline
# with a PlayerEndpoint and a WebRtcEndpoint, negotiate with a load-client
# peer, stream until it receives media and a second more, release; fails when
# the server's RSS grows more than 5 % or its threads or file descriptors grow
# between the quiet state after a warm-up and the one after the cycles.
# Options go to `kms-bench media-leak` (--cycles, --concurrency).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench media-leak --media "$(bench_media 30)" "$@"
