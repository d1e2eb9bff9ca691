"""Scoring of activity-change events against ground truth, defined once for the detector fit and for
``harflow loadtest``.

A truth change is a time where the per-sample class (in the model's label order, unknown samples skipped)
changes; a reported event matches a truth change within ±``TOLERANCE_S``, one-to-one; changes and events
within one window length of either end of the scored stretch are not counted (a detector cannot see a change
there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harflow.data.labels import LabelMap
from harflow.patterns.online import ChangeDetector, DetectorParams, TransitionModel
from harflow.patterns.transitions import model_classes

TOLERANCE_S = 2.0
_EPS = 1e-9  # times are float sums of hops; a change exactly TOLERANCE_S away must not miss by rounding


def sample_classes(raw: np.ndarray, label_map: LabelMap, model_labels: list[str]) -> np.ndarray:
    """Class of every sample in the model's label order; -1 where unlabeled or outside the label set."""
    return model_classes(raw, label_map, model_labels, int(raw.max(initial=0)))


def change_times(cls: np.ndarray, rate_hz: float) -> np.ndarray:
    """Times (s from the first sample) of the samples whose class differs from the previous known sample's."""
    known = np.flatnonzero(cls >= 0)
    if len(known) < 2:
        return np.zeros(0)
    return known[1:][cls[known[1:]] != cls[known[:-1]]] / rate_hz


def scored(times: np.ndarray, margin_s: float, horizon_s: float) -> np.ndarray:
    """Mask of the times that are scored: more than ``margin_s`` inside (0, horizon_s)."""
    times = np.asarray(times, np.float64)
    return (times > margin_s) & (times < horizon_s - margin_s)


def match_changes(
    truth_t: np.ndarray, pred_t: np.ndarray, tolerance_s: float = TOLERANCE_S
) -> list[tuple[int, int]]:
    """One-to-one matches (pred index, truth index) with |pred - truth| <= tolerance_s. Events are taken in
    time order, each matching the earliest unmatched truth change in reach: for equal-width intervals this
    greedy gives the largest possible number of matches."""
    truth_t = np.asarray(truth_t, np.float64)
    pred_t = np.asarray(pred_t, np.float64)
    used = np.zeros(len(truth_t), bool)
    out = []
    for i in np.argsort(pred_t, kind="stable"):
        j = np.flatnonzero((np.abs(truth_t - pred_t[i]) <= tolerance_s + _EPS) & ~used)
        if len(j):
            j0 = int(j[np.argmin(truth_t[j])])
            used[j0] = True
            out.append((int(i), j0))
    return out


@dataclass
class ChangeScore:
    true_changes: int
    predicted_changes: int
    matched: int
    precision: float | None
    recall: float | None
    f1: float | None
    median_delay_s: float | None  # matched event time - truth time
    median_decision_delay_s: float | None  # end of the window that completed the event - truth time

    @classmethod
    def from_counts(
        cls, n_true: int, n_pred: int, delays: list[float], decisions: list[float]
    ) -> ChangeScore:
        tp = len(delays)
        p = tp / n_pred if n_pred else None
        r = tp / n_true if n_true else None
        return cls(
            n_true,
            n_pred,
            tp,
            p,
            r,
            2 * p * r / (p + r) if p and r else 0.0 if n_pred and n_true else None,
            float(np.median(delays)) if delays else None,
            float(np.median(decisions)) if decisions else None,
        )


@dataclass
class Sequence:
    """One recording, predicted offline exactly as the service windows it."""

    name: str
    probs: np.ndarray  # (W, K) window probabilities
    t_start: np.ndarray  # (W,) window start, s
    truth: np.ndarray  # truth change times, s
    window_s: float
    horizon_s: float  # end of the last window


def detect(seq: Sequence, tm: TransitionModel, params: DetectorParams) -> tuple[np.ndarray, np.ndarray]:
    """A fresh detector over the sequence: (event times, decision times) of the events the loadtest scores
    (changes from a known activity; the first report of a stream is not a change)."""
    det = ChangeDetector(tm, params=params)
    times, decided = [], []
    for i in range(len(seq.probs)):
        for c in det.update(seq.probs[i], float(seq.t_start[i]))[1]:
            if c.from_activity is not None:
                times.append(c.t)
                decided.append(seq.t_start[i] + seq.window_s)
    return np.asarray(times, np.float64), np.asarray(decided, np.float64)


def score(
    seqs: list[Sequence], events: list[tuple[np.ndarray, np.ndarray]], shift: float = 0.0
) -> ChangeScore:
    n_true = n_pred = 0
    delays: list[float] = []
    decisions: list[float] = []
    for seq, (times, decided) in zip(seqs, events, strict=True):
        times = times + shift
        truth = seq.truth[scored(seq.truth, seq.window_s, seq.horizon_s)]
        keep = scored(times, seq.window_s, seq.horizon_s)
        times, decided = times[keep], decided[keep]
        n_true += len(truth)
        n_pred += len(times)
        for i, j in match_changes(truth, times):
            delays.append(float(times[i] - truth[j]))
            decisions.append(float(decided[i] - truth[j]))
    return ChangeScore.from_counts(n_true, n_pred, delays, decisions)


def evaluate(seqs: list[Sequence], tm: TransitionModel, params: DetectorParams | None = None) -> ChangeScore:
    return score(seqs, [detect(s, tm, params or tm.params) for s in seqs])
