"""Durable history: predictions (one row per window, with the smoothed activity), events and device tokens.

Synchronous queries; the service calls them on its DB thread. Writes from streams go through
:class:`harflow.serve.db.writer.Writer`, which commits before anything is acknowledged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from sqlalchemy import insert, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from harflow.serve.db.session import make_engine
from harflow.serve.db.tables import events, predictions, segments, tokens


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

    def write(self, batch: Batch) -> dict[tuple[str, float], dict[str, Any]]:
        """Store the batch in one transaction; a window is stored once per (device, t_start) and an event once
        per (device, type, t), however often it arrives. Returns the stored rows of the windows that were
        already there (a resend, or a second connection of the device), keyed by (device_id, t_start)."""
        now = time.time()
        with self.engine.begin() as conn:
            earlier: dict[tuple[str, float], dict[str, Any]] = {}
            if batch.predictions and _returns_inserted(conn):
                earlier = self._insert_windows(conn, batch.predictions, now)
            elif batch.predictions:
                earlier = self._stored_windows(conn, batch.predictions)
                fresh: dict[tuple[str, float], dict[str, Any]] = {}
                for r in batch.predictions:
                    k = (r["device_id"], r["t_start"])
                    if k in earlier:
                        continue
                    if k in fresh:  # twice in this very batch: the first one is what is stored
                        earlier[k] = fresh[k]
                    else:
                        fresh[k] = r
                if fresh:
                    rows = [{**r, "created_at": now} for r in fresh.values()]
                    conn.execute(_insert_ignore(conn, predictions, ("device_id", "t_start")), rows)
            if batch.events:
                rows = {(e["device_id"], e["type"], e["t"]): {**e, "created_at": now} for e in batch.events}
                conn.execute(_insert_ignore(conn, events, ("device_id", "type", "t")), list(rows.values()))
            return earlier

    def _insert_windows(self, conn, rows: list[dict[str, Any]], now: float) -> dict:
        """Insert-or-ignore, learning from RETURNING which windows were new; only the others (resends, a
        second connection) are read back. The same answer as selecting before inserting, without a
        row-value ``IN`` query per group commit: that query was about two thirds of the store's CPU."""
        fresh: dict[tuple[str, float], dict[str, Any]] = {}
        repeated: set[tuple[str, float]] = set()
        for r in rows:
            k = (r["device_id"], r["t_start"])
            if k in fresh:  # twice in this very batch: the first one is what is stored
                repeated.add(k)
            else:
                fresh[k] = r
        q = _insert_ignore(conn, predictions, ("device_id", "t_start")).returning(
            predictions.c.device_id, predictions.c.t_start
        )
        inserted = {(d, t) for d, t in conn.execute(q, [{**r, "created_at": now} for r in fresh.values()])}
        earlier = {k: fresh[k] for k in repeated if k in inserted}
        stored_before = [fresh[k] for k in fresh if k not in inserted]
        if stored_before:
            earlier.update(self._stored_windows(conn, stored_before))
        return earlier

    @staticmethod
    def _stored_windows(conn, rows: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
        keys = list({(r["device_id"], r["t_start"]) for r in rows})
        out: dict[tuple[str, float], dict[str, Any]] = {}
        for i in range(0, len(keys), 400):  # bound the statement's parameters (SQLite allows 32,766)
            q = select(predictions).where(
                tuple_(predictions.c.device_id, predictions.c.t_start).in_(keys[i : i + 400])
            )
            for r in conn.execute(q):
                out[(r.device_id, r.t_start)] = dict(r._mapping)
        return out

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
        from harflow.serve.db.tokens import Tokens

        return Tokens(self.engine).device_of(token_hash)

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
        """Runs of the same smoothed activity, as segments: the stored windows, and the segments kept for
        the time whose windows have expired (retention)."""
        q = select(segments.c.t_start, segments.c.t_end, segments.c.activity, segments.c.windows).where(
            segments.c.device_id == device_id
        )
        if t_from is not None:
            q = q.where(segments.c.t_end >= t_from)
        if t_to is not None:
            q = q.where(segments.c.t_start <= t_to)
        with self.engine.connect() as conn:
            kept = [tuple(r) for r in conn.execute(q)]
        rows = [
            (r["t_start"], r["t_end"], r["smoothed"], 1)
            for r in self.prediction_rows(device_id, t_from, t_to)
        ]
        return merge_runs(sorted(kept + rows))

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


def merge_runs(rows: list[tuple[float, float, str, int]]) -> list[dict]:
    """(t_start, t_end, activity, windows) in time order → runs of one activity over touching or overlapping
    windows (consecutive windows overlap by half)."""
    segs: list[dict] = []
    for t0, t1, act, n in rows:
        if segs and segs[-1]["activity"] == act and t0 <= segs[-1]["t_end"] + 1e-6:
            segs[-1]["t_end"] = max(segs[-1]["t_end"], t1)
            segs[-1]["windows"] += n
        else:
            segs.append({"activity": act, "t_start": t0, "t_end": t1, "windows": n})
    return segs


def _returns_inserted(conn) -> bool:
    """Whether an executemany INSERT … ON CONFLICT DO NOTHING can return the rows it inserted (SQLite ≥ 3.35
    and PostgreSQL through SQLAlchemy's insertmanyvalues)."""
    return conn.dialect.name in ("sqlite", "postgresql") and bool(conn.dialect.insert_executemany_returning)


def _insert_ignore(conn, table, unique: tuple[str, ...]):
    """INSERT that skips rows violating the unique key ``unique`` (SQLite and PostgreSQL alike)."""
    dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(conn.dialect.name)
    if dialect is None:
        return insert(table)
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(unique))


class InvalidRow(ValueError):
    """A row the database would refuse: it is failed alone, before it can join a shared commit."""


def check_prediction_row(row: dict[str, Any]) -> None:
    for k in ("t_start", "t_end", "probability"):
        if not math.isfinite(row[k]):
            raise InvalidRow(f"{k} is {row[k]}")
    if not 0 <= row["seq"] < 2**63:
        raise InvalidRow(f"seq {row['seq']} is outside [0, 2^63)")


def rounded_probabilities(probs) -> list[float]:
    """The probabilities as stored and sent: Python floats rounded to 6 decimals."""
    return [round(v, 6) for v in np.asarray(probs).tolist()]


def prediction_row(
    device_id: str,
    seq: int,
    t_start: float,
    t_end: float,
    labels: list[str],
    probs,
    smoothed: str,
    version: str,
    rounded: list[float] | None = None,
) -> dict[str, Any]:
    """A ``predictions`` row; ``rounded`` is :func:`rounded_probabilities` of ``probs`` when the caller has
    it already (the stream path sends the same numbers)."""
    k = int(probs.argmax())
    return {
        "device_id": device_id,
        "seq": seq,
        "t_start": float(t_start),
        "t_end": float(t_end),
        "activity": labels[k],
        "smoothed": smoothed,
        "probability": float(probs[k]),
        "probabilities": orjson.dumps(rounded_probabilities(probs) if rounded is None else rounded).decode(),
        "model_version": version,
    }
