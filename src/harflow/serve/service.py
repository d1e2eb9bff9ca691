"""The service's long-lived state: model + backend (hot-reloadable), batcher, store writer, auth, metrics."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from harflow.memory import tune_malloc
from harflow.models import checkpoint
from harflow.models.predictor import Predictor
from harflow.patterns import transitions
from harflow.patterns.online import TransitionModel
from harflow.serve.auth import Authenticator
from harflow.serve.backends import make_backend
from harflow.serve.batcher import Batcher
from harflow.serve.core.config import Settings
from harflow.serve.db.alerts import Alerts
from harflow.serve.db.analytics import Analytics
from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import Store
from harflow.serve.db.tokens import Tokens
from harflow.serve.db.writer import Writer
from harflow.serve.decode_pool import DecodePool
from harflow.serve.live_patterns import LivePatterns
from harflow.serve.metrics import Metrics
from harflow.serve.ratelimit import Buckets
from harflow.serve.tasks import cancel
from harflow.serve.webhooks import Deliverer

log = logging.getLogger("harflow.serve")


class Model:
    """Everything that changes together on a hot reload. All of it comes from the run dir (model.pt,
    transitions.json, model.onnx): the service never loads training data."""

    def __init__(self, run_dir: str, backend: str, threads: int, max_batch: int = 64) -> None:
        self.pred = Predictor.load(run_dir)
        digest = hashlib.sha256(checkpoint.resolve(run_dir).read_bytes()).hexdigest()[:10]
        self.version = f"{self.pred.version}#{digest}"
        self.labels = list(self.pred.labels)
        self.spec = self.pred.spec
        self.transitions: TransitionModel = transitions.load(run_dir, self.labels)
        self.backend = make_backend(self.pred, run_dir, backend, threads, max_batch)
        for n in (1, 8):  # warm-up: first calls of a backend are slow, and must not hit the first clients
            self.backend.predict_proba(np.zeros((n, self.spec.length, len(self.spec.channels)), np.float32))


class Limits:
    """Per-key token buckets of this process: REST requests, stream messages, and windows (REST and streams
    together)."""

    def __init__(self, s: Settings) -> None:
        self.requests = Buckets(s.rate_limit_rps, s.rate_limit_burst, "requests")
        self.messages = Buckets(s.rate_limit_messages_per_s, s.rate_limit_messages_burst, "messages")
        self.windows = Buckets(s.rate_limit_windows_per_s, s.rate_limit_windows_burst, "windows")


class Service:
    def __init__(self, settings: Settings) -> None:
        if not settings.model:
            raise ValueError("no model to serve: pass --model RUN_DIR or set HARFLOW_MODEL")
        self.settings = settings
        tune_malloc()  # batched inference allocates the same buffers every batch (see harflow.memory)
        self.metrics = Metrics()
        self.store = Store(settings.database())
        self.persons = Persons(self.store.engine)
        self.alerts = Alerts(self.store.engine)
        self.analytics = Analytics(self.store.engine)
        self.tokens = Tokens(self.store.engine)
        self.auth = Authenticator(
            settings.auth, settings.admin_keys, self.tokens.device_of, settings.token_cache_s
        )
        self.model = Model(settings.model, settings.backend, settings.threads, settings.max_batch)
        self.limits = Limits(settings)
        self.streams_per_key: dict[str, int] = {}
        self.active: set[str] = set()
        self.aux = ThreadPoolExecutor(2, thread_name_prefix="harflow-aux")  # auth lookups, reads
        self.decoder = DecodePool(self.aux)  # REST bodies: large ones in a child process
        self.batcher: Batcher | None = None
        self.writer: Writer | None = None
        self.deliverer: Deliverer | None = None
        self.patterns_task: asyncio.Task | None = None
        self.live: LivePatterns | None = None
        self.draining = False

    async def start(self) -> None:
        m = self.metrics
        s = self.settings

        def on_batch(n: int, dt: float) -> None:
            m.batch.observe(n)
            m.inference.observe(dt)
            m.queue.set(self.batcher.queued if self.batcher else 0)

        self.batcher = Batcher(
            lambda: self.model.backend, s.max_batch, s.max_wait_ms / 1000, s.queue_depth, on_batch
        )
        self.writer = Writer(
            self.store, s.write_batch, s.write_wait_ms / 1000, on_commit=lambda n, dt: m.commit.observe(dt)
        )
        self.batcher.start()
        self.writer.start()
        if s.webhook_targets():
            self.deliverer = Deliverer(
                self.alerts,
                s.webhook_secret,
                self.off_loop,
                timeout_s=s.webhook_timeout_s,
                base_s=s.webhook_retry_base_s,
                cap_s=s.webhook_retry_cap_s,
                on_result=lambda ok: m.deliveries.labels("delivered" if ok else "failed").inc(),
            )
            self.deliverer.start()
        self.live = LivePatterns(self)
        self.live.start()
        if s.patterns_interval_s > 0:
            self.patterns_task = asyncio.get_running_loop().create_task(self._patterns_loop())
        # What is loaded by now (libraries, app, model) lives as long as the process. Frozen out of the
        # collector's generations, it is no longer walked by every full collection, which paused the event
        # loop often enough to set the p99 of 600-800 streaming devices (docs/notes/serving-capacity.md).
        gc.collect()
        gc.freeze()
        log.info(
            "serving %s (%s backend, %d classes, window %s)",
            self.model.version,
            self.model.backend.name,
            len(self.model.labels),
            self.model.spec,
        )

    async def stop(self) -> None:
        """Graceful shutdown: finish queued inference, then flush pending writes."""
        self.draining = True
        await cancel(self.patterns_task)
        if self.live:
            await self.live.close()
        if self.deliverer:  # undelivered alerts stay in the outbox for the next start
            await self.deliverer.close()
        if self.batcher:
            await self.batcher.close()
        if self.writer:
            await self.writer.close()
        self.aux.shutdown(wait=True)
        self.decoder.close()
        self.store.close()
        log.info("drained and stopped")

    async def _patterns_loop(self) -> None:
        """The patterns job over this service's store, every ``patterns_interval_s``, on a thread of its own
        (it is CPU work that must not hold up streams' reads); new alerts are delivered at once."""
        from harflow.serve.db.retention import expire
        from harflow.serve.patterns_job import JobConfig, repos_of, run

        s = self.settings
        pool = ThreadPoolExecutor(1, thread_name_prefix="harflow-patterns")
        loop = asyncio.get_running_loop()
        repos = repos_of(self.store.engine, s)
        cfg = JobConfig(inactivity=False)  # streams' inactivity is decided live (LivePatterns)
        try:
            while True:
                try:
                    res = await loop.run_in_executor(pool, lambda: run(repos, cfg=cfg))
                    await loop.run_in_executor(
                        pool, expire, self.store.engine, time.time() - s.retention_days * 86400
                    )
                    if res["alerts"] and self.deliverer:
                        self.deliverer.kick()
                    log.info("patterns job: %s", res)
                except Exception:  # the next pass retries; nothing was acknowledged that is lost
                    log.exception("patterns job failed")
                await asyncio.sleep(s.patterns_interval_s)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    async def off_loop(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.aux, fn, *args)

    async def reload(self) -> str:
        """Load the model again from its run dir (e.g. after retraining in place); swaps atomically."""
        s = self.settings
        self.model = await self.off_loop(Model, s.model, s.backend, s.threads, s.max_batch)
        log.info("reloaded model: %s", self.model.version)
        return self.model.version
