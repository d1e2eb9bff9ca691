#!/usr/bin/env bash
# Builds Horovod 0.28.1 (the last release) against the pinned torch into the venv, with gloo, no MPI.
# As released it does not compile against torch 2.13 (C++14 vs C++17): the one-line patch below fixes that.
# The wheel is cached (keyed by torch version), so later runs on the same machine install in seconds.
set -euo pipefail
VENV=${VENV:-.venv}
PY=$VENV/bin/python
if $PY -c "import horovod.torch" 2>/dev/null; then echo "horovod: already installed"; exit 0; fi
TORCH=$($PY -c "import torch; print(torch.__version__.split('+')[0])")
CACHE=${HARFLOW_WHEEL_CACHE:-$HOME/.cache/harflow/wheels/torch-$TORCH}
mkdir -p "$CACHE"
whl=$(ls "$CACHE"/horovod-0.28.1-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$whl" ]; then
  command -v cmake >/dev/null && command -v g++ >/dev/null || {
    [ "$(id -u)" = 0 ] && apt-get install -y -qq --no-install-recommends cmake g++ >/dev/null; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  $PY -m pip download -q --no-deps --no-binary :all: horovod==0.28.1 -d "$tmp"
  tar -C "$tmp" -xzf "$tmp"/horovod-0.28.1.tar.gz
  src="$tmp/horovod-0.28.1"
  sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' "$src/CMakeLists.txt" "$src/horovod/torch/CMakeLists.txt"
  echo "horovod: building 0.28.1 against torch $TORCH (~4 min on 2 cores)"
  HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_TENSORFLOW=1 \
  HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS="-j$(nproc)" \
    $PY -m pip wheel -q --no-build-isolation --no-deps "$src" -w "$CACHE"
  whl=$(ls "$CACHE"/horovod-0.28.1-*.whl | head -n1)
fi
$PY -m pip install -q -c constraints.txt cloudpickle psutil pyyaml packaging cffi
$PY -m pip install -q --no-deps "$whl"
$PY -c "import horovod.torch as hvd; print('horovod', hvd.__version__ if hasattr(hvd,'__version__') else 'ok')"
