"""Personal baselines and rank scores: exact on small hand-checked cases, robust to outliers and gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from harflow.patterns.baseline import (
    BaselineConfig,
    personal_baselines,
    rank_scores,
    to_panel,
    trailing_baseline,
    trailing_windows,
)


def test_trailing_windows_hold_the_last_valid_days_before_each_day():
    y = np.array([[1.0, np.nan, 2.0, 3.0, np.nan, 4.0]])
    vals, day = trailing_windows(y, 2)
    assert np.isnan(vals[0, 0]).all() and (day[0, 0] == -1).all()
    np.testing.assert_array_equal(vals[0, 3], [1.0, 2.0])  # before day 3: days 0 and 2
    np.testing.assert_array_equal(day[0, 5], [2, 3])
    np.testing.assert_array_equal(vals[0, 5], [2.0, 3.0])


def test_rank_scores_match_a_brute_force_count_over_many_rows():
    rng = np.random.default_rng(0)
    # many rows and an awkward value range: the row offsets must not round a count off by one
    w = rng.normal(0, 7.3, (500, 28)).round(1)
    w[rng.random(w.shape) < 0.1] = np.nan
    q = rng.normal(0, 7.3, (500, 5)).round(1)
    z = rank_scores(w, q)
    for r in range(0, 500, 37):
        ww = w[r][~np.isnan(w[r])]
        for k in range(5):
            u = ((ww < q[r, k]).sum() + 0.5 * (ww == q[r, k]).sum() + 0.5) / (len(ww) + 1)
            assert z[r, k] == pytest.approx(norm.ppf(u))


def test_weekday_aware_level_and_weekend_offset():
    dates = pd.date_range("2026-01-05", periods=60, freq="D")
    weekend = np.asarray(dates.day_of_week >= 5)
    rng = np.random.default_rng(1)
    y = (np.where(weekend, 3.0, 4.0) + rng.normal(0, 0.05, 60))[None, :]
    b = trailing_baseline(y, weekend, BaselineConfig(weekend_shrink=0.0))
    assert b.level[0, 59] == pytest.approx(4.0, abs=0.05)
    assert b.weekend_effect[0, 59] == pytest.approx(-1.0, abs=0.05)
    assert b.scale[0, 59] == pytest.approx(0.05, rel=0.5)
    assert np.isnan(b.level[0, :14]).all()  # too few days before


def test_baseline_shrugs_off_outlier_days():
    y = np.full((1, 40), 5.0) + np.random.default_rng(2).normal(0, 0.1, (1, 40))
    y[0, [10, 20, 30]] = [0.0, 20.0, -3.0]
    b = trailing_baseline(y, np.zeros(40, bool))
    assert b.level[0, 39] == pytest.approx(5.0, abs=0.1)
    assert b.scale[0, 39] < 0.2


def test_invalid_rows_are_missing_and_timestamps_become_minutes():
    df = pd.DataFrame(
        {
            "person": ["a", "a", "b"],
            "date": pd.to_datetime(["2026-01-05", "2026-01-07", "2026-01-06"]),
            "valid": [True, False, True],
            "first_active": pd.to_datetime(
                ["2026-01-05 07:30", "2026-01-07 08:00", "2026-01-06 06:15"]
            ).tz_localize("Europe/London"),
        }
    )
    p = to_panel(df, ["first_active", "absent"])
    assert list(p.persons) == ["a", "b"] and len(p.dates) == 3
    np.testing.assert_array_equal(p.values["first_active"][0], [450.0, np.nan, np.nan])
    np.testing.assert_array_equal(p.values["first_active"][1], [np.nan, 375.0, np.nan])
    assert np.isnan(p.values["absent"]).all()


def test_personal_baselines_table():
    dates = pd.date_range("2026-01-05", periods=30, freq="D")
    df = pd.DataFrame({"person": "a", "date": dates, "valid": True, "active_min": 50.0})
    t = personal_baselines(df, ["active_min"])
    assert set(t.columns) >= {"person", "date", "metric", "level", "weekend_level", "scale", "n_days"}
    assert t["date"].min() == dates[14] and (t["level"] == 50.0).all()
