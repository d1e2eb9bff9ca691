"""Per held-out HAPT test subject: how a trained run recognizes each activity on the subject's windows
(offline, no service). The end-to-end patterns run streams these subjects' signals as simulated persons, so
this is what bounds its daily minutes per person (docs/notes/patterns-e2e.md).

    python scripts/subject_recognition.py RUN_DIR [--out results/patterns-e2e/subjects.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from harflow.data.sources import load_recordings
from harflow.data.splits import HAPT_TEST_SUBJECTS
from harflow.data.windows import slice_windows, window_starts
from harflow.models.predictor import Predictor
from harflow.patterns.transitions import window_labels


def subject_recognition(run_dir: str) -> dict:
    p = Predictor.load(run_dir)
    labels, spec = list(p.labels), p.spec
    subjects = sorted(HAPT_TEST_SUBJECTS, key=int)
    rs = load_recordings("hapt", classes=len(labels), subjects=subjects, rate_hz=spec.rate_hz)
    out = {}
    for s in subjects:
        ys, ps = [], []
        for r in (r for r in rs.recordings if r.subject == s):
            y = window_labels(r.labels, spec, rs.label_map, labels)
            X = slice_windows(r.signals, window_starts(len(r.signals), spec), spec.length)
            ys.append(y[y >= 0])
            ps.append(p.predict_proba(X).argmax(axis=1)[y >= 0])
        y, pred = np.concatenate(ys), np.concatenate(ps)
        sit, stand = labels.index("SITTING"), labels.index("STANDING")
        out[s] = {
            "windows": len(y),
            "accuracy": round(float((y == pred).mean()), 4),
            "recall": {
                labels[c]: round(float((pred[y == c] == c).mean()), 4)
                for c in range(len(labels))
                if (y == c).any()
            },
            "sitting_as_standing": round(float((pred[y == sit] == stand).mean()), 4),
        }
    return {"run": run_dir, "subjects": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    res = subject_recognition(a.run_dir)
    text = json.dumps(res, indent=1)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
