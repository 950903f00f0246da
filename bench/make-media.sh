#!/usr/bin/env bash
# Usage: bench/make-media.sh OUT.webm SECONDS
# Writes a pre-encoded test clip for the benchmarks: VP8 640x360@30 (CBR
# ~1.1 Mbit/s, keyframe every 2 s) + Opus 48 kHz stereo (CBR 64 kbit/s) in
# WebM, SECONDS long. Encodes as fast as possible (no is-live), then prints
# the measured bitrate.
set -euo pipefail

OUT=${1:?usage: $0 OUT.webm SECONDS}
SECS=${2:?usage: $0 OUT.webm SECONDS}
FPS=30
VBITRATE=${VBITRATE:-1150000}   # vp8enc lands slightly under its target
ABITRATE=64000

# Content that keeps vp8enc busy enough to reach its target: an animated
# zone plate (fine, moving texture everywhere) with a bouncing ball and a
# running clock composited on top. Pure "ball" on black would come out at
# ~0.1 Mbit/s whatever the target.
gst-launch-1.0 -q -e \
  compositor name=mix background=black \
    ! video/x-raw,width=640,height=360,framerate=$FPS/1 \
    ! videoconvert ! video/x-raw,format=I420 \
    ! timeoverlay halignment=right valignment=top font-desc="Sans 24" \
    ! vp8enc end-usage=cbr target-bitrate=$VBITRATE keyframe-mode=auto \
        keyframe-max-dist=$((2 * FPS)) deadline=1 cpu-used=4 threads=2 \
        buffer-size=1000 buffer-initial-size=500 buffer-optimal-size=600 \
    ! queue ! mux. \
  videotestsrc pattern=zone-plate kx2=20 ky2=20 kt=1 num-buffers=$((SECS * FPS)) \
    ! video/x-raw,width=640,height=360,framerate=$FPS/1 ! mix. \
  videotestsrc pattern=ball motion=sweep background-color=0x00000000 num-buffers=$((SECS * FPS)) \
    ! video/x-raw,format=AYUV,width=640,height=360,framerate=$FPS/1 ! mix. \
  audiotestsrc wave=sine freq=440 volume=0.3 samplesperbuffer=960 num-buffers=$((SECS * 50)) \
    ! audio/x-raw,rate=48000,channels=2 \
    ! opusenc bitrate=$ABITRATE bitrate-type=cbr frame-size=20 \
    ! queue ! mux. \
  webmmux name=mux ! filesink location="$OUT"

# Measured total bitrate = file size / container duration.
BYTES=$(stat -c %s "$OUT")
DUR_NS=$(gst-discoverer-1.0 "$OUT" | awk '/Duration:/ { split($2, t, /[:.]/);
  printf "%.0f", ((t[1]*60 + t[2])*60 + t[3]) * 1e9 + t[4] }')
awk -v b="$BYTES" -v d="$DUR_NS" -v f="$OUT" 'BEGIN {
  printf "%s: %d bytes, %.2f s, %.0f kbit/s total\n", f, b, d/1e9, b*8/(d/1e9)/1000 }'
