"""Inference backends: torch eager and ONNX Runtime (``model.onnx`` from ``harflow export RUN_DIR --onnx``).

Both take raw windows (N, L, C) and return class probabilities (N, K); normalization is the checkpoint's
:class:`~harflow.data.normalize.Normalizer`, the same code training and offline evaluation use.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from harflow.models.onnx_export import median_ms, onnx_path, onnx_session
from harflow.models.predictor import Predictor

log = logging.getLogger(__name__)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class TorchBackend:
    name = "torch"

    def __init__(self, pred: Predictor) -> None:
        self.pred = pred

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.pred.logits(X))


class OnnxBackend:
    name = "onnx"

    def __init__(self, pred: Predictor, path: str | Path, threads: int = 1) -> None:
        self.pred = pred
        self.session = onnx_session(path, threads)
        self.input = self.session.get_inputs()[0].name

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        x = self.pred.normalizer(np.asarray(X, np.float32))
        return softmax(self.session.run(None, {self.input: x})[0])


def benchmark(backend, L: int, C: int, batch: int = 64, reps: int = 10) -> float:
    """Median milliseconds for one batch (after a warm-up)."""
    return median_ms(backend.predict_proba, L, C, batch, reps)


def make_backend(
    pred: Predictor, run_dir: str | Path, kind: str = "auto", threads: int = 1, max_batch: int = 64
):
    """``auto`` picks whichever of torch / ONNX Runtime (if exported) is faster on this machine, judged at the
    two batch sizes the service runs: 1 (a lone stream, latency) and ``max_batch`` (saturation, throughput).
    The score is the geometric mean of the per-window times at the two, so neither decides alone: at batch 64
    the backends can be within noise of each other, and a choice made there alone flips between restarts."""
    torch.set_num_threads(threads)
    path = onnx_path(run_dir)
    if kind == "torch" or (kind == "auto" and not path.is_file()):
        return TorchBackend(pred)
    if kind == "onnx":
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; run `harflow export {run_dir} --onnx` first")
        return OnnxBackend(pred, path, threads)
    return choose_backend(
        [TorchBackend(pred), OnnxBackend(pred, path, threads)],
        pred.spec.length,
        len(pred.spec.channels),
        max_batch,
    )


def choose_backend(cands: list, L: int, C: int, max_batch: int):
    """The candidate with the lowest geometric mean of per-window time at batch 1 and ``max_batch``."""
    sizes = sorted({1, max(1, max_batch)})
    per_window = {
        b.name: {n: benchmark(b, L, C, batch=n, reps=5 if n > 1 else 20) / n for n in sizes} for b in cands
    }
    score = {name: float(np.exp(np.mean(np.log(list(t.values()))))) for name, t in per_window.items()}
    best = min(cands, key=lambda b: score[b.name])
    log.info("backend benchmark (ms per window at batch %s): %s → %s", sizes, per_window, best.name)
    return best
