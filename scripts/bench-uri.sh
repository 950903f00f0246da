#!/usr/bin/env bash
# UriEndpoint benchmarks (figures, not tests): PlayerEndpoint start latency
# (play() to the first RTP packet at a connected WebRTC viewer, 5 runs) and
# server CPU per recorded stream (one PlayerEndpoint into 1, 10 and 50 WEBM
# RecorderEndpoints, no transcoding). Server on core 0, client on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --bin kurento-media-server --bin kms-bench
bin="$CARGO_TARGET_DIR/release"
media="$HOME/.cache/kms-bench/source-120s.webm"
[ -s "$media" ] || { mkdir -p "$(dirname "$media")"; bench/make-media.sh "$media.tmp.webm" 120; mv "$media.tmp.webm" "$media"; }
pin_server=() pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi
wrapper=$(mktemp); trap 'rm -f "$wrapper"' EXIT
printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${pin_server[*]}" "$bin/kurento-media-server" > "$wrapper"; chmod +x "$wrapper"
"${pin_client[@]}" "$bin/kms-bench" player-start --server "$wrapper" --media "$media" --runs 5
"${pin_client[@]}" "$bin/kms-bench" recorders --server "$wrapper" --media "$media" --counts 1,10,50 "$@"
