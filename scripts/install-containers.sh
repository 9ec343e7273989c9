#!/usr/bin/env bash
# What container mode (axolotl run --container) needs on a fresh Debian 12 machine, as root: podman,
# runc (Debian 12's crun cannot checkpoint), catatonit (the init podman injects with --init) and
# debootstrap; and, for the tests and the bench, an image built offline (no registry is reachable):
# a minimal Debian root filesystem with python3 from the system's own Debian mirror and release,
# imported with `podman import`. The root filesystem is cached, so a later run only imports it again,
# or does nothing while podman has the image.
#
# Usage: install-containers.sh [--packages-only]    prints the image name on its last line
#   AXOLOTL_TEST_IMAGE   the image's name (default localhost/axolotl-test-python:<release>)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install-containers: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root (podman checkpoints only containers run by root)"; exit 1; }

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
[ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || missing+=(catatonit)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "${1:-}" = --packages-only ] && exit 0

release=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
IMAGE=${AXOLOTL_TEST_IMAGE:-localhost/axolotl-test-python:$release}
if podman image exists "$IMAGE"; then echo "$IMAGE"; exit 0; fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/axolotl/containers
rootfs_tar="$cache/rootfs-$release-python3.tar"
if [ ! -s "$rootfs_tar" ]; then
  mirror=$(bash scripts/debian-mirror.sh)
  [ -n "$mirror" ] || { say "no Debian mirror in /etc/apt/sources*: cannot build the test image"; exit 1; }
  say "building a $release root filesystem with python3 from $mirror (debootstrap, about a minute)"
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --include=python3 "$release" "$work/root" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
  tar -C "$work/root" --numeric-owner -cf "$rootfs_tar.new" .
  mv -f "$rootfs_tar.new" "$rootfs_tar"
fi
say "importing $rootfs_tar as $IMAGE"
podman import --quiet "$rootfs_tar" "$IMAGE" >/dev/null
echo "$IMAGE"
