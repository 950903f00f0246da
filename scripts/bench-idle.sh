#!/usr/bin/env bash
# Idle cost (figures with a verdict): the server's CPU with 2,000 idle
# pipelines, each a WebRtcEndpoint that generated an offer and gathered
# candidates and then hears nothing, beside the same server with none.
# Fails when they add more than 1 % of one core. Options go to
# `kms-bench idle` (--pipelines, --window, --max-percent).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench idle "$@"
