#!/usr/bin/env bash
# UriEndpoint benchmarks (figures, not tests): PlayerEndpoint start latency
# (play() to the first RTP packet at a connected WebRTC viewer, 5 runs) and
# server CPU per recorded stream (one PlayerEndpoint into 1, 10 and 50 WEBM
# RecorderEndpoints, no transcoding). Server on core 0, client on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
media=$(bench_media 120)
kms_bench player-start --media "$media" --runs 5
kms_bench recorders --media "$media" --counts 1,10,50 "$@"
