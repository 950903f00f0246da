#!/usr/bin/env bash
# Runs the whole test suite: Rust unit and integration tests, then the
# end-to-end tests (official kurento-client, headless Chromium) against the real
# binary inside a private network namespace where only loopback exists, then a
# smoke run of the side-by-side viewers benchmark (10 viewers each of a
# PlayerEndpoint, of a WebRtcEndpoint the load client publishes to, of an
# RtpEndpoint fed plain RTP, and of Janus; fails unless the run counts: see
# scripts/bench-viewers.sh), a 2-minute soak (scripts/soak.sh: calls coming
# and going, some killed, nothing left or grown), then the container image's tests
# (scripts/container-test.sh: builds the image, runs it in a namespace), then
# the Debian package's (scripts/package-test.sh: installs it on a systemd
# system in a container, drives the service, purges it).
# Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --bin kurento-media-server --bin kms-bench
cargo test --workspace

[ -d tests/e2e/node_modules ] || (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund)
cd tests/e2e
unshare -n sh -c 'ip link set lo up && node --test --test-concurrency=1 --test-force-exit --test-timeout=300000 *.test.js'
cd ../..
unshare -n sh -c 'ip link set lo up && scripts/bench-viewers.sh --smoke'
unshare -n sh -c 'ip link set lo up && scripts/soak.sh --minutes 2 --sample-seconds 20'
scripts/container-test.sh
scripts/package-test.sh
