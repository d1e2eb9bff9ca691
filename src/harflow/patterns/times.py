"""Times of a timeline column, read into one local zone (the rules are in ``timeline.py``'s docstring).

ISO 8601 without an offset is a wall clock (placed in ``tz`` when given), with an offset the wall clock at
that offset, epoch seconds a UTC instant; everything ends up as ``datetime64[ns]`` in one zone, or naive.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from harflow.patterns.timeline import Source

# an ISO 8601 time of day followed by a UTC offset; a bare date's "-01" is not an offset
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$")


def check_zone(tz: str | None) -> None:
    if tz is None:
        return
    try:
        pd.DatetimeIndex([]).tz_localize(tz)
    except Exception as e:  # zoneinfo and pytz raise different types for an unknown name
        raise ValueError(f"tz={tz!r} is not a known time zone: {e}") from None


def same_zone(a: dt.tzinfo | None, b: dt.tzinfo | None) -> bool:
    if a is None or b is None:
        return a is b
    if str(a) == str(b):
        return True
    ref = dt.datetime(2000, 1, 1)  # fixed offsets compare by their offset
    return isinstance(a, dt.timezone) and isinstance(b, dt.timezone) and a.utcoffset(ref) == b.utcoffset(ref)


def parse_times(
    raw: pd.Series,
    column: str,
    src: Source,
    lines: np.ndarray,
    tz: str | None,
    person: np.ndarray,
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
            # epoch seconds if the first time is a number (checking every row would double the parse time)
            secs = pd.to_numeric(text, errors="coerce") if _is_number(text.iloc[0]) else None
        missing = (raw.isna() if text is None else (text.isna() | (text == ""))).to_numpy()
        if missing.any():
            raise src.error("missing time", int(lines[np.argmax(missing)]), column)
        numeric = secs.notna().to_numpy() if secs is not None else np.zeros(len(raw), bool)
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


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _colon(m: re.Match) -> str:
    return f"{m.group(1)}:{m.group(2) or '00'}"


def _parse_iso(text: pd.Series, column: str, src: Source, lines: np.ndarray, tz: str | None) -> pd.Series:
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
            first = f"{src.unit} {src.number(lines[0])}"
            raise src.error(
                f"{text.iloc[i]!r} has {what(i)} but {first} has {what(0)}; without tz= every "
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
    src: Source,
    lines: np.ndarray,
    person: np.ndarray | None,
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
