"""Change detection in daily metrics against synthetic series with known truth (fast: a few persons)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harflow.patterns import alerts as alerts_mod
from harflow.patterns.detect import DEFAULT_METRICS, DetectConfig, alerts_on, detect

START = pd.Timestamp("2026-01-05")  # a Monday


def frame(
    n_days: int = 90,
    seed: int = 0,
    persons: int = 1,
    walk_sd: float = 0.1,
    change=None,
    missing: float = 0.0,
) -> pd.DataFrame:
    """Daily metrics with iid noise; ``change(day_index) -> factor`` multiplies active_min."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(persons):
        for d in range(n_days):
            if rng.random() < missing:
                continue
            f = change(d) if change else 1.0
            rows.append(
                {
                    "person": f"p{p}",
                    "date": START + pd.Timedelta(days=d),
                    "valid": True,
                    "recorded_h": 20.0,
                    "active_min": 60 * f * np.exp(rng.normal(0, walk_sd)),
                    "sit_to_stand": float(rng.poisson(40)),
                    "sedentary_bout_mean_min": 15 * np.exp(rng.normal(0, 0.1)),
                    "wake_time": 450 + rng.normal(0, 15),
                    "night_upright_min": float(rng.gamma(2, 3)),
                }
            )
    return pd.DataFrame(rows)


def step(onset: int, size: float):
    return lambda d: 1 - size if d >= onset else 1.0


def ramp(onset: int, rate: float):
    return lambda d: max(1 - rate * (d - onset + 1), 0.3) if d >= onset else 1.0


def mine(alerts, metric="active_min"):
    return [a for a in alerts if a.metric == metric]


def days_after(a, onset: int, field: str = "detected") -> int:
    return (pd.Timestamp(getattr(a, field)) - (START + pd.Timedelta(days=onset))).days


def test_clean_40pct_step_is_found_within_days_with_its_onset():
    al = mine(detect(frame(change=step(50, 0.4))))
    assert len(al) == 1
    a = al[0]
    assert a.kind == "step_change" and a.direction == "down"
    assert abs(days_after(a, 50, "onset")) <= 1
    assert 0 <= days_after(a, 50) <= 4
    assert a.magnitude == pytest.approx(-0.4, abs=0.1)
    assert a.evidence["baseline_days"] >= 14


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_1pct_a_day_ramp_is_found_within_21_days(seed):
    al = mine(detect(frame(seed=seed, walk_sd=0.08, change=ramp(40, 0.01))))
    assert al, "ramp missed"
    assert 0 <= days_after(al[0], 40) <= 21
    assert al[0].direction == "down"


def test_noise_only_series_mostly_give_no_alert():
    al = detect(frame(persons=30, seed=7, missing=0.05))
    series_with_alerts = {(a.person, a.metric) for a in al}
    assert len(series_with_alerts) <= 0.15 * 30 * len(DEFAULT_METRICS)  # of 150 series of 90 days
    person_months = 30 * (90 - 14) / 30.44
    assert len(al) / person_months <= 0.5


def test_no_alert_before_the_minimum_history():
    df = frame(n_days=20, change=step(15, 0.6))  # 15 valid days before, a huge step: still too early
    assert detect(df, DetectConfig(baseline=DetectConfig().baseline)) == [] or all(
        days_after(a, 0) >= 14 for a in detect(df)
    )


def test_causal_adding_future_days_never_changes_an_earlier_alert():
    df = frame(persons=6, seed=3, walk_sd=0.25, change=step(45, 0.35))
    full = detect(df)
    for end in (40, 50, 60, 75):
        cut = START + pd.Timedelta(days=end)
        early = detect(df[df["date"] <= cut])
        assert [a.to_dict() for a in early] == [a.to_dict() for a in full if pd.Timestamp(a.detected) <= cut]


def test_alerts_on_returns_that_days_alerts():
    df = frame(change=step(50, 0.4))
    a = mine(detect(df))[0]
    assert [x.to_dict() for x in mine(alerts_on(df, a.detected))] == [a.to_dict()]


def test_one_alert_per_sustained_change():
    al = mine(detect(frame(n_days=90, change=step(35, 0.5))))
    assert len(al) == 1  # no repeats while the new level lasts


def test_rearms_after_a_new_baseline_for_a_second_change():
    al = mine(detect(frame(n_days=120, change=lambda d: 1.0 if d < 30 else (0.6 if d < 75 else 0.3))))
    assert len(al) == 2
    assert days_after(al[1], 75, "onset") in range(-1, 2)


def test_missing_rows_and_invalid_rows_are_the_same():
    df = frame(change=step(50, 0.4), seed=5)
    drop = df.sample(frac=0.1, random_state=1).index
    invalid = df.copy()
    invalid.loc[drop, "valid"] = False
    invalid.loc[drop, "active_min"] = 0.0  # what a short wear day measures: must not count
    assert [a.to_dict() for a in detect(df.drop(drop))] == [a.to_dict() for a in detect(invalid)]


def test_direction_of_concern_only():
    up = frame(change=lambda d: 1.5 if d >= 50 else 1.0)  # more walking is not a concern
    assert mine(detect(up)) == []
    df = frame(seed=2)
    df.loc[df["date"] >= START + pd.Timedelta(days=50), "wake_time"] += 60  # later wake
    al = mine(detect(df), "wake_time")
    assert len(al) == 1 and al[0].direction == "up" and al[0].magnitude == pytest.approx(60, abs=15)


def test_time_of_day_metrics_may_be_timestamps():
    df = frame(seed=2)
    df.loc[df["date"] >= START + pd.Timedelta(days=50), "wake_time"] += 60
    as_time = df.copy()
    as_time["wake_time"] = (
        as_time["date"] + pd.to_timedelta(as_time["wake_time"], unit="min")
    ).dt.tz_localize("Europe/London")
    assert [a.to_dict() for a in detect(as_time)] == [a.to_dict() for a in detect(df)]


def test_a_single_outlier_day_does_not_alarm():
    df = frame(seed=4)
    df.loc[df["date"] == START + pd.Timedelta(days=60), "active_min"] = 1.0  # a sick day
    assert mine(detect(df)) == []


def test_alerts_are_deterministic_and_serializable():
    df = frame(persons=3, change=step(50, 0.4))
    a, b = detect(df), detect(df.sample(frac=1.0, random_state=3))  # row order must not matter
    assert alerts_mod.to_json(a) == alerts_mod.to_json(b)
    back = alerts_mod.from_json(alerts_mod.to_json(a))
    assert [x.to_dict() for x in back] == [x.to_dict() for x in a]
    rec = json.loads(alerts_mod.to_json(a))[0]
    assert set(rec) == set(alerts_mod.FIELDS)
    assert len(rec["onset"]) == 10 and len(rec["detected"]) == 10


def test_metrics_absent_from_the_frame_are_skipped():
    df = frame().drop(columns=["night_upright_min"])
    assert "night_upright_min" in DEFAULT_METRICS
    detect(df)  # no KeyError: the metric is all-missing
