"""The changes and emergencies injected into simulated routines: their kinds, how each modifies the daily
budgets (:class:`~harflow.patterns.routines.Effects`), and inactivity emergencies laid over a timeline.

Every change is a step from its onset day except ``walking_ramp``, which declines linearly from it. Sizes
are drawn stratified over each kind's range, so recall can be reported by effect size without gaps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from harflow.patterns.fine_structure import BETWEEN, LAYING, POSTURE, SITTING, TRANSITIONS, Pieces
from harflow.patterns.intervals import cut, merge_runs
from harflow.patterns.routines import Effects


@dataclass(frozen=True)
class Kind:
    metric: str  # the daily metric (harflow.patterns.daily) the change moves most
    direction: str
    shape: str
    unit: str  # of the size: "fraction" (0.3 = 30 %) or "min"


KINDS: dict[str, Kind] = {
    "walking_step": Kind("active_min", "down", "step", "fraction"),
    "walking_ramp": Kind("active_min", "down", "ramp", "fraction"),
    "fewer_sit_to_stand": Kind("sit_to_stand", "down", "step", "fraction"),
    "longer_sedentary_bouts": Kind("sedentary_bout_mean_min", "up", "step", "fraction"),
    "later_wake": Kind("wake_time", "up", "step", "min"),
    "night_wandering": Kind("night_upright_min", "up", "step", "min"),
}
RAMP_FLOOR = 0.3  # a walking ramp never takes walking below 30 % of the routine


@dataclass(frozen=True)
class ChangeSpec:
    """A kind of change and the range its size is drawn from: the relative step (``fraction``), minutes
    (``later_wake``: wake-up delay; ``night_wandering``: extra upright minutes a night), or for
    ``walking_ramp`` the relative decline per day."""

    kind: str
    low: float
    high: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown change kind {self.kind!r}; known: {', '.join(KINDS)}")
        if not 0 <= self.low <= self.high:
            raise ValueError(f"{self.kind}: size range [{self.low}, {self.high}] is not 0 <= low <= high")
        if KINDS[self.kind].unit == "fraction" and self.kind != "longer_sedentary_bouts" and self.high >= 1:
            raise ValueError(f"{self.kind}: a decline of {self.high:.0%} or more leaves nothing")


DEFAULT_CHANGES: tuple[ChangeSpec, ...] = (
    ChangeSpec("walking_step", 0.2, 0.5),
    ChangeSpec("walking_ramp", 0.005, 0.02),
    ChangeSpec("fewer_sit_to_stand", 0.2, 0.5),
    ChangeSpec("longer_sedentary_bouts", 0.3, 1.0),
    ChangeSpec("later_wake", 45.0, 120.0),
    ChangeSpec("night_wandering", 15.0, 60.0),
)


@dataclass(frozen=True)
class Change:
    kind: str
    onset_day: int  # index of the first changed day
    size: float  # see ChangeSpec; for a ramp, the decline reached on the last simulated day
    rate_per_day: float | None = None  # ramps only

    @property
    def info(self) -> Kind:
        return KINDS[self.kind]

    def to_dict(self, start: dt.date) -> dict:
        k = self.info
        return {
            "kind": self.kind,
            "metric": k.metric,
            "direction": k.direction,
            "onset": (start + dt.timedelta(days=self.onset_day)).isoformat(),
            "onset_day": self.onset_day,
            "shape": k.shape,
            "size": round(self.size, 4),
            "unit": k.unit,
            "rate_per_day": None if self.rate_per_day is None else round(self.rate_per_day, 5),
        }


def assign_changes(
    rng: np.random.Generator,
    persons: int,
    days: int,
    fraction: float,
    specs: tuple[ChangeSpec, ...],
    onset_window: tuple[float, float],
) -> list[Change | None]:
    """At most one change per person; ``round(fraction * persons)`` persons get one, kinds in equal shares,
    onsets uniform over the window (fractions of the simulated days), sizes stratified over each range."""
    out: list[Change | None] = [None] * persons
    n = round(fraction * persons) if specs else 0
    who = rng.permutation(persons)[:n]
    kinds = rng.permutation(np.arange(n) % max(len(specs), 1))
    lo_day = min(max(round(onset_window[0] * days), 1), days - 1)
    hi_day = min(max(round(onset_window[1] * days), lo_day), days - 1)
    for k, spec in enumerate(specs):
        mine = who[kinds == k]
        q = (rng.permutation(len(mine)) + rng.random(len(mine))) / max(len(mine), 1)
        for person, u in zip(mine.tolist(), q.tolist(), strict=True):
            onset = int(rng.integers(lo_day, hi_day + 1))
            size = spec.low + u * (spec.high - spec.low)
            if spec.kind == "walking_ramp":
                reached = min(size * (days - onset), 1 - RAMP_FLOOR)
                out[person] = Change(spec.kind, onset, reached, size)
            else:
                out[person] = Change(spec.kind, onset, size)
    return out


def effects(change: Change | None, days: int) -> Effects:
    eff = Effects.none(days)
    if change is None:
        return eff
    o, s = change.onset_day, change.size
    if change.kind == "walking_step":
        eff.walk[o:] = 1 - s
    elif change.kind == "walking_ramp":
        assert change.rate_per_day is not None
        steps = np.arange(1, days - o + 1)
        eff.walk[o:] = np.maximum(1 - change.rate_per_day * steps, RAMP_FLOOR)
    elif change.kind == "fewer_sit_to_stand":
        eff.sit_to_stand[o:] = 1 - s
    elif change.kind == "longer_sedentary_bouts":
        eff.sedentary_bout[o:] = 1 + s
    elif change.kind == "later_wake":
        eff.wake_shift_min[o:] = s
    elif change.kind == "night_wandering":
        eff.wander_min[o:] = s
    return eff


@dataclass(frozen=True)
class Emergency:
    start: int  # UTC s: the person stops moving ...
    end: int  # ... and moves again (recovery), or the day ends
    activity: int  # the still posture, SITTING or LAYING


def emergency_days(rng: np.random.Generator, days: int, rate: float, worn: np.ndarray) -> np.ndarray:
    """Indices of the days with an emergency (at most one a day, only on days with data)."""
    return np.flatnonzero((rng.random(days) < rate) & worn)


def overlay_emergency(
    rng: np.random.Generator,
    seg: tuple[np.ndarray, np.ndarray, np.ndarray],
    t0: int,
    t1: int,
    still: int,
    pieces: Pieces,
    body: str,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], Emergency | None]:
    """The person gets into ``still`` posture at ``t0`` (through the transition from whatever they were
    doing; a transition under way finishes first), stays without moving until ``t1`` and then returns to
    whatever the routine has them do then. The timeline must be contiguous around the emergency."""
    start, end, act = seg
    i = int(np.searchsorted(start, t0, "right")) - 1
    if act[i] in TRANSITIONS:
        t0, i = int(end[i]), i + 1
    target = POSTURE[still]
    begin = t0
    new: list[tuple[int, int, int]] = []
    if POSTURE[act[i]] != target:
        t = BETWEEN[(int(POSTURE[act[i]]), int(target))]
        d = int(max(round(rng.choice(pieces.of(body, t))), 1))
        new.append((t0, t0 + d, t))
        t0 += d
    resume = t1
    j = int(np.searchsorted(start, t1, "right")) - 1
    if t1 < end[-1]:
        if act[j] in TRANSITIONS:
            t1 = resume = int(end[j])
            j += 1
        if j < len(act) and POSTURE[act[j]] != target:
            t = BETWEEN[(int(target), int(POSTURE[act[j]]))]
            d = int(max(round(rng.choice(pieces.of(body, t))), 1))
            new.append((t1, t1 + d, t))
            resume = t1 + d
    if t1 - t0 < 600:
        return seg, None
    new.append((t0, t1, still))
    s, e, a = cut(start, end, act, np.array([begin]), np.array([resume]))
    ns, ne, na = (np.array([x[k] for x in new]) for k in range(3))
    s, e, a = np.concatenate([s, ns]), np.concatenate([e, ne]), np.concatenate([a, na.astype(a.dtype)])
    order = np.argsort(s, kind="stable")
    return merge_runs(s[order], np.minimum(e[order], end[-1]), a[order]), Emergency(t0, t1, still)


EMERGENCY_POSTURES = (SITTING, LAYING)
