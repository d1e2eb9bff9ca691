"""Offline evaluation of activity-change events, and the fit of the change detector's parameters.

Ground truth and scoring are defined here once and used by both this module and ``harflow loadtest``: a truth
change is a time where the per-sample class (in the model's label order, unknown samples skipped) changes; a
reported event matches a truth change within ±``TOLERANCE_S``, one-to-one; changes and events within one
window length of either end of the scored stretch are not counted (a detector cannot see a change there).

The fit predicts every recording of a split once, then reruns only the detector over a small grid and keeps
the parameters with the best change-F1. It must use the validation split: the test split is what
``harflow loadtest`` replays. It evaluates (and with ``--refit`` refits) the parameters stored in
``RUN_DIR/transitions.json``:

    python -m harflow.serve.change_eval RUN_DIR [--split val] [--refit [--max-delay S]] [--dry-run]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from dataclasses import asdict, dataclass, replace

import numpy as np

from harflow.data.labels import LabelMap
from harflow.data.windows import slice_windows, window_starts
from harflow.serve.changes import ChangeDetector, DetectorParams, TransitionModel, model_classes

log = logging.getLogger(__name__)
TOLERANCE_S = 2.0
_EPS = 1e-9  # times are float sums of hops; a change exactly TOLERANCE_S away must not miss by rounding

# the grid: 10 x 6 x 4 detector runs (the offset only shifts reported times, so it costs no rerun)
GRID = {
    "min_dwell": list(range(1, 11)),
    "temperature": [0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
    "min_prob": [0.0, 0.5, 0.7, 0.9],
    "offset_frac": [0.0, 0.25, 0.5, 0.75, 1.0],  # where in the window the change is placed (0 = start)
}


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


def load_split(pred, split: str) -> list[Sequence]:  # pred: harflow.models.predictor.Predictor
    """Every recording of ``split`` in the model's own recording set, its windows predicted once."""
    from harflow.serve.changes import split_recordings

    rs, splits = split_recordings(pred)
    spec, labels = pred.spec, list(pred.labels)
    L, rate = spec.length, spec.rate_hz
    out = []
    for i, r in enumerate(rs.recordings):
        if splits[i] != split:
            continue
        starts = window_starts(len(r), spec)
        if len(starts) == 0:
            continue
        probs = pred.predict_proba(slice_windows(r.signals, starts, L))
        truth = change_times(sample_classes(r.labels, rs.label_map, labels), rate)
        name = f"{r.subject}/{r.recording}"
        out.append(Sequence(name, probs, starts / rate, truth, L / rate, (starts[-1] + L) / rate))
    if not out:
        raise ValueError(f"no {split!r} recordings to evaluate change detection on")
    return out


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


def _score(
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
    return _score(seqs, [detect(s, tm, params or tm.params) for s in seqs])


def _key(s: ChangeScore) -> tuple:
    # best F1; among equals the earlier decision, then the smaller placement error
    return (
        s.f1 or 0.0,
        -(s.median_decision_delay_s if s.median_decision_delay_s is not None else np.inf),
        -abs(s.median_delay_s) if s.median_delay_s is not None else -np.inf,
    )


def fit(
    seqs: list[Sequence], tm: TransitionModel, grid: dict | None = None, max_delay_s: float | None = None
) -> tuple[DetectorParams, ChangeScore, int]:
    """Grid search maximizing change-F1 over ``seqs``: (best parameters, their score, configurations tried).
    ``max_delay_s`` excludes configurations whose median decision delay is longer (F1 rises with the dwell
    while every window of dwell costs a hop of latency)."""
    g = {**GRID, **(grid or {})}
    window_s = seqs[0].window_s
    best: tuple[DetectorParams, ChangeScore] | None = None
    n = 0
    for dwell, temp, min_prob in itertools.product(g["min_dwell"], g["temperature"], g["min_prob"]):
        params = DetectorParams(int(dwell), float(temp), float(min_prob), 0.0)
        events = [detect(s, tm, params) for s in seqs]
        for frac in g["offset_frac"]:
            n += 1
            score = _score(seqs, events, frac * window_s)
            late = score.median_decision_delay_s
            if max_delay_s is not None and (late is None or late > max_delay_s):
                continue
            if best is None or _key(score) > _key(best[1]):
                best = (replace(params, offset_s=round(frac * window_s, 6)), score)
    if best is None:
        raise ValueError(f"no configuration of the grid has a median decision delay <= {max_delay_s} s")
    return best[0], best[1], n


def fit_detector(
    pred,
    tm: TransitionModel,
    split: str = "val",
    max_delay_s: float | None = None,
    grid: dict | None = None,
    seqs: list[Sequence] | None = None,
) -> TransitionModel:
    """``tm`` with detector parameters fitted on ``split`` of the model's recordings (never "test");
    ``seqs``: that split already predicted by :func:`load_split`, to predict it only once."""
    if split == "test":
        raise ValueError("the detector must not be fitted on the test split")
    seqs = seqs if seqs is not None else load_split(pred, split)
    before = evaluate(seqs, tm, DetectorParams())
    params, after, n = fit(seqs, tm, grid=grid, max_delay_s=max_delay_s)
    info = {
        "split": split,
        "recordings": len(seqs),
        "configurations": n,
        "max_delay_s": max_delay_s,
        "default": asdict(before),
        "fitted": asdict(after),
    }
    log.info("change detector fitted on %s: F1 %s -> %s with %s", split, before.f1, after.f1, params)
    return replace(tm, params=params, fit=info)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harflow.serve.change_eval", description=__doc__.split("\n")[0]
    )
    ap.add_argument("run_dir")
    ap.add_argument("--split", default="val", choices=["train", "val", "test"], help="split to evaluate on")
    ap.add_argument(
        "--refit", action="store_true", help="fit on the validation split and save transitions.json"
    )
    ap.add_argument("--max-delay", type=float, help="with --refit: longest median decision delay allowed, s")
    ap.add_argument("--dry-run", action="store_true", help="a 2x2x1x2 grid, and write nothing")
    a = ap.parse_args(argv)
    from harflow.models.predictor import Predictor
    from harflow.serve.changes import load_or_learn, save, transitions_from_training, transitions_path

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pred = Predictor.load(a.run_dir)
    if a.dry_run and not transitions_path(a.run_dir).is_file():
        tm = transitions_from_training(pred)  # load_or_learn would cache it
    else:
        tm = load_or_learn(pred, a.run_dir, fit=not a.refit)
    seqs = load_split(pred, a.split)
    if a.refit:
        tiny = {"min_dwell": [2, 4], "temperature": [0.5, 1.0], "min_prob": [0.0], "offset_frac": [0.0, 0.5]}
        tm = fit_detector(
            pred,
            tm,
            max_delay_s=a.max_delay,
            grid=tiny if a.dry_run else None,
            seqs=seqs if a.split == "val" else None,
        )
        if not a.dry_run:
            save(tm, a.run_dir)
    res = {
        "split": a.split,
        "recordings": len(seqs),
        "params": asdict(tm.params),
        "default": asdict(evaluate(seqs, tm, DetectorParams())),
        "stored": asdict(evaluate(seqs, tm)),
    }
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
