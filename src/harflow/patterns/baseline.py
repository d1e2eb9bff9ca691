"""Personal baselines of daily metrics: robust, weekday-aware, from a trailing window of valid days.

Everything works on a *panel*: one (persons × calendar days) float array per metric, NaN where the day is
missing or not valid, so every step is vectorized across persons (a cohort of 1,000 is one array op, not
1,000 loops). The baseline of day ``d`` uses only the last ``window`` valid days strictly before ``d``: it is
what an online system would know on the morning of ``d``.

Robustness: the level is a winsorized mean (values beyond ``clip`` robust SDs of the window median are pulled
in), which keeps a sick day or a family outing from moving it yet is far less noisy than a median (a noisy
baseline inflates every statistic built on it); the spread is a winsorized SD scaled to be consistent at the
normal. Weekday-awareness: weekday and weekend days get separate levels, the weekend offset shrunk towards 0
when few weekend days are in the window (8 of 28 days is little to estimate it from).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

MAD_TO_SD = 1.4826
MEANAD_TO_SD = 1.2533  # sqrt(pi / 2)


@dataclass(frozen=True)
class BaselineConfig:
    window: int = 28  # valid days in the trailing window
    min_days: int = 14  # no baseline (and so no alert) with fewer valid days than this
    weekday_aware: bool = True
    weekend_shrink: float = 4.0  # pseudo-days pulling the weekend offset towards 0
    clip: float = 2.5  # winsorize at this many robust SDs


@dataclass
class Panel:
    persons: np.ndarray  # (P,) str, sorted
    dates: pd.DatetimeIndex  # (D,) consecutive calendar days (naive, midnight)
    values: dict[str, np.ndarray]  # metric -> (P, D) float, NaN where missing or not valid

    @property
    def weekend(self) -> np.ndarray:
        return np.asarray(self.dates.day_of_week >= 5)


@dataclass
class Baseline:
    level: np.ndarray  # (P, D) weekday level
    weekend_effect: np.ndarray  # (P, D) added on weekend days
    scale: np.ndarray  # (P, D) robust SD of the day-to-day residuals
    n: np.ndarray  # (P, D) valid days in the window; level/scale are NaN where n < min_days

    def expected(self, weekend: np.ndarray) -> np.ndarray:
        """Expected value of each day from its own baseline."""
        return self.level + self.weekend_effect * weekend


def to_panel(daily: pd.DataFrame, metrics: list[str] | tuple[str, ...], end=None) -> Panel:
    """Daily-metrics frame -> panel. Rows with ``valid`` False and absent rows are both missing (NaN).

    Time-of-day metrics given as timestamps (``first_active`` as a local time) become local minutes after the
    row's midnight, so every metric is a plain number here.
    """
    dates = _dates(daily["date"])
    persons = np.array(sorted(daily["person"].astype(str).unique()), dtype=object)
    first = dates.min() if len(dates) else pd.Timestamp("1970-01-01")
    last = dates.max() if end is None else pd.Timestamp(end).normalize()
    calendar = pd.date_range(first, max(first, last), freq="D")
    keep = np.asarray(dates <= calendar[-1])
    pi = np.searchsorted(persons, daily["person"].astype(str).to_numpy()[keep])
    di = ((dates[keep] - calendar[0]) // pd.Timedelta(days=1)).to_numpy()
    ok = np.ones(keep.sum(), bool)
    if "valid" in daily.columns:
        ok = daily["valid"].fillna(False).to_numpy(bool)[keep]
    values = {}
    for m in metrics:
        v = np.full((len(persons), len(calendar)), np.nan)
        if m in daily.columns:
            col = _numeric(daily[m], dates)[keep]
            v[pi[ok], di[ok]] = col[ok]
        values[m] = v
    return Panel(persons, calendar, values)


def trailing_windows(y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``n`` valid values strictly before each day, oldest first: (P, D, n) values (NaN-padded)
    and the day index of each (-1 for padding)."""
    P = y.shape[0]
    valid = ~np.isnan(y)
    before = np.cumsum(valid, axis=1) - valid  # valid days strictly before d
    order = np.argsort(~valid, axis=1, kind="stable")  # valid days first, in time order
    comp = np.concatenate([np.full((P, n), np.nan), np.take_along_axis(y, order, 1)], axis=1)
    comp_day = np.concatenate(
        [np.full((P, n), -1), np.where(np.take_along_axis(valid, order, 1), order, -1)], 1
    )
    idx = before[:, :, None] + np.arange(n)[None, None, :]
    rows = np.arange(P)[:, None, None]
    return comp[rows, idx], comp_day[rows, idx]


def trailing_baseline(y: np.ndarray, weekend: np.ndarray, config: BaselineConfig | None = None) -> Baseline:
    """Baseline of every (person, day) from the last ``config.window`` valid days before it."""
    cfg = config or BaselineConfig()
    vals, day = trailing_windows(y, cfg.window)
    return window_baseline(vals, np.where(day >= 0, weekend[np.maximum(day, 0)], False), cfg)


def window_baseline(vals: np.ndarray, we: np.ndarray, cfg: BaselineConfig) -> Baseline:
    """Baseline from windows (..., W) of values (NaN = absent) and their weekend flags."""
    n = np.sum(~np.isnan(vals), axis=-1)
    if cfg.weekday_aware:
        wd_vals, we_vals = np.where(we, np.nan, vals), np.where(we, vals, np.nan)
        n_wd, n_we = np.sum(~np.isnan(wd_vals), -1), np.sum(~np.isnan(we_vals), -1)
        overall = winsorized_mean(vals, cfg.clip)
        level = np.where(n_wd >= 3, winsorized_mean(wd_vals, cfg.clip), overall)
        effect = (winsorized_mean(we_vals, cfg.clip) - level) * n_we / (n_we + cfg.weekend_shrink)
        effect = np.where(n_we >= 2, effect, 0.0)
    else:
        level, effect = winsorized_mean(vals, cfg.clip), np.zeros(vals.shape[:-1])
    resid = vals - (level[..., None] + effect[..., None] * we)
    scale = winsorized_sd(resid, cfg.clip)
    short = n < cfg.min_days
    return Baseline(
        np.where(short, np.nan, level), np.where(short, np.nan, effect), np.where(short, np.nan, scale), n
    )


def nanquantile_sorted(x: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(x, q, axis=-1)`` (linear) for many short rows: one sort, no per-row Python."""
    s = np.sort(x, axis=-1)  # NaN last
    n = np.sum(~np.isnan(x), axis=-1)
    pos = np.clip(q * (n - 1), 0, None)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    a = np.take_along_axis(s, lo[..., None], -1)[..., 0]
    b = np.take_along_axis(s, hi[..., None], -1)[..., 0]
    return np.where(n > 0, a + (b - a) * (pos - lo), np.nan)


def winsorized_mean(x: np.ndarray, clip: float) -> np.ndarray:
    med = nanquantile_sorted(x, 0.5)
    mad = nanquantile_sorted(np.abs(x - med[..., None]), 0.5) * MAD_TO_SD
    lim = clip * mad[..., None]
    xc = np.clip(x, med[..., None] - lim, med[..., None] + lim)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(xc, -1) / np.sum(~np.isnan(x), -1)


# E[min(Z², c²)] for a standard normal Z: makes the winsorized SD consistent at the normal
def _clipped_second_moment(c: float) -> float:
    from math import erf, exp, pi, sqrt

    phi, tail = exp(-c * c / 2) / sqrt(2 * pi), 0.5 * (1 - erf(c / sqrt(2)))
    return (1 - 2 * tail) - 2 * c * phi + 2 * c * c * tail


def winsorized_sd(resid: np.ndarray, clip: float) -> np.ndarray:
    """Spread of residuals (about 0): residuals clipped at ``clip`` MAD-SDs, RMS, corrected to the normal."""
    n = np.sum(~np.isnan(resid), -1)
    absr = np.abs(resid)
    mad = nanquantile_sorted(absr, 0.5) * MAD_TO_SD
    # counts near 0 (nights out of bed) have a MAD of 0 though they vary: the mean absolute deviation
    # (consistent at the normal too) keeps the clip limit from collapsing
    with np.errstate(invalid="ignore", divide="ignore"):
        meanad = np.nansum(absr, -1) / n * MEANAD_TO_SD
    lim = clip * np.where(mad > 0, mad, 0.7 * meanad)[..., None]
    rc = np.clip(resid, -lim, lim)
    with np.errstate(invalid="ignore", divide="ignore"):
        ms = np.nansum(rc * rc, -1) / np.maximum(n - 1, 1)
    return np.sqrt(ms / _clipped_second_moment(clip))


def personal_baselines(
    daily: pd.DataFrame, metrics: list[str], config: BaselineConfig | None = None
) -> pd.DataFrame:
    """Long table (person, date, metric, level, weekend_level, scale, n_days): each day's baseline on the raw
    scale of the metric, from the valid days before it. Rows only where a baseline exists."""
    panel = to_panel(daily, metrics)
    frames = []
    for m in metrics:
        b = trailing_baseline(panel.values[m], panel.weekend, config)
        P, D = b.level.shape
        f = pd.DataFrame(
            {
                "person": np.repeat(panel.persons, D),
                "date": np.tile(panel.dates, P),
                "metric": m,
                "level": b.level.ravel(),
                "weekend_level": (b.level + b.weekend_effect).ravel(),
                "scale": b.scale.ravel(),
                "n_days": b.n.ravel(),
            }
        )
        frames.append(f[f["level"].notna()])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _dates(col: pd.Series) -> pd.DatetimeIndex:
    d = pd.to_datetime(col)
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_localize(None)
    return pd.DatetimeIndex(d.dt.normalize())


def _numeric(col: pd.Series, dates: pd.DatetimeIndex) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        wall = col.dt.tz_localize(None) if col.dt.tz is not None else col
        return ((wall - dates.to_numpy()) / pd.Timedelta(minutes=1)).to_numpy(np.float64, na_value=np.nan)
    if pd.api.types.is_timedelta64_dtype(col):
        return (col / pd.Timedelta(minutes=1)).to_numpy(np.float64, na_value=np.nan)
    return pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)


def rank_scores(window: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Normal scores of ``queries`` (R, Q) against the empirical distribution of ``window`` (R, W) row by row
    (NaN = absent): ``Φ⁻¹(u)`` with ``u`` the mid-rank position ``(less + equal/2 + 1/2) / (m + 1)``.

    A rank-based z-score: it needs no assumption about the metric's distribution (zero-inflated night
    minutes, small counts, heavy tails), and one odd day moves it at most to ``Φ⁻¹(1 - 1/(2m + 2))`` (≈ 2.1
    for 28 days)."""
    return rank_scores_both(window, queries)[0]


@functools.lru_cache(maxsize=8)
def _score_table(W: int) -> np.ndarray:
    """``Φ⁻¹(k / (2m + 2))`` for m = 0..W (window size) and k = 0..2W + 1."""
    m = np.arange(W + 1)[:, None]
    k = np.arange(2 * W + 2)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((k > 0) & (k < 2 * m + 2), ndtri(k / (2.0 * m + 2)), np.nan)


def rank_scores_both(window: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores of ``queries``, scores of the window's own values) from one row-wise sort of both together:
    exact comparisons, rows independent of each other (no shared offsets whose rounding could merge values
    of one row depending on what the other rows hold)."""
    R, W = window.shape
    # float32: a faster sort, and values equal to 7 digits are ties (they are, for any daily metric)
    vals = np.concatenate([window, queries], 1).astype(np.float32)
    N = vals.shape[1]
    order = np.argsort(vals, axis=1, kind="stable")  # NaN last
    s = np.take_along_axis(vals, order, 1)
    in_window = np.take_along_axis(
        np.concatenate([~np.isnan(window), np.zeros(queries.shape, bool)], 1), order, 1
    ).astype(np.int16)
    cw = np.cumsum(in_window, 1, dtype=np.int16)  # window values at or before each sorted position
    new = np.ones((R, N), bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    end = np.ones((R, N), bool)
    end[:, :-1] = new[:, 1:]
    # counts are non-decreasing along a row, so carrying a tie group's first (last) value across the group
    # is a running max (a reversed running min)
    less = np.maximum.accumulate(np.where(new, cw - in_window, 0), axis=1)
    leq = np.minimum.accumulate(np.where(end, cw, W)[:, ::-1], axis=1)[:, ::-1]
    m = cw[:, -1:]
    # u = (less + leq + 1) / (2m + 2) takes few values: look Φ⁻¹ up instead of computing it 10⁷ times
    table = _score_table(W)
    z = table[m, (less + leq + 1).astype(np.intp)]
    z = np.where(np.isnan(s) | (m == 0), np.nan, z)
    out = np.empty_like(z)
    np.put_along_axis(out, order, z, 1)
    return out[:, W:], out[:, :W]
