"""Alerts and their delivery outbox.

An alert and one delivery row per webhook target are written in one transaction: a committed alert is
delivered at least once (the deliverer retries from the outbox across restarts) and never silently dropped.
An alert's identity is (person, kind, metric, onset): re-running the analytics over the same data finds the
same alerts and stores each once.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.engine import Engine

from harflow.serve.db.tables import alert_deliveries, alerts

SEVERITY = {"inactivity": "urgent", "routine_deviation": "high", "step_change": "medium", "drift": "low"}


def _row(r) -> dict[str, Any]:
    d = dict(r._mapping)
    d["evidence"] = json.loads(d["evidence"])
    return d


class Alerts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, person_id: str, found: list[dict[str, Any]], targets: list[str]) -> list[dict[str, Any]]:
        """Store the alerts not stored before (with an outbox row per target); returns those newly stored."""
        if not found:
            return []
        now = time.time()
        keys = {(person_id, a["kind"], a["metric"], a["onset"]) for a in found}
        new: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            c = alerts.c
            have = set(
                conn.execute(
                    select(c.person_id, c.kind, c.metric, c.onset).where(
                        tuple_(c.person_id, c.kind, c.metric, c.onset).in_(list(keys))
                    )
                ).all()
            )
            for a in found:
                key = (person_id, a["kind"], a["metric"], a["onset"])
                if key in have:
                    continue
                have.add(key)
                row = {
                    "person_id": person_id,
                    "kind": a["kind"],
                    "metric": a["metric"],
                    "direction": a["direction"],
                    "onset": a["onset"],
                    "detected": a["detected"],
                    "magnitude": a.get("magnitude"),
                    "severity": a.get("severity") or SEVERITY.get(a["kind"], "medium"),
                    "evidence": json.dumps(a.get("evidence") or {}),
                    "created_at": now,
                }
                alert_id = conn.execute(insert(alerts).values(**row)).inserted_primary_key[0]
                stored = {**row, "id": alert_id, "evidence": a.get("evidence") or {}}
                payload = json.dumps({"type": "alert", "alert": _public(stored)})
                for target in targets:
                    conn.execute(
                        insert(alert_deliveries).values(
                            alert_id=alert_id,
                            target=target,
                            payload=payload,
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
                new.append(stored)
        return new

    def list(
        self,
        person_ids: list[str] | None,
        *,
        open_only: bool = False,
        since: float | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Newest first; ``person_ids`` None = every person."""
        q = select(alerts)
        if person_ids is not None:
            q = q.where(alerts.c.person_id.in_(person_ids))
        if open_only:
            q = q.where(alerts.c.acknowledged_at.is_(None))
        if since is not None:
            q = q.where(alerts.c.created_at >= since)
        q = q.order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def get(self, alert_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return _row(r) if r else None

    def acknowledge(self, alert_id: int, by: str, note: str | None) -> dict[str, Any] | None:
        """Marks the alert acknowledged once; a second acknowledgement keeps the first (who and when)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_at=time.time(), acknowledged_by=by, ack_note=note)
            )
            r = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return _row(r) if r else None

    # --- the outbox -------------------------------------------------------------------------------------
    def due(self, now: float, limit: int = 50) -> list[dict[str, Any]]:
        d = alert_deliveries.c
        q = (
            select(alert_deliveries)
            .where(d.delivered_at.is_(None), d.next_attempt_at <= now)
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def delivered(self, delivery_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == delivery_id)
                .values(delivered_at=time.time(), attempts=alert_deliveries.c.attempts + 1, last_error=None)
            )

    def failed(self, delivery_id: int, error: str, next_attempt_at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == delivery_id)
                .values(
                    attempts=alert_deliveries.c.attempts + 1,
                    last_error=error[:500],
                    next_attempt_at=next_attempt_at,
                )
            )

    def deliveries(self, alert_id: int) -> list[dict[str, Any]]:
        q = select(alert_deliveries).where(alert_deliveries.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(alert_deliveries.c.id))]


PUBLIC = (
    "id",
    "person_id",
    "kind",
    "metric",
    "direction",
    "onset",
    "detected",
    "magnitude",
    "severity",
    "evidence",
    "created_at",
    "acknowledged_at",
    "acknowledged_by",
    "ack_note",
)


def _public(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a.get(k) for k in PUBLIC}
