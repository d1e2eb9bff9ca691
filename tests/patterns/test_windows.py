"""Per-window predictions as a timeline: the one rule the service's patterns job and the benches share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harflow.patterns.daily import daily_metrics
from harflow.patterns.timeline import Timeline
from harflow.patterns.windows import window_segments

T0 = 1_770_595_200.0  # 2026-02-09 00:00 UTC (Europe/London: the same wall clock)
HOP, LENGTH = 1.28, 2.54


def test_windows_become_merged_runs_each_until_the_next_starts_and_gaps_stay_gaps():
    t = np.concatenate([T0 + np.arange(0, 600, HOP), T0 + 1200 + np.arange(0, 600, HOP)])
    lab = np.where(t < T0 + 300, "WALKING", "SITTING")
    seg = window_segments("p", t, t + LENGTH, lab)
    assert seg["activity"].tolist() == ["WALKING", "SITTING", "SITTING"]  # the gap splits the sit
    assert seg["start"].iloc[1] == t[t >= T0 + 300][0] and seg["end"].iloc[0] == seg["start"].iloc[1]
    assert seg["end"].iloc[1] == t[t < T0 + 1200][-1] + LENGTH  # the last window before the gap: its end
    d = daily_metrics(Timeline.from_frame(seg, tz="Europe/London")).iloc[0]
    assert d["active_min"] == pytest.approx(300 / 60, abs=0.05)
    assert d["recorded_h"] * 3600 == pytest.approx(2 * (599.04 + LENGTH), abs=0.01)  # last start + window


def test_windows_equal_labelled_epochs_of_hop_length():
    """Per-window answers are labelled epochs of hop length: the daily metrics come out the same either way
    (the timeline file shape a user would bring)."""
    rng = np.random.default_rng(0)
    n = 3 * 3600 * 100 // 128  # three hours of windows
    t = T0 + 8 * 3600 + np.arange(n) * HOP
    runs = rng.choice(["WALKING", "SITTING", "STANDING", "LAYING"], size=n // 50 + 1)
    lab = np.repeat(runs, 50)[:n]
    from_windows = daily_metrics(Timeline.from_frame(window_segments("p", t, t + LENGTH, lab), tz="UTC"))
    epochs = pd.DataFrame({"person": "p", "time": t, "activity": lab})
    from_epochs = daily_metrics(Timeline.from_frame(epochs, tz="UTC"))
    for col in ("active_min", "sedentary_min", "upright_min", "lying_min", "sit_to_stand", "transitions"):
        # the windows' last one lasts its whole length, the epochs' one hop: nothing else differs
        assert from_windows[col].iloc[0] == pytest.approx(from_epochs[col].iloc[0], abs=0.03), col


def test_duplicate_and_unordered_windows_count_once():
    t = T0 + np.arange(10) * HOP
    lab = np.array(["WALKING"] * 5 + ["SITTING"] * 5, dtype=object)
    once = window_segments("p", t, t + LENGTH, lab)
    twice = window_segments("p", np.r_[t, t][::-1], np.r_[t, t][::-1] + LENGTH, np.r_[lab, lab][::-1])
    pd.testing.assert_frame_equal(once, twice)
    assert len(window_segments("p", np.array([]), np.array([]), np.array([]))) == 0


def test_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        window_segments("p", np.zeros(3), np.ones(3), np.array(["WALKING"] * 2))
