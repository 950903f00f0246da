#!/usr/bin/env bash
# Installs what is needed, builds the server and starts it in the foreground on
# ws://0.0.0.0:8888/kurento with KMS's default configuration.
# Extra arguments go to the server (e.g. -f /etc/kurento/kurento.conf.json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
source scripts/env.sh
cargo build --release --bin kurento-media-server
conf=/etc/kurento/kurento.conf.json
[ -f "$conf" ] || conf="$PWD/config/kurento.conf.json"
exec "$CARGO_TARGET_DIR/release/kurento-media-server" -f "$conf" "$@"
