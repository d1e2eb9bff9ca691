"""Activity-change detection: an online HMM (forward filtering) over window predictions, with transition
statistics learned from the training recordings' label sequences, plus a dwell-time hysteresis so a change is
reported once rather than as flicker. Postural-transition classes (12-class models) become ``transition``
events instead of activity changes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harflow.data.labels import LabelMap
from harflow.data.windows import WindowSpec, majority_labels, window_starts

log = logging.getLogger(__name__)
FILE = "transitions.json"


@dataclass
class TransitionModel:
    labels: list[str]
    A: np.ndarray  # (K, K) row-stochastic window-to-window transition matrix
    prior: np.ndarray  # (K,) class frequencies of training windows

    def to_dict(self) -> dict:
        return {"labels": self.labels, "A": self.A.tolist(), "prior": self.prior.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> TransitionModel:
        return cls(list(d["labels"]), np.asarray(d["A"], np.float64), np.asarray(d["prior"], np.float64))


def learn_transitions(label_seqs: list[np.ndarray], k: int, labels: list[str]) -> TransitionModel:
    """Count class→class steps between consecutive labeled windows (unknown windows are skipped, so
    SITTING → [transition] → STANDING still counts for a 6-class model); add-one smoothing."""
    counts = np.ones((k, k))
    freq = np.ones(k)
    for seq in label_seqs:
        seq = seq[seq >= 0]
        np.add.at(counts, (seq[:-1], seq[1:]), 1)
        np.add.at(freq, seq, 1)
    return TransitionModel(labels, counts / counts.sum(axis=1, keepdims=True), freq / freq.sum())


def transitions_from_training(pred) -> TransitionModel:  # pred: harflow.models.predictor.Predictor
    """Window label sequences of the model's own training recordings (same data, spec and label set)."""
    from harflow.data.sources import load_recordings
    from harflow.data.splits import assign_splits

    tc = pred.checkpoint.get("train_config", {})
    data = tc.get("data", "hapt")
    rs = load_recordings(
        data,
        classes=len(pred.labels) if data == "hapt" else None,
        subjects=tc.get("subjects"),
        rate_hz=pred.spec.rate_hz,
    )
    split = assign_splits(rs)
    seqs = [
        window_labels(r.labels, pred.spec, rs.label_map, pred.labels)
        for i, r in enumerate(rs.recordings)
        if split[i] == "train"
    ]
    return learn_transitions(seqs, len(pred.labels), list(pred.labels))


def window_labels(
    raw: np.ndarray, spec: WindowSpec, label_map: LabelMap, model_labels: list[str]
) -> np.ndarray:
    """Class index (in the model's label order) of every window of a recording; -1 where unknown."""
    starts = window_starts(len(raw), spec)
    maj = majority_labels(raw, starts, spec.length)
    table = label_map.lookup(int(raw.max(initial=0)))
    to_model = np.array([model_labels.index(n) if n in model_labels else -1 for n in label_map.names] + [-1])
    return to_model[table[maj + 1]]


def load_or_learn(pred, run_dir: str | Path) -> TransitionModel:
    path = Path(run_dir) / FILE if Path(run_dir).is_dir() else Path(run_dir).parent / FILE
    if path.is_file():
        tm = TransitionModel.from_dict(json.loads(path.read_text()))
        if tm.labels == list(pred.labels):
            return tm
    tm = transitions_from_training(pred)
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(tm.to_dict()))
        tmp.replace(path)
    except OSError as e:  # a read-only run dir still serves; the statistics are recomputed next start
        log.warning("could not cache transition statistics at %s: %s", path, e)
    return tm


@dataclass
class Change:
    type: str  # "activity_changed" | "transition"
    t: float
    from_activity: str | None
    to_activity: str
    probability: float


class ChangeDetector:
    """One per device stream. ``update`` takes a window's class probabilities and returns the smoothed
    activity for that window plus any event it completes."""

    def __init__(self, tm: TransitionModel, min_dwell: int = 4, temperature: float = 0.5) -> None:
        self.tm = tm
        self.labels = tm.labels
        self.transition = {i for i, n in enumerate(self.labels) if "_TO_" in n}
        self.min_dwell = min_dwell
        # the network's probabilities are over-confident; tempering them (p**T) lets the HMM's transition
        # prior actually smooth instead of following every flicker
        self.temperature = temperature
        self.belief = tm.prior.copy()
        self.current: int | None = None  # reported stable activity
        self.candidate: int | None = None
        self.cand_count = 0
        self.cand_t = 0.0
        self.last_transition: int | None = None

    def update(self, probs: np.ndarray, t_start: float) -> tuple[str, list[Change]]:
        p = np.asarray(probs, np.float64) ** self.temperature
        lik = p / p.sum() / self.tm.prior
        b = (self.belief @ self.tm.A) * lik
        s = b.sum()
        self.belief = b / s if s > 0 and np.isfinite(s) else self.tm.prior.copy()
        state = int(self.belief.argmax())
        p = float(self.belief[state])
        events: list[Change] = []
        cur_name = self.labels[self.current] if self.current is not None else None
        if state in self.transition:
            if state != self.last_transition:
                events.append(Change("transition", t_start, cur_name, self.labels[state], p))
            self.last_transition = state
            self.candidate, self.cand_count = None, 0
            return self.labels[state], events
        self.last_transition = None
        if self.current is None:
            self.current = state
            events.append(Change("activity_changed", t_start, None, self.labels[state], p))
        elif state == self.current:
            self.candidate, self.cand_count = None, 0
        else:
            if state != self.candidate:
                self.candidate, self.cand_count, self.cand_t = state, 0, t_start
            self.cand_count += 1
            if self.cand_count >= self.min_dwell:
                events.append(Change("activity_changed", self.cand_t, cur_name, self.labels[state], p))
                self.current, self.candidate, self.cand_count = state, None, 0
        return self.labels[self.current], events
