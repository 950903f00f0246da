#!/usr/bin/env bash
# Builds the container image (scripts/container.sh build: quick on a warm
# cache) and runs tests/container/*.test.js against it inside a network
# namespace of the test's own (only loopback): the official client, Chromium,
# a recordings volume, the KMS_* variables, the health checker, SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/container.sh build
[ -d tests/e2e/node_modules ] || (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund)
unshare -n sh -c 'ip link set lo up && node --test --test-concurrency=1 --test-force-exit --test-timeout=300000 tests/container/*.test.js'
