"""ONNX export of a run's model (``harflow export RUN_DIR --onnx`` → ``RUN_DIR/model.onnx``), checked against
torch before it is kept. The file name is :data:`harflow.models.checkpoint.ONNX_FILE`."""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch

from harflow.models import checkpoint
from harflow.models.predictor import Predictor

log = logging.getLogger(__name__)


def onnx_path(run_dir: str | Path) -> Path:
    return checkpoint.run_file(run_dir, checkpoint.ONNX_FILE)


def onnx_session(path: str | Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def median_ms(
    predict: Callable[[np.ndarray], object], L: int, C: int, batch: int = 64, reps: int = 10
) -> float:
    """Median milliseconds of ``predict`` on one batch of random windows (after a warm-up call)."""
    X = np.random.default_rng(1).normal(size=(batch, L, C)).astype(np.float32)
    predict(X)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        predict(X)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def export_onnx(run_dir: str | Path, atol: float = 1e-4) -> dict:
    """Export the checkpoint's model with a dynamic batch axis and check ONNX Runtime's outputs against torch
    (same random windows, several batch sizes). Raises if they differ beyond ``atol``."""
    pred = Predictor.load(run_dir)
    out = onnx_path(run_dir)
    L, C = pred.spec.length, len(pred.spec.channels)
    example = torch.randn(4, L, C)
    batch = torch.export.Dim("batch", min=1, max=4096)
    arg = next(iter(inspect.signature(pred.model.forward).parameters))
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".onnx-export-") as work:
        raw = Path(work) / "model.onnx"
        args = (pred.model, (example,), str(raw))
        names = {"input_names": ["windows"], "output_names": ["logits"]}
        try:
            dynamic = {"x": {0: batch}} if arg == "x" else None
            torch.onnx.export(*args, **names, dynamic_shapes=dynamic, dynamo=True, optimize=True)
        except Exception as e:  # the dynamo exporter cannot take every model; TorchScript's is the fallback
            log.warning("dynamo ONNX export failed (%s); using the TorchScript exporter", e)
            axes = {"windows": {0: "batch"}, "logits": {0: "batch"}}
            torch.onnx.export(*args, **names, dynamic_axes=axes, dynamo=False)
        # the exporter may put the weights in a side file next to the graph; the run dir gets one
        # self-contained file, replaced atomically
        model = onnx.load(str(raw))
        tmp = Path(work) / "single.onnx"
        onnx.save_model(model, str(tmp), save_as_external_data=False)
        os.replace(tmp, out)
    session = onnx_session(out)
    name = session.get_inputs()[0].name

    def onnx_logits(X: np.ndarray) -> np.ndarray:
        return session.run(None, {name: pred.normalizer(np.asarray(X, np.float32))})[0]

    rng = np.random.default_rng(0)
    std, mean = np.asarray(pred.normalizer.std, np.float32), np.asarray(pred.normalizer.mean, np.float32)
    worst = 0.0
    for n in (1, 7, 64):
        X = rng.normal(size=(n, L, C)).astype(np.float32) * std + mean
        worst = max(worst, float(np.abs(pred.logits(X) - onnx_logits(X)).max()))
    if worst > atol:
        out.unlink()
        raise ValueError(f"ONNX outputs differ from torch by {worst:.2e} (> {atol:g}); export discarded")
    timings = {"torch": median_ms(pred.logits, L, C), "onnx": median_ms(onnx_logits, L, C)}
    return {"path": str(out), "max_abs_diff": worst, "ms_per_batch64": timings}
