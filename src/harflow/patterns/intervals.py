"""Operations on one person's segments (sorted arrays ``start, end, activity``): merging, splitting at
instants, cutting out no-data intervals, folding transitions away for 6-class timelines."""

from __future__ import annotations

import numpy as np

from harflow.patterns.fine_structure import (
    LAYING,
    LIE,
    POST_POSTURE,
    SIT,
    SITTING,
    STAND,
    STANDING,
    TRANSITIONS,
)


def merge_runs(start: np.ndarray, end: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, ...]:
    """Merge touching segments of equal activity."""
    if len(start) < 2:
        return start, end, act
    join = (act[1:] == act[:-1]) & (start[1:] == end[:-1])
    head = np.concatenate([[True], ~join])
    tail = np.concatenate([~join, [True]])
    return start[head], end[tail], act[head]


def cut(
    start: np.ndarray, end: np.ndarray, act: np.ndarray, cut_start: np.ndarray, cut_end: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Remove the time of the (sorted, disjoint) cut intervals from the segments: no data there."""
    live = cut_end > cut_start
    cs, ce = cut_start[live], cut_end[live]
    if not len(cs):
        return start, end, act
    bounds = np.concatenate([cs, ce])
    bounds.sort()
    ps, pe, owner = split(start, end, bounds)
    k = np.searchsorted(cs, ps, "right") - 1
    removed = (k >= 0) & (ps < ce[np.maximum(k, 0)])
    keep = ~removed & (pe > ps)
    return ps[keep], pe[keep], act[owner][keep]


def split(start: np.ndarray, end: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Segments split at every (sorted) bound strictly inside them: (start, end, index of the segment)."""
    if not len(bounds):
        return start, end, np.arange(len(start))
    lo = np.searchsorted(bounds, start, "right")
    inside = np.searchsorted(bounds, end, "left") - lo
    owner = np.repeat(np.arange(len(start)), inside + 1)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(inside + 1) - (inside + 1), inside + 1)
    top = len(bounds) - 1
    ps = np.where(within == 0, start[owner], bounds[np.minimum(lo[owner] + within - 1, top)])
    pe = np.where(within == inside[owner], end[owner], bounds[np.minimum(lo[owner] + within, top)])
    return ps, pe, owner


def six_class(start: np.ndarray, end: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, ...]:
    """A 6-class timeline: each transition becomes the posture it ends in."""
    to = np.arange(12)
    for t in TRANSITIONS:
        to[t] = {STAND: STANDING, SIT: SITTING, LIE: LAYING}[POST_POSTURE[t]]
    return merge_runs(start, end, to[act].astype(np.int8))
