"""The one definition of a window: spec, slicing and majority labels.

Training, evaluation, serving and benchmarks all window through this module; the checkpoint carries the
:class:`WindowSpec` so nothing downstream re-derives it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harflow.data.labels import UNLABELED, LabelMap


@dataclass(frozen=True)
class WindowSpec:
    rate_hz: float = 50.0
    length_s: float = 2.56
    hop_s: float = 1.28
    channels: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.length_s <= 0 or self.hop_s <= 0:
            raise ValueError(f"window spec needs positive rate/length/hop, got {self}")
        if self.length < 2:
            raise ValueError(f"window of {self.length_s}s at {self.rate_hz} Hz is shorter than 2 samples")

    @property
    def length(self) -> int:
        return round(self.length_s * self.rate_hz)

    @property
    def hop(self) -> int:
        return max(1, round(self.hop_s * self.rate_hz))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> WindowSpec:
        return cls(float(d["rate_hz"]), float(d["length_s"]), float(d["hop_s"]), tuple(d["channels"]))


def window_starts(n_samples: int, spec: WindowSpec) -> np.ndarray:
    if n_samples < spec.length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - spec.length + 1, spec.hop, dtype=np.int64)


def slice_windows(signals: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """(T, C) signals → (W, length, C) copies of the windows beginning at ``starts``."""
    idx = starts[:, None] + np.arange(length)[None, :]
    return np.ascontiguousarray(signals[idx], dtype=np.float32)


def majority_labels(labels: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Most frequent raw label per window (ties → the smaller label; unlabeled counts as a label)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    shifted = labels.astype(np.int64) - UNLABELED  # unlabeled → 0
    k = int(shifted.max()) + 1
    onehot = np.zeros((len(labels) + 1, k), dtype=np.int32)
    onehot[np.arange(1, len(labels) + 1), shifted] = 1
    csum = np.cumsum(onehot, axis=0)
    counts = csum[starts + length] - csum[starts]
    return counts.argmax(axis=1) + UNLABELED


def label_windows(
    signals: np.ndarray, labels: np.ndarray, spec: WindowSpec, label_map: LabelMap
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of one recording with class indices; windows whose majority is unlabeled or outside the
    label set are dropped. Returns (X (W, L, C) float32, y (W,) int64, starts (W,))."""
    starts = window_starts(len(signals), spec)
    raw = majority_labels(labels, starts, spec.length)
    table = label_map.lookup(int(labels.max(initial=0)))
    y = table[raw + 1]
    keep = y >= 0
    starts = starts[keep]
    return slice_windows(signals, starts, spec.length), y[keep], starts
