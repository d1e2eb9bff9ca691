"""Retention: raw per-window predictions are kept for ``retention_days``; older ones are compacted into
segments (runs of one smoothed activity), which are kept, as are events and daily metrics. Each device is
compacted in one transaction: its segments are inserted and its expired windows deleted together, so a
crash leaves either both or neither.

Age is the server's clock at storing (``created_at``), not the device's time: a device whose clock is not
Unix time (or is wrong) must not see its fresh windows compacted at once."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from harflow.serve.db.queries import merge_runs
from harflow.serve.db.tables import predictions, segments


def expire(engine: Engine, cutoff: float) -> dict[str, int]:
    """Compact every window stored before ``cutoff`` (the server's Unix time); returns counts."""
    p = predictions.c
    out = {"devices": 0, "windows": 0, "segments": 0}
    with engine.connect() as conn:
        devices = [r[0] for r in conn.execute(select(p.device_id).where(p.created_at < cutoff).distinct())]
    for device in devices:
        with engine.begin() as conn:
            rows = conn.execute(
                select(p.id, p.t_start, p.t_end, p.smoothed)
                .where(p.device_id == device, p.created_at < cutoff)
                .order_by(p.t_start, p.id)
            ).all()
            if not rows:
                continue
            runs = merge_runs([(r.t_start, r.t_end, r.smoothed, 1) for r in rows])
            conn.execute(insert(segments), [{"device_id": device, **s} for s in runs])
            conn.execute(
                delete(predictions).where(
                    p.device_id == device, p.id <= max(r.id for r in rows), p.created_at < cutoff
                )
            )
        out["devices"] += 1
        out["windows"] += len(rows)
        out["segments"] += len(runs)
    return out


def table_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in (predictions, segments)
        }
