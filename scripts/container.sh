#!/usr/bin/env bash
# The server's container image, with the conventions of KMS's own image (see
# container/Containerfile), built and run with podman (Debian's, rootful).
#
#   scripts/container.sh build            base image if missing, release binary, image
#   scripts/container.sh run [OPTIONS] [-- SERVER_ARGS]
#                                          starts it detached with --network host
#                                          (OPTIONS go to `podman run`: -e, -v, --name),
#                                          waits until it is healthy, prints ws_uri=...
#   scripts/container.sh base             only the base image

#
# Registries cannot be reached from here, so the base image is Debian 12 made
# with debootstrap (minbase) and imported once; the rootfs and podman's layer
# cache make later builds quick. KMS_IMAGE names the image
# (localhost/kms-media-server:latest).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export CONTAINERS_CONF="$PWD/container/containers.conf"
image=${KMS_IMAGE:-localhost/kms-media-server:latest}
base=localhost/kms-debian:bookworm
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kms-container"

make_base() {
  podman image exists "$base" && return
  local rootfs="$cache/rootfs-bookworm"
  if [ ! -f "$rootfs/etc/debian_version" ]; then
    rm -rf "$rootfs.tmp"
    mkdir -p "$cache"
    debootstrap --variant=minbase bookworm "$rootfs.tmp" http://deb.debian.org/debian
    mv "$rootfs.tmp" "$rootfs"
  fi
  # Updates and security fixes too, as the host's Debian has them.
  printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    > "$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" --exclude='./var/cache/apt/archives/*.deb' -c . | podman import --change 'CMD ["/bin/bash"]' - "$base"
}

build() {
  make_base
  cargo build --release --bin kurento-media-server
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  cp container/Containerfile container/entrypoint.sh container/healthchecker.sh "$context/"
  cp -r config "$context/config"
  cp "$CARGO_TARGET_DIR/release/kurento-media-server" "$context/"
  # Docker's image format: OCI has no HEALTHCHECK.
  podman build --format docker --network host --pull=never --tag "$image" --file "$context/Containerfile" "$context"
  podman image inspect "$image" --format "image $image: {{.Size}} bytes"
}

run() {
  local options=() server_args=() port=8888 name="kms-$$"
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    options+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  server_args=("$@")
  for ((i = 0; i < ${#server_args[@]}; i++)); do
    [ "${server_args[i]}" = --port ] && port=${server_args[i + 1]:-$port}
  done
  for ((i = 0; i < ${#options[@]}; i++)); do
    [ "${options[i]}" = --name ] && name=${options[i + 1]}
  done
  # The image's health check asks the port the server listens on. podman runs
  # it periodically through systemd timers; without systemd it runs on demand.
  local health=()
  [ -S /run/systemd/private ] || health=(--health-interval=disable)
  podman run --detach --rm --network host --name "$name" -e "KMS_HEALTHCHECK_PORT=$port" "${health[@]}" "${options[@]}" "$image" "${server_args[@]}" >/dev/null
  for _ in $(seq 1 100); do
    if podman healthcheck run "$name" >/dev/null 2>&1; then
      echo "container=$name"
      echo "ws_uri=ws://127.0.0.1:$port/kurento"
      return 0
    fi
    podman container exists "$name" || { echo "the container stopped" >&2; return 1; }
    sleep 0.2
  done
  podman logs "$name" >&2 || true
  echo "the server in $name did not become healthy" >&2
  return 1
}

case "${1:-}" in
  base) make_base ;;
  build) build ;;
  run) shift; run "$@" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
