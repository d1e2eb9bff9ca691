"""Raw 50 Hz accelerometer/gyroscope streams of simulated persons, made of real HAPT test-subject signals,
for replay through the recognition service (recognition errors included, end to end).

Every segment of a person's timeline is filled with their body subject's real signal of that activity:

* static postures and walking loop through one of the subject's labeled runs of the activity (edges
  trimmed, where HAPT labels are loose), closed into a ring by cross-fading its end into its start; the
  run and the starting place are pseudo-random per segment, so a night of LAYING repeats ~20 s of real
  lying in one orientation, and the next lying segment may lie differently;
* a postural transition is the subject's real transition of that kind whose length is closest to the
  segment's, time-stretched to it (by the timeline's rounding to whole seconds: its durations come from
  the same transitions);
* every join between segments is cross-faded over ``2 * BLEND`` samples, so a window never straddles a
  jump of the gravity vector that the real movement would not have.

Nothing is held beyond the chunk being made: a week (30 M samples) streams in constant memory, and a chunk's
samples do not depend on the chunk size. No data (not worn, missing days) yields no chunks.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from harflow.data.frames import decode_frame, encode_frame
from harflow.data.recordings import RecordingSet
from harflow.patterns.fine_structure import TRANSITIONS, hapt_test_recordings, label_runs

if TYPE_CHECKING:
    from harflow.patterns.cohort import Cohort

RATE_HZ = 50
BLEND = 12  # half-width (samples) of the cross-fade at every join
TRIM_S = 0.5  # trimmed off both ends of a static/walking run
FRAME_LEN = struct.Struct("<I")


@dataclass(frozen=True)
class SignalBank:
    rings: dict[tuple[str, int], tuple[np.ndarray, ...]]  # (subject, code) → (L, 6) loopable runs
    excerpts: dict[tuple[str, int], tuple[np.ndarray, ...]]  # (subject, transition code) → (n, 6) each

    def of(self, subject: str, code: int) -> tuple[np.ndarray, ...]:
        """A subject's signals of one activity, or the first subject's that has some."""
        table = self.excerpts if code in TRANSITIONS else self.rings
        got = table.get((subject, code))
        return got if got else next(v for (_, c), v in sorted(table.items()) if c == code and v)


def _fade(n: int) -> np.ndarray:
    return ((np.arange(n) + 0.5) / n)[:, None].astype(np.float32)


def _ring(run: np.ndarray) -> np.ndarray:
    """A run whose end is faded into its start, so it can be looped without a jump."""
    b = 2 * BLEND
    w = _fade(b)
    head = run[-b:] * (1 - w) + run[:b] * w
    return np.ascontiguousarray(np.concatenate([head, run[b:-b]]), dtype=np.float32)


def build_bank(rs: RecordingSet) -> SignalBank:
    trim = round(TRIM_S * rs.rate_hz)
    runs: dict[tuple[str, int], list[np.ndarray]] = {}
    for rec in rs.recordings:
        starts, ends, raw = label_runs(rec.labels)
        for s, e, lab in zip(starts.tolist(), ends.tolist(), raw.tolist(), strict=True):
            if lab <= 0:
                continue
            code = lab - 1
            if code not in TRANSITIONS:
                s, e = s + trim, e - trim
            if e - s >= 4 * BLEND:
                runs.setdefault((rec.subject, code), []).append(rec.signals[s:e].astype(np.float32))
    rings = {k: tuple(_ring(r) for r in v) for k, v in runs.items() if k[1] not in TRANSITIONS}
    excerpts = {k: tuple(v) for k, v in runs.items() if k[1] in TRANSITIONS}
    return SignalBank(rings, excerpts)


@functools.lru_cache(maxsize=1)
def hapt_bank() -> SignalBank:
    return build_bank(hapt_test_recordings())


class SensorChunk(NamedTuple):
    t: float  # UTC epoch seconds of the first sample
    samples: np.ndarray  # (n, 6) float32: acc x/y/z (g), gyro x/y/z (rad/s), as HAPT
    activity: np.ndarray  # (n,) int8: the true activity of each sample (index into ACTIVITIES)


def _hash(a: np.ndarray, b: int) -> np.ndarray:
    """Cheap deterministic integer mix (splitmix64 finalizer): where a segment starts in its ring."""
    with np.errstate(over="ignore"):
        x = a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(b)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
    return x


def _render(
    bank: SignalBank, subject: str, code: int, seed: np.uint64, s: int, e: int, k: np.ndarray
) -> np.ndarray:
    """The segment [s, e) (samples) evaluated at samples ``k`` (which may lie a little outside it)."""
    choices = bank.of(subject, code)
    if code in TRANSITIONS:
        # the real transition whose length the timeline drew (it differs by the rounding to seconds)
        x = min(choices, key=lambda c: abs(len(c) - (e - s)))
        pos = np.clip((k - s) * (len(x) - 1) / max(e - s - 1, 1), 0, len(x) - 1)
        i = np.minimum(pos.astype(np.int64), len(x) - 2)
        f = (pos - i)[:, None].astype(np.float32)
        return x[i] * (1 - f) + x[i + 1] * f
    x = choices[int(seed % np.uint64(len(choices)))]
    offset = int((seed >> np.uint64(20)) % np.uint64(len(x)))
    return x[(offset + k - s) % len(x)]


def _bound(cohort: Cohort, when: int | dt.datetime | None, default: int) -> int:
    if when is None:
        return default
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            raise ValueError(f"{when} has no time zone; pass an aware datetime or a day index")
        return int(when.timestamp())
    return int(cohort.calendar.midnight[when])


def sensor_stream(
    cohort: Cohort,
    person: str,
    start: int | dt.datetime | None = 0,
    end: int | dt.datetime | None = None,
    *,
    chunk_s: float = 60.0,
    bank: SignalBank | None = None,
) -> Iterator[SensorChunk]:
    """Chunks of at most ``chunk_s`` of a person's raw stream between ``start`` and ``end`` (day indices,
    i.e. local midnights, or aware datetimes; default: the whole simulation), lazily, in time order."""
    bank = bank or hapt_bank()
    sl = cohort.rows(person)
    subject = cohort.bodies[cohort.index(person)]
    origin = int(cohort.calendar.midnight[0])
    seg_s = (cohort.start[sl] - origin) * RATE_HZ
    seg_e = (cohort.end[sl] - origin) * RATE_HZ
    act = cohort.activity[sl]
    if not len(act):
        return
    seeds = _hash(cohort.start[sl], cohort.config.seed * 1_000_003 + cohort.index(person))
    touch_prev = np.concatenate([[False], seg_s[1:] == seg_e[:-1]])
    touch_next = np.concatenate([seg_s[1:] == seg_e[:-1], [False]])
    a = (_bound(cohort, start, int(cohort.start[sl][0])) - origin) * RATE_HZ
    b = (_bound(cohort, end, int(cohort.end[sl][-1])) - origin) * RATE_HZ
    n_chunk = max(round(chunk_s * RATE_HZ), 1)

    # runs of touching segments: the stream has no samples between them
    run_first = np.flatnonzero(~touch_prev)
    run_last = np.flatnonzero(~touch_next)
    for r0, r1 in zip(seg_s[run_first].tolist(), seg_e[run_last].tolist(), strict=True):
        lo, hi = max(r0, a), min(r1, b)
        for c0 in range(lo, hi, n_chunk):
            c1 = min(c0 + n_chunk, hi)
            k = np.arange(c0, c1, dtype=np.int64)
            out = np.zeros((c1 - c0, 6), dtype=np.float32)
            labels = np.empty(c1 - c0, dtype=np.int8)
            first = int(np.searchsorted(seg_e, c0 - BLEND, "right"))
            last = int(np.searchsorted(seg_s, c1 + BLEND, "left"))
            for j in range(first, last):
                s, e = int(seg_s[j]), int(seg_e[j])
                ext_lo = s - BLEND if touch_prev[j] else s
                ext_hi = e + BLEND if touch_next[j] else e
                i0, i1 = max(ext_lo, c0), min(ext_hi, c1)
                if i1 <= i0:
                    continue
                kk = k[i0 - c0 : i1 - c0]
                w = np.ones(len(kk), dtype=np.float32)
                if touch_prev[j]:
                    w *= np.clip((kk - ext_lo + 0.5) / (2 * BLEND), 0, 1).astype(np.float32)
                if touch_next[j]:
                    w *= np.clip((ext_hi - kk - 0.5) / (2 * BLEND), 0, 1).astype(np.float32)
                out[i0 - c0 : i1 - c0] += w[:, None] * _render(bank, subject, int(act[j]), seeds[j], s, e, kk)
                inside0, inside1 = max(s, c0), min(e, c1)
                if inside1 > inside0:
                    labels[inside0 - c0 : inside1 - c0] = act[j]
            yield SensorChunk(origin + c0 / RATE_HZ, out, labels)


def write_frames(
    cohort: Cohort,
    person: str,
    start: int | dt.datetime | None,
    end: int | dt.datetime | None,
    out_dir: str | Path,
    chunk_s: float = 10.0,
) -> Path:
    """The stream between ``start`` and ``end`` (as in :func:`sensor_stream`) as the service's binary frames
    (``harflow.data.frames``), each preceded by its length (u32 little endian): what a device would send,
    ready for replay. A day is ~100 MB."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{person}.frames"
    with open(path, "wb") as f:
        for seq, chunk in enumerate(sensor_stream(cohort, person, start, end, chunk_s=chunk_s)):
            frame = encode_frame(seq, chunk.t, float(RATE_HZ), chunk.samples)
            f.write(FRAME_LEN.pack(len(frame)) + frame)
    return path


def read_frames(path: str | Path) -> Iterator[tuple[int, float, float, np.ndarray]]:
    """The frames of a :func:`write_frames` file: (seq, t0, rate, samples), as the service decodes them."""
    with open(path, "rb") as f:
        while head := f.read(FRAME_LEN.size):
            (n,) = FRAME_LEN.unpack(head)
            yield decode_frame(f.read(n))
