"""Classification metrics over a whole split."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    labels = list(range(len(names)))
    if len(y_true) == 0:
        return {
            "n": 0,
            "accuracy": float("nan"),
            "macro_f1": float("nan"),
            "per_class": {},
            "confusion_matrix": [[0] * len(names) for _ in names],
        }
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = s > 0  # macro-F1 over classes that occur in this split
    return {
        "n": len(y_true),
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(f[present].mean()) if present.any() else float("nan"),
        "per_class": {
            n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, n in enumerate(names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def subject_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """95 % percentile-bootstrap intervals of accuracy and macro-F1 that resample whole subjects.

    Windows of one subject are correlated (same body, same phone placement), so resampling windows would
    give intervals far too narrow for "how would this do on new people"; the subject is the unit."""
    from scipy.stats import bootstrap
    from sklearn.metrics import f1_score

    subjects = np.unique(groups)
    rows = [np.flatnonzero(groups == s) for s in subjects]
    labels = np.unique(y_true)
    out: dict[str, Any] = {
        "unit": "subject",
        "subjects": len(subjects),
        "by_subject": {
            str(s): float((y_true[r] == y_pred[r]).mean()) for s, r in zip(subjects, rows, strict=True)
        },
    }
    if len(subjects) < 2:
        return out

    def pooled(pick: np.ndarray) -> np.ndarray:
        return np.concatenate([rows[int(k)] for k in pick])

    def accuracy(pick: np.ndarray) -> float:
        ii = pooled(pick)
        return float((y_true[ii] == y_pred[ii]).mean())

    def macro_f1(pick: np.ndarray) -> float:
        ii = pooled(pick)
        return float(f1_score(y_true[ii], y_pred[ii], labels=labels, average="macro", zero_division=0))

    for name, stat in (("accuracy", accuracy), ("macro_f1", macro_f1)):
        res = bootstrap(
            (np.arange(len(subjects)),),
            stat,
            vectorized=False,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        out[name] = [float(res.confidence_interval.low), float(res.confidence_interval.high)]
    return out
