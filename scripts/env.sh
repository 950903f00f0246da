# Sourced by the scripts: toolchain on PATH and the build directory outside the
# clone, so rebuilds (and CI reruns) are incremental.
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kms-target}"
