# Sourced by the benchmark scripts (after scripts/env.sh).

# pin_server / pin_client: the server (with its source) on core 0, the
# benchmark client on core 1, when there are two cores and taskset.
pin_server=() pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi

# bench_dir: scratch files of this run, removed on exit (a script that sets
# its own EXIT trap removes it there too).
bench_dir=$(mktemp -d)
trap 'rm -rf "$bench_dir"' EXIT

# kms_bench SUBCOMMAND ARGS...: builds the release binaries, then runs
# `kms-bench SUBCOMMAND --server <the server pinned to its core> ARGS...` on
# the client's core (the side-by-side benchmarks' common start).
kms_bench() {
  cargo build --release --bin kurento-media-server --bin kms-bench
  local bin="$CARGO_TARGET_DIR/release" subcommand=$1
  shift
  "${pin_client[@]}" "$bin/kms-bench" "$subcommand" --server "$(pinned_server "$bin/kurento-media-server")" "$@"
}

# pinned_server BINARY: prints the path of a wrapper that starts BINARY on the
# server's core (kms-bench starts the server itself).
pinned_server() {
  local wrapper="$bench_dir/server-$(basename "$1")"
  printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${pin_server[*]}" "$1" > "$wrapper"
  chmod +x "$wrapper"
  echo "$wrapper"
}

# bench_media SECONDS: prints the path of the cached 1.2 Mbit/s VP8 + Opus
# WebM source of SECONDS length, made with bench/make-media.sh if missing.
bench_media() {
  local media="$HOME/.cache/kms-bench/source-$1s.webm"
  if [ ! -s "$media" ]; then
    mkdir -p "$(dirname "$media")"
    bench/make-media.sh "$media.tmp.webm" "$1" >&2
    mv "$media.tmp.webm" "$media"
  fi
  echo "$media"
}

# video_only_vp8 / video_only_h264: print the path of a video-only copy of the
# 120 s clip (VP8 as it is; H.264 constrained baseline ~1.1 Mbit/s, keyframe
# every 2 s), made once.
video_only_vp8() {
  local out="$HOME/.cache/kms-bench/video-120s.webm"
  [ -s "$out" ] || gst-launch-1.0 -q filesrc location="$(bench_media 120)" ! matroskademux ! video/x-vp8 ! queue ! webmmux ! filesink location="$out" >&2
  echo "$out"
}
video_only_h264() {
  local out="$HOME/.cache/kms-bench/video-120s.mp4"
  [ -s "$out" ] || gst-launch-1.0 -q filesrc location="$(video_only_vp8)" ! matroskademux ! vp8dec ! videoconvert \
    ! x264enc bitrate=1100 key-int-max=60 tune=zerolatency speed-preset=fast ! video/x-h264,profile=constrained-baseline \
    ! h264parse ! mp4mux ! filesink location="$out" >&2
  echo "$out"
}
