#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh) and a Debian 12 image booted
# by systemd with the package's dependencies (package/test/Containerfile,
# from the container base image of scripts/container.sh), then runs
# tests/package/*.test.js in a network namespace of its own (only loopback):
# install, service, official client, /etc/default, stop, purge.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export CONTAINERS_CONF="$PWD/container/containers.conf"
deb=$(scripts/package.sh | tail -1)
[ -f "$deb" ] || { echo "no package built: $deb" >&2; exit 1; }
scripts/container.sh base
# Depends without versions; the first of any alternatives.
deps=$(dpkg-deb --field "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep -v '^$' | tr '\n' ' ')
podman build --network host --pull=never --build-arg "DEPS=$deps" --tag localhost/kms-package-test:latest package/test >/dev/null
[ -d tests/e2e/node_modules ] || (cd tests/e2e && npm ci --ignore-scripts --no-audit --no-fund)
KMS_DEB="$deb" unshare -n sh -c 'ip link set lo up && node --test --test-concurrency=1 --test-force-exit --test-timeout=300000 tests/package/*.test.js'
