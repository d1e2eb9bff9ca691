"""Resampling of irregular or differently-sampled recordings onto the model's rate."""

from __future__ import annotations

import numpy as np


def infer_rate(t: np.ndarray) -> float:
    """Sample rate from timestamps in seconds (median spacing, robust to jitter and gaps)."""
    if len(t) < 2:
        raise ValueError("need at least two timestamps to infer a sample rate")
    dt = float(np.median(np.diff(t)))
    if dt <= 0:
        raise ValueError("timestamps are not increasing")
    return 1.0 / dt


def resample(
    t: np.ndarray, signals: np.ndarray, rate_hz: float, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Linear interpolation of (T, C) ``signals`` onto a uniform grid at ``rate_hz`` starting at ``t[0]``;
    labels take the nearest original sample. Returns (t_new, signals_new, labels_new)."""
    t = np.asarray(t, dtype=np.float64)
    n = int(np.floor((t[-1] - t[0]) * rate_hz + 1e-9)) + 1
    t_new = t[0] + np.arange(n) / rate_hz
    out = np.empty((n, signals.shape[1]), dtype=np.float32)
    for c in range(signals.shape[1]):
        out[:, c] = np.interp(t_new, t, signals[:, c])
    new_labels = None
    if labels is not None:
        right = np.clip(np.searchsorted(t, t_new), 1, len(t) - 1)
        left = right - 1
        nearest = np.where(t_new - t[left] <= t[right] - t_new, left, right)
        new_labels = labels[nearest]
    return t_new, out, new_labels


def needs_resampling(rate_hz: float, target_hz: float, tol: float = 0.01) -> bool:
    return abs(rate_hz - target_hz) > tol * target_hz
