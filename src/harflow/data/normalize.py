"""Per-channel normalization, fit on training windows only and carried by the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalizer:
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, windows: np.ndarray) -> Normalizer:
        flat = windows.reshape(-1, windows.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        std[std < 1e-8] = 1.0
        return cls(tuple(flat.mean(axis=0).tolist()), tuple(std.tolist()))

    @classmethod
    def identity(cls, channels: int) -> Normalizer:
        return cls((0.0,) * channels, (1.0,) * channels)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (
            (x - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        ).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))
