#!/usr/bin/env bash
# Builds the Debian package of the server with cargo-deb (the metadata is in
# crates/kms-server/Cargo.toml, the service files in package/debian/) and
# prints its path: $CARGO_TARGET_DIR/debian/kurento-media-server_<version>_amd64.deb.
#
#   scripts/package.sh && dpkg -i "$(scripts/package.sh | tail -1)"
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: run scripts/install-deps.sh" >&2; exit 1; }
cargo deb --package kms-server --output "$CARGO_TARGET_DIR/debian/" | tail -1
