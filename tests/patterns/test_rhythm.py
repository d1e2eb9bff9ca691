import numpy as np
import pandas as pd
import pytest

from harflow.patterns.rhythm import (
    activity_series,
    binned,
    interdaily_stability,
    intradaily_variability,
    relative_amplitude,
    rhythm_metrics,
)
from harflow.patterns.timeline import Timeline
from tests.patterns.conftest import marks


def square_wave(days: int, tz: str | None = None, first: str = "2024-03-04") -> Timeline:
    """Active 08:00-22:00, in bed otherwise, every day: a perfectly periodic rest-activity rhythm."""
    spec = ["00:00 LAYING"]
    for d in range(days):
        spec += [f"{24 * d + 8}:00 WALKING", f"{24 * d + 22}:00 LAYING"]
    return Timeline.from_frame(marks(first, [*spec, f"{24 * days}:00 END"]), tz=tz)


def test_perfectly_periodic_rhythm():
    days = 7
    m = rhythm_metrics(square_wave(days)).iloc[0]
    n, p = 24 * days, 24
    # pyActigraphy's variances divide by count-1: IS of a periodic series is (n-1)p / ((p-1)n), not 1
    assert m["IS"] == pytest.approx((n - 1) * p / ((p - 1) * n), abs=1e-12)
    # two 60-minute steps a day against a variance of 875 n/(n-1) active-minutes^2: IV = 12/35
    assert m["IV"] == pytest.approx(12 / 35, abs=1e-12)
    assert (m["L5"], m["M10"], m["RA"]) == (0.0, 1.0, 1.0)
    assert (m["L5_onset"], m["M10_onset"]) == ("00:00:00", "08:00:00")  # the earliest of the tied windows
    assert (m["days"], m["recorded_h"]) == (days, 24 * days)
    assert relative_amplitude(activity_series(square_wave(days), "default")) == 1.0
    textbook = rhythm_metrics(square_wave(days), ddof=0).iloc[0]
    assert textbook["IS"] == pytest.approx(1.0, abs=1e-12)
    assert textbook["IV"] == pytest.approx(12 / 35 * n / (n - 1), abs=1e-12)


def test_white_noise_has_no_interdaily_stability():
    rng = np.random.default_rng(7)
    days = 60
    times = pd.date_range("2024-01-01", periods=days * 1440, freq="1min")
    counts = rng.integers(0, 10, len(times))  # binarized at > 4: active with probability 1/2, independently
    m = rhythm_metrics(Timeline.from_frame(pd.DataFrame({"time": times, "value": counts}))).iloc[0]
    assert m["IS"] < 0.05  # about 1/days
    assert m["IV"] == pytest.approx(2.0, abs=0.15)  # E(x[i+1]-x[i])^2 = 2 var(x) for independent bins


def test_binned_sums_and_any_missing_epoch_voids_its_bin():
    index = pd.date_range("2024-03-04 08:30", periods=150, freq="1min")
    x = pd.Series(1.0, index=index)
    x.iloc[40] = np.nan  # 09:10
    h = binned(x, "1h", origin="start")  # bins at 08:30 (missing 09:10), 09:30, 10:30 (30 epochs, kept)
    assert h.index[0] == index[0] and np.isnan(h.iloc[0]) and h.tolist()[1:] == [60.0, 30.0]
    midnight = binned(x, "1h", origin="start_day")  # bins at 08:00 (30 epochs, kept), 09:00 (missing), 10:00
    assert midnight.index[0] == pd.Timestamp("2024-03-04 08:00") and midnight.iloc[0] == 30
    assert np.isnan(midnight.iloc[1]) and midnight.tolist()[2:] == [60.0]
    with pytest.raises(ValueError, match="whole number"):
        binned(x, "90s")


def test_missing_hours_drop_out_of_is_and_iv():
    x = activity_series(square_wave(7), "default")
    full = interdaily_stability(x)
    x.loc["2024-03-06 03:00":"2024-03-06 03:59"] = np.nan  # one rest hour missing: the profile is unchanged
    # 98 active (60 min) and 70 rest hours; now 69 rest of 167: var(x) = 3600 k (n - k) / n / (n - 1)
    var_full, var_missing = 3600 * 98 * 70 / 168 / 167, 3600 * 98 * 69 / 167 / 166
    assert interdaily_stability(x) == pytest.approx(full * var_full / var_missing, abs=1e-12)
    # 14 steps of 60 min; the two differences touching the missing hour drop out: 165 remain
    assert intradaily_variability(x) == pytest.approx(14 * 3600 / 165 / var_missing, abs=1e-12)


def test_activity_series_is_the_active_fraction_of_recorded_time():
    frame = marks("2024-03-04", ["08:00 WALKING", "08:00:30 SITTING", "08:01:20 -", "08:02:00 WALKING",
                                 "08:02:40 -", "08:03:00 END"])  # fmt: skip
    x = activity_series(Timeline.from_frame(frame), "default")
    assert x.index[0] == pd.Timestamp("2024-03-04 08:00")
    # 08:00 half walking; 08:01 only 20 s recorded (under half the epoch): no data; 08:02 40 s, all walking
    assert x.tolist()[0] == 0.5 and np.isnan(x.iloc[1]) and x.tolist()[2] == 1.0


def test_numeric_series_is_binarized_above_the_threshold():
    times = pd.date_range("2024-03-04", periods=4, freq="1min")
    tl = Timeline.from_frame(pd.DataFrame({"time": times, "value": [0, 4, 5, 100]}))
    assert activity_series(tl, "default").tolist() == [0, 0, 1, 1]
    assert activity_series(tl, "default", threshold=50).tolist() == [0, 0, 0, 1]
    assert activity_series(tl, "default", binarize=False).tolist() == [0, 4, 5, 100]


def test_windows_are_whole_local_days():
    tl = square_wave(14)
    weekly = rhythm_metrics(tl, window="7D")
    assert weekly["start"].tolist() == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-11")]
    n = 24 * 7
    assert weekly["IS"].tolist() == pytest.approx([(n - 1) * 24 / (23 * n)] * 2, abs=1e-12)
    assert len(rhythm_metrics(tl, window="7D", step=1)) == 8
    with pytest.raises(ValueError, match="whole days"):
        rhythm_metrics(tl, window="36h")


def test_onsets_follow_the_local_clock_across_dst():
    m = rhythm_metrics(square_wave(14, tz="Europe/Berlin", first="2024-03-25")).iloc[0]
    assert (m["L5_onset"], m["M10_onset"], m["RA"]) == ("00:00:00", "08:00:00", 1.0)
