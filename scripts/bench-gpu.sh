#!/usr/bin/env bash
# GPU part of the study, for a machine with CUDA: roof + `bench train` on cuda (NCCL), results JSON under
# results/ so `harflow bench report results/*.json` shows CPU vs GPU side by side.
#   scripts/bench-gpu.sh [NPROC_LIST]     (default: 1, plus 2 when two GPUs are visible)
set -euo pipefail
cd "$(dirname "$0")/.."
H=${HARFLOW:-.venv/bin/harflow}
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
if [ "$ngpu" = 0 ]; then echo "bench-gpu: no CUDA device visible; nothing to do" >&2; exit 2; fi
nproc=${1:-$([ "$ngpu" -ge 2 ] && echo 1,2 || echo 1)}
"$H" bench env --out results/env-cuda.json --tag gpu-host
"$H" bench roof --device cpu,cuda --out results/roof-cuda.json --tag gpu-host
"$H" bench train --device cuda --nproc "$nproc" --batch-size 256 --steps 60 --tag gpu-host \
  --out results/train-cuda.json
"$H" bench train --device cpu --nproc 1 --batch-size 256 --steps 30 --tag gpu-host \
  --out results/train-cpu-on-gpu-host.json
