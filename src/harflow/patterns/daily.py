"""Daily summaries: one row per person per local calendar day, as pure functions over a ``Timeline``.

Definitions (thresholds in ``DailyConfig``):

* ``day_h`` is the length of the local day (23 or 25 h on DST days), ``recorded_h`` the time with data in
  it; ``valid`` is ``recorded_h >= valid_min_hours`` (16 h by default, the usual wear-time rule; absolute
  hours, so a 23-h DST day needs the same 16 h).
* ``hours.<activity>`` is the recorded hours of each activity label of the timeline;
  ``active_min``/``sedentary_min``/``upright_min``/``lying_min`` the minutes of each clinical class
  (``classes.py``; LAYING is lying inside the night window and sedentary outside it).
* a walking bout is a run of active time in which pauses (any non-active time, or no data) of at most
  ``walk_bout_gap_s`` do not end the bout; its length is first active moment to last, pauses included, and
  only runs of at least ``walk_bout_min_s`` count. A sedentary bout is an unbroken run of sedentary time of
  at least ``sedentary_bout_min_s``. A bout belongs to the day it starts on.
* transitions: a person whose timeline has postural-transition labels (12-class models) is counted from
  them: ``transitions`` is the number of transition segments, ``sit_to_stand`` the ones that end standing.
  Otherwise they are derived: two consecutive segments at most ``transition_gap_s`` apart whose postures
  (lie/sit/stand, ``classes.py``) differ are one transition, a rise (``sit_to_stand``) if the second one
  stands. Labels without a posture never make one. A transition belongs to the day it happens on.
* night metrics describe the night window (``night_start``–``night_end``, 22:00–07:00) that *starts* on the
  row's date: ``night_recorded_h``, ``night_upright_min`` (upright or active minutes) and ``out_of_bed``:
  runs of non-lying time inside the night with lying time both before and after them in the same night
  (getting up and going back to bed; staying up late and the final morning rise are not episodes), holding
  at least ``out_of_bed_min_s`` of upright or active time. Both are NaN for a night without data; a night
  whose date has no row (the recording began after midnight) is not reported.
* ``first_active``/``last_active`` are the local times of the first and last active moment of the day.
* ``wake_time`` is the local time the person got up: the end of the last lying-posture run (LAYING pieces at
  most ``transition_gap_s`` apart) that overlaps the night window ending that morning. A walk to the toilet
  at 03:00 followed by more sleep does not move it (unlike ``first_active``), and a lie-in past the end of
  the night window does. NaT when that night has no lying.

A numeric timeline (``value``) is read as active when ``value > active_threshold``; its class, bout of
sitting, transition and night-posture columns are NaN (counts do not tell posture).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harflow.patterns.classes import ACTIVE, CLINICAL, LIE, LYING, SEDENTARY, SIT, STAND, UPRIGHT, class_table
from harflow.patterns.timeline import Timeline, from_ns, local_instants, ns

HOUR_NS, MIN_NS, S_NS = 3_600_000_000_000, 60_000_000_000, 1_000_000_000
POSTURE_CODES = {LIE: 0, SIT: 1, STAND: 2}
POSTURE_COLUMNS = (
    "sedentary_min",
    "upright_min",
    "lying_min",
    "sedentary_bouts",
    "sedentary_bout_mean_min",
    "sedentary_bout_longest_min",
    "sit_to_stand",
    "transitions",
    "night_upright_min",
    "out_of_bed",
)


@dataclass(frozen=True)
class DailyConfig:
    night_start: dt.time = dt.time(22, 0)
    night_end: dt.time = dt.time(7, 0)  # before night_start: the night runs past midnight
    valid_min_hours: float = 16.0
    walk_bout_min_s: float = 60.0
    walk_bout_gap_s: float = 30.0
    sedentary_bout_min_s: float = 60.0
    transition_gap_s: float = 10.0  # derived transitions: the most no-data allowed between the two postures
    out_of_bed_min_s: float = 60.0
    active_threshold: float = 4.0  # numeric timelines: value > this is active


def daily_metrics(timeline: Timeline, config: DailyConfig | None = None) -> pd.DataFrame:
    """One row per person and local day with recorded time; columns as in the module docstring."""
    cfg = config or DailyConfig()
    seg, tz = timeline.segments, timeline.tz
    if timeline.kind == "value":
        codes = np.where(seg["value"].to_numpy() > cfg.active_threshold, 0, 1).astype(np.int64)
        labels = pd.Index(["active", "inactive"])
    else:
        codes = seg["activity"].cat.codes.to_numpy().astype(np.int64)
        labels = seg["activity"].cat.categories
    if seg.empty:
        return pd.DataFrame(columns=["person", "date", "day_h", "recorded_h", "valid"])
    table = class_table(labels)
    s, e = ns(seg["start"]), ns(seg["end"])
    sp = seg["person"].cat.codes.to_numpy().astype(np.int64)

    # local midnights and night windows from the day before the first to the day after the last
    wall_start, wall_end = _wall(seg["start"]), _wall(seg["end"] - pd.Timedelta(1, "ns"))
    days = pd.date_range(
        wall_start.min().normalize() - pd.Timedelta(days=1), wall_end.max().normalize() + pd.Timedelta(days=2)
    )
    midnight = local_instants(days, tz)
    n_start = local_instants(days + _since_midnight(cfg.night_start), tz)
    end_offset = _since_midnight(cfg.night_end) + pd.Timedelta(days=int(cfg.night_end <= cfg.night_start))
    n_end = local_instants(days + end_offset, tz)
    D = len(days)

    # split segments at every midnight and night boundary, so each piece has one day and one night status
    cuts = np.unique(np.concatenate([midnight, n_start, n_end]))
    lo, hi = np.searchsorted(cuts, s, "right"), np.searchsorted(cuts, e, "left")
    k = hi - lo
    owner = np.repeat(np.arange(len(s)), k + 1)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(k + 1) - (k + 1), k + 1)
    ps = np.where(within == 0, s[owner], cuts[np.minimum(lo[owner] + within - 1, len(cuts) - 1)])
    pe = np.where(within == k[owner], e[owner], cuts[np.minimum(lo[owner] + within, len(cuts) - 1)])
    pp, pa, dur = sp[owner], codes[owner], pe - ps
    day = np.searchsorted(midnight, ps, "right") - 1
    night = np.searchsorted(n_start, ps, "right") - 1
    in_night = (night >= 0) & (ps < n_end[np.maximum(night, 0)])

    vocab = list(CLINICAL) + sorted(set(table["day"]) - set(CLINICAL))
    cls_day = np.array([vocab.index(c) for c in table["day"]], dtype=np.int64)
    cls_night = np.array([vocab.index(c) for c in table["night"]], dtype=np.int64)
    cls = np.where(in_night, cls_night[pa], cls_day[pa])
    cid = {name: vocab.index(name) for name in CLINICAL}
    active = table["active"].to_numpy()[pa]

    # rows: pieces are sorted by person then time, so (person, day) keys only ever grow
    key = pp * D + day
    new_row = np.concatenate([[True], key[1:] != key[:-1]])
    row = np.cumsum(new_row) - 1
    row_key = key[new_row]
    R = len(row_key)
    rperson, rday = row_key // D, row_key % D

    out = pd.DataFrame(
        {
            "person": pd.Categorical.from_codes(rperson, dtype=seg["person"].dtype),
            "date": days[rday],
            "day_h": (midnight[rday + 1] - midnight[rday]) / HOUR_NS,
            "recorded_h": np.bincount(row, dur, R) / HOUR_NS,
        }
    )
    out["valid"] = out["recorded_h"] >= cfg.valid_min_hours
    per_label = np.bincount(row * len(labels) + pa, dur, R * len(labels)).reshape(R, len(labels)) / HOUR_NS
    for j, label in enumerate(labels):
        out[f"hours.{label}"] = per_label[:, j]
    per_class = np.bincount(row * len(vocab) + cls, dur, R * len(vocab)).reshape(R, len(vocab)) / MIN_NS
    for name in (ACTIVE, SEDENTARY, UPRIGHT, LYING):
        out[f"{name}_min"] = per_class[:, cid[name]]

    walk = _bouts(pp, ps, pe, active, cfg.walk_bout_gap_s, cfg.walk_bout_min_s, row, R)
    out["walk_bouts"] = walk[:, 0].astype(np.int64)
    out["walk_bout_median_min"], out["walk_bout_longest_min"] = walk[:, 1], walk[:, 3]
    sed = _bouts(pp, ps, pe, cls == cid[SEDENTARY], 0.0, cfg.sedentary_bout_min_s, row, R)
    out["sedentary_bouts"] = sed[:, 0].astype(np.int64)
    out["sedentary_bout_mean_min"], out["sedentary_bout_longest_min"] = sed[:, 2], sed[:, 3]

    # transitions are events of whole segments, counted on the day the event happens
    seg_day = np.searchsorted(midnight, s, "right") - 1
    ev_at, rise = _transitions(sp, s, e, codes, table, cfg.transition_gap_s)
    ev_row = _row_of(row_key, sp[ev_at] * D + seg_day[ev_at])
    out["transitions"] = np.bincount(ev_row[ev_row >= 0], minlength=R)
    out["sit_to_stand"] = np.bincount(ev_row[(ev_row >= 0) & rise], minlength=R)

    nkey = pp * D + night
    nrow = np.where(in_night, _row_of(row_key, nkey), -1)
    upright = in_night & ((cls == cid[UPRIGHT]) | (cls == cid[ACTIVE]))
    out["night_recorded_h"] = np.bincount(nrow[nrow >= 0], dur[nrow >= 0], R) / HOUR_NS
    out["night_upright_min"] = (
        np.bincount(nrow[upright & (nrow >= 0)], dur[upright & (nrow >= 0)], R) / MIN_NS
    )
    out["out_of_bed"] = _out_of_bed(pp, ps, pe, nkey, nrow, in_night, cls == cid[LYING], upright, cfg, R)

    no_night = out["night_recorded_h"].to_numpy() == 0
    out["night_upright_min"] = out["night_upright_min"].where(~no_night)
    out["out_of_bed"] = out["out_of_bed"].astype("Int64").where(~no_night)

    out["wake_time"] = _times(*_wake(pp, ps, pe, table, pa, n_start, n_end, row_key, D, cfg), tz)

    first, last = _first_last(row, active, R)
    out["first_active"] = _times(np.where(first >= 0, ps[np.maximum(first, 0)], 0), first >= 0, tz)
    out["last_active"] = _times(np.where(last >= 0, pe[np.maximum(last, 0)], 0), last >= 0, tz)
    if timeline.kind == "value":
        out[list(POSTURE_COLUMNS)] = np.nan
    return out


def hour_columns(daily: pd.DataFrame) -> list[str]:
    """The per-activity ``hours.<label>`` columns (their set depends on the timeline's labels)."""
    return [c for c in daily.columns if c.startswith("hours.")]


def without_hours(daily: pd.DataFrame) -> pd.DataFrame:
    """The metric columns the detectors and forecasts read: the per-activity hours dropped."""
    return daily.drop(columns=hour_columns(daily))


def to_json_records(daily: pd.DataFrame) -> list[dict]:
    """``daily_metrics`` rows as JSON-ready dicts: ``hours`` nested, dates ``YYYY-MM-DD``, NaN/NaT as None."""
    hour_cols = hour_columns(daily)
    records = []
    for rec in daily.to_dict("records"):
        out: dict = {"person": str(rec["person"]), "date": rec["date"].strftime("%Y-%m-%d")}
        for col, value in rec.items():
            if col in ("person", "date"):
                continue
            if col in hour_cols:
                out.setdefault("hours", {})[col.removeprefix("hours.")] = _plain(value)
            else:
                out[col] = _plain(value)
        records.append(out)
    return records


TIME_COLUMNS = ("first_active", "last_active", "wake_time")


def from_json_records(records: list[dict]) -> pd.DataFrame:
    """``to_json_records`` output (e.g. as stored) back into a frame the detectors read: ``date`` a date, the
    time-of-day columns as local minutes after the row's midnight (what the detectors make of the
    timestamps ``daily_metrics`` gives), ``hours`` dropped."""
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "hours"} for r in records])
    if frame.empty:
        return frame
    frame["date"] = pd.to_datetime(frame["date"])
    for col in TIME_COLUMNS:
        if col in frame:
            frame[col] = [_local_minutes(v, d) for v, d in zip(frame[col], frame["date"], strict=True)]
    return frame


def _local_minutes(iso: object, date: pd.Timestamp) -> float:
    if not isinstance(iso, str):  # None, or the NaN pandas 3's string columns hold for it
        return math.nan
    # the text is the local wall clock (with its UTC offset): minutes after that day's midnight
    wall = pd.Timestamp(dt.datetime.fromisoformat(iso).replace(tzinfo=None))
    return (wall - date) / pd.Timedelta(minutes=1)


def _plain(value: object) -> object:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _wall(times: pd.Series) -> pd.Series:
    return times.dt.tz_localize(None) if times.dt.tz is not None else times


def _since_midnight(t: dt.time) -> pd.Timedelta:
    return pd.Timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


def _row_of(row_key: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row index of each key, -1 where there is no such row."""
    pos = np.minimum(np.searchsorted(row_key, keys), len(row_key) - 1)
    return np.where(row_key[pos] == keys, pos, -1)


def _runs(pp: np.ndarray, ps: np.ndarray, pe: np.ndarray, flag: np.ndarray, gap_s: float):
    """Runs of flagged pieces of one person whose gaps are at most gap_s: (pieces, run id, start, end)."""
    idx = np.flatnonzero(flag)
    if not len(idx):
        empty = np.zeros(0, np.int64)
        return idx, empty, empty, empty
    p, a, b = pp[idx], ps[idx], pe[idx]
    new = np.concatenate([[True], (p[1:] != p[:-1]) | (a[1:] - b[:-1] > gap_s * S_NS)])
    heads = np.flatnonzero(new)
    tails = np.append(heads[1:] - 1, len(idx) - 1)
    return idx, np.cumsum(new) - 1, a[heads], b[tails]


def _bouts(pp, ps, pe, flag, gap_s: float, min_s: float, row: np.ndarray, R: int) -> np.ndarray:
    """Per row: count, median, mean and longest bout length in minutes (NaN without bouts)."""
    idx, rid, start, end = _runs(pp, ps, pe, flag, gap_s)
    length = end - start
    head_row = row[idx[np.flatnonzero(np.diff(rid, prepend=-1))]] if len(idx) else rid
    keep = length >= min_s * S_NS
    stats = np.full((R, 4), np.nan)
    stats[:, 0] = 0
    if keep.any():
        g = pd.Series(length[keep] / MIN_NS).groupby(head_row[keep])
        agg = g.agg(["count", "median", "mean", "max"])
        stats[agg.index.to_numpy()] = agg.to_numpy()
    return stats


def _transitions(sp, s, e, codes, table: pd.DataFrame, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Segment indices where a transition happens, and whether each is a rise (see module docstring)."""
    labelled = table["transition"].to_numpy()[codes]
    explicit = np.bincount(sp[labelled], minlength=sp.max() + 1 if len(sp) else 0) > 0
    by_label = np.flatnonzero(labelled & explicit[sp])
    posture = np.array([POSTURE_CODES.get(x, -1) for x in table["posture"]], dtype=np.int64)[codes]
    i = np.arange(1, len(s))
    derived = (
        (sp[i] == sp[i - 1])
        & ~explicit[sp[i]]
        & (posture[i] >= 0)
        & (posture[i - 1] >= 0)
        & (posture[i] != posture[i - 1])
        & (s[i] - e[i - 1] <= gap_s * S_NS)
    )
    by_change = i[derived]
    at = np.concatenate([by_label, by_change])
    rise = np.concatenate(
        [table["rise"].to_numpy()[codes[by_label]], posture[by_change] == POSTURE_CODES[STAND]]
    )
    return at, rise


def _out_of_bed(pp, ps, pe, nkey, nrow, in_night, lying, upright, cfg: DailyConfig, R: int) -> np.ndarray:
    idx, rid, start, end = _runs(pp, ps, pe, in_night & ~lying, 0.0)
    if not len(idx):
        return np.zeros(R, np.int64)
    up_ns = np.bincount(rid, (pe[idx] - ps[idx]) * upright[idx])
    head = idx[np.flatnonzero(np.diff(rid, prepend=-1))]
    run_key, run_row = nkey[head], nrow[head]
    li = np.flatnonzero(in_night & lying)
    if not len(li):
        return np.zeros(R, np.int64)
    # per night, the first lying piece starts earliest and the last ends latest: pieces are time-sorted
    lkey = nkey[li]
    heads, tails = _groups(lkey)
    keys, first_start, last_end = lkey[heads], ps[li[heads]], pe[li[tails]]
    pos = np.minimum(np.searchsorted(keys, run_key), len(keys) - 1)
    bracketed = (keys[pos] == run_key) & (first_start[pos] < start) & (last_end[pos] > end)
    episode = bracketed & (up_ns >= cfg.out_of_bed_min_s * S_NS) & (run_row >= 0)
    return np.bincount(run_row[episode], minlength=R)


def _wake(pp, ps, pe, table, pa, n_start, n_end, row_key, D: int, cfg: DailyConfig):
    """Per row, the end of the last lying run overlapping the night that ends on the row's morning."""
    R = len(row_key)
    lie = np.array([x == LIE for x in table["posture"]], dtype=bool)[pa]
    idx, rid, start, end = _runs(pp, ps, pe, lie, cfg.transition_gap_s)
    value, present = np.zeros(R, np.int64), np.zeros(R, bool)
    if not len(start):
        return value, present
    run_p = pp[idx[np.flatnonzero(np.diff(rid, prepend=-1))]]  # runs never span persons
    night = np.searchsorted(n_start, end, "left") - 1  # the latest night that began before the run ended
    ok = (night >= 0) & (start < n_end[np.maximum(night, 0)])
    key = run_p * D + night + 1  # the night's morning is the next day
    r = _row_of(row_key, key)
    ok &= r >= 0
    order = np.lexsort((end[ok], r[ok]))
    rr, ee = r[ok][order], end[ok][order]
    if len(rr):
        _, tails = _groups(rr)
        value[rr[tails]], present[rr[tails]] = ee[tails], True
    return value, present


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of each run of equal values in a sorted key array."""
    heads = np.flatnonzero(np.diff(keys, prepend=keys[:1] - 1)) if len(keys) else np.zeros(0, np.int64)
    return heads, np.append(heads[1:] - 1, len(keys) - 1) if len(keys) else heads


def _first_last(row: np.ndarray, flag: np.ndarray, R: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and last flagged piece of each row, -1 where none."""
    idx = np.flatnonzero(flag)
    first, last = np.full(R, -1), np.full(R, -1)
    r = row[idx]  # non-decreasing, as pieces are sorted
    heads, tails = _groups(r)
    first[r[heads]], last[r[heads]] = idx[heads], idx[tails]
    return first, last


def _times(values: np.ndarray, present: np.ndarray, tz: dt.tzinfo | None) -> pd.Series:
    t = pd.Series(from_ns(values, tz))
    return t.where(present, pd.NaT)
