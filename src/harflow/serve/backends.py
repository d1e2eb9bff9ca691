"""Inference backends: torch eager and ONNX Runtime (from ``harflow export RUN_DIR --onnx``).

Both take raw windows (N, L, C) and return class probabilities (N, K); normalization is the checkpoint's
:class:`~harflow.data.normalize.Normalizer`, the same code training and offline evaluation use.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from harflow.models.predictor import Predictor, run_file

log = logging.getLogger(__name__)
ONNX_FILE = "model.onnx"


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
        import onnxruntime as ort

        self.pred = pred
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        x = self.pred.normalizer(np.asarray(X, np.float32))
        return softmax(self.session.run(None, {self.input: x})[0])


def onnx_path(run_dir: str | Path) -> Path:
    return run_file(run_dir, ONNX_FILE)


def export_onnx(run_dir: str | Path, atol: float = 1e-4) -> dict:
    """Export the checkpoint's model with a dynamic batch axis and check ONNX Runtime's outputs against torch
    (same random windows, several batch sizes). Raises if they differ beyond ``atol``."""
    pred = Predictor.load(run_dir)
    out = onnx_path(run_dir)
    L, C = pred.spec.length, len(pred.spec.channels)
    example = torch.randn(4, L, C)
    tmp = out.with_suffix(".onnx.tmp")
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        torch.onnx.export(
            pred.model,
            (example,),
            str(tmp),
            input_names=["windows"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: batch}} if _arg_name(pred.model) == "x" else None,
            dynamo=True,
            optimize=True,
        )
    except Exception as e:  # the dynamo exporter cannot take every model; the TorchScript one is the fallback
        log.warning("dynamo ONNX export failed (%s); using the TorchScript exporter", e)
        torch.onnx.export(
            pred.model,
            (example,),
            str(tmp),
            input_names=["windows"],
            output_names=["logits"],
            dynamic_axes={"windows": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    tmp.replace(out)
    rng = np.random.default_rng(0)
    torch_b, onnx_b = TorchBackend(pred), OnnxBackend(pred, out)
    worst = 0.0
    for n in (1, 7, 64):
        X = rng.normal(size=(n, L, C)).astype(np.float32) * np.asarray(
            pred.normalizer.std, np.float32
        ) + np.asarray(pred.normalizer.mean, np.float32)
        lt = pred.logits(X)
        lo = onnx_b.session.run(None, {onnx_b.input: pred.normalizer(X)})[0]
        worst = max(worst, float(np.abs(lt - lo).max()))
    if worst > atol:
        out.unlink()
        raise ValueError(f"ONNX outputs differ from torch by {worst:.2e} (> {atol:g}); export discarded")
    timings = {b.name: benchmark(b, L, C) for b in (torch_b, onnx_b)}
    return {"path": str(out), "max_abs_diff": worst, "ms_per_batch64": timings}


def _arg_name(model: torch.nn.Module) -> str:
    import inspect

    return next(iter(inspect.signature(model.forward).parameters))


def benchmark(backend, L: int, C: int, batch: int = 64, reps: int = 10) -> float:
    """Median milliseconds for one batch (after a warm-up)."""
    X = np.random.default_rng(1).normal(size=(batch, L, C)).astype(np.float32)
    backend.predict_proba(X)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        backend.predict_proba(X)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


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
