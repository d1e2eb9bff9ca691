"""Alarms from an inactivity profile (:mod:`harflow.patterns.inactivity`), live and in batch.

:class:`InactivityMonitor` is the live path: one state object per person, ``update(t, cls)`` per epoch,
returning the alerts that epoch raises (usually none). :func:`scan_epochs` / :func:`replay` make the same
decisions over a history with arrays (the tests check they agree), so thresholds tuned in batch hold live.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harflow.patterns.alerts import Alert, minute_str
from harflow.patterns.inactivity import (
    ACTIVE,
    DAY_NS,
    LYING,
    MIN_NS,
    NAMES,
    NONE,
    S_NS,
    SEDENTARY,
    UPRIGHT,
    InactivityConfig,
    InactivityProfile,
    code_of,
    epoch_state,
    epochs_for,
    learn_state,
    sleep_runs,
)


class InactivityMonitor:
    def __init__(self, person: str, profile: InactivityProfile):
        self.person, self.profile = person, profile
        cfg = profile.config
        self._gap = int(cfg.gap_tolerance_s * S_NS)
        self._slot_ns = profile.slot_min * MIN_NS
        self._day_start = int(cfg.day_start_h * 60 * MIN_NS)
        self._need_up = max(1, math.ceil(cfg.up_min * 60 / cfg.epoch_s))
        self._need_awake = max(1, math.ceil(cfg.awake_min * 60 / cfg.epoch_s))
        self._wake_ns = None if profile.wake_thr is None else profile.wake_thr * MIN_NS - self._day_start
        self.last_t: int | None = None  # ns of the last epoch with data
        self.run_start: int | None = None  # ns, ongoing inactivity run
        self.lying_start: int | None = None
        self.alarmed = False  # this run has alarmed already
        self.sleepy = False  # this run is a night's sleep
        self.start_awake = False  # the person had been up awake_min today when this run began
        self.day_key: int | None = None
        self.up_epochs = 0
        self.wake_done = False
        self.day_seen = False  # data began before the wake threshold on this day

    def update(self, t, cls: str | None) -> list[Alert]:
        code = code_of(cls)
        if code == NONE:  # no data is not inactivity; a long enough gap ends the run (checked on return)
            return []
        ts = pd.Timestamp(t)
        t_ns = ts.value
        wall = ts.tz_convert(self.profile.tz).tz_localize(None).value
        shifted = wall - self._day_start
        if shifted // DAY_NS != self.day_key:
            self.day_key, self.up_epochs, self.wake_done = shifted // DAY_NS, 0, False
            self.day_seen = self._wake_ns is not None and shifted % DAY_NS < self._wake_ns
        if code in (ACTIVE, UPRIGHT):
            self.up_epochs += 1
        if self.last_t is not None and t_ns - self.last_t > self._gap:
            self.run_start = self.lying_start = None
        self.last_t = t_ns
        out = []
        if code in (SEDENTARY, LYING):
            if self.run_start is None:
                self.run_start, self.alarmed, self.sleepy = t_ns, False, False
                self.start_awake = self.up_epochs >= self._need_awake
            if code == LYING:
                self.lying_start = t_ns if self.lying_start is None else self.lying_start
            else:
                self.lying_start = None
            out += self._check_run(t_ns, wall, code)
        else:
            self.run_start = self.lying_start = None
        return out + self._check_wake(shifted, wall, code)

    def _check_run(self, t_ns: int, wall: int, code: int) -> list[Alert]:
        p = self.profile
        start_tod = ((self.run_start + wall - t_ns) % DAY_NS) / MIN_NS
        # a run that began in or has reached the usual night is sleep: the wake check's business
        awake = self.up_epochs >= self._need_awake
        night = p.is_night(start_tod, self.start_awake) or p.is_night((wall % DAY_NS) / MIN_NS, awake)
        self.sleepy = self.sleepy or night
        if self.alarmed or self.sleepy:
            return []
        slot = int((wall % DAY_NS) // self._slot_ns)
        length = (t_ns - self.run_start) / MIN_NS
        lying = code == LYING and (t_ns - self.lying_start) / MIN_NS >= p.lying_thr[slot]
        if not (lying or length >= p.inactive_thr[slot]):
            return []
        self.alarmed = True
        start_wall = self.run_start + (wall - t_ns)
        return [inactivity_alert(self.person, p, start_wall, wall, length, lying, slot, code)]

    def _check_wake(self, shifted: int, wall: int, code: int) -> list[Alert]:
        if (
            self._wake_ns is None
            or self.wake_done
            or not self.day_seen
            or code not in (SEDENTARY, LYING)
            or self.up_epochs >= self._need_up
            or shifted % DAY_NS < self._wake_ns
        ):
            return []
        self.wake_done = True
        return [wake_alert(self.person, self.profile, wall, code)]


def replay(
    person: str,
    times,
    classes,
    tz: str,
    config: InactivityConfig | None = None,
    learn_days: int = 28,
    relearn_days: int = 7,
    history_days: int | None = 56,
) -> list[Alert]:
    """Causal batch run over a history, as the live service would have run it: nothing in the first
    ``learn_days``; from then on the profile is re-learned every ``relearn_days`` from the ``history_days``
    before (all history if None) and swapped into the running monitor. Runs that raised an alarm are left
    out of later profiles: an emergency must not teach the monitor that lying on the floor for hours is
    usual (a false alarm stays out too — the price of that choice)."""
    cfg = config or InactivityConfig()
    st = epoch_state(times, classes, tz, cfg)
    if not len(st["t"]):
        return []
    t = st["t"]
    day_ns = 86_400 * S_NS
    which = np.full(len(t), -1, np.int64)
    profiles: list = []
    excluded = np.zeros(len(t), bool)
    start = t[0] + learn_days * day_ns
    while start <= t[-1]:
        lo = t[0] if history_days is None else start - history_days * day_ns
        profiles.append(learn_state(st, (t >= lo) & (t < start) & ~excluded, tz, cfg))
        which[(t >= start) & (t < start + relearn_days * day_ns)] = len(profiles) - 1
        excluded |= alarmed_runs(st, profiles, which)
        start += relearn_days * day_ns
    return scan_state(person, st, profiles, which)


def _first_of_group(mask: np.ndarray, group: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(mask)
    _, first = np.unique(group[idx], return_index=True)
    return np.sort(idx[first])


def _nan(x: float | None) -> float:
    return np.nan if x is None else x


def _decisions(st: dict, profiles: list[InactivityProfile], which: np.ndarray) -> dict:
    """Where the monitor alarms: epochs of inactivity alarms (first hit per run) and of wake alerts (first
    per day), epoch ``i`` judged by ``profiles[which[i]]`` (-1: not monitored)."""
    on = which >= 0
    w = np.maximum(which, 0)
    cfg = profiles[0].config
    in_thr = np.array([p.inactive_thr for p in profiles])[w, st["slot"]]
    ly_thr = np.array([p.lying_thr for p in profiles])[w, st["slot"]]
    sleep_a = np.array([_nan(p.sleep_from) for p in profiles])[w]
    sleep_b = np.array([_nan(p.sleep_to) for p in profiles])[w]
    lying_hit = (st["c"] == LYING) & (st["ly_len"] >= ly_thr)
    day_run = (st["in_id"] >= 0) & ~sleep_runs(st, sleep_a, sleep_b, cfg)
    hit = on & day_run & ((st["in_len"] >= in_thr) | lying_hit)
    wake_ns = np.array([_nan(p.wake_thr) for p in profiles])[w] * MIN_NS - cfg.day_start_h * 60 * MIN_NS
    late = (
        on
        & (st["since_day_start"] >= wake_ns)
        & (st["day_first_ns"] < wake_ns)  # data since before it: a device put on at noon tells nothing
        & ((st["c"] == SEDENTARY) | (st["c"] == LYING))
        & (st["up_count"] < epochs_for(cfg.up_min, cfg))
    )
    return {
        "w": w,
        "lying_hit": lying_hit,
        "runs": _first_of_group(hit, st["in_id"]),
        "wakes": _first_of_group(late, st["key"]),
    }


def scan_state(person: str, st: dict, profiles: list[InactivityProfile], which: np.ndarray) -> list[Alert]:
    """Alerts over a state, epoch ``i`` judged by ``profiles[which[i]]`` (-1: not monitored yet) — the live
    monitor with its profile swapped whenever it is re-learned."""
    if not profiles or not len(st["t"]):
        return []
    d = _decisions(st, profiles, which)
    w, offset = d["w"], st["wall"] - st["t"]
    alerts = [
        inactivity_alert(
            person,
            profiles[w[i]],
            int(st["in_start"][i] + offset[i]),
            int(st["wall"][i]),
            float(st["in_len"][i]),
            bool(d["lying_hit"][i]),
            int(st["slot"][i]),
            int(st["c"][i]),
        )
        for i in d["runs"]
    ]
    alerts += [wake_alert(person, profiles[w[i]], int(st["wall"][i]), int(st["c"][i])) for i in d["wakes"]]
    return sorted(alerts, key=Alert.sort_key)


def alarmed_runs(st: dict, profiles: list[InactivityProfile], which: np.ndarray) -> np.ndarray:
    """Mask of the epochs of runs that raised an inactivity alarm (to keep them out of the next profile)."""
    if not profiles or not len(st["t"]):
        return np.zeros(len(st["t"]), bool)
    ids = st["in_id"][_decisions(st, profiles, which)["runs"]]
    return np.isin(st["in_id"], ids) & (st["in_id"] >= 0)


def scan_epochs(person: str, times, classes, profile: InactivityProfile) -> list[Alert]:
    """The alerts :class:`~harflow.patterns.monitor.InactivityMonitor` would raise over this history."""
    st = epoch_state(times, classes, profile.tz, profile.config)
    return scan_state(person, st, [profile], np.zeros(len(st["t"]), np.int64))


def inactivity_alert(person, profile, start_wall, wall, length, lying, slot, code) -> Alert:
    usual = (profile.lying_usual if lying else profile.inactive_usual)[slot]
    thr = (profile.lying_thr if lying else profile.inactive_thr)[slot]
    return Alert(
        person=person,
        kind="inactivity",
        metric="lying_run" if lying else "inactive_run",
        direction="up",
        onset=minute_str(pd.Timestamp(start_wall)),
        detected=minute_str(pd.Timestamp(wall)),
        magnitude=float(length),
        evidence={
            "usual_min": usual,
            "threshold_min": thr,
            "slot": f"{slot * profile.slot_min // 60:02d}:{slot * profile.slot_min % 60:02d}",
            "class": NAMES.get(code, "other"),
            "history_days": profile.days,
        },
    )


def wake_alert(person, profile, wall, code) -> Alert:
    day = pd.Timestamp(wall).normalize()
    tod = (wall % DAY_NS) / MIN_NS
    return Alert(
        person=person,
        kind="routine_deviation",
        metric="first_active",
        direction="up",
        onset=minute_str(day + pd.Timedelta(minutes=profile.wake_usual)),
        detected=minute_str(pd.Timestamp(wall)),
        magnitude=float(tod - profile.wake_usual),
        evidence={
            "usual_wake_min": profile.wake_usual,
            "threshold_min": profile.wake_thr,
            "class": NAMES.get(code, "other"),
            "history_days": profile.days,
        },
    )
