"""Persons and which device each wore when.

A person's timeline is the union of their devices' stored windows over the assignment intervals; a device is
worn by one person at a time, so assigning it closes its open assignment.
"""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Engine

from harflow.serve.db.tables import device_assignments, persons, predictions, segments


class Conflict(ValueError):
    """The request contradicts what is stored (an existing id, an unknown person)."""


def check_tz(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}: use an IANA name such as 'Europe/London'") from None
    return tz


class Persons:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, person_id: str, display_name: str, tz: str) -> dict[str, Any]:
        row = {"id": person_id, "display_name": display_name, "tz": check_tz(tz), "created_at": time.time()}
        with self.engine.begin() as conn:
            if conn.execute(select(persons.c.id).where(persons.c.id == person_id)).first():
                raise Conflict(f"person {person_id!r} exists")
            conn.execute(insert(persons).values(**row))
        return row

    def get(self, person_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(persons).where(persons.c.id == person_id)).first()
        return dict(r._mapping) if r else None

    def list(self, ids: list[str] | None = None) -> list[dict[str, Any]]:
        q = select(persons).order_by(persons.c.id)
        if ids is not None:
            q = q.where(persons.c.id.in_(ids))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def assign(self, person_id: str, device_id: str, t_from: float, t_to: float | None = None) -> dict:
        if t_to is not None and t_to <= t_from:
            raise ValueError(f"assignment ends ({t_to}) before it starts ({t_from})")
        with self.engine.begin() as conn:
            if not conn.execute(select(persons.c.id).where(persons.c.id == person_id)).first():
                raise Conflict(f"no person {person_id!r}")
            # the device's open assignment (another person's, or this one's) ends where this one starts
            conn.execute(
                update(device_assignments)
                .where(
                    device_assignments.c.device_id == device_id,
                    device_assignments.c.t_to.is_(None),
                    device_assignments.c.t_from < t_from,
                )
                .values(t_to=t_from)
            )
            overlap = conn.execute(
                select(device_assignments.c.person_id).where(
                    device_assignments.c.device_id == device_id,
                    device_assignments.c.t_from < (t_to if t_to is not None else float("inf")),
                    or_(device_assignments.c.t_to.is_(None), device_assignments.c.t_to > t_from),
                )
            ).first()
            if overlap:
                raise Conflict(f"device {device_id!r} is assigned to {overlap[0]!r} over part of that time")
            row = {
                "device_id": device_id,
                "person_id": person_id,
                "t_from": t_from,
                "t_to": t_to,
                "created_at": time.time(),
            }
            conn.execute(insert(device_assignments).values(**row))
        return row

    def assignments(self, person_id: str) -> list[dict[str, Any]]:
        q = (
            select(device_assignments)
            .where(device_assignments.c.person_id == person_id)
            .order_by(device_assignments.c.t_from)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def person_of_device(self, device_id: str, t: float) -> str | None:
        q = select(device_assignments.c.person_id).where(
            device_assignments.c.device_id == device_id,
            device_assignments.c.t_from <= t,
            or_(device_assignments.c.t_to.is_(None), device_assignments.c.t_to > t),
        )
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def devices_of(self, person_id: str) -> set[str]:
        return {a["device_id"] for a in self.assignments(person_id)}

    def windows(
        self, person_id: str, t_from: float, t_to: float, label: str = "smoothed"
    ) -> list[tuple[float, float, str]]:
        """(t_start, t_end, activity) of every stored window of the person's devices within their
        assignments and [t_from, t_to), and of the compacted segments where the windows have expired, in
        time order. ``label`` picks the window's label: ``"smoothed"`` (the stream's change detector) or
        ``"activity"`` (the model's top class); compacted segments hold the smoothed one only."""
        if label not in ("smoothed", "activity"):
            raise ValueError(f"label must be 'smoothed' or 'activity', got {label!r}")
        out: list[tuple[float, float, str]] = []
        with self.engine.connect() as conn:
            for a in self.assignments(person_id):
                lo, hi = max(t_from, a["t_from"]), min(t_to, a["t_to"] if a["t_to"] is not None else t_to)
                if lo >= hi:
                    continue
                p, s = predictions.c, segments.c
                rows = conn.execute(
                    select(p.t_start, p.t_end, p[label]).where(
                        and_(p.device_id == a["device_id"], p.t_start >= lo, p.t_start < hi)
                    )
                ).all()
                rows += conn.execute(
                    select(s.t_start, s.t_end, s.activity).where(
                        and_(s.device_id == a["device_id"], s.t_start >= lo, s.t_start < hi)
                    )
                ).all()
                out.extend((float(r[0]), float(r[1]), str(r[2])) for r in rows)
        out.sort()
        return out

    def delete_assignments(self, person_id: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                delete(device_assignments).where(device_assignments.c.person_id == person_id)
            ).rowcount
