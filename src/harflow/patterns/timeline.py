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
import gzip
import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from harflow.patterns.classes import is_no_data
from harflow.patterns.times import check_zone, parse_times, same_zone

SHAPES: dict[str, tuple[str, ...]] = {
    "segments": ("start", "end", "activity"),
    "epochs": ("time", "activity"),
    "values": ("time", "value"),
}
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


class TimelineError(ValueError):
    """Bad timeline input; the message names file, line/row, column and problem."""

    def __init__(
        self, problem: str, file: str, row: int | None = None, column: str | None = None, unit: str = "line"
    ):
        self.problem, self.file, self.row, self.column = problem, file, row, column
        where = [file] + ([f"{unit} {row}"] if row is not None else [])
        where += [f"column '{column}'"] if column else []
        super().__init__(", ".join(where) + ": " + problem)


HEADER = -1  # the row index that stands for the header (column names)


@dataclass(frozen=True)
class Source:
    name: str
    unit: str  # "line" for CSV (file lines, header = 1), "row" for Parquet and frames (1-based data rows)

    def number(self, row: int) -> int | None:
        """What an error calls 0-based data row ``row`` (``HEADER``: the header line; tables have none)."""
        if self.unit == "row":
            return None if row == HEADER else row + 1
        return _csv_line(self.name, row)

    def error(self, problem: str, row: int | None = None, column: str | None = None) -> TimelineError:
        return TimelineError(problem, self.name, None if row is None else self.number(row), column, self.unit)


def _csv_line(path: str, row: int) -> int | None:
    """The file line of a CSV data row. The fast reader skips blank lines, so count them again (only for an
    error message; a quoted field spanning lines would throw the count off)."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    seen = HEADER - 1
    with opener(path, "rt", errors="replace") as f:
        for number, text in enumerate(f, start=1):
            if text.strip():
                seen += 1
                if seen == row:
                    return number
    return None


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
        src = Source(source, "row")
        check_zone(tz)
        return _assemble([_parse(frame, src, tz, _timedelta(epoch, src), default_person)], (source,))


def read_timeline(
    path: str | Path,
    *,
    tz: str | None = None,
    epoch: str | pd.Timedelta | None = None,
    default_person: str = "default",
) -> Timeline:
    """Read a timeline file, or every CSV/Parquet file under a folder (recursively), as one timeline."""
    path = Path(path)
    check_zone(tz)
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
        parts.append(_parse(frame, src, tz, _timedelta(epoch, src), default_person))
    return _assemble(parts, tuple(str(f) for f in files))


def to_epochs(timeline: Timeline, epoch: str | pd.Timedelta | None = None) -> pd.DataFrame:
    """A regular epoch grid per person: columns ``person, time`` and ``activity`` or ``value``.

    Each person's grid starts at their first segment and runs past their last. An activity epoch takes the
    activity at its midpoint (NaN if that instant has no data). A value epoch must be a whole number of the
    input's epochs and holds their sum, NaN if any of them has no data. The default epoch is the input's.
    """
    step = _timedelta(epoch, Source("epoch", "row")) or timeline.epoch or pd.Timedelta("60s")
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
        t = t.dt.tz_convert(None)  # zoned times are stored as UTC: this only drops the zone
    return t.to_numpy().view(np.int64)


def from_ns(values: np.ndarray, tz: dt.tzinfo | None) -> pd.DatetimeIndex:
    """The inverse of ``ns``."""
    values = np.asarray(values, dtype=np.int64)
    if tz is None:
        return pd.DatetimeIndex(values.view("M8[ns]"))
    return pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True)).tz_convert(tz)


def local_instants(wall: pd.DatetimeIndex, tz: dt.tzinfo | None) -> np.ndarray:
    """int64 ns of local wall-clock times; skipped (DST) times move forward, repeated ones are the first."""
    wall = wall.as_unit("ns")
    if tz is not None:
        wall = wall.tz_localize(tz, ambiguous=np.ones(len(wall), bool), nonexistent="shift_forward")
        wall = wall.tz_convert("UTC").tz_localize(None)
    return wall.to_numpy().view(np.int64)


# --- reading ---------------------------------------------------------------------------------------------


def _timedelta(value: str | pd.Timedelta | None, src: Source) -> pd.Timedelta | None:
    if value is None:
        return None
    try:
        td = pd.Timedelta(value)
    except ValueError as e:
        raise src.error(f"epoch {value!r} is not a duration: {e}") from None
    if td <= pd.Timedelta(0):
        raise src.error(f"epoch {value!r} must be positive")
    return td


def _read_file(path: Path) -> tuple[pd.DataFrame, Source]:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path), Source(str(path), "row")
        # every cell as text, so parsing (and its errors) is ours; pyarrow's reader is several times faster
        frame = pd.read_csv(path, dtype=str, engine="pyarrow", keep_default_na=False, na_values=[""])
        return frame, Source(str(path), "line")
    except (OSError, ValueError, pd.errors.ParserError) as e:
        kind = "Parquet" if name.endswith((".parquet", ".pq")) else "CSV"
        raise TimelineError(f"cannot read as {kind}: {e}", str(path)) from None


def _shape(columns: list[str], src: Source) -> str:
    have = set(columns)
    if {"start", "end"} & have:
        shape = "segments"
    elif "time" in have and {"activity", "value"} <= have:
        raise src.error("has both 'activity' and 'value' columns (one or the other)", HEADER)
    elif "time" in have:
        shape = "values" if "value" in have else "epochs"
    else:
        raise src.error(
            "columns " + ", ".join(repr(c) for c in columns) + " match no timeline shape: expected "
            "segments 'start, end, activity', epochs 'time, activity' or 'time, value'",
            HEADER,
        )
    missing = [c for c in SHAPES[shape] if c not in have]
    if missing:
        raise src.error(f"{shape} need column(s) {', '.join(map(repr, missing))}", HEADER)
    return shape


def _parse(
    frame: pd.DataFrame, src: Source, tz: str | None, epoch: pd.Timedelta | None, default_person: str
) -> _Part:
    """One file's rows, not yet sorted or merged, with times as int64 ns (see ``ns``)."""
    names = [str(c).strip().lower() for c in frame.columns]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        problem = f"duplicate column(s) {', '.join(sorted(dup))} (names are case-insensitive)"
        raise src.error(problem, HEADER)
    frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    shape = _shape(names, src)
    lines = np.arange(len(frame), dtype=np.int64)  # 0-based data rows; src.number() names them
    blank = frame.isna().all(axis=1).to_numpy()  # rows of empty cells
    if blank.any():
        frame, lines = frame[~blank].reset_index(drop=True), lines[~blank]
    if frame.empty:
        raise src.error("no data rows")

    if "person" in frame:
        person = _text(frame["person"])
        if (person.codes < 0).any():
            raise src.error("missing person", int(lines[np.argmax(person.codes < 0)]), "person")
    else:
        person = pd.Categorical.from_codes(np.zeros(len(frame), np.int8), [default_person])

    label = "value" if shape == "values" else "activity"
    if shape == "values":
        raw = frame["value"]
        data = pd.to_numeric(raw, errors="coerce").astype(float)
        suspect = np.flatnonzero(
            data.isna().to_numpy() & raw.notna().to_numpy()
        )  # NaN, but not a blank cell?
        bad = suspect[(raw.iloc[suspect].astype("string").str.strip() != "").to_numpy()]
        if len(bad):
            i = int(bad[0])
            raise src.error(f"value {raw.iloc[i]!r} is not a number", int(lines[i]), "value")
        present = data.notna().to_numpy()
    else:
        data = _text(frame["activity"])
        no_data = np.array([is_no_data(c) for c in data.categories] + [True])  # the last: code -1, blank
        present = ~no_data[data.codes]

    if shape == "segments":
        step = None
        start = parse_times(frame["start"], "start", src, lines, tz, person.codes, ordered=False)
        end = parse_times(frame["end"], "end", src, lines, tz, person.codes, ordered=False)
        if not same_zone(start.dt.tz, end.dt.tz):
            raise src.error("'start' and 'end' are in different zones (one has a UTC offset, the other not)")
        bad = (end <= start).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise src.error(f"end {end.iloc[i]} is not after start {start.iloc[i]}", int(lines[i]), "end")
        zone, start_ns, end_ns = start.dt.tz, ns(start), ns(end)
    else:
        start = parse_times(frame["time"], "time", src, lines, tz, person.codes, ordered=True)
        zone, start_ns = start.dt.tz, ns(start)
        end_ns, step = _epoch_ends(start_ns, zone, person, src, lines, epoch)
    keep = None if present.all() else present
    columns = {"person": person, "start": start_ns, "end": end_ns, "data": data, "line": lines}
    if keep is not None:
        columns = {k: v[keep] for k, v in columns.items()}
    data = columns["data"] if label == "activity" else np.asarray(columns["data"], float)
    return _Part(
        shape, src, step, zone, columns["person"], columns["start"], columns["end"], data, columns["line"]
    )


@dataclass(frozen=True)
class _Part:
    """One file, parsed."""

    shape: str
    src: Source
    epoch: pd.Timedelta | None
    zone: dt.tzinfo | None
    person: pd.Categorical
    start: np.ndarray  # int64 ns
    end: np.ndarray
    data: pd.Categorical | np.ndarray  # activity, or float values
    line: np.ndarray  # 0-based data rows, for errors


def _text(column: pd.Series) -> pd.Categorical:
    """Stripped text as a categorical, blank cells as code -1; the work is done once per distinct value."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, uniques = column.cat.codes.to_numpy(), column.cat.categories
    else:
        codes, uniques = pd.factorize(column)
    names: dict[str, int] = {}
    recode = np.array([names.setdefault(str(u).strip(), len(names)) for u in uniques] + [-1], dtype=np.int64)
    categories = list(names)
    if "" in names:  # blank cells count as missing
        recode[recode == names[""]] = -1
        recode[recode > names[""]] -= 1
        categories.remove("")
    return pd.Categorical.from_codes(recode[codes], categories)


def _epoch_ends(
    t_in: np.ndarray,
    zone: dt.tzinfo | None,
    person: pd.Categorical,
    src: Source,
    lines: np.ndarray,
    epoch: pd.Timedelta | None,
) -> tuple[np.ndarray, pd.Timedelta]:
    """Each epoch ends after the epoch length or at the person's next epoch, whichever is first (int64 ns)."""
    codes = person.codes.astype(np.int64)
    if _sorted(codes, t_in):
        order, p, t = None, codes, t_in
    else:
        order = np.lexsort((t_in, codes))
        p, t = codes[order], t_in[order]
    same = p[1:] == p[:-1]
    step = np.diff(t)
    if (same & (step == 0)).any():
        i = int(np.flatnonzero(same & (step == 0))[0])
        here, there = (i + 1, i) if order is None else (order[i + 1], order[i])
        also = f"{src.unit} {src.number(lines[there])}"
        raise src.error(
            f"time {from_ns(t_in[[here]], zone)[0]} repeats for person '{person[here]}' (also {also})",
            int(lines[here]),
            "time",
        )
    if epoch is None:
        if not same.any():
            raise src.error("cannot infer the epoch length from one time per person; pass epoch=")
        epoch = pd.Timedelta(int(_median(step[same])), "ns")
    nxt = np.full(len(t), np.iinfo(np.int64).max)
    nxt[:-1][same] = t[1:][same]
    end = np.minimum(t + epoch.value, nxt)
    if order is not None:
        end[order] = end.copy()
    return end, epoch


def _median(values: np.ndarray) -> float:
    """np.median, partitioning the (already copied) array in place instead of copying it once more."""
    lo, hi = (len(values) - 1) // 2, len(values) // 2
    values.partition([lo, hi])
    return (values[lo] + values[hi]) / 2


def _sorted(codes: np.ndarray, t: np.ndarray) -> bool:
    """Rows already ordered by person code, then time (what files written person by person are)."""
    return bool(((codes[1:] > codes[:-1]) | ((codes[1:] == codes[:-1]) & (t[1:] >= t[:-1]))).all())


def _assemble(parts: list[_Part], sources: tuple[str, ...]) -> Timeline:
    first = parts[0]
    for part in parts[1:]:
        src = part.src
        if part.shape != first.shape:
            raise src.error(
                f"is {part.shape} but {first.src.name} is {first.shape}: one timeline has one shape"
            )
        if not same_zone(first.zone, part.zone):
            raise src.error(
                f"times are in zone {part.zone} but {first.src.name} is in {first.zone}; pass tz="
            )
        if part.epoch != first.epoch:
            raise src.error(
                f"epoch length {part.epoch} differs from {first.src.name}'s {first.epoch}; pass epoch="
            )
    tz, label = first.zone, "value" if first.shape == "values" else "activity"
    s = np.concatenate([p.start for p in parts])
    e = np.concatenate([p.end for p in parts])
    line = np.concatenate([p.line for p in parts])
    origin = np.repeat(np.arange(len(parts)), [len(p.start) for p in parts])
    person = _union([p.person for p in parts])
    if label == "activity":
        data = _union([p.data for p in parts], sort=False)  # sorted below, on far fewer rows
        values = data.codes.astype(np.int64)
    else:
        values = np.concatenate([p.data for p in parts])
    p = person.codes.astype(np.int64)
    if not _sorted(p, s):
        order = np.lexsort((s, p))
        s, e, p, line, origin, values = (
            s[order],
            e[order],
            p[order],
            line[order],
            origin[order],
            values[order],
        )
    same = p[1:] == p[:-1]
    overlap = same & (s[1:] < e[:-1])
    if overlap.any():
        i = int(np.flatnonzero(overlap)[0]) + 1
        src, other = parts[origin[i]].src, parts[origin[i - 1]].src
        ref = f"{other.unit} {other.number(line[i - 1])}" + ("" if other is src else f" of {other.name}")
        when = from_ns(np.array([s[i], e[i - 1]]), tz)
        raise src.error(
            f"segment of person '{person.categories[p[i]]}' starting {when[0]} overlaps the one at {ref} "
            f"that ends {when[1]}",
            int(line[i]),
            "start" if first.shape == "segments" else "time",
        )
    first_of_run = np.concatenate([[True], ~(same & (values[1:] == values[:-1]) & (s[1:] == e[:-1]))])
    heads = np.flatnonzero(first_of_run)
    tails = np.append(heads[1:] - 1, len(s) - 1)
    column = values[heads]
    if label == "activity":
        column = _union([pd.Categorical.from_codes(column, dtype=data.dtype)])
    out = pd.DataFrame(
        {
            "person": pd.Categorical.from_codes(p[heads], dtype=person.dtype),
            "start": from_ns(s[heads], tz),
            "end": from_ns(e[tails], tz),
            label: column,
        }
    )
    kind: Literal["activity", "value"] = "activity" if label == "activity" else "value"
    return Timeline(out, kind, first.epoch, sources)


def _union(columns: list[pd.Categorical], sort: bool = True) -> pd.Categorical:
    """One categorical over several files' columns, its categories sorted whatever the order of the files."""
    merged = union_categoricals(columns) if len(columns) > 1 else columns[0]
    order = sorted(merged.categories)
    return merged if not sort or list(merged.categories) == order else merged.set_categories(order)
