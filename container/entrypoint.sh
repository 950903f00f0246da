#!/usr/bin/env bash
# Entrypoint of the kurento-media-server image: the KMS_* variables of KMS's
# image, then the server in the foreground (logs on standard output).
#
# KMS's entrypoint writes the variables into /etc/kurento/modules/kurento/
# BaseRtpEndpoint.conf.ini and WebRtcEndpoint.conf.ini, so it must run as
# root. This server reads the same variables itself with the same meaning
# and precedence (a variable overrides the file), so the image runs as an
# unprivileged user and the files under /etc/kurento stay as mounted.
# What is left to do here is what KMS's entrypoint does besides:
# - a variable set but empty counts as unset (KMS tests each with -n);
# - KMS_EXTERNAL_IPV4/IPV6=auto is replaced by the public address when it
#   can be found, and dropped with a warning when it cannot;
# - GST_DEBUG gets KMS's suggested levels when unset or empty;
# - logs (the server's and GStreamer's) go to standard output.
set -o errexit -o nounset -o pipefail

log() { echo "[entrypoint] $*"; }

for name in $(compgen -e | grep '^KMS_' || true); do
  if [[ -z "${!name}" ]]; then
    unset "$name"
  fi
done

# The public address through a what-is-my-IP service (KMS asks STUN/DNS
# services in its getmyip.sh). $1: 4 or 6.
public_ip() {
  curl --silent --fail --max-time 3 "--ipv$1" "${KMS_MYIP_URL:-https://api64.ipify.org}"
}
for family in 4 6; do
  name="KMS_EXTERNAL_IPV$family"
  if [[ "${!name:-}" == auto ]]; then
    if ip=$(public_ip "$family"); then
      export "$name=$ip"
      log "$name=auto: using $ip"
    else
      unset "$name"
      log "WARNING: $name=auto but the public IPv$family address could not be found; not set"
    fi
  fi
done

if [[ -z "${GST_DEBUG:-}" ]]; then
  export GST_DEBUG="2,Kurento*:4,kms*:4,sdp*:4,webrtc*:4,*rtpendpoint:4,rtp*handler:4,rtpsynchronizer:4,agnosticbin:4"
fi

# Every log line on standard output, as the image's users collect them.
exec /usr/bin/kurento-media-server "$@" 2>&1
