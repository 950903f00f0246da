#!/usr/bin/env bash
# Runs the whole test suite: Rust unit and integration tests, then the
# end-to-end tests (official kurento-client, headless Chromium) against the real
# binary inside a private network namespace where only loopback exists.
# Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --bin kurento-media-server
cargo test --workspace

[ -d tests/e2e/node_modules ] || (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund)
cd tests/e2e
unshare -n sh -c 'ip link set lo up && node --test --test-concurrency=1 --test-force-exit --test-timeout=300000 *.test.js'
