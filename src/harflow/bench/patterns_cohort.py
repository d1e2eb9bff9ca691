"""The cohort and the truths of ``harflow bench patterns-e2e``: the cohort designed case by case, the span
that is streamed, the true timeline the service is given at label level, the label-level run on it, and the
daily minutes recomputed from the answered windows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from harflow.bench.patterns_compare import compare_days, windows_segments
from harflow.bench.sensor_replay import Replay, windows_arrays
from harflow.data.windows import WindowSpec
from harflow.patterns.cohort import Cohort, SimulationConfig
from harflow.patterns.injections import Change

ROLES = ("inactivity", "later_wake", "night_wandering", "none", "fewer_sit_to_stand", "walking_step")
SIZES = {"later_wake": 90.0, "night_wandering": 45.0, "fewer_sit_to_stand": 0.5, "walking_step": 0.5}


@dataclass(frozen=True)
class Plan:
    persons: int = 4
    history_days: int = 35
    stream_days: int = 7
    seed: int = 14
    tz: str = "Europe/London"
    start: dt.date = dt.date(2026, 1, 5)
    stream_hours: float | None = None  # only this much of the first streamed day, from 08:00 (dry run)
    chunk_s: float = 40.0
    inflight: int = 256  # unanswered windows per stream at most
    bodies: tuple[str, ...] | None = None  # HAPT test subject per person (default: drawn)

    def __post_init__(self) -> None:
        if self.persons < 1 or self.stream_days < 1 or self.history_days < 1:
            raise ValueError(f"need persons, history and streamed days >= 1, got {self}")

    @property
    def roles(self) -> list[str]:
        return [ROLES[i % len(ROLES)] for i in range(self.persons)]


def design_cohort(plan: Plan) -> Cohort:
    """The cohort of the plan's roles. An emergency falls on the third streamed day, or the next day with
    data (a day the simulated person did not wear the device cannot hold one)."""
    from harflow.patterns.simulate import simulate_cohort

    cfg = SimulationConfig(
        persons=plan.persons,
        days=plan.history_days + plan.stream_days,
        start=plan.start,
        tz=plan.tz,
        seed=plan.seed,
        changed_fraction=0.0,
        emergency_rate=0.0,
    )
    onset = plan.history_days + min(1, plan.stream_days - 1)
    changes = [Change(r, onset, SIZES[r]) if r in SIZES else None for r in plan.roles]
    first = plan.history_days + min(2, plan.stream_days - 1)
    for day in range(first, cfg.days):
        ems = [[day] if r == "inactivity" else [] for r in plan.roles]
        cohort = simulate_cohort(cfg, changes=changes, emergencies_on=ems, bodies=plan.bodies)
        if all(cohort.emergencies[i] for i, r in enumerate(plan.roles) if r == "inactivity"):
            return cohort
    return cohort  # the emergency found no day with data: reported as none in the ground truth


def stream_span(plan: Plan, cohort: Cohort) -> tuple[int, int]:
    """Unix seconds [from, to) that are streamed: the last ``stream_days`` days, or the dry run's hours."""
    t0 = int(cohort.calendar.midnight[plan.history_days])
    if plan.stream_hours is not None:
        return t0 + 8 * 3600, t0 + 8 * 3600 + round(plan.stream_hours * 3600)
    return t0, int(cohort.calendar.midnight[plan.history_days + plan.stream_days])


def true_timeline(
    cohort: Cohort, history_end: int, span: tuple[int, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The segments the service is given, at label level: the history, and the streamed span."""
    seg = cohort.segments()
    seg["person"] = seg["person"].astype(str)
    seg["activity"] = seg["activity"].astype(str)
    parts = []
    for lo, hi in ((int(cohort.calendar.midnight[0]), history_end), span):
        keep = (cohort.end > lo) & (cohort.start < hi)
        part = seg[keep].copy()
        lo_t, hi_t = (pd.Timestamp(x, unit="s", tz="UTC").tz_convert(cohort.config.tz) for x in (lo, hi))
        part["start"] = part["start"].clip(lo_t, hi_t)
        part["end"] = part["end"].clip(lo_t, hi_t)
        parts.append(part[part["end"] > part["start"]].reset_index(drop=True))
    return parts[0], parts[1]


def label_level(frame: pd.DataFrame, tz: str) -> tuple[list[dict], list[dict]]:
    """``harflow patterns daily`` and ``detect`` on the true timeline: the truth per day, and the alerts."""
    from harflow.patterns.alerts import to_records
    from harflow.patterns.cli import find_alerts
    from harflow.patterns.daily import daily_metrics, to_json_records
    from harflow.patterns.timeline import Timeline

    tl = Timeline.from_frame(frame, tz=tz, source="cohort")
    return to_json_records(daily_metrics(tl)), to_records(find_alerts(tl))


def recompute_days(
    cohort: Cohort, replays: list[Replay], spec: WindowSpec, tz: str, first: str, last: str, truth: list[dict]
) -> dict:
    """Diagnosis: the daily minutes recomputed here from the answered windows, once from the smoothed label
    the service stores (must reproduce the service's own numbers) and once from the model's top class per
    window (what the days would be without the stream's smoothing)."""
    from harflow.patterns.daily import daily_metrics, to_json_records
    from harflow.patterns.timeline import Timeline

    window_s = (spec.length - 1) / spec.rate_hz
    out = {}
    for name, pick in (("smoothed", 2), ("top_class", 1)):
        frames = []
        for pid, r in zip(cohort.persons, replays, strict=True):
            arrays = windows_arrays(r)
            if len(arrays[0]):
                frames.append(windows_segments(pid, arrays[0], arrays[pick], window_s))
        if not frames:
            continue
        tl = Timeline.from_frame(pd.concat(frames, ignore_index=True), tz=tz, source=f"windows ({name})")
        days = [d for d in to_json_records(daily_metrics(tl)) if first <= d["date"] <= last]
        cmp = compare_days(truth, days)
        out[name] = {"summary": cmp["summary"], "summary_all_days": cmp["summary_all_days"]}
    return out
