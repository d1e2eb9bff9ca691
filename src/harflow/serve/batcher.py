"""Cross-stream micro-batching: windows from every stream and REST call share one bounded queue and are run
through the model in batches of up to ``max_batch``, waiting at most ``max_wait_s`` for a batch to fill.

A full queue is an explicit :class:`Busy` for the caller — never a silent drop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class Busy(RuntimeError):
    """The inference queue is full; the client should back off and retry."""


class Batcher:
    def __init__(
        self,
        backend_of: Callable[[], object],
        max_batch: int = 64,
        max_wait_s: float = 0.005,
        depth: int = 4096,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.backend_of = backend_of  # called per batch, so a hot-reloaded model takes effect at once
        self.max_batch, self.max_wait_s, self.depth = max_batch, max_wait_s, depth
        self.on_batch = on_batch
        self.pending: deque[tuple[np.ndarray, asyncio.Future]] = deque()
        self.queued = 0  # windows waiting
        self.wakeup = asyncio.Event()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="harflow-infer")
        self.task: asyncio.Task | None = None
        self.closing = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, X: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) for raw windows (N, L, C). Raises :class:`Busy` when the queue is full."""
        if self.closing:
            raise Busy("the service is shutting down")
        n = len(X)
        if self.queued + n > self.depth:
            raise Busy(f"inference queue full ({self.queued} windows waiting, limit {self.depth})")
        loop = asyncio.get_running_loop()
        futs = []
        for i in range(0, n, self.max_batch):  # larger requests are split so max_batch always holds
            f = loop.create_future()
            self.pending.append((X[i : i + self.max_batch], f))
            futs.append(f)
        self.queued += n
        self.wakeup.set()
        parts = await asyncio.gather(*futs)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                if self.closing:
                    return
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            if self.queued < self.max_batch and self.max_wait_s > 0 and not self.closing:
                # give other streams a moment to add to this batch
                deadline = loop.time() + self.max_wait_s
                while self.queued < self.max_batch and loop.time() < deadline:
                    self.wakeup.clear()
                    try:
                        await asyncio.wait_for(self.wakeup.wait(), deadline - loop.time())
                    except TimeoutError:
                        break
            items, n = [], 0
            while self.pending and n + len(self.pending[0][0]) <= self.max_batch:
                X, f = self.pending.popleft()
                items.append((X, f))
                n += len(X)
            self.queued -= n
            X = np.concatenate([x for x, _ in items]) if len(items) > 1 else items[0][0]
            backend = self.backend_of()
            t = time.perf_counter()
            try:
                probs = await loop.run_in_executor(self.pool, backend.predict_proba, X)
            except Exception as e:
                for _, f in items:
                    if not f.done():
                        f.set_exception(e)
                continue
            if self.on_batch:
                self.on_batch(n, time.perf_counter() - t)
            i = 0
            for x, f in items:
                if not f.done():
                    f.set_result(probs[i : i + len(x)])
                i += len(x)

    async def close(self) -> None:
        """Finish every queued window, then stop."""
        self.closing = True
        self.wakeup.set()
        if self.task:
            await self.task
        self.pool.shutdown(wait=True)
