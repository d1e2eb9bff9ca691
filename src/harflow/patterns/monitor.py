"""The live path of :mod:`harflow.patterns.inactivity`: one state object per person, fed one epoch at a time.

``InactivityMonitor.update(t, cls)`` returns the alerts this epoch raises (usually none). Its decisions are
those of :func:`~harflow.patterns.inactivity.scan_epochs` over the same epochs, which the tests check, so a
profile can be tuned in batch and trusted live.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harflow.patterns.alerts import Alert
from harflow.patterns.inactivity import (
    ACTIVE,
    DAY_NS,
    LYING,
    MIN_NS,
    NONE,
    S_NS,
    SEDENTARY,
    UPRIGHT,
    InactivityConfig,
    InactivityProfile,
    alarmed_runs,
    code_of,
    epoch_state,
    inactivity_alert,
    learn_state,
    scan_state,
    wake_alert,
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
