#!/usr/bin/env bash
# Install rootful podman (Debian packages) and make the local base image localhost/debian:bookworm-python
# with debootstrap, since no image registry is reachable here. Idempotent; root only.
set -euo pipefail
. "$(dirname "$0")/podman-env.sh"
BASE=${HARFLOW_BASE_IMAGE:-localhost/debian:bookworm-python}
# netavark sets up container networks with iptables, which a minimal Debian does not have
pkgs=(podman buildah runc fuse-overlayfs slirp4netns uidmap debootstrap netavark aardvark-dns iptables)
missing=(); for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "podman-setup: need root to install ${missing[*]}" >&2; exit 1; }
  echo "podman-setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if podman image exists "$BASE"; then
  echo "podman-setup: base image $BASE present"
  exit 0
fi
# minbase + python3 (3.11 on bookworm) and the venv module: the same role as python:3.11-slim for users.
root=$(mktemp -d "${TMPDIR:-/tmp}/harflow-base.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "podman-setup: debootstrap bookworm into $root (about a minute)"
t0=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
  http://deb.debian.org/debian >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
echo "podman-setup: imported $BASE in $(( $(date +%s) - t0 )) s"
