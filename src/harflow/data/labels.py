"""Label sets: which raw labels a model learns and what they are called."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNLABELED = -1

HAPT_LABELS: dict[int, str] = {
    1: "WALKING",
    2: "WALKING_UPSTAIRS",
    3: "WALKING_DOWNSTAIRS",
    4: "SITTING",
    5: "STANDING",
    6: "LAYING",
    7: "STAND_TO_SIT",
    8: "SIT_TO_STAND",
    9: "SIT_TO_LIE",
    10: "LIE_TO_SIT",
    11: "STAND_TO_LIE",
    12: "LIE_TO_STAND",
}
TRANSITIONS = frozenset(range(7, 13))


@dataclass(frozen=True)
class LabelMap:
    """Maps raw integer labels of a recording set onto contiguous class indices."""

    raw: tuple[int, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.raw) != len(self.names) or not self.raw:
            raise ValueError("LabelMap needs one name per raw label and at least one class")

    @property
    def num_classes(self) -> int:
        return len(self.raw)

    def lookup(self, max_raw: int) -> np.ndarray:
        """Array ``t`` with ``t[raw + 1]`` = class index, or -1 for raw labels outside the set."""
        table = np.full(max(max_raw, max(self.raw)) + 2, -1, dtype=np.int64)
        for idx, r in enumerate(self.raw):
            table[r + 1] = idx
        return table

    def transition_classes(self) -> list[int]:
        return [i for i, n in enumerate(self.names) if "_TO_" in n]


def hapt_label_map(classes: int) -> LabelMap:
    if classes == 6:
        keep = [k for k in HAPT_LABELS if k not in TRANSITIONS]
    elif classes == 12:
        keep = list(HAPT_LABELS)
    else:
        raise ValueError(f"--classes must be 6 or 12 for HAPT, got {classes}")
    return LabelMap(tuple(keep), tuple(HAPT_LABELS[k] for k in keep))
