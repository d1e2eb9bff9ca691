"""From a person's daily budgets (:mod:`harflow.patterns.routines`) to contiguous activity segments.

A day runs from one wake-up to the next and is built from fixed templates, vectorized over all days:

* wake: LIE_TO_SIT, a moment on the edge of the bed, SIT_TO_STAND (or straight up: LIE_TO_STAND);
* the waking day alternates upright episodes and sedentary bouts. A sedentary bout is STAND_TO_SIT,
  SITTING, SIT_TO_STAND (a nap bout lies down in between). An upright episode is standing periods with
  the walking bouts between them; every standing period is at least a real HAPT pause;
* bedtime: STAND_TO_LIE, or sitting on the bed a while first;
* the night: LAYING, broken by toilet visits (up, a short walk, a few minutes standing, back) and, with
  the night-wandering change, longer episodes of standing and walking about.

Every transition, stair flight and pause length is a real one of the person's HAPT body subject
(:mod:`harflow.patterns.fine_structure`); the rest is drawn from the routine. Pieces carry a sort key
(day, section, position, order) so each template is generated for all days at once and sorted once.
Times are whole seconds (UTC epoch); every day ends exactly at the next wake-up, which absorbs rounding.
"""

from __future__ import annotations

import numpy as np

from harflow.patterns.fine_structure import (
    DOWNSTAIRS,
    LAYING,
    LIE_TO_SIT,
    LIE_TO_STAND,
    SIT_TO_LIE,
    SIT_TO_STAND,
    SITTING,
    STAND_TO_LIE,
    STAND_TO_SIT,
    STANDING,
    TRANSITIONS,
    UPSTAIRS,
    WALKING,
    Pieces,
)
from harflow.patterns.intervals import merge_runs
from harflow.patterns.routines import HOUR, MIN, Calendar, DayPlan, RoutineConfig, Routines

WAKE, BODY, BEDTIME, NIGHT = range(4)
NIGHT_MARGIN_S = 20 * MIN  # no night episode closer than this to bedtime or wake-up


class _Pieces:
    """Template rows collected with their sort keys, ordered once at the end."""

    def __init__(self) -> None:
        self.cols: list[tuple[np.ndarray, ...]] = []

    def add(self, day: np.ndarray, section: int, pos: np.ndarray, acts, durs: np.ndarray) -> None:
        """``durs`` (rows, K); ``acts`` (K,) or (rows, K); ``day``/``pos`` per row. Zero = no piece."""
        rows, k = durs.shape
        acts = np.broadcast_to(np.asarray(acts), (rows, k))
        self.cols.append(
            (
                np.repeat(day, k),
                np.full(rows * k, section),
                np.repeat(pos, k).astype(float),
                np.tile(np.arange(k, dtype=float), rows),
                acts.ravel(),
                durs.ravel(),
            )
        )

    def add_keyed(self, day, section: int, pos, sub, act, dur) -> None:
        self.cols.append(tuple(np.asarray(c) for c in (day, np.full(len(dur), section), pos, sub, act, dur)))

    def ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        day, sec, pos, sub, act, dur = (np.concatenate(c) for c in zip(*self.cols, strict=True))
        keep = dur > 0
        day, sec, pos, sub, act, dur = (c[keep] for c in (day, sec, pos, sub, act, dur))
        # one int64 key sorts faster than a four-key lexsort; orders within a position step by 1/4
        assert pos.max(initial=0) < 1 << 16 and sub.max(initial=0) < 1 << 14, "sort key overflow"
        key = (
            ((day.astype(np.int64) * 4 + sec) << 32)
            | (pos.astype(np.int64) << 16)
            | np.rint(sub * 4).astype(np.int64)
        )
        order = np.argsort(key, kind="stable")
        return day[order], act[order].astype(np.int8), dur[order]


def _draw(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(pool, n) if n else np.zeros(0)


def _ranks(groups: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal (sorted) group ids."""
    if not len(groups):
        return groups
    first = np.concatenate([[True], groups[1:] != groups[:-1]])
    starts = np.flatnonzero(first)
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.append(starts, len(groups))))


def _per_day(values: np.ndarray, day: np.ndarray, days: int) -> np.ndarray:
    return np.bincount(day, values, days)


def _truncated_pareto(rng: np.random.Generator, n: int, alpha: float, lo: float, hi: float) -> np.ndarray:
    u = rng.random(n)
    return lo * (1 - u * (1 - (lo / hi) ** alpha)) ** (-1 / alpha)


def person_segments(
    rng: np.random.Generator,
    plan: DayPlan,
    r: Routines,
    i: int,
    cal: Calendar,
    pieces: Pieces,
    body: str,
    cfg: RoutineConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, activity code) of person ``i`` from local midnight of day 0 to that of the last day,
    contiguous, before wear and emergencies are applied."""
    days = cal.days
    dix = np.arange(days)
    pool = {c: pieces.of(body, c) for c in (*TRANSITIONS, UPSTAIRS, DOWNSTAIRS)}
    pauses = pieces.pauses[body] if len(pieces.pauses[body]) else np.concatenate(list(pieces.pauses.values()))
    acc = _Pieces()

    # wake-up
    straight = rng.random(days) < r.lie_to_stand[i]
    wake = np.zeros((days, 4))
    wake[:, 0] = np.where(straight, 0, _draw(rng, pool[LIE_TO_SIT], days))
    wake[:, 1] = np.where(straight, 0, rng.uniform(5, 90, days))
    wake[:, 2] = np.where(straight, 0, _draw(rng, pool[SIT_TO_STAND], days))
    wake[:, 3] = np.where(straight, _draw(rng, pool[LIE_TO_STAND], days), 0)
    acc.add(dix, WAKE, dix, [LIE_TO_SIT, SITTING, SIT_TO_STAND, LIE_TO_STAND], wake)

    # bedtime
    direct = rng.random(days) < 0.4
    bed = np.zeros((days, 4))
    bed[:, 0] = np.where(direct, _draw(rng, pool[STAND_TO_LIE], days), 0)
    bed[:, 1] = np.where(direct, 0, _draw(rng, pool[STAND_TO_SIT], days))
    bed[:, 2] = np.where(direct, 0, rng.uniform(1, 15, days) * MIN)
    bed[:, 3] = np.where(direct, 0, _draw(rng, pool[SIT_TO_LIE], days))
    acc.add(dix, BEDTIME, dix, [STAND_TO_LIE, STAND_TO_SIT, SITTING, SIT_TO_LIE], bed)
    body_s = (plan.bed - plan.wake[:days]) - wake.sum(1) - bed.sum(1)

    # sedentary bouts 1..n, each between upright episodes n-1 and n
    n = plan.sedentary_bouts
    bday = np.repeat(dix, n)
    bidx = _ranks(bday) + 1
    frac = bidx / (n[bday] + 1)  # rough position in the waking day
    at = plan.wake[bday] + frac * (plan.bed - plan.wake[:days])[bday]
    nap_at = np.clip(np.round(n * _clock_fraction(cal, plan, 14)), 1, n)
    napping = (plan.nap_s[bday] > 0) & (bidx == nap_at[bday])
    k = len(bday)
    sed = np.zeros((k, 7))
    sed[:, 0] = _draw(rng, pool[STAND_TO_SIT], k)
    sed[:, 6] = _draw(rng, pool[SIT_TO_STAND], k)
    sed[:, 1] = np.where(napping, rng.uniform(1, 5, k) * MIN, 0)
    sed[:, 2] = np.where(napping, _draw(rng, pool[SIT_TO_LIE], k), 0)
    sed[:, 3] = np.where(napping, plan.nap_s[bday], 0)
    sed[:, 4] = np.where(napping, _draw(rng, pool[LIE_TO_SIT], k), 0)
    sed[:, 5] = np.where(napping, rng.uniform(0.5, 3, k) * MIN, 0)
    # sitting is longer at meals and in front of the evening TV
    evening = at > cal.to_utc(bday, np.full(k, 19 * HOUR))
    meal = np.zeros(k, dtype=bool)
    for hour in (12.5, 18.0):
        meal |= np.abs(at - cal.to_utc(bday, np.full(k, hour * HOUR))) < 20 * MIN
    weight = np.exp(rng.normal(0, cfg.sedentary_bout_sigma, k))
    weight *= np.where(evening, cfg.evening_tv, 1.0) * np.where(meal, cfg.meal, 1.0)
    weight = np.where(napping, 0, weight)
    sit_budget = plan.sedentary_s - _per_day(sed[:, 1:6].sum(1), bday, days)
    share = weight / np.maximum(_per_day(weight, bday, days), 1e-9)[bday]

    # walking bouts: heavy-tailed lengths drawn until the day's walking time is spent
    alpha = r.bout_alpha[i]
    lo, hi = cfg.bout_min_s, cfg.bout_max_s
    mean = alpha * lo / (alpha - 1) * (1 - (lo / hi) ** (alpha - 1)) / (1 - (lo / hi) ** alpha)
    draws = np.ceil(2 * plan.walk_s / mean).astype(np.int64) + 10
    wday = np.repeat(dix, draws)
    x = _truncated_pareto(rng, len(wday), alpha, lo, hi)
    before = np.cumsum(x) - x
    before -= np.repeat(before[np.cumsum(draws) - draws], draws)
    x = np.minimum(x, plan.walk_s[wday] - before)
    keep = x >= 3.0  # the remainder of the budget, if tiny, is dropped rather than a 1-s walk
    wday, x = wday[keep], x[keep]
    m = len(x)
    stairs = (rng.random(m) < r.stairs[i]) & (x >= 20)
    flight = np.where(rng.random(m) < 0.5, UPSTAIRS, DOWNSTAIRS)
    flight_s = np.where(flight == UPSTAIRS, _draw(rng, pool[UPSTAIRS], m), _draw(rng, pool[DOWNSTAIRS], m))
    flight_s = np.where(stairs, np.minimum(flight_s, 0.8 * x), 0)
    first = rng.random(m) * (x - flight_s)
    walks = np.stack([np.where(stairs, first, x), flight_s, np.where(stairs, x - flight_s - first, 0)], 1)
    walk_acts = np.stack([np.full(m, WALKING), flight, np.full(m, WALKING)], 1)

    # upright episodes 0..n of each day; walking bouts fall into them at random
    g_per_day = n + 1
    g_first = np.cumsum(g_per_day) - g_per_day
    gday = np.repeat(dix, g_per_day)
    gep = _ranks(gday)
    ep = np.floor(rng.random(m) * g_per_day[wday]).astype(np.int64)
    gid = g_first[wday] + ep
    order = np.lexsort((rng.random(m), gid))
    gid, wday, ep, walks, walk_acts = gid[order], wday[order], ep[order], walks[order], walk_acts[order]
    wrank = _ranks(gid)
    counts = np.bincount(gid, minlength=len(gday))
    sgid = np.repeat(np.arange(len(gday)), counts + 1)
    srank = _ranks(sgid)
    sday = gday[sgid]
    base = _draw(rng, pauses, len(sgid))

    # standing takes what is left of the waking day; if too little is left, sitting gives some back
    fixed = _per_day(x, wday, days) + _per_day(sed.sum(1), bday, days) + _per_day(base, sday, days)
    left = body_s - fixed - sit_budget
    floor = 0.03 * body_s
    short = np.maximum(floor - left, 0)
    sit_budget = np.maximum(sit_budget - short, 0.3 * np.maximum(sit_budget, 0))
    left = np.maximum(body_s - fixed - sit_budget, 0)
    sed[:, 1] = np.where(napping, sed[:, 1], sit_budget[bday] * share)
    vw = np.exp(rng.normal(0, cfg.standing_sigma, len(sgid)))
    standing = base + left[sday] * vw / _per_day(vw, sday, days)[sday]

    acc.add(
        bday,
        BODY,
        2 * bidx - 1,
        [STAND_TO_SIT, SITTING, SIT_TO_LIE, LAYING, LIE_TO_SIT, SITTING, SIT_TO_STAND],
        sed,
    )
    acc.add_keyed(sday, BODY, 2 * gep[sgid], 2 * srank, np.full(len(sgid), STANDING), standing)
    for col in range(3):
        acc.add_keyed(wday, BODY, 2 * ep, 2 * wrank + 1 + col / 4, walk_acts[:, col], walks[:, col])

    _night(rng, acc, plan, days, pool, pauses)
    pday, act, dur = acc.ordered()
    dur = np.maximum(np.rint(dur), 1).astype(np.int64)
    # the night's last LAYING ends exactly at the next wake-up
    last = np.flatnonzero(np.append(pday[1:] != pday[:-1], True))
    dur[last] += (plan.wake[1:] - plan.wake[:-1]) - _per_day(dur, pday, days).astype(np.int64)
    assert (dur[last] >= 1).all(), "a night ran out of time"

    start = np.concatenate([[cal.midnight[0]], plan.wake[0] + np.cumsum(dur) - dur])
    end = np.concatenate([[plan.wake[0]], plan.wake[0] + np.cumsum(dur)])
    act = np.concatenate([[LAYING], act]).astype(np.int8)
    stop = cal.midnight[days]
    keep = start < stop
    return merge_runs(start[keep], np.minimum(end[keep], stop), act[keep])


def _clock_fraction(cal: Calendar, plan: DayPlan, hour: float) -> np.ndarray:
    """Where a local clock time falls in each waking day, 0 = wake-up, 1 = bedtime."""
    days = cal.days
    t = cal.to_utc(np.arange(days), np.full(days, hour * HOUR))
    return np.clip((t - plan.wake[:days]) / (plan.bed - plan.wake[:days]), 0.1, 0.9)


TOILET = [LIE_TO_SIT, SITTING, SIT_TO_STAND, STANDING, WALKING, STANDING, WALKING, STANDING, STAND_TO_SIT,
          SITTING, SIT_TO_LIE]  # fmt: skip
WANDER = [LIE_TO_SIT, SITTING, SIT_TO_STAND, *([STANDING, WALKING] * 4), STANDING, STAND_TO_SIT, SITTING,
          SIT_TO_LIE]  # fmt: skip


def _night(
    rng: np.random.Generator,
    acc: _Pieces,
    plan: DayPlan,
    days: int,
    pool: dict[int, np.ndarray],
    pauses: np.ndarray,
) -> None:
    """LAYING from bedtime to the next wake-up, broken by toilet visits and night-wandering episodes."""
    v = plan.visits
    vday = np.repeat(np.arange(days), v)
    k = len(vday)
    toilet = np.zeros((k, len(TOILET)))
    # seconds: on the bed edge, walking there, standing in the toilet, walking back, on the bed edge
    for col, lo, hi in ((1, 5, 40), (4, 8, 40), (5, 60, 240), (6, 8, 40), (9, 5, 60)):
        toilet[:, col] = rng.uniform(lo, hi, k)
    for col, t in ((0, LIE_TO_SIT), (2, SIT_TO_STAND), (8, STAND_TO_SIT), (10, SIT_TO_LIE)):
        toilet[:, col] = _draw(rng, pool[t], k)
    toilet[:, 3], toilet[:, 7] = _draw(rng, pauses, k), _draw(rng, pauses, k)

    w = np.array([len(x) for x in plan.wander_s])
    wday = np.repeat(np.arange(days), w)
    upright = np.concatenate(plan.wander_s) if len(wday) else np.zeros(0)
    kw = len(wday)
    wander = np.zeros((kw, len(WANDER)))
    for col, t in ((0, LIE_TO_SIT), (2, SIT_TO_STAND), (12, STAND_TO_SIT), (14, SIT_TO_LIE)):
        wander[:, col] = _draw(rng, pool[t], kw)
    wander[:, 1], wander[:, 13] = rng.uniform(5, 40, kw), rng.uniform(10, 120, kw)
    parts = np.exp(rng.normal(0, 0.6, (kw, 9)))
    walking = np.zeros(9, bool)
    walking[1::2] = True
    share = np.where(walking, 0.35 * parts / parts[:, walking].sum(1, keepdims=True),
                     0.65 * parts / parts[:, ~walking].sum(1, keepdims=True))  # fmt: skip
    wander[:, 3:12] = upright[:, None] * share

    # episodes of a night in random order, LAYING gaps around them
    eday = np.concatenate([vday, wday])
    edur = np.concatenate([toilet.sum(1), wander.sum(1)])
    night = (plan.wake[1:] - plan.bed).astype(float)
    free = night - _per_day(edur, eday, days) - 2 * NIGHT_MARGIN_S
    ok = free[eday] > 0  # a night too short for its episodes keeps none of them
    order = np.lexsort((rng.random(len(eday)), eday))
    rank = np.empty(len(eday), dtype=np.int64)
    rank[order] = _ranks(eday[order])
    pos = 2 * rank + 1
    acc.add(vday[ok[:k]], NIGHT, pos[:k][ok[:k]], TOILET, toilet[ok[:k]])
    acc.add(wday[ok[k:]], NIGHT, pos[k:][ok[k:]], WANDER, wander[ok[k:]])

    e_per_night = np.bincount(eday[ok], minlength=days)
    gday = np.repeat(np.arange(days), e_per_night + 1)
    grank = _ranks(gday)
    x = rng.exponential(1, len(gday))
    gap = np.maximum(free, 0)[gday] * x / _per_day(x, gday, days)[gday] + np.where(
        grank == 0, NIGHT_MARGIN_S, 0
    )
    acc.add_keyed(gday, NIGHT, 2 * grank, np.zeros(len(gday)), np.full(len(gday), LAYING), gap)
