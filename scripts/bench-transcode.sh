#!/usr/bin/env bash
# Transcoding benchmark (figures, not a test): server CPU and memory per
# transcoded 640x360@30 stream, VP8 -> H.264 and H.264 -> VP8, beside the same
# decode + encode (same elements, settings and bitrate) in bare
# gst-launch-1.0 processes on the same input. The server and the bare
# processes run on core 0, the benchmark client on core 1. Options go to
# `kms-bench transcode` (--counts 1,4,8, --window 10, --require-goal).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench transcode --vp8 "$(video_only_vp8)" --h264 "$(video_only_h264)" --bare-prefix "${pin_server[*]}" "$@"
