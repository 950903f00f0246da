#!/usr/bin/env bash
# Where the server's instructions go while it forwards (a profile, not a
# benchmark: no verdict). The server runs under valgrind's callgrind with one
# media worker; the load client (`kms-bench viewers`, as in bench-viewers.sh)
# publishes the synthetic 1.2 Mbit/s VP8 + Opus stream to a WebRtcEndpoint
# and N viewers watch it (or plays both peers of N one-to-one calls). After
# every viewer connected and 20 s of warm-up, callgrind's counters are zeroed,
# and 10 s later dumped; scripts/callgrind-split.py then prints the
# instructions per peer-second and per sent packet, the share spent inside
# str0m (and of it in the SRTP ciphers) and the top functions.
#
#   scripts/profile-viewers.sh [--viewers 20] [--calls N] [--simulcast] [--out FILE]
#
# Simulcast forwarding is off (KMS_SIMULCAST=false, as in bench-viewers.sh)
# unless --simulcast: then the server's default, a TWCC estimate and pacer
# per viewer.
#
# Instruction counts are user space only (the kernel's UDP paths are not in
# them) and repeat for the same binary and load whatever else the machine
# does, so two builds compare on them where CPU shares on a shared VM do
# not. Under valgrind the server runs some 30x slower: 20 viewers keep it
# below one core. Everything stays on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

viewers=20 source=webrtc out= simulcast=false
while [ $# -gt 0 ]; do
  case "$1" in
    --viewers) viewers=$2; shift ;;
    --calls) viewers=$2 source=calls; shift ;;
    --simulcast) simulcast=true ;;
    --out) out=$2; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
peers=$viewers
[ "$source" = calls ] && peers=$((viewers * 2))
command -v valgrind >/dev/null || { echo "valgrind is missing: run scripts/install-deps.sh" >&2; exit 1; }

cargo build --release --bin kurento-media-server --bin kms-bench
bin="$CARGO_TARGET_DIR/release"
source scripts/bench-lib.sh
out=${out:-$bench_dir/callgrind.out}
wrapper="$bench_dir/server-under-callgrind"
printf '#!/bin/sh\necho $$ > %s/server.pid\nexec valgrind --tool=callgrind --callgrind-out-file=%s.%%p %s "$@"\n' \
  "$bench_dir" "$out" "$bin/kurento-media-server" > "$wrapper"
chmod +x "$wrapper"

KMS_SIMULCAST=$simulcast KMS_MEDIA_WORKERS=1 "$bin/kms-bench" viewers --target ours --source "$source" --server "$wrapper" \
  --viewers "$viewers" --runs 1 --warmup 20 --window 20 > "$bench_dir/bench.log" 2>&1 &
bench=$!
# The window: from 20 s after start (every peer connected, warm-up under
# way) to 30 s; the load client's own window ends at 40 s at the earliest.
sleep 20
pid=$(cat "$bench_dir/server.pid")
callgrind_control -z "$pid" > /dev/null
sleep 10
callgrind_control -d "$pid" > /dev/null
wait "$bench" || { cat "$bench_dir/bench.log" >&2; exit 1; }
grep '^MEDIAN' "$bench_dir/bench.log" | sed 's/^MEDIAN/load client:/'
grep -q 'verdict=ok' "$bench_dir/bench.log" || echo "warning: the run did not count (see its verdict): the profile may not be of steady forwarding" >&2
python3 scripts/callgrind-split.py "$out.$pid.1" "$peers" 10
