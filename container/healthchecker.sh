#!/usr/bin/env bash
# Health check of the kurento-media-server image, as KMS's healthchecker.sh:
# healthy when the Kurento WebSocket port answers a WebSocket upgrade without
# a key with HTTP 500 (what KMS answers, and this server too).
# KMS_HEALTHCHECK_PORT (8888) and KMS_HEALTHCHECK_PATH (kurento) follow
# mediaServer.net.websocket.port and .path when those are changed.
set -o errexit -o nounset -o pipefail
port="${KMS_HEALTHCHECK_PORT:-8888}"
path="${KMS_HEALTHCHECK_PATH:-kurento}"
status=$(curl --silent --max-time 2 --output /dev/null --write-out '%{http_code}' \
  --header "Connection: Upgrade" --header "Upgrade: websocket" \
  --header "Host: 127.0.0.1:$port" --header "Origin: 127.0.0.1" \
  "http://127.0.0.1:$port/$path" || true)
if [[ "$status" == 500 ]]; then
  exit 0
fi
echo "Kurento WebSocket port $port does not answer (HTTP status '$status')" >&2
exit 1
