"""Personal routines and the daily budgets drawn from them: when a person wakes and goes to bed, how long
they walk, how often they sit down and for how long, naps, night toilet visits and how well they wear the
device. Minute-scale structure only; :mod:`harflow.patterns.assemble` turns a day's budgets into segments.

The defaults describe older adults living at home (the assistive-living users), loosely after the
accelerometry literature: ~40 sit-to-stand transitions and 55 min of walking a day, 55-65 % of waking time
sedentary, many short walking bouts with a heavy tail of long walks, more variation between persons than
between days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class RoutineConfig:
    """Distributions of the personal routine parameters (across persons) and of their daily jitter."""

    wake_mean_min: float = 7 * 60  # local clock, minutes after midnight
    wake_person_sd_min: float = 45.0
    wake_jitter_min: float = 20.0
    weekend_wake_delay_min: float = 25.0  # mean across persons; each person's is drawn around it
    sleep_h: float = 8.0  # time in bed, across persons
    sleep_person_sd_h: float = 0.6
    bed_jitter_min: float = 25.0
    weekend_bed_delay_min: float = 15.0
    walk_min_median: float = 55.0  # walking minutes a day, across persons (lognormal)
    walk_person_sigma: float = 0.45
    walk_day_sigma: float = 0.3  # day-to-day log variation ...
    walk_day_ar: float = 0.5  # ... autocorrelated (weather, mood, visits)
    weekend_walk_sd: float = 0.15  # a person's weekend walking factor ~ N(1, sd)
    bout_min_s: float = 12.0  # walking bouts: truncated Pareto
    bout_max_s: float = 90 * 60.0
    bout_alpha: tuple[float, float] = (1.3, 1.7)  # per person, uniform; smaller = heavier tail
    stairs_persons: float = 0.6  # fraction of persons with stairs at home
    stairs_per_bout: tuple[float, float] = (0.03, 0.15)
    sit_to_stand_mean: float = 42.0  # sedentary bouts a day, across persons
    sit_to_stand_sd: float = 10.0
    sedentary_fraction: float = 0.6  # of waking time, across persons
    sedentary_fraction_sd: float = 0.07
    sedentary_day_sd: float = 0.04
    sedentary_bout_sigma: float = 1.0  # lognormal spread of bout lengths within a day
    standing_sigma: float = 1.5  # lognormal spread of standing periods within a day
    evening_tv: float = 3.0  # weight of sedentary bouts after 19:00 relative to daytime ones
    meal: float = 2.5  # ... and of those around 12:30 and 18:00
    nappers: float = 0.3  # fraction of persons who often nap
    nap_prob: tuple[float, float] = (0.05, 0.5)  # per day: rare nappers, frequent nappers
    nap_min_median: float = 35.0
    night_visits_mean: float = 0.8  # toilet visits a night, across persons (gamma, shape 2)
    lie_to_stand_prob: tuple[float, float] = (0.0, 0.5)  # per person: rising straight from bed
    day_missing_prob: float = 0.03  # whole days without data, mean across persons
    nonwear_prob: tuple[float, float] = (0.1, 0.5)  # per person: days with hours of non-wear
    nonwear_h_median: float = 1.5


@dataclass(frozen=True)
class Routines:
    """Routine parameters of every person (arrays over persons)."""

    wake_min: np.ndarray
    weekend_wake_delay_min: np.ndarray
    bed_min: np.ndarray  # may pass 24:00
    weekend_bed_delay_min: np.ndarray
    walk_min: np.ndarray
    weekend_walk: np.ndarray
    bout_alpha: np.ndarray
    stairs: np.ndarray  # probability that a walking bout takes a flight of stairs
    sit_to_stand: np.ndarray
    sedentary_fraction: np.ndarray
    nap_prob: np.ndarray
    night_visits: np.ndarray
    lie_to_stand: np.ndarray
    day_missing: np.ndarray
    nonwear: np.ndarray


def draw_routines(rng: np.random.Generator, n: int, cfg: RoutineConfig) -> Routines:
    wake = np.clip(rng.normal(cfg.wake_mean_min, cfg.wake_person_sd_min, n), 5 * 60, 10 * 60)
    sleep_h = np.clip(rng.normal(cfg.sleep_h, cfg.sleep_person_sd_h, n), 6.5, 10.0)
    walk = np.exp(rng.normal(np.log(cfg.walk_min_median), cfg.walk_person_sigma, n))
    nappers = rng.random(n) < cfg.nappers
    has_stairs = rng.random(n) < cfg.stairs_persons
    return Routines(
        wake_min=wake,
        weekend_wake_delay_min=np.maximum(rng.normal(cfg.weekend_wake_delay_min, 20, n), 0),
        bed_min=wake + 24 * 60 - sleep_h * 60,
        weekend_bed_delay_min=np.maximum(rng.normal(cfg.weekend_bed_delay_min, 15, n), 0),
        walk_min=np.clip(walk, 8, 200),
        weekend_walk=np.clip(rng.normal(1, cfg.weekend_walk_sd, n), 0.6, 1.5),
        bout_alpha=rng.uniform(*cfg.bout_alpha, n),
        stairs=np.where(has_stairs, rng.uniform(*cfg.stairs_per_bout, n), 0.0),
        sit_to_stand=np.clip(rng.normal(cfg.sit_to_stand_mean, cfg.sit_to_stand_sd, n), 15, 80),
        sedentary_fraction=np.clip(
            rng.normal(cfg.sedentary_fraction, cfg.sedentary_fraction_sd, n), 0.4, 0.78
        ),
        nap_prob=np.where(nappers, cfg.nap_prob[1], cfg.nap_prob[0]) * rng.uniform(0.5, 1.5, n),
        night_visits=rng.gamma(2.0, cfg.night_visits_mean / 2, n),
        lie_to_stand=rng.uniform(*cfg.lie_to_stand_prob, n),
        day_missing=rng.beta(1.0, 1.0 / max(cfg.day_missing_prob, 1e-9) - 1.0, n),
        nonwear=rng.uniform(*cfg.nonwear_prob, n),
    )


@dataclass(frozen=True)
class Calendar:
    """Local calendar days of the simulation and their UTC instants (DST days last 23 or 25 h)."""

    tz: str
    start: dt.date
    days: int
    midnight: np.ndarray  # (days + 2,) UTC epoch seconds of local midnight of day 0 .. days + 1
    weekend: np.ndarray  # (days + 1,) Saturday or Sunday

    @classmethod
    def of(cls, start: dt.date, days: int, tz: str) -> Calendar:
        local = pd.date_range(pd.Timestamp(start), periods=days + 2, freq="D")
        utc = local.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
        midnight = utc.tz_localize(None).as_unit("s").asi8
        return cls(tz, start, days, midnight, (local.day_of_week >= 5)[: days + 1])

    def utc_offset(self, utc_s: np.ndarray) -> np.ndarray:
        """Seconds the local clock is ahead of UTC at each instant."""
        utc_s = np.asarray(utc_s, dtype=np.int64)
        if not len(utc_s):
            return utc_s.copy()
        lo, hi = int(utc_s.min()) // 60, int(utc_s.max()) // 60 + 1
        if len(utc_s) <= hi - lo:
            return _offsets(utc_s, self.tz)
        # many instants: look them up on a minute grid (zones change offset on whole minutes)
        grid = _offsets(np.arange(lo, hi + 1, dtype=np.int64) * 60, self.tz)
        return grid[utc_s // 60 - lo]

    def to_utc(self, day: np.ndarray, local_s: np.ndarray) -> np.ndarray:
        """UTC seconds of a wall-clock time given as seconds after local midnight of ``day`` (may exceed a
        day, e.g. a bed time after midnight). Times skipped by a DST change land an hour off, harmlessly."""
        epoch_day = int(np.datetime64(self.start, "D").astype(np.int64))
        naive = ((epoch_day + np.asarray(day)) * DAY + np.asarray(local_s)).astype(np.int64)
        first = naive - self.utc_offset(naive)
        return naive - self.utc_offset(first)


@dataclass(frozen=True)
class Effects:
    """Per-day modifiers of one person's routine by an injected change (neutral without one)."""

    walk: np.ndarray  # (days,) walking-time factor
    sit_to_stand: np.ndarray  # (days,) factor on the number of sedentary bouts
    sedentary_bout: np.ndarray  # (days,) factor on the mean sedentary bout length
    wake_shift_min: np.ndarray  # (days + 1,) minutes added to the wake time
    wander_min: np.ndarray  # (days,) expected extra upright minutes in the night starting that day

    @classmethod
    def none(cls, days: int) -> Effects:
        one, zero = np.ones(days), np.zeros(days)
        return cls(one, one.copy(), one.copy(), np.zeros(days + 1), zero)


@dataclass(frozen=True)
class DayPlan:
    """One person's budgets, day by day (seconds unless noted)."""

    wake: np.ndarray  # (days + 1,) UTC s
    bed: np.ndarray  # (days,) UTC s
    walk_s: np.ndarray  # (days,)
    sedentary_bouts: np.ndarray  # (days,) int
    sedentary_s: np.ndarray  # (days,)
    nap_s: np.ndarray  # (days,) 0 = no nap
    visits: np.ndarray  # (days,) toilet visits in the night starting that day
    wander_s: list[np.ndarray]  # per day: durations of night-wandering episodes
    missing: np.ndarray  # (days,) bool: the device was not worn all day
    nonwear: np.ndarray  # (days, 2) UTC s of a non-wear period (start, end), start == end when none


def plan_days(
    rng: np.random.Generator, r: Routines, i: int, cal: Calendar, eff: Effects, cfg: RoutineConfig
) -> DayPlan:
    """Person ``i``'s daily budgets over the calendar, with the change's effects applied."""
    d = cal.days
    we = cal.weekend.astype(float)
    wake_min = r.wake_min[i] + we * r.weekend_wake_delay_min[i] + rng.normal(0, cfg.wake_jitter_min, d + 1)
    wake_min = wake_min + eff.wake_shift_min
    bed_min = r.bed_min[i] + we[:d] * r.weekend_bed_delay_min[i] + rng.normal(0, cfg.bed_jitter_min, d)
    # keep a waking day of at least 9 h and a night of at least 5 h whatever the jitter and the change
    bed_min = np.clip(bed_min, wake_min[:d] + 9 * 60, wake_min[1:] + 24 * 60 - 5 * 60)
    wake = cal.to_utc(np.arange(d + 1), np.round(wake_min * MIN))
    bed = cal.to_utc(np.arange(d), np.round(bed_min * MIN))
    awake = (bed - wake[:d]).astype(float)

    # walking: personal level x weekend habit x autocorrelated day-to-day variation x change
    ar = np.empty(d)
    noise = rng.normal(0, cfg.walk_day_sigma * np.sqrt(1 - cfg.walk_day_ar**2), d)
    ar[0] = rng.normal(0, cfg.walk_day_sigma)
    for k in range(1, d):
        ar[k] = cfg.walk_day_ar * ar[k - 1] + noise[k]
    level = r.walk_min[i] * MIN * np.where(we[:d] > 0, r.weekend_walk[i], 1.0)
    walk = np.minimum(level * np.exp(ar - cfg.walk_day_sigma**2 / 2) * eff.walk, 0.3 * awake)

    bouts = np.maximum(rng.poisson(r.sit_to_stand[i] * eff.sit_to_stand), 3)
    frac = np.clip(r.sedentary_fraction[i] + rng.normal(0, cfg.sedentary_day_sd, d), 0.25, 0.85)
    sedentary = frac * awake
    # longer bouts: the mean bout grows by the factor; the time comes out of standing, and where it would
    # leave too little standing the count drops instead, so the mean still grows by exactly the factor
    mean_bout = sedentary / bouts * eff.sedentary_bout
    sedentary = np.minimum(sedentary * eff.sedentary_bout, 0.88 * awake - walk)
    bouts = np.where(eff.sedentary_bout != 1, np.maximum(np.round(sedentary / mean_bout), 3), bouts)

    nap = rng.random(d) < r.nap_prob[i]
    nap_s = np.where(nap, np.clip(np.exp(rng.normal(np.log(cfg.nap_min_median), 0.4, d)), 10, 120) * MIN, 0.0)
    nap_s = np.minimum(nap_s, 0.3 * sedentary)

    wander = []
    for k in range(d):
        if eff.wander_min[k] > 0:
            n = rng.poisson(1.5)
            mean = eff.wander_min[k] / 1.5 * MIN
            wander.append(mean * np.exp(rng.normal(-0.125, 0.5, n)))  # lognormal with that mean
        else:
            wander.append(np.zeros(0))

    missing = rng.random(d) < r.day_missing[i]
    has_nonwear = rng.random(d) < r.nonwear[i]
    dur = np.clip(np.exp(rng.normal(np.log(cfg.nonwear_h_median), 0.7, d)), 0.25, 8) * HOUR
    dur = np.minimum(dur, awake - 2 * HOUR)
    begin = wake[:d] + HOUR + rng.random(d) * (awake - 2 * HOUR - dur)
    nonwear = np.stack([begin, np.where(has_nonwear, begin + dur, begin)], axis=1).round().astype(np.int64)
    return DayPlan(
        wake=wake,
        bed=bed,
        walk_s=walk,
        sedentary_bouts=bouts.astype(np.int64),
        sedentary_s=sedentary,
        nap_s=nap_s,
        visits=rng.poisson(r.night_visits[i], d),
        wander_s=wander,
        missing=missing,
        nonwear=nonwear,
    )


def _offsets(utc_s: np.ndarray, tz: str) -> np.ndarray:
    utc = pd.DatetimeIndex(utc_s.astype("M8[s]"))
    local = utc.tz_localize("UTC").tz_convert(tz).tz_localize(None)
    return (local.as_unit("s").asi8 - utc.as_unit("s").asi8).astype(np.int64)
