#!/usr/bin/env bash
# Media-forwarding benchmark (figures, not a test): one source to N WebRTC
# viewers, this server and Janus's streaming plugin side by side, measured by
# the same load client (`kms-bench viewers`: str0m peers on one thread and one
# UDP socket). The server (with its source) is pinned to core 0, the load
# client to core 1. Everything stays on 127.0.0.0/8.
#
#   scripts/bench-viewers.sh [--viewers 10,50,100,200,400] [--runs 5] [--targets ours,ours-webrtc,simulcast-on,simulcast,ours-rtp,janus,calls] [--calls 50,200]
#   scripts/bench-viewers.sh --smoke     # CI: debug build, 10 viewers, one short run each, must count
#
# Target `calls`: one-to-one calls instead of viewers (a pipeline with two
# WebRtcEndpoints connected both ways per call, the load client playing both
# peers, both sending the synthetic 1.2 Mbit/s stream); CPU per call.
# One viewer (or call peer) in ten decrypts its SRTP, the others count RTP
# headers (kms-bench --decrypt-every), so the load client is not the limit.
#
# Source: a pre-encoded 1.2 Mbit/s VP8 + Opus WebM (bench/make-media.sh), played
# by a PlayerEndpoint without decoding (ours) or sent as plain RTP by
# bench/janus/feed.py into mountpoint 1 (Janus, started by bench/janus/start.sh);
# `ours-webrtc`: the load client publishes the same rates to a WebRtcEndpoint;
# `simulcast-on`: the same with simulcast forwarding on, the server's default
# (a TWCC estimate and pacer per viewer: the cost of simulcast forwarding's
# machinery per viewer); `simulcast`: simulcast on, the load client publishes
# three layers (150 kbit/s, 400 kbit/s, 1.15 Mbit/s; rids q, h, f) and
# answers the server's keyframe requests per layer, its viewers have no send
# limit (so take the top layer, as in the other targets); after the window
# every viewer is limited to 200 kbps until it takes the smallest layer,
# then the limit is lifted and the time each viewer takes to move up (the
# next layer, the top one) is printed; the run fails when a viewer is not
# back on the top layer within 30 s. Every other target of ours runs with it off
# (KMS_SIMULCAST=false, KMS's feature set), as Janus's streaming plugin
# neither estimates nor paces per viewer;
# `ours-rtp`: Janus's own feed (bench/janus/feed.py, plain RTP) into an
# RtpEndpoint, the feed on the server's core as for Janus.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

viewers=10,50,100,200,400 calls=50,200 runs=5 targets=ours,ours-webrtc,ours-rtp,janus profile=release warmup=3 window=10 seconds=120 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) viewers=10 calls=5 runs=1 warmup=2 window=3 profile=debug seconds=30 targets=ours,ours-webrtc,simulcast,ours-rtp,janus,calls extra=(--require-ok --per-peer) ;;
    --viewers) viewers=$2; shift ;;
    --runs) runs=$2; shift ;;
    --calls) calls=$2; shift ;;
    --targets) targets=$2; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$profile" = release ]; then
  cargo build --release --bin kurento-media-server --bin kms-bench
else
  cargo build --bin kurento-media-server --bin kms-bench
fi
bin="$CARGO_TARGET_DIR/$profile"

source scripts/bench-lib.sh
media=$(bench_media "$seconds")
common=(--runs "$runs" --warmup "$warmup" --window "$window" "${extra[@]}")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
echo "source: $media ($(($(stat -c %s "$media") * 8 / seconds / 1000)) kbit/s)"

wrapper=$(pinned_server "$bin/kurento-media-server")
export KMS_SIMULCAST=false # see `simulcast-on` above
if [[ ",$targets," == *,ours,* ]]; then
  echo "== ours: kurento-media-server ($profile, simulcast off), PlayerEndpoint -> N WebRtcEndpoints"
  "${pin_client[@]}" "$bin/kms-bench" viewers --target ours --server "$wrapper" --media "$media" --viewers "$viewers" "${common[@]}"
fi
if [[ ",$targets," == *,simulcast-on,* ]]; then
  echo "== ours with simulcast forwarding on (the default: a TWCC estimate and pacer per viewer), load client publishes to a WebRtcEndpoint -> N WebRtcEndpoints"
  KMS_SIMULCAST=true "${pin_client[@]}" "$bin/kms-bench" viewers --target ours --source webrtc --server "$wrapper" --viewers "$viewers" "${common[@]}"
fi
if [[ ",$targets," == *,simulcast,* ]]; then
  echo "== ours with simulcast forwarding on (the default), load client publishes three simulcast layers to a WebRtcEndpoint -> N WebRtcEndpoints"
  # Every viewer decrypts: one that counts headers never hands its packets
  # to str0m, so it sends no transport-cc feedback and its estimate stalls.
  KMS_SIMULCAST=true "${pin_client[@]}" "$bin/kms-bench" viewers --target ours --source webrtc-simulcast --server "$wrapper" --viewers "$viewers" "${common[@]}" --decrypt-every 1
fi
if [[ ",$targets," == *,ours-webrtc,* ]]; then
  echo "== ours: kurento-media-server ($profile, simulcast off), load client publishes to a WebRtcEndpoint -> N WebRtcEndpoints"
  "${pin_client[@]}" "$bin/kms-bench" viewers --target ours --source webrtc --server "$wrapper" --viewers "$viewers" "${common[@]}"
fi

if [[ ",$targets," == *,ours-rtp,* ]]; then
  echo "== ours: kurento-media-server ($profile), plain RTP (feed.py) into an RtpEndpoint -> N WebRtcEndpoints"
  "${pin_client[@]}" "$bin/kms-bench" viewers --target ours --source rtp --server "$wrapper" --media "$media" --viewers "$viewers" "${common[@]}"
fi

if [[ ",$targets," == *,calls,* ]]; then
  echo "== ours: kurento-media-server ($profile), one-to-one calls (two WebRtcEndpoints connected both ways per pipeline)"
  "${pin_client[@]}" "$bin/kms-bench" viewers --target ours --source calls --server "$wrapper" --viewers "$calls" "${common[@]}"
fi

if [[ ",$targets," == *,janus,* ]]; then
  echo "== janus $(janus --version 2>/dev/null | awk '/Janus version/ {print $3, $4}'): streaming plugin, RTP mountpoint -> N viewers"
  port=18088 log="$bench_dir/janus.log"
  # The feed runs on the load client's core (FEED_CPU), as ours-rtp's does.
  feed_cpu=""; [ ${#pin_client[@]} -gt 0 ] && feed_cpu=1
  FEED_CPU=$feed_cpu AUDIO_PORT=15002 VIDEO_PORT=15004 "${pin_server[@]}" bench/janus/start.sh "$media" "$port" > "$log" 2>&1 &
  starter=$!
  trap 'kill -TERM $starter 2>/dev/null || true; wait $starter 2>/dev/null || true; rm -rf "$bench_dir"' EXIT
  for _ in $(seq 200); do grep -q '^ready' "$log" && break; kill -0 $starter 2>/dev/null || break; sleep 0.1; done
  janus_pid=$(sed -n 's/^ready janus_pid=\([0-9]*\).*/\1/p' "$log")
  [ -n "$janus_pid" ] || { cat "$log" >&2; echo "janus did not start" >&2; exit 1; }
  sleep 2 # the feed's first keyframe
  "${pin_client[@]}" "$bin/kms-bench" viewers --target janus --janus-url "http://127.0.0.1:$port/janus" --janus-pid "$janus_pid" --viewers "$viewers" "${common[@]}"
fi
