"""Sustained changes in daily metrics: step changes and gradual drifts, each in its direction of concern.

Method: a generalized-likelihood-ratio scan over candidate onsets, each against the baseline *before* it.
For day ``d`` and every candidate onset ``τ`` in the last ``step_window`` (``ramp_window``) days, the days
``τ..d`` are scored against the person's baseline window of ``τ`` (:mod:`~harflow.patterns.baseline`: the
last 28 valid days before ``τ``, weekend days shifted by the person's weekend offset) as *rank* z-scores —
``Φ⁻¹`` of the day's mid-rank among the window's days, scaled to unit variance under no change. Ranks need
no model of a metric's distribution (night minutes are mostly 0, counts are small, walking has heavy
tails) and cap what one odd day can add (≈ 2.1). The scores are summed:

* step:  ``S = Σ z / sqrt(V(n) + n²·g·v/m)`` — the GLR statistic of a mean shift starting at ``τ``;
* drift: ``R = Σ w·z / sqrt(g·Σw² + (Σw)²·g·v/m)``, ``w`` = days since ``τ`` — the GLR of a ramp starting
  at ``τ`` (a broken-stick trend: more power for a slow decline than a trend test over a fixed window, and
  it dates the onset).

``V(n)`` is the variance of a sum of ``n`` AR(1) days and ``g = (1 + φ)/(1 - φ)``, with ``φ`` the person's
day-to-day autocorrelation before ``τ`` shrunk towards the cohort's (walking is autocorrelated: without it
walking raised most false alerts); the ``v/m`` terms are the sampling error of the baseline (``m`` days).
A channel alarms when ``max_τ S ≥ step_threshold`` or ``max_τ R ≥ ramp_threshold``. What changed is then
read from a least-squares step and ramp fit of the values themselves: the better fit gives the kind
(``step_change`` or ``drift``), the onset and the magnitude.

Everything about day ``d`` uses data up to ``d`` only (a baseline before ``τ``, prefix sums from ``τ``), so
running this on a frame that ends at ``d`` gives the alerts a daily online run would have given (tested).
After an alert a channel stays quiet until a new baseline has settled: the days before the onset are
dropped for that channel, so no baseline (and no alert) exists until ``min_days`` valid days after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from harflow.patterns.alerts import Alert, day_str, sort_alerts
from harflow.patterns.baseline import (
    Baseline,
    BaselineConfig,
    Panel,
    rank_scores_both,
    to_panel,
    trailing_baseline,
    trailing_windows,
)


@dataclass(frozen=True)
class MetricSpec:
    direction: str  # direction of concern: "down" | "up" | "both"
    transform: str = "log"  # "log" (log(x + offset)) | "sqrt" (sqrt(x + offset)) | "identity"
    offset: float = 1.0
    scale_floor: float = 0.05  # least day-to-day SD, transformed units: counts near 0 have a MAD of 0
    relative: bool = True  # magnitude as a ratio change; False: difference in the metric's units
    valid_from: float | None = None  # values below this are not this metric (treated as missing)


# the simulator's ground-truth metrics. ``out_of_bed`` tells the same story as ``night_upright_min`` (night
# wandering) with coarser counts: monitoring both doubled the night's false alerts for no recall on the dev
# cohort, so it is offered in EXTRA_METRICS instead. Transforms: log for minutes (multiplicative day-to-day
# variation; the offset keeps near-zero days from dominating), identity for clock times.
DEFAULT_METRICS: dict[str, MetricSpec] = {
    "active_min": MetricSpec("down", "log", 5.0, 0.08),
    "sit_to_stand": MetricSpec("down", "log", 2.0, 0.06),
    "sedentary_bout_mean_min": MetricSpec("up", "log", 1.0, 0.05),
    # getting up (daily.py's wake_time: the end of the night's lying); the first active moment of the day is
    # not it: a walk to the toilet at 01:30 is the day's first activity on half the simulator's days
    "wake_time": MetricSpec("up", "identity", 0.0, 10.0, relative=False),
    "night_upright_min": MetricSpec("up", "log", 5.0, 0.10, relative=False),  # mostly 0: say minutes
}
EXTRA_METRICS: dict[str, MetricSpec] = {
    "out_of_bed": MetricSpec("up", "sqrt", 0.375, 0.25),
    "sedentary_min": MetricSpec("up", "log", 10.0, 0.02),
    "upright_min": MetricSpec("down", "log", 10.0, 0.03),
    "walking_bouts": MetricSpec("down", "log", 2.0, 0.05),
    "last_active": MetricSpec("down", "identity", 0.0, 10.0, relative=False),
}


@dataclass(frozen=True)
class DetectConfig:
    metrics: dict[str, MetricSpec] = field(default_factory=lambda: dict(DEFAULT_METRICS))
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    step_window: int = 28  # the longest a step's onset may lie back (days)
    ramp_window: int = 42
    # tuned on the dev cohorts (seed 101): 0.28 false alerts a person-month on the simulator's, 0.41 on the
    # fixtures' (noisier) cohort, against the 0.5 allowed; 3.5 gives 0.18 / 0.27 and misses more
    step_threshold: float = 3.25
    ramp_threshold: float = 3.25
    z_clip: float = 3.0
    min_post_step: int = 3  # valid days after the onset before a step can alarm
    min_post_ramp: int = 7
    min_null_var: float = 0.3
    baseline_var: float = 1.0  # Var(a day's score) from the baseline's sampling ≈ baseline_var / m
    max_ar: float = 0.8  # day-to-day autocorrelation is estimated per person, capped here ...
    ar_shrink: float = 20.0  # ... and shrunk towards the cohort's with this many pseudo-pairs


@dataclass
class Scan:
    """Per (person, day): the strongest step and drift statistics over candidate onsets, and those onsets."""

    step: np.ndarray  # (P, D) -inf where nothing can be tested
    step_onset: np.ndarray  # (P, D) day index
    ramp: np.ndarray
    ramp_onset: np.ndarray
    baseline: Baseline


def transform(x: np.ndarray, spec: MetricSpec) -> np.ndarray:
    if spec.valid_from is not None:
        x = np.where(x >= spec.valid_from, x, np.nan)
    if spec.transform == "log":
        return np.log(np.maximum(x, 0) + spec.offset)
    if spec.transform == "sqrt":
        return np.sqrt(np.maximum(x, 0) + spec.offset)
    return x


def inverse(y: np.ndarray | float, spec: MetricSpec) -> np.ndarray | float:
    if spec.transform == "log":
        return np.exp(y) - spec.offset
    if spec.transform == "sqrt":
        return np.square(y) - spec.offset
    return y


def scan(y: np.ndarray, weekend: np.ndarray, sign: float, spec: MetricSpec, cfg: DetectConfig) -> Scan:
    """Step and drift statistics of a transformed panel ``y`` (P, D); ``sign`` +1: rises, -1: falls."""
    L = max(cfg.step_window, cfg.ramp_window)
    b = trailing_baseline(y, weekend, cfg.baseline)
    z, m = _scores(y, weekend, b, L, cfg)
    z = sign * z
    ok = ~np.isnan(z)
    ok &= ok[:, :, :1]  # an onset is a day with data
    z = np.where(ok, z, 0.0)
    phi = ar1_by_day(z[:, :, 0] if L else np.zeros_like(y), cfg.ar_shrink, cfg.max_ar)[:, :, None]
    long_run = (1 + phi) / (1 - phi)  # variance of a long sum of AR(1) days, per day
    w = np.arange(1, L + 1, dtype=float)[None, None, :]
    n = np.cumsum(ok, -1)
    vb = cfg.baseline_var * long_run / np.maximum(m, 1)[:, :, None]  # the baseline's own uncertainty
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        n_var = n * long_run - 2 * phi * (1 - phi**n) / (1 - phi) ** 2  # Var(sum of n AR(1) days)
        step = np.cumsum(z, -1) / np.sqrt(np.maximum(n_var, n) * (phi > 0) + n * (phi <= 0) + n * n * vb)
        sw = np.cumsum(ok * w, -1)
        ramp = np.cumsum(z * w, -1) / np.sqrt(np.cumsum(ok * w * w, -1) * long_run + sw * sw * vb)
    j = np.arange(L)[None, None, :]
    step = np.where((n >= cfg.min_post_step) & (j < cfg.step_window) & ok, step, -np.inf)
    ramp = np.where((n >= cfg.min_post_ramp) & (j < cfg.ramp_window) & ok, ramp, -np.inf)
    step_stat, step_onset = _by_day(np.nan_to_num(step, nan=-np.inf))
    ramp_stat, ramp_onset = _by_day(np.nan_to_num(ramp, nan=-np.inf))
    return Scan(step_stat, step_onset, ramp_stat, ramp_onset, b)


def _scores(y: np.ndarray, weekend: np.ndarray, b: Baseline, L: int, cfg: DetectConfig):
    """Rank z-scores (P, τ, j) of day τ+j against the baseline window of τ, weekend-adjusted, each scaled to
    unit variance under 'no change' (ties in counts make raw normal scores narrower than N(0, 1)); and the
    number of days in each window."""
    P, D = y.shape
    vals, day = trailing_windows(y, cfg.baseline.window)
    eff = np.nan_to_num(b.weekend_effect)
    win = vals - eff[:, :, None] * np.where(day >= 0, weekend[np.maximum(day, 0)], False)
    win = np.where(np.isnan(b.level)[:, :, None], np.nan, win)  # too few days: no baseline, no score
    yw = sliding_window_view(np.pad(y, ((0, 0), (0, L)), constant_values=np.nan), L, axis=1)[:, :D]
    ww = sliding_window_view(np.pad(weekend.astype(float), (0, L)), L)[:D]
    q = yw - eff[:, :, None] * ww[None]
    W = win.shape[-1]
    z, own = rank_scores_both(win.reshape(-1, W), q.reshape(-1, L))
    z, own = z.reshape(P, D, L), own.reshape(P, D, W)
    m = np.sum(~np.isnan(win), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        null_var = np.nansum(own * own, -1) / m * (W + 1) / W  # a new day's score variance, approximately
    # a window of identical values (never out of bed) has no spread at all: floor it, so a new value
    # counts as strong evidence rather than infinite
    scale = np.sqrt(np.maximum(np.nan_to_num(null_var), cfg.min_null_var))[:, :, None]
    return np.clip(z / scale, -cfg.z_clip, cfg.z_clip), m


def ar1_by_day(z0: np.ndarray, shrink: float = 20.0, max_ar: float = 0.8) -> np.ndarray:
    """Per (person, τ): lag-1 autocorrelation of the day scores before τ (each day against its own
    baseline), from the consecutive pairs so far, shrunk towards the cohort's pooled value (a person's own
    estimate from a few weeks is too noisy to trust alone). Walking is autocorrelated (weather, visits,
    mood): ignoring it makes its sums look significant far more often than they should."""
    a, c = z0[:, :-1], z0[:, 1:]
    pair = ~np.isnan(a) & ~np.isnan(c)
    prod = np.where(pair, a * c, 0.0)
    sq = np.where(pair, (a * a + c * c) / 2, 0.0)
    zero = np.zeros((len(z0), 2))
    # pairs ending before τ: (d, d+1) with d + 1 < τ
    cp = np.concatenate([zero, np.cumsum(prod, 1)], 1)[:, :-1]
    cs = np.concatenate([zero, np.cumsum(sq, 1)], 1)[:, :-1]
    npair = np.concatenate([zero, np.cumsum(pair, 1)], 1)[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(cs > 0, cp / cs, 0.0)
        pooled = np.where(cs.sum(0) > 0, cp.sum(0) / cs.sum(0), 0.0)[None, :]
    phi = (npair * own + shrink * pooled) / (npair + shrink)
    return np.clip(np.nan_to_num(phi), 0.0, max_ar)


def _by_day(stat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, τ, j) statistics -> for each day d = τ + j, the maximum over τ and its arg-max."""
    _, D, L = stat.shape
    d = np.arange(D)[:, None]
    j = np.arange(L)[None, :]
    tau = d - j
    by_day = np.where((tau >= 0)[None], stat[:, np.maximum(tau, 0), j], -np.inf)  # (P, D, L)
    k = np.argmax(by_day, -1)
    best = np.take_along_axis(by_day, k[..., None], -1)[..., 0]
    return best, np.arange(D)[None, :] - k


def detect(daily: pd.DataFrame, config: DetectConfig | None = None, as_of=None) -> list[Alert]:
    """All alerts a daily online run would have raised up to ``as_of`` (default: the last date)."""
    cfg = config or DetectConfig()
    frame = daily
    if as_of is not None:
        frame = daily[pd.to_datetime(daily["date"]) <= pd.Timestamp(as_of)]
    return detect_panel(to_panel(frame, list(cfg.metrics), end=as_of), cfg)


def alerts_on(daily: pd.DataFrame, day, config: DetectConfig | None = None) -> list[Alert]:
    """The alerts raised on ``day`` itself: what the service sends after that day's metrics arrive."""
    return [a for a in detect(daily, config, as_of=day) if a.detected == day_str(day)]


def detect_panel(panel: Panel, cfg: DetectConfig) -> list[Alert]:
    alerts: list[Alert] = []
    for metric, spec in cfg.metrics.items():
        dirs = ("down", "up") if spec.direction == "both" else (spec.direction,)
        for direction in dirs:
            alerts += _channel(panel, metric, direction, spec, cfg)
    return sort_alerts(alerts)


def _channel(panel: Panel, metric: str, direction: str, spec: MetricSpec, cfg: DetectConfig) -> list[Alert]:
    y = np.array(transform(panel.values[metric], spec), dtype=np.float64)  # a copy: re-arming edits it
    sign = 1.0 if direction == "up" else -1.0
    rows = np.arange(len(panel.persons))
    after = np.full(len(rows), -1)  # the last alert's detection day per row, -1 = none yet
    alerts = []
    while len(rows):
        s = scan(y[rows], panel.weekend, sign, spec, cfg)
        step_hit, ramp_hit = s.step / cfg.step_threshold, s.ramp / cfg.ramp_threshold
        hit = np.maximum(step_hit, ramp_hit) >= 1.0
        hit &= np.arange(y.shape[1])[None, :] > after[rows][:, None]
        first = np.argmax(hit, 1)
        found = hit[np.arange(len(rows)), first]
        next_rows = []
        for i in np.flatnonzero(found):
            p, d = rows[i], first[i]
            alert, onset = _alert(panel, metric, direction, spec, cfg, p, y[p], s, i, d)
            alerts.append(alert)
            y[p, :onset] = np.nan  # the new baseline starts at the onset: re-arm only once it has settled
            after[p] = d
            next_rows.append(p)
        rows = np.array(next_rows, dtype=np.int64)
    return alerts


def _fit(r: np.ndarray, sign: float) -> tuple[float, int, float, float, int, float]:
    """Least-squares step and ramp fits to residuals ``r`` (days from the fit's start, NaN = missing), over
    every onset: (step SSE, step onset, step size, ramp SSE, ramp onset, ramp slope), in ``r``'s units.
    Only changes in the direction of concern (``sign``) count."""
    n = len(r)
    ok = ~np.isnan(r)
    rr = np.where(ok, r, 0.0)
    t = np.arange(n)
    out = []
    for shape in ("step", "ramp"):
        x = np.where(
            t[None, :] >= t[:, None], 1.0 if shape == "step" else (t[None, :] - t[:, None] + 1.0), 0.0
        )
        x = x * ok[None, :]  # (onset, day)
        sxx, sxy = (x * x).sum(1), (x * rr[None, :]).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = np.where(sxx > 0, sxy / sxx, 0.0)
        coef = np.where(sign * coef > 0, coef, 0.0)
        sse = (rr * rr).sum() - 2 * coef * sxy + coef * coef * sxx
        k = int(np.argmin(np.where(sxx > 0, sse, np.inf)))
        out += [float(sse[k]), k, float(coef[k])]
    return tuple(out)  # type: ignore[return-value]


def _alert(panel, metric, direction, spec, cfg, p, yp, s: Scan, i, d) -> tuple[Alert, int]:
    """The alert for the first crossing on day ``d``. The rank statistics decided *that* something changed;
    what changed (step or drift), since when and by how much is read from a least-squares fit of the values
    themselves against one baseline from before the look-back window (ranks saturate: a 60-minute later wake
    and a 25-minute one rank alike)."""
    b = s.baseline
    lo = max(0, d - max(cfg.step_window, cfg.ramp_window) + 1)
    has = np.flatnonzero(~np.isnan(b.level[i, lo : d + 1]))
    t0 = lo + int(has[0])
    level, effect = b.level[i, t0], b.weekend_effect[i, t0]
    scale = max(b.scale[i, t0], spec.scale_floor)
    resid = (yp[t0 : d + 1] - (level + effect * panel.weekend[t0 : d + 1])) / scale
    resid = np.clip(resid, -8.0, 8.0)  # winsorized: a wild day must not steer the fit
    sign = 1.0 if direction == "up" else -1.0
    sse_s, k_s, step, sse_r, k_r, slope = _fit(resid, sign)
    is_step = sse_s <= sse_r
    onset = t0 + (k_s if is_step else k_r)
    if is_step:  # the size as the median after the onset: robust to a sick day among few
        step = float(np.nanmedian(resid[k_s:]))
    shift = (step if is_step else slope * (d - onset + 1)) * scale  # change reached by day d
    base_nat, now_nat = float(inverse(level, spec)), float(inverse(level + shift, spec))
    relative = spec.relative and base_nat > 1e-6  # a relative change of nothing is no number
    magnitude = now_nat / base_nat - 1 if relative else now_nat - base_nat
    stat = float(max(s.step[i, d] / cfg.step_threshold, s.ramp[i, d] / cfg.ramp_threshold))
    post = ~np.isnan(yp[onset : d + 1])
    evidence = {
        "baseline_mean": base_nat,
        "baseline_sd": float(scale),
        "baseline_days": int(b.n[i, t0]),
        "weekend_offset": float(effect),
        "recent_mean": float(inverse(np.nanmean(yp[onset : d + 1]), spec)),
        "recent_days": int(post.sum()),
        "step_statistic": float(s.step[i, d]),
        "drift_statistic": float(s.ramp[i, d]),
        "threshold": cfg.step_threshold
        if s.step[i, d] / cfg.step_threshold >= s.ramp[i, d] / cfg.ramp_threshold
        else cfg.ramp_threshold,
        "p_nominal": float(norm.sf(stat * cfg.step_threshold)),  # one test's p-value, before the scan
        "window": [day_str(panel.dates[onset]), day_str(panel.dates[d])],
        "scale": spec.transform,
        "magnitude_unit": "relative" if relative else "metric units",
    }
    if not is_step:
        per_day = slope * scale
        evidence["slope_per_day"] = float(np.expm1(per_day)) if spec.transform == "log" else float(per_day)
    alert = Alert(
        person=str(panel.persons[p]),
        kind="step_change" if is_step else "drift",
        metric=metric,
        direction=direction,
        onset=day_str(panel.dates[onset]),
        detected=day_str(panel.dates[d]),
        magnitude=float(magnitude),
        evidence=evidence,
    )
    return alert, onset
