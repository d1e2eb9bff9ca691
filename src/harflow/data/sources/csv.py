"""Bring-your-own recordings: a CSV/Parquet file or a folder of them.

Schema (one row per sample): ``subject, recording, t, acc_x, acc_y, acc_z[, gyro_x, gyro_y, gyro_z], label
[, split]``. ``t`` is in seconds; ``label`` a string or an integer (empty or -1 = unlabeled); ``split`` one of
train/val/test and constant within a recording. Each recording is resampled to the target rate.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from harflow.data.labels import LabelMap
from harflow.data.recordings import Recording, RecordingSet
from harflow.data.resample import infer_rate, needs_resampling, resample
from harflow.data.sources import register_dataset

log = logging.getLogger(__name__)

REQUIRED = ("subject", "recording", "t", "acc_x", "acc_y", "acc_z", "label")
GYRO = ("gyro_x", "gyro_y", "gyro_z")
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
SPLIT_VALUES = frozenset({"train", "val", "test"})


class CsvDataError(ValueError):
    """A bring-your-own file breaks the schema; the message names file, row and column."""


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))
        if not files:
            raise CsvDataError(f"{path}: folder holds no {'/'.join(SUFFIXES)} files")
        return files
    raise CsvDataError(f"{path}: no such file or folder")


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(
            path, dtype={"subject": str, "recording": str, "label": str, "split": str}, keep_default_na=True
        )
    except Exception as e:  # parser errors come in many types; the file name is what the user needs
        raise CsvDataError(f"{path}: cannot be read as {path.suffix.lstrip('.')} ({e})") from e


def _row(path: Path, i: int) -> str:
    # pandas row i is line i+2 of a CSV (header is line 1)
    return f"line {i + 2}" if not path.name.lower().endswith((".parquet", ".pq")) else f"row {i}"


def _numeric(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = df[col].iloc[i]
        what = (
            "missing"
            if pd.isna(raw)
            else "NaN/inf"
            if str(raw).strip().lower() in {"nan", "inf", "-inf", "infinity"}
            else "not a number"
        )
        raise CsvDataError(
            f"{path}: {_row(path, i)}, column {col!r}: {what} ({raw!r}); "
            f"{int(bad.sum())} bad value(s) in that column"
        )
    return values


def _labels(series: pd.Series) -> list[str | None]:
    out: list[str | None] = []
    for v in series.tolist():
        s = None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
        out.append(None if s in (None, "", "-1", "nan") else s)
    return out


def _sort_key(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


@register_dataset("csv")
def load_csv(path: str, rate_hz: float = 50.0, **_: object) -> RecordingSet:
    files = _files(Path(path))
    frames = []
    for f in files:
        df = _read(f)
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise CsvDataError(f"{f}: missing required column(s) {missing}; found {list(df.columns)}")
        if df.empty:
            log.warning("%s: no rows; skipped", f)
            continue
        frames.append((f, df))
    if not frames:
        raise CsvDataError(f"{path}: no rows in any file")
    channels = ["acc_x", "acc_y", "acc_z"] + [g for g in GYRO if all(g in df.columns for _, df in frames)]
    partial = [g for g in GYRO if g not in channels and any(g in df.columns for _, df in frames)]
    if partial:
        log.warning("%s: %s present in only some files; using %s", path, partial, channels)

    pending: list[tuple[Path, str, str, np.ndarray, np.ndarray, list[str | None], str | None]] = []
    names: set[str] = set()
    for f, df in frames:
        numeric = {c: _numeric(df, c, f) for c in ["t", *channels]}
        labels = _labels(df["label"])
        names.update(lab for lab in labels if lab is not None)
        has_split = "split" in df.columns
        keys = df["subject"].astype(str).str.strip() + "\x00" + df["recording"].astype(str).str.strip()
        for key, idx in keys.groupby(keys, sort=False).indices.items():
            subject, recording = key.split("\x00")
            t = numeric["t"][idx]
            dt = np.diff(t)
            if (dt <= 0).any():
                j = int(idx[int(np.flatnonzero(dt <= 0)[0]) + 1])
                raise CsvDataError(
                    f"{f}: {_row(f, j)}, column 't': timestamps of recording {subject}/{recording} are not "
                    f"strictly increasing ({numeric['t'][j - 1] if j else '?'} then {numeric['t'][j]})"
                )
            split = None
            if has_split:
                values = {str(v).strip().lower() for v in df["split"].iloc[idx]}
                if len(values) != 1 or not values <= SPLIT_VALUES:
                    raise CsvDataError(
                        f"{f}: column 'split' of recording {subject}/{recording} must be one of "
                        f"{sorted(SPLIT_VALUES)} and constant, got {sorted(values)}"
                    )
                split = values.pop()
            sig = np.stack([numeric[c][idx] for c in channels], axis=1)
            pending.append((f, subject, recording, t, sig, [labels[k] for k in idx], split))

    ordered = sorted(names, key=_sort_key)
    index = {n: i for i, n in enumerate(ordered)}
    recs = []
    for f, subject, recording, t, sig, labs, split in pending:
        raw = np.array([-1 if lab is None else index[lab] for lab in labs], dtype=np.int64)
        if len(t) >= 2 and needs_resampling(infer_rate(t), rate_hz):
            log.info(
                "%s: recording %s/%s resampled from %.1f Hz to %.1f Hz",
                f,
                subject,
                recording,
                infer_rate(t),
                rate_hz,
            )
            _, sig, raw = resample(t, sig, rate_hz, raw)
        recs.append(Recording(subject, recording, sig.astype(np.float32), raw, split))
    if not ordered:
        raise CsvDataError(f"{path}: no labeled rows; column 'label' is empty everywhere")
    label_map = LabelMap(tuple(range(len(ordered))), tuple(ordered))
    return RecordingSet("csv", recs, tuple(channels), rate_hz, label_map, dict(enumerate(ordered)))
