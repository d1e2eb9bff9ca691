"""Fitting the change detector, and the file a served model's change detection reads.

:func:`build` makes ``transitions.json``: transition statistics from the model's training split and detector
parameters fitted on its validation split. Training (rank 0, after the best model is saved) and
``harflow export`` call it; the service only reads the result. The fit predicts every validation recording
once, then reruns only the detector over a small grid and keeps the parameters with the best change-F1
(:mod:`harflow.patterns.scoring`). It must use the validation split: the test split is what
``harflow loadtest`` replays. Evaluate (and with ``--refit`` refit) a run's stored parameters with::

    python -m harflow.patterns.fit RUN_DIR [--split val] [--refit [--max-delay S]] [--dry-run]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harflow.data.sources import load_recordings
from harflow.data.splits import assign_splits
from harflow.data.windows import slice_windows, window_starts
from harflow.patterns.online import DetectorParams, TransitionModel
from harflow.patterns.scoring import (
    ChangeScore,
    Sequence,
    change_times,
    detect,
    evaluate,
    sample_classes,
    score,
)
from harflow.patterns.transitions import learn_transitions, save, window_labels

if TYPE_CHECKING:
    from harflow.data.recordings import RecordingSet
    from harflow.models.predictor import Predictor

log = logging.getLogger(__name__)

# the grid: 10 x 6 x 4 detector runs (the offset only shifts reported times, so it costs no rerun)
GRID = {
    "min_dwell": list(range(1, 11)),
    "temperature": [0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
    "min_prob": [0.0, 0.5, 0.7, 0.9],
    "offset_frac": [0.0, 0.25, 0.5, 0.75, 1.0],  # where in the window the change is placed (0 = start)
}


def split_recordings(
    pred: Predictor, recordings: RecordingSet | None = None
) -> tuple[RecordingSet, dict[int, str]]:
    """The model's own recording set (same data, rate and label set as training) and its split of them:
    (RecordingSet, {recording index: split name}). ``recordings``: that set, already loaded."""
    if recordings is None:
        tc = pred.checkpoint.get("train_config", {})
        data = tc.get("data", "hapt")
        recordings = load_recordings(
            data,
            classes=len(pred.labels) if data == "hapt" else None,
            subjects=tc.get("subjects"),
            rate_hz=pred.spec.rate_hz,
        )
    return recordings, assign_splits(recordings)


def transitions_from_training(pred: Predictor, recordings: RecordingSet | None = None) -> TransitionModel:
    """Window label sequences of the model's own training recordings (same data, spec and label set)."""
    rs, split = split_recordings(pred, recordings)
    seqs = [
        window_labels(r.labels, pred.spec, rs.label_map, pred.labels)
        for i, r in enumerate(rs.recordings)
        if split[i] == "train"
    ]
    return learn_transitions(seqs, len(pred.labels), list(pred.labels))


def load_split(pred: Predictor, split: str, recordings: RecordingSet | None = None) -> list[Sequence]:
    """Every recording of ``split`` in the model's own recording set, its windows predicted once."""
    rs, splits = split_recordings(pred, recordings)
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
            sc = score(seqs, events, frac * window_s)
            late = sc.median_decision_delay_s
            if max_delay_s is not None and (late is None or late > max_delay_s):
                continue
            if best is None or _key(sc) > _key(best[1]):
                best = (replace(params, offset_s=round(frac * window_s, 6)), sc)
    if best is None:
        raise ValueError(f"no configuration of the grid has a median decision delay <= {max_delay_s} s")
    return best[0], best[1], n


def fit_detector(
    pred: Predictor,
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


def build(pred: Predictor, recordings: RecordingSet | None = None, fit: bool = True) -> TransitionModel:
    """Transition statistics from the model's training split and, with ``fit``, detector parameters fitted
    on its validation split (without validation recordings the documented defaults stay, with a warning).
    ``recordings``: the model's recording set, already loaded (training passes its own)."""
    tm = transitions_from_training(pred, recordings)
    if not fit:
        return tm
    try:
        return fit_detector(pred, tm, seqs=load_split(pred, "val", recordings))
    except ValueError as e:
        log.warning("change detector not fitted, using the defaults %s: %s", tm.params, e)
        return tm


def write(run_dir: str | Path, recordings: RecordingSet | None = None, fit: bool = True) -> Path:
    """Build the run's ``transitions.json`` from its checkpoint and write it beside ``model.pt``."""
    from harflow.models.predictor import Predictor

    return save(build(Predictor.load(run_dir), recordings, fit), run_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harflow.patterns.fit", description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--split", default="val", choices=["train", "val", "test"], help="split to evaluate on")
    ap.add_argument(
        "--refit", action="store_true", help="fit on the validation split and save transitions.json"
    )
    ap.add_argument("--max-delay", type=float, help="with --refit: longest median decision delay allowed, s")
    ap.add_argument("--dry-run", action="store_true", help="a 2x2x1x2 grid, and write nothing")
    a = ap.parse_args(argv)
    from harflow.models.predictor import Predictor
    from harflow.patterns.transitions import load, transitions_path

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pred = Predictor.load(a.run_dir)
    if transitions_path(a.run_dir).is_file():
        tm = load(a.run_dir, pred.labels)
    else:  # learned here; the fit below (or the defaults) give its parameters
        tm = transitions_from_training(pred)
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
