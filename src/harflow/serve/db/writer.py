"""Group commits: rows from every stream are gathered into one transaction, and each caller's future resolves
only after the commit. The service sends a prediction or event to a client only then, so nothing
acknowledged can be lost. A failed group commit is retried one caller at a time, so rows one stream got
wrong fail that stream only."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from harflow.serve.db.queries import Batch, Store

log = logging.getLogger("harflow.serve.db")


class Writer:
    """Group commits: rows from every stream are gathered for up to ``wait_s`` / ``max_rows`` and written in
    one transaction on a dedicated thread; ``await write(batch)`` returns once they are committed."""

    def __init__(self, store: Store, max_rows: int = 512, wait_s: float = 0.01, on_commit=None) -> None:
        self.store, self.max_rows, self.wait_s = store, max_rows, wait_s
        self.on_commit = on_commit
        self.queue: asyncio.Queue[tuple[Batch, asyncio.Future] | None] = asyncio.Queue()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="harflow-db")
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def write(self, batch: Batch) -> dict:
        """Commit ``batch``; returns the stored rows of windows that were already stored (Store.write)."""
        if self.task is None or self.task.done():
            raise RuntimeError("the store writer is not running")
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((batch, fut))
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = False
        while not stop:
            item = await self.queue.get()
            if item is None:
                break
            items = [item]
            n = len(item[0])
            deadline = loop.time() + self.wait_s
            while n < self.max_rows:
                try:
                    if loop.time() >= deadline:
                        nxt = self.queue.get_nowait()
                    else:  # asyncio.timeout rather than wait_for: no Task per queued write
                        async with asyncio.timeout_at(deadline):
                            nxt = await self.queue.get()
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
                n += len(nxt[0])
            merged = Batch(
                [r for b, _ in items for r in b.predictions], [r for b, _ in items for r in b.events]
            )
            t = time.perf_counter()
            try:
                earlier = await loop.run_in_executor(self.pool, self.store.write, merged)
            except Exception as e:
                if len(items) == 1:  # the caller learns its rows are not stored and acknowledges nothing
                    log.exception("database write of %d rows failed", len(merged))
                    self._fail(items[0][1], e)
                    continue
                # one caller's rows must not fail the others': each caller's rows in a transaction of its own
                log.warning(
                    "group commit of %d rows failed; its %d parts one by one", len(merged), len(items)
                )
                await self._one_by_one(items, loop)
                continue
            if self.on_commit:
                self.on_commit(len(merged), time.perf_counter() - t)
            for b, f in items:
                if not f.done():
                    f.set_result(_own(earlier, b))

    async def _one_by_one(self, items, loop) -> None:
        for b, f in items:
            t = time.perf_counter()
            try:
                earlier = await loop.run_in_executor(self.pool, self.store.write, b)
            except Exception as e:  # this caller learns its rows are not stored and acknowledges nothing
                log.exception("database write of %d rows failed", len(b))
                self._fail(f, e)
                continue
            if self.on_commit:
                self.on_commit(len(b), time.perf_counter() - t)
            if not f.done():
                f.set_result(_own(earlier, b))

    @staticmethod
    def _fail(f: asyncio.Future, e: BaseException) -> None:
        if not f.done():
            f.set_exception(e)

    async def close(self) -> None:
        """Flush everything queued, then stop."""
        if self.task and not self.task.done():
            await self.queue.put(None)
            await self.task
        self.pool.shutdown(wait=True)


def _own(earlier: dict, b: Batch) -> dict:
    """The part of a group commit's already-stored rows that belongs to one caller's batch."""
    if not earlier:
        return {}
    return {k: earlier[k] for r in b.predictions if (k := (r["device_id"], r["t_start"])) in earlier}
