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
