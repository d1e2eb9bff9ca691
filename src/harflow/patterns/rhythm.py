"""Non-parametric rest-activity rhythm: IS, IV, RA, L5, M10 and the L5/M10 onsets.

The definitions and defaults are pyActigraphy's (1.2.2, ``pyActigraphy/metrics/metrics.py``), written anew
from its formulas; ``tests/patterns/test_rhythm_golden.py`` holds them to its published values.

* The input is one regular epoch series per person, NaN where there is no data. A numeric timeline is
  binarized first, ``value > threshold`` (``binarize=True, threshold=4`` as in pyActigraphy). An activity
  timeline gives, per epoch (60 s by default), the active fraction of its recorded time (``classes.py``'s
  active indicator; NaN when less than half the epoch is recorded), so an hourly sum is active minutes per
  hour: what pyActigraphy's binarized minute counts measure.
* IS and IV use bins of ``freq`` (1 h) holding the *sum* of their epochs, anchored like pyActigraphy's
  ``resample(freq, origin='start')`` at the first epoch (``origin='start_day'``: at local midnight, which
  pyActigraphy releases of 2018-19 used). A bin with any no-data epoch is no data (pyActigraphy's
  masked-bin rule); a partly recorded bin at either end of the series is kept, as pyActigraphy keeps it.
  With x the bin series, NaN skipped (no-data bins drop out, as do differences that touch one):

  IS = var(mean of x over the days, per time of day) / var(x);  IV = mean((x[i+1] - x[i])^2) / var(x).

  pyActigraphy's variances divide by count - 1 (pandas' ``var``; ``ddof=1``, the default here), so a
  perfectly periodic series of n hourly bins has IS = (n - 1) * 24 / (23 * n), about 1.04, not 1. ``ddof=0``
  gives the textbook form (Witting et al. 1990), where it is exactly 1.
* L5 and M10 use the epoch series itself: the average day (mean per time of day over all days), read
  cyclically; L5 is the lowest mean over 5 consecutive hours, M10 the highest over 10, each onset the time
  of day that window starts (the earliest, on ties). RA = (M10 - L5) / (M10 + L5).

``rhythm_metrics`` gives one row per person over the whole timeline, or one per window of whole local days
(``window="7D"``, stepping ``step`` days, by default the window: consecutive weeks). Windows start at local
midnight of the first recorded day; one that would reach past the last epoch is not reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harflow.patterns.classes import class_table
from harflow.patterns.timeline import Timeline, from_ns, ns, to_epochs

S_NS = 1_000_000_000
DAY_S = 86_400


def activity_series(
    timeline: Timeline,
    person: str,
    *,
    binarize: bool = True,
    threshold: float = 4.0,
    epoch: str | pd.Timedelta | None = None,
) -> pd.Series:
    """One person's regular epoch series (local time index, NaN = no data) that the metrics read."""
    one = timeline.select(person)
    if one.segments.empty:
        raise ValueError(f"person {person!r} has no data in this timeline")
    if timeline.kind == "value":
        grid = to_epochs(one, epoch)
        x = pd.Series(grid["value"].to_numpy(), index=pd.DatetimeIndex(grid["time"]))
        return x.gt(threshold).astype(float).where(x.notna()) if binarize else x
    step = pd.Timedelta(epoch or "60s")
    seg = one.segments
    s, e = ns(seg["start"]), ns(seg["end"])
    active = class_table(seg["activity"].cat.categories)["active"].to_numpy()[seg["activity"].cat.codes]
    n = -(-int(e[-1] - s[0]) // step.value)
    edges = s[0] + np.arange(n + 1, dtype=np.int64) * step.value
    recorded = np.diff(_covered(s, e, np.ones(len(s), bool), edges))
    act = np.diff(_covered(s, e, active, edges))
    frac = np.where(recorded >= step.value / 2, act / np.maximum(recorded, 1), np.nan)
    return pd.Series(frac, index=from_ns(edges[:-1], timeline.tz))


def binned(x: pd.Series, freq: str = "1h", origin: str = "start") -> pd.Series:
    """Sums over bins of ``freq``; NaN for a bin with any no-data epoch (see the module docstring)."""
    step = _step(x)
    width = pd.Timedelta(freq)
    if width == step:
        return x
    if width < step or width % step:
        raise ValueError(f"freq {freq} is not a whole number of the series' {step} epochs")
    sums = x.resample(width, origin=origin).sum()
    gaps = x.isna().resample(width, origin=origin).sum()
    return sums.where(gaps.reindex(sums.index).to_numpy() == 0)


def interdaily_stability(x: pd.Series, freq: str = "1h", origin: str = "start", ddof: int = 1) -> float:
    h = binned(x, freq, origin)
    profile = h.groupby(_time_of_day(h.index)).mean()
    return _ratio(_var(profile.to_numpy(), ddof), _var(h.to_numpy(), ddof))


def intradaily_variability(x: pd.Series, freq: str = "1h", origin: str = "start", ddof: int = 1) -> float:
    h = binned(x, freq, origin).to_numpy()
    d2 = np.diff(h) ** 2
    return _ratio(np.nanmean(d2) if np.isfinite(d2).any() else np.nan, _var(h, ddof))


def lowest_highest(x: pd.Series, hours: float, lowest: bool) -> tuple[float, pd.Timedelta]:
    """L5-style level and onset: the mean of the average day over the lowest (highest) ``hours`` window."""
    step = _step(x)
    tod = _time_of_day(x.index)
    profile = x.groupby(tod).mean()
    # a full cycle of times of day in the series' phase, so window positions are clock time
    phase = int(tod[0]) % int(step.total_seconds()) if len(tod) else 0
    grid = phase + np.arange(DAY_S // int(step.total_seconds())) * int(step.total_seconds())
    day = profile.reindex(grid).to_numpy()
    n = int(pd.Timedelta(hours=hours) / step)
    cyclic = np.nan_to_num(np.concatenate([day, day[: n - 1]]))  # a time of day never seen adds nothing
    sums = np.lib.stride_tricks.sliding_window_view(cyclic, n).sum(axis=1)
    if np.isnan(day).all():
        return float("nan"), pd.NaT
    i = int(np.argmin(sums) if lowest else np.argmax(sums))
    return float(sums[i] / n), pd.Timedelta(seconds=int(grid[i]))


def relative_amplitude(x: pd.Series) -> float:
    l5, _ = lowest_highest(x, 5, lowest=True)
    m10, _ = lowest_highest(x, 10, lowest=False)
    return _amplitude(l5, m10)


def _amplitude(l5: float, m10: float) -> float:
    return _ratio(m10 - l5, m10 + l5)


def rhythm_metrics(
    timeline: Timeline,
    *,
    window: str | int | None = None,
    step: str | int | None = None,
    freq: str = "1h",
    origin: str = "start",
    binarize: bool = True,
    threshold: float = 4.0,
    epoch: str | pd.Timedelta | None = None,
    ddof: int = 1,
) -> pd.DataFrame:
    """Columns: person, start, end, days, recorded_h, IS, IV, RA, L5, M10, L5_onset, M10_onset (HH:MM:SS)."""
    rows = []
    for person in timeline.persons:
        x = activity_series(timeline, person, binarize=binarize, threshold=threshold, epoch=epoch)
        for lo, hi in _windows(x, window, step):
            part = x[(x.index >= lo) & (x.index < hi)] if window is not None else x
            if part.notna().any():
                rows.append({"person": person, "start": lo, "end": hi, **_metrics(part, freq, origin, ddof)})
    columns = ["person", "start", "end", "days", "recorded_h", "IS", "IV", "RA", "L5", "M10"]
    return pd.DataFrame(rows, columns=[*columns, "L5_onset", "M10_onset"])


def _metrics(x: pd.Series, freq: str, origin: str, ddof: int) -> dict:
    l5, l5_on = lowest_highest(x, 5, lowest=True)
    m10, m10_on = lowest_highest(x, 10, lowest=False)
    seen = x.index[x.notna().to_numpy()]
    return {
        "days": int(pd.Index(seen.date).nunique()),
        "recorded_h": float(len(seen) * _step(x) / pd.Timedelta(hours=1)),
        "IS": interdaily_stability(x, freq, origin, ddof),
        "IV": intradaily_variability(x, freq, origin, ddof),
        "RA": _amplitude(l5, m10),
        "L5": l5,
        "M10": m10,
        "L5_onset": _clock(l5_on),
        "M10_onset": _clock(m10_on),
    }


def _windows(x: pd.Series, window: str | int | None, step: str | int | None) -> list[tuple]:
    end = x.index[-1] + _step(x)
    if window is None:
        return [(x.index[0], end)]
    size, stride = _days(window), _days(step if step is not None else window)
    first = x.index[0].tz_localize(None).normalize() if x.index.tz else x.index[0].normalize()
    out = []
    k = 0
    while True:
        lo_wall = first + pd.Timedelta(days=k * stride)
        lo, hi = (_local(t, x.index.tz) for t in (lo_wall, lo_wall + pd.Timedelta(days=size)))
        if hi > end:
            return out
        out.append((lo, hi))
        k += 1


def _local(wall: pd.Timestamp, tz) -> pd.Timestamp:
    return wall.tz_localize(tz, ambiguous=True, nonexistent="shift_forward") if tz is not None else wall


def _days(value: str | int) -> int:
    td = pd.Timedelta(days=value) if isinstance(value, int) else pd.Timedelta(value)
    if td <= pd.Timedelta(0) or td % pd.Timedelta(days=1):
        raise ValueError(f"window and step must be whole days (e.g. '7D'), got {value!r}")
    return td.days


def _step(x: pd.Series) -> pd.Timedelta:
    if len(x) < 2:
        raise ValueError("a rhythm needs at least two epochs")
    t = ns(pd.Series(x.index))
    d = np.diff(t)
    if (d != d[0]).any():
        raise ValueError("the epoch series is not regular")
    return pd.Timedelta(int(d[0]), "ns")


def _time_of_day(index: pd.DatetimeIndex) -> np.ndarray:
    return index.hour.to_numpy() * 3600 + index.minute.to_numpy() * 60 + index.second.to_numpy()


def _covered(s: np.ndarray, e: np.ndarray, flag: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Flagged time covered by sorted, non-overlapping segments before each edge (int ns)."""
    dur = np.where(flag, e - s, 0)
    before = np.concatenate([[0], np.cumsum(dur)])
    k = np.searchsorted(s, edges, side="right") - 1
    partial = np.clip(edges - s[np.maximum(k, 0)], 0, dur[np.maximum(k, 0)])
    return np.where(k >= 0, before[np.maximum(k, 0)] + partial, 0)


def _var(values: np.ndarray, ddof: int) -> float:
    ok = values[np.isfinite(values)]
    return float(np.var(ok, ddof=ddof)) if len(ok) > ddof else float("nan")


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den and np.isfinite(den) else float("nan")


def _clock(offset: pd.Timedelta) -> str | None:
    if offset is pd.NaT:
        return None
    s = int(offset.total_seconds())
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
