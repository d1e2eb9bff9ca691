"""From recordings to normalized train/val/test window arrays."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from harflow.data.labels import LabelMap
from harflow.data.normalize import Normalizer
from harflow.data.recordings import RecordingSet
from harflow.data.splits import SPLITS, assign_splits
from harflow.data.windows import WindowSpec, label_windows

log = logging.getLogger(__name__)


@dataclass
class Split:
    X: np.ndarray  # (N, L, C) float32, normalized
    y: np.ndarray  # (N,) int64 class indices
    recording: np.ndarray  # (N,) index into WindowedData.recordings
    start: np.ndarray  # (N,) start sample within the recording

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class WindowedData:
    spec: WindowSpec
    label_map: LabelMap
    normalizer: Normalizer
    splits: dict[str, Split]
    recordings: list[str] = field(default_factory=list)  # "subject/recording"
    subjects: dict[str, list[str]] = field(default_factory=dict)  # split → subjects


def build_windows(
    rs: RecordingSet,
    spec: WindowSpec,
    normalizer: Normalizer | None = None,
    only: tuple[str, ...] = SPLITS,
) -> WindowedData:
    """Window every recording, split by subject (or as the source says) and normalize with statistics fit
    on the training split only (or with ``normalizer`` when re-evaluating a trained model). Recordings of
    splits not in ``only`` are not windowed (their splits come back empty)."""
    if tuple(spec.channels) != tuple(rs.channels):
        raise ValueError(f"window spec channels {spec.channels} do not match the data's {rs.channels}")
    if abs(spec.rate_hz - rs.rate_hz) > 1e-6:
        raise ValueError(f"data at {rs.rate_hz} Hz but the window spec expects {spec.rate_hz} Hz")
    assignment = assign_splits(rs)
    parts: dict[str, list[tuple]] = {s: [] for s in SPLITS}
    subjects: dict[str, set[str]] = {s: set() for s in SPLITS}
    names = []
    for i, rec in enumerate(rs.recordings):
        names.append(f"{rec.subject}/{rec.recording}")
        split = assignment[i]
        if split not in only:
            continue
        if len(rec) < spec.length:
            log.warning(
                "%s: recording %s/%s has %d samples, fewer than one window (%d); skipped",
                rs.name,
                rec.subject,
                rec.recording,
                len(rec),
                spec.length,
            )
            continue
        X, y, starts = label_windows(rec.signals, rec.labels, spec, rs.label_map)
        parts[split].append((X, y, np.full(len(y), i), starts))
        subjects[split].add(rec.subject)

    def cat(items: list[tuple]) -> tuple[np.ndarray, ...]:
        if not items:
            return (np.zeros((0, spec.length, len(spec.channels)), np.float32), *(np.zeros(0, np.int64),) * 3)
        return tuple(np.concatenate(c) for c in zip(*items, strict=True))

    raw = {s: cat(parts[s]) for s in SPLITS}
    if len(raw["train"][1]) == 0:
        raise ValueError(f"{rs.name}: no labeled training windows of {spec.length_s}s")
    norm = normalizer or Normalizer.fit(raw["train"][0])
    splits = {
        s: Split(norm(X), y.astype(np.int64), r.astype(np.int64), st.astype(np.int64))
        for s, (X, y, r, st) in raw.items()
    }
    return WindowedData(spec, rs.label_map, norm, splits, names, {s: sorted(v) for s, v in subjects.items()})
