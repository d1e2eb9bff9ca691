"""Hand-built timelines whose truth is known, and a writer for small timeline files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from harflow.patterns.timeline import Timeline


def marks(day: str, spec: list[str], *, person: str = "default") -> pd.DataFrame:
    """Segments from ``"HH:MM[:SS] ACTIVITY"`` marks on ``day``: each lasts until the next mark; ``-`` is no
    data and ``END`` closes the last one. Hours past 24 are the next days (``"26:00"`` = 02:00 next day)."""
    times, labels = [], []
    for mark in spec:
        clock, label = mark.split()
        h, m, *s = (int(x) for x in clock.split(":"))
        times.append(pd.Timestamp(day) + pd.Timedelta(hours=h, minutes=m, seconds=s[0] if s else 0))
        labels.append(label)
    assert labels[-1] == "END", "the last mark closes the timeline"
    rows = [
        (person, a.isoformat(), b.isoformat(), label)
        for a, b, label in zip(times[:-1], times[1:], labels[:-1], strict=True)
        if label != "-"
    ]
    return pd.DataFrame(rows, columns=["person", "start", "end", "activity"])


def timeline(day: str, spec: list[str], *, tz: str | None = None, person: str = "default") -> Timeline:
    return Timeline.from_frame(marks(day, spec, person=person), tz=tz)


# A Tuesday (no DST change near it in Europe/London) whose numbers are worked out by hand in test_daily.py:
# 90 min of walking in 3 bouts (20, 30, 40 min), and the night that starts on it with 2 out-of-bed episodes
# between an evening still up and a final morning rise, neither of which is an episode.
KNOWN_DAY = [
    "00:00 LAYING",
    "07:30 STANDING",
    "07:40 WALKING",
    "08:00 SITTING",
    "12:00 WALKING",
    "12:30 SITTING",
    "17:00 WALKING",
    "17:40 STANDING",
    "18:00 SITTING",
    "22:40 STANDING",
    "22:45 LAYING",
    "26:00 STANDING",
    "26:05 LAYING",
    "28:30 STANDING",
    "28:32 WALKING",
    "28:40 LAYING",
    "30:30 STANDING",
    "31:00 END",
]


@pytest.fixture
def known_day() -> Timeline:
    return timeline("2024-03-05", KNOWN_DAY, tz="Europe/London")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write text to a file under tmp_path (sub-folders allowed) and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write
