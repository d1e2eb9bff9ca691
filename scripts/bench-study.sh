#!/usr/bin/env bash
# The CPU performance study in one command (≤ 15 min on 2 cores): environment fingerprint, roof, `bench train`
# with 1 and 2 workers on the host and inside the project image (podman, when `make image` has built it),
# then results/report/{report.md,report.html,*.png} over every results/*.json.
#   scripts/bench-study.sh [--container auto|yes|no|only] [--nproc 1,2] [--steps 40] [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
exec "$VENV/bin/harflow" bench study --out "${BENCH_OUT:-results}" "$@"
