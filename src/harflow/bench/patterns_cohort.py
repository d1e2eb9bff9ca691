"""The cohort and the truths of ``harflow bench patterns-e2e``: the cohort designed case by case, the span
that is streamed, the true timeline the service is given at label level, the label-level run on it, and the
daily minutes recomputed from the answered windows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from harflow.bench.patterns_compare import compare_alerts, compare_days, in_days, majority
from harflow.bench.sensor_replay import Replay, windows_arrays
from harflow.data.windows import WindowSpec
from harflow.patterns.cohort import Cohort, SimulationConfig
from harflow.patterns.injections import Change
from harflow.patterns.windows import window_segments

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


DAILY_KINDS = ("step_change", "drift")


def recompute_days(
    cohort: Cohort,
    replays: list[Replay],
    spec: WindowSpec,
    tz: str,
    first: str,
    last: str,
    truth: list[dict],
    history: list[dict] | None = None,
    label_alerts: list[dict] | None = None,
) -> dict:
    """Diagnosis: the daily metrics recomputed here from the answered windows with the job's windows →
    timeline rule, per candidate per-window label: the smoothed label, the model's top class (what the job
    uses), and the top class under a centred majority filter of k windows. Each is compared with the truth
    and, with ``history`` (the true days before ``first``) and ``label_alerts``, its daily alerts (the
    daily detectors over history + these days) with the label-level run's daily alerts."""
    from harflow.patterns.daily import daily_metrics, from_json_records, to_json_records
    from harflow.patterns.detect import detect
    from harflow.patterns.timeline import Timeline

    window_s = (spec.length - 1) / spec.rate_hz  # a window's t_end as the service stores it
    arrays = {pid: windows_arrays(r) for pid, r in zip(cohort.persons, replays, strict=True)}
    variants = {
        "smoothed": lambda a: a[2],
        "top_class": lambda a: a[1],
        **{f"top_class_majority{k}": (lambda a, k=k: majority(a[0], a[1], k, spec.hop_s)) for k in (5, 25)},
    }
    out = {}
    for name, pick in variants.items():
        frames = [
            window_segments(pid, a[0], a[0] + window_s, pick(a)) for pid, a in arrays.items() if len(a[0])
        ]
        if not frames:
            continue
        tl = Timeline.from_frame(pd.concat(frames, ignore_index=True), tz=tz, source=f"windows ({name})")
        days = [d for d in to_json_records(daily_metrics(tl)) if first <= d["date"] <= last]
        cmp = compare_days(truth, days)
        out[name] = {k: cmp[k] for k in ("summary", "summary_all_days", "days")}
        if history is not None and label_alerts is not None:
            rows = [d for d in history if d["date"] < first] + days
            found = [a.to_dict() for a in detect(from_json_records(rows))]
            out[name]["daily_alerts"] = compare_alerts(
                [a for a in label_alerts if a["kind"] in DAILY_KINDS],
                [a for a in in_days(found, first, last) if a["kind"] in DAILY_KINDS],
            )
    return out
