"""What the cohort simulator takes from real data: the HAPT recordings of the UCI HAR *test* subjects
(``HAPT_TEST_SUBJECTS``: 2, 4, 9, 10, 12, 13, 18, 20, 24; 19 recordings, 1.8 h at 50 Hz).

HAPT is a scripted lab protocol (stand, sit, lie with the six postural transitions between them, then
corridor walking and stairs, each held ~15-25 s), so its minute-scale structure says nothing about daily
life and is not used: routines, bout counts and bout lengths are synthetic (:mod:`.routines`). What is real
and reused, all in whole seconds in the label timelines:

* **transition durations**: the length of every labeled STAND_TO_SIT, SIT_TO_STAND, SIT_TO_LIE, LIE_TO_SIT,
  STAND_TO_LIE and LIE_TO_STAND segment, per subject (18 of each kind, 2 per subject; 1.6-9.9 s);
* **stairs**: the length of every WALKING_UPSTAIRS / WALKING_DOWNSTAIRS segment, one flight (55 up,
  58 down; 4-17 s), spliced into some walking bouts;
* **pauses**: the unlabeled gaps between two consecutive walking/stairs segments, where the subject
  stopped, turned and stood before walking on (131; median 4 s): every standing period is at least one,
  so walking is always entered and left through a few seconds of real-length standing;
* **transition orders**: which posture precedes and follows each transition, read from the label sequences
  (:func:`transition_orders`); the simulator's graph (``X_TO_Y`` goes from X to Y) is checked against it;
* **raw signals** (:mod:`harflow.patterns.sensor_stream`): the 50 Hz accelerometer/gyroscope excerpts of
  each activity, looped or stretched to a simulated segment's length.

Each simulated person is given one test subject as their *body*: their fine-structure durations and their
signals come from that subject, so persons differ as the subjects do. Training subjects are never read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from harflow.data.labels import HAPT_LABELS
from harflow.data.recordings import RecordingSet
from harflow.data.splits import HAPT_TEST_SUBJECTS

# activity codes: index into ACTIVITIES = HAPT raw label id - 1
ACTIVITIES: tuple[str, ...] = tuple(HAPT_LABELS[k] for k in sorted(HAPT_LABELS))
WALKING, UPSTAIRS, DOWNSTAIRS, SITTING, STANDING, LAYING = range(6)
STAND_TO_SIT, SIT_TO_STAND, SIT_TO_LIE, LIE_TO_SIT, STAND_TO_LIE, LIE_TO_STAND = range(6, 12)
TRANSITIONS = tuple(range(6, 12))
WALKS = (WALKING, UPSTAIRS, DOWNSTAIRS)
STAIRS = (UPSTAIRS, DOWNSTAIRS)

# posture of each activity (walking is upright), and the transition between two postures
STAND, SIT, LIE = 0, 1, 2
POSTURE = np.array([STAND, STAND, STAND, SIT, STAND, LIE, -1, -1, -1, -1, -1, -1])
PRE_POSTURE = {STAND_TO_SIT: STAND, SIT_TO_STAND: SIT, SIT_TO_LIE: SIT, LIE_TO_SIT: LIE}
PRE_POSTURE |= {STAND_TO_LIE: STAND, LIE_TO_STAND: LIE}
POST_POSTURE = {STAND_TO_SIT: SIT, SIT_TO_STAND: STAND, SIT_TO_LIE: LIE, LIE_TO_SIT: SIT}
POST_POSTURE |= {STAND_TO_LIE: LIE, LIE_TO_STAND: STAND}
BETWEEN = {(PRE_POSTURE[t], POST_POSTURE[t]): t for t in TRANSITIONS}


@dataclass(frozen=True)
class Pieces:
    """Real sub-minute durations (seconds) per body subject."""

    subjects: tuple[str, ...]
    durations: dict[str, dict[int, np.ndarray]]  # subject → activity code → segment lengths (s)
    pauses: dict[str, np.ndarray]  # subject → standing pauses between walks (s)

    def of(self, subject: str, code: int) -> np.ndarray:
        """A subject's pool for one activity, or every subject's when theirs is empty."""
        own = self.durations[subject].get(code, np.zeros(0))
        if len(own):
            return own
        return np.concatenate([d.get(code, np.zeros(0)) for d in self.durations.values()])


def label_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, raw label) of the constant runs of a per-sample label array."""
    if len(labels) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    return starts, ends, labels[starts]


def extract_pieces(rs: RecordingSet) -> Pieces:
    """Transition and stairs durations and walking pauses of every recording, grouped by subject."""
    walks = {WALKING + 1, UPSTAIRS + 1, DOWNSTAIRS + 1}  # raw ids
    keep = {*(t + 1 for t in TRANSITIONS), UPSTAIRS + 1, DOWNSTAIRS + 1}
    durations: dict[str, dict[int, list[float]]] = {}
    pauses: dict[str, list[float]] = {}
    for rec in rs.recordings:
        starts, ends, raw = label_runs(rec.labels)
        secs = (ends - starts) / rs.rate_hz
        per = durations.setdefault(rec.subject, {})
        for lab, s in zip(raw.tolist(), secs.tolist(), strict=True):
            if lab in keep:
                per.setdefault(lab - 1, []).append(s)
        for i in range(1, len(raw) - 1):
            if raw[i] == -1 and raw[i - 1] in walks and raw[i + 1] in walks:
                pauses.setdefault(rec.subject, []).append(float(secs[i]))
    subjects = tuple(sorted(durations, key=lambda s: (len(s), s)))
    return Pieces(
        subjects,
        {s: {c: np.asarray(v) for c, v in durations[s].items()} for s in subjects},
        {s: np.asarray(pauses.get(s, [])) for s in subjects},
    )


def transition_orders(rs: RecordingSet) -> dict[int, tuple[int, int]]:
    """Per transition code, the most common (activity before, activity after) codes, unlabeled skipped."""
    counts: dict[int, dict[tuple[int, int], int]] = {}
    for rec in rs.recordings:
        _, _, raw = label_runs(rec.labels)
        seq = raw[raw > 0] - 1
        for a, t, b in zip(seq[:-2].tolist(), seq[1:-1].tolist(), seq[2:].tolist(), strict=True):
            if t in TRANSITIONS:
                key = (a, b)
                counts.setdefault(t, {})[key] = counts.setdefault(t, {}).get(key, 0) + 1
    return {t: max(c, key=c.__getitem__) for t, c in counts.items()}


@functools.lru_cache(maxsize=1)
def hapt_test_recordings() -> RecordingSet:
    """The 12-class HAPT recordings of the UCI HAR test subjects (and of no one else)."""
    from harflow.data.sources import load_recordings

    rs = load_recordings("hapt", classes=12, subjects=sorted(HAPT_TEST_SUBJECTS))
    assert {r.subject for r in rs.recordings} <= HAPT_TEST_SUBJECTS, "a training subject leaked in"
    return rs


@functools.lru_cache(maxsize=1)
def hapt_pieces() -> Pieces:
    return extract_pieces(hapt_test_recordings())
