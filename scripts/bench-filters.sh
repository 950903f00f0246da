#!/usr/bin/env bash
# Filter benchmark (figures, not a test): server CPU per filtered 640x360@30
# stream for GStreamerFilter (videoflip) and FaceOverlayFilter beside the same
# elements (decoder, filter, encoder at the same settings) in bare
# gst-launch-1.0 processes on the same input, and for the four vision modules
# beside the same pipeline without the module. Server and bare processes on
# core 0, the client on core 1. Options go to `kms-bench filters`
# (--counts 1,4, --window 10, --require-goal: exit non-zero above 1.2x, or a
# vision module above 30 % of a core per stream).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
vp8=$(video_only_vp8)
image="$bench_dir/hat.png"
gst-launch-1.0 -q videotestsrc pattern=red num-buffers=1 ! video/x-raw,width=64,height=64 ! pngenc ! filesink location="$image"
kms_bench filters --vp8 "$vp8" --image "$image" --bare-prefix "${pin_server[*]}" "$@"
