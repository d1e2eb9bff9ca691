"""Durable history: predictions (one row per window, with the smoothed activity), events and device tokens.

SQLAlchemy 2 Core on SQLite (WAL) by default or PostgreSQL via ``HARFLOW_DATABASE_URL``; the schema is owned
by the Alembic migrations in ``harflow/serve/migrations``. Writes go through :class:`Writer`, which gathers
rows from all streams into one transaction and resolves each caller's future only after the commit — the
service sends a prediction or event to a client only then, so nothing acknowledged can be lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")

metadata = MetaData()
tokens = Table(
    "device_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("device_id", String(128), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
)
predictions = Table(
    "predictions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("t_start", Float, nullable=False),
    Column("t_end", Float, nullable=False),
    Column("activity", String(64), nullable=False),
    Column("smoothed", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("probabilities", Text, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_predictions_device_t", "device_id", "t_start"),
)
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("t", Float, nullable=False),
    Column("from_activity", String(64), nullable=True),
    Column("to_activity", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_events_device_t", "device_id", "t"),
)


def normalize_url(url: str) -> str:
    # psycopg 3 is the driver installed; plain postgresql:// would ask SQLAlchemy for psycopg2
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    _ensure_sqlite_dir(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _rec):  # WAL: readers never block the writer; NORMAL is crash-safe in WAL mode
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def migrate(url: str) -> None:
    """Bring the database to the newest schema (idempotent)."""
    from alembic import command
    from alembic.config import Config

    _ensure_sqlite_dir(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    command.upgrade(cfg, "head")


@dataclass
class Batch:
    predictions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.predictions) + len(self.events)


class Store:
    """Synchronous queries; the service calls them on its DB thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def write(self, batch: Batch) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            if batch.predictions:
                conn.execute(insert(predictions), [{**r, "created_at": now} for r in batch.predictions])
            if batch.events:
                conn.execute(insert(events), [{**r, "created_at": now} for r in batch.events])

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def add_token(self, device_id: str, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(tokens).values(token_hash=token_hash, device_id=device_id, created_at=time.time())
            )

    def token_device(self, token_hash: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(tokens.c.device_id).where(tokens.c.token_hash == token_hash)).scalar()

    def prediction_rows(
        self, device_id: str, t_from: float | None = None, t_to: float | None = None, limit: int = 100_000
    ) -> list[dict[str, Any]]:
        q = select(predictions).where(predictions.c.device_id == device_id)
        if t_from is not None:
            q = q.where(predictions.c.t_end >= t_from)
        if t_to is not None:
            q = q.where(predictions.c.t_start <= t_to)
        q = q.order_by(predictions.c.t_start, predictions.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def timeline(self, device_id: str, t_from: float | None = None, t_to: float | None = None) -> list[dict]:
        """Runs of the same smoothed activity, as segments."""
        segs: list[dict] = []
        for r in self.prediction_rows(device_id, t_from, t_to):
            if segs and segs[-1]["activity"] == r["smoothed"] and r["t_start"] <= segs[-1]["t_end"] + 1e-6:
                segs[-1]["t_end"] = r["t_end"]
                segs[-1]["windows"] += 1
            else:
                segs.append(
                    {"activity": r["smoothed"], "t_start": r["t_start"], "t_end": r["t_end"], "windows": 1}
                )
        return segs

    def events(
        self, device_id: str, t_from: float | None = None, t_to: float | None = None, limit: int = 100_000
    ) -> list[dict[str, Any]]:
        q = select(events).where(events.c.device_id == device_id)
        if t_from is not None:
            q = q.where(events.c.t >= t_from)
        if t_to is not None:
            q = q.where(events.c.t <= t_to)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(events.c.t, events.c.id).limit(limit))
            return [dict(r._mapping) for r in rows]

    def close(self) -> None:
        self.engine.dispose()


def prediction_row(
    device_id: str,
    seq: int,
    t_start: float,
    t_end: float,
    labels: list[str],
    probs,
    smoothed: str,
    version: str,
) -> dict[str, Any]:
    k = int(probs.argmax())
    return {
        "device_id": device_id,
        "seq": seq,
        "t_start": float(t_start),
        "t_end": float(t_end),
        "activity": labels[k],
        "smoothed": smoothed,
        "probability": float(probs[k]),
        "probabilities": json.dumps([round(float(p), 6) for p in probs]),
        "model_version": version,
    }


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

    async def write(self, batch: Batch) -> None:
        if self.task is None or self.task.done():
            raise RuntimeError("the store writer is not running")
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((batch, fut))
        await fut

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
                await loop.run_in_executor(self.pool, self.store.write, merged)
            except Exception as e:  # the callers learn their rows are not stored and acknowledge nothing
                log.exception("database write of %d rows failed", len(merged))
                for _, f in items:
                    if not f.done():
                        f.set_exception(e)
                continue
            if self.on_commit:
                self.on_commit(len(merged), time.perf_counter() - t)
            for _, f in items:
                if not f.done():
                    f.set_result(None)

    async def close(self) -> None:
        """Flush everything queued, then stop."""
        if self.task and not self.task.done():
            await self.queue.put(None)
            await self.task
        self.pool.shutdown(wait=True)
