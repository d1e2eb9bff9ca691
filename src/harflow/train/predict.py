"""``harflow predict RUN_DIR FILE``: one activity per window of an unlabeled recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harflow.data.resample import infer_rate, needs_resampling, resample
from harflow.data.sources.csv import CsvDataError, _numeric, _read
from harflow.data.windows import slice_windows, window_starts
from harflow.models.predictor import Predictor


def predict_file(run_dir: str, path: str) -> list[dict[str, Any]]:
    pred = Predictor.load(run_dir)
    f = Path(path)
    df = _read(f)
    need = ["t", *pred.spec.channels]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise CsvDataError(f"{f}: missing column(s) {missing} that the model needs; found {list(df.columns)}")
    keys = (
        df["subject"].astype(str) + "/" + df["recording"].astype(str)
        if {"subject", "recording"} <= set(df.columns)
        else pd.Series(f.stem, index=df.index)
    )
    cols = {c: _numeric(df, c, f) for c in need}
    rows: list[dict[str, Any]] = []
    for key, idx in keys.groupby(keys, sort=False).indices.items():
        t = cols["t"][idx]
        if (np.diff(t) <= 0).any():
            raise CsvDataError(f"{f}: timestamps of {key} are not strictly increasing")
        sig = np.stack([cols[c][idx] for c in pred.spec.channels], axis=1).astype(np.float32)
        if len(t) >= 2 and needs_resampling(infer_rate(t), pred.spec.rate_hz):
            t, sig, _ = resample(t, sig, pred.spec.rate_hz)
        starts = window_starts(len(sig), pred.spec)
        if len(starts) == 0:
            continue
        probs = pred.predict_proba(slice_windows(sig, starts, pred.spec.length))
        for s, p in zip(starts, probs, strict=True):
            k = int(p.argmax())
            rows.append(
                {
                    "recording": key,
                    "t_start": float(t[s]),
                    "t_end": float(t[s] + pred.spec.length / pred.spec.rate_hz),
                    "activity": pred.labels[k],
                    "probability": float(p[k]),
                }
            )
    return rows
