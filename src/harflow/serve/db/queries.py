"""Durable history: predictions (one row per window, with the smoothed activity), events and device tokens.

Synchronous queries; the service calls them on its DB thread. Writes from streams go through
:class:`harflow.serve.db.writer.Writer`, which commits before anything is acknowledged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, text

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
