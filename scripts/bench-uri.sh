#!/usr/bin/env bash
# UriEndpoint benchmarks (figures, not tests): PlayerEndpoint start latency
# (play() to the first RTP packet at a connected WebRTC viewer, 5 runs) and
# server CPU per recorded stream (one PlayerEndpoint into 1, 10 and 50 WEBM
# RecorderEndpoints, no transcoding). Server on core 0, client on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --bin kurento-media-server --bin kms-bench
source scripts/bench-lib.sh
bin="$CARGO_TARGET_DIR/release"
media=$(bench_media 120)
wrapper=$(pinned_server "$bin/kurento-media-server")
"${pin_client[@]}" "$bin/kms-bench" player-start --server "$wrapper" --media "$media" --runs 5
"${pin_client[@]}" "$bin/kms-bench" recorders --server "$wrapper" --media "$media" --counts 1,10,50 "$@"
