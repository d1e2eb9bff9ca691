"""Unusual inactivity, online: "not moving since 10:00" and "not up by the time she is almost always up".

Profile (Floeck & Litz 2009 style): from a person's history of epochs, for every time-of-day slot (30 min),
how long the *ongoing* inactivity run usually is when the clock is in that slot: each day contributes the
longest run length reached in the slot, widened to the neighbouring slots (a nap at 14:20 one day and 14:50
the next is the same habit), and the slot's usual value is a high quantile of those over the days (by default
the longest, with a 75 % margin: tuned on the dev cohorts). Two profiles: any inactivity (sedentary or lying)
and lying alone, because a fall ends in lying where the person usually sits, and lying in the day is rare for
most people — so it alarms far sooner than a long sit would. The alarm threshold is the usual value with a
margin (relative and absolute) and a floor.

Sleep: the usual night is the stretch of slots around 03:00 in which the person lies on most days (begun an
hour early; once she has been up for ``awake_min`` in the morning, the rest of it is day). A run that
begins in it or reaches it is sleep, not a day-time run: it is left out of the profile and never raises an
inactivity alarm, because right around the usual get-up time the ongoing run is
either minutes or nine hours long and no threshold separates those; not getting up is the wake check's job.

An epoch without data (``None``: device off, not worn) is not inactivity: it raises nothing, and a gap
longer than ``gap_tolerance_s`` ends the run, which restarts from scratch when data returns. Postural
transitions and unknown classes end a run; only ``active``/``upright`` count as being up.

Wake: the usual get-up time is a high quantile of the daily times at which the person has been up (active or
upright) for ``up_min`` minutes since ``day_start_h``; after it plus a margin, still lying or sitting, with
data since before that time (a device put on at noon says nothing about the morning), a
``routine_deviation`` alert is raised once that day.

Classes: the clinical classes, or model labels read by posture (``LAYING`` is lying at any hour; the
clinical table's day-time "sedentary" for it costs the fast lying alarm). Alarms from a profile:
:mod:`harflow.patterns.monitor` (live and batch, with the same decisions).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

CODES = {"active": 1, "upright": 2, "sedentary": 3, "lying": 4, "transition": 5}
NONE, ACTIVE, UPRIGHT, SEDENTARY, LYING, OTHER = 0, 1, 2, 3, 4, 5
NAMES = {v: k for k, v in CODES.items()}
LABEL_CODES = {  # model labels (HAPT) and other classifiers' names, by posture
    "walking": 1,
    "walking_upstairs": 1,
    "walking_downstairs": 1,
    "light": 1,
    "mvpa": 1,
    "moderate_vigorous": 1,
    "standing": 2,
    "sitting": 3,
    "laying": 4,
    "sleep": 4,
}
DAY_NS, MIN_NS, S_NS = 86_400_000_000_000, 60_000_000_000, 1_000_000_000


@dataclass(frozen=True)
class InactivityConfig:
    """Defaults tuned on dev cohorts (seed 101): the simulator's (200 persons) gives 0.033 false inactivity
    alarms and 0.005 false wake alerts a person-day, lying emergencies found in 30 min (median)."""

    slot_min: int = 30
    quantile: float = 1.0  # of the days' longest ongoing runs per slot: the longest seen, with the margin
    smooth_slots: int = 3  # widen each day's runs to ± this many slots
    rel_margin: float = 0.75
    abs_margin_min: float = 20.0
    floor_inactive_min: float = 60.0
    floor_lying_min: float = 30.0
    min_days: int = 7  # days with data in a slot before its profile is trusted
    gap_tolerance_s: float = 180.0
    epoch_s: float = 60.0  # epoch length: how many epochs make up_min
    day_start_h: float = 4.0
    up_min: float = 3.0  # up (active/upright) this long since day start: got up, for the wake check
    awake_min: float = 10.0  # up this long: the morning is day, not the tail of the night
    wake_quantile: float = 0.95
    wake_margin_min: float = 45.0
    sleep_lying_frac: float = 0.5  # slots lying on at least this share of days around 03:00 are the night
    sleep_lead_min: float = 60.0  # a run that starts this much before the usual night is sleep too


@dataclass
class InactivityProfile:
    tz: str
    slot_min: int
    inactive_usual: list[float]  # minutes, per slot
    lying_usual: list[float]
    inactive_thr: list[float]  # inf: never (no trusted history at all)
    lying_thr: list[float]
    sleep_from: (
        float | None
    )  # a run that starts or is in [sleep_from, sleep_to) (local minutes, may wrap) is sleep
    sleep_to: float | None
    wake_usual: float | None  # local minutes after midnight
    wake_thr: float | None
    days: int
    config: InactivityConfig = field(default_factory=InactivityConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("inactive_thr", "lying_thr"):
            d[k] = [None if math.isinf(x) else x for x in d[k]]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> InactivityProfile:
        d = {**d, "config": InactivityConfig(**d.get("config", {}))}
        for k in ("inactive_thr", "lying_thr"):
            d[k] = [math.inf if x is None else x for x in d[k]]
        return cls(**d)

    def is_night(self, tod_min: float, awake: bool) -> bool:
        """The scalar twin of ``_sleepy``'s test: is this time of day sleep time?"""
        a, b = self.sleep_from, self.sleep_to
        if a is None or b is None or not _wrapped_in(tod_min, a, b):
            return False
        return not (awake and _wrapped_in(tod_min, self.config.day_start_h * 60, b))


def _wrapped_in(x: float, a: float, b: float) -> bool:
    return a <= x < b if a <= b else (x >= a or x < b)


@functools.lru_cache(maxsize=256)
def code_of(label: str | None) -> int:
    """One class name -> code. Besides the clinical classes, model labels are read by their posture, which
    is better than the clinical table for this detector: that table calls day-time LAYING sedentary, which
    costs the fast lying alarm (a fall at 14:00 would have to outlast a long sit)."""
    if label is None or label != label:  # None or NaN
        return NONE
    key = str(label).strip().lower().replace("-", "_").replace(" ", "_")
    if key in ("", "non_wear", "nonwear", "not_worn"):
        return NONE
    if key in CODES:
        return CODES[key]
    return LABEL_CODES.get(key, OTHER)


def codes_of(classes) -> np.ndarray:
    """Class names -> codes (see :func:`code_of`), for many epochs at once."""
    cat = pd.Categorical(np.asarray(classes, dtype=object))
    lut = np.array([code_of(c) for c in cat.categories] + [NONE], np.int8)
    return lut[cat.codes]  # code -1 (missing) picks the trailing NONE


def _wall_ns(times: pd.DatetimeIndex, tz: str) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").tz_convert(tz).tz_localize(None).asi8


def _runs(t: np.ndarray, flag: np.ndarray, gap_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For data epochs (times ``t``, ns): start time of the ongoing flagged run at each epoch (-1 outside
    one), the run id (-1 outside) and the index of the run's first epoch."""
    n = len(t)
    brk = np.ones(n, bool)
    brk[1:] = (np.diff(t) > gap_ns) | ~flag[:-1]
    start = flag & brk
    idx = np.maximum.accumulate(np.where(start, np.arange(n), -1)) if n else np.zeros(0, np.int64)
    run_start = np.where(flag, t[np.maximum(idx, 0)], -1)
    run_id = np.where(flag, np.cumsum(start) - 1, -1)
    return run_start, run_id, idx


def epoch_state(times, classes, tz: str, cfg: InactivityConfig) -> dict[str, np.ndarray]:
    """Per data epoch (no-data epochs dropped): what the live monitor knows there. Each value depends only
    on earlier epochs, so it can be computed once over a whole history and sliced."""
    codes = codes_of(classes)
    keep = codes != NONE
    idx = pd.DatetimeIndex(times)[keep]
    t, wall, c = idx.as_unit("ns").asi8, _wall_ns(idx, tz), codes[keep]
    gap = int(cfg.gap_tolerance_s * S_NS)
    in_start, in_id, in_first = _runs(t, (c == SEDENTARY) | (c == LYING), gap)
    ly_start, _, _ = _runs(t, c == LYING, gap)
    # up epochs since the day's first data epoch (days start at day_start_h), this one included
    shifted = wall - int(cfg.day_start_h * 60 * MIN_NS)
    key = shifted // DAY_NS
    up = (c == ACTIVE) | (c == UPRIGHT)
    cum = np.cumsum(up)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(c) else np.zeros(0, np.int64)
    base = np.repeat(first, np.diff(np.r_[first, len(c)]))
    return {
        "t": t,
        "wall": wall,
        "c": c,
        "in_start": in_start,
        "in_start_tod": np.where(in_start >= 0, ((in_start + wall - t) % DAY_NS) / MIN_NS, np.nan),
        "in_id": in_id,
        "in_first": in_first,
        "in_len": np.where(in_start >= 0, (t - in_start) / MIN_NS, 0.0),
        "ly_len": np.where(ly_start >= 0, (t - ly_start) / MIN_NS, 0.0),
        "tod": (wall % DAY_NS) / MIN_NS,
        "slot": ((wall % DAY_NS) // (cfg.slot_min * MIN_NS)).astype(np.int64),
        "day": wall // DAY_NS,
        "key": key,
        "since_day_start": shifted % DAY_NS,
        "day_first_ns": (shifted % DAY_NS)[base] if len(c) else np.zeros(0, np.int64),
        "up_count": cum - (cum[base] - up[base]) if len(c) else np.zeros(0, np.int64),
        "up": up,
    }


def epochs_for(minutes: float, cfg: InactivityConfig) -> int:
    """Epochs that make ``minutes`` (at least one)."""
    return max(1, math.ceil(minutes * 60 / cfg.epoch_s))


def _per_day_slot(values, day, slot, n_slots: int, how: str) -> np.ndarray:
    days, d_idx = np.unique(day, return_inverse=True)
    if how == "max":
        r = np.full((len(days), n_slots), -np.inf)
        np.maximum.at(r, (d_idx, slot), values)
        return np.where(np.isinf(r), np.nan, r)  # NaN: no data in that slot that day
    tot, seen = np.zeros((len(days), n_slots)), np.zeros((len(days), n_slots))
    np.add.at(tot, (d_idx, slot), values)
    np.add.at(seen, (d_idx, slot), 1.0)
    return np.where(seen > 0, tot / np.maximum(seen, 1), np.nan)


def _usual(r: np.ndarray, cfg: InactivityConfig) -> np.ndarray:
    """Per slot: a high quantile over days of the (day, slot) longest runs ``r``, each day's value widened to
    the neighbouring slots first (a habit shifted by half an hour is the same habit; widening per day keeps
    one odd day one value, where pooling slots would count it 2k + 1 times)."""
    k = cfg.smooth_slots
    stacked = np.stack([np.roll(r, o, axis=1) for o in range(-k, k + 1)])
    seen = np.any(~np.isnan(stacked), 0)
    widened = np.where(seen, np.nanmax(np.nan_to_num(stacked, nan=-np.inf), 0), np.nan)
    ok = np.sum(~np.isnan(widened), 0) >= cfg.min_days
    q = np.full(r.shape[1], np.nan)
    if ok.any():
        q[ok] = np.nanquantile(widened[:, ok], cfg.quantile, axis=0)
    # an untrusted slot gets the person's longest usual run: a conservative threshold, not none at all
    return np.where(np.isnan(q), np.nanmax(q) if ok.any() else np.nan, q)


def _threshold(usual: np.ndarray, floor: float, cfg: InactivityConfig) -> np.ndarray:
    thr = np.maximum(usual * (1 + cfg.rel_margin), usual + cfg.abs_margin_min)
    return np.where(np.isnan(thr), np.inf, np.maximum(thr, floor))


def _sleep_window(lying_frac: np.ndarray, cfg: InactivityConfig) -> tuple[float | None, float | None]:
    night = np.nan_to_num(np.nanmean(lying_frac, 0)) >= cfg.sleep_lying_frac if len(lying_frac) else None
    n = len(night) if night is not None else 0
    s3 = 3 * 60 // cfg.slot_min
    if not n or not night[s3] or night.all():
        return None, None
    a, b = s3, s3
    while night[(a - 1) % n]:
        a -= 1
    while night[(b + 1) % n]:
        b += 1
    return float(((a % n) * cfg.slot_min - cfg.sleep_lead_min) % 1440), float(((b + 1) % n) * cfg.slot_min)


def _in_window(tod: np.ndarray, a, b) -> np.ndarray:
    """``a <= tod < b`` on a 24-h clock (wrapping when a > b); a or b NaN: never."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    straight = (tod >= a) & (tod < b)
    wrapped = (tod >= a) | (tod < b)
    return np.where(a <= b, straight, wrapped) & ~np.isnan(a) & ~np.isnan(b)


def sleep_runs(st: dict, a, b, cfg: InactivityConfig) -> np.ndarray:
    """Epochs of runs that are a night's sleep: begun in the sleep window or having reached it (dozing off on
    the sofa at 20:00 and going to bed without standing up is one run). Once the person has been up for
    ``awake_min`` today, the rest of the morning is day: a fall at 07:30 after getting up at 07:00 is not
    sleep, though most days she is still in bed then. ``a``/``b``: the window, per epoch or scalars."""
    in_run = st["in_id"] >= 0
    awake = st["up_count"] >= epochs_for(cfg.awake_min, cfg)
    morning = cfg.day_start_h * 60

    def night(tod, awake_then):
        return _in_window(tod, a, b) & ~(awake_then & _in_window(tod, morning, b))

    first = np.maximum(st["in_first"], 0)
    mark = in_run & (night(st["in_start_tod"], awake[first]) | night(st["tod"], awake))
    last = np.maximum.accumulate(np.where(mark, np.arange(len(mark)), -1)) if len(mark) else mark
    return in_run & (last >= st["in_first"])


def _nan(x: float | None) -> float:
    return np.nan if x is None else x


def learn_state(st: dict, use: np.ndarray, tz: str, cfg: InactivityConfig) -> InactivityProfile:
    """A profile from the epochs ``use`` (a mask) of a state computed by :func:`epoch_state`."""
    n_slots = 24 * 60 // cfg.slot_min
    day, slot = st["day"][use], st["slot"][use]
    sleep_from, sleep_to = _sleep_window(
        _per_day_slot(st["c"][use] == LYING, day, slot, n_slots, "mean"), cfg
    )
    day_run = ~sleep_runs(st, _nan(sleep_from), _nan(sleep_to), cfg)[
        use
    ]  # the profile describes day-time runs only
    in_usual = _usual(
        _per_day_slot(np.where(day_run, st["in_len"][use], 0.0), day, slot, n_slots, "max"), cfg
    )
    ly_usual = _usual(
        _per_day_slot(np.where(day_run, st["ly_len"][use], 0.0), day, slot, n_slots, "max"), cfg
    )
    reached = (st["up"] & (st["up_count"] == epochs_for(cfg.up_min, cfg)))[use]
    up_tod = st["tod"][use][reached]
    wake = float(np.quantile(up_tod, cfg.wake_quantile)) if len(up_tod) >= cfg.min_days else None
    return InactivityProfile(
        tz=tz,
        slot_min=cfg.slot_min,
        inactive_usual=[float(x) for x in in_usual],
        lying_usual=[float(x) for x in ly_usual],
        inactive_thr=[float(x) for x in _threshold(in_usual, cfg.floor_inactive_min, cfg)],
        lying_thr=[float(x) for x in _threshold(ly_usual, cfg.floor_lying_min, cfg)],
        sleep_from=sleep_from,
        sleep_to=sleep_to,
        wake_usual=wake,
        wake_thr=None if wake is None else wake + cfg.wake_margin_min,
        days=len(np.unique(day)),
        config=cfg,
    )


def learn_profile(times, classes, tz: str, config: InactivityConfig | None = None) -> InactivityProfile:
    """A person's profile from a history of epochs (tz-aware ``times``, class names or None)."""
    cfg = config or InactivityConfig()
    st = epoch_state(times, classes, tz, cfg)
    return learn_state(st, np.ones(len(st["t"]), bool), tz, cfg)
