#!/usr/bin/env bash
# Hub benchmark (figures, not a test): server CPU of one Composite of N
# 640x360@30 VP8 + Opus inputs recorded through one more port, beside a bare
# gst-launch-1.0 compositor + audiomixer doing the same composition with the
# same decoders and encoders. Server and bare process on core 0, the client
# on core 1. Options go to `kms-bench hubs` (--counts 4,9, --window 10,
# --require-goal: exit non-zero above 1.2x).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench hubs --media "$(bench_media 120)" --bare-prefix "${pin_server[*]}" "$@"
