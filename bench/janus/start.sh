#!/usr/bin/env bash
# Usage: bench/janus/start.sh FILE.webm [HTTP_PORT]
#   env: AUDIO_PORT (5002), VIDEO_PORT (5004), JANUS_DEBUG_LEVEL (3; 5 logs the SRTP profile),
#        FEED_CPU (run the feed on this core; default: where this script runs)
# Janus gets one event loop per core it may run on (event_loops = nproc of
# its affinity), the fair setting for a media server given those cores.
# Runs Janus (HTTP API + streaming plugin, 127.0.0.1 only) and feeds
# mountpoint 1 with FILE's VP8/Opus over plain RTP, looping forever.
# Prints "ready janus_pid=.. feed_pid=.." once both run; stops both on
# SIGTERM/SIGINT/exit, and exits when either child dies.
set -euo pipefail

FILE=$(realpath "${1:?usage: $0 FILE.webm [HTTP_PORT]}")
HTTP_PORT=${2:-8088}
AUDIO_PORT=${AUDIO_PORT:-5002}
VIDEO_PORT=${VIDEO_PORT:-5004}
DEBUG_LEVEL=${JANUS_DEBUG_LEVEL:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
JANUS_PID= FEED_PID=

# Working copy of the config templates with the chosen ports.
TMP=$(mktemp -d /tmp/bench-janus.XXXXXX)
cp "$HERE"/*.jcfg "$TMP"/
sed -i -E "s/^(\s*debug_level = )[0-9]+/\1$DEBUG_LEVEL/" "$TMP/janus.jcfg"
sed -i -E "s/^(\s*event_loops = )[0-9]+/\1$(nproc)/" "$TMP/janus.jcfg"
sed -i -E "s/^(\s*port = )[0-9]+/\1$HTTP_PORT/" "$TMP/janus.transport.http.jcfg"
sed -i -E -e "s/^(\s*audioport = )[0-9]+/\1$AUDIO_PORT/" \
          -e "s/^(\s*videoport = )[0-9]+/\1$VIDEO_PORT/" "$TMP/janus.plugin.streaming.jcfg"
# Shim that lets Janus gather ICE candidates on lo (see lo-ifaddrs.c).
cc -shared -fPIC -O2 -o "$TMP/lo-ifaddrs.so" "$HERE/lo-ifaddrs.c" -ldl

cleanup() {
  trap - EXIT INT TERM
  for pid in $FEED_PID $JANUS_PID; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

LD_PRELOAD="$TMP/lo-ifaddrs.so" janus -C "$TMP/janus.jcfg" -F "$TMP" &
JANUS_PID=$!

# Wait (max 15 s) for the HTTP API.
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/janus/info" >/dev/null && break
  kill -0 "$JANUS_PID" 2>/dev/null || { echo "janus exited" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/janus/info" >/dev/null || { echo "janus API not up" >&2; exit 1; }

feed_pin=()
[ -n "${FEED_CPU:-}" ] && feed_pin=(taskset -c "$FEED_CPU")
"${feed_pin[@]}" /usr/bin/python3 "$HERE/feed.py" "$FILE" "$AUDIO_PORT" "$VIDEO_PORT" &
FEED_PID=$!

echo "ready janus_pid=$JANUS_PID feed_pid=$FEED_PID api=http://127.0.0.1:$HTTP_PORT/janus audio_port=$AUDIO_PORT video_port=$VIDEO_PORT"
wait -n "$JANUS_PID" "$FEED_PID" || true   # returns when either child exits
echo "a child exited, stopping" >&2
exit 1
