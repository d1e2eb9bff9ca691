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
        if not 0 <= self.onset_window[0] <= self.onset_window[1] <= 1:
            raise ValueError(f"onset_window {self.onset_window} is not 0 <= first <= last <= 1")
        if not 0 <= self.emergency_rate <= 1 or not 0 < self.emergency_hours[0] <= self.emergency_hours[1]:
            raise ValueError(f"bad emergency rate {self.emergency_rate} or hours {self.emergency_hours}")

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


# the parts of YYYY-MM-DDTHH:MM:SS+HH:MM
_ISO = np.dtype(
    {
        "names": ["date", "t", "h", "c1", "m", "c2", "s", "z"],
        "formats": ["S10", "S1", "S2", "S1", "S2", "S1", "S2", "S6"],
    }
)
_PAIRS = np.array([f"{i:02d}" for i in range(100)], dtype="S2")


def iso8601(utc_s: np.ndarray, cal: Calendar) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS+HH:MM`` local times (bytes, 25 each), gathered from tables of their parts:
    strftime on millions of timestamps takes longer than simulating them."""
    utc_s = np.asarray(utc_s, dtype=np.int64)
    out = np.empty(len(utc_s), dtype=_ISO)
    if len(utc_s):
        off = cal.utc_offset(utc_s)
        day, sod = np.divmod(utc_s + off, 86400)
        first = int(day.min())
        dates = np.datetime_as_string(np.arange(first, int(day.max()) + 1).astype("M8[D]")).astype("S10")
        out["date"] = dates[day - first]
        out["t"], out["c1"], out["c2"] = b"T", b":", b":"
        out["h"], out["m"], out["s"] = _PAIRS[sod // 3600], _PAIRS[sod // 60 % 60], _PAIRS[sod % 60]
        # offsets are whole minutes: a table over the (narrow) range of minutes they span
        lo = int(off.min()) // 60
        zones = np.arange(lo, int(off.max()) // 60 + 1) * 60
        text = [
            f"{'-' if z < 0 else '+'}{abs(z) // 3600:02d}:{abs(z) // 60 % 60:02d}" for z in zones.tolist()
        ]
        out["z"] = np.array(text, dtype="S6")[off // 60 - lo]
    return out.view("S25")
