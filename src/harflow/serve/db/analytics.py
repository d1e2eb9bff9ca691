"""Daily metrics per person and local day, and how far each person's analytics have run.

Re-running a day replaces its row (the day's metrics are a pure function of the stored windows), so the
analytics job is idempotent and a partial day is completed by the next run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from harflow.serve.db.tables import daily_metrics, pattern_state


class Analytics:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put_days(self, person_id: str, days: list[dict[str, Any]], processed_until: float) -> None:
        """Replace the given days' metrics (``{"date", "valid", ...metrics}``) and move the person's
        watermark, in one transaction."""
        now = time.time()
        dates = [d["date"] for d in days]
        with self.engine.begin() as conn:
            if dates:
                conn.execute(
                    delete(daily_metrics).where(
                        daily_metrics.c.person_id == person_id, daily_metrics.c.date.in_(dates)
                    )
                )
                conn.execute(
                    insert(daily_metrics),
                    [
                        {
                            "person_id": person_id,
                            "date": d["date"],
                            "valid": bool(d.get("valid", False)),
                            "metrics": json.dumps(d),
                            "computed_at": now,
                        }
                        for d in days
                    ],
                )
            prev = conn.execute(
                select(pattern_state.c.profile, pattern_state.c.profile_learned_at).where(
                    pattern_state.c.person_id == person_id
                )
            ).first()
            conn.execute(delete(pattern_state).where(pattern_state.c.person_id == person_id))
            conn.execute(
                insert(pattern_state).values(
                    person_id=person_id,
                    processed_until=processed_until,
                    updated_at=now,
                    profile=prev[0] if prev else None,
                    profile_learned_at=prev[1] if prev else None,
                )
            )

    def days(self, person_id: str, date_from: str | None = None, date_to: str | None = None) -> list[dict]:
        q = select(daily_metrics.c.metrics).where(daily_metrics.c.person_id == person_id)
        if date_from:
            q = q.where(daily_metrics.c.date >= date_from)
        if date_to:
            q = q.where(daily_metrics.c.date <= date_to)
        with self.engine.connect() as conn:
            return [json.loads(r[0]) for r in conn.execute(q.order_by(daily_metrics.c.date))]

    def set_profile(self, person_id: str, profile: dict, learned_at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(pattern_state)
                .where(pattern_state.c.person_id == person_id)
                .values(profile=json.dumps(profile), profile_learned_at=learned_at)
            )

    def profile(self, person_id: str) -> tuple[dict | None, float | None]:
        q = select(pattern_state.c.profile, pattern_state.c.profile_learned_at).where(
            pattern_state.c.person_id == person_id
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return (json.loads(r[0]) if r and r[0] else None), (r[1] if r else None)

    def profiles(self) -> dict[str, dict]:
        q = select(pattern_state.c.person_id, pattern_state.c.profile).where(
            pattern_state.c.profile.isnot(None)
        )
        with self.engine.connect() as conn:
            return {r[0]: json.loads(r[1]) for r in conn.execute(q)}

    def processed_until(self, person_id: str) -> float | None:
        q = select(pattern_state.c.processed_until).where(pattern_state.c.person_id == person_id)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()
