#!/usr/bin/env bash
# Build the harflow image with docker or podman (whichever works), tagged localhost/harflow:latest.
#   scripts/image-build.sh [--cuda] [--tag TAG] [--engine docker|podman] [--base IMAGE]
# Local mode (HARFLOW_IMAGE_LOCAL=auto|1|0; auto = on when the host's pip find-links dir holds a torch wheel,
# as on harflow's CI machines where no image registry is reachable): podman, a debootstrap base image
# (scripts/podman-setup.sh), the host's torch wheel dir and CA bundle mounted read-only into the build.
# Those mounts are build-time only and are not part of any layer.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${IMAGE_TAG:-localhost/harflow:latest}; ENGINE=${IMAGE_ENGINE:-}; BASE=${IMAGE_BASE:-}; CUDA=0
while [ $# -gt 0 ]; do
  case $1 in
    --tag) TAG=$2; shift 2 ;;
    --engine) ENGINE=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --cuda) CUDA=1; shift ;;
    *) echo "image-build: unknown argument $1" >&2; exit 2 ;;
  esac
done
DOCKERFILE=deploy/docker/Dockerfile; [ $CUDA = 1 ] && DOCKERFILE=deploy/docker/Dockerfile.cuda

wheels=""
if [ "${HARFLOW_IMAGE_LOCAL:-auto}" != 0 ]; then
  for d in ${PIP_FIND_LINKS:-} $(python3 -m pip config get global.find-links 2>/dev/null || true); do
    if ls "$d"/torch-*.whl >/dev/null 2>&1; then wheels=$d; break; fi
  done
fi
LOCAL=0
if [ "${HARFLOW_IMAGE_LOCAL:-auto}" = 1 ] || { [ "${HARFLOW_IMAGE_LOCAL:-auto}" = auto ] && [ -n "$wheels" ]; }; then LOCAL=1; fi

if [ -z "$ENGINE" ]; then
  if [ $LOCAL = 1 ]; then ENGINE=podman   # build-time volume mounts are a podman/buildah feature
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  elif command -v podman >/dev/null; then ENGINE=podman
  else echo "image-build: neither a running docker daemon nor podman found" >&2; exit 1; fi
fi
args=(build -f "$DOCKERFILE" -t "$TAG")
if [ $LOCAL = 1 ]; then
  [ "$ENGINE" = podman ] || { echo "image-build: local mode needs podman (HARFLOW_IMAGE_LOCAL=0 to use $ENGINE)" >&2; exit 1; }
  bash scripts/podman-setup.sh
  . scripts/podman-env.sh
  [ -n "$BASE" ] || BASE=${HARFLOW_BASE_IMAGE:-localhost/debian:bookworm-python}
  args+=(-v "$(realpath "$wheels"):/run/wheels:ro" --build-arg PIP_FIND_LINKS=/run/wheels --build-arg TORCH_INDEX_URL=)
  # pip reaches PyPI through a TLS-inspecting proxy that only the host trusts
  ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] && args+=(-v "$ca:/run/hostca.crt:ro" --build-arg PIP_CERT=/run/hostca.crt)
elif [ "$ENGINE" = podman ]; then
  . scripts/podman-env.sh
fi
# podman writes OCI images by default, and the OCI format has no HEALTHCHECK
[ "$ENGINE" = podman ] && args+=(--format docker)
[ -n "$BASE" ] && args+=(--build-arg "BASE_IMAGE=$BASE")
echo "image-build: $ENGINE ${args[*]} ."
t0=$(date +%s)
"$ENGINE" "${args[@]}" .
size=$("$ENGINE" image inspect "$TAG" --format '{{.Size}}' | head -1)
echo "image-build: built $TAG with $ENGINE in $(( $(date +%s) - t0 )) s, size $(( size / 1000000 )) MB"
