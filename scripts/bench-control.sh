#!/usr/bin/env bash
# Control-plane benchmark (figures, not a test): create MediaPipeline +
# WebRtcEndpoint + release over the Kurento Protocol at concurrency 1 and 8,
# then the leak gate (RSS and threads after 10,000 more cycles).
# The server and the benchmark client are pinned to different cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --bin kurento-media-server --bin kms-bench
source scripts/bench-lib.sh
wrapper=$(pinned_server "$CARGO_TARGET_DIR/release/kurento-media-server")
"${pin_client[@]}" "$CARGO_TARGET_DIR/release/kms-bench" control --server "$wrapper" "$@"
