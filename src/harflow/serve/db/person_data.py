"""All of one person's data: an export (what a data-subject access request asks for) and a complete erasure
in one transaction, audited (what a request for erasure asks for).

A person's data are their row, device assignments, daily metrics, analytics state, alerts with their
acknowledgements and deliveries, caregiver assignments, and what their devices recorded while assigned to
them (per-window predictions, events, compacted segments). A device's tokens go too when no one else has
ever worn it.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from harflow.serve.db.persons import Persons
from harflow.serve.db.queries import merge_runs
from harflow.serve.db.tables import (
    alert_deliveries,
    alerts,
    daily_metrics,
    device_assignments,
    erasures,
    events,
    metadata,
    persons,
    predictions,
    segments,
    tokens,
    user_persons,
)


def person_ref(person_id: str) -> str:
    """How the erasure audit names a person: a hash an auditor can recompute from an id, not the id."""
    return hashlib.sha256(person_id.encode()).hexdigest()


def export_person(engine: Engine, person_id: str) -> dict[str, Any] | None:
    """Everything stored about the person, as JSON-ready values; None if there is no such person."""
    repo = Persons(engine)
    person = repo.get(person_id)
    if person is None:
        return None
    with engine.connect() as conn:
        assigns = [
            dict(r._mapping)
            for r in conn.execute(
                select(device_assignments).where(device_assignments.c.person_id == person_id)
            )
        ]
        days = [
            {"date": r.date, "valid": bool(r.valid), "metrics": json.loads(r.metrics)}
            for r in conn.execute(
                select(daily_metrics).where(daily_metrics.c.person_id == person_id).order_by("date")
            )
        ]
        rows = conn.execute(select(alerts).where(alerts.c.person_id == person_id).order_by(alerts.c.id))
        alert_list = [{**r._mapping, "evidence": json.loads(r.evidence)} for r in rows]
        caregivers = list(
            conn.execute(
                select(user_persons.c.user_id).where(user_persons.c.person_id == person_id)
            ).scalars()
        )
    windows = repo.windows(person_id, float("-inf"), float("inf"))
    timeline = merge_runs([(t0, t1, act, 1) for t0, t1, act in windows])
    return {
        "person": person,
        "devices": assigns,
        "timeline": [{k: s[k] for k in ("t_start", "t_end", "activity")} for s in timeline],
        "daily": days,
        "alerts": alert_list,
        "acknowledgements": [
            {k: a[k] for k in ("id", "acknowledged_at", "acknowledged_by", "ack_note")}
            for a in alert_list
            if a["acknowledged_at"] is not None
        ],
        "caregiver_user_ids": caregivers,
        "exported_at": time.time(),
    }


def _in_span(col, a: dict):
    cond = col >= a["t_from"]
    return and_(cond, col < a["t_to"]) if a["t_to"] is not None else cond


def erase_person(engine: Engine, person_id: str, actor: str) -> dict[str, int] | None:
    """Delete every row of the person (one transaction) and record the erasure; rows deleted per table, or
    None if there is no such person."""
    counts: dict[str, int] = {}

    def gone(conn: Connection, name: str, stmt) -> None:
        counts[name] = counts.get(name, 0) + conn.execute(stmt).rowcount

    with engine.begin() as conn:
        if conn.execute(select(persons.c.id).where(persons.c.id == person_id)).first() is None:
            return None
        assigns = [
            dict(r._mapping)
            for r in conn.execute(
                select(device_assignments).where(device_assignments.c.person_id == person_id)
            )
        ]
        for a in assigns:
            dev = a["device_id"]
            gone(
                conn,
                "predictions",
                delete(predictions).where(predictions.c.device_id == dev, _in_span(predictions.c.t_start, a)),
            )
            gone(conn, "events", delete(events).where(events.c.device_id == dev, _in_span(events.c.t, a)))
            gone(
                conn,
                "segments",
                delete(segments).where(segments.c.device_id == dev, _in_span(segments.c.t_start, a)),
            )
        for dev in {a["device_id"] for a in assigns}:
            others = conn.execute(
                select(func.count()).where(
                    device_assignments.c.device_id == dev, device_assignments.c.person_id != person_id
                )
            ).scalar()
            if not others:
                gone(conn, "device_tokens", delete(tokens).where(tokens.c.device_id == dev))
        alert_ids = select(alerts.c.id).where(alerts.c.person_id == person_id)
        gone(
            conn,
            "alert_deliveries",
            delete(alert_deliveries).where(alert_deliveries.c.alert_id.in_(alert_ids)),
        )
        # every table keyed by person (the named ones, and any a later migration adds), then the person
        for table in metadata.sorted_tables:
            if "person_id" in table.c and table is not erasures:
                gone(conn, table.name, delete(table).where(table.c.person_id == person_id))
        gone(conn, "persons", delete(persons).where(persons.c.id == person_id))
        conn.execute(
            insert(erasures).values(
                person_ref=person_ref(person_id),
                actor=actor,
                at=time.time(),
                rows=json.dumps(counts, sort_keys=True),
            )
        )
    return counts


def erasure_log(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(erasures).order_by(erasures.c.id.desc()).limit(limit))
        return [{**r._mapping, "rows": json.loads(r.rows)} for r in rows]
