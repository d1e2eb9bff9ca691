"""The one table that maps recognized activities onto clinical classes.

Every daily metric, rhythm indicator and transition count reads activities through this table, so a label
means the same thing everywhere.

Model labels (``harflow.data.labels.HAPT_LABELS``):

================== ============ ============== ======= ======= =====
label              daytime      night window   active  posture rise
================== ============ ============== ======= ======= =====
WALKING            active       active         yes     stand
WALKING_UPSTAIRS   active       active         yes     stand
WALKING_DOWNSTAIRS active       active         yes     stand
SITTING            sedentary    sedentary      no      sit
STANDING           upright      upright        no      stand
LAYING             sedentary    lying          no      lie
STAND_TO_SIT       transition   transition     no      -
SIT_TO_STAND       transition   transition     no      -       yes
SIT_TO_LIE         transition   transition     no      -
LIE_TO_SIT         transition   transition     no      -
STAND_TO_LIE       transition   transition     no      -
LIE_TO_STAND       transition   transition     no      -       yes
================== ============ ============== ======= ======= =====

``lying`` means in bed: LAYING only counts as lying inside the night window (``DailyConfig.night_*``,
22:00–07:00 by default); lying on the sofa in the afternoon is sedentary time. A *rise* is a transition that
ends standing (SIT_TO_STAND, LIE_TO_STAND): the sit-to-stand count of the daily summary.

Labels from other classifiers pass through, matched case-insensitively with ``-`` and spaces read as ``_``:
``sleep`` is lying at any hour (a sleep classifier already decided the person is in bed); ``sedentary`` is
sedentary; ``light``, ``mvpa``, ``moderate_vigorous`` and ``active`` are active (light physical activity is
movement, not standing still, in the Oxford/stepcount sense); ``walking`` is active. ``non_wear``,
``nonwear`` and ``not_worn`` are no data: the reader drops them, so they never count as recorded time. Any
other label is kept as a class of its own (its lower-cased name), neither active nor a posture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harflow.data.labels import HAPT_LABELS

LYING, SEDENTARY, UPRIGHT, ACTIVE, TRANSITION = "lying", "sedentary", "upright", "active", "transition"
CLINICAL = (LYING, SEDENTARY, UPRIGHT, ACTIVE, TRANSITION)
LIE, SIT, STAND = "lie", "sit", "stand"
MODEL_LABELS = tuple(HAPT_LABELS.values())
NO_DATA = frozenset({"non_wear", "nonwear", "not_worn"})


@dataclass(frozen=True)
class ActivityClass:
    day: str  # clinical class outside the night window
    night: str  # clinical class inside it
    active: bool  # counts as active time for bouts and the rest-activity rhythm
    posture: str | None = None  # lie/sit/stand, what a derived transition compares; None = unknown
    rise: bool = False  # a transition that ends standing


def _same(cls: str, active: bool, posture: str | None) -> ActivityClass:
    return ActivityClass(cls, cls, active, posture)


_MODEL = {
    "WALKING": _same(ACTIVE, True, STAND),
    "WALKING_UPSTAIRS": _same(ACTIVE, True, STAND),
    "WALKING_DOWNSTAIRS": _same(ACTIVE, True, STAND),
    "SITTING": _same(SEDENTARY, False, SIT),
    "STANDING": _same(UPRIGHT, False, STAND),
    "LAYING": ActivityClass(SEDENTARY, LYING, False, LIE),
}
_MODEL |= {
    name: ActivityClass(TRANSITION, TRANSITION, False, None, rise=name.endswith("_TO_STAND"))
    for name in MODEL_LABELS
    if "_TO_" in name
}
_PASS = {
    "sleep": _same(LYING, False, LIE),
    "sedentary": _same(SEDENTARY, False, SIT),
    "light": _same(ACTIVE, True, STAND),
    "mvpa": _same(ACTIVE, True, STAND),
    "moderate_vigorous": _same(ACTIVE, True, STAND),
    "active": _same(ACTIVE, True, STAND),
    "walking": _same(ACTIVE, True, STAND),
}
TABLE: dict[str, ActivityClass] = _MODEL | _PASS
assert set(_MODEL) == set(MODEL_LABELS), "the table must cover every model label"


def _key(label: str) -> str:
    return label.strip().replace("-", "_").replace(" ", "_")


def is_no_data(label: str) -> bool:
    return _key(label).lower() in NO_DATA


def lookup(label: str) -> ActivityClass:
    """The class of one label; unknown labels become a class of their own, inactive and without posture."""
    key = _key(label)
    if key in _MODEL:
        return _MODEL[key]
    return _PASS.get(key.lower(), _same(key.lower(), False, None))


def class_table(labels: pd.Index | list[str]) -> pd.DataFrame:
    """One row per label (in the given order): day, night, active, posture, rise, transition.

    Vectorized code looks a column up by a categorical's codes, e.g. ``table["active"].to_numpy()[codes]``.
    """
    rows = [lookup(str(label)) for label in labels]
    return pd.DataFrame(
        {
            "day": [r.day for r in rows],
            "night": [r.night for r in rows],
            "active": np.array([r.active for r in rows], dtype=bool),
            "posture": [r.posture for r in rows],
            "rise": np.array([r.rise for r in rows], dtype=bool),
            "transition": np.array([r.day == TRANSITION for r in rows], dtype=bool),
        },
        index=pd.Index([str(label) for label in labels], name="label"),
    )
