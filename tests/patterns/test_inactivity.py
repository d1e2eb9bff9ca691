"""Online inactivity alarms on hand-made epoch streams: a person's normal habits never alarm, unusual
stillness does within minutes, no data never does; the live monitor and the batch scan agree."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harflow.patterns.inactivity import InactivityProfile, code_of, learn_profile
from harflow.patterns.monitor import InactivityMonitor, replay, scan_epochs
from tests.fixtures.epochs import classes, epoch_cohort

TZ = "Europe/London"
START = "2026-01-05"
A, U, S, L, N = "active", "upright", "sedentary", "lying", None


def day_plan(nap: tuple[int, int] | None = (14 * 60, 90), wake: int = 7 * 60, sit: int = 40) -> list:
    """One day of 1-minute classes: bed until ``wake``, then sitting ``sit`` min / up 10 min, bed at 22:30."""
    day = [L] * 1440
    m = wake
    while m < 22 * 60 + 30:
        for k in range(min(sit, 1440 - m)):
            day[m + k] = S
        m += sit
        for k in range(10):
            if m + k < 1440:
                day[m + k] = A if k < 5 else U
        m += 10
    if nap:
        for k in range(nap[1]):
            day[nap[0] + k] = L
    for k in range(22 * 60 + 30, 1440):
        day[k] = L
    return day


def stream(days: list[list]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    t0 = pd.Timestamp(START).tz_localize(TZ)
    times = pd.date_range(t0, periods=1440 * len(days), freq="min")  # January: no DST change
    return times, np.array([c for d in days for c in d], dtype=object)


def history(n: int = 28, **kw) -> tuple[pd.DatetimeIndex, np.ndarray]:
    return stream([day_plan(**kw) for _ in range(n)])


def monitor_alerts(profile, times, cls, person="p"):
    mon = InactivityMonitor(person, profile)
    out = []
    for t, c in zip(times, cls, strict=True):
        out += mon.update(t, c)
    return out


@pytest.fixture(scope="module")
def napper() -> InactivityProfile:
    times, cls = history()
    return learn_profile(times, cls, TZ)


def test_an_unusual_run_alarms_within_minutes_and_a_usual_nap_does_not(napper):
    normal = day_plan()
    fall = day_plan()
    for k in range(10 * 60 + 5, 13 * 60 + 5):  # lying on the floor from 10:05 for three hours
        fall[k] = L
    times, cls = stream([normal, fall])
    got = scan_epochs("p", times, cls, napper)
    inact = [a for a in got if a.kind == "inactivity"]
    assert len(inact) == 1
    a = inact[0]
    # the run began with the sitting before the fall; the alarm comes well within an hour of the fall
    assert pd.Timestamp(a.onset) <= pd.Timestamp("2026-01-06T10:05")
    minutes = (pd.Timestamp(a.detected) - pd.Timestamp("2026-01-06T10:05")).total_seconds() / 60
    assert 0 <= minutes <= 60
    # the 90-min nap at 14:00 on both days is this person's habit
    assert not [x for x in got if x.detected[11:13] in ("14", "15")]


def test_a_long_nap_beyond_the_habit_alarms(napper):
    day = day_plan(nap=(14 * 60, 240))
    got = [a for a in scan_epochs("p", *stream([day]), napper) if a.kind == "inactivity"]
    assert len(got) == 1 and "13:00" <= got[0].onset[11:] <= "14:00"  # the sit before it is the same run
    assert pd.Timestamp(got[0].detected) < pd.Timestamp("2026-01-05T14:00") + pd.Timedelta(hours=3)


def test_no_data_never_alarms_and_ends_a_run(napper):
    day = day_plan()
    for k in range(9 * 60, 15 * 60):  # device off six hours
        day[k] = N
    times, cls = stream([day])
    assert [a for a in scan_epochs("p", times, cls, napper) if a.kind == "inactivity"] == []
    # lying 10:00-10:20, no data 10:20-12:00, lying again: the gap ends the run, nothing adds up
    day = day_plan(nap=None)
    for k in range(10 * 60, 13 * 60):
        day[k] = L if k < 10 * 60 + 20 or k >= 12 * 60 + 55 else N
    assert [a for a in scan_epochs("p", *stream([day]), napper) if a.kind == "inactivity"] == []


def test_not_up_by_the_usual_time_raises_a_routine_alert(napper):
    late = day_plan(wake=11 * 60)
    times, cls = stream([late])
    got = [a for a in scan_epochs("p", times, cls, napper) if a.kind == "routine_deviation"]
    assert len(got) == 1
    assert napper.wake_thr is not None
    t = pd.Timestamp(got[0].detected)
    assert t.hour * 60 + t.minute == pytest.approx(napper.wake_thr, abs=1)
    # the same morning without data (device off until noon) says nothing
    off = day_plan(wake=11 * 60)
    for k in range(0, 12 * 60):
        off[k] = N
    assert [a for a in scan_epochs("p", *stream([off]), napper) if a.kind == "routine_deviation"] == []


def test_sleep_never_raises_an_inactivity_alarm(napper):
    early_bed = day_plan()
    for k in range(21 * 60 + 45, 1440):  # to bed 45 min early (within the hour's lead), a long night
        early_bed[k] = L
    got = scan_epochs("p", *stream([early_bed, day_plan(wake=8 * 60)]), napper)
    assert [a for a in got if a.kind == "inactivity"] == []


def test_live_monitor_and_batch_scan_agree():
    streams, _ = epoch_cohort(3, 45, seed=11, learn_days=20, emergency_rate=0.1)
    for person, (times, codes) in streams.items():
        cls = classes(codes)
        cut = times[0] + pd.Timedelta(days=20)
        profile = learn_profile(times[times < cut], cls[times < cut], TZ)
        later = times >= cut
        live = monitor_alerts(profile, times[later], cls[later], person)
        assert [a.to_dict() for a in live] == [
            a.to_dict() for a in scan_epochs(person, times[later], cls[later], profile)
        ]


def test_replay_is_causal():
    streams, _ = epoch_cohort(1, 60, seed=5, emergency_rate=0.1)
    times, codes = next(iter(streams.values()))
    cls = classes(codes)
    full = replay("p", times, cls, TZ)
    cut = times[0] + pd.Timedelta(days=45)
    part = replay("p", times[times < cut], cls[times < cut], TZ)
    last = pd.Timestamp(cut.tz_convert(TZ).tz_localize(None))
    assert [a.to_dict() for a in part] == [a.to_dict() for a in full if pd.Timestamp(a.detected) < last]


def test_profile_round_trips_through_json(napper):
    back = InactivityProfile.from_dict(json.loads(json.dumps(napper.to_dict(), allow_nan=False)))
    assert back == napper


def test_labels_are_read_by_posture():
    assert [code_of(x) for x in ("LAYING", "sleep", "SITTING", "WALKING_UPSTAIRS", "STANDING")] == [
        4,
        4,
        3,
        1,
        2,
    ]
    assert code_of("SIT_TO_STAND") == code_of("transition") == 5
    assert code_of(None) == code_of(float("nan")) == code_of("non-wear") == 0
