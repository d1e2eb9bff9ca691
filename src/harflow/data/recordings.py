"""In-memory recordings, the common currency between data sources and the windowing code."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harflow.data.labels import LabelMap


@dataclass
class Recording:
    subject: str
    recording: str
    signals: np.ndarray  # (T, C) float32, channels as in RecordingSet.channels
    labels: np.ndarray  # (T,) int64 raw labels, -1 = unlabeled
    split: str | None = None  # explicit train/val/test assignment, if the source gives one

    def __len__(self) -> int:
        return len(self.signals)


@dataclass
class RecordingSet:
    name: str
    recordings: list[Recording]
    channels: tuple[str, ...]
    rate_hz: float
    label_map: LabelMap
    # raw label → name for every raw label present (for `data info`), beyond the chosen label set
    raw_label_names: dict[int, str] = field(default_factory=dict)

    @property
    def subjects(self) -> list[str]:
        return sorted({r.subject for r in self.recordings}, key=_natural)


def _natural(s: str) -> tuple:
    return (0, int(s)) if s.isdigit() else (1, s)
