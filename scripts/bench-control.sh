#!/usr/bin/env bash
# Control-plane benchmark (figures, not a test): create MediaPipeline +
# WebRtcEndpoint + release over the Kurento Protocol at concurrency 1 and 8,
# then the leak gate (RSS and threads after 10,000 more cycles).
# The server and the benchmark client are pinned to different cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --bin kurento-media-server --bin kms-bench
server="$CARGO_TARGET_DIR/release/kurento-media-server"
pin_server=() pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi
wrapper=$(mktemp); trap 'rm -f "$wrapper"' EXIT
printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${pin_server[*]}" "$server" > "$wrapper"; chmod +x "$wrapper"
"${pin_client[@]}" "$CARGO_TARGET_DIR/release/kms-bench" control --server "$wrapper" "$@"
