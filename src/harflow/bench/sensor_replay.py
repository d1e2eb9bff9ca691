"""Replay simulated persons' raw sensor streams through a running service, every person on its own
WebSocket at once, as fast as the service answers (accelerated replay): the client side of
``harflow bench patterns-e2e``.

Each stream keeps at most ``inflight`` windows unanswered (it counts the windows its chunks complete exactly
as the service's stream buffer does, gaps included), so the service's batcher never has to refuse windows
with back-pressure and no window of the week is lost to the client outrunning it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from harflow.bench.loadtest import connect_stream
from harflow.data.frames import encode_frame
from harflow.data.windows import WindowSpec, window_starts
from harflow.patterns.sensor_stream import RATE_HZ, SensorChunk

MAX_GAP_S = 5.0  # the service's default HARFLOW_MAX_GAP_S: a longer gap restarts its window buffer


@dataclass
class Replay:
    """One device's replay: what was sent and what came back."""

    device: str
    chunks: Iterator[SensorChunk]
    samples: int = 0
    expected: int = 0  # windows the chunks sent so far complete
    t_start: list[float] = field(default_factory=list)  # per answered window
    activity: list[str] = field(default_factory=list)  # the model's top class
    smoothed: list[str] = field(default_factory=list)  # what the service stores and analyses
    busy: int = 0
    errors: list[str] = field(default_factory=list)
    first_sent: float | None = None
    last_answer: float | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def windows(self) -> int:
        return len(self.t_start)


class _WindowCount:
    """Windows completed by the samples sent so far, following the service's buffer (reset after a gap)."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec, self.done, self.run, self.last_t = spec, 0, 0, None

    def add(self, t0: float, n: int) -> int:
        if self.last_t is not None and t0 - self.last_t > MAX_GAP_S:
            self.done += len(window_starts(self.run, self.spec))
            self.run = 0
        self.run += n
        self.last_t = t0 + (n - 1) / RATE_HZ
        return self.done + len(window_starts(self.run, self.spec))


async def replay_device(
    r: Replay,
    url: str,
    key: str,
    spec: WindowSpec,
    inflight: int,
    on_answer: Callable[[int], None] | None = None,
    drain_s: float = 120.0,
) -> None:
    count = _WindowCount(spec)
    try:
        async with connect_stream(url, r.device, key) as ws:
            recv = asyncio.create_task(_receive(ws, r, on_answer))
            for seq, chunk in enumerate(r.chunks):
                while r.expected - r.windows - r.busy > inflight:
                    if recv.done():
                        raise ConnectionError("the service closed the stream with windows unanswered")
                    r.answered.clear()
                    try:
                        await asyncio.wait_for(r.answered.wait(), drain_s)
                    except TimeoutError:
                        raise TimeoutError(f"{r.device}: no answer for {drain_s:g} s") from None
                await ws.send(encode_frame(seq, chunk.t, float(RATE_HZ), chunk.samples))
                r.first_sent = r.first_sent or time.perf_counter()
                r.samples += len(chunk.samples)
                r.expected = count.add(chunk.t, len(chunk.samples))
            deadline = time.perf_counter() + drain_s
            while r.windows + r.busy < r.expected and time.perf_counter() < deadline and not recv.done():
                r.answered.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(r.answered.wait(), 1.0)
            recv.cancel()
    except Exception as e:  # this device's failure is reported with the results, not a crash of the run
        r.errors.append(f"{type(e).__name__}: {e}")


async def _receive(ws, r: Replay, on_answer: Callable[[int], None] | None) -> None:
    async for raw in ws:
        msg = json.loads(raw)
        n = 0
        for m in msg if isinstance(msg, list) else [msg]:
            t = m.get("type")
            if t == "prediction":
                r.t_start.append(m["t_start"])
                r.activity.append(m["activity"])
                r.smoothed.append(m["smoothed"])
                n += 1
            elif t == "error":
                if m["kind"] == "busy":
                    r.busy += len(m.get("t_start", []))
                else:
                    r.errors.append(f"{m['kind']}: {m['message']}")
        r.last_answer = time.perf_counter()
        if n and on_answer:
            on_answer(n)
        r.answered.set()


def replay_summary(replays: list[Replay], spec: WindowSpec) -> dict:
    """Throughput over the span from the first chunk sent to the last answer, and the replay speed-up
    (device time streamed per wall second)."""
    first = min((r.first_sent for r in replays if r.first_sent), default=0.0)
    last = max((r.last_answer for r in replays if r.last_answer), default=first)
    span = max(last - first, 1e-9)
    windows = sum(r.windows for r in replays)
    device_s = sum(r.samples for r in replays) / spec.rate_hz
    return {
        "devices": len(replays),
        "windows": windows,
        "expected_windows": sum(r.expected for r in replays),
        "busy_windows": sum(r.busy for r in replays),
        "errors": sorted({e for r in replays for e in r.errors})[:5],
        "streamed_hours": device_s / 3600,
        "wall_s": span,
        "windows_per_s": windows / span,
        "speedup": device_s / span,
    }


def windows_arrays(r: Replay) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.asarray(r.t_start, np.float64), np.asarray(r.activity), np.asarray(r.smoothed)
