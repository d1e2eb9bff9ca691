"""Timelines recorded elsewhere, into the store: each person gets an import device whose kept segments hold
the timeline, assigned to the person over its span. The analytics then treat them like streamed data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from harflow.serve.db.persons import check_tz
from harflow.serve.db.tables import device_assignments, persons, segments


def import_device(person_id: str) -> str:
    return f"import.{person_id}"[:128]


def import_timeline(engine: Engine, frame: pd.DataFrame, tz: str, chunk: int = 50_000) -> dict[str, int]:
    """``frame``: person, start, end (Unix seconds, or tz-aware times), activity. Creates missing persons
    (display name = id) and replaces each person's imported segments."""
    check_tz(tz)
    start = _seconds(frame["start"])
    end = _seconds(frame["end"])
    person = frame["person"].astype(str).to_numpy()
    activity = frame["activity"].astype(str).to_numpy()
    now = time.time()
    out = {"persons": 0, "segments": 0}
    order = np.argsort(person, kind="stable")
    ids, first = np.unique(person[order], return_index=True)
    bounds = [*first[1:], len(order)]
    for pid, lo, hi in zip(ids, first, bounds, strict=True):
        idx = order[lo:hi]
        device = import_device(pid)
        with engine.begin() as conn:
            if not conn.execute(select(persons.c.id).where(persons.c.id == pid)).first():
                conn.execute(insert(persons).values(id=pid, display_name=pid, tz=tz, created_at=now))
            conn.execute(delete(segments).where(segments.c.device_id == device))
            conn.execute(delete(device_assignments).where(device_assignments.c.device_id == device))
            conn.execute(
                insert(device_assignments).values(
                    device_id=device,
                    person_id=pid,
                    t_from=float(start[idx].min()),
                    t_to=float(end[idx].max()) + 1.0,
                    created_at=now,
                )
            )
            for k in range(0, len(idx), chunk):
                part = idx[k : k + chunk]
                conn.execute(
                    insert(segments),
                    [
                        {"device_id": device, "t_start": s, "t_end": e, "activity": a, "windows": 1}
                        for s, e, a in zip(
                            start[part].tolist(), end[part].tolist(), activity[part].tolist(), strict=True
                        )
                    ],
                )
        out["persons"] += 1
        out["segments"] += len(idx)
    return out


def _seconds(col: pd.Series) -> np.ndarray:
    if not pd.api.types.is_datetime64_any_dtype(col):
        return col.to_numpy(dtype=np.float64)
    # by subtraction, not astype(int64): that gives the column's own unit (s, ms, ns), not seconds
    utc = col.dt.tz_convert("UTC") if col.dt.tz is not None else col.dt.tz_localize("UTC")
    return ((utc - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
