#!/usr/bin/env bash
# podman with harflow's config/storage (see podman-env.sh): e.g. scripts/podman.sh run --rm localhost/harflow:latest --version
set -euo pipefail
. "$(dirname "$0")/podman-env.sh"
exec podman "$@"
