"""``harflow evaluate RUN_DIR``: re-score a checkpoint on a dataset's split with its own window spec."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from harflow.data.dataset import build_windows
from harflow.data.normalize import Normalizer
from harflow.data.sources import load_recordings
from harflow.models.predictor import Predictor
from harflow.train.metrics import classification_metrics

log = logging.getLogger(__name__)


def evaluate(run_dir: str, data: str | None = None, split: str = "test") -> dict[str, Any]:
    pred = Predictor.load(run_dir)
    tc = pred.checkpoint.get("train_config", {})
    data = data or tc.get("data", "hapt")
    rs = load_recordings(
        data,
        classes=len(pred.labels) if data == "hapt" else None,
        subjects=tc.get("subjects") if data == tc.get("data") else None,
        rate_hz=pred.spec.rate_hz,
    )
    if tuple(rs.channels) != pred.spec.channels:
        raise ValueError(f"{data}: channels {rs.channels} differ from the model's {pred.spec.channels}")
    wd = build_windows(rs, pred.spec, Normalizer.identity(len(pred.spec.channels)))
    splits = list(wd.splits) if split == "all" else [split]
    X = np.concatenate([wd.splits[s].X for s in splits])
    y_data = np.concatenate([wd.splits[s].y for s in splits])
    # map the data's class names onto the model's; windows of classes the model does not know are left out
    to_model = np.array([pred.labels.index(n) if n in pred.labels else -1 for n in wd.label_map.names])
    y = to_model[y_data] if len(y_data) else y_data
    unknown = int((y < 0).sum())
    if unknown:
        log.warning(
            "%d windows carry labels the model does not know (%s); left out",
            unknown,
            sorted({wd.label_map.names[i] for i in y_data[y < 0]}),
        )
    X, y = X[y >= 0], y[y >= 0]
    probs = pred.predict_proba(X)
    m = classification_metrics(y, probs.argmax(axis=1), pred.labels)
    m.update({"data": data, "split": split, "model_version": pred.version})
    return m
