"""Online activity-change detection: an HMM (forward filtering) over window predictions, with transition
statistics learned from the training recordings' label sequences (:mod:`harflow.patterns.transitions`), plus
a dwell-time hysteresis so a change is reported once rather than as flicker. Postural-transition classes
(12-class models) become ``transition`` events instead of activity changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np


@dataclass
class DetectorParams:
    """The change detector's knobs; the defaults are what files written before the fit existed get."""

    min_dwell: int = 4  # windows a new activity must persist before it is reported
    temperature: float = 0.5  # exponent on the window probabilities before HMM smoothing (1 = raw)
    min_prob: float = 0.0  # smoothed probability a window needs to count towards a new activity's dwell
    # added to the reported event time: fitted as a fraction of the window (start, centre, …) and stored in
    # seconds, so the detector needs no window spec
    offset_s: float = 0.0

    @classmethod
    def from_dict(cls, d: dict) -> DetectorParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TransitionModel:
    labels: list[str]
    A: np.ndarray  # (K, K) row-stochastic window-to-window transition matrix
    prior: np.ndarray  # (K,) class frequencies of training windows
    params: DetectorParams = field(default_factory=DetectorParams)
    fit: dict | None = None  # how params were chosen (split, grid size, F1 before/after); None = defaults

    def to_dict(self) -> dict:
        d = {"labels": self.labels, "A": self.A.tolist(), "prior": self.prior.tolist()}
        d["detector"] = asdict(self.params)
        if self.fit is not None:
            d["fit"] = self.fit
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TransitionModel:
        return cls(
            list(d["labels"]),
            np.asarray(d["A"], np.float64),
            np.asarray(d["prior"], np.float64),
            DetectorParams.from_dict(d.get("detector") or {}),
            d.get("fit"),
        )


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

    def __init__(
        self,
        tm: TransitionModel,
        min_dwell: int | None = None,
        temperature: float | None = None,
        params: DetectorParams | None = None,
    ) -> None:
        """Parameters come from ``params`` (default: the fitted ``tm.params``); an explicit ``min_dwell`` /
        ``temperature`` (the service's settings when set) overrides them."""
        self.tm = tm
        self.labels = tm.labels
        self.transition = {i for i, n in enumerate(self.labels) if "_TO_" in n}
        base = params or tm.params
        self.min_dwell = base.min_dwell if min_dwell is None else min_dwell
        # the network's probabilities are over-confident; tempering them (p**T) lets the HMM's transition
        # prior actually smooth instead of following every flicker
        self.temperature = base.temperature if temperature is None else temperature
        self.min_prob = base.min_prob
        self.offset_s = base.offset_s
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
        t_event = t_start + self.offset_s
        if state in self.transition:
            if state != self.last_transition:
                events.append(Change("transition", t_event, cur_name, self.labels[state], p))
            self.last_transition = state
            self.candidate, self.cand_count = None, 0
            return self.labels[state], events
        self.last_transition = None
        if self.current is None:
            self.current = state
            events.append(Change("activity_changed", t_event, None, self.labels[state], p))
        elif state == self.current or p < self.min_prob:
            # an unconvincing window breaks a candidate's run like a window of the current activity
            self.candidate, self.cand_count = None, 0
        else:
            if state != self.candidate:
                self.candidate, self.cand_count, self.cand_t = state, 0, t_event
            self.cand_count += 1
            if self.cand_count >= self.min_dwell:
                events.append(Change("activity_changed", self.cand_t, cur_name, self.labels[state], p))
                self.current, self.candidate, self.cand_count = state, None, 0
        return self.labels[self.current], events
