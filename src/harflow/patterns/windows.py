"""Per-window predictions as an activity timeline: the one rule the service's patterns job and the benches
use to turn a device's answered windows into segments.

Windows overlap (a 2.56-s window every 1.28 s), so each window stands for the time from its start until the
next window starts, at most its own end: the windows become labelled epochs of hop length, and a gap
between windows stays a gap (no data). Runs of one label are merged.

Which per-window label is given decides what the daily metrics measure. The service stores two: the model's
top class and the stream's *smoothed* activity (:class:`harflow.patterns.online.ChangeDetector`). The
smoothed one switches only after several confident windows, so through ambiguous stretches it holds the last
confident activity: right for change events, wrong for time accounting (end to end it stored sitting as
walking and put daily walking minutes 2-17x too high). Daily metrics are computed from the top class
(``docs/patterns.md``, "What the daily metrics are computed from").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# the per-window label the daily metrics are computed from (the service's ``predictions.activity`` column)
DAILY_LABEL = "activity"


def window_segments(person: str, t_start: np.ndarray, t_end: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Segments (``person, start, end, activity``; times as given, e.g. Unix seconds) of the windows
    ``[t_start, t_end)`` with one label each: every window lasts until the next one starts (at most its own
    end), runs of one label without a gap are merged. Empty input gives an empty frame."""
    t_start = np.asarray(t_start, dtype=np.float64)
    t_end = np.asarray(t_end, dtype=np.float64)
    labels = np.asarray(labels, dtype=object)
    if not (len(t_start) == len(t_end) == len(labels)):
        raise ValueError(
            f"window_segments: t_start, t_end and labels differ in length "
            f"({len(t_start)}, {len(t_end)}, {len(labels)})"
        )
    if len(t_start) == 0:
        return pd.DataFrame({"person": [], "start": [], "end": [], "activity": []})
    order = np.lexsort((t_end, t_start))
    t, end, lab = t_start[order], t_end[order].copy(), labels[order]
    # a window stored twice (same start) counts once: the first of them
    keep = np.concatenate([[True], t[1:] > t[:-1]])
    t, end, lab = t[keep], end[keep], lab[keep]
    end[:-1] = np.minimum(end[:-1], t[1:])
    breaks = np.flatnonzero((lab[1:] != lab[:-1]) | (t[1:] > end[:-1]))
    first = np.concatenate([[0], breaks + 1])
    last = np.concatenate([breaks, [len(t) - 1]])
    return pd.DataFrame(
        {"person": person, "start": t[first], "end": end[last], "activity": lab[first].astype(str)}
    )
