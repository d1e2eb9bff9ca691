#!/usr/bin/env bash
# Smoke-run the built image: `harflow --version`, a tiny training run writing to a mounted dir, and
# `harflow serve` answering /readyz through a published loopback port. Prints the image size.
#   scripts/image-smoke.sh [TAG]      (engine: IMAGE_ENGINE, else podman when present, else docker)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-${IMAGE_TAG:-localhost/harflow:latest}}
ENGINE=${IMAGE_ENGINE:-}
if [ -z "$ENGINE" ]; then command -v podman >/dev/null && ENGINE=podman || ENGINE=docker; fi
[ "$ENGINE" = podman ] && . scripts/podman-env.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/harflow-smoke.XXXXXX")
name=harflow-smoke-$$
cleanup() { "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
chmod 0777 "$work"   # the container runs as uid 10001
t0=$(date +%s)

v=$("$ENGINE" run --rm "$TAG" --version)
echo "smoke: --version -> $v"
[[ $v == harflow* ]] || { echo "smoke: unexpected --version output" >&2; exit 1; }

ts=$(date +%s)
"$ENGINE" run --rm --network none -v "$work:/runs" "$TAG" train --dry-run --no-progress --threads 1 \
  --out /runs/smoke >"$work/train.log" 2>&1 || { tail -30 "$work/train.log" >&2; exit 1; }
for f in model.pt metrics.json; do
  [ -s "$work/smoke/$f" ] || { echo "smoke: training wrote no $f" >&2; tail -30 "$work/train.log" >&2; exit 1; }
done
acc=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test']['accuracy'])" "$work/smoke/metrics.json")
echo "smoke: train --dry-run into a mounted dir: model.pt + metrics.json (test accuracy $acc) in $(( $(date +%s) - ts )) s"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ts=$(date +%s)
hc=(); [ "$ENGINE" = podman ] && hc=(--health-interval disable)  # no systemd timers here; run it by hand below
"$ENGINE" run -d --name "$name" "${hc[@]}" -p "127.0.0.1:$port:8000" -v "$work:/runs:ro" \
  -e HARFLOW_ADMIN_KEYS=smoke-key "$TAG" serve --model /runs/smoke --host 0.0.0.0 --port 8000 >/dev/null
ok=0
for _ in $(seq 120); do
  if curl -sf "http://127.0.0.1:$port/readyz" >"$work/readyz.json" 2>/dev/null; then ok=1; break; fi
  "$ENGINE" inspect -f '{{.State.Running}}' "$name" 2>/dev/null | grep -q true || break
  sleep 0.5
done
if [ $ok != 1 ]; then echo "smoke: serve never answered /readyz" >&2; "$ENGINE" logs "$name" 2>&1 | tail -30 >&2; exit 1; fi
echo "smoke: serve /readyz on 127.0.0.1:$port -> $(cat "$work/readyz.json") after $(( $(date +%s) - ts )) s"
curl -sf "http://127.0.0.1:$port/metrics" | grep -q '^# HELP' && echo "smoke: /metrics answers"
if [ "$ENGINE" = podman ]; then
  podman healthcheck run "$name" && echo "smoke: image HEALTHCHECK passes" || { echo "smoke: HEALTHCHECK failed" >&2; exit 1; }
fi
size=$("$ENGINE" image inspect "$TAG" --format '{{.Size}}' | head -1)
echo "smoke: OK in $(( $(date +%s) - t0 )) s; image $TAG size $(( size / 1000000 )) MB ($ENGINE)"
