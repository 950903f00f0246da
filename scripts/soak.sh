#!/usr/bin/env bash
# The soak (figures with a verdict): for 30 minutes by default, applications
# come and go as separate processes, each a call with media (a PlayerEndpoint
# into a WebRtcEndpoint watched by a load-client peer) streaming 2-8 s, a
# quarter of them killed with SIGKILL mid-call so that the server's garbage
# collector (garbageCollectorPeriod 3 s here) must collect their sessions.
# Prints pipelines, RSS, threads and fds over time; fails when a pipeline is
# left, threads or fds grew between the quiet state after a warm-up and the
# one after the soak, its quiet RSS grew over 25 %, or (in runs of 20
# samples or more) RSS trends up during the soak (+10 % from its second to
# its last quarter). Options go to `kms-bench soak`
# (--minutes, --clients, --kill-percent, --sample-seconds); scripts/test.sh
# runs `--minutes 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench-lib.sh
kms_bench soak --media "$(bench_media 30)" "$@"
