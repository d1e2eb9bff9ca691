"""A simulated cohort: its configuration, its segments (arrays) and its ground truth.

Built by :func:`harflow.patterns.simulate.simulate_cohort`; read by the writers there and by
:mod:`harflow.patterns.sensor_stream`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harflow.patterns.fine_structure import ACTIVITIES
from harflow.patterns.injections import DEFAULT_CHANGES, Change, ChangeSpec, Emergency
from harflow.patterns.routines import Calendar, RoutineConfig


@dataclass(frozen=True)
class SimulationConfig:
    persons: int = 200
    days: int = 90
    start: dt.date = dt.date(2026, 1, 5)  # a Monday; 90 days from it cross the spring DST change
    tz: str = "Europe/London"  # days are local calendar days of this zone
    seed: int = 0
    changed_fraction: float = 0.5  # of persons with one injected change
    changes: tuple[ChangeSpec, ...] = DEFAULT_CHANGES
    onset_window: tuple[float, float] = (30 / 90, 70 / 90)  # onset day, as fractions of the days
    emergency_rate: float = 0.004  # per person-day, whether or not the person has a change
    emergency_hours: tuple[float, float] = (1.0, 8.0)  # log-uniform; cut at the end of the day
    classes: int = 12  # 12: postural transitions in the timeline; 6: they become the posture they end in
    routine: RoutineConfig = field(default_factory=RoutineConfig)

    def __post_init__(self) -> None:
        if self.persons < 1 or self.days < 2:
            raise ValueError(f"need at least 1 person and 2 days, got {self.persons} x {self.days}")
        if self.classes not in (6, 12):
            raise ValueError(f"classes must be 6 or 12, got {self.classes}")
        if not 0 <= self.changed_fraction <= 1:
            raise ValueError(f"changed_fraction {self.changed_fraction} is not in [0, 1]")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["start"] = self.start.isoformat()
        d["changes"] = [dataclasses.asdict(c) for c in self.changes]
        return json.loads(json.dumps(d))  # tuples → lists


@dataclass(frozen=True)
class Cohort:
    """Segments of all persons (arrays, sorted by person then start; no-data time has no segment) and the
    ground truth. Times are UTC epoch seconds; ``activity`` indexes ``ACTIVITIES``."""

    config: SimulationConfig
    calendar: Calendar
    persons: tuple[str, ...]
    bodies: tuple[str, ...]  # the HAPT test subject whose fine structure and signals each person has
    changes: tuple[Change | None, ...]
    emergencies: tuple[tuple[Emergency, ...], ...]
    person: np.ndarray  # (n,) int32 index into persons
    start: np.ndarray  # (n,) int64
    end: np.ndarray  # (n,) int64
    activity: np.ndarray  # (n,) int8
    wake: np.ndarray  # (persons, days + 1) UTC s of each morning's rise from bed
    bed: np.ndarray  # (persons, days) UTC s of each evening's lying down
    missing: np.ndarray  # (persons, days) bool: the device was not worn that day

    def index(self, person: str) -> int:
        return self.persons.index(person)

    def rows(self, person: str) -> slice:
        i = self.index(person)
        lo, hi = np.searchsorted(self.person, [i, i + 1])
        return slice(int(lo), int(hi))

    def segments(self, person: str | None = None) -> pd.DataFrame:
        """``person, start, end, activity`` with zoned datetimes (the shape of a segments timeline)."""
        sl = self.rows(person) if person is not None else slice(None)
        who = pd.Categorical.from_codes(self.person[sl], categories=list(self.persons))
        return pd.DataFrame(
            {
                "person": who,
                "start": _zoned(self.start[sl], self.config.tz),
                "end": _zoned(self.end[sl], self.config.tz),
                "activity": pd.Categorical.from_codes(self.activity[sl], categories=list(ACTIVITIES)),
            }
        )

    def iso(self, utc_s: int) -> str:
        return iso8601(np.array([utc_s]), self.calendar).astype(str)[0]

    def ground_truth(self) -> dict:
        cfg = self.config
        return {
            "config": cfg.to_dict(),
            "tz": cfg.tz,
            "start": cfg.start.isoformat(),
            "days": cfg.days,
            "persons": [
                {
                    "person": p,
                    "body": body,
                    "change": None if change is None else change.to_dict(cfg.start),
                    "emergencies": [
                        {
                            "start": self.iso(e.start),
                            "end": self.iso(e.end),
                            "posture": ACTIVITIES[e.activity],
                        }
                        for e in ems
                    ],
                }
                for p, body, change, ems in zip(
                    self.persons, self.bodies, self.changes, self.emergencies, strict=True
                )
            ],
        }


def _zoned(utc_s: np.ndarray, tz: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(utc_s.astype("M8[s]")).tz_localize("UTC").tz_convert(tz)


def iso8601(utc_s: np.ndarray, cal: Calendar) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS+HH:MM`` local times (bytes, 25 each), formatted arithmetically: strftime on
    millions of timestamps takes several times longer than the whole simulation."""
    utc_s = np.asarray(utc_s, dtype=np.int64)
    off = cal.utc_offset(utc_s)
    local = (utc_s + off).astype("M8[s]")
    day = local.astype("M8[D]")
    month = local.astype("M8[M]")
    sod = (local - day).astype(np.int64)
    a = np.abs(off)
    buf = np.empty((len(utc_s), 25), dtype=np.uint8)
    buf[:] = np.frombuffer(b"0000-00-00T00:00:00+00:00", dtype=np.uint8)
    for col, width, v in (
        (0, 4, local.astype("M8[Y]").astype(np.int64) + 1970),
        (5, 2, month.astype(np.int64) % 12 + 1),
        (8, 2, (day - month.astype("M8[D]")).astype(np.int64) + 1),
        (11, 2, sod // 3600),
        (14, 2, sod // 60 % 60),
        (17, 2, sod % 60),
        (20, 2, a // 3600),
        (23, 2, a // 60 % 60),
    ):
        for j in range(width):
            buf[:, col + width - 1 - j] = 48 + (v // 10**j) % 10
    buf[:, 19] = np.where(off < 0, ord("-"), ord("+"))
    return buf.view("S25").ravel()
