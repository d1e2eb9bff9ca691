"""Forecasts beat the naive ones on held-out days with calibrated intervals; the change hazard is sane."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harflow.patterns.forecast import ForecastConfig, backtest, change_hazard, forecast
from tests.fixtures.cohort import daily_cohort
from tests.fixtures.epochs import classes, epoch_cohort


def test_backtest_beats_naive_with_calibrated_intervals():
    df, _ = daily_cohort(60, 70, seed=5, changed_frac=0.0)  # steady persons: changes are the detectors' job
    rep = backtest(df, first_origin=35)
    for m, r in rep.items():
        assert r["mae"]["model"] < r["mae"]["last_value"], m
        assert r["mae"]["model"] < r["mae"]["same_weekday"], m
        assert 0.7 <= r["coverage"] <= 0.9, m


def test_forecast_frame_is_causal_and_weekday_aware():
    dates = pd.date_range("2026-01-05", periods=42, freq="D")
    weekend = dates.day_of_week >= 5
    df = pd.DataFrame(
        {"person": "a", "date": dates, "valid": True, "active_min": np.where(weekend, 30.0, 60.0)}
    )
    cfg = ForecastConfig(metrics={"active_min": ForecastConfig().metrics["active_min"]})
    f = forecast(df, cfg, as_of=dates[34])
    assert list(f["horizon"]) == list(range(1, 8))
    assert (f["origin"] == dates[34]).all() and f["date"].iloc[0] == dates[35]
    sat = f[pd.to_datetime(f["date"]).dt.day_of_week == 5]["median"].iloc[0]
    mon = f[pd.to_datetime(f["date"]).dt.day_of_week == 0]["median"].iloc[0]
    assert sat < mon  # the weekend dip, shrunk a little towards the weekday level
    assert (f["lower"] <= f["median"]).all() and (f["median"] <= f["upper"]).all()
    assert forecast(df, cfg, as_of=dates[34]).equals(forecast(df[df["date"] <= dates[34]], cfg))


def test_change_hazard_by_slot():
    streams, _ = epoch_cohort(1, 14, seed=3, emergency_rate=0.0)
    times, codes = next(iter(streams.values()))
    h = change_hazard(times, classes(codes), "Europe/London")
    assert set(h.columns) >= {"slot", "class", "p_change", "n", "time"}
    assert h["p_change"].between(0, 1).all()
    night = h[(h["class"] == "lying") & (h["slot"] == 6)]  # 03:00: asleep, rarely moves
    day = h[(h["class"] == "upright") & (h["slot"].between(20, 30))]
    assert night["p_change"].mean() < day["p_change"].mean()
