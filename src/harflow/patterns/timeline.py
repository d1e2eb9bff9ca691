"""Activity timelines: reading them, and the one representation every analysis uses.

A timeline file (CSV or Parquet; ``read_timeline`` also takes a folder, searched recursively) has one of
three shapes, told apart by its columns (names are case-insensitive, other columns are ignored):

* segments: ``person, start, end, activity``
* labelled epochs: ``person, time, activity``; the epoch length is the median spacing of a person's times
  (or ``epoch=``), and an epoch lasts that long or until the person's next epoch, whichever is first
* numeric epochs: ``person, time, value`` (e.g. activity counts per epoch); epoch length as above

``person`` is optional (everything then belongs to ``default_person``). Times are ISO 8601 or epoch seconds:

* ISO 8601 without a UTC offset is the local wall clock. With ``tz`` it is placed in that zone (so a DST day
  lasts 23 or 25 h; repeated fall-back times of epoch files are resolved by their order); without ``tz`` the
  timeline is naive and every day lasts 24 h.
* ISO 8601 with an offset is the wall clock at that offset. Without ``tz`` every time must carry the same
  offset (it becomes the local zone); with ``tz`` the instants are shown in ``tz``.
* epoch seconds are UTC instants, shown in ``tz`` (UTC when ``tz`` is not given).

Time not covered by a segment or epoch is no data, never zero activity; an empty activity or value cell, and
the labels ``non-wear``/``nonwear``/``not-worn``, are no data too. Bad input raises ``TimelineError`` naming
the file, the line (CSV, header = line 1) or row (Parquet, 1-based), the column and the problem.

The canonical form, ``Timeline.segments``, is one frame for all three shapes: ``person`` (categorical),
``start``, ``end`` (``datetime64[ns]`` in the local zone, or naive local wall clock), then ``activity``
(categorical) or ``value`` (float), sorted by person and start, never overlapping within a person, with
touching rows of equal activity/value merged. ``to_epochs`` turns it into a regular epoch grid.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from harflow.patterns.classes import is_no_data

SHAPES: dict[str, tuple[str, ...]] = {
    "segments": ("start", "end", "activity"),
    "epochs": ("time", "activity"),
    "values": ("time", "value"),
}
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
# an ISO 8601 time of day followed by a UTC offset; a bare date's "-01" is not an offset
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$")


class TimelineError(ValueError):
    """Bad timeline input; the message names file, line/row, column and problem."""

    def __init__(
        self, problem: str, file: str, row: int | None = None, column: str | None = None, unit: str = "line"
    ):
        self.problem, self.file, self.row, self.column = problem, file, row, column
        where = [file] + ([f"{unit} {row}"] if row is not None else [])
        where += [f"column '{column}'"] if column else []
        super().__init__(", ".join(where) + ": " + problem)


@dataclass(frozen=True)
class _Source:
    name: str
    unit: str  # "line" for CSV (header is line 1), "row" for Parquet and frames (1-based)
    first: int  # the number of the first data row

    def error(self, problem: str, row: int | None = None, column: str | None = None) -> TimelineError:
        return TimelineError(problem, self.name, row, column, self.unit)


@dataclass(frozen=True)
class Timeline:
    """Activity (or numeric) segments of one or more people; see the module docstring for the columns."""

    segments: pd.DataFrame
    kind: Literal["activity", "value"]
    epoch: pd.Timedelta | None = None  # the input's epoch length; None for segment files
    sources: tuple[str, ...] = ()

    @property
    def tz(self) -> dt.tzinfo | None:
        return self.segments["start"].dt.tz

    @property
    def persons(self) -> list[str]:
        return [str(p) for p in self.segments["person"].cat.categories]

    def select(self, person: str) -> Timeline:
        seg = self.segments[self.segments["person"] == person].reset_index(drop=True)
        seg["person"] = seg["person"].cat.remove_unused_categories()
        return replace(self, segments=seg)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        tz: str | None = None,
        epoch: str | pd.Timedelta | None = None,
        default_person: str = "default",
        source: str = "<frame>",
    ) -> Timeline:
        """A timeline from an in-memory frame with the columns of one of the file shapes."""
        src = _Source(source, "row", 1)
        _check_zone(tz)
        shape, part, step = _parse(frame, src, tz, _timedelta(epoch, src), default_person)
        return _assemble([(shape, part, src, step)], (source,))


def read_timeline(
    path: str | Path,
    *,
    tz: str | None = None,
    epoch: str | pd.Timedelta | None = None,
    default_person: str = "default",
) -> Timeline:
    """Read a timeline file, or every CSV/Parquet file under a folder (recursively), as one timeline."""
    path = Path(path)
    _check_zone(tz)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))
        if not files:
            raise TimelineError(f"no timeline files ({', '.join(SUFFIXES)}) under this folder", str(path))
    elif path.is_file():
        files = [path]
    else:
        raise TimelineError("no such file or folder", str(path))
    parts = []
    for f in files:
        frame, src = _read_file(f)
        shape, part, step = _parse(frame, src, tz, _timedelta(epoch, src), default_person)
        parts.append((shape, part, src, step))
    return _assemble(parts, tuple(str(f) for f in files))


def to_epochs(timeline: Timeline, epoch: str | pd.Timedelta | None = None) -> pd.DataFrame:
    """A regular epoch grid per person: columns ``person, time`` and ``activity`` or ``value``.

    Each person's grid starts at their first segment and runs past their last. An activity epoch takes the
    activity at its midpoint (NaN if that instant has no data). A value epoch must be a whole number of the
    input's epochs and holds their sum, NaN if any of them has no data. The default epoch is the input's.
    """
    step = _timedelta(epoch, _Source("epoch", "row", 1)) or timeline.epoch or pd.Timedelta("60s")
    seg = timeline.segments
    col = "activity" if timeline.kind == "activity" else "value"
    if timeline.kind == "value":
        native = timeline.epoch
        if native is None or step % native != pd.Timedelta(0):
            raise ValueError(f"epoch {step} is not a whole number of the timeline's {native} epochs")
        k, sample = int(step / native), native
    else:
        k, sample = 1, step
    frames = []
    bounds = np.flatnonzero(np.diff(seg["person"].cat.codes.to_numpy(), prepend=-1, append=-1))
    for lo, hi in itertools.pairwise(bounds):
        start, end = seg["start"].iloc[lo:hi], seg["end"].iloc[lo:hi]
        s_ns, e_ns = ns(start), ns(end)
        n = -(-(int(e_ns[-1] - s_ns[0])) // sample.value)
        n = -(-n // k) * k
        mid = s_ns[0] + np.arange(n, dtype=np.int64) * sample.value + sample.value // 2
        idx = np.searchsorted(s_ns, mid, side="right") - 1
        hit = (idx >= 0) & (mid < e_ns[np.maximum(idx, 0)])
        times = from_ns(s_ns[0] + np.arange(n // k, dtype=np.int64) * step.value, timeline.tz)
        if timeline.kind == "value":
            vals = np.where(hit, seg["value"].to_numpy()[lo:hi][np.maximum(idx, 0)], np.nan)
            data = vals.reshape(-1, k).sum(axis=1)  # NaN if any input epoch is missing
        else:
            codes = np.where(hit, seg["activity"].cat.codes.to_numpy()[lo:hi][np.maximum(idx, 0)], -1)
            data = pd.Categorical.from_codes(codes, dtype=seg["activity"].dtype)
        code = np.full(len(times), seg["person"].cat.codes.iloc[lo])
        person = pd.Categorical.from_codes(code, dtype=seg["person"].dtype)
        frames.append(pd.DataFrame({"person": person, "time": times, col: data}))
    if not frames:
        return pd.DataFrame({"person": seg["person"][:0], "time": seg["start"][:0], col: seg[col][:0]})
    return pd.concat(frames, ignore_index=True)


def ns(times: pd.Series) -> np.ndarray:
    """int64 nanoseconds: UTC instants for zoned times, wall clock for naive ones."""
    t = times.dt.as_unit("ns")
    if t.dt.tz is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    return t.to_numpy().view(np.int64)


def from_ns(values: np.ndarray, tz: dt.tzinfo | None) -> pd.DatetimeIndex:
    """The inverse of ``ns``."""
    idx = pd.DatetimeIndex(np.asarray(values, dtype=np.int64).view("M8[ns]"))
    return idx.tz_localize("UTC").tz_convert(tz) if tz is not None else idx


def local_instants(wall: pd.DatetimeIndex, tz: dt.tzinfo | None) -> np.ndarray:
    """int64 ns of local wall-clock times; skipped (DST) times move forward, repeated ones are the first."""
    wall = wall.as_unit("ns")
    if tz is not None:
        wall = wall.tz_localize(tz, ambiguous=np.ones(len(wall), bool), nonexistent="shift_forward")
        wall = wall.tz_convert("UTC").tz_localize(None)
    return wall.to_numpy().view(np.int64)


# --- reading ---------------------------------------------------------------------------------------------


def _check_zone(tz: str | None) -> None:
    if tz is None:
        return
    try:
        pd.DatetimeIndex([]).tz_localize(tz)
    except Exception as e:  # zoneinfo and pytz raise different types for an unknown name
        raise ValueError(f"tz={tz!r} is not a known time zone: {e}") from None


def _timedelta(value: str | pd.Timedelta | None, src: _Source) -> pd.Timedelta | None:
    if value is None:
        return None
    try:
        td = pd.Timedelta(value)
    except ValueError as e:
        raise src.error(f"epoch {value!r} is not a duration: {e}") from None
    if td <= pd.Timedelta(0):
        raise src.error(f"epoch {value!r} must be positive")
    return td


def _read_file(path: Path) -> tuple[pd.DataFrame, _Source]:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path), _Source(str(path), "row", 1)
        # every cell as text, so parsing (and its errors) is ours; blank lines kept so line numbers hold
        frame = pd.read_csv(path, dtype=str, skip_blank_lines=False, keep_default_na=False, na_values=[""])
        return frame, _Source(str(path), "line", 2)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        kind = "Parquet" if name.endswith((".parquet", ".pq")) else "CSV"
        raise TimelineError(f"cannot read as {kind}: {e}", str(path)) from None


def _shape(columns: list[str], src: _Source) -> str:
    have = set(columns)
    if {"start", "end"} & have:
        shape = "segments"
    elif "time" in have and {"activity", "value"} <= have:
        raise src.error("has both 'activity' and 'value' columns (one or the other)", src.first - 1)
    elif "time" in have:
        shape = "values" if "value" in have else "epochs"
    else:
        raise src.error(
            "columns " + ", ".join(repr(c) for c in columns) + " match no timeline shape: expected "
            "segments 'start, end, activity', epochs 'time, activity' or 'time, value'",
            src.first - 1,
        )
    missing = [c for c in SHAPES[shape] if c not in have]
    if missing:
        raise src.error(f"{shape} need column(s) {', '.join(map(repr, missing))}", src.first - 1)
    return shape


def _parse(
    frame: pd.DataFrame, src: _Source, tz: str | None, epoch: pd.Timedelta | None, default_person: str
) -> tuple[str, pd.DataFrame, pd.Timedelta | None]:
    """One file's rows as canonical columns plus ``_line`` (for later errors), and its epoch length."""
    names = [str(c).strip().lower() for c in frame.columns]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        problem = f"duplicate column(s) {', '.join(sorted(dup))} (names are case-insensitive)"
        raise src.error(problem, src.first - 1)
    frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    shape = _shape(names, src)
    lines = np.arange(len(frame), dtype=np.int64) + src.first
    keep = ~frame.isna().all(axis=1).to_numpy()  # blank lines
    frame, lines = frame[keep].reset_index(drop=True), lines[keep]
    if frame.empty:
        raise src.error("no data rows")

    if "person" in frame:
        person = frame["person"].astype("string").str.strip()
        bad = person.isna() | (person == "")
        if bad.any():
            raise src.error("missing person", int(lines[np.argmax(bad.to_numpy())]), "person")
    else:
        person = pd.Series(default_person, index=frame.index, dtype="string")

    label = "value" if shape == "values" else "activity"
    if shape == "values":
        raw = frame["value"]
        data = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = data.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise src.error(f"value {raw.iloc[i]!r} is not a number", int(lines[i]), "value")
        present = data.notna().to_numpy()
    else:
        data = frame["activity"].astype("string").str.strip()
        no_data = [u for u in data.dropna().unique() if u == "" or is_no_data(u)]
        present = (data.notna() & ~data.isin(no_data)).to_numpy()

    if shape == "segments":
        step = None
        start = _parse_times(frame["start"], "start", src, lines, tz, person, ordered=False)
        end = _parse_times(frame["end"], "end", src, lines, tz, person, ordered=False)
        if start.dt.tz != end.dt.tz and not _same_zone(start.dt.tz, end.dt.tz):
            raise src.error("'start' and 'end' are in different zones (one has a UTC offset, the other not)")
        bad = (end <= start).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise src.error(f"end {end.iloc[i]} is not after start {start.iloc[i]}", int(lines[i]), "end")
    else:
        start = _parse_times(frame["time"], "time", src, lines, tz, person, ordered=True)
        end, step = _epoch_ends(start, person, src, lines, epoch)
    part = pd.DataFrame({"person": person, "start": start, "end": end, label: data, "_line": lines})
    return shape, part[present].reset_index(drop=True), step


def _epoch_ends(
    start: pd.Series, person: pd.Series, src: _Source, lines: np.ndarray, epoch: pd.Timedelta | None
) -> tuple[pd.Series, pd.Timedelta]:
    """Each epoch ends after the epoch length or at the person's next epoch, whichever is first."""
    codes = pd.factorize(person)[0]
    order = np.lexsort((ns(start), codes))
    p, t = codes[order], ns(start)[order]
    same = p[1:] == p[:-1]
    gaps = np.diff(t)[same]
    if (gaps == 0).any():
        i = int(np.flatnonzero(same & (np.diff(t) == 0))[0])
        raise src.error(
            f"time {start.iloc[order[i + 1]]} repeats for person '{person.iloc[order[i + 1]]}' "
            f"(also at {src.unit} {lines[order[i]]})",
            int(lines[order[i + 1]]),
            "time",
        )
    if epoch is None:
        if not len(gaps):
            raise src.error("cannot infer the epoch length from one time per person; pass epoch=")
        epoch = pd.Timedelta(int(np.median(gaps)), "ns")
    nxt = np.full(len(t), np.iinfo(np.int64).max)
    nxt[:-1][same] = t[1:][same]
    end_sorted = np.minimum(t + epoch.value, nxt)
    end = np.empty_like(end_sorted)
    end[order] = end_sorted
    out = pd.Series(pd.to_datetime(end, unit="ns"), index=start.index)
    if start.dt.tz is not None:
        out = out.dt.tz_localize("UTC").dt.tz_convert(start.dt.tz)
    return out, epoch


def _same_zone(a: dt.tzinfo | None, b: dt.tzinfo | None) -> bool:
    if a is None or b is None:
        return a is b
    if str(a) == str(b):
        return True
    ref = dt.datetime(2000, 1, 1)  # fixed offsets compare by their offset
    return isinstance(a, dt.timezone) and isinstance(b, dt.timezone) and a.utcoffset(ref) == b.utcoffset(ref)


def _parse_times(
    raw: pd.Series,
    column: str,
    src: _Source,
    lines: np.ndarray,
    tz: str | None,
    person: pd.Series,
    ordered: bool,
) -> pd.Series:
    """Times as datetime64[ns]: zoned (tz, or the file's one offset) or naive wall clock."""
    if pd.api.types.is_datetime64_any_dtype(raw):  # Parquet timestamps
        t = raw
        missing = t.isna().to_numpy()
    else:
        if pd.api.types.is_numeric_dtype(raw):
            text, secs = None, pd.to_numeric(raw, errors="coerce")
        else:
            text = raw.astype("string").str.strip()
            secs = pd.to_numeric(text, errors="coerce")
        missing = (raw.isna() if text is None else (text.isna() | (text == ""))).to_numpy()
        numeric = secs.notna().to_numpy()
        if missing.any():
            raise src.error("missing time", int(lines[np.argmax(missing)]), column)
        if numeric.all():  # to whole microseconds: float seconds near 1.7e9 carry ~0.2 µs of noise
            t = pd.to_datetime((secs.to_numpy(float) * 1e6).round().astype(np.int64), unit="us", utc=True)
            t = pd.Series(t, index=raw.index)
        elif numeric.any():
            i = int(np.argmax(numeric != numeric[0]))
            problem = f"{text.iloc[i]!r} mixes epoch seconds and ISO 8601 times in one column"
            raise src.error(problem, int(lines[i]), column)
        else:
            t = _parse_iso(text, column, src, lines, tz)
    if missing.any():
        raise src.error("missing time", int(lines[np.argmax(missing)]), column)
    t = t.dt.as_unit("ns")
    if t.dt.tz is None and tz is not None:
        t = _localize(t, tz, column, src, lines, person, ordered)
    elif t.dt.tz is not None and tz is not None:
        t = t.dt.tz_convert(tz)
    return t


def _colon(m: re.Match) -> str:
    return f"{m.group(1)}:{m.group(2) or '00'}"


def _parse_iso(text: pd.Series, column: str, src: _Source, lines: np.ndarray, tz: str | None) -> pd.Series:
    try:
        t = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:  # several UTC offsets, or offsets mixed with naive times
        t = None
    if t is None:
        offset = text.str.extract(_OFFSET, expand=False)
        norm = offset.fillna("none").str.replace("Z", "+00:00")
        norm = norm.str.replace(r"^([+-]\d\d):?(\d\d)?$", _colon, regex=True)
        if tz is None:
            i = int(np.argmax((norm != norm.iloc[0]).to_numpy()))
            what = lambda k: "no UTC offset" if norm.iloc[k] == "none" else f"offset {norm.iloc[k]}"  # noqa: E731
            raise src.error(
                f"{text.iloc[i]!r} has {what(i)} but {src.unit} {lines[0]} has {what(0)}; without tz= every "
                "time must carry the same offset (pass tz, e.g. tz='Europe/Berlin', to name the local zone)",
                int(lines[i]),
                column,
            )
        aware = offset.notna()
        t = pd.Series(pd.NaT, index=text.index, dtype=f"datetime64[ns, {tz}]")
        t[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce").dt.tz_convert(tz)
        naive = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce")
        t[~aware] = _localize(naive.dt.as_unit("ns"), tz, column, src, lines[~aware.to_numpy()], None, False)
    bad = t.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        problem = f"cannot parse time {text.iloc[i]!r} (ISO 8601 or epoch seconds)"
        raise src.error(problem, int(lines[i]), column)
    return t


def _localize(
    t: pd.Series,
    tz: str,
    column: str,
    src: _Source,
    lines: np.ndarray,
    person: pd.Series | None,
    ordered: bool,
) -> pd.Series:
    out = t.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    bad = out.isna().to_numpy() & t.notna().to_numpy()
    if bad.any() and ordered and person is not None:
        # epochs written in local time repeat an hour at the fall-back change; their order says which is which
        try:
            parts = [g.dt.tz_localize(tz, ambiguous="infer") for _, g in t.groupby(person)]
        except Exception:  # the order cannot tell (pandas and pytz raise several types)
            parts = None
        if parts is not None:
            out = pd.concat(parts).reindex(t.index)
            bad = out.isna().to_numpy() & t.notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise src.error(
            f"local time {t.iloc[i]} is skipped or repeated by a DST change in {tz}; write it with a UTC "
            "offset or as epoch seconds",
            int(lines[i]),
            column,
        )
    return out


def _assemble(
    parts: list[tuple[str, pd.DataFrame, _Source, pd.Timedelta | None]], sources: tuple[str, ...]
) -> Timeline:
    shape0, first, src0, epoch = parts[0]
    for shape, part, src, step in parts[1:]:
        if shape != shape0:
            raise src.error(f"is {shape} but {src0.name} is {shape0}: one timeline has one shape")
        z0, z = first["start"].dt.tz, part["start"].dt.tz
        if not _same_zone(z0, z):
            raise src.error(f"times are in zone {z} but {src0.name} is in {z0}; pass tz= to read both")
        if step != epoch:
            raise src.error(f"epoch length {step} differs from {src0.name}'s {epoch}; pass epoch=")
    frames = []
    for k, (_, part, _src, _step) in enumerate(parts):
        part = part.copy()
        part["_src"] = k
        frames.append(part)
    seg = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    label = "value" if shape0 == "values" else "activity"
    person = pd.Categorical(seg["person"].astype(str))
    s, e, p = ns(seg["start"]), ns(seg["end"]), person.codes.astype(np.int64)
    if len(seg) > 1 and not ((p[1:] > p[:-1]) | ((p[1:] == p[:-1]) & (s[1:] >= s[:-1]))).all():
        order = np.lexsort((s, p))
        seg, person, s, e, p = seg.iloc[order], person[order], s[order], e[order], p[order]
    same = p[1:] == p[:-1]
    overlap = same & (s[1:] < e[:-1])
    if overlap.any():
        i = int(np.flatnonzero(overlap)[0]) + 1
        here, there = seg.iloc[i], seg.iloc[i - 1]
        src, other = parts[int(here["_src"])][2], parts[int(there["_src"])][2]
        ref = f"{src.unit} {there['_line']}" + ("" if other is src else f" of {other.name}")
        raise src.error(
            f"segment of person '{here['person']}' starting {here['start']} overlaps the one at {ref} "
            f"that ends {there['end']}",
            int(here["_line"]),
            "start" if shape0 == "segments" else "time",
        )
    values = seg[label].to_numpy() if label == "value" else pd.factorize(seg[label])[0]
    equal = values[1:] == values[:-1]
    first_of_run = np.concatenate([[True], ~(same & equal & (s[1:] == e[:-1]))])
    heads = np.flatnonzero(first_of_run)
    tails = np.append(heads[1:] - 1, len(seg) - 1)
    tz = first["start"].dt.tz
    data = seg[label].to_numpy()[heads]
    out = pd.DataFrame(
        {
            "person": person[heads],
            "start": from_ns(s[heads], tz),
            "end": from_ns(e[tails], tz),
            label: pd.Categorical(data.astype(str)) if label == "activity" else data,
        }
    )
    kind: Literal["activity", "value"] = "activity" if label == "activity" else "value"
    return Timeline(out, kind, epoch, sources)
