"""Transition statistics of a model's activities, learned from label sequences, and their file beside the
checkpoint (``transitions.json``; its name and atomic write belong to :mod:`harflow.models.checkpoint`).
Training and ``harflow export`` write the file (:mod:`harflow.patterns.fit` has the training data side); the
service only reads it, so nothing here loads data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harflow.data.labels import LabelMap
from harflow.data.windows import WindowSpec, majority_labels, window_starts
from harflow.models import checkpoint
from harflow.patterns.online import TransitionModel


class TransitionsError(ValueError):
    """A run dir's ``transitions.json`` is missing or does not belong to its model."""


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


def window_labels(
    raw: np.ndarray, spec: WindowSpec, label_map: LabelMap, model_labels: list[str]
) -> np.ndarray:
    """Class index (in the model's label order) of every window of a recording; -1 where unknown."""
    starts = window_starts(len(raw), spec)
    maj = majority_labels(raw, starts, spec.length)
    return model_classes(maj, label_map, model_labels, int(raw.max(initial=0)))


def model_classes(ids: np.ndarray, label_map: LabelMap, model_labels: list[str], max_id: int) -> np.ndarray:
    """Raw label ids (-1 = unlabeled; ``max_id`` the largest in the recording) as class indices in the
    model's label order; -1 where unlabeled or outside the model's label set."""
    table = label_map.lookup(max_id)
    to_model = np.array([model_labels.index(n) if n in model_labels else -1 for n in label_map.names] + [-1])
    return to_model[table[ids + 1]]


def transitions_path(run_dir: str | Path) -> Path:
    return checkpoint.run_file(run_dir, checkpoint.TRANSITIONS_FILE)


def save(tm: TransitionModel, run_dir: str | Path) -> Path:
    path = transitions_path(run_dir)
    checkpoint.write_json(tm.to_dict(), path)
    return path


def load(run_dir: str | Path, labels: list[str]) -> TransitionModel:
    """The run's transition statistics; :class:`TransitionsError` if the file is missing or was made for
    another label set. Never learns them (that needs the training data, which a server does not have)."""
    path = transitions_path(run_dir)
    if not path.is_file():
        raise TransitionsError(
            f"{path} is missing: training writes it next to model.pt; for a run trained without it, "
            f"create it with `harflow export {run_dir}`"
        )
    try:
        tm = TransitionModel.from_dict(checkpoint.read_json(path))
    except (KeyError, TypeError, ValueError) as e:
        raise TransitionsError(f"{path}: not a transitions file ({e})") from e
    if tm.labels != list(labels):
        raise TransitionsError(
            f"{path} is for labels {tm.labels}, the model predicts {list(labels)}; "
            f"recreate it with `harflow export {run_dir} --refit`"
        )
    return tm
