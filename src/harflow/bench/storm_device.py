"""A device that follows the documented client contract (docs/serving.md, *Reconnecting*), for the restart
storm of ``harflow loadtest --storm``:

1. every chunk is kept until all the windows it completes are answered;
2. when the connection drops, it reconnects with exponential back-off (0.5 s doubling to 30 s, with jitter);
3. it resends the unanswered chunks in ``seq`` order with their original ``seq`` and ``t0``, starting from the
   chunk that begins at the next window's start (``t_start`` of the last answered window + hop), so the new
   connection's windows fall on the same times;
4. windows stored before come back marked ``"stored": "earlier"`` and count as answered.

Sensor time keeps running while the device is disconnected: chunks produced meanwhile wait to be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field

import numpy as np
import orjson
import websockets

from harflow.bench.loadtest import connect_stream
from harflow.data.frames import encode_frame
from harflow.data.windows import WindowSpec, window_starts


@dataclass
class StormDevice:
    name: str
    signals: np.ndarray
    answered: dict[int, float] = field(default_factory=dict)  # window index → wall time of its answer
    sent_at: dict[int, float] = field(default_factory=dict)  # chunk index → wall time of its latest send
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (wall time answered, ms)
    produced: int = 0  # chunks produced so far (sensor time)
    connects: int = 0
    errors: list[str] = field(default_factory=list)
    reconnect_s: list[float] = field(default_factory=list)  # disconnect → next successful connect


def backoff_delays(base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None):
    """0.5, 1, 2, … up to ``cap`` seconds, each scaled by a random factor in [0.5, 1] (jitter: a fleet that
    lost its server together does not come back in lockstep)."""
    rng = rng or random.Random()
    d = base
    while True:
        yield d * rng.uniform(0.5, 1.0)
        d = min(cap, d * 2)


def first_unanswered_window(answered: dict[int, float]) -> int:
    w = 0
    while w in answered:
        w += 1
    return w


async def run_storm_device(
    d: StormDevice,
    url: str,
    key: str,
    spec: WindowSpec,
    t_begin: float,
    duration: float,
    speed: float,
    chunk: int,
    binary: bool,
    drain_s: float = 60.0,
    backoff_cap_s: float = 30.0,
) -> None:
    """Produce chunks in real time from ``t_begin`` (loop clock) for ``duration`` s; keep a connection up
    through server restarts; return once every window of the produced chunks is answered (or ``drain_s`` after
    the end)."""
    loop = asyncio.get_running_loop()
    rate, hop, L = spec.rate_hz, spec.hop, spec.length
    if hop % chunk:
        raise ValueError(
            f"a chunk of {chunk} samples does not divide the hop of {hop}: resends need aligned starts"
        )
    n_chunks = int(duration * speed * rate) // chunk
    n_chunks = min(n_chunks, len(d.signals) // chunk)
    due_windows = len(window_starts(n_chunks * chunk, spec))
    produced = asyncio.Event()

    async def clock() -> None:  # the sensor: a chunk is ready every chunk/rate s of device time
        for k in range(n_chunks):
            await asyncio.sleep(max(0.0, t_begin + (k + 1) * chunk / rate / speed - loop.time()))
            d.produced = k + 1
            produced.set()

    def message(k: int):
        lo = k * chunk
        x = d.signals[lo : lo + chunk]
        if binary:
            return encode_frame(k, lo / rate, rate, x)
        return orjson.dumps({"seq": k, "t0": lo / rate, "rate": rate, "samples": x.tolist()}).decode()

    async def receive(ws) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):  # the sender sees rx done and reconnects
            await _receive(ws)

    async def _receive(ws) -> None:
        async for raw in ws:
            now = time.time()
            msg = orjson.loads(raw)
            for m in msg if isinstance(msg, list) else [msg]:
                if m.get("type") == "prediction":
                    w = round(m["t_start"] * rate / hop)
                    if w not in d.answered:
                        d.answered[w] = now
                        sent = d.sent_at.get((w * hop + L - 1) // chunk)
                        if sent is not None:
                            d.latencies.append((now, (now - sent) * 1000))
                elif m.get("type") == "error":
                    d.errors.append(f"{m['kind']}: {m['message']}"[:200])

    sensor = asyncio.create_task(clock())
    delays = backoff_delays(cap=backoff_cap_s)
    lost_at: float | None = None
    end = t_begin + duration + drain_s
    try:
        while len(d.answered) < due_windows and loop.time() < end:
            try:
                async with connect_stream(url, d.name, key, open_timeout=30) as ws:
                    d.connects += 1
                    if lost_at is not None:
                        d.reconnect_s.append(time.time() - lost_at)
                        lost_at = None
                    delays = backoff_delays(cap=backoff_cap_s)  # a good connection resets the back-off
                    rx = asyncio.create_task(receive(ws))
                    # resend from the chunk that starts the first unanswered window (on the window grid)
                    k = first_unanswered_window(d.answered) * hop // chunk
                    while len(d.answered) < due_windows and loop.time() < end:
                        if k < d.produced:
                            d.sent_at[k] = time.time()
                            await ws.send(message(k))
                            k += 1
                            continue
                        if rx.done():
                            break
                        produced.clear()
                        waiter = asyncio.ensure_future(produced.wait())
                        await asyncio.wait({waiter, rx}, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
                        waiter.cancel()
                    rx.cancel()
                    if len(d.answered) >= due_windows:
                        return
                    raise ConnectionError("the connection closed")
            except (OSError, websockets.WebSocketException, ConnectionError, TimeoutError):
                if lost_at is None and d.connects:  # the connection was lost now, not on a retry
                    lost_at = time.time()
                await asyncio.sleep(next(delays))
    finally:
        sensor.cancel()
