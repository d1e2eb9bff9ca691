"""A trained model ready for inference: the checkpoint's model, window spec, normalization and labels.

Evaluation, ``harflow predict``, the service and the benchmarks all go through this class, so windowing and
normalization are exactly what training used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from harflow.data.normalize import Normalizer
from harflow.data.windows import WindowSpec
from harflow.models import checkpoint
from harflow.models.registry import build_model


class Predictor:
    def __init__(self, ckpt: dict[str, Any], device: str = "cpu", source: str = "") -> None:
        m = ckpt["model"]
        self.checkpoint = ckpt
        self.source = source
        self.model_name: str = m["name"]
        self.model_config: dict[str, Any] = dict(m["config"])
        self.spec = WindowSpec.from_dict(ckpt["window"])
        self.normalizer = Normalizer.from_dict(ckpt["normalization"])
        self.labels: list[str] = list(ckpt["label_names"])
        self.device = torch.device(device)
        self.model = build_model(
            self.model_name, m["in_channels"], m["num_classes"], m["window"], self.model_config
        )
        self.model.load_state_dict(ckpt["model_state"])
        self.model.to(self.device).eval()
        self.version = f"{self.model_name}@{ckpt.get('epoch', 0)}:{Path(source).name if source else 'memory'}"

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> Predictor:
        """From a run directory (its ``model.pt``) or a checkpoint file."""
        path = checkpoint.resolve(run_dir)
        return cls(checkpoint.load(path), device, str(path.parent))

    @torch.no_grad()
    def logits(self, windows: np.ndarray) -> np.ndarray:
        """Raw (un-normalized) windows (N, L, C) → logits (N, K)."""
        x = torch.from_numpy(self.normalizer(np.asarray(windows, dtype=np.float32))).to(self.device)
        return self.model(x).float().cpu().numpy()

    def predict_proba(self, windows: np.ndarray, batch: int = 1024) -> np.ndarray:
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 3 or windows.shape[1:] != (self.spec.length, len(self.spec.channels)):
            raise ValueError(
                f"windows must have shape (N, {self.spec.length}, {len(self.spec.channels)}), "
                f"got {windows.shape}"
            )
        out = [self.logits(windows[i : i + batch]) for i in range(0, len(windows), batch)]
        logits = np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
