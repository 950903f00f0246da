#!/usr/bin/env bash
# Installs everything the server and its tests need on Debian 12, as root:
# build tools, the Rust toolchain (if missing), Node.js, Chromium, and the
# test-side npm packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt_packages=(
  build-essential pkg-config cmake clang libssl-dev curl ca-certificates
  iproute2 util-linux chromium openssl
  # TURN tests start their own coturn on 127.0.0.1; the packaged service stays off.
  coturn
  # GStreamer at the edges (PlayerEndpoint, RecorderEndpoint): build headers,
  # demuxers/muxers/codecs, and the tools the tests generate and probe media with.
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-plugins-base-apps
  # timeoverlay (the benchmark clip) is in the X plugins package.
  gstreamer1.0-x
  # FaceOverlayFilter: OpenCV's facedetect element and its Haar cascades.
  gstreamer1.0-opencv opencv-data
  # The vision modules (crates/kms-vision): OpenCV for Rust (headers, and
  # libclang for its binding generator), Tesseract's English model for the
  # plate reader (through OpenCV's text module), a plate-like font for the
  # tests' clips (textoverlay).
  libopencv-dev libclang-dev tesseract-ocr-eng fonts-dejavu-core
  # RTSP player tests serve a file with gst-rtsp-server from Python.
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gir1.2-gstreamer-1.0
  # The side-by-side benchmark (and its CI smoke run) starts its own Janus on 127.0.0.1.
  janus
  # The container image (scripts/container.sh, scripts/container-test.sh):
  # podman with runc, and debootstrap for the Debian base image.
  podman runc debootstrap
  # The Debian package (scripts/package.sh): dpkg-shlibdeps for its library dependencies.
  dpkg-dev
  # The cluster (scripts/cluster-up.sh and its tests) starts its own Redis on 127.0.0.1.
  redis-server
  # scripts/profile-viewers.sh: the server under callgrind (instruction counts).
  valgrind
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another source (with its own npm); only add Debian's when absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  # Packaged services (coturn, janus) must not start on install: tests run their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # Removed however the install ends, so later packages start their services again.
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get install -y --no-install-recommends "${missing[@]}"
  { systemctl disable --now coturn janus || { service coturn stop; service janus stop; }; } >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi

# cargo-deb builds the Debian package (scripts/package.sh); a pinned version.
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo-deb --version 2>/dev/null | grep -qx "cargo-deb 3.8.0"; then
  cargo install cargo-deb --version 3.8.0 --locked
fi

(cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund)

# Every GStreamer element the server, its transcoders, the tests and the
# benchmarks use, with the package that brings it: a missing one fails here.
missing_elements=()
while read -r element package; do
  gst-inspect-1.0 "$element" >/dev/null 2>&1 || missing_elements+=("$element ($package)")
done <<'ELEMENTS'
appsrc gstreamer1.0-plugins-base
appsink gstreamer1.0-plugins-base
urisourcebin gstreamer1.0-plugins-base
parsebin gstreamer1.0-plugins-base
decodebin gstreamer1.0-plugins-base
playbin gstreamer1.0-plugins-base
videoconvert gstreamer1.0-plugins-base
audioconvert gstreamer1.0-plugins-base
audioresample gstreamer1.0-plugins-base
videotestsrc gstreamer1.0-plugins-base
audiotestsrc gstreamer1.0-plugins-base
opusdec gstreamer1.0-plugins-base
opusenc gstreamer1.0-plugins-base
compositor gstreamer1.0-plugins-base
audiomixer gstreamer1.0-plugins-base
videoscale gstreamer1.0-plugins-base
tee libgstreamer1.0-0
capsfilter libgstreamer1.0-0
identity libgstreamer1.0-0
timeoverlay gstreamer1.0-x
filesrc libgstreamer1.0-0
filesink libgstreamer1.0-0
clocksync libgstreamer1.0-0
vp8enc gstreamer1.0-plugins-good
vp8dec gstreamer1.0-plugins-good
vp9enc gstreamer1.0-plugins-good
vp9dec gstreamer1.0-plugins-good
mulawenc gstreamer1.0-plugins-good
mulawdec gstreamer1.0-plugins-good
alawenc gstreamer1.0-plugins-good
alawdec gstreamer1.0-plugins-good
webmmux gstreamer1.0-plugins-good
matroskamux gstreamer1.0-plugins-good
matroskademux gstreamer1.0-plugins-good
mp4mux gstreamer1.0-plugins-good
qtdemux gstreamer1.0-plugins-good
flvmux gstreamer1.0-plugins-good
jpegenc gstreamer1.0-plugins-good
capssetter gstreamer1.0-plugins-good
rtspsrc gstreamer1.0-plugins-good
aacparse gstreamer1.0-plugins-good
h264parse gstreamer1.0-plugins-bad
opusparse gstreamer1.0-plugins-bad
jifmux gstreamer1.0-plugins-bad
curlhttpsink gstreamer1.0-plugins-bad
x264enc gstreamer1.0-plugins-ugly
overlaycomposition gstreamer1.0-plugins-base
pngenc gstreamer1.0-plugins-good
pngdec gstreamer1.0-plugins-good
imagefreeze gstreamer1.0-plugins-good
videoflip gstreamer1.0-plugins-good
videobalance gstreamer1.0-plugins-good
y4menc gstreamer1.0-plugins-good
rawvideoparse gstreamer1.0-plugins-base
textoverlay gstreamer1.0-x
zbar gstreamer1.0-plugins-bad
qroverlay gstreamer1.0-plugins-bad
facedetect gstreamer1.0-opencv
avdec_h264 gstreamer1.0-libav
avenc_aac gstreamer1.0-libav
appsrc gstreamer1.0-plugins-base
udpsrc gstreamer1.0-plugins-good
udpsink gstreamer1.0-plugins-good
multiudpsink gstreamer1.0-plugins-good
funnel libgstreamer1.0-0
queue libgstreamer1.0-0
multifilesink gstreamer1.0-plugins-good
rtpbin gstreamer1.0-plugins-good
rtpvp8pay gstreamer1.0-plugins-good
rtpvp8depay gstreamer1.0-plugins-good
rtpvp9pay gstreamer1.0-plugins-good
rtpvp9depay gstreamer1.0-plugins-good
rtph264pay gstreamer1.0-plugins-good
rtph264depay gstreamer1.0-plugins-good
rtpopuspay gstreamer1.0-plugins-good
rtpopusdepay gstreamer1.0-plugins-good
rtppcmupay gstreamer1.0-plugins-good
rtppcmudepay gstreamer1.0-plugins-good
rtppcmapay gstreamer1.0-plugins-good
rtppcmadepay gstreamer1.0-plugins-good
srtpenc gstreamer1.0-plugins-bad
srtpdec gstreamer1.0-plugins-bad
ELEMENTS
if [ ${#missing_elements[@]} -gt 0 ]; then
  echo "missing GStreamer elements: ${missing_elements[*]}" >&2
  exit 1
fi
[ -s /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ] || { echo "missing the face cascade (opencv-data)" >&2; exit 1; }
ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || { echo "missing Tesseract's English model (tesseract-ocr-eng)" >&2; exit 1; }

# Test media with a human face: the public-domain NASA astronaut portrait
# that scikit-image ships, taken from Debian's python3-skimage package
# without installing it (and its dependencies).
face="$HOME/.cache/kms-test-media/astronaut.png"
if [ ! -s "$face" ]; then
  tmp=$(mktemp -d) && chmod a+rwx "$tmp"
  # (apt-get update first when the package lists are missing or stale)
  (cd "$tmp" && { apt-get download python3-skimage >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download python3-skimage >/dev/null; }; } \
    && dpkg-deb -x python3-skimage_*.deb x)
  mkdir -p "$(dirname "$face")"
  cp "$tmp"/x/usr/lib/python3/dist-packages/skimage/data/astronaut.png "$face"
  rm -rf "$tmp"
fi
