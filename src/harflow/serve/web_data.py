"""What the caregiver pages show, read from the store: each person's current activity and last sighting,
today's timeline and minutes per clinical class, daily metrics against the personal baseline band."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import select

from harflow.patterns.baseline import BaselineConfig, to_panel, trailing_baseline
from harflow.patterns.classes import lookup
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import merge_runs
from harflow.serve.db.tables import predictions, segments

TREND_METRICS = ("active_min", "sedentary_min", "walk_bouts", "sit_to_stand")
BAND_Z = 1.2816  # the band holds the middle 80 % of usual days (normal quantiles of the robust spread)


def local_midnight(tz: str, now: float) -> float:
    d = dt.datetime.fromtimestamp(now, ZoneInfo(tz))
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def last_seen(persons: Persons, person_id: str) -> dict[str, Any] | None:
    """The newest window (or imported segment) the person's devices recorded for them: when and what."""
    best = None
    with persons.engine.connect() as conn:
        for a in persons.assignments(person_id):
            for tab, col in ((predictions, predictions.c.smoothed), (segments, segments.c.activity)):
                r = conn.execute(
                    select(tab.c.t_end, col)
                    .where(tab.c.device_id == a["device_id"], tab.c.t_start >= a["t_from"])
                    .order_by(tab.c.t_end.desc())
                    .limit(1)
                ).first()
                if r is not None and (best is None or r[0] > best["t"]):
                    best = {"t": float(r[0]), "activity": str(r[1]), "device_id": a["device_id"]}
    return best


def today(persons: Persons, person: dict, now: float | None = None) -> dict[str, Any]:
    """Today's (local day) runs of one activity and the minutes per clinical class so far."""
    now = now or time.time()
    t0 = local_midnight(person["tz"], now)
    runs = merge_runs([(a, b, act, 1) for a, b, act in persons.windows(person["id"], t0, now + 60)])
    minutes: dict[str, float] = {}
    for r in runs:
        cls = lookup(r["activity"]).day
        minutes[cls] = minutes.get(cls, 0.0) + (r["t_end"] - r["t_start"]) / 60
    segs = [{"t_start": r["t_start"], "t_end": r["t_end"], "activity": r["activity"]} for r in runs]
    return {"day_start": t0, "segments": segs, "minutes": {k: round(v, 1) for k, v in minutes.items()}}


def trend(analytics: Analytics, person: dict, days: int, now: float | None = None) -> dict[str, Any]:
    """The last ``days`` daily metrics and, per day, the personal baseline band (trailing, weekday-aware:
    :mod:`harflow.patterns.baseline`, what the change detection compares against)."""
    now = now or time.time()
    cfg = BaselineConfig()
    person_id = person["id"]
    end = dt.datetime.fromtimestamp(now, ZoneInfo(person["tz"])).date()
    start = end - dt.timedelta(days=days + cfg.window * 2)  # the first shown day needs its own window
    rows = analytics.days(person_id, start.isoformat(), end.isoformat())
    dates = list(pd.date_range(end - dt.timedelta(days=days - 1), end).strftime("%Y-%m-%d"))
    out: dict[str, Any] = {"dates": dates, "metrics": {}}
    if not rows:
        return out
    frame = pd.DataFrame(rows)
    frame["person"] = person_id
    panel = to_panel(frame, [m for m in TREND_METRICS if m in frame], end=pd.Timestamp(end))
    index = {d.strftime("%Y-%m-%d"): i for i, d in enumerate(panel.dates)}
    for m, values in panel.values.items():
        b = trailing_baseline(values, panel.weekend, cfg)
        mid = b.expected(panel.weekend)[0]
        lo, hi = mid - BAND_Z * b.scale[0], mid + BAND_Z * b.scale[0]
        pick = [index.get(d) for d in dates]

        def col(a: np.ndarray, pick=pick) -> list[float | None]:
            return [None if i is None or not np.isfinite(a[i]) else round(float(a[i]), 2) for i in pick]

        out["metrics"][m] = {"value": col(values[0]), "low": col(lo), "mid": col(mid), "high": col(hi)}
    return out
