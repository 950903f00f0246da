#!/usr/bin/env bash
# Runs one fuzz target under libFuzzer (cargo-fuzz) for SECONDS, growing its
# corpus in fuzz/corpus/TARGET; a crash is saved under fuzz/artifacts/TARGET
# and the script fails. Targets: the names in crates/kms-fuzz/src/lib.rs
# (jsonrpc, webrtc_offer, webrtc_answer, webrtc_datagrams, webrtc_media,
# ice_tcp, stun, rtp_offer, rtp_answer, http_post). CI does not fuzz:
# `cargo test -p kms-fuzz` replays the corpus.
#
#   scripts/fuzz.sh TARGET SECONDS [-- LIBFUZZER_OPTIONS]
#   scripts/fuzz.sh --minimize TARGET     merge the corpus down to what covers it
#
# cargo-fuzz needs nightly flags; the machine's stable toolchain accepts them
# with RUSTC_BOOTSTRAP=1. Built without a sanitizer (the targets are safe
# Rust; libFuzzer's coverage and Rust's debug assertions still apply).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
# Its own target dir: sanitizer-coverage builds must not mix with the rest.
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
if [ "${1:-}" = --minimize ]; then
  target=$2
  cargo fuzz cmin --sanitizer none --fuzz-dir fuzz "$target" "fuzz/corpus/$target"
  exit
fi
target=${1:?target} seconds=${2:?seconds}
shift 2
[ "${1:-}" = -- ] && shift
cargo fuzz run --sanitizer none --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 "$@"
