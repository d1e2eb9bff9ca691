"""Subject-wise (or recording-wise) train/val/test splits. No subject ever lands in two splits."""

from __future__ import annotations

import numpy as np

from harflow.data.recordings import RecordingSet

# The UCI HAR test subjects; the HAPT recordings are the same people.
HAPT_TEST_SUBJECTS = frozenset({"2", "4", "9", "10", "12", "13", "18", "20", "24"})
HAPT_VAL_SUBJECTS = frozenset({"5", "15", "25"})
SPLITS = ("train", "val", "test")


def _fractional(keys: list[str], seed: int = 0) -> dict[str, str]:
    order = np.random.default_rng(seed).permutation(len(keys))
    n = len(keys)
    n_test = max(1, int(np.ceil(0.3 * n)))
    n_val = max(1, round(0.15 * n))
    out = {}
    for rank, i in enumerate(order):
        out[keys[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return out


def assign_splits(rs: RecordingSet) -> dict[int, str]:
    """Recording index → split name."""
    if all(r.split is not None for r in rs.recordings):
        return {i: r.split for i, r in enumerate(rs.recordings)}  # type: ignore[misc]
    if rs.name == "hapt":

        def by_subject(s: str) -> str:
            return "test" if s in HAPT_TEST_SUBJECTS else "val" if s in HAPT_VAL_SUBJECTS else "train"

        return {i: r.split or by_subject(r.subject) for i, r in enumerate(rs.recordings)}
    subjects = rs.subjects
    if len(subjects) >= 3:
        table = _fractional(subjects)
        return {i: r.split or table[r.subject] for i, r in enumerate(rs.recordings)}
    keys = [f"{r.subject}/{r.recording}" for r in rs.recordings]
    if len(keys) < 3:
        raise ValueError(
            f"{rs.name}: {len(keys)} recording(s) of {len(subjects)} subject(s) cannot be split into "
            "train/val/test; add recordings or a 'split' column"
        )
    table = _fractional(keys)
    return {i: r.split or table[k] for i, (r, k) in enumerate(zip(rs.recordings, keys, strict=True))}
