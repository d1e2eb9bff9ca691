"""Facts about a dataset for ``harflow data info``."""

from __future__ import annotations

from typing import Any

import numpy as np

from harflow.data.dataset import build_windows
from harflow.data.labels import UNLABELED
from harflow.data.sources import load_recordings
from harflow.data.windows import WindowSpec

UNITS = {"acc": "g", "gyro": "rad/s"}


def dataset_info(data: str = "hapt", classes: int = 6) -> dict[str, Any]:
    rs = load_recordings(data, classes=classes)
    labels = np.concatenate([r.labels for r in rs.recordings])
    values, counts = np.unique(labels, return_counts=True)
    per_subject: dict[str, int] = {}
    for r in rs.recordings:
        per_subject[r.subject] = per_subject.get(r.subject, 0) + 1
    spec = WindowSpec(rate_hz=rs.rate_hz, channels=rs.channels)
    wd = build_windows(rs, spec)
    return {
        "name": rs.name,
        "subjects": len(rs.subjects),
        "recordings": len(rs.recordings),
        "recordings_per_subject": {s: per_subject[s] for s in rs.subjects},
        "samples": len(labels),
        "rate_hz": rs.rate_hz,
        "channels": {c: UNITS.get(c.split("_")[0], "?") for c in rs.channels},
        "labels": [
            {
                "label": int(v),
                "name": "unlabeled" if v == UNLABELED else rs.raw_label_names.get(int(v), str(v)),
                "samples": int(c),
            }
            for v, c in zip(values, counts, strict=True)
        ],
        "classes": rs.label_map.num_classes,
        "window": spec.to_dict(),
        "windows": {k: len(v) for k, v in wd.splits.items()},
        "split_subjects": wd.subjects,
    }
