"""Large REST bodies are decoded in a process of their own.

A JSON decoder holds the GIL for the whole body, so a thread does not keep it off the event loop: decoding the
largest valid ``/v1/predict`` body (256 windows, 1.7 MB) took 11–24 ms alone and 100–200 ms on a core shared
with a flood of refused requests, and every stream of the process waited that long (issue 18, row 7 with the
attacker on another core). In a child process the kernel schedules the decode like any other work, in slices,
and the event loop runs between them. Small bodies, which decode in well under a millisecond, stay in the
calling thread: the round trip to the child would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

# bodies at least this large go to the child (about 10 windows of 128 x 6 values)
MIN_BYTES = 64 * 1024


class DecodePool:
    def __init__(self, threads: Executor | None = None, min_bytes: int = MIN_BYTES) -> None:
        self.threads, self.min_bytes = threads, min_bytes  # small bodies run on threads (None: default)
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:  # forkserver: the child does not inherit the server's threads and sockets
            self._pool = ProcessPoolExecutor(1, mp_context=mp.get_context("forkserver"))
        return self._pool

    async def run(self, fn, raw: bytes, *args: Any):
        """``fn(raw, *args)``: in the child for a large ``raw``, else on ``threads``. A child that died is
        replaced once."""
        loop = asyncio.get_running_loop()
        if len(raw) < self.min_bytes:
            return await loop.run_in_executor(self.threads, fn, raw, *args)
        try:
            return await loop.run_in_executor(self._executor(), fn, raw, *args)
        except BrokenProcessPool:
            self.close()
            return await loop.run_in_executor(self._executor(), fn, raw, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
