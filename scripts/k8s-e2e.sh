#!/usr/bin/env bash
# End to end on a real single-node Kubernetes (make e2e-k8s):
#   build the cluster binaries (cached) → build the images (cached layers) → start the cluster → load the
#   images into its docker → seed a model into the runs volume → python scripts/k8s_e2e.py (apply the dev
#   overlay, stream through a port-forward, run the training Job) → stop the cluster (KEEP_CLUSTER=1 keeps it).
# Needs root. E2E_WORKERS (default 2) training pods.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "k8s-e2e: needs root (dockerd, kubelet, hostPath volumes)" >&2; exit 1; }
PY=${PYTHON:-.venv/bin/python}
IMAGE=localhost/harflow:latest
PG_IMAGE=localhost/harflow-postgres:dev
RUNS=/var/lib/harflow-dev/runs
PGDATA=/var/lib/harflow-dev/pgdata
t0=$(date +%s)
log() { echo "k8s-e2e [$(( $(date +%s) - t0 ))s]: $*"; }

log "cluster binaries"; nice -n 10 bash scripts/k8s-build.sh
log "harflow image"; bash scripts/image-build.sh
. scripts/podman-env.sh
if ! podman image exists "$PG_IMAGE"; then
  log "dev PostgreSQL image"
  podman build --format docker -t "$PG_IMAGE" --build-arg BASE_IMAGE=localhost/debian:bookworm-python \
    deploy/docker/postgres-dev
fi
cleanup() { [ "${KEEP_CLUSTER:-0}" = 1 ] || bash scripts/k8s-down.sh >/dev/null 2>&1 || true; }
trap cleanup EXIT
log "start cluster"; bash scripts/k8s-up.sh
. scripts/k8s-env.sh
for img in "$IMAGE" "$PG_IMAGE"; do
  # podman and docker agree on image IDs for a docker-format image: load only when it changed
  pid=$(podman image inspect --format '{{.Id}}' "$img")
  did=$(docker image inspect --format '{{.Id}}' "$img" 2>/dev/null | sed 's/^sha256://' || true)
  if [ "$pid" != "$did" ]; then log "load $img into the cluster's docker"; podman save "$img" | docker load -q; fi
done
# a fresh namespace and volumes for every run
kubectl delete namespace harflow-dev --ignore-not-found --wait=true --timeout=120s >/dev/null
kubectl delete pv harflow-dev-runs harflow-dev-pgdata --ignore-not-found --wait=true >/dev/null
rm -rf "$PGDATA"; mkdir -p "$RUNS" "$PGDATA"; chown 10001:10001 "$RUNS"; chown 999:999 "$PGDATA"; chmod 700 "$PGDATA"
if [ ! -s "$RUNS/model/model.pt" ]; then
  log "seed model: a short training run in the image, into the runs volume"
  docker run --rm --network none -v "$RUNS:/runs" "$IMAGE" train --subjects 1,3,5,2,7,8 --epochs 3 \
    --max-steps-per-epoch 40 --threads 2 --no-progress --out /runs/model | tail -3
fi
log "e2e on the cluster"
"$PY" scripts/k8s_e2e.py --image "$IMAGE" --postgres-image "$PG_IMAGE" --workers "${E2E_WORKERS:-2}" \
  --runs-dir "$RUNS" --summary "${E2E_SUMMARY:-/tmp/harflow-e2e-summary.json}"
log "done"
