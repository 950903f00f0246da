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
cargo build --release --bin kurento-media-server --bin kms-bench
source scripts/bench-lib.sh
bin="$CARGO_TARGET_DIR/release"
source_media=$(bench_media 120)
# Video-only inputs: the benchmark clip's VP8 as it is, and the same picture
# as H.264 (constrained baseline, ~1.1 Mbit/s, keyframe every 2 s).
vp8="$HOME/.cache/kms-bench/video-120s.webm"
h264="$HOME/.cache/kms-bench/video-120s.mp4"
[ -s "$vp8" ] || gst-launch-1.0 -q filesrc location="$source_media" ! matroskademux ! video/x-vp8 ! queue ! webmmux ! filesink location="$vp8"
[ -s "$h264" ] || gst-launch-1.0 -q filesrc location="$source_media" ! matroskademux ! video/x-vp8 ! vp8dec ! videoconvert \
  ! x264enc bitrate=1100 key-int-max=60 tune=zerolatency speed-preset=fast ! video/x-h264,profile=constrained-baseline \
  ! h264parse ! mp4mux ! filesink location="$h264"
wrapper=$(pinned_server "$bin/kurento-media-server")
"${pin_client[@]}" "$bin/kms-bench" transcode --server "$wrapper" --vp8 "$vp8" --h264 "$h264" --bare-prefix "${pin_server[*]}" "$@"
